"""The HTTP app in-process (FastAPI TestClient): predict, auth, limits, errors, listing, ops."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from _configs import BBC_TOPICS
from fastapi.testclient import TestClient

from tuneforge.serve import ServeConfig, create_app
from tuneforge.serve.config import serve_config_from_dict

SECRET_TEXT = "Zorblax quarterly revenue fell sharply at the Glimmerton plant"


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def client(serve_setup) -> Iterator[TestClient]:
    config = serve_config_from_dict(
        {"limits": {"max_texts_per_request": 4, "max_chars_per_text": 200, "max_body_bytes": 2000}}
    )
    with TestClient(create_app(config, serve_setup.registry)) as client:
        yield client


def assert_error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]


def test_app_predict_returns_predictions_version_and_request_id(client, serve_setup) -> None:
    response = client.post(
        "/v1/models/news/predict",
        json={"inputs": ["Shares fell.", "The striker scored twice."]},
        headers={**auth(serve_setup.key_all), "X-Request-ID": "abc-123"},
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["model"], body["version"], body["request_id"]) == ("news", 1, "abc-123")
    assert response.headers["X-Request-ID"] == "abc-123"
    assert len(body["predictions"]) == 2
    assert all(p["label"] in BBC_TOPICS for p in body["predictions"])
    for ref in ("news@production", "news@1"):
        again = client.post(
            f"/v1/models/{ref}/predict", json={"inputs": ["x"]}, headers=auth(serve_setup.key_all)
        )
        assert again.json()["version"] == 1


def test_app_auth_missing_bad_and_out_of_scope_keys(client, serve_setup) -> None:
    body = {"inputs": ["hello"]}
    assert_error(client.post("/v1/models/news/predict", json=body), 401, "unauthorized")
    assert_error(
        client.post("/v1/models/news/predict", json=body, headers=auth("tf_not_a_key")),
        401,
        "unauthorized",
    )
    assert_error(
        client.post("/v1/models/news/predict", json=body, headers=auth(serve_setup.key_other)),
        403,
        "forbidden",
    )
    assert_error(client.get("/v1/models"), 401, "unauthorized")


def test_app_unknown_model_or_version_is_404(client, serve_setup) -> None:
    headers = auth(serve_setup.key_all)
    for ref in ("missing", "news@9", "news@staging", "Bad Name!", "news@"):
        response = client.post(f"/v1/models/{ref}/predict", json={"inputs": ["x"]}, headers=headers)
        assert_error(response, 404, "model_not_found")
    assert_error(client.get("/no/such/route"), 404, "not_found")


def test_app_size_limits_and_invalid_bodies(client, serve_setup) -> None:
    headers = auth(serve_setup.key_all)
    url = "/v1/models/news/predict"
    assert_error(
        client.post(url, json={"inputs": ["a"] * 5}, headers=headers), 413, "too_many_inputs"
    )
    assert_error(
        client.post(url, json={"inputs": ["a" * 201]}, headers=headers), 422, "input_too_long"
    )
    assert_error(
        client.post(url, content=b'{"inputs": ["' + b"a" * 3000 + b'"]}', headers=headers),
        413,
        "body_too_large",
    )
    for not_json in (b"{not json", b""):
        assert_error(client.post(url, content=not_json, headers=headers), 422, "invalid_json")
    for bad in ({"inputs": "one text"}, {"inputs": [1]}, {"texts": ["a"]}, []):
        assert_error(client.post(url, json=bad, headers=headers), 422, "invalid_request")
    surrogate = b'{"inputs": ["\\ud800"]}'
    assert_error(client.post(url, content=surrogate, headers=headers), 422, "invalid_text")
    empty = client.post(url, json={"inputs": []}, headers=headers)
    assert empty.status_code == 200 and empty.json()["predictions"] == []


def test_app_rate_limit_answers_429_with_retry_after(client, serve_setup) -> None:
    headers = auth(serve_setup.key_limited)
    statuses = [
        client.post("/v1/models/news/predict", json={"inputs": ["a"]}, headers=headers).status_code
        for _ in range(3)
    ]
    limited = client.post("/v1/models/news/predict", json={"inputs": ["a"]}, headers=headers)

    assert statuses == [200, 200, 200]
    assert_error(limited, 429, "rate_limited")
    assert 1 <= int(limited.headers["Retry-After"]) <= 20  # one token refills in 60/3 s


def test_app_lists_only_models_the_key_may_use(client, serve_setup) -> None:
    listed = client.get("/v1/models", headers=auth(serve_setup.key_all)).json()["models"]
    assert [m["name"] for m in listed] == ["news"]
    assert listed[0]["versions"][0]["stage"] == "production"
    assert listed[0]["versions"][0]["loaded"] is True
    assert listed[0]["routes"] == {"news": 1, "news@production": 1}
    assert client.get("/v1/models", headers=auth(serve_setup.key_other)).json() == {"models": []}


def test_app_health_readiness_metrics_and_openapi(client, serve_setup) -> None:
    client.post(
        "/v1/models/news/predict",
        json={"inputs": ["Shares fell."]},
        headers=auth(serve_setup.key_all),
    )

    assert client.get("/healthz").json()["status"] == "ok"
    assert client.get("/readyz").json() == {"status": "ready", "loaded_models": 1}
    metrics = client.get("/metrics").text
    assert (
        'tuneforge_requests_total{endpoint="/v1/models/{ref}/predict",model="news",status="200",version="1"}'
        in metrics
    )
    assert "tuneforge_batch_size_texts_bucket" in metrics
    assert "tuneforge_predicted_class_total{label=" in metrics
    assert "tuneforge_queue_depth_texts" in metrics
    assert 'tuneforge_errors_total{code="unauthorized"}' in metrics
    spec = client.get("/openapi.json").json()
    assert "/v1/models/{ref}/predict" in spec["paths"]
    assert "HTTPBearer" in spec["components"]["securitySchemes"]


def test_app_monitoring_endpoint_reports_the_window(client, serve_setup) -> None:
    headers = auth(serve_setup.key_all)
    # Traffic of its own, so the window holds observations whichever tests ran before.
    sent = client.post(
        "/v1/models/news/predict", json={"inputs": ["Shares fell."]}, headers=headers
    )
    assert sent.status_code == 200, sent.text
    report = client.get("/v1/models/news/monitoring", headers=headers).json()
    version = report["versions"][0]
    assert version["version"] == 1 and version["has_reference"] is True
    assert version["window_size"] > 0 and version["recent_alerts"] == []
    assert_error(
        client.get("/v1/models/missing/monitoring", headers=headers), 404, "model_not_found"
    )
    assert_error(
        client.get("/v1/models/news/monitoring", headers=auth(serve_setup.key_other)),
        403,
        "forbidden",
    )


def test_app_logs_request_shape_never_text(client, serve_setup, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="tuneforge"):
        client.post(
            "/v1/models/news/predict",
            json={"inputs": [SECRET_TEXT]},
            headers=auth(serve_setup.key_all),
        )

    records = [r for r in caplog.records if getattr(r, "fields", {}).get("event") == "request"]
    assert records and records[-1].fields["texts"] == 1
    assert records[-1].fields["characters"] == len(SECRET_TEXT)
    assert all(
        "Zorblax" not in r.getMessage() + str(getattr(r, "fields", "")) for r in caplog.records
    )


def test_app_auth_disabled_serves_without_key(serve_setup, caplog) -> None:
    with (
        caplog.at_level(logging.WARNING, logger="tuneforge"),
        TestClient(create_app(ServeConfig(auth="disabled"), serve_setup.registry)) as client,
    ):
        response = client.post("/v1/models/news/predict", json={"inputs": ["Shares fell."]})
    assert response.status_code == 200
    assert any("AUTH DISABLED" in record.getMessage() for record in caplog.records)
