"""A registry holding the tiny BBC run as `news` v1 (production) and v2 (no stage), and keys."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from _configs import bbc_run

from tuneforge.registry import open_registry


@dataclass
class ServeSetup:
    registry_dir: Path
    registry: object
    key_all: str
    key_other: str
    key_limited: str


@pytest.fixture(scope="package")
def serve_setup(tmp_path_factory: pytest.TempPathFactory) -> ServeSetup:
    folder = tmp_path_factory.mktemp("serve-registry")
    registry = open_registry(folder)
    registry.push(bbc_run(tmp_path_factory), "news", stage="production")
    registry.push(bbc_run(tmp_path_factory), "news")  # v2, no stage
    _, key_all = registry.create_key("acme", ["*"])
    _, key_other = registry.create_key("globex", ["other-model"])
    _, key_limited = registry.create_key("initech", ["news"], rate_limit_per_minute=3)
    return ServeSetup(folder, registry, key_all, key_other, key_limited)
