"""A small, imbalanced, three-class review set built reproducibly from real offline data.

    python -m benchmarks.imbalanced_reviews build --out /tmp/imbalanced_reviews.csv

The set behind the new-user report (600 rows, 65/25/10%: the starter config predicted the
majority class for every test row). Source: the 10,605 Rotten Tomatoes sentences with mean human
valence (-4..+4) of Hutto & Gilbert, "VADER", ICWSM 2014, shipped inside the vaderSentiment 3.3.2
source distribution (MIT): ``additional_resources/hutto_ICWSM_2014.tar.gz`` ->
``movieReviewSnippets_GroundTruth.txt``, tab-separated ``id, valence, sentence``. The file is
clean UTF-8 with CRLF line ends and no final newline (latin-1 is tried only as a fallback).

Classes by mean valence: negative <= -1.0 < neutral < +1.0 <= positive gives 4,575 / 1,432 /
4,598 sentences (at -0.5/+0.5 neutral would keep only 533). Positive is the majority because
review corpora skew positive; negative, the class a review triage cares about, is the rare one.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import random
import subprocess
import sys
import tarfile
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

VADER_VERSION = "3.3.2"
SDIST_NAME = f"vaderSentiment-{VADER_VERSION}.tar.gz"
# SHA-256 of the archive pip downloaded from PyPI when this benchmark was written; pinned so a
# different or tampered archive in the cache cannot silently change the benchmark's data.
SDIST_SHA256 = "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9"
INNER_ARCHIVE = "additional_resources/hutto_ICWSM_2014.tar.gz"
GROUND_TRUTH = "movieReviewSnippets_GroundTruth.txt"

DEFAULT_SHARES: tuple[tuple[str, float], ...] = (
    ("positive", 0.65),
    ("neutral", 0.25),
    ("negative", 0.10),
)
NEGATIVE_MAX_VALENCE = -1.0
"""Highest mean valence still labelled negative (inclusive)."""
POSITIVE_MIN_VALENCE = 1.0
"""Lowest mean valence labelled positive (inclusive); in between is neutral."""
DEFAULT_CACHE_DIR = Path.home() / ".cache" / "tuneforge" / "vader"


@dataclass(frozen=True)
class Snippet:
    """One rated sentence of the ground-truth file."""

    snippet_id: int
    valence: float
    """Mean of the human ratings, -4 (extremely negative) to +4 (extremely positive)."""
    text: str


def valence_to_label(
    valence: float,
    negative_max: float = NEGATIVE_MAX_VALENCE,
    positive_min: float = POSITIVE_MIN_VALENCE,
) -> str:
    """negative <= negative_max < neutral < positive_min <= positive."""
    if negative_max >= positive_min:
        raise ValueError(f"negative_max {negative_max} must be below positive_min {positive_min}")
    if valence <= negative_max:
        return "negative"
    if valence >= positive_min:
        return "positive"
    return "neutral"


def parse_ground_truth(text: str) -> list[Snippet]:
    """Rows of a ``*_GroundTruth.txt`` file (``id<TAB>valence<TAB>sentence``, CRLF or LF)."""
    snippets = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split("\t", 2)
        if len(parts) != 3:
            raise ValueError(f"{GROUND_TRUTH}:{number}: expected id, valence, text: {line[:80]!r}")
        snippet_id, valence, sentence = parts
        snippets.append(Snippet(int(snippet_id), float(valence), sentence.strip()))
    return snippets


def drop_repeated_texts(snippets: Iterable[Snippet]) -> list[Snippet]:
    """Drop every copy of a sentence that occurs more than once (after NFKC, as tuneforge cleans).

    The source repeats 2 sentences, each time with a different mean valence (ids 10324/10341,
    10505/10559); keeping one copy would make its label depend on which, and tuneforge's cleaning
    would drop or quarantine the copies anyway, leaving the set short of its exact class counts.
    """
    snippets = list(snippets)
    counts = Counter(unicodedata.normalize("NFKC", s.text) for s in snippets)
    return [s for s in snippets if counts[unicodedata.normalize("NFKC", s.text)] == 1]


def class_counts(rows: int, shares: Sequence[tuple[str, float]]) -> dict[str, int]:
    """Whole rows per class summing to exactly ``rows`` (largest-remainder rounding)."""
    total = sum(share for _, share in shares)
    if rows < 1 or any(share <= 0 for _, share in shares) or abs(total - 1.0) > 1e-9:
        raise ValueError(f"need rows >= 1 and positive shares summing to 1, got {rows}, {shares}")
    exact = {label: rows * share for label, share in shares}
    counts = {label: int(value) for label, value in exact.items()}
    by_remainder = sorted(exact, key=lambda label: exact[label] - counts[label], reverse=True)
    for label in by_remainder[: rows - sum(counts.values())]:
        counts[label] += 1
    return counts


def sample_by_class(
    labelled: Sequence[tuple[str, str]], counts: dict[str, int], seed: int
) -> list[tuple[str, str]]:
    """A seeded sample of (text, label) pairs with exactly ``counts[label]`` rows per label.

    Each class is sampled from its pool in source order, so the result depends only on the
    data and the seed; the rows are then shuffled so the file is not grouped by label.
    """
    rng = random.Random(seed)
    pools: dict[str, list[tuple[str, str]]] = {label: [] for label in counts}
    for text, label in labelled:
        if label in pools:
            pools[label].append((text, label))
    sample = []
    for label, count in counts.items():
        if len(pools[label]) < count:
            raise ValueError(f"class {label!r} has {len(pools[label])} rows, {count} wanted")
        sample += rng.sample(pools[label], count)
    rng.shuffle(sample)
    return sample


def download_sdist(cache_dir: Path) -> Path:
    """The vaderSentiment source archive in ``cache_dir``, downloaded with pip once."""
    archive = cache_dir / SDIST_NAME
    if not archive.is_file():
        cache_dir.mkdir(parents=True, exist_ok=True)
        command = [
            *(sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps"),
            *(f"vaderSentiment=={VADER_VERSION}", "-d", str(cache_dir)),
        ]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0 or not archive.is_file():
            raise RuntimeError(
                f"Could not download the vaderSentiment {VADER_VERSION} source distribution "
                f"(`{' '.join(command)}` exited {result.returncode}):\n{result.stderr[-2000:]}\n"
                f"Without network access, copy {SDIST_NAME} from PyPI into {cache_dir}."
            )
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    if digest != SDIST_SHA256:
        raise RuntimeError(f"{archive} has SHA-256 {digest}, expected {SDIST_SHA256}; delete it.")
    return archive


def read_movie_snippets(archive: Path) -> tuple[list[Snippet], str]:
    """The Rotten Tomatoes ground-truth rows from the archive and the encoding that decoded them."""
    return read_ground_truth(archive, GROUND_TRUTH)


def read_ground_truth(archive: Path, file_name: str) -> tuple[list[Snippet], str]:
    """The rows of one ``*_GroundTruth.txt`` of the archive (read in memory, nothing extracted)
    and the encoding that decoded them."""
    with tarfile.open(archive) as outer:
        inner_member = next(m for m in outer.getmembers() if m.name.endswith(INNER_ARCHIVE))
        inner_bytes = outer.extractfile(inner_member).read()  # type: ignore[union-attr]
    with tarfile.open(fileobj=io.BytesIO(inner_bytes)) as inner:
        member = next(m for m in inner.getmembers() if m.name.endswith(file_name))
        raw = inner.extractfile(member).read()  # type: ignore[union-attr]
    try:
        return parse_ground_truth(raw.decode("utf-8")), "utf-8"
    except UnicodeDecodeError:
        return parse_ground_truth(raw.decode("latin-1")), "latin-1"


def build_imbalanced_reviews(
    out_path: Path,
    *,
    rows: int = 600,
    shares: Sequence[tuple[str, float]] = DEFAULT_SHARES,
    seed: int = 0,
    cache_dir: Path = DEFAULT_CACHE_DIR,
) -> Path:
    """Write the seeded imbalanced sample as a CSV with columns ``text,label``.

    Args:
        out_path: the CSV to write (parent folders are created).
        rows: total rows; per-class counts are ``rows * share`` rounded to sum to ``rows``.
        shares: (label, share) per class; labels are negative, neutral, positive.
        seed: seed of the per-class sample and the row order.
        cache_dir: where the vaderSentiment source archive is kept between calls.

    Raises:
        RuntimeError: the archive could not be downloaded or fails its checksum.
        ValueError: the shares are invalid or a class has too few sentences.
    """
    snippets, _ = read_movie_snippets(download_sdist(cache_dir))
    labelled = [(s.text, valence_to_label(s.valence)) for s in drop_repeated_texts(snippets)]
    return write_labelled_csv(out_path, sample_by_class(labelled, class_counts(rows, shares), seed))


def write_labelled_csv(out_path: Path, rows: Sequence[tuple[str, str]]) -> Path:
    """A CSV with columns ``text,label`` (parent folders are created)."""
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with out_path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return out_path


def band_counts(cache_dir: Path = DEFAULT_CACHE_DIR) -> dict[str, int]:
    """Sentences per class in the whole source (after dropping repeated texts)."""
    snippets, _ = read_movie_snippets(download_sdist(cache_dir))
    return dict(Counter(valence_to_label(s.valence) for s in drop_repeated_texts(snippets)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.imbalanced_reviews")
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="write the imbalanced review CSV")
    build.add_argument("--out", type=Path, required=True)
    build.add_argument("--rows", type=int, default=600)
    build.add_argument("--seed", type=int, default=0)
    build.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR)
    args = parser.parse_args(argv)
    path = build_imbalanced_reviews(
        args.out, rows=args.rows, seed=args.seed, cache_dir=args.cache_dir
    )
    snippets, encoding = read_movie_snippets(download_sdist(args.cache_dir))
    written = Counter(row["label"] for row in csv.DictReader(path.open(encoding="utf-8")))
    print(f"source: {len(snippets)} sentences ({encoding}); bands: {band_counts(args.cache_dir)}")
    print(f"wrote {sum(written.values())} rows to {path}: {dict(written)}")


if __name__ == "__main__":
    main()
