"""Read a folder of ``<label>/*.txt`` files: one example per file, the subfolder is its class."""

from __future__ import annotations

import logging
from pathlib import Path

from tuneforge.data._decode import codec_name
from tuneforge.data.quarantine import EMPTY_TEXT, undecodable_reason
from tuneforge.data.records import QuarantinedRow, Record
from tuneforge.errors import DataError

logger = logging.getLogger(__name__)


def read_folder(folder: Path, encoding: str) -> tuple[list[Record], list[QuarantinedRow]]:
    """Records of every ``folder/<label>/*.txt`` in sorted order.

    A file that does not decode is quarantined rather than fatal: one bad article among
    thousands (BBC News has one, a raw 0xA3 pound sign) should not stop a run.
    """
    codec = codec_name(encoding)
    label_dirs = sorted(
        path for path in folder.iterdir() if path.is_dir() and not path.name.startswith(".")
    )
    files = [(label_dir.name, path) for label_dir in label_dirs for path in _text_files(label_dir)]
    if not files:
        raise DataError(
            f"{folder}: no <label>/*.txt files found (subfolders: "
            f"{', '.join(d.name for d in label_dirs) or 'none'}). A folder dataset needs one "
            "subfolder per class holding one .txt file per example."
        )
    _warn_about_ignored(folder, {path for _, path in files})
    records, quarantined = [], []
    for label, path in files:
        raw = path.read_bytes()
        try:
            text = raw.decode(codec)
        except UnicodeDecodeError as exc:
            text = raw.decode(codec, errors="replace")
            quarantined.append(
                QuarantinedRow(str(path), undecodable_reason(encoding, exc.start), text, label)
            )
            continue
        if not text.strip():
            quarantined.append(QuarantinedRow(str(path), EMPTY_TEXT, text, label))
            continue
        records.append(Record(text=text, label=label, source=str(path)))
    return records, quarantined


def _warn_about_ignored(folder: Path, read: set[Path]) -> None:
    """Say which visible files under `folder` are not read (not a <label>/*.txt file: nested
    deeper, another extension, at the top level), so none is left out unnoticed."""
    ignored = sorted(
        path
        for path in folder.rglob("*")
        if path.is_file()
        and path not in read
        and not any(part.startswith(".") for part in path.relative_to(folder).parts)
    )
    if ignored:
        shown = ", ".join(str(path.relative_to(folder)) for path in ignored[:5])
        more = f" and {len(ignored) - 5} more" if len(ignored) > 5 else ""
        logger.warning(
            "%s: %d file(s) are not <label>/*.txt and are not read: %s%s",
            folder,
            len(ignored),
            shown,
            more,
        )


def _text_files(label_dir: Path) -> list[Path]:
    return sorted(path for path in label_dir.glob("*.txt") if path.is_file())
