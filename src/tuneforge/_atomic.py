"""Atomic file writes: a reader or a crash sees the old file or the new one, never half of one."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_json_atomic(payload: Any, path: Path) -> None:
    """Write JSON atomically.

    The JSON goes to a temporary file in the same folder, is fsynced and then renamed over
    ``path`` with ``os.replace`` (atomic on POSIX and Windows within one file system), so a
    reader or a crash never sees half a file. NaN and infinity are refused rather than written
    as the non-standard ``NaN`` token that strict JSON parsers reject.

    Args:
        payload: JSON-serialisable data.
        path: Destination file; missing parent folders are created.

    Raises:
        TypeError: If a value is not JSON-serialisable.
        ValueError: If a value is NaN or infinite.
    """
    # Serialise first: a bad value then fails before any file is touched.
    write_text_atomic(
        json.dumps(payload, indent=2, allow_nan=False, ensure_ascii=False) + "\n", path
    )


def write_text_atomic(text: str, path: Path) -> None:
    """Write UTF-8 text atomically (see write_json_atomic); missing parent folders are created."""
    write_bytes_atomic(text.encode("utf-8"), path)


def write_bytes_atomic(data: bytes, path: Path) -> None:
    """Write bytes (e.g. a rendered PNG) atomically (see write_json_atomic)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        # mkstemp creates the file 0600; give it the mode of any other new file (0666 minus the
        # umask), or a server running as another user could not read a run's metrics or
        # tuneforge.json.
        os.chmod(temporary, 0o666 & ~_current_umask())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    fsync_folder(path.parent)


def fsync_folder(folder: Path) -> None:
    """Persist the rename itself (POSIX); folders cannot be opened for fsync on Windows."""
    if os.name != "posix":
        return
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _current_umask() -> int:
    # os.umask both sets and returns: set a value and put the old one straight back.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
