"""Read a whole text file, turning a decoding failure into a message with the line to look at."""

from __future__ import annotations

import codecs
from pathlib import Path

from tuneforge.errors import DataError


def codec_name(encoding: str) -> str:
    """The codec to decode ``encoding`` with: UTF-8 also accepts (and drops) a leading BOM."""
    try:
        name = codecs.lookup(encoding).name
    except LookupError as exc:
        raise DataError(
            f"data.encoding {encoding!r} is not a known text encoding. Use a Python codec name "
            "such as utf-8, cp1252 or latin-1."
        ) from exc
    # Excel and Notepad write a byte-order mark; with plain utf-8 it would end up glued to the
    # first column name and the text column would seem to be missing.
    return "utf-8-sig" if name == "utf-8" else name


def read_text(path: Path, encoding: str) -> str:
    """Decode the file at ``path``.

    Raises:
        DataError: with the line number of the first byte that is not valid in ``encoding``.
    """
    raw = path.read_bytes()
    try:
        return raw.decode(codec_name(encoding))
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise DataError(
            f"{path}:{line}: undecodable bytes ({encoding}) at byte {exc.start} "
            f"(0x{raw[exc.start]:02x}). Re-save the file as UTF-8, or set data.encoding to the "
            "encoding it was written in (often cp1252 or latin-1 for files from Excel on Windows)."
        ) from exc
