"""`tuneforge explain` and `tuneforge embed-map` on a real 1-layer run, and the served endpoint."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from _configs import bbc_run, learned_ner_run, run_cli

pytestmark = pytest.mark.integration

CHEAP = ["--n-steps", "8", "--lime-samples", "40", "--shap-evals", "40"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bbc_run(tmp_path_factory)


def test_explain_cli_text_prints_attributions_and_writes_html(run_dir: Path, tmp_path) -> None:
    page = tmp_path / "page.html"
    result = run_cli(
        "explain",
        str(run_dir),
        "--text",
        "Shares <i>rose</i> at the bank.",
        "--method",
        "all",
        "--html",
        str(page),
        *CHEAP,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    [explained] = json.loads(result.stdout)
    assert set(explained["attributions"]) == {"ig", "lime", "shap"}
    label = explained["prediction"]["label"]
    for method in ("ig", "lime", "shap"):
        assert len(explained["attributions"][method]["targets"][label]) == len(explained["words"])
    html = page.read_text(encoding="utf-8")
    assert ">&lt;</span>" in html and "<i>" not in html


def test_explain_cli_file_to_jsonl(run_dir: Path, tmp_path) -> None:
    source = tmp_path / "texts.csv"
    with source.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([["text"], ["Markets fell."], ["The striker scored."]])
    output = tmp_path / "out.jsonl"
    result = run_cli(
        "explain",
        str(run_dir),
        "--input",
        str(source),
        "--output",
        str(output),
        "--method",
        "lime",
        *CHEAP,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert [row["index"] for row in rows] == [0, 1]
    assert rows[1]["words"] == ["The", "striker", "scored", "."]


def test_explain_cli_faithfulness_writes_the_run_files(run_dir: Path, tmp_path) -> None:
    result = run_cli(
        "explain", str(run_dir), "--faithfulness", "--n", "3", *CHEAP, cwd=tmp_path, timeout=600
    )
    assert result.returncode == 0, result.stderr
    folder = run_dir / "explanations"
    report = json.loads((folder / "faithfulness.json").read_text(encoding="utf-8"))
    assert set(report["ranking"]) == {"ig", "lime", "shap"} and report["texts"] == 3
    for name in ("faithfulness.md", "deletion_curves.png", "report.html"):
        assert (folder / name).stat().st_size > 0
    card = (run_dir / "model_card.md").read_text(encoding="utf-8")
    assert card.count("## Explanations") == 1 and "explanations/faithfulness.md" in card


def test_embed_map_cli_writes_png_html_and_silhouettes(run_dir: Path, tmp_path) -> None:
    result = run_cli(
        "embed-map", str(run_dir), "--method", "pca", "--output", str(tmp_path), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "embed_map_test_pca.json").read_text(encoding="utf-8"))
    assert summary["points"] > 5 and "overall" in summary["silhouette"]
    page = (tmp_path / "embed_map_test_pca.html").read_text(encoding="utf-8")
    assert page.count('<circle class="pt"') == summary["points"]
    assert (tmp_path / "embed_map_test_pca.png").stat().st_size > 0


def test_explain_cli_user_errors_exit_2(run_dir: Path, tmp_path) -> None:
    cases = {
        ("--text", "x", "--method", "gradcam"): "--method 'gradcam'",
        ("--text", "x", "--target", "weather"): "not a label",
        (): "Give one of --text",
    }
    for args, message in cases.items():
        result = run_cli("explain", str(run_dir), *args, cwd=tmp_path)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr
    result = run_cli("embed-map", str(run_dir), "--split", "nope", cwd=tmp_path)
    assert result.returncode == 2 and "no saved split 'nope'" in result.stderr


def test_explain_served_answers_200_with_a_key_and_401_without(run_dir: Path, tmp_path) -> None:
    from fastapi.testclient import TestClient

    app, headers = _served(run_dir, "news", tmp_path)
    body = {"inputs": ["The striker scored twice."], "method": "ig", "n_steps": 8}
    with TestClient(app) as client:
        response = client.post("/v1/models/news/explain", json=body, headers=headers)
        assert response.status_code == 200, response.text
        explanation = response.json()["explanations"][0]
        assert explanation["words"] == ["The", "striker", "scored", "twice", "."]
        unauthorised = client.post("/v1/models/news/explain", json=body)
        assert unauthorised.status_code == 401
        assert unauthorised.json()["error"]["code"] == "unauthorized"


def _served(run_dir: Path, name: str, tmp_path: Path) -> tuple[Any, dict[str, str]]:
    """An app serving the run as `name` (production), and the headers of a key for it."""
    from tuneforge.registry import open_registry
    from tuneforge.serve import create_app

    registry = open_registry(tmp_path / "registry")
    registry.push(run_dir, name, stage="production")
    _, key = registry.create_key("acme", ["*"])
    return create_app(registry=registry), {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def ner_run_dir(tmp_path_factory: pytest.TempPathFactory, wnut16_file: Path) -> Path:
    return learned_ner_run(tmp_path_factory, wnut16_file)


def _text_with_an_entity(run_dir: Path, wnut16_file: Path) -> str:
    """A short WNUT-16 sentence (whole within the run's 32 tokens) in which the run finds at
    least one entity (a run that finds none fails here, instead of the span checks passing on an
    empty list)."""
    from tuneforge.predict import load_predictor

    sentences, words = [], []
    for line in wnut16_file.read_text(encoding="utf-8").splitlines():
        if line.strip():
            words.append(line.split()[0])
        elif words:
            if len(words) <= 12:
                sentences.append(" ".join(words))
            words = []
    predictor = load_predictor(run_dir)
    for text, row in zip(sentences[:400], predictor.predict(sentences[:400]), strict=True):
        if row["entities"]:
            return text
    raise AssertionError("the NER run found no entity in 400 short WNUT-16 sentences")


def test_explain_cli_ner_explains_each_entity_span(
    ner_run_dir: Path, wnut16_file: Path, tmp_path
) -> None:
    text = _text_with_an_entity(ner_run_dir, wnut16_file)
    page = tmp_path / "ner.html"
    result = run_cli(
        "explain",
        str(ner_run_dir),
        "--text",
        text,
        "--method",
        "all",
        "--html",
        str(page),
        *CHEAP,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    [explained] = json.loads(result.stdout)
    assert explained["words"] == text.split()
    keys = [entity["key"] for entity in explained["prediction"]["entities"]]
    assert keys, "the sentence was chosen for its entities"
    assert set(explained["attributions"]) == {"ig", "lime", "shap"}
    for attribution in explained["attributions"].values():
        assert list(attribution["targets"]) == keys
        assert all(
            len(scores) == len(explained["words"]) for scores in attribution["targets"].values()
        )
    html = page.read_text(encoding="utf-8")
    assert html.count('class="w span"') >= 3 * len(keys)
    assert "no entity found" not in html
    refused = run_cli("explain", str(ner_run_dir), "--faithfulness", "--n", "2", cwd=tmp_path)
    assert refused.returncode == 2 and "explained per entity span" in refused.stderr
    refused = run_cli("embed-map", str(ner_run_dir), cwd=tmp_path)
    assert refused.returncode == 2 and "reads each token" in refused.stderr


def test_explain_served_ner_answers_spans(ner_run_dir: Path, tmp_path) -> None:
    from fastapi.testclient import TestClient

    app, headers = _served(ner_run_dir, "tags", tmp_path)
    body = {"inputs": ["Obama visited London"], "method": "lime", "samples": 20}
    with TestClient(app) as client:
        response = client.post("/v1/models/tags/explain", json=body, headers=headers)
        assert response.status_code == 200, response.text
        [explanation] = response.json()["explanations"]
        assert explanation["words"] == ["Obama", "visited", "London"]
        keys = [entity["key"] for entity in explanation["prediction"]["entities"]]
        assert list(explanation["attributions"]["lime"]["targets"]) == keys
        body["target"] = "no-such-type"
        unknown = client.post("/v1/models/tags/explain", json=body, headers=headers)
        assert unknown.status_code == 422 and "not an entity type" in unknown.text
