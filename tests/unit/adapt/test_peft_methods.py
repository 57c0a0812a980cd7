"""peft methods on the real 1-layer MiniLM: what trains, one step, unsupported combinations, AdaLoRA."""

from __future__ import annotations

import pytest
import torch
from peft import PromptTuningConfig, get_peft_model
from peft import TaskType as PeftTaskType

from tuneforge.adapt import count_parameters
from tuneforge.adapt.peft_methods import after_optimizer_step_hook, apply_peft
from tuneforge.config import AdaptationConfig
from tuneforge.errors import ConfigError
from tuneforge.tasks import get_task

from ._tiny_model import eval_logits, optimizer_step

# Name fragments of the parameters each method adds; peft's copy of the head is trained too.
ADAPTER_MARKERS = {
    "lora": "lora_",
    "adalora": "lora_",
    "ia3": "ia3_l",
    "prefix": "prompt_encoder",
    "prompt": "prompt_encoder",
}
HEAD_MARKER = "classifier.modules_to_save"
CASES = [
    *[(method, task) for method in ADAPTER_MARKERS for task in ("classification", "ner")],
    ("lora", "regression"),
    ("lora", "multilabel"),
    ("ia3", "multilabel"),
    ("prefix", "regression"),
]
CASES.remove(("prompt", "ner"))  # unsupported, see test_peft_methods_prompt_ner_is_rejected


def _adapt(make_base, method: str, task: str, **fields):
    config = AdaptationConfig(method=method, lora_rank=4, num_virtual_tokens=4, **fields)
    return apply_peft(make_base(task), config, get_task(task).peft_task_type, total_steps=5)


@pytest.mark.parametrize(("method", "task"), CASES)
def test_peft_methods_train_only_adapter_and_head(make_base, method, task):
    model = _adapt(make_base, method, task)
    trainable_names = [name for name, param in model.named_parameters() if param.requires_grad]

    assert all(
        ADAPTER_MARKERS[method] in name or HEAD_MARKER in name for name in trainable_names
    ), trainable_names
    assert any(ADAPTER_MARKERS[method] in name for name in trainable_names)
    assert any(HEAD_MARKER in name for name in trainable_names)
    trainable, total = count_parameters(model)
    assert 0 < trainable < total / 50


@pytest.mark.parametrize(("method", "task"), CASES)
def test_peft_methods_one_step_moves_adapter_not_base(make_base, make_batch, method, task):
    model = _adapt(make_base, method, task)
    batch = make_batch(task)
    before = {name: param.detach().clone() for name, param in model.named_parameters()}

    optimizer_step(model, batch)

    params = dict(model.named_parameters())
    changed = {name for name in before if not torch.equal(before[name], params[name])}
    frozen = {name for name, param in params.items() if not param.requires_grad}
    assert not changed & frozen, sorted(changed & frozen)
    assert any(ADAPTER_MARKERS[method] in name for name in changed), sorted(changed)
    assert any(HEAD_MARKER in name for name in changed), sorted(changed)
    assert torch.isfinite(eval_logits(model, batch)).all()


def test_peft_methods_prompt_ner_is_rejected(make_base):
    with pytest.raises(
        ConfigError,
        match=r"prompt is not supported for TOKEN_CLS.*task.type ner.*Use method prefix",
    ):
        _adapt(make_base, "prompt", "ner")


def test_peft_methods_prompt_ner_restriction_still_needed(make_base, make_batch):
    # Canary: peft's token-classification prompt tuning returns logits for the virtual tokens
    # too, so labels do not line up. When a peft release fixes this, lift the restriction.
    batch = make_batch("ner")
    model = get_peft_model(
        make_base("ner"), PromptTuningConfig(task_type=PeftTaskType.TOKEN_CLS, num_virtual_tokens=4)
    )

    logits = eval_logits(model, batch)

    assert logits.shape[1] == batch["input_ids"].shape[1] + 4
    with pytest.raises(ValueError, match="batch_size"):
        model(**batch)


def test_peft_methods_adalora_requires_total_steps(make_base):
    config = AdaptationConfig(method="adalora")
    with pytest.raises(ValueError, match="total_steps"):
        apply_peft(make_base("classification"), config, "SEQ_CLS")


def test_peft_methods_adalora_target_rank_above_rank_is_config_error(make_base):
    config = AdaptationConfig(method="adalora", lora_rank=2, adalora_target_rank=4)
    with pytest.raises(ConfigError, match="adalora_target_rank"):
        apply_peft(make_base("classification"), config, "SEQ_CLS", total_steps=3)


@pytest.mark.parametrize("task", ["classification", "ner"])
def test_peft_methods_adalora_hook_allocates_rank_budget(make_base, make_batch, task):
    total_steps = 4
    config = AdaptationConfig(method="adalora", lora_rank=4, adalora_target_rank=2)
    model = apply_peft(
        make_base(task), config, get_task(task).peft_task_type, total_steps=total_steps
    )
    hook = after_optimizer_step_hook(model)
    batch = make_batch(task)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    assert hook is not None

    for global_step in range(1, total_steps + 1):
        model(**batch).loss.backward()
        optimizer.step()
        hook(global_step)
        optimizer.zero_grad()

    # The final allocation (global_step == total_steps) records each matrix's kept rank.
    rank_pattern = model.peft_config["default"].rank_pattern
    assert rank_pattern
    kept = sum(sum(mask) for mask in rank_pattern.values())
    assert kept == 2 * len(rank_pattern)  # target rank 2 per matrix on average


def test_peft_methods_adalora_hook_needs_gradients(make_base, make_batch):
    config = AdaptationConfig(method="adalora", lora_rank=4, adalora_target_rank=2)
    model = apply_peft(make_base("classification"), config, "SEQ_CLS", total_steps=4)
    optimizer = optimizer_step(model, make_batch("classification"))
    optimizer.zero_grad(set_to_none=True)

    with pytest.raises(RuntimeError, match=r"before optimizer\.zero_grad"):
        after_optimizer_step_hook(model)(1)


@pytest.mark.parametrize("method", ["lora", "ia3", "prefix", "prompt"])
def test_peft_methods_hook_is_none_without_adalora(make_base, method):
    assert after_optimizer_step_hook(_adapt(make_base, method, "classification")) is None
    assert after_optimizer_step_hook(make_base("classification")) is None


@pytest.mark.parametrize("method", ["lora", "adalora", "ia3"])
def test_peft_methods_unknown_target_modules_are_config_error(make_base, method):
    with pytest.raises(ConfigError, match="target_modules"):
        _adapt(make_base, method, "classification", target_modules=["no_such_layer"])


def test_peft_methods_custom_target_modules_are_wrapped(make_base):
    model = _adapt(
        make_base, "lora", "classification", target_modules=["key", "intermediate.dense"]
    )
    wrapped = {
        name.split(".lora_A")[0].split(".")[-1]
        for name, _ in model.named_parameters()
        if "lora_A" in name
    }
    assert wrapped == {"key", "dense"}


@pytest.mark.parametrize("method", ["prefix", "prompt"])
def test_peft_methods_virtual_tokens_reject_target_modules(make_base, method):
    with pytest.raises(ConfigError, match="no effect"):
        _adapt(make_base, method, "classification", target_modules=["query"])
