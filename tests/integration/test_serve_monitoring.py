"""Drift alerts end to end: traffic like the reference stays quiet, a flood of sport fires.

A real server serves a BBC News model that learned (about 0.8 test accuracy); the alert must
reach the log, a webhook receiver and /v1/models/{name}/monitoring.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import httpx
import pytest
from _configs import bbc_articles, learned_bbc_run

from tuneforge.registry import open_registry
from tuneforge.run.layout import read_records
from tuneforge.serve.process import serve_subprocess

pytestmark = pytest.mark.integration

WINDOW_SIZE = 150


@pytest.fixture(scope="module")
def learned_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return learned_bbc_run(tmp_path_factory)


@pytest.fixture(scope="module")
def webhook() -> Iterator[tuple[str, list[dict]]]:
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/alerts", received
    server.shutdown()


def send_all(url: str, key: str, texts: list[str], per_request: int = 8) -> None:
    with httpx.Client(timeout=60, headers={"Authorization": f"Bearer {key}"}) as client:
        for start in range(0, len(texts), per_request):
            response = client.post(
                f"{url}/v1/models/topics/predict",
                json={"inputs": texts[start : start + per_request]},
            )
            assert response.status_code == 200, response.text


def monitoring(url: str, key: str) -> dict:
    response = httpx.get(
        f"{url}/v1/models/topics/monitoring", headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 200, response.text
    return response.json()["versions"][0]


def test_serve_monitoring_flood_of_one_class_fires_alert(
    learned_run: Path, webhook: tuple[str, list[dict]], bbc_news_dir: Path, tmp_path: Path
) -> None:
    webhook_url, received = webhook
    registry = open_registry(tmp_path / "registry")
    registry.push(learned_run, "topics", stage="production")
    _, key = registry.create_key("acme", ["topics"], rate_limit_per_minute=10**6)
    config = {
        "registry": str(tmp_path / "registry"),
        "monitoring": {
            "window_size": WINDOW_SIZE,
            "check_every": 8,
            "thresholds": {"min_window_size": 100},
            "alerts": {"webhook_url": webhook_url, "retry_backoff_s": 0.1},
        },
    }
    validation = [r.text for r in read_records(learned_run / "splits" / "validation.jsonl")]
    like_reference = random.Random(0).choices(validation, k=120)
    sport = [text for text, _ in bbc_articles(bbc_news_dir, per_topic=200) if _ == "sports"]
    with serve_subprocess(config) as url:
        send_all(url, key, like_reference)
        quiet = monitoring(url, key)
        send_all(url, key, sport[-WINDOW_SIZE:])
        flooded = monitoring(url, key)
        metrics = httpx.get(f"{url}/metrics").text
        deadline = time.monotonic() + 10
        while not received and time.monotonic() < deadline:  # the webhook POST is asynchronous
            time.sleep(0.1)

    print(f"quiet: {quiet['statistics']}\nflooded: {flooded['statistics']}")
    assert quiet["ready"] and quiet["window_size"] == 120
    assert quiet["breaches"] == [] and quiet["recent_alerts"] == [], quiet["statistics"]
    assert "class_psi" in flooded["active_alerts"]
    assert flooded["statistics"]["class_live"]["sports"] > 0.6
    alert = next(a for a in flooded["recent_alerts"] if a["metric"] == "class_psi")
    assert alert["value"] > alert["threshold"] and alert["model"] == "topics"
    assert any(a["metric"] == "class_psi" and a["model"] == "topics" for a in received)
    assert 'tuneforge_alerts_total{metric="class_psi",model="topics"} 1.0' in metrics
