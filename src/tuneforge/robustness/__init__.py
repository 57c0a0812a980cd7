"""The robustness suite: attacks on a finished run's classifier and their report.

Reads a run folder through `tuneforge.predict`; never imports the training loop.
"""

from tuneforge.robustness.attacks import ATTACKS, DEFAULT_ATTACKS
from tuneforge.robustness.suite import SuiteSettings, run_robustness

__all__ = ["ATTACKS", "DEFAULT_ATTACKS", "SuiteSettings", "run_robustness"]
