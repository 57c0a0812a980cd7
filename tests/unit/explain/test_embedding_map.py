"""Projections of the embedding map keep apart what is apart; UMAP's absence names its extra."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from tuneforge.errors import ExplainError
from tuneforge.explain.embedding_map import project, silhouette_per_label


def _blobs() -> tuple[np.ndarray, list[str]]:
    """Three tight clusters, 20 points each, in 16 dimensions (centres 10 apart, spread 0.5)."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 16)) * 10
    vectors = np.concatenate([centre + rng.normal(scale=0.5, size=(20, 16)) for centre in centres])
    return vectors, [name for name in "abc" for _ in range(20)]


@pytest.mark.parametrize("method", ["pca", "tsne", "umap"])
def test_embedding_map_projections_keep_clusters_apart(method: str) -> None:
    if method == "umap":
        pytest.importorskip("umap", reason="needs tuneforge[umap]")
    vectors, labels = _blobs()
    points = project(vectors, method)
    assert points.shape == (60, 2) and np.isfinite(points).all()
    assert silhouette_per_label(points, labels)["overall"] > 0.6
    assert np.allclose(points, project(vectors, method))  # seeded: the same map twice


def test_embedding_map_silhouettes_per_label() -> None:
    vectors, labels = _blobs()
    silhouettes = silhouette_per_label(vectors, labels)
    assert set(silhouettes) == {"a", "b", "c", "overall"}
    assert min(silhouettes.values()) > 0.8
    assert silhouette_per_label(vectors, ["a"] * 60) == {}


def test_embedding_map_umap_missing_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "umap", None)  # import umap raises ImportError
    with pytest.raises(ExplainError, match=r"umap-learn .* pip install 'tuneforge\[umap\]'"):
        project(_blobs()[0], "umap")
    with pytest.raises(ExplainError, match="--method 'lda'"):
        project(_blobs()[0], "lda")
