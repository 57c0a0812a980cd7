"""Drift statistics and alerts: same-distribution traffic stays quiet, shifted traffic fires."""

from __future__ import annotations

import json
import random
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np
import pytest
from scipy.stats import chisquare

from tuneforge.monitoring import AlertConfig, AlertNotifier, DriftThresholds, compare, summarise
from tuneforge.monitoring.drift import chi_square_p_value, psi
from tuneforge.monitoring.monitor import ModelMonitor
from tuneforge.monitoring.profile import Observation

NAMES = ["business", "entertainment", "politics", "sport", "tech"]
WEIGHTS = [0.25, 0.15, 0.2, 0.25, 0.15]


def traffic(count: int, seed: int, weights=WEIGHTS, confidence=0.95, unk_every=0, words=(20, 60)):
    rng = random.Random(seed)
    observations = []
    for index in range(count):
        tokens = rng.randint(*words)
        observations.append(
            Observation(
                classes=(rng.choices(NAMES, weights)[0],),
                value=None,
                confidence=min(1.0, max(0.0, rng.gauss(confidence, 0.03))),
                length_chars=tokens * 5,
                length_tokens=tokens,
                unknown_tokens=1 if unk_every and index % unk_every == 0 else 0,
            )
        )
    return observations


@pytest.fixture(scope="module")
def reference() -> dict:
    return summarise("classification", NAMES, traffic(2000, seed=0))


def test_drift_psi_and_chi_square_match_definitions() -> None:
    expected, counts = np.array([0.5, 0.5]), np.array([80, 20])
    assert psi(expected, counts) == pytest.approx(
        (0.8 - 0.5) * np.log(0.8 / 0.5) + (0.2 - 0.5) * np.log(0.2 / 0.5)
    )
    assert psi(expected, np.array([50, 50])) == pytest.approx(0.0)
    assert chi_square_p_value(expected, counts) == pytest.approx(chisquare([80, 20]).pvalue)


def test_drift_traffic_like_the_reference_crosses_no_threshold(reference: dict) -> None:
    for seed in range(1, 6):
        report = compare(reference, traffic(300, seed=seed), DriftThresholds())
        assert report["ready"]
        assert report["breaches"] == [], report["statistics"]


def test_drift_flood_of_one_class_breaches_psi_and_chi_square(reference: dict) -> None:
    flood = traffic(300, seed=7, weights=[0, 0, 0, 1, 0])

    report = compare(reference, flood, DriftThresholds())

    metrics = {breach["metric"] for breach in report["breaches"]}
    assert {"class_psi", "class_p_value"} <= metrics
    assert report["statistics"]["class_live"]["sport"] == 1.0


def test_drift_confidence_length_and_unknown_rate_shifts(reference: dict) -> None:
    unsure = compare(reference, traffic(300, seed=8, confidence=0.7), DriftThresholds())
    short = compare(reference, traffic(300, seed=9, words=(2, 6)), DriftThresholds())
    garbled = compare(
        reference, traffic(300, seed=10, unk_every=1, words=(5, 5)), DriftThresholds()
    )

    assert [b["metric"] for b in unsure["breaches"]] == ["confidence_drop"]
    assert [b["metric"] for b in short["breaches"]] == ["length_tokens_psi"]
    assert "unknown_rate" in {b["metric"] for b in garbled["breaches"]}


def test_drift_small_window_is_not_judged(reference: dict) -> None:
    report = compare(reference, traffic(20, seed=1, weights=[0, 0, 0, 1, 0]), DriftThresholds())
    assert not report["ready"]
    assert report["breaches"] == []


def test_monitor_fires_once_per_breach_and_rearms(reference: dict) -> None:
    fired: list[dict] = []

    class Collect:
        def notify(self, alert: dict) -> None:
            fired.append(alert)

    monitor = ModelMonitor(
        "news", 2, reference, DriftThresholds(min_window_size=100), 200, Collect(), check_every=50
    )
    monitor.record(traffic(200, seed=3))
    assert fired == []
    monitor.record(traffic(200, seed=4, weights=[0, 0, 0, 1, 0]))
    metrics = sorted(alert["metric"] for alert in fired)
    assert metrics == ["class_p_value", "class_psi"]
    monitor.record(traffic(100, seed=5, weights=[0, 0, 0, 1, 0]))
    assert len(fired) == 2  # still breached: no repeat
    monitor.record(traffic(200, seed=6))
    assert monitor.status()["active_alerts"] == []
    monitor.record(traffic(200, seed=7, weights=[0, 0, 0, 1, 0]))
    assert len(fired) == 4  # re-armed and fired again
    assert fired[0]["model"] == "news" and fired[0]["version"] == 2


def test_alerts_webhook_post_retries_until_delivered() -> None:
    received: list[dict] = []
    statuses = iter([503, 200])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(json.loads(body))
            self.send_response(next(statuses))
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        notifier = AlertNotifier(AlertConfig(webhook_url=url, retry_backoff_s=0.01))
        delivered = notifier.notify({"model": "news", "metric": "class_psi", "value": 1.2})
        assert delivered is not None and delivered.result(timeout=10) is True
        notifier.close()
    finally:
        server.shutdown()
    assert len(received) == 2 and received[1]["metric"] == "class_psi"
