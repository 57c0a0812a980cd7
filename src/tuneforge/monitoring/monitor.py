"""Per served model: a live window compared with the reference profile, alerts on new breaches."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from tuneforge.monitoring.alerts import AlertNotifier
from tuneforge.monitoring.drift import DriftThresholds, compare
from tuneforge.monitoring.profile import Observation
from tuneforge.monitoring.window import SlidingWindow

MAX_ALERT_HISTORY = 20


class ModelMonitor:
    """Watches the traffic of one model version and fires an alert when a threshold is crossed.

    An alert fires when a metric starts breaching its threshold, not on every check while it
    stays breached; the metric re-arms once it is back within bounds.
    """

    def __init__(
        self,
        name: str,
        version: int,
        reference: dict[str, Any] | None,
        thresholds: DriftThresholds,
        window_size: int,
        notifier: AlertNotifier | None,
        check_every: int = 10,
    ) -> None:
        self.name, self.version = name, version
        self.reference = reference
        self.thresholds = thresholds
        self.window = SlidingWindow(window_size)
        self.notifier = notifier
        self.check_every = max(1, check_every)
        self.alerts: list[dict[str, Any]] = []
        self._active: set[str] = set()
        self._unchecked = 0
        self._lock = threading.Lock()

    def record(self, observations: list[Observation]) -> None:
        """Add observations; re-check the drift every `check_every` of them."""
        self.window.extend(observations)
        with self._lock:
            self._unchecked += len(observations)
            due = self._unchecked >= self.check_every
            if due:
                self._unchecked = 0
        if due:
            self.check()

    def check(self) -> dict[str, Any]:
        """Compare the window with the reference now; fire alerts for newly crossed thresholds."""
        if self.reference is None:
            return {
                "window_size": len(self.window),
                "ready": False,
                "statistics": {},
                "breaches": [],
            }
        report = compare(self.reference, self.window.snapshot(), self.thresholds)
        breached = {breach["metric"]: breach for breach in report["breaches"]}
        with self._lock:
            new = [breached[m] for m in breached if m not in self._active]
            if report["ready"]:
                self._active = set(breached)
            fired = [self._alert(breach, report["window_size"]) for breach in new]
            self.alerts = (self.alerts + fired)[-MAX_ALERT_HISTORY:]
        for alert in fired:
            if self.notifier is not None:
                self.notifier.notify(alert)
        return report

    def _alert(self, breach: dict[str, Any], window_size: int) -> dict[str, Any]:
        return {
            "model": self.name,
            "version": self.version,
            "metric": breach["metric"],
            "value": breach["value"],
            "threshold": breach["threshold"],
            "window_size": window_size,
            "fired_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }

    def status(self) -> dict[str, Any]:
        """What /v1/models/{name}/monitoring shows: the drift report, active and recent alerts."""
        report = self.check()
        with self._lock:
            return {
                "model": self.name,
                "version": self.version,
                "has_reference": self.reference is not None,
                "min_window_size": self.thresholds.min_window_size,
                **report,
                "active_alerts": sorted(self._active),
                "recent_alerts": list(self.alerts),
            }
