"""Every shipped config (starter templates and configs/**) loads and validates; `init` helpers."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import tuneforge.templates as templates
from tuneforge.config import load_config
from tuneforge.errors import ConfigError
from tuneforge.modeling import resolve_model_source
from tuneforge.templates import TASK_TEMPLATES, starter_config_text, write_starter_config

TEMPLATE_DIR = Path(templates.__file__).parent
REPO_CONFIGS = Path(__file__).resolve().parents[2] / "configs"
# configs/serve/ holds server configs (ServeConfig), validated by tests/unit/serve/test_config.py.
RUN_CONFIGS = sorted(path for path in REPO_CONFIGS.glob("**/*.yaml") if path.parent.name != "serve")
SHIPPED = sorted(TEMPLATE_DIR.glob("*.yaml")) + RUN_CONFIGS


def test_templates_one_per_task_and_configs_are_found():
    assert sorted(path.stem for path in TEMPLATE_DIR.glob("*.yaml")) == sorted(TASK_TEMPLATES)
    assert RUN_CONFIGS, f"no shipped run configs under {REPO_CONFIGS}"


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_templates_shipped_config_validates(path):
    config = load_config(path)

    # Validation must not rest on defaults alone: every section the file sets is the one read.
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert config.task.type == raw["task"]["type"]
    if path.parent == TEMPLATE_DIR:
        assert config.task.type == path.stem
    elif (
        path.parent.name in TASK_TEMPLATES
    ):  # configs/<task>/; feature folders (privacy/) hold any task
        assert config.task.type == path.parent.name
    # Shipped configs run offline: the model they name resolves without the hub.
    assert Path(resolve_model_source(config.model.name), "config.json").is_file()


@pytest.mark.parametrize("task", TASK_TEMPLATES)
def test_templates_starter_text_is_the_packaged_file(task):
    assert starter_config_text(task) == (TEMPLATE_DIR / f"{task}.yaml").read_text(encoding="utf-8")


def test_templates_starter_text_rejects_unknown_task():
    with pytest.raises(ConfigError, match="'sentiment' is not a task; choose one of: classif"):
        starter_config_text("sentiment")


def test_templates_write_refuses_to_overwrite_without_force(tmp_path):
    output = tmp_path / "config.yaml"
    output.write_text("mine: true\n", encoding="utf-8")

    with pytest.raises(ConfigError, match="exists already; pass --force"):
        write_starter_config("ner", output)
    assert output.read_text(encoding="utf-8") == "mine: true\n"

    write_starter_config("ner", output, force=True)
    assert load_config(output).task.type == "ner"


def test_templates_write_new_file(tmp_path):
    output = tmp_path / "config.yaml"

    write_starter_config("regression", output)

    assert output.read_text(encoding="utf-8") == starter_config_text("regression")
