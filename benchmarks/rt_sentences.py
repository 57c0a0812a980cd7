"""Short English sentences with binary sentiment, SST-2-like, built reproducibly offline.

    python -m benchmarks.rt_sentences build --out /tmp/rt_sentences.csv [--rows 2000] [--seed 0]

SST-2 is built from the same Rotten Tomatoes sentences (Socher et al. 2013) that Hutto & Gilbert
rated for VADER (ICWSM 2014); their ground truth ships inside the vaderSentiment 3.3.2 source
distribution (MIT), read by ``benchmarks.imbalanced_reviews``. Here each sentence is labelled by
the sign of its mean human valence (-4..+4); the 37 rated exactly 0 are dropped (they have no
sign), and so is every sentence that occurs twice with two ratings: 5,240 positive and 5,324
negative remain. ``--rows`` takes a seeded sample with the classes as balanced as the source allows.

    python -m benchmarks.rt_sentences build-public --out /tmp/public_sentiment.csv

The same archive holds three other sets rated the same way: 4,200 tweets, 3,708 Amazon review
snippets and 5,190 New York Times editorial snippets. Labelled by sign the same way, they are a
public sentiment set of other domains, no sentence of which is a Rotten Tomatoes sentence: the
"public data" a differentially private run may start from (benchmarks.privacy --public-pretrain).
"""

from __future__ import annotations

import argparse
import csv
import unicodedata
from collections import Counter
from pathlib import Path

from benchmarks.imbalanced_reviews import (
    DEFAULT_CACHE_DIR,
    class_counts,
    download_sdist,
    drop_repeated_texts,
    read_ground_truth,
    read_movie_snippets,
    sample_by_class,
    write_labelled_csv,
)

PUBLIC_SOURCES = (
    "tweets_GroundTruth.txt",
    "amazonReviewSnippets_GroundTruth.txt",
    "nytEditorialSnippets_GroundTruth.txt",
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
    return _movie_pairs(download_sdist(cache_dir))


def _movie_pairs(archive: Path) -> list[tuple[str, str]]:
    snippets, _ = read_movie_snippets(archive)
    pairs = [(s.text, sign_label(s.valence)) for s in drop_repeated_texts(snippets)]
    return [(text, label) for text, label in pairs if label is not None]


def public_sentences(cache_dir: Path = DEFAULT_CACHE_DIR) -> list[tuple[str, str]]:
    """(sentence, label) of the tweets, Amazon and NYT snippets, labelled by sign; a sentence
    repeated within its set, or also among the Rotten Tomatoes sentences, is dropped."""
    archive = download_sdist(cache_dir)  # checked against its SHA-256 once
    movie = {unicodedata.normalize("NFKC", text) for text, _ in _movie_pairs(archive)}
    pairs: list[tuple[str, str]] = []
    for file_name in PUBLIC_SOURCES:
        snippets, _ = read_ground_truth(archive, file_name)
        for snippet in drop_repeated_texts(snippets):
            label = sign_label(snippet.valence)
            if label is not None and unicodedata.normalize("NFKC", snippet.text) not in movie:
                pairs.append((snippet.text, label))
    return pairs


def build_public_sentences(out_path: Path, cache_dir: Path = DEFAULT_CACHE_DIR) -> Path:
    """Write the public set (every sentence, source order) as a CSV with columns ``text,label``."""
    return write_labelled_csv(out_path, public_sentences(cache_dir))


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
    public = commands.add_parser(
        "build-public", help="write the tweets, Amazon and NYT snippets as a binary CSV"
    )
    public.add_argument("--out", type=Path, required=True)
    public.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR)
    args = parser.parse_args(argv)
    if args.command == "build-public":
        path = build_public_sentences(args.out, cache_dir=args.cache_dir)
    else:
        path = build_rt_sentences(
            args.out, rows=args.rows, seed=args.seed, cache_dir=args.cache_dir
        )
    written = Counter(row["label"] for row in csv.DictReader(path.open(encoding="utf-8")))
    print(f"wrote {sum(written.values())} rows to {path}: {dict(written)}")


if __name__ == "__main__":
    main()
