"""Pushing, numbering, stages and resolution of model versions, on a real finished tiny run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tuneforge.predict import load_predictor
from tuneforge.registry import Registry, RegistryError, open_registry
from tuneforge.registry.artifacts import sha256_file
from tuneforge.run.layout import holds_data_rows

from ._concurrency import push_concurrently


def relative_files(folder: Path) -> set[str]:
    return {path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()}


def test_store_push_copies_run_immutably_with_metadata(
    registry: Registry, finished_run: Path
) -> None:
    version = registry.push(finished_run, "news-topic", description="first cut")

    assert (version.name, version.version, version.stage) == ("news-topic", 1, None)
    assert version.artifact_dir == registry.root / "artifacts" / "news-topic" / "1"
    copied = relative_files(version.artifact_dir)
    source = {name for name in relative_files(finished_run) if not name.startswith("checkpoints/")}
    # (Other tests may have explained the shared run: its explanation page counts too.)
    data_rows = {name for name in source if holds_data_rows(Path(name))}
    assert {"quarantine.jsonl", "splits/validation.jsonl", "splits/test.jsonl"} <= data_rows
    # Every run file except the training checkpoints and the data's texts, plus the monitoring
    # reference profile (built from the run's splits).
    assert copied == (source - data_rows) | {"reference_profile.json"}
    assert version.lineage["data_rows_left_out"] == sorted(data_rows)
    for name in source - data_rows:
        assert sha256_file(version.artifact_dir / name) == sha256_file(finished_run / name)
    weights = version.lineage["weights_sha256"]
    assert weights == {
        "model/model.safetensors": sha256_file(finished_run / "model/model.safetensors")
    }
    assert not (version.artifact_dir / "model" / "model.safetensors").stat().st_mode & 0o222

    test_metrics = json.loads((finished_run / "metrics.json").read_text())["test"]
    assert version.metrics == test_metrics
    assert version.task == "classification"
    assert version.label_names == ["business", "entertainment", "politics", "sports", "tech"]
    assert version.description == "first cut"
    assert version.lineage["source_run"] == str(finished_run.resolve())
    assert version.lineage["base_model"] == "all-MiniLM-L6-v2"
    assert version.lineage["data_report"]["split_sizes"]["test"] == test_metrics["num_examples"]
    profile = version.reference_profile()
    assert profile is not None and version.lineage["reference_profile"] is True

    predictions = load_predictor(version.artifact_dir).predict(["Shares fell as profits slumped."])
    assert predictions[0]["label"] in version.label_names


@pytest.mark.usefixtures("no_profile")
def test_store_versions_number_per_name_and_resolve(registry: Registry, finished_run: Path) -> None:
    first = registry.push(finished_run, "news-topic")
    second = registry.push(finished_run, "news-topic", stage="staging")
    other = registry.push(finished_run, "other")

    assert (first.version, second.version, other.version) == (1, 2, 1)
    assert registry.list_models() == ["news-topic", "other"]
    assert [item.version for item in registry.versions("news-topic")] == [1, 2]
    assert registry.versions("missing") == []
    assert registry.resolve("news-topic").version == 2  # no production: newest non-archived
    assert registry.resolve("news-topic@1").version == 1
    assert registry.resolve("news-topic@staging").version == 2


@pytest.mark.usefixtures("no_profile")
def test_store_promote_to_production_archives_previous(
    registry: Registry, finished_run: Path
) -> None:
    for _ in range(3):
        registry.push(finished_run, "news-topic")
    token = registry.state_token()

    promoted = registry.promote("news-topic", 1, "production")
    assert promoted.stage == "production"
    assert registry.state_token() != token
    assert registry.resolve("news-topic").version == 1  # production wins over newer versions

    registry.promote("news-topic", 2, "production")
    stages = {item.version: item.stage for item in registry.versions("news-topic")}
    assert stages == {1: "archived", 2: "production", 3: None}
    assert registry.resolve("news-topic@production").version == 2

    registry.promote("news-topic", 2, "archived")
    registry.promote("news-topic", 3, "archived")
    with pytest.raises(RegistryError, match="only archived versions"):
        registry.resolve("news-topic")


@pytest.mark.usefixtures("no_profile")
@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("nothing", "No model named 'nothing' in the registry. Models: news-topic."),
        ("news-topic@9", r"no version 9. Versions of news-topic: 1 \(staging\)"),
        ("news-topic@production", "no version in stage production"),
    ],
)
def test_store_resolve_unknown_lists_what_exists(
    registry: Registry, finished_run: Path, ref: str, message: str
) -> None:
    registry.push(finished_run, "news-topic", stage="staging")
    with pytest.raises(RegistryError, match=message):
        registry.resolve(ref)


@pytest.mark.usefixtures("no_profile")
def test_store_promote_refuses_unknown_version_and_stage(
    registry: Registry, finished_run: Path
) -> None:
    registry.push(finished_run, "news-topic")
    token = registry.state_token()
    with pytest.raises(RegistryError, match="no version 4"):
        registry.promote("news-topic", 4, "production")
    with pytest.raises(RegistryError, match="Unknown stage 'live'"):
        registry.promote("news-topic", 1, "live")
    assert registry.state_token() == token  # a refused change is no change


def test_store_state_token_changes_on_push_only_when_committed(
    registry: Registry, finished_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = registry.state_token()
    registry.push(finished_run, "news-topic")
    after_push = registry.state_token()
    assert after_push != before
    monkeypatch.setattr("tuneforge.registry.store.write_reference_profile", _fail)
    with pytest.raises(OSError):
        registry.push(finished_run, "news-topic")
    assert registry.state_token() == after_push


@pytest.mark.usefixtures("no_profile")
def test_store_concurrent_pushes_get_distinct_numbers(tmp_path: Path, finished_run: Path) -> None:
    location = tmp_path / "registry"
    open_registry(location).close()
    assert sorted(push_concurrently(location, finished_run, 4)) == [1, 2, 3, 4]
    folders = sorted(path.name for path in (location / "artifacts" / "news-topic").iterdir())
    assert folders == ["1", "2", "3", "4"]


def _fail(folder: Path, splits_from: Path) -> bool:
    raise OSError("disk full (injected)")


def test_store_push_without_splits_has_no_profile(registry: Registry, run_copy: Path) -> None:
    (run_copy / "splits" / "validation.jsonl").write_text("")
    (run_copy / "splits" / "test.jsonl").unlink()
    version = registry.push(run_copy, "news-topic")
    assert version.lineage["reference_profile"] is False
    assert version.reference_profile() is None
    assert not (version.artifact_dir / "reference_profile.json").exists()


@pytest.mark.usefixtures("no_profile")
def test_store_push_leaves_texts_of_the_data_with_the_run_unless_asked(
    registry: Registry, run_copy: Path
) -> None:
    # What `tuneforge explain --faithfulness` and `tuneforge robustness` write beside the numbers.
    quoted = ["explanations/report.html", "robustness/examples.md", "robustness/examples.json"]
    quoted += ["evaluation_more_quarantine.jsonl"]  # `tuneforge evaluate --data more.csv`
    numbers = ["explanations/faithfulness.json", "robustness/robustness.json"]
    numbers += ["evaluation_more.json"]
    for name in quoted + numbers:
        (run_copy / name).parent.mkdir(exist_ok=True)
        (run_copy / name).write_text("{}")

    kept = relative_files(registry.push(run_copy, "news-topic").artifact_dir)
    assert set(numbers) <= kept
    assert not kept & {*quoted, "quarantine.jsonl"} and not any(
        n.startswith("splits/") for n in kept
    )

    everything = registry.push(run_copy, "news-topic", with_data=True)
    assert relative_files(everything.artifact_dir) == relative_files(run_copy)
    assert everything.lineage["data_rows_left_out"] == []
