"""Short English sentences with binary sentiment, SST-2-like, built reproducibly offline.

    python -m benchmarks.rt_sentences build --out /tmp/rt_sentences.csv [--rows 2000] [--seed 0]

SST-2 is built from the same Rotten Tomatoes sentences (Socher et al. 2013) that Hutto & Gilbert
rated for VADER (ICWSM 2014); their ground truth ships inside the vaderSentiment 3.3.2 source
distribution (MIT), read by ``benchmarks.imbalanced_reviews``. Here each sentence is labelled by
the sign of its mean human valence (-4..+4); the 37 rated exactly 0 are dropped (they have no
sign), and so is every sentence that occurs twice with two ratings: 5,240 positive and 5,324
negative remain. ``--rows`` takes a seeded sample with the classes as balanced as the source allows.
"""

from __future__ import annotations

import argparse
import csv
from collections import Counter
from pathlib import Path

from benchmarks.imbalanced_reviews import (
    DEFAULT_CACHE_DIR,
    class_counts,
    download_sdist,
    drop_repeated_texts,
    read_movie_snippets,
    sample_by_class,
    write_labelled_csv,
)


def sign_label(valence: float) -> str | None:
    """positive above 0, negative below, None (dropped) at exactly 0."""
    if valence > 0:
        return "positive"
    if valence < 0:
        return "negative"
    return None


def labelled_sentences(cache_dir: Path = DEFAULT_CACHE_DIR) -> list[tuple[str, str]]:
    """Every (sentence, label) pair of the source, in the source's order."""
    snippets, _ = read_movie_snippets(download_sdist(cache_dir))
    pairs = [(s.text, sign_label(s.valence)) for s in drop_repeated_texts(snippets)]
    return [(text, label) for text, label in pairs if label is not None]


def build_rt_sentences(
    out_path: Path,
    *,
    rows: int | None = None,
    seed: int = 0,
    cache_dir: Path = DEFAULT_CACHE_DIR,
) -> Path:
    """Write the binary set as a CSV with columns ``text,label``.

    Args:
        rows: a seeded sample of this many rows, half per class; None writes every sentence.
        seed: seed of the sample and its row order.
    """
    labelled = labelled_sentences(cache_dir)
    if rows is not None:
        labelled = sample_by_class(
            labelled, class_counts(rows, (("negative", 0.5), ("positive", 0.5))), seed
        )
    return write_labelled_csv(out_path, labelled)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.rt_sentences")
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="write the binary sentence CSV")
    build.add_argument("--out", type=Path, required=True)
    build.add_argument("--rows", type=int, default=None, help="sample size (default: all)")
    build.add_argument("--seed", type=int, default=0)
    build.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR)
    args = parser.parse_args(argv)
    path = build_rt_sentences(args.out, rows=args.rows, seed=args.seed, cache_dir=args.cache_dir)
    written = Counter(row["label"] for row in csv.DictReader(path.open(encoding="utf-8")))
    print(f"wrote {sum(written.values())} rows to {path}: {dict(written)}")


if __name__ == "__main__":
    main()
