"""The training progress bar: steps, loss, learning rate, samples/s and ETA (rich)."""

from __future__ import annotations

import time

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from tuneforge.console import console


class TrainingProgress:
    def __init__(self, total_steps: int, enabled: bool = True) -> None:
        self._enabled = enabled
        self._samples = 0
        self._started = time.perf_counter()
        self._progress = Progress(
            TextColumn("[bold]train"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"),
            TextColumn("lr {task.fields[lr]}"),
            TextColumn("{task.fields[rate]} samples/s"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            disable=not enabled,
            transient=False,
        )
        self._task = self._progress.add_task("train", total=total_steps, loss="-", lr="-", rate="-")

    def __enter__(self) -> TrainingProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def add_samples(self, count: int) -> None:
        self._samples += count

    @property
    def samples_per_second(self) -> float:
        return self._samples / max(time.perf_counter() - self._started, 1e-9)

    def show_loss(self, loss: float, learning_rate: float) -> None:
        self._progress.update(self._task, loss=f"{loss:.4f}", lr=f"{learning_rate:.2e}")
        if self._enabled and not console.is_terminal:
            # No live bar in a log file or CI: one plain line per log step instead.
            task = self._progress.tasks[0]
            remaining = task.time_remaining
            eta = f"{remaining:.0f}s" if remaining is not None else "-"
            console.print(
                f"step {task.completed:.0f}/{task.total:.0f} loss {loss:.4f} lr {learning_rate:.2e} "
                f"{self.samples_per_second:.1f} samples/s ETA {eta}",
                highlight=False,
            )

    def advance_to(self, step: int) -> None:
        self._progress.update(self._task, completed=step, rate=f"{self.samples_per_second:.1f}")
