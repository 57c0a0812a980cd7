"""save_adapted_model / load_adapted_model round trips on the real 1-layer MiniLM."""

from __future__ import annotations

import pytest
import torch
import transformers
from peft import PeftModel
from transformers import AutoModelForSequenceClassification, AutoModelForTokenClassification

from tuneforge.adapt import apply_adaptation, load_adapted_model, save_adapted_model
from tuneforge.config import AdaptationConfig
from tuneforge.errors import ModelError
from tuneforge.tasks import get_task

from ._tiny_model import eval_logits, optimizer_step

# (method, save, task, kind written)
ROUNDTRIPS = [
    ("full", "merged", "classification", "full"),
    ("full", "merged", "ner", "full"),
    ("lora", "merged", "classification", "merged"),
    ("lora", "merged", "ner", "merged"),
    ("lora", "merged", "regression", "merged"),
    ("lora", "merged", "multilabel", "merged"),
    ("lora", "adapter", "classification", "adapter"),
    ("lora", "adapter", "ner", "adapter"),
    ("adalora", "merged", "classification", "merged"),
    ("adalora", "adapter", "ner", "adapter"),
    ("ia3", "merged", "classification", "merged"),
    ("ia3", "adapter", "ner", "adapter"),
    ("prefix", "merged", "classification", "adapter"),
    ("prefix", "adapter", "ner", "adapter"),
    ("prompt", "merged", "classification", "adapter"),
    ("bottleneck", "merged", "classification", "adapter"),
    ("bottleneck", "adapter", "ner", "adapter"),
]


def _trained(make_base, make_batch, method, task, save="merged"):
    config = AdaptationConfig(method=method, save=save, lora_rank=4, num_virtual_tokens=4)
    model = apply_adaptation(make_base(task), config, get_task(task).peft_task_type, total_steps=5)
    optimizer_step(model, make_batch(task))  # so that no adapter is still at its identity init
    return model, config


@pytest.mark.parametrize(("method", "save", "task", "kind"), ROUNDTRIPS)
def test_storage_roundtrip_gives_same_logits(
    make_base, make_batch, tmp_path, method, save, task, kind
):
    model, config = _trained(make_base, make_batch, method, task, save)
    batch = make_batch(task)
    expected = eval_logits(model, batch)
    directory = tmp_path / "model"

    written = save_adapted_model(model, directory, config, base_model_name="all-MiniLM-L6-v2")
    loaded = load_adapted_model(directory, lambda: make_base(task))

    assert written == kind
    assert not loaded.training
    assert isinstance(loaded, PeftModel) == (kind == "adapter" and method != "bottleneck")
    torch.testing.assert_close(eval_logits(loaded, batch), expected, atol=1e-5, rtol=0)
    # The saved model is still the adapted one: merging works on a copy.
    torch.testing.assert_close(eval_logits(model, batch), expected, atol=0, rtol=0)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model"]


@pytest.mark.parametrize(
    ("task", "auto_class"),
    [
        ("classification", AutoModelForSequenceClassification),
        ("regression", AutoModelForSequenceClassification),
        ("ner", AutoModelForTokenClassification),
    ],
)
def test_storage_merged_lora_is_plain_transformers(
    make_base, make_batch, tmp_path, task, auto_class
):
    model, config = _trained(make_base, make_batch, "lora", task)
    batch = make_batch(task)

    save_adapted_model(model, tmp_path, config, base_model_name="all-MiniLM-L6-v2")
    plain = auto_class.from_pretrained(tmp_path)

    assert not (tmp_path / "adapter_config.json").exists()
    assert (tmp_path / "model.safetensors").is_file()
    assert not any("lora" in name for name in plain.state_dict())
    torch.testing.assert_close(
        eval_logits(plain, batch), eval_logits(model, batch), atol=1e-5, rtol=0
    )


def test_storage_merged_lora_loads_in_pipeline(make_base, make_batch, tokenizer, tmp_path):
    model, config = _trained(make_base, make_batch, "lora", "classification")
    save_adapted_model(model, tmp_path, config, base_model_name="all-MiniLM-L6-v2")
    tokenizer.save_pretrained(tmp_path)

    classify = transformers.pipeline("text-classification", model=str(tmp_path), device="cpu")

    assert classify("Shares fell sharply on Monday.")[0]["label"] in {
        "LABEL_0",
        "LABEL_1",
        "LABEL_2",
    }


def test_storage_adapter_config_names_base_model(make_base, make_batch, tmp_path):
    model, config = _trained(make_base, make_batch, "lora", "classification", save="adapter")

    save_adapted_model(model, tmp_path / "m", config, base_model_name="all-MiniLM-L6-v2")

    text = (tmp_path / "m" / "adapter_config.json").read_text()
    assert '"base_model_name_or_path": "all-MiniLM-L6-v2"' in text
    assert (tmp_path / "m" / "adapter_model.safetensors").is_file()


def test_storage_save_replaces_previous_folder(make_base, make_batch, tmp_path):
    model, config = _trained(make_base, make_batch, "lora", "classification", save="adapter")
    directory = tmp_path / "best"
    save_adapted_model(model, directory, config, "m")

    merged = config.model_copy(update={"save": "merged"})
    assert save_adapted_model(model, directory, merged, "m") == "merged"

    assert not (directory / "adapter_config.json").exists()  # nothing left of the old save
    assert sorted(path.name for path in tmp_path.iterdir()) == ["best"]


def test_storage_failed_save_keeps_previous_folder(make_base, make_batch, tmp_path):
    model, config = _trained(make_base, make_batch, "lora", "classification", save="adapter")
    directory = tmp_path / "best"
    save_adapted_model(model, directory, config, "m")
    before = sorted(path.name for path in directory.iterdir())

    with pytest.raises(TypeError, match="expected a peft model"):
        save_adapted_model(make_base("classification"), directory, config, "m")

    assert sorted(path.name for path in directory.iterdir()) == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["best"]


def test_storage_load_rejects_folder_without_model(tmp_path):
    with pytest.raises(ModelError, match="no saved model"):
        load_adapted_model(tmp_path, lambda: None)
