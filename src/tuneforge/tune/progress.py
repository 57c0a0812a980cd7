"""The live table of a study: each trial's state, values and metric, the best so far, an ETA.

It reads the study's storage every second from a thread, so it shows the trials of parallel
worker processes as well as those of this one; each trial's own progress bar stays off. Where
no live table can be drawn (a log, CI) it writes one line per finished trial.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from rich.live import Live
from rich.table import Table

from tuneforge.config import SearchConfig
from tuneforge.console import console
from tuneforge.tune.objective import Objective

SHOWN_TRIALS = 12
"""Rows of the table: the latest trials (the summary lists every one)."""


class StudyProgress:
    def __init__(
        self,
        study: Any,
        target: int,
        objective: Objective,
        search: SearchConfig,
        *,
        enabled: bool = True,
        refresh_seconds: float = 1.0,
    ) -> None:
        self.study = study
        self.target = target
        self.objective = objective
        self.search = search
        self.enabled = enabled
        self.refresh_seconds = refresh_seconds
        self._started = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._live: Live | None = None
        self._finished = 0
        self._logged = 0

    def __enter__(self) -> StudyProgress:
        if not self.enabled:
            return self
        self._live = Live(self.render(), console=console, refresh_per_second=2, transient=False)
        self._live.__enter__()
        self._thread = threading.Thread(target=self._refresh, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is None:
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._live.update(self.render())
        self._live.__exit__(None, None, None)

    def _refresh(self) -> None:
        while not self._stop.wait(self.refresh_seconds):
            try:
                table = self.render()
            except Exception:  # a locked SQLite read: show the last table, try again
                continue
            self._live.update(table)  # type: ignore[union-attr]
            self._log_finished(table)

    def _log_finished(self, table: Table) -> None:
        """In a log file or CI rich draws the table only at the end: there, a plain line (the
        table's title: trials done, best value, ETA) each time a trial finishes."""
        if console.is_terminal or self._finished == self._logged:
            return
        self._logged = self._finished
        console.print(str(table.title), markup=False, highlight=False)

    def render(self) -> Table:
        trials = self.study.get_trials(deepcopy=False)
        finished = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
        self._finished = len(finished)
        best = _best_value(trials, self.objective)
        table = Table(
            title=f"Search: {len(finished)}/{self.target} trials · best {self.objective.metric} "
            f"{'-' if best is None else f'{best:.4f}'} · ETA {self._eta(finished)}",
            title_justify="left",
        )
        table.add_column("trial", justify="right")
        table.add_column("state")
        for key in self.search.space:
            table.add_column(key.split(".")[-1])
        table.add_column(self.objective.metric, justify="right")
        if self.objective.second:
            table.add_column(self.objective.second, justify="right")
        table.add_column("seconds", justify="right")
        for trial in trials[-SHOWN_TRIALS:]:
            values = trial.values or []
            row = [str(trial.number), trial.state.name.lower()]
            row += [_short(trial.params.get(key)) for key in self.search.space]
            row.append(f"{values[0]:.4f}" if values else _last_report(trial))
            if self.objective.second:
                row.append(f"{values[1]:.4g}" if len(values) > 1 else "")
            row.append(f"{trial.duration.total_seconds():.0f}" if trial.duration else "")
            table.add_row(*row)
        return table

    def _eta(self, finished: list[Any]) -> str:
        remaining = self.target - len(finished)
        if remaining <= 0:
            return "done"
        durations = [t.duration.total_seconds() for t in finished if t.duration]
        if not durations:
            return "-"
        seconds = sum(durations) / len(durations) * remaining / self.search.jobs
        if self.search.timeout is not None:
            left = self.search.timeout - (time.monotonic() - self._started)
            seconds = min(seconds, max(left, 0.0))
        return time.strftime("%H:%M:%S", time.gmtime(seconds))


def _best_value(trials: list[Any], objective: Objective) -> float | None:
    values = [t.values[0] for t in trials if t.state.name == "COMPLETE" and t.values]
    if not values:
        return None
    return max(values) if objective.higher_is_better else min(values)


def _last_report(trial: Any) -> str:
    """A running or pruned trial's last reported validation value, in brackets."""
    if not trial.intermediate_values:
        return ""
    step = max(trial.intermediate_values)
    return f"({trial.intermediate_values[step]:.4f})"


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return "" if value is None else str(value)
