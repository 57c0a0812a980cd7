"""POST /v1/models/{ref}/explain: attributions, the predict route's auth and limits, its own
cost limit and bounded queue."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tuneforge.serve import create_app
from tuneforge.serve.config import ExplainConfig, serve_config_from_dict
from tuneforge.serve.errors import ApiError
from tuneforge.serve.explain import ExplainSlots

from .test_app import assert_error, auth


@pytest.fixture(scope="module")
def client(serve_setup) -> Iterator[TestClient]:
    config = serve_config_from_dict(
        {
            "limits": {"max_texts_per_request": 4, "max_chars_per_text": 200},
            "explain": {"max_cost_per_request": 100},
        }
    )
    with TestClient(create_app(config, serve_setup.registry)) as client:
        yield client


def test_explain_answers_word_attributions(client, serve_setup) -> None:
    text = "Shares of <script>x</script> Apple rose."
    response = client.post(
        "/v1/models/news/explain",
        json={"inputs": [text], "method": "ig", "n_steps": 8},
        headers=auth(serve_setup.key_all),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["model"], body["version"], body["method"]) == ("news", 1, "ig")
    explanation = body["explanations"][0]
    label = explanation["prediction"]["label"]
    scores = explanation["attributions"]["ig"]["targets"][label]
    assert len(scores) == len(explanation["words"]) > 3
    assert explanation["attributions"]["ig"]["convergence_delta"][label] >= 0
    metrics = client.get("/metrics").text
    assert 'endpoint="/v1/models/{ref}/explain"' in metrics


def test_explain_needs_a_key_and_keeps_predict_limits(client, serve_setup) -> None:
    body = {"inputs": ["hello"], "n_steps": 4}
    assert_error(client.post("/v1/models/news/explain", json=body), 401, "unauthorized")
    assert_error(
        client.post("/v1/models/news/explain", json=body, headers=auth(serve_setup.key_other)),
        403,
        "forbidden",
    )
    too_many = {"inputs": ["a"] * 5, "n_steps": 4}
    headers = auth(serve_setup.key_all)
    assert_error(
        client.post("/v1/models/news/explain", json=too_many, headers=headers),
        413,
        "too_many_inputs",
    )


def test_explain_refuses_costly_requests_and_bad_targets(client, serve_setup) -> None:
    headers = auth(serve_setup.key_all)
    costly = {"inputs": ["a", "b", "c"], "method": "ig", "n_steps": 50}  # 150 > 100
    assert_error(
        client.post("/v1/models/news/explain", json=costly, headers=headers),
        413,
        "explain_too_costly",
    )
    assert_error(
        client.post(
            "/v1/models/news/explain",
            json={"inputs": ["a"], "n_steps": 4, "target": "weather"},
            headers=headers,
        ),
        422,
        "cannot_explain",
    )
    assert_error(
        client.post(
            "/v1/models/news/explain", json={"inputs": ["a"], "method": "x"}, headers=headers
        ),
        422,
        "invalid_request",
    )


def test_explain_slots_refuse_beyond_the_queue() -> None:
    async def scenario() -> list[str]:
        slots = ExplainSlots(ExplainConfig(max_concurrent=1, max_queued=1))
        release = asyncio.Event()
        loop = asyncio.get_running_loop()

        def blocking() -> str:
            asyncio.run_coroutine_threadsafe(release.wait(), loop).result()
            return "done"

        first = asyncio.create_task(slots.run(blocking))
        second = asyncio.create_task(slots.run(lambda: "queued"))
        await asyncio.sleep(0.05)
        with pytest.raises(ApiError) as refused:
            await slots.run(lambda: "third")
        assert (refused.value.status, refused.value.code) == (503, "explain_queue_full")
        release.set()
        return [await first, await second]

    assert asyncio.run(scenario()) == ["done", "queued"]
