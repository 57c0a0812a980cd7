"""The study's live table writes one plain line per finished trial where it cannot be drawn."""

from __future__ import annotations

import io
import time

import optuna
from rich.console import Console

from tuneforge import console as console_module
from tuneforge.config import SearchConfig
from tuneforge.tune import progress as progress_module
from tuneforge.tune.objective import Objective


def test_study_progress_logs_a_line_per_finished_trial(monkeypatch) -> None:
    stream = io.StringIO()
    log_console = Console(file=stream, force_terminal=False, width=160)
    monkeypatch.setattr(console_module, "console", log_console)
    monkeypatch.setattr(progress_module, "console", log_console)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize")
    search = SearchConfig(
        space={"training.learning_rate": {"type": "loguniform", "low": 1e-5, "high": 1e-3}},
        trials=3,
    )
    objective = Objective(metric="macro_f1", higher_is_better=True)
    with progress_module.StudyProgress(study, 3, objective, search, refresh_seconds=0.02):
        for value in (0.5, 0.7):
            trial = study.ask()
            trial.suggest_float("training.learning_rate", 1e-5, 1e-3, log=True)
            study.tell(trial, value)
            time.sleep(0.3)  # several refreshes: still one line per trial
    lines = [line for line in stream.getvalue().splitlines() if line.startswith("Search:")]
    # One line per finished trial however many refreshes passed (rich adds the final table).
    assert sum("1/3 trials" in line for line in lines) == 1
    assert "1/3 trials · best macro_f1 0.5000" in lines[0]
    assert "2/3 trials · best macro_f1 0.7000" in lines[1]
