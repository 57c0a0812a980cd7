"""Adversarial training steps: FGM's perturbation is eps * g / ||g||, PGD stays in the ball and
follows the projected gradient, FreeLB keeps every ascent step's gradient, through LoRA and for
per-token and multilabel tasks, and a run with PGD resumes exactly."""

from __future__ import annotations

import copy
from dataclasses import asdict

import pytest
import torch

from tuneforge.config import AdversarialConfig
from tuneforge.inference import collate
from tuneforge.training import TrainingHooks, fit
from tuneforge.training import adversarial as adv
from tuneforge.training.steps import MicroBatch

from ._bbc import per_topic
from ._state import without_wall_time


def _batch(bbc_features, count: int = 4) -> dict[str, torch.Tensor]:
    # Two short and two long articles' worth of padding: 32 tokens each after truncation, so
    # cut two to 20 tokens to have padding that must stay unperturbed.
    rows = [dict(feature) for feature in bbc_features[:count]]
    for row in rows[:2]:
        row["input_ids"] = row["input_ids"][:20]
        row["attention_mask"] = row["attention_mask"][:20]
        row["token_type_ids"] = row["token_type_ids"][:20]
    return collate(rows, 0)


def _micro_batch(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> MicroBatch:
    return MicroBatch(model, batch, lambda outputs: outputs.loss, lambda loss: loss.backward())


def _embedded(model, batch) -> torch.Tensor:
    """The word embeddings of the batch, as a leaf: the independent route via inputs_embeds."""
    return model.get_input_embeddings()(batch["input_ids"]).detach().requires_grad_(True)


def _forward_embeds(model, batch, embeds: torch.Tensor) -> torch.Tensor:
    inputs = {key: value for key, value in batch.items() if key != "input_ids"}
    return model(inputs_embeds=embeds, **inputs).loss


def _grads(model) -> dict[str, torch.Tensor]:
    # The word-embedding matrix gets no gradient on the inputs_embeds route: left out.
    return {
        name: p.grad.detach().clone()
        for name, p in model.named_parameters()
        if p.grad is not None and "word_embeddings" not in name
    }


def test_adversarial_fgm_delta_is_epsilon_times_normalised_gradient(make_model, bbc_features):
    model = make_model().eval()  # no dropout: both routes see the same network
    batch = _batch(bbc_features)
    epsilon = 0.5

    # Expected, computed by hand: g = dL/d(embeddings); r = eps * g / ||g|| per example.
    embeds = _embedded(model, batch)
    _forward_embeds(model, batch, embeds).backward()
    g = embeds.grad * batch["attention_mask"].unsqueeze(-1)
    delta = epsilon * g / g.flatten(1).norm(dim=1).view(-1, 1, 1)
    _forward_embeds(model, batch, embeds.detach() + delta).backward()
    expected = _grads(model)
    model.zero_grad(set_to_none=True)

    step = adv.FGMStep(adv.EmbeddingAttack(epsilon))
    step(_micro_batch(model, batch))
    got = _grads(model)

    assert set(got) == set(expected)
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=1e-4, atol=1e-6)
    norms = delta.flatten(1).norm(dim=1)
    torch.testing.assert_close(norms, torch.full_like(norms, epsilon))
    assert delta[0, 20:].abs().max() == 0, "padding must not be perturbed"


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_adversarial_pgd_stays_in_ball_and_follows_projected_gradient(
    make_model, bbc_features, monkeypatch, norm
):
    model = make_model().eval()
    batch = _batch(bbc_features)
    attack = adv.EmbeddingAttack(epsilon=0.3, steps=3, step_size=0.2, norm=norm)
    updates: list[tuple[torch.Tensor, torch.Tensor]] = []
    real_update = adv.pgd_update

    def recording_update(delta, grad, mask, attack):
        new = real_update(delta, grad, mask, attack)
        updates.append((grad.clone(), new.clone()))
        return new

    monkeypatch.setattr(adv, "pgd_update", recording_update)
    adv.PGDStep(attack)(_micro_batch(model, batch))
    assert len(updates) == 3

    mask = batch["attention_mask"].unsqueeze(-1).float()
    # The first ascent step starts at zero: its gradient is the clean one, computed by hand.
    embeds = _embedded(model, batch)
    _forward_embeds(model, batch, embeds).backward()
    torch.testing.assert_close(updates[0][0], embeds.grad, rtol=1e-4, atol=1e-7)
    previous = torch.zeros_like(embeds)
    for grad, delta in updates:
        g = grad * mask
        if norm == "l2":
            step = previous + 0.2 * g / g.flatten(1).norm(dim=1).view(-1, 1, 1)
            radius = step.flatten(1).norm(dim=1).view(-1, 1, 1)
            expected = step * torch.clamp(0.3 / radius, max=1.0)
            assert (delta.flatten(1).norm(dim=1) <= 0.3 + 1e-5).all()
        else:
            expected = (previous + 0.2 * g.sign()).clamp(-0.3, 0.3)
            assert delta.abs().max() <= 0.3 + 1e-7
        torch.testing.assert_close(delta, expected)
        assert (delta * (1 - mask)).abs().max() == 0
        previous = delta
    # With step 0.2 > eps 0.3 / 2, the second step leaves the ball: the projection did work.
    if norm == "l2":
        torch.testing.assert_close(
            updates[-1][1].flatten(1).norm(dim=1), torch.full((4,), 0.3), rtol=1e-4, atol=1e-5
        )


def test_adversarial_freelb_averages_the_ascent_losses(make_model, bbc_features):
    model = make_model().eval()
    batch = _batch(bbc_features)
    with torch.no_grad():
        clean = float(model(**batch).loss)
    loss = adv.FreeLBStep(adv.EmbeddingAttack(epsilon=0.5, steps=3))(_micro_batch(model, batch))
    # Zero start: the first of the three passes is the clean one; ascent raises the others.
    assert float(loss) > clean
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_adversarial_step_works_through_lora(make_model, bbc_features):
    from tuneforge.adapt import apply_adaptation
    from tuneforge.config import AdaptationConfig

    model = apply_adaptation(make_model(), AdaptationConfig(method="lora"), "SEQ_CLS")
    embedding = adv.input_embedding_module(model)
    assert embedding is model.get_input_embeddings()
    batch = _batch(bbc_features)
    adv.PGDStep(adv.EmbeddingAttack(epsilon=0.5, steps=2))(_micro_batch(model, batch))
    lora = [p.grad for name, p in model.named_parameters() if "lora_" in name]
    assert lora and all(grad is not None for grad in lora)


def test_adversarial_step_is_task_agnostic_per_token(minilm_path, bbc_features):
    from transformers import AutoModelForTokenClassification

    torch.manual_seed(0)
    model = AutoModelForTokenClassification.from_pretrained(
        minilm_path, num_hidden_layers=1, num_labels=3
    ).eval()
    batch = _batch(bbc_features)
    batch["labels"] = (batch["input_ids"] % 3).masked_fill(batch["attention_mask"] == 0, -100)
    loss = adv.FGMStep(adv.EmbeddingAttack(epsilon=1.0))(_micro_batch(model, batch))
    assert torch.isfinite(loss) and model.classifier.weight.grad is not None


@pytest.mark.parametrize("step", ["pgd", "freelb"])
def test_adversarial_step_is_task_agnostic_multilabel(minilm_path, bbc_features, step):
    # A set of labels per text: the loss is BCE over independent labels, the step unchanged.
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(
        minilm_path,
        num_hidden_layers=1,
        num_labels=3,
        problem_type="multi_label_classification",
    ).eval()
    batch = _batch(bbc_features)
    batch["labels"] = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0, 0, 1.0]])
    with torch.no_grad():
        clean = model(**batch).loss
    attack = adv.EmbeddingAttack(epsilon=1.0, steps=2)
    loss = adv.STEPS[step](attack)(_micro_batch(model, batch))
    assert torch.isfinite(loss) and model.classifier.weight.grad is not None
    if step == "freelb":  # its loss averages ascent steps from zero: above the clean loss
        assert loss > clean
    else:  # pgd reports the clean loss; the gradient also holds the adversarial pass
        assert torch.allclose(loss, clean, atol=1e-5)


def test_adversarial_step_from_config():
    assert adv.adversarial_step(AdversarialConfig()) is None
    step = adv.adversarial_step(AdversarialConfig(method="fgm", steps=5, epsilon=0.2))
    assert isinstance(step, adv.FGMStep) and step.attack.steps == 1
    assert AdversarialConfig(method="pgd", steps=3).passes_per_step == 5
    assert AdversarialConfig(method="freelb", steps=3).passes_per_step == 3


class _Crash(Exception):
    pass


def test_adversarial_pgd_run_resumes_exactly(tmp_path, bbc_features, make_model, make_setup):
    features = per_topic(bbc_features, 4)
    step = adv.PGDStep(adv.EmbeddingAttack(epsilon=1.0, steps=2))
    common = dict(batch_size=4, max_steps=5, checkpoint_every_steps=2, learning_rate=3e-4)

    def setup(directory, **kwargs):
        made = make_setup(directory, **common, **kwargs)
        made.training_step = step
        return made

    model = make_model()
    torch.manual_seed(0)
    state = fit(model, features, setup(tmp_path / "whole"))
    expected, expected_state = copy.deepcopy(model.state_dict()), asdict(state)

    def crash_at_step_3(context) -> None:
        if context.state.global_step == 3:
            raise _Crash

    torch.manual_seed(0)
    with pytest.raises(_Crash):
        fit(
            make_model(),
            features,
            setup(tmp_path / "cut", hooks=TrainingHooks(after_optimizer_step=[crash_at_step_3])),
        )
    resumed = make_model()
    torch.manual_seed(1)
    state = fit(resumed, features, setup(tmp_path / "cut", resume=True))
    assert without_wall_time(asdict(state)) == without_wall_time(expected_state)
    for name, value in resumed.state_dict().items():
        assert torch.equal(value, expected[name]), name
