"""The request-context middleware on a bare app: ids, metrics and the access line, also when a
route fails before it answers."""

from __future__ import annotations

import logging

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from tuneforge.serve.metrics import ServeMetrics
from tuneforge.serve.request_context import RequestContextMiddleware


@pytest.fixture
def app_and_metrics() -> tuple[FastAPI, ServeMetrics]:
    app = FastAPI()
    metrics = ServeMetrics()
    app.add_middleware(RequestContextMiddleware, metrics=metrics)

    @app.post("/items/{name}")
    async def item(name: str, request: Request) -> dict[str, str]:
        request.state.model = name
        request.state.texts = 3
        return {"request_id": request.state.request_id}

    @app.get("/broken")
    async def broken() -> None:
        raise RuntimeError("bug")

    return app, metrics


def test_request_context_echoes_a_safe_id_and_replaces_an_unsafe_one(app_and_metrics) -> None:
    app, _ = app_and_metrics
    client = TestClient(app)

    kept = client.post("/items/a", headers={"X-Request-ID": "req-7"})
    replaced = client.post("/items/a", headers={"X-Request-ID": 'evil"\n{"x":1}'})

    assert kept.headers["X-Request-ID"] == "req-7" == kept.json()["request_id"]
    assert replaced.headers["X-Request-ID"] == replaced.json()["request_id"]
    assert len(replaced.headers["X-Request-ID"]) == 32  # a new uuid4 hex


def test_request_context_counts_route_templates_and_failures(app_and_metrics, caplog) -> None:
    app, metrics = app_and_metrics
    client = TestClient(app, raise_server_exceptions=False)

    with caplog.at_level(logging.INFO, logger="tuneforge.serve.access"):
        assert client.post("/items/news").status_code == 200
        assert client.get("/broken", headers={"X-Request-ID": "req-9"}).status_code == 500
        assert client.get("/nowhere").status_code == 404

    exposition = metrics.exposition()[0].decode()
    assert 'endpoint="/items/{name}",model="news",status="200"' in exposition
    assert 'endpoint="/broken",model="",status="500"' in exposition
    assert 'endpoint="unmatched",model="",status="404"' in exposition
    lines = [record.fields for record in caplog.records if record.name.endswith("access")]
    assert [line["status"] for line in lines] == [200, 500, 404]
    assert lines[0]["texts"] == 3 and lines[0]["model"] == "news"
    assert lines[1]["request_id"] == "req-9"
