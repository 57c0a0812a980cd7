"""The training progress bar: steps, loss, learning rate, samples/s and a steady ETA (rich).

rich's own remaining-time column estimates speed over the last 30 seconds: with length-grouped
batches (long and short batches alternate) and evaluation pauses, the ETA of one BBC News run
jumped between 160 s and 900 s. Here the ETA is the mean time per optimizer step since the bar
started (evaluation included, since evaluations recur) times the steps left.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from tuneforge.console import console, format_seconds, steady_eta


class TrainingProgress:
    def __init__(
        self,
        total_steps: int,
        enabled: bool = True,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._enabled = enabled
        self._clock = clock
        self._total = total_steps
        self._samples = 0
        self._started = clock()
        self._paused_since: float | None = None
        self._paused_seconds = 0.0
        self._first_step: int | None = None
        self._first_step_at = self._started
        self._progress = Progress(
            TextColumn("[bold]train"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"),
            TextColumn("lr {task.fields[lr]}"),
            TextColumn("{task.fields[rate]} samples/s"),
            TimeElapsedColumn(),
            TextColumn("ETA {task.fields[eta]}"),
            console=console,
            disable=not enabled,
            transient=False,
        )
        self._task = self._progress.add_task(
            "train", total=total_steps, loss="-", lr="-", rate="-", eta=format_seconds(None)
        )
        self._completed = 0

    def __enter__(self) -> TrainingProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def add_samples(self, count: int) -> None:
        self._samples += count

    def pause(self) -> None:
        """Evaluation starts: its time is not training throughput."""
        self._paused_since = self._clock()

    def resume(self) -> None:
        if self._paused_since is not None:
            self._paused_seconds += self._clock() - self._paused_since
            self._paused_since = None

    @property
    def samples_per_second(self) -> float:
        training = self._clock() - self._started - self._paused_seconds
        return self._samples / max(training, 1e-9)

    @property
    def seconds_remaining(self) -> float | None:
        # Measured from the first step this call saw: a resumed run starts mid-way.
        if self._first_step is None:
            return None
        return steady_eta(
            self._completed - self._first_step,
            self._total - self._first_step,
            self._clock() - self._first_step_at,
        )

    def show_loss(self, loss: float, learning_rate: float) -> None:
        self._progress.update(self._task, loss=f"{loss:.4f}", lr=f"{learning_rate:.2e}")
        if self._enabled and not console.is_terminal:
            # No live bar in a log file or CI: one plain line per log step instead.
            console.print(
                f"step {self._completed}/{self._total} loss {loss:.4f} lr {learning_rate:.2e} "
                f"{self.samples_per_second:.1f} samples/s ETA {format_seconds(self.seconds_remaining)}",
                highlight=False,
            )

    def advance_to(self, step: int) -> None:
        if self._first_step is None:
            self._first_step, self._first_step_at = step, self._clock()
        self._completed = step
        self._progress.update(
            self._task,
            completed=step,
            rate=f"{self.samples_per_second:.1f}",
            eta=format_seconds(self.seconds_remaining),
        )
