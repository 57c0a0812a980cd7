"""Model name resolution (aliases, local folders, run folders, offline hub), loading errors, and
where a warm start's task head comes from."""

from __future__ import annotations

import pytest
import torch
import transformers
from transformers import AutoModelForSequenceClassification, AutoModelForTokenClassification

from tuneforge.errors import ModelError
from tuneforge.modeling import (
    HeadStart,
    head_start,
    load_pretrained,
    load_task_model,
    load_tokenizer,
    resolve_model_source,
)
from tuneforge.tasks import get_task


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


# Warm starts: model.name pointing at a fine-tuned model (another run, a public-data model).


def _fine_tuned(minilm_path, folder, auto_class, labels, problem_type=None):
    """A saved one-layer MiniLM with a task head for `labels` (its head weights made distinct)."""
    import torch

    extra = {"problem_type": problem_type} if problem_type else {}
    model = auto_class.from_pretrained(
        str(minilm_path),
        num_hidden_layers=1,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: index for index, label in enumerate(labels)},
        **extra,
    )
    with torch.no_grad():
        model.classifier.weight.fill_(0.5)
        model.classifier.bias.fill_(0.25)
    model.save_pretrained(folder)
    load_tokenizer(str(minilm_path)).save_pretrained(folder)
    return model


def test_modeling_run_folder_resolves_to_its_model(minilm_path, tmp_path):
    _fine_tuned(minilm_path, tmp_path / "model", AutoModelForSequenceClassification, ["a", "b"])

    assert resolve_model_source(str(tmp_path)) == str(tmp_path / "model")


def test_modeling_warm_start_keeps_a_head_for_the_same_labels(minilm_path, tmp_path):
    saved = _fine_tuned(
        minilm_path,
        tmp_path,
        AutoModelForSequenceClassification,
        ["negative", "positive"],
        "single_label_classification",
    )
    task = get_task("classification")

    start = head_start(task, str(tmp_path), ["negative", "positive"], {})
    model = load_task_model(task, str(tmp_path), ["negative", "positive"], {})

    assert start == HeadStart("kept", "BertForSequenceClassification", ("negative", "positive"))
    assert "kept" in start.describe()
    assert torch.equal(model.classifier.weight, saved.classifier.weight)
    assert torch.equal(model.classifier.bias, saved.classifier.bias)


@pytest.mark.parametrize(
    "labels",
    [["positive", "negative"], ["neg", "pos"], ["a", "b", "c"]],
    ids=["other-order", "other-names", "other-count"],
)
def test_modeling_warm_start_replaces_a_head_for_other_labels(minilm_path, tmp_path, labels):
    saved = _fine_tuned(minilm_path, tmp_path, AutoModelForSequenceClassification, labels)
    task = get_task("classification")

    start = head_start(task, str(tmp_path), ["negative", "positive"], {})
    model = load_task_model(task, str(tmp_path), ["negative", "positive"], {})

    assert start.kind == "replaced" and start.source_labels == tuple(labels)
    assert "other labels" in start.describe()
    assert model.classifier.weight.shape == (2, 384)
    # A fresh head as transformers initialises one (normal, std 0.02; zero bias), not the
    # saved 0.5 / 0.25, while the encoder is the fine-tuned one.
    assert model.classifier.weight.abs().max() < 0.2 and model.classifier.weight.std() > 0.01
    assert torch.count_nonzero(model.classifier.bias) == 0
    assert torch.equal(
        model.bert.encoder.layer[0].output.dense.weight,
        saved.bert.encoder.layer[0].output.dense.weight,
    )


def test_modeling_warm_start_from_another_task_replaces_its_head(minilm_path, tmp_path):
    # A token-classification head has the same parameter names (classifier.*) and, with two
    # tags, the same shape: it must not be read as a sentence classifier.
    _fine_tuned(minilm_path, tmp_path, AutoModelForTokenClassification, ["O", "B-X"])
    task = get_task("classification")

    start = head_start(task, str(tmp_path), ["O", "B-X"], {})
    model = load_task_model(task, str(tmp_path), ["O", "B-X"], {})

    assert start == HeadStart("replaced", "BertForTokenClassification")
    assert "BertForTokenClassification" in start.describe()
    assert model.classifier.weight.abs().max() < 0.2


def test_modeling_pretrained_encoder_gets_a_new_head(minilm_path):
    start = head_start(get_task("classification"), str(minilm_path), ["a", "b"], {})

    assert start == HeadStart("new") and start.describe() == "task head: new"


def test_modeling_regression_head_is_not_kept_for_classification(minilm_path, tmp_path):
    _fine_tuned(minilm_path, tmp_path, AutoModelForSequenceClassification, ["value"], "regression")

    assert head_start(get_task("classification"), str(tmp_path), ["value"], {}).kind == "replaced"
    assert head_start(get_task("regression"), str(tmp_path), [], {}).kind == "kept"
