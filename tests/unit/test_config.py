"""load_config, apply_override and save_config on YAML files written under tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

from tuneforge.config import RunConfig, apply_override, load_config, save_config
from tuneforge.errors import ConfigError


def _write(folder: Path, text: str, name: str = "run.yaml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def _error(path: Path, overrides: list[str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides)
    return str(info.value)


def test_config_load_fills_defaults_and_resolves_against_the_file(tmp_path):
    path = _write(tmp_path, "data:\n  source: data/train.csv\n")

    config = load_config(path)

    assert config.training.learning_rate == 5e-5
    assert config.training.epochs == 3.0
    assert config.training.batch_size == 32
    assert config.task.type == "classification"
    assert config.model.name == "all-MiniLM-L6-v2"
    assert config.data.split.validation_ratio == 0.1
    assert config.config_dir == str(tmp_path.resolve())
    assert config.resolve_path(config.data.source) == tmp_path.resolve() / "data" / "train.csv"


def test_config_load_empty_file_is_all_defaults(tmp_path):
    assert load_config(_write(tmp_path, "")).model_dump() == RunConfig().model_dump()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "training:\n  learning_rte: 3.0e-5\n",
            "unknown key training.learning_rte (did you mean training.learning_rate?)",
        ),
        (
            "data:\n  split:\n    valdation_ratio: 0.2\n",
            "unknown key data.split.valdation_ratio (did you mean data.split.validation_ratio?)",
        ),
        ("trainig:\n  epochs: 1\n", "unknown key trainig (did you mean training?)"),
    ],
)
def test_config_unknown_key_names_path_and_suggestion(tmp_path, text, expected):
    assert expected in _error(_write(tmp_path, text))


def test_config_unknown_key_without_close_match_lists_valid_keys(tmp_path):
    message = _error(_write(tmp_path, "evaluation:\n  zzz: 1\n"))

    assert (
        "unknown key evaluation.zzz (valid keys: calibration_bins, calibration, batch_size)"
        in message
    )


def test_config_bad_values_list_each_error_with_its_path(tmp_path):
    path = _write(tmp_path, "task:\n  type: sentiment\ntraining:\n  epochs: -1\n  batch_size: 0\n")

    lines = _error(path).splitlines()

    assert lines[0] == f"{path}: invalid config."
    assert len(lines) == 4
    assert any(line.strip().startswith("task.type:") and "'sentiment'" in line for line in lines)
    assert "  training.epochs: Input should be greater than 0 (got -1)" in lines
    assert "  training.batch_size: Input should be greater than or equal to 1 (got 0)" in lines


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("data:\n  source: x\ntraining:\n  epochs: 3: 4\n", 4),
        ("training:\n  epochs: [1, 2\n  seed: 3\n", 3),
    ],
)
def test_config_invalid_yaml_names_file_and_line(tmp_path, text, line):
    path = _write(tmp_path, text)

    assert _error(path).startswith(f"{path}:{line}: not valid YAML")


def test_config_missing_file_and_non_mapping_top_level(tmp_path):
    assert "does not exist" in _error(tmp_path / "absent.yaml")
    assert "top level must be a mapping" in _error(_write(tmp_path, "- data\n- model\n"))


@pytest.mark.parametrize(
    ("override", "raw_value", "read"),
    [
        ("training.epochs=1", 1, lambda config: config.training.epochs),
        ("training.learning_rate=0.001", 0.001, lambda config: config.training.learning_rate),
        ("training.group_by_length=false", False, lambda config: config.training.group_by_length),
        ("training.max_grad_norm=null", None, lambda config: config.training.max_grad_norm),
        ("training.max_grad_norm=", None, lambda config: config.training.max_grad_norm),
        ("data.labels=[sport, tech]", ["sport", "tech"], lambda config: config.data.labels),
    ],
)
def test_config_override_parses_value_as_yaml(tmp_path, override, raw_value, read):
    raw: dict = {}
    apply_override(raw, override)
    section, key = override.split("=")[0].split(".")
    assert raw == {section: {key: raw_value}}
    assert type(raw[section][key]) is type(raw_value)

    config = load_config(_write(tmp_path, "training:\n  epochs: 5\n"), [override])

    assert read(config) == raw_value


def test_config_override_replaces_file_value_and_keeps_siblings(tmp_path):
    path = _write(tmp_path, "training:\n  epochs: 5\n  seed: 7\n")

    config = load_config(path, ["training.epochs=1", "model.max_seq_length=32"])

    assert (config.training.epochs, config.training.seed) == (1.0, 7)
    assert config.model.max_seq_length == 32


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("training.epochs", "expected dotted.key=value"),
        ("=3", "expected dotted.key=value"),
        ("training.epochs=[1,", "not valid YAML"),
        ("training.epochs.inner=1", "epochs is not a section"),
    ],
)
def test_config_override_bad_syntax_is_config_error(tmp_path, override, fragment):
    path = _write(tmp_path, "training:\n  epochs: 5\n")

    message = _error(path, [override])

    assert message.startswith(f"--set {override!r}")
    assert fragment in message


def test_config_override_value_is_validated(tmp_path):
    path = _write(tmp_path, "")

    assert "training.epochs: Input should be greater than 0 (got -1)" in _error(
        path, ["training.epochs=-1"]
    )
    assert "(did you mean training.learning_rate?)" in _error(path, ["training.learning_rte=1"])


def test_config_split_ratios_must_leave_training_data(tmp_path):
    too_large = _write(
        tmp_path, "data:\n  split:\n    validation_ratio: 0.5\n    test_ratio: 0.4\n"
    )

    message = _error(too_large)

    assert "data.split:" in message
    assert "at least 10% for training" in message
    fits = load_config(too_large, ["data.split.test_ratio=0.35"])
    assert fits.data.split.test_ratio == 0.35


def test_config_save_then_load_gives_an_equal_config(tmp_path):
    text = (
        "data:\n  source: builtin:bbc-news\n  labels: [business, sport]\n"
        "  split: {validation_ratio: 0.2, test_ratio: 0.15, seed: 3}\n"
        "model: {max_seq_length: 64, num_hidden_layers: 2}\n"
        "task: {type: multilabel, threshold: 0.3}\n"
        "adaptation: {method: lora, lora_rank: 4, target_modules: [query, value]}\n"
        "training: {learning_rate: 3.0e-5, epochs: 1.5, max_grad_norm: null}\n"
    )
    original = load_config(_write(tmp_path, text))
    saved = tmp_path / "run" / "config.yaml"
    saved.parent.mkdir()

    save_config(original, saved)
    loaded = load_config(saved)

    assert loaded.model_dump() == original.model_dump()
    assert loaded.training.learning_rate == 3e-5
    assert loaded.model_dump() != RunConfig().model_dump()


def test_config_save_makes_relative_sources_absolute(tmp_path):
    config = load_config(
        _write(tmp_path, "data:\n  source: data/train.csv\n  test_source: data/test.csv\n")
    )
    saved = tmp_path / "elsewhere" / "config.yaml"
    saved.parent.mkdir()

    save_config(config, saved)
    loaded = load_config(saved)

    expected = {"source": "train.csv", "test_source": "test.csv"}
    for key, name in expected.items():
        value = getattr(loaded.data, key)
        assert Path(value).is_absolute()
        assert loaded.resolve_path(value) == tmp_path.resolve() / "data" / name
    assert loaded.data.validation_source is None
