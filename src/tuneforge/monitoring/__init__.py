"""Monitoring of served models: reference profiles, live windows, drift statistics and alerts."""

from tuneforge.monitoring.alerts import AlertConfig, AlertNotifier
from tuneforge.monitoring.drift import DriftThresholds, compare
from tuneforge.monitoring.profile import Observation, build_reference_profile, observe, summarise
from tuneforge.monitoring.window import SlidingWindow

__all__ = [
    "AlertConfig",
    "AlertNotifier",
    "DriftThresholds",
    "Observation",
    "SlidingWindow",
    "build_reference_profile",
    "compare",
    "observe",
    "summarise",
]
