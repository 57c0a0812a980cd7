"""The files of a study folder (`tuneforge tune` writes it, `tuneforge tune-report` reads it).

<study>/config.yaml           the base config with its search section
<study>/study.db              Optuna's SQLite storage: a killed study resumes from it
<study>/trials/<n>/           each trial's config.yaml and trial.json (params, metrics, state)
<study>/summary.json, .md     every trial in a table, the best one, pruning savings
<study>/plots/                history, importance, parallel coordinates, Pareto (PNG + HTML)
<study>/best/                 the best trial re-run as a normal run folder (test split scored)
"""

from __future__ import annotations

from pathlib import Path

CONFIG_FILE = "config.yaml"
STORAGE_FILE = "study.db"
TRIALS_DIR = "trials"
SUMMARY_JSON = "summary.json"
SUMMARY_MD = "summary.md"
PLOTS_DIR = "plots"
BEST_RUN = "best"
STUDY_NAME = "tuneforge"
TRACKING_PARENT_FILE = "tracking_parent_run.txt"
"""The study's tracked run id, read by worker processes to nest their trials under it."""


def storage_url(study_dir: Path) -> str:
    return f"sqlite:///{(study_dir / STORAGE_FILE).resolve()}"


def trial_dir(study_dir: Path, number: int) -> Path:
    return study_dir / TRIALS_DIR / f"{number:04d}"
