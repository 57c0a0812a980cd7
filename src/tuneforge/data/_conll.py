"""Read CoNLL/BIO token files: ``token<whitespace>tag`` per line, a blank line between sentences.

Tags are checked to be IOB2 (``O``, ``B-TYPE``, ``I-TYPE``). IOB1 files start an entity with
``I-`` and only use ``B-`` between two adjacent entities of one type; such ``I-`` tags are
rewritten to ``B-`` and counted in a logged warning, since the two schemes mark the same spans.
"""

from __future__ import annotations

import logging
from pathlib import Path

from tuneforge.data._decode import read_text
from tuneforge.data.records import Record
from tuneforge.errors import DataError

logger = logging.getLogger(__name__)

# CoNLL-2003 separates documents with this pseudo-token line; it is not part of any sentence.
_DOCSTART = "-DOCSTART-"


def read_conll(path: Path, encoding: str) -> list[Record]:
    """One record per sentence: ``text`` is the tokens joined by spaces, ``label`` the tags.

    A line with more than two columns (CoNLL-2003: token POS chunk tag) uses the first as the
    token and the last as the tag. ``source`` is the line of the sentence's first token.

    Raises:
        DataError: a line has one column, or a tag is not ``O``/``B-X``/``I-X``.
    """
    records: list[Record] = []
    tokens: list[str] = []
    tags: list[str] = []
    first_line = 0
    repaired = 0
    lines = read_text(path, encoding).split("\n")
    # A trailing "" closes the last sentence even when the file does not end with a blank line.
    for number, line in enumerate([*lines, ""], start=1):
        columns = line.split()
        if not columns or columns[0] == _DOCSTART:
            if tokens:
                fixed, count = repair_iob2(tags)
                repaired += count
                records.append(
                    Record(" ".join(tokens), fixed, f"{path}:{first_line}", tuple(tokens))
                )
            tokens, tags = [], []
            continue
        if len(columns) == 1:
            raise DataError(
                f"{path}:{number}: expected a token and its tag separated by a tab or space, "
                f"found one column ({line.strip()!r}). Add the tag (O outside entities) or "
                "leave the line empty to end the sentence."
            )
        _check_tag(columns[-1], path, number)
        if not tokens:
            first_line = number
        tokens.append(columns[0])
        tags.append(columns[-1])
    warn_repaired_iob1(path, repaired)
    return records


def repair_iob2(tags: list[str] | tuple[str, ...]) -> tuple[tuple[str, ...], int]:
    """Rewrite ``I-X`` that follows ``O``, the sentence start or another type to ``B-X``.

    Returns:
        The IOB2 tags and how many were rewritten.
    """
    fixed, count, previous = [], 0, "O"
    for tag in tags:
        if tag.startswith("I-") and (previous == "O" or previous[2:] != tag[2:]):
            tag = "B-" + tag[2:]
            count += 1
        fixed.append(tag)
        previous = tag
    return tuple(fixed), count


def warn_repaired_iob1(path: Path, repaired: int) -> None:
    """Say how many IOB1 entity starts `repair_iob2` rewrote in a file (none: nothing)."""
    if repaired:
        logger.warning(
            "%s: %d I- tags started an entity (IOB1 style) and were rewritten to B- (IOB2).",
            path,
            repaired,
        )


def is_iob2_tag(tag: str) -> bool:
    """O, B-TYPE or I-TYPE."""
    return tag == "O" or (tag[:2] in ("B-", "I-") and len(tag) > 2)


def _check_tag(tag: str, path: Path, number: int) -> None:
    if is_iob2_tag(tag):
        return
    raise DataError(
        f"{path}:{number}: tag {tag!r} is not IOB2. Tags must be O, B-TYPE (first token of an "
        "entity) or I-TYPE (following tokens); convert other schemes (BIOES, plain types) first."
    )
