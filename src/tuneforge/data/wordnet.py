"""WordNet 3.0 synonyms, read from the Debian `wordnet-base` files (/usr/share/wordnet).

One synonym source for the synonym attack (robustness/attacks.py) and EDA augmentation
(data/augment.py).

A reader of our own (about 150 lines) rather than nltk's `WordNetCorpusReader`: nltk is not a
dependency, and its reader expects the nltk_data layout (a `lexnames` file the Debian package
lacks, and a map override); we need three things only: a lemma's synsets from `index.<pos>`,
a synset's words and pointers from `data.<pos>` (the synset offset *is* the byte offset in the
data file, so a lookup is one seek), and base forms from the `<pos>.exc` exception lists plus
WordNet's detachment rules (morphy, wndb(5WN) and morphy(7WN)).

Meaning is kept by construction: a word's synonyms are the other words of its most frequent
synset (index senses are ordered by SemCor frequency) of its dominant part of speech (the one
with the most tagged senses, and only when that part of speech clearly dominates), single
words only, never a word WordNet lists as an antonym ("!" pointers).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tuneforge.errors import DataError

WORDNET_DIR = Path("/usr/share/wordnet")
POS_FILES = {"n": "noun", "v": "verb", "a": "adj", "r": "adv"}
# morphy's detachment rules (WordNet's morph.c): suffix -> ending of the base form.
_DETACHMENT = {
    "n": [("ses", "s"), ("xes", "x"), ("zes", "z"), ("ches", "ch"), ("shes", "sh"), ("s", "")],
    "v": [
        ("ies", "y"),
        ("es", "e"),
        ("es", ""),
        ("ed", "e"),
        ("ed", ""),
        ("ing", "e"),
        ("ing", ""),
        ("s", ""),
    ],
    "a": [("er", ""), ("est", ""), ("er", "e"), ("est", "e")],
    "r": [],
}
# Function words and light verbs: WordNet lists "be", "have", "do" as verbs with many senses,
# and replacing them changes grammar more than meaning.
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "if",
        "then",
        "of",
        "to",
        "in",
        "on",
        "at",
        "by",
        "for",
        "with",
        "from",
        "as",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "am",
        "do",
        "does",
        "did",
        "have",
        "has",
        "had",
        "i",
        "you",
        "he",
        "she",
        "it",
        "we",
        "they",
        "me",
        "him",
        "her",
        "us",
        "them",
        "my",
        "your",
        "his",
        "its",
        "our",
        "their",
        "this",
        "that",
        "these",
        "those",
        "not",
        "no",
        "so",
        "very",
        "can",
        "could",
        "will",
        "would",
        "shall",
        "should",
        "may",
        "might",
        "must",
        "just",
        "than",
        "too",
        "also",
        "there",
        "here",
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "when",
        "where",
        "why",
        "how",
        "all",
        "any",
        "each",
        "few",
        "more",
        "most",
        "other",
        "some",
        "such",
        "only",
        "own",
        "same",
        "into",
        "over",
        "under",
        "again",
        "further",
        "once",
    ]
)
# The most frequent part of speech must carry this share of a word's tagged senses: without a
# tagger, a word as often a noun as a verb ("run", "play") is left alone.
_DOMINANT_SHARE = 0.75


@dataclass
class _IndexEntry:
    tagged_senses: int
    offsets: list[int]


@dataclass
class WordNet:
    """Lemma indexes of the four parts of speech, exception lists, and open data files."""

    root: Path
    index: dict[str, dict[str, _IndexEntry]] = field(default_factory=dict)
    exceptions: dict[str, dict[str, str]] = field(default_factory=dict)
    _synsets: dict[tuple[str, int], tuple[list[str], list[tuple[str, int, str, int, int]]]] = field(
        default_factory=dict
    )

    @classmethod
    def load(cls, root: Path | str = WORDNET_DIR) -> WordNet:
        """Read the index and exception files under `root`.

        Raises:
            DataError: the files are missing (install them: apt-get install wordnet-base).
        """
        root = Path(root)
        missing = [
            name
            for pos in POS_FILES.values()
            for name in (f"index.{pos}", f"data.{pos}")
            if not (root / name).is_file()
        ]
        if missing:
            raise DataError(
                f"WordNet files missing under {root} ({', '.join(missing[:3])}...): synonyms "
                "come from Debian's WordNet 3.0. Install it with: apt-get install wordnet-base"
            )
        wordnet = cls(root)
        for pos, name in POS_FILES.items():
            wordnet.index[pos] = _read_index(root / f"index.{name}")
            exc = root / f"{name}.exc"
            wordnet.exceptions[pos] = _read_exceptions(exc) if exc.is_file() else {}
        return wordnet

    def base_forms(self, word: str, pos: str) -> list[str]:
        """Lemmas of `word` as `pos` (morphy): itself, its exception entry, detached suffixes."""
        word = word.lower()
        forms = []
        if word in self.index[pos]:
            forms.append(word)
        if word in self.exceptions[pos]:
            forms.append(self.exceptions[pos][word])
        for suffix, ending in _DETACHMENT[pos]:
            if word.endswith(suffix) and len(word) > len(suffix) + 1:
                candidate = word[: -len(suffix)] + ending
                if candidate in self.index[pos]:
                    forms.append(candidate)
        return list(dict.fromkeys(forms))

    def dominant_pos(self, word: str) -> str | None:
        """The part of speech with most of the word's tagged senses; None when ambiguous."""
        counts = {
            pos: self.index[pos][word.lower()].tagged_senses + 1
            for pos in POS_FILES
            if word.lower() in self.index[pos]
        }
        if not counts:
            return None
        best = max(counts, key=counts.__getitem__)
        return best if counts[best] >= _DOMINANT_SHARE * sum(counts.values()) else None

    def synonyms(self, word: str, pos: str | None = None) -> list[str]:
        """Single-word synonyms of `word` (same synset, same part of speech, no antonyms), in
        WordNet's order; empty for stopwords, inflected forms and ambiguous words."""
        lemma = word.lower()
        if lemma in STOPWORDS or not lemma.isalpha():
            return []
        pos = pos or self.dominant_pos(lemma)
        if pos is None and self._regular_plural(lemma):
            # A regular plural ("cars"): the singular's synonyms, pluralised the same way.
            return [
                f"{synonym}s"
                for synonym in self.synonyms(lemma[:-1], "n")
                if not synonym.endswith(("s", "x", "z", "ch", "sh", "y"))
            ]
        if pos is None or lemma not in self.index[pos]:
            return []  # other inflected forms are left alone: re-inflecting is guesswork
        first = self.index[pos][lemma].offsets[0]
        words, _ = self._synset(pos, first)
        antonyms = self.antonyms(lemma, pos)
        return [
            candidate
            for candidate in words
            if candidate != lemma
            and "_" not in candidate
            and candidate.isalpha()
            and candidate not in antonyms
        ]

    def _regular_plural(self, word: str) -> bool:
        singular = word[:-1]
        return (
            word.endswith("s")
            and word not in self.exceptions["n"]  # irregular plurals ("geese") are not "+s"
            and self.base_forms(word, "n")[:1] == [singular]
            and self.dominant_pos(singular) == "n"
        )

    def antonyms(self, lemma: str, pos: str) -> set[str]:
        """Words an "!" pointer of any of the lemma's synsets names as its antonym."""
        found: set[str] = set()
        for offset in self.index[pos].get(lemma, _IndexEntry(0, [])).offsets:
            words, pointers = self._synset(pos, offset)
            for symbol, target, target_pos, source_word, target_word in pointers:
                if symbol != "!":
                    continue
                if source_word and words[source_word - 1] != lemma:
                    continue
                target_words, _ = self._synset(target_pos, target)
                found.update(target_words if not target_word else [target_words[target_word - 1]])
        return found

    def _synset(
        self, pos: str, offset: int
    ) -> tuple[list[str], list[tuple[str, int, str, int, int]]]:
        key = (pos, offset)
        if key not in self._synsets:
            with (self.root / f"data.{POS_FILES[pos]}").open("rb") as handle:
                handle.seek(offset)
                line = handle.readline().decode("utf-8")
            self._synsets[key] = _parse_data_line(line)
        return self._synsets[key]


def _read_index(path: Path) -> dict[str, _IndexEntry]:
    """index.<pos>: lemma pos synset_cnt p_cnt [ptr...] sense_cnt tagsense_cnt offsets..."""
    entries = {}
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.startswith(" "):  # the licence header
                continue
            parts = line.split()
            synset_count, pointer_count = int(parts[2]), int(parts[3])
            rest = parts[4 + pointer_count :]
            tagged = int(rest[1])
            entries[parts[0]] = _IndexEntry(tagged, [int(o) for o in rest[2 : 2 + synset_count]])
    return entries


def _read_exceptions(path: Path) -> dict[str, str]:
    with path.open(encoding="utf-8") as handle:
        return {parts[0]: parts[1] for parts in map(str.split, handle) if len(parts) >= 2}


def _parse_data_line(line: str) -> tuple[list[str], list[tuple[str, int, str, int, int]]]:
    """data.<pos>: offset lex_filenum ss_type w_cnt(hex) [word lex_id]... p_cnt [pointer]..."""
    parts = line.split(" | ", 1)[0].split()
    word_count = int(parts[3], 16)
    words = [
        parts[4 + 2 * i].split("(", 1)[0].lower()  # adjectives may carry (a), (p), (ip) markers
        for i in range(word_count)
    ]
    position = 4 + 2 * word_count
    pointer_count = int(parts[position])
    pointers = []
    for i in range(pointer_count):
        symbol, target, target_pos, source_target = parts[
            position + 1 + 4 * i : position + 5 + 4 * i
        ]
        target_pos = "a" if target_pos == "s" else target_pos  # satellites live in data.adj
        pointers.append(
            (
                symbol,
                int(target),
                target_pos,
                int(source_target[:2], 16),
                int(source_target[2:], 16),
            )
        )
    return words, pointers
