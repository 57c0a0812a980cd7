"""Hyper-parameter search over a run config (Optuna), scored on the validation split."""

from tuneforge.tune.report import study_report
from tuneforge.tune.study import StudyResult, run_study

__all__ = ["StudyResult", "run_study", "study_report"]
