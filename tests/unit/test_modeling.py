"""Model name resolution (aliases, local folders, offline hub) and loading errors."""

from __future__ import annotations

import pytest
import transformers
from transformers import AutoModelForSequenceClassification

from tuneforge.errors import ModelError
from tuneforge.modeling import load_pretrained, load_tokenizer, resolve_model_source


@pytest.mark.parametrize(
    "alias",
    ["all-MiniLM-L6-v2", "ALL-MINILM-L6-V2", "sentence-transformers/all-MiniLM-L6-v2"],
)
def test_modeling_alias_resolves_to_package_folder(minilm_path, alias):
    assert resolve_model_source(alias) == str(minilm_path)


def test_modeling_local_model_folder_is_used_as_is(minilm_path):
    assert resolve_model_source(str(minilm_path)) == str(minilm_path)


def test_modeling_missing_path_offline_names_hf_hub_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    with pytest.raises(ModelError, match="HF_HUB_OFFLINE is set"):
        resolve_model_source(str(tmp_path / "no-such-model"))


def test_modeling_unknown_name_online_is_passed_to_the_hub(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")

    assert resolve_model_source("some-org/some-model") == "some-org/some-model"


def test_modeling_folder_without_config_json(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"")

    with pytest.raises(ModelError, match=r"has no config\.json"):
        resolve_model_source(str(tmp_path))


def test_modeling_load_errors_are_model_errors(tmp_path):
    with pytest.raises(ModelError, match="Could not load a tokenizer"):
        load_tokenizer(str(tmp_path))
    with pytest.raises(ModelError, match="Could not load the model"):
        load_pretrained(AutoModelForSequenceClassification, str(tmp_path))


def test_modeling_load_pretrained_applies_config_overrides(minilm_path):
    transformers.logging.set_verbosity_warning()

    model = load_pretrained(
        AutoModelForSequenceClassification, str(minilm_path), num_hidden_layers=1, num_labels=4
    )

    assert len(model.bert.encoder.layer) == 1
    assert model.classifier.out_features == 4
    assert transformers.logging.get_verbosity() == transformers.logging.ERROR
