"""The files of a version: which run files are copied, the verified copy, the staging folder a
push builds in, and the atomic move into place.

A push builds the version in <registry>/.staging/<id>/ on the same file system as artifacts/, so
the final step is one rename: readers see no folder or a complete one, never half of one.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# The same fsync of a folder as atomic JSON writes (persists renames and new entries; a no-op on
# Windows, where folders cannot be opened for fsync).
from tuneforge._atomic import fsync_folder
from tuneforge.registry.errors import RegistryError
from tuneforge.run.layout import CHECKPOINTS_DIR, INFO_FILE, METRICS_FILE, MODEL_DIR

ARTIFACTS_DIR = "artifacts"
STAGING_DIR = ".staging"
# OpenVINO runs save their weights as openvino_model.weights (openvino_runtime.OPENVINO_WEIGHTS:
# OpenVINO's default .bin suffix is refused below as a pickle suffix).
WEIGHT_SUFFIXES = (".safetensors", ".onnx", ".weights")
# ONNX keeps large tensors in an external data file beside the graph (model.onnx.data), and an
# OpenVINO IR its graph in openvino_model.xml beside the weights: checksummed like the weights.
_EXTERNAL_DATA_SUFFIX = ".data"
_OPENVINO_GRAPH_SUFFIX = ".xml"
# Formats that unpickle on load and so can run arbitrary code: never admitted into a registry
# that a server loads from (issue 4: "only safetensors weights are loaded; no pickle").
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
# Training state for --resume (optimizer moments, RNG states): large and not part of a model.
_NOT_COPIED = frozenset({CHECKPOINTS_DIR})
# A staging folder whose owner cannot be checked with a lock (no fcntl: Windows) is treated as
# abandoned after this long; a push takes seconds to minutes.
_ABANDONED_AFTER_S = 24 * 3600
_LOCK_GRACE_S = 60
_CHUNK_BYTES = 1 << 20


def run_files(run_dir: Path) -> list[Path]:
    """The files of a finished run that make up a version, relative to ``run_dir``.

    Raises:
        RegistryError: The folder is not a finished run, holds pickle files, or has no
            safetensors/ONNX weights in model/.
    """
    if not run_dir.is_dir():
        raise RegistryError(f"{run_dir} is not a folder: give a finished run folder (runs/<run>).")
    missing = [
        name
        for name in (METRICS_FILE, f"{MODEL_DIR}/{INFO_FILE}")
        if not (run_dir / name).is_file()
    ]
    if missing:
        raise RegistryError(
            f"{run_dir} is not a finished tuneforge run: {' and '.join(missing)} missing. "
            "Push a run after `tuneforge train` has completed (or continue it with --resume)."
        )
    files = sorted(
        path.relative_to(run_dir)
        for path in _walk(run_dir)
        if path.relative_to(run_dir).parts[0] not in _NOT_COPIED
    )
    pickles = [str(path) for path in files if path.suffix.lower() in PICKLE_SUFFIXES]
    if pickles:
        raise RegistryError(
            f"{run_dir} holds pickle files ({', '.join(pickles)}): loading pickle can run "
            "arbitrary code, so the registry accepts only safetensors weights (ONNX for "
            "compressed runs). Re-save the model with save_pretrained(safe_serialization=True)."
        )
    if not any(path.suffix in WEIGHT_SUFFIXES for path in weight_files(files)):
        raise RegistryError(
            f"{run_dir / MODEL_DIR} has no {', '.join(WEIGHT_SUFFIXES[:-1])} or "
            f"{WEIGHT_SUFFIXES[-1]} weight file."
        )
    return files


def weight_files(files: list[Path]) -> list[Path]:
    """The weight files among run files (relative paths): their checksums go into the lineage."""
    suffixes = (*WEIGHT_SUFFIXES, _EXTERNAL_DATA_SUFFIX, _OPENVINO_GRAPH_SUFFIX)
    return [path for path in files if path.parts[0] == MODEL_DIR and path.suffix in suffixes]


def _walk(folder: Path) -> Iterator[Path]:
    # Hidden and *.tmp entries are temporary files of atomic writes (write_json_atomic).
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(".") or entry.name.endswith(".tmp"):
            continue
        if entry.is_dir():
            yield from _walk(entry)
        elif entry.is_file():
            yield entry


def copy_verified(source: Path, files: list[Path], destination: Path) -> dict[str, str]:
    """Copy ``files`` from ``source`` into ``destination``, fsync them, and check that each copy
    reads back with the sha256 of the bytes read from the source.

    Returns:
        sha256 hex digest of each file, keyed by its relative POSIX path.

    Raises:
        RegistryError: A copy differs from what was read (disk error, or the file changed).
    """
    digests = {}
    for relative in files:
        target = destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        with (source / relative).open("rb") as reader, target.open("wb") as writer:
            while chunk := reader.read(_CHUNK_BYTES):
                digest.update(chunk)
                writer.write(chunk)
            writer.flush()
            os.fsync(writer.fileno())
        digests[relative.as_posix()] = digest.hexdigest()
    for relative, expected in digests.items():
        if sha256_file(destination / relative) != expected:
            raise RegistryError(
                f"The copy of {source / relative} does not match what was read from it: did "
                "the run change during the push? Nothing was registered; push again."
            )
    return digests


def verify_version(version_dir: Path, weights_sha256: dict[str, str]) -> None:
    """Raise RegistryError unless the weight files match their recorded sha256 and the folder
    holds no pickle file (see ModelVersion.verify)."""
    pickles = [
        str(path.relative_to(version_dir))
        for path in version_dir.rglob("*")
        if path.suffix.lower() in PICKLE_SUFFIXES
    ]
    if pickles:
        raise RegistryError(
            f"{version_dir} holds pickle files it was not registered with ({', '.join(pickles)}): "
            "refusing to load it."
        )
    if not weights_sha256:
        raise RegistryError(f"{version_dir} has no recorded weight checksums: cannot verify it.")
    for relative, expected in weights_sha256.items():
        path = version_dir / relative
        if not path.is_file() or sha256_file(path) != expected:
            raise RegistryError(
                f"{path} is missing or differs from the file registered (sha256 {expected[:12]}...): "
                "the version was changed after its push; refusing to load it."
            )


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as reader:
        while chunk := reader.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def seal(folder: Path) -> None:
    """Make the files read-only (a version is immutable) and persist every folder entry."""
    for path in sorted(folder.rglob("*"), reverse=True):
        if path.is_file():
            path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        else:
            fsync_folder(path)
    fsync_folder(folder)


@contextmanager
def staging_folder(registry_root: Path) -> Iterator[Path]:
    """A fresh folder under <registry>/.staging, removed when the block ends unless it was moved
    into place. A lock file beside it, held while the push runs, tells clean_staging that its
    owner is alive; the OS releases it when the process dies, even by SIGKILL."""
    staging = registry_root / STAGING_DIR
    staging.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex
    lock_path = staging / f"{token}.lock"
    # The lock exists before the folder and outlives it, so a folder without a lock file is
    # never a live push's.
    descriptor = os.open(lock_path, os.O_CREAT | os.O_RDWR, 0o600)
    _try_lock(descriptor)
    folder = staging / token
    try:
        folder.mkdir()
        yield folder
    finally:
        _remove_tree(folder)
        os.close(descriptor)
        with contextlib.suppress(FileNotFoundError):
            lock_path.unlink()


def clean_staging(registry_root: Path) -> list[str]:
    """Remove what pushes that died (crash, SIGKILL) left in the staging folder; returns the
    names of the folders removed. Live pushes hold their lock and are left alone."""
    staging = registry_root / STAGING_DIR
    if not staging.is_dir():
        return []
    removed = []
    for entry in sorted(staging.iterdir()):
        if entry.suffix == ".lock":
            # Its push died between its two clean-up steps. Only old ones: a push that just
            # created its lock file takes the lock a moment later.
            if (
                not (staging / entry.stem).exists()
                and _age_s(entry) > _LOCK_GRACE_S
                and _owner_gone(entry)
            ):
                entry.unlink(missing_ok=True)
            continue
        lock_path = staging / f"{entry.name}.lock"
        # A live push creates its lock before its folder and removes it after: a folder without
        # a lock (or a discarded version) belongs to no one.
        if entry.is_dir() and (not lock_path.exists() or _owner_gone(lock_path)):
            _remove_tree(entry)
            lock_path.unlink(missing_ok=True)
            removed.append(entry.name)
    return removed


def _owner_gone(lock_path: Path) -> bool:
    """Whether no live process holds the lock (the lock taken here is released on return)."""
    try:
        descriptor = os.open(lock_path, os.O_RDWR)
    except FileNotFoundError:  # its push just finished
        return False
    try:
        return _try_lock(descriptor) and _abandoned(lock_path)
    finally:
        os.close(descriptor)


def _try_lock(descriptor: int) -> bool:
    """Take an exclusive lock without waiting; False if another process holds it."""
    try:
        import fcntl
    except ImportError:  # Windows: fall back to the lock file's age (see _abandoned)
        return True
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _abandoned(lock_path: Path) -> bool:
    try:
        import fcntl  # noqa: F401  (with locks, a lock we could take means a dead owner)
    except ImportError:
        return _age_s(lock_path) > _ABANDONED_AFTER_S
    return True


def _age_s(path: Path) -> float:
    """Seconds since the last change of ``path``; 0 if it is gone (its owner just removed it)."""
    try:
        return time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def move_into_place(folder: Path, target: Path) -> None:
    """Rename the staged version to its final folder. A folder already there has no database
    row (the caller checked): a push that died between this rename and its commit left it, and
    it is discarded rather than ever becoming a version."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        discard(target, folder.parent)
    os.rename(folder, target)
    fsync_folder(target.parent)


def discard(folder: Path, staging: Path) -> None:
    """Remove a folder: first renamed out of sight (atomic), then deleted."""
    trash = staging / f"{uuid.uuid4().hex}.discarded"
    os.rename(folder, trash)
    _remove_tree(trash)


def _remove_tree(folder: Path) -> None:
    # Files are read-only once sealed; deleting them needs only the folder's write permission.
    shutil.rmtree(folder, ignore_errors=True)
