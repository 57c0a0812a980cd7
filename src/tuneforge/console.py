"""The one rich console: status, tables and progress go to stderr so stdout stays machine-readable
(`tuneforge predict` prints JSON there).

Counted work (shadow models, attacked examples, federated rounds, compression methods,
explanations) shows one kind of bar: done/total, rate, elapsed time and a steady ETA. rich's own
remaining-time column estimates speed over the last 30 seconds, which swings by several times
when items differ in cost; the ETA here is the mean time per item so far times the items left.
In a log file or CI rich draws no live bar (only the last state, at the end), so the bar writes
a plain line instead, at most every `LOG_EVERY_SECONDS` and when done: long work is never silent.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.console import Console

console = Console(stderr=True)

LOG_EVERY_SECONDS = 20.0


def steady_eta(
    steps_done: int, steps_total: int, seconds_elapsed: float, min_steps: int = 1
) -> float | None:
    """Seconds left at the mean step time so far; None before `min_steps` steps."""
    if steps_done < min_steps or steps_done <= 0:
        return None
    return max(steps_total - steps_done, 0) * seconds_elapsed / steps_done


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "-:--:--"
    seconds = round(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def format_rate(done: float, seconds: float) -> str:
    """Items per second, or seconds per item when an item takes longer than a second."""
    if done <= 0 or seconds <= 0:
        return "-"
    per_second = done / seconds
    return f"{per_second:.1f}/s" if per_second >= 1 else f"{seconds / done:.1f} s each"


class CountedProgress:
    """A bar over `total` items; see the module docstring. Only the label and notes are shown,
    and callers pass neither a text of the data nor anything derived from one."""

    def __init__(
        self,
        label: str,
        total: int,
        enabled: bool = True,
        transient: bool = False,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.label = label
        self.total = total
        self.done = 0
        self._note = ""
        self._enabled = enabled
        self._clock = clock
        self._started = clock()
        self._last_line: float | None = None
        self._progress = Progress(
            TextColumn(f"[bold]{label}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TextColumn("{task.fields[elapsed]}"),
            TextColumn("ETA {task.fields[eta]}"),
            TextColumn("{task.fields[note]}"),
            console=console,
            disable=not enabled,
            transient=transient,
        )
        self._task = self._progress.add_task(
            label,
            total=total,
            rate="-",
            elapsed=format_seconds(0),
            eta=format_seconds(None),
            note="",
        )

    def __enter__(self) -> CountedProgress:
        self._started = self._clock()
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    @property
    def seconds_elapsed(self) -> float:
        return self._clock() - self._started

    @property
    def seconds_remaining(self) -> float | None:
        return steady_eta(self.done, self.total, self.seconds_elapsed)

    def advance(self, count: int = 1) -> None:
        self.advance_to(self.done + count)

    def advance_to(self, done: int) -> None:
        self.done = done
        self._show(may_log=True)

    def note(self, text: str) -> None:
        """What is happening now (a method's name, the last validation score)."""
        self._note = text
        self._show(may_log=False)

    def line(self) -> str:
        """The state as one plain line, as written to a log."""
        elapsed = self.seconds_elapsed
        parts = [
            f"{self.label} {self.done}/{self.total}",
            format_rate(self.done, elapsed),
            f"elapsed {format_seconds(elapsed)}",
            f"ETA {format_seconds(self.seconds_remaining)}",
        ]
        return " · ".join(parts + ([self._note] if self._note else []))

    def _show(self, may_log: bool) -> None:
        elapsed = self.seconds_elapsed
        self._progress.update(
            self._task,
            completed=self.done,
            rate=format_rate(self.done, elapsed),
            elapsed=format_seconds(elapsed),
            eta=format_seconds(self.seconds_remaining),
            note=self._note,
        )
        if not (may_log and self._enabled) or console.is_terminal:
            return
        now = self._clock()
        due = self._last_line is None or now - self._last_line >= LOG_EVERY_SECONDS
        if due or self.done >= self.total:
            console.print(self.line(), highlight=False, markup=False)
            self._last_line = now
