"""NER rows from a table (JSONL, Parquet, CSV, TSV, Excel): a column of token lists and a
column of tag lists, the layout Hugging Face datasets export (``{"tokens": [...], "ner_tags":
[...]}``).

Tags are IOB2 strings, or integers when data.labels lists the tag names in id order (what a
dataset's ``ner_tags`` feature holds). A text cell (CSV, Excel) holds its list as JSON
(``["EU", "rejects"]``), as Python prints it (``['EU', 'rejects']``: pandas' ``to_csv`` of a list
column) or as words separated by spaces (``B-ORG O B-MISC``). A row whose tags cannot be used is
quarantined with its reason, like any table row; IOB1 tags are repaired to IOB2 as in CoNLL
files.
"""

from __future__ import annotations

import ast
import json
import logging
from pathlib import Path

from tuneforge.data._conll import is_iob2_tag, repair_iob2, warn_repaired_iob1
from tuneforge.data._tabular import RawRow
from tuneforge.data.quarantine import EMPTY_TEXT, MISSING_LABEL, invalid_label_reason
from tuneforge.data.records import QuarantinedRow, Record
from tuneforge.errors import DataError

logger = logging.getLogger(__name__)


def token_table_records(
    path: Path, rows: list[RawRow], declared: list[str] | None
) -> tuple[list[Record], list[QuarantinedRow]]:
    """Records of token and tag lists; ``text`` is the tokens joined by spaces.

    Raises:
        DataError: a text cell is neither a token list nor a string, or the tags are numbers
            and data.labels does not name them in id order.
    """
    records, quarantined, repaired = [], [], 0
    names = _tag_names(declared)
    for row in rows:
        if row.problem:
            quarantined.append(QuarantinedRow(row.source, row.problem))
            continue
        tokens = _tokens(row)
        if not tokens:
            quarantined.append(QuarantinedRow(row.source, EMPTY_TEXT))
            continue
        tags, reason = _tags(row, len(tokens), names)
        if reason is not None:
            quarantined.append(QuarantinedRow(row.source, reason, " ".join(tokens)))
            continue
        # A blank token carries no word to tag (no sub-word reaches the model): drop it with
        # its tag, keeping the others aligned.
        kept = [(token, tag) for token, tag in zip(tokens, tags, strict=True) if token.strip()]
        if not kept:
            quarantined.append(QuarantinedRow(row.source, EMPTY_TEXT))
            continue
        tokens, tags = [token for token, _ in kept], [tag for _, tag in kept]
        fixed, count = repair_iob2(tags)
        repaired += count
        records.append(Record(" ".join(tokens), fixed, row.source, tuple(tokens)))
    warn_repaired_iob1(path, repaired)
    return records, quarantined


def sentences_of_token_rows(rows: list[RawRow], column: str) -> list[RawRow]:
    """One row per sentence from rows of one token each (data.sentence_column ``column``).

    A sentence is a run of consecutive rows: a sentence cell that is not blank and differs from
    the one above starts the next, a blank one continues it. The sentence's row is named by its
    first row (``file:line``) and holds the token and tag lists. Rows before the first named
    sentence, and a sentence with a row that could not be read (it would miss a token), become
    rows with a problem, so they are quarantined with their reason.
    """
    grouped: list[RawRow] = []
    members: list[RawRow] = []
    current: object = None

    def close() -> None:
        if not members:
            return
        first = members[0]
        broken = next((row for row in members if row.problem), None)
        if broken is not None:
            grouped.append(
                RawRow(
                    first.source,
                    None,
                    None,
                    f"{broken.problem} (in sentence {current!r} at "
                    f"{broken.source}; the sentence would miss a token)",
                )
            )
        else:
            tags = [row.label for row in members]
            grouped.append(RawRow(first.source, [row.text for row in members], tags))
        members.clear()

    for row in rows:
        name = row.sentence
        blank = name is None or (isinstance(name, str) and not name.strip())
        if not blank and name != current:
            close()
            current = name
        if current is None:
            grouped.append(
                RawRow(
                    row.source,
                    None,
                    None,
                    f"no sentence: {column} is blank on this row and on every row above it",
                )
            )
            continue
        members.append(row)
    close()
    return grouped


def _listed(value: object) -> object:
    """The list a text cell holds as JSON or as Python prints it; any other value unchanged
    (a sentence that merely starts with "[" stays a sentence)."""
    if not isinstance(value, str):
        return value
    stripped = value.strip()
    if not (stripped.startswith("[") and stripped.endswith("]")):
        return value
    # literal_eval builds literals only, never runs code: safe on a user's file.
    for parse in (json.loads, ast.literal_eval):
        try:
            parsed = parse(stripped)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            continue
        if isinstance(parsed, list):
            return parsed
    return value


def _tokens(row: RawRow) -> list[str]:
    value = _listed(row.text)
    if isinstance(value, str):  # a sentence stored as text: its whitespace-separated words
        return value.split()
    if isinstance(value, list | tuple):
        # A missing token cell (a short row of a one-token-per-row table) is a blank token.
        value = ["" if token is None else token for token in value]
        if all(isinstance(token, str) for token in value):
            return list(value)
    if value is None:
        return []
    raise DataError(
        f"{row.source}: the text of an NER row must be a list of tokens (or a sentence whose "
        f"words the tags follow), not a {type(value).__name__}. Point data.text_column at the "
        "token list."
    )


def _tags(row: RawRow, tokens: int, names: list[str] | None) -> tuple[list[str], str | None]:
    value = _listed(row.label)
    if isinstance(value, str):  # tags separated by spaces, or tag ids ("3 0 0 7")
        value = [int(tag) if tag.isdigit() else tag for tag in value.split()]
    if value is None or value == []:
        return [], MISSING_LABEL
    if not isinstance(value, list | tuple):
        return [], invalid_label_reason(value, "a list of tags, one per token")
    tags = []
    for tag in value:
        if tag is None or tag == "":  # a token row without its tag
            return [], MISSING_LABEL
        if isinstance(tag, int) and not isinstance(tag, bool):
            if names is None:
                raise DataError(
                    f"{row.source}: the tags are numbers ({tag}); list the tag names in id order "
                    "in data.labels, e.g. [O, B-PER, I-PER, B-LOC, I-LOC], to read them."
                )
            if not 0 <= tag < len(names):
                return [], invalid_label_reason(tag, f"a tag id below {len(names)}")
            tag = names[tag]
        if not isinstance(tag, str) or not is_iob2_tag(tag):
            return [], invalid_label_reason(tag, "an IOB2 tag (O, B-TYPE, I-TYPE)")
        tags.append(tag)
    if len(tags) != tokens:
        return [], f"invalid label: {len(tags)} tags for {tokens} tokens"
    return tags, None


def _tag_names(declared: list[str] | None) -> list[str] | None:
    """data.labels as the names of tag ids, when it lists tags (O, B-X, I-X) rather than
    entity types."""
    if declared and "O" in declared and all(is_iob2_tag(name) for name in declared):
        return list(declared)
    return None
