"""`tuneforge serve` as a real uvicorn process on a free port, spoken to over HTTP."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from _configs import BBC_TOPICS, task_run

from tuneforge.registry import open_registry
from tuneforge.serve import ServeClientError, TuneforgeClient
from tuneforge.serve.process import serve_subprocess

pytestmark = pytest.mark.integration

TASK_MODELS = {
    "classification": "news",
    "multilabel": "tags",
    "regression": "length",
    "ner": "entities",
}
LIMITS = {"max_texts_per_request": 16, "max_chars_per_text": 2000, "max_body_bytes": 100_000}


@dataclass
class Server:
    url: str
    registry: object
    key: str
    key_other: str
    key_limited: str


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, bbc_news_dir: Path, wnut16_file: Path
) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("serve-http-registry")
    registry = open_registry(folder)
    files = {"bbc": bbc_news_dir, "wnut": wnut16_file}
    for task, name in TASK_MODELS.items():
        registry.push(task_run(tmp_path_factory, task, files), name, stage="production")
    registry.push(task_run(tmp_path_factory, "classification", files), "news")  # v2, unstaged
    _, key = registry.create_key("acme", ["*"], rate_limit_per_minute=100_000)
    _, key_other = registry.create_key("globex", ["tags"])
    _, key_limited = registry.create_key("initech", ["news"], rate_limit_per_minute=2)
    config = {
        "registry": str(folder),
        "limits": LIMITS,
        "batching": {"max_batch_size": 8, "max_queue_texts": 16, "max_wait_ms": 5},
        "models": {"poll_interval_s": 0.3, "max_loaded_models": 6},
    }
    with serve_subprocess(config) as url:
        yield Server(url, registry, key, key_other, key_limited)


def post(server: Server, ref: str, body: object, key: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key or server.key}"}
    return httpx.post(
        f"{server.url}/v1/models/{ref}/predict", json=body, headers=headers, timeout=60
    )


def error_code(response: httpx.Response) -> str:
    return response.json()["error"]["code"]


def test_serve_http_predicts_all_four_tasks(server: Server) -> None:
    text = "Apple and Google opened new offices in London and Paris ."
    with TuneforgeClient(server.url, api_key=server.key) as client:
        results = {task: client.predict(name, [text]) for task, name in TASK_MODELS.items()}

    assert results["classification"]["predictions"][0]["label"] in BBC_TOPICS
    assert set(results["multilabel"]["predictions"][0]) == {"labels", "probabilities"}
    assert isinstance(results["regression"]["predictions"][0]["value"], float)
    ner = results["ner"]["predictions"][0]
    assert ner["tokens"] == text.split()
    for entity in ner["entities"]:  # character offsets into the input text
        assert text[entity["start"] : entity["end"]] == entity["text"]
    assert all(r["version"] == 1 and r["request_id"] for r in results.values())


def test_serve_http_auth_401_403_and_client_errors(server: Server) -> None:
    no_key = httpx.post(f"{server.url}/v1/models/news/predict", json={"inputs": ["a"]})
    assert no_key.status_code == 401 and error_code(no_key) == "unauthorized"
    assert post(server, "news", {"inputs": ["a"]}, key="tf_wrong").status_code == 401
    forbidden = post(server, "news", {"inputs": ["a"]}, key=server.key_other)
    assert forbidden.status_code == 403 and error_code(forbidden) == "forbidden"
    with TuneforgeClient(server.url, api_key=server.key_other) as client:
        assert [m["name"] for m in client.models()] == ["tags"]
        with pytest.raises(ServeClientError) as raised:
            client.predict("news", ["a"])
    assert raised.value.status == 403


def test_serve_http_limits_413_422_and_404(server: Server) -> None:
    too_many = post(server, "news", {"inputs": ["a"] * 17})
    too_long = post(server, "news", {"inputs": ["a" * 2001]})
    huge = httpx.post(
        f"{server.url}/v1/models/news/predict",
        content=json.dumps({"inputs": ["a" * 1500] * 80}),
        headers={"Authorization": f"Bearer {server.key}", "Content-Type": "application/json"},
    )
    assert (too_many.status_code, error_code(too_many)) == (413, "too_many_inputs")
    assert (too_long.status_code, error_code(too_long)) == (422, "input_too_long")
    assert (huge.status_code, error_code(huge)) == (413, "body_too_large")
    assert post(server, "news", {"inputs": "a"}).status_code == 422
    assert post(server, "news@7", {"inputs": ["a"]}).status_code == 404


def test_serve_http_rate_limit_429_with_retry_after(server: Server) -> None:
    statuses = [post(server, "news", {"inputs": ["a"]}, key=server.key_limited) for _ in range(3)]
    assert [r.status_code for r in statuses] == [200, 200, 429]
    assert int(statuses[-1].headers["Retry-After"]) >= 1


def test_serve_http_full_queue_503_with_retry_after(server: Server) -> None:
    body = {"inputs": [f"Text number {i} about markets and football." for i in range(16)]}
    with ThreadPoolExecutor(max_workers=24) as pool:
        responses = list(pool.map(lambda _: post(server, "length", body), range(24)))

    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 503} and 200 in statuses and 503 in statuses
    refused = next(r for r in responses if r.status_code == 503)
    assert error_code(refused) == "queue_full" and int(refused.headers["Retry-After"]) >= 1


def test_serve_http_metrics_readiness_and_health(server: Server) -> None:
    post(server, "news", {"inputs": ["Shares fell."]})
    assert httpx.get(f"{server.url}/healthz").json()["status"] == "ok"
    assert httpx.get(f"{server.url}/readyz").status_code == 200
    metrics = httpx.get(f"{server.url}/metrics").text
    assert (
        'tuneforge_requests_total{endpoint="/v1/models/{ref}/predict",model="news",status="200"'
        in metrics
    )
    assert 'status="401"' in metrics and "tuneforge_batch_size_texts_count" in metrics
    assert "tuneforge_request_latency_seconds_bucket" in metrics
    assert "tuneforge_predicted_class_total{label=" in metrics
    response = httpx.get(f"{server.url}/healthz", headers={"X-Request-ID": "req-42"})
    assert response.headers["X-Request-ID"] == "req-42"


def test_serve_http_promote_swaps_version_without_failed_requests(server: Server) -> None:
    """Clients keep sending while v2 is promoted: no request fails, answers switch to v2."""
    stop = threading.Event()
    seen: list[list[tuple[int, int | None]]] = [[] for _ in range(4)]

    def client_loop(index: int) -> None:
        with httpx.Client(timeout=60) as client:
            while not stop.is_set():
                response = client.post(
                    f"{server.url}/v1/models/news/predict",
                    json={"inputs": [f"The striker scored {index} goals."]},
                    headers={"Authorization": f"Bearer {server.key}"},
                )
                version = response.json().get("version") if response.status_code == 200 else None
                seen[index].append((response.status_code, version))

    threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)
    server.registry.promote("news", 2, "production")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not all(any(v == 2 for _, v in s) for s in seen):
        time.sleep(0.2)
    time.sleep(1.0)
    stop.set()
    for thread in threads:
        thread.join()

    answers = [answer for per_client in seen for answer in per_client]
    assert {status for status, _ in answers} == {200}, "a request failed during the swap"
    for per_client in seen:  # each client sees v1, then only v2
        versions = [v for _, v in per_client]
        assert versions[0] == 1 and versions[-1] == 2
        assert versions == sorted(versions)
    listed = httpx.get(
        f"{server.url}/v1/models", headers={"Authorization": f"Bearer {server.key}"}
    ).json()["models"]
    news = next(m for m in listed if m["name"] == "news")
    assert news["routes"]["news"] == 2
    assert {v["version"]: v["loaded"] for v in news["versions"]} == {1: False, 2: True}
