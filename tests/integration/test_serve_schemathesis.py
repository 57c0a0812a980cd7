"""schemathesis against the served OpenAPI spec: over 1,000 generated requests, never a 5xx.

Cases come from schemathesis's Python API (v4): each operation's Hypothesis strategy, in
positive (valid per the spec) and negative (violating it) modes, sent to a real server.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from _configs import task_run

from tuneforge.registry import open_registry
from tuneforge.serve.process import serve_subprocess

pytestmark = pytest.mark.integration

MIN_REQUESTS = 1000


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, bbc_news_dir: Path, wnut16_file: Path
) -> Iterator[tuple[str, str]]:
    folder = tmp_path_factory.mktemp("serve-schemathesis-registry")
    registry = open_registry(folder)
    files = {"bbc": bbc_news_dir, "wnut": wnut16_file}
    registry.push(task_run(tmp_path_factory, "classification", files), "news", stage="production")
    registry.push(task_run(tmp_path_factory, "ner", files), "entities", stage="production")
    _, key = registry.create_key("fuzz", ["*"], rate_limit_per_minute=10**9)
    config = {
        "registry": str(folder),
        "limits": {"max_texts_per_request": 8, "max_chars_per_text": 300},
        "log_level": "warning",
    }
    with serve_subprocess(config) as url:
        yield url, key


def test_serve_schemathesis_no_server_errors(served: tuple[str, str]) -> None:
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode

    url, key = served
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    session = requests.Session()
    statuses: Counter[int] = Counter()
    server_errors: list[str] = []

    def exercise(strategy, max_examples: int) -> None:
        @given(case=strategy)
        @settings(
            max_examples=max_examples,
            deadline=None,
            database=None,
            derandomize=True,  # the same cases on every run: a failure reproduces
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def send(case) -> None:
            response = case.call(base_url=url, session=session, timeout=60)
            statuses[response.status_code] += 1
            if response.status_code >= 500:
                server_errors.append(
                    f"{case.method} {case.formatted_path} -> {response.status_code}"
                )
            elif response.status_code >= 400:  # every error is JSON {"error": {code, message}}
                assert set(response.json()["error"]) == {"code", "message"}

        # Negative mode on an operation with nothing to violate (GET /healthz) has no cases.
        with contextlib.suppress(Unsatisfiable):
            send()

    auth = {"Authorization": f"Bearer {key}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            if operation.path == "/v1/models/{ref}/predict":
                for ref in ("news", "entities"):  # real models: bodies reach inference
                    exercise(
                        operation.as_strategy(mode, headers=auth, path_parameters={"ref": ref}), 200
                    )
            exercise(operation.as_strategy(mode, headers=auth), 60)
            exercise(operation.as_strategy(mode), 20)  # no key or a generated one

    total = sum(statuses.values())
    print(f"schemathesis: {total} requests, statuses {dict(sorted(statuses.items()))}")
    assert server_errors == []
    assert total >= MIN_REQUESTS, statuses
    assert statuses[200] > 100 and statuses[422] > 10 and statuses[401] > 10
