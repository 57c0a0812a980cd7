"""The one rich console: status, tables and progress go to stderr so stdout stays machine-readable
(`tuneforge predict` prints JSON there)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console

console = Console(stderr=True)


@contextmanager
def counted_progress(label: str, total: int, enabled: bool = True) -> Iterator[Callable[[], None]]:
    """A rich bar counting `total` steps (shadow models, attacked examples); yields the function
    that advances it by one. Only the label is shown: never a text of the data."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not enabled,
        transient=False,
    ) as progress:
        bar = progress.add_task(label, total=total)
        yield lambda: progress.advance(bar)
