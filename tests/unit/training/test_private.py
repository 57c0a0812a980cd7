"""DP-SGD (training/private.py): the accountant matches Opacus's own, the plan refuses what
would void the guarantee, per-example gradients are per example (the BERT position-id trap),
Poisson batches are seeded, and a private LoRA run trains and reports what it spent."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

pytest.importorskip("opacus")

from opacus.accountants import PRVAccountant, RDPAccountant

from tuneforge.config import PrivacyConfig, TrainingConfig, config_from_dict
from tuneforge.errors import ConfigError
from tuneforge.training.private import (
    PoissonBatches,
    PrivateTraining,
    plan_privacy,
    spent_epsilon,
)


@pytest.mark.parametrize("accountant", ["prv", "rdp"])
def test_epsilon_matches_opacus_stepping_its_own_accountant(accountant: str) -> None:
    sigma, q, steps, delta = 1.1, 0.02, 250, 1e-5
    reference = PRVAccountant() if accountant == "prv" else RDPAccountant()
    for _ in range(steps):
        reference.step(noise_multiplier=sigma, sample_rate=q)
    expected = reference.get_epsilon(delta=delta)
    assert spent_epsilon(sigma, q, steps, delta, accountant) == pytest.approx(expected, rel=1e-9)
    assert spent_epsilon(sigma, q, 0, delta, accountant) == 0.0


def test_derived_noise_spends_the_target_over_the_planned_steps() -> None:
    training = TrainingConfig(epochs=3, batch_size=16)
    plan = plan_privacy(PrivacyConfig(target_epsilon=3.0, batch_size=64), training, 2_000)
    assert plan.sample_rate == pytest.approx(64 / 2_000)
    assert plan.steps_per_epoch == math.ceil(2_000 / 64)
    assert plan.planned_steps == plan.allowed_steps == 3 * plan.steps_per_epoch
    assert plan.delta == pytest.approx(1 / 20_000)
    spent = plan.epsilon(plan.planned_steps)
    assert 2.9 < spent <= 3.0
    # A larger target needs less noise.
    looser = plan_privacy(PrivacyConfig(target_epsilon=8.0, batch_size=64), training, 2_000)
    assert looser.noise_multiplier < plan.noise_multiplier


def test_a_given_noise_multiplier_stops_training_at_the_budget() -> None:
    training = TrainingConfig(epochs=20, batch_size=50)
    privacy = PrivacyConfig(target_epsilon=2.0, noise_multiplier=0.8)
    plan = plan_privacy(privacy, training, 1_000)
    assert plan.allowed_steps < plan.planned_steps
    assert plan.epsilon(plan.allowed_steps) <= 2.0 < plan.epsilon(plan.allowed_steps + 1)
    report = plan.report(plan.allowed_steps)
    assert report["budget_exhausted"] is True
    assert private_loop_settings(plan, training).max_steps == plan.allowed_steps


def private_loop_settings(plan, training: TrainingConfig) -> TrainingConfig:
    return PrivateTraining(plan, seed=1).training_config(training)


def test_the_loop_runs_unclipped_unaccumulated_steps_under_dp() -> None:
    training = TrainingConfig(batch_size=8, gradient_accumulation_steps=4, max_grad_norm=1.0)
    plan = plan_privacy(PrivacyConfig(target_epsilon=8.0), training, 500)
    assert plan.expected_batch_size == 32 and plan.physical_batch_size == 8
    loop = private_loop_settings(plan, training)
    assert loop.gradient_accumulation_steps == 1 and loop.max_grad_norm is None


def test_a_delta_of_one_over_n_or_more_is_refused() -> None:
    training = TrainingConfig(batch_size=16)
    with pytest.raises(ConfigError, match=r"target_delta.*not below 1/n"):
        plan_privacy(PrivacyConfig(target_epsilon=8.0, target_delta=0.01), training, 100)
    with pytest.raises(ConfigError, match="more than the 10 training rows"):
        plan_privacy(PrivacyConfig(target_epsilon=8.0, batch_size=64), training, 10)
    with pytest.raises(ConfigError, match="in one step"):
        plan_privacy(PrivacyConfig(target_epsilon=0.01, noise_multiplier=0.3), training, 1_000)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"adaptation": {"method": "prefix"}}, "prefix cannot be trained with DP-SGD"),
        ({"adaptation": {"method": "adalora"}}, "adalora cannot be trained with DP-SGD"),
        ({"robustness": {"adversarial": {"method": "pgd"}}}, "one or the other"),
        ({"training": {"sampler": "class_balanced"}}, "Poisson sampling"),
        ({"privacy": {"target_epsilon": 8, "target_delta": 1.5}}, "between 0 and 1"),
        ({"privacy": {"target_epsilon": 8, "epsilon": 3}}, "unknown key privacy.epsilon"),
        (
            {
                "adaptation": {"method": "full"},
                "privacy": {"target_epsilon": 8, "head_clip_fraction": 0.3},
            },
            "head_clip_fraction: group-wise clipping needs.*per_example",
        ),
        ({"privacy": {"target_epsilon": 8, "head_clip_fraction": 1.0}}, "less than 1"),
    ],
)
def test_privacy_config_refuses_what_dp_cannot_train(section: dict, message: str) -> None:
    raw = {"privacy": {"target_epsilon": 8}, **section}
    with pytest.raises(ConfigError, match=message):
        config_from_dict(raw)


def test_poisson_batches_are_seeded_and_sampled_at_the_rate() -> None:
    sampler = PoissonBatches(num_examples=400, sample_rate=0.05, steps_per_epoch=200, seed=3)
    first = sampler.epoch_batches(0)
    assert first == sampler.epoch_batches(0)
    assert first != sampler.epoch_batches(1)
    assert len(first) == sampler.num_batches() == 200
    sizes = [len(batch) for batch in first]
    assert sum(sizes) / len(sizes) == pytest.approx(20, rel=0.1)
    assert len({size for size in sizes}) > 5  # sizes vary: not fixed batches
    tiny = PoissonBatches(num_examples=10, sample_rate=0.05, steps_per_epoch=50, seed=0)
    assert any(not batch for batch in tiny.epoch_batches(0))  # empty samples do happen


def _per_example_gradients(model: torch.nn.Module, batch: dict, labels: torch.Tensor) -> list:
    rows = []
    for row in range(labels.shape[0]):
        model.zero_grad()
        single = {key: value[row : row + 1] for key, value in batch.items()}
        model(**single, labels=labels[row : row + 1]).loss.backward()
        rows.append(model.bert.embeddings.position_embeddings.weight.grad.clone())
    return rows


def _one_layer_classifier(minilm_path: Path, num_labels: int) -> torch.nn.Module:
    """MiniLM cut to one layer, without dropout (gradients comparable pass to pass), training."""
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(
        minilm_path,
        num_labels=num_labels,
        num_hidden_layers=1,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    return model.train()


def test_position_embedding_gradients_are_per_example(minilm_path: Path) -> None:
    """BERT looks positions up from a (1, L) buffer; without the fix Opacus returns one summed
    per-example gradient for the position embedding instead of one per example."""
    from opacus import GradSampleModule
    from transformers import AutoTokenizer

    from tuneforge.training.private import _expand_broadcast_embedding_inputs, _PieceSize

    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    model = _one_layer_classifier(minilm_path, num_labels=2)
    batch = dict(
        tokenizer(["a good film", "bad, slow and long", "fine"], padding=True, return_tensors="pt")
    )
    labels = torch.tensor([1, 0, 1])
    expected = _per_example_gradients(model, batch, labels)

    pieces = _PieceSize()
    hooks = _expand_broadcast_embedding_inputs(model, pieces)
    module = GradSampleModule(model, loss_reduction="mean")
    model.zero_grad()
    pieces.rows = 3
    model(**batch, labels=labels).loss.backward()
    per_example = model.bert.embeddings.position_embeddings.weight.grad_sample
    assert per_example.shape[0] == 3
    # The single-row passes ran unpadded: compare the positions each row has (padded ones get
    # no gradient). Opacus rescales the batch-mean loss, so each row is its own loss's gradient.
    for row, gradient in enumerate(expected):
        length = int(batch["attention_mask"][row].sum())
        torch.testing.assert_close(
            per_example[row, :length], gradient[:length], rtol=1e-3, atol=1e-5
        )
    module.remove_hooks()
    for handle in hooks:
        handle.remove()


def test_private_lora_run_trains_and_reports_what_it_spent(tmp_path: Path) -> None:
    from _configs import tiny_config

    from tuneforge.pipeline import build_model, fine_tune, prepare_data

    raw = tiny_config(
        tmp_path,
        adaptation={"method": "lora"},
        training={"learning_rate": 1e-3, "epochs": 1},
        privacy={"target_epsilon": 8, "batch_size": 20},
    )
    config = config_from_dict(raw, config_dir=str(tmp_path))
    data = prepare_data(config)
    model = build_model(config, data)
    before = {
        name: parameter.detach().clone()
        for name, parameter in model.named_parameters()
        if parameter.requires_grad and "lora_" in name
    }
    assert before
    result = fine_tune(model, data.task, data, config, show_progress=False)
    moved = [
        name
        for name, parameter in result.model.named_parameters()
        if name in before and not torch.equal(parameter.detach(), before[name])
    ]
    assert moved, "no LoRA weight moved under DP-SGD"
    privacy = result.privacy
    assert privacy is not None
    assert privacy["steps"] == result.state.global_step == math.ceil(len(data.splits.train) / 20)
    assert 0 < privacy["epsilon"] <= 8.0
    assert privacy["delta"] == pytest.approx(1 / (10 * len(data.splits.train)))
    assert privacy["clipping"] == "per_example"  # auto, for an adapter
    evaluations = [row for row in result.state.history if "epsilon" in row]
    assert evaluations and evaluations[-1]["epsilon"] == pytest.approx(privacy["epsilon"])
    # What clipping did: every example of every Poisson batch measured, per evaluation and over
    # the run (the Poisson batches hold about 20 of the rows each).
    norms = result.dp_gradient_norms
    assert norms is not None and "gradient_norms" not in privacy
    assert 0 < norms["examples"] <= 3 * len(data.splits.train)
    assert 0 <= norms["clipped_fraction"] <= 1 and 0 < norms["median"] <= norms["p90"]
    assert norms["steps"] == [1, privacy["steps"]]
    # Opacus's hooks and per-example buffers are gone from the trained model.
    assert all(not hasattr(p, "grad_sample") for p in result.model.parameters())
    json.dumps(privacy)  # goes into metrics.json as is


def test_ner_loss_under_dp_is_a_mean_of_per_sentence_losses() -> None:
    """The model's token loss averages over the batch's tokens (a long sentence weighs more);
    under DP each sentence's loss must be its own: the batch loss is their plain mean."""
    from types import SimpleNamespace

    from tuneforge.tasks import get_task

    term = get_task("ner").per_example_loss_term()
    assert term is not None and get_task("classification").per_example_loss_term() is None
    torch.manual_seed(0)
    logits = torch.randn(3, 6, 4)
    labels = torch.tensor(
        [[-100, 1, 2, -100, -100, -100], [-100, 0, 1, 3, 2, 1], [-100, 3, -100, -100, -100, -100]]
    )
    batch_loss = term(None, {"labels": labels}, SimpleNamespace(logits=logits), torch.zeros(()))
    singles = [
        torch.nn.functional.cross_entropy(logits[row], labels[row], ignore_index=-100)
        for row in range(3)
    ]
    torch.testing.assert_close(batch_loss, torch.stack(singles).mean())
    token_mean = torch.nn.functional.cross_entropy(logits.transpose(1, 2), labels)
    assert not torch.isclose(batch_loss, token_mean)  # what the model's own loss would be


def test_private_ner_run_in_pieces_reads_each_pieces_own_labels(
    tmp_path: Path, wnut16_file: Path
) -> None:
    """A logical batch of ~32 sentences runs in pieces of 8: NER's per-sentence loss term must
    read the piece's labels (the whole batch's do not match the piece's logits)."""
    from _configs import tiny_config, write_wnut_conll

    from tuneforge.pipeline import build_model, fine_tune, prepare_data

    source = write_wnut_conll(tmp_path / "wnut.conll", wnut16_file, sentences=150)
    raw = tiny_config(
        tmp_path,
        data={"source": str(source)},
        task={"type": "ner"},
        adaptation={"method": "lora"},
        training={"learning_rate": 1e-3, "epochs": 1, "batch_size": 8},
        privacy={"target_epsilon": 8, "batch_size": 32},
    )
    config = config_from_dict(raw, config_dir=str(tmp_path))
    data = prepare_data(config)
    result = fine_tune(build_model(config, data), data.task, data, config, show_progress=False)

    assert result.privacy is not None and result.privacy["steps"] >= 3
    assert math.isfinite(result.state.history[-1].get("loss", 0.0))


def test_private_pieces_hold_rows_of_similar_length() -> None:
    from tuneforge.training.private import _by_length

    mask = torch.tensor([[1, 1, 1, 1], [1, 0, 0, 0], [1, 1, 1, 0], [1, 1, 0, 0]])
    batch = {"input_ids": mask * torch.arange(1, 5).unsqueeze(1), "attention_mask": mask}
    batch["labels"] = torch.tensor([4, 1, 3, 2])

    ordered = _by_length(batch, 4)

    assert ordered["labels"].tolist() == [1, 2, 3, 4]
    assert ordered["attention_mask"].sum(dim=1).tolist() == [1, 2, 3, 4]
    assert ordered["input_ids"][:, 0].tolist() == [2, 4, 3, 1]  # rows moved whole


def _summed_clipped_gradients(
    model: torch.nn.Module,
    batch: dict,
    clipping: str,
    clip: float,
    head_clip_fraction: float | None = None,
    norms: list[dict] | None = None,
) -> dict[str, torch.Tensor]:
    """The clipped per-example gradients of a 5-row logical batch, summed over pieces of 2, as
    the optimizer holds them before it adds the noise (and into `norms`, what clipping
    recorded)."""
    from tuneforge.training.steps import MicroBatch

    training = TrainingConfig(batch_size=2)
    privacy = PrivacyConfig(
        noise_multiplier=1.0,
        max_grad_norm=clip,
        batch_size=5,
        clipping=clipping,
        head_clip_fraction=head_clip_fraction,
    )
    private = PrivateTraining(plan_privacy(privacy, training, 50), seed=0, announce=False)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = private.optimizer_factory(lambda m, c: torch.optim.SGD(trainable, lr=0.1))(
        model, training
    )
    private.step(
        MicroBatch(
            model=model,
            batch=batch,
            loss_of=lambda out: out.loss,
            backward=lambda loss: loss.backward(),
        )
    )
    optimizer.signal_skip_step(do_skip=True)
    optimizer.step()  # sums the last piece in, adds no noise
    sums = {
        name: p.summed_grad.detach().clone()
        for name, p in model.named_parameters()
        if p.requires_grad
    }
    private.detach()
    if norms is not None:
        norms.append(private.gradient_norms.overall())
    return sums


@pytest.mark.parametrize("adaptation", ["full", "lora"])
def test_ghost_clipping_sums_the_same_clipped_gradients(minilm_path: Path, adaptation: str) -> None:
    """Ghost clipping (norms from activations, a second backward) must give the update that
    materialised per-example gradients give, including rows whose gradient the clip cuts."""
    import copy

    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    model = _one_layer_classifier(minilm_path, num_labels=3)
    if adaptation == "lora":
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(task_type="SEQ_CLS", r=4, lora_dropout=0.0))
        for name, parameter in model.named_parameters():  # B starts at zero: no gradient to A
            if "lora_B" in name:
                torch.nn.init.normal_(parameter, std=0.02)
    else:
        model.bert.embeddings.word_embeddings.weight.requires_grad_(False)
    texts = ["a good film", "bad, slow and far too long", "fine", "dull", "a warm, funny story"]
    batch = dict(tokenizer(texts, padding=True, return_tensors="pt"))
    batch["labels"] = torch.tensor([1, 0, 2, 0, 1])

    per_example = _summed_clipped_gradients(copy.deepcopy(model), batch, "per_example", 0.05)
    ghost = _summed_clipped_gradients(copy.deepcopy(model), batch, "ghost", 0.05)
    unclipped = _summed_clipped_gradients(copy.deepcopy(model), batch, "per_example", 1e6)

    assert per_example.keys() == ghost.keys() and per_example
    for name, expected in per_example.items():
        torch.testing.assert_close(ghost[name], expected, rtol=1e-4, atol=1e-6, msg=name)
    # The clip bound: the sum of 5 clipped gradients is at most 5 x 0.05 long, and the clip cut
    # (the unclipped sum is longer), so the comparison above covered clipping.
    total = torch.cat([g.flatten() for g in ghost.values()]).norm()
    assert total <= 5 * 0.05 + 1e-5
    assert torch.cat([g.flatten() for g in unclipped.values()]).norm() > total


@pytest.mark.parametrize("clipping", ["per_example", "ghost"])
def test_each_clipped_example_stays_within_the_clip_under_bf16(
    minilm_path: Path, clipping: str
) -> None:
    """Under bf16 autocast Opacus would take per-example norms in bf16: a norm rounded down
    lets one example's clipped gradient exceed the clip (0.22% measured), voiding the
    sensitivity the accountant assumes. One example per logical batch: what the optimizer
    sums is that example's clipped gradient."""
    import copy

    from peft import LoraConfig, get_peft_model
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    model = _one_layer_classifier(minilm_path, num_labels=3)
    model = get_peft_model(model, LoraConfig(task_type="SEQ_CLS", r=4, lora_dropout=0.0))
    for name, parameter in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(parameter, std=0.02)
    texts = [
        "a good film", "bad, slow and far too long", "fine", "dull", "a warm, funny story",
        "not my cup of tea at all", "brilliant", "the plot drags and the jokes fall flat",
        "an honest, moving piece", "meh", "two hours I will never get back", "lovely",
    ]  # fmt: skip
    clip = 0.05
    lengths = []
    for index, text in enumerate(texts):
        batch = dict(tokenizer([text], return_tensors="pt"))
        batch["labels"] = torch.tensor([index % 3])
        copied = copy.deepcopy(model)
        copied.forward = torch.autocast("cpu", dtype=torch.bfloat16)(copied.forward)
        sums = _summed_clipped_gradients(copied, batch, clipping, clip)
        lengths.append(float(torch.cat([g.double().flatten() for g in sums.values()]).norm()))
    assert max(lengths) <= clip * (1 + 2e-5), max(lengths) / clip
    assert min(lengths) >= clip * 0.95  # the clip bound, and not far under it


@pytest.mark.parametrize("head_clip_fraction", [None, 0.3])
def test_clipping_records_each_examples_norm_and_whether_it_was_cut(
    minilm_path: Path, head_clip_fraction: float | None
) -> None:
    """Per-example and ghost clipping record the same norms; with the clip just above the
    median norm, the 2 of 5 examples above it are the ones counted as cut."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    texts = ["a good film", "bad, slow and far too long", "fine", "dull", "a warm, funny story"]
    batch = dict(tokenizer(texts, padding=True, return_tensors="pt"))
    batch["labels"] = torch.tensor([1, 0, 2, 0, 1])
    recorded: list[dict] = []
    for clipping in ("per_example", "ghost"):
        model = _lora_one_layer(minilm_path)
        _summed_clipped_gradients(model, batch, clipping, 1e6, norms=recorded)
    per_example, ghost = recorded
    assert per_example["examples"] == ghost["examples"] == 5
    assert ghost["median"] == pytest.approx(per_example["median"], rel=1e-4)
    assert ghost["p90"] == pytest.approx(per_example["p90"], rel=1e-4)
    assert per_example["clipped_fraction"] == ghost["clipped_fraction"] == 0

    clip = per_example["median"] * 1.001
    recorded.clear()
    _summed_clipped_gradients(
        _lora_one_layer(minilm_path), batch, "per_example", clip, head_clip_fraction, recorded
    )
    if head_clip_fraction is None:
        assert recorded[0]["clipped_fraction"] == pytest.approx(0.4)
    else:  # a group's own clip cuts sooner: at least the two above the one clip
        assert recorded[0]["clipped_fraction"] >= 0.4
    assert recorded[0]["median"] == pytest.approx(per_example["median"], rel=1e-5)


def test_gradient_norms_summarise_per_evaluation_and_over_the_run() -> None:
    from tuneforge.training.gradient_norms import GradientNorms, describe

    norms = GradientNorms()
    assert norms.since_last() is None and norms.overall() is None
    norms.mark_step(1)
    norms.add(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([False, True, True]))
    norms.add(torch.tensor([]), torch.tensor([], dtype=torch.bool))  # an empty Poisson batch
    first = norms.since_last()
    assert first == {"clipped_fraction": 0.6667, "median": 2.0, "p90": 2.8, "examples": 3}
    norms.add(torch.tensor([0.5]), torch.tensor([False]))
    assert norms.since_last() == {"clipped_fraction": 0.0, "median": 0.5, "p90": 0.5, "examples": 1}
    assert norms.since_last() is None
    assert norms.overall()["examples"] == 4 and norms.overall()["clipped_fraction"] == 0.5
    norms.mark_step(2)
    assert norms.overall()["steps"] == [1, 2]
    assert "67% of 3 examples clipped" in describe(first, 1.5)
    assert "the clip cut nothing" not in describe(first, 1.5)
    unclipped = {"clipped_fraction": 0.0, "median": 0.5, "p90": 0.5, "examples": 1}
    assert "the clip cut nothing" in describe(unclipped, 10.0)
    assert "the clip cut nothing" not in describe(unclipped, 10.0, adaptive=True)


def _lora_one_layer(minilm_path: Path) -> torch.nn.Module:
    from peft import LoraConfig, get_peft_model

    model = _one_layer_classifier(minilm_path, num_labels=3)
    model = get_peft_model(model, LoraConfig(task_type="SEQ_CLS", r=4, lora_dropout=0.0))
    for name, parameter in model.named_parameters():  # B starts at zero: no gradient to A
        if "lora_B" in name:
            torch.nn.init.normal_(parameter, std=0.02)
    return model


def _group_norms(sums: dict[str, torch.Tensor]) -> tuple[float, float]:
    from tuneforge.modeling import is_task_head_parameter

    head = [g.double().flatten() for n, g in sums.items() if is_task_head_parameter(n)]
    rest = [g.double().flatten() for n, g in sums.items() if not is_task_head_parameter(n)]
    return float(torch.cat(head).norm()), float(torch.cat(rest).norm())


def test_group_wise_clipping_gives_the_head_and_the_rest_their_own_clip(
    minilm_path: Path,
) -> None:
    """One example per logical batch: its head gradient is cut to fraction x clip and the rest
    to sqrt(1 - fraction^2) x clip, where one clip leaves the adapter a sliver."""
    import copy

    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    model = _lora_one_layer(minilm_path)
    batch = dict(tokenizer(["bad, slow and far too long"], return_tensors="pt"))
    batch["labels"] = torch.tensor([0])
    clip, fraction = 0.001, 0.3

    unclipped = _group_norms(
        _summed_clipped_gradients(copy.deepcopy(model), batch, "per_example", 1e6)
    )
    one_clip = _group_norms(
        _summed_clipped_gradients(copy.deepcopy(model), batch, "per_example", clip)
    )
    grouped = _group_norms(
        _summed_clipped_gradients(copy.deepcopy(model), batch, "per_example", clip, fraction)
    )
    assert unclipped[0] > 10 * unclipped[1]  # the fresh head dominates the gradient
    assert unclipped[0] > clip and unclipped[1] > clip  # both groups' clips bind
    assert one_clip[1] < 0.1 * clip  # one clip: the adapter's share is a sliver
    # rel 1e-3: the factor is clip / (norm + 1e-6), Opacus's guard, and this norm is 0.0017
    assert grouped[0] == pytest.approx(fraction * clip, rel=1e-3)
    assert grouped[1] == pytest.approx(math.sqrt(1 - fraction**2) * clip, rel=1e-3)
    assert math.hypot(*grouped) <= clip * (1 + 1e-5)  # the sensitivity the noise covers


def test_group_wise_clipping_that_does_not_bind_sums_the_plain_gradients(
    minilm_path: Path,
) -> None:
    import copy

    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    model = _lora_one_layer(minilm_path)
    texts = ["a good film", "bad, slow and far too long", "fine", "dull", "a warm, funny story"]
    batch = dict(tokenizer(texts, padding=True, return_tensors="pt"))
    batch["labels"] = torch.tensor([1, 0, 2, 0, 1])
    plain = _summed_clipped_gradients(copy.deepcopy(model), batch, "per_example", 1e6)
    grouped = _summed_clipped_gradients(copy.deepcopy(model), batch, "per_example", 1e6, 0.3)
    assert plain.keys() == grouped.keys()
    for name, expected in plain.items():
        torch.testing.assert_close(grouped[name], expected, rtol=1e-5, atol=1e-7, msg=name)


def test_group_wise_clipping_reports_itself_and_needs_a_head() -> None:
    training = TrainingConfig(batch_size=8)
    plan = plan_privacy(PrivacyConfig(target_epsilon=8.0, head_clip_fraction=0.6), training, 500)
    assert plan.group_clips == pytest.approx((0.6, 0.8))
    assert plan.report(0)["head_clip_fraction"] == 0.6
    assert plan_privacy(PrivacyConfig(target_epsilon=8.0), training, 500).group_clips is None
    headless = torch.nn.Sequential(torch.nn.Linear(2, 2))
    private = PrivateTraining(plan, seed=0, announce=False)
    with pytest.raises(ConfigError, match="needs a trainable task head"):
        private.optimizer_factory(lambda m, c: torch.optim.SGD(m.parameters(), lr=0.1))(
            headless, training
        )


def test_clipping_auto_is_ghost_for_full_fine_tuning_only() -> None:
    assert PrivacyConfig().clipping_for("full") == "ghost"
    assert PrivacyConfig().clipping_for("lora") == "per_example"
    assert PrivacyConfig(clipping="per_example").clipping_for("full") == "per_example"
    assert PrivacyConfig(clipping="ghost").clipping_for("bottleneck") == "ghost"


def test_private_full_run_clips_by_ghost_clipping_unasked_and_says_so(tmp_path: Path) -> None:
    from _configs import tiny_config

    from tuneforge.pipeline import build_model, fine_tune, prepare_data

    raw = tiny_config(
        tmp_path,
        adaptation={"method": "full", "freeze_word_embeddings": True},
        training={"learning_rate": 1e-3, "epochs": 1, "batch_size": 8},
        privacy={"target_epsilon": 8, "batch_size": 20},  # clipping: auto
    )
    config = config_from_dict(raw, config_dir=str(tmp_path))
    data = prepare_data(config)
    model = build_model(config, data)
    before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    result = fine_tune(model, data.task, data, config, show_progress=False)

    after = dict(result.model.named_parameters())
    assert any(not torch.equal(after[name].detach(), value) for name, value in before.items())
    assert result.privacy is not None and result.privacy["clipping"] == "ghost"
    assert result.dp_gradient_norms is not None and result.dp_gradient_norms["examples"] > 0
    assert result.privacy["steps"] == math.ceil(len(data.splits.train) / 20)
    leftovers = ("grad_sample", "_norm_sample", "summed_grad")
    assert all(not hasattr(p, name) for p in result.model.parameters() for name in leftovers)


def test_adaptive_clipping_spends_the_same_epsilon_with_a_little_more_gradient_noise() -> None:
    training = TrainingConfig(epochs=3, batch_size=16)
    fixed = plan_privacy(PrivacyConfig(target_epsilon=3.0, batch_size=64), training, 2_000)
    adaptive = plan_privacy(
        PrivacyConfig(target_epsilon=3.0, batch_size=64, clip_quantile=0.5), training, 2_000
    )
    # The count of unclipped examples is noised with std 64 / 20; together with the gradient
    # it is one Gaussian mechanism of the planned multiplier (Andrew et al., Theorem 1).
    assert adaptive.noise_multiplier == fixed.noise_multiplier
    assert adaptive.epsilon(100) == fixed.epsilon(100)
    assert adaptive.count_noise == 3.2 and fixed.count_noise is None
    z, z_grad = adaptive.noise_multiplier, adaptive.gradient_noise_multiplier
    assert z_grad > z and z_grad**-2 + (2 * 3.2) ** -2 == pytest.approx(z**-2)
    assert fixed.gradient_noise_multiplier == z
    report = adaptive.report(10, final_clip=0.25)
    assert report["clip_quantile"] == 0.5 and report["final_clip"] == 0.25
    assert "clip_quantile" not in fixed.report(10)
    # A count noise that cannot cover half the multiplier leaves the gradient no budget.
    with pytest.raises(ConfigError, match=r"expected batch above \d+ .* it is 8"):
        plan_privacy(
            PrivacyConfig(noise_multiplier=1.0, batch_size=8, clip_quantile=0.5), training, 2_000
        )


@pytest.mark.parametrize(
    ("adaptation", "start", "low", "high"),
    [("lora", 100.0, 25.0, 70.0), ("lora", 1e-4, 2e-4, 2.7e-4), ("full", 100.0, 25.0, 70.0)],
)
def test_adaptive_clip_moves_toward_the_quantile(
    tmp_path: Path, adaptation: str, start: float, low: float, high: float
) -> None:
    """8 steps of the paper's update from a clip above every norm (the unclipped share is
    about 1: the clip shrinks by about exp(-0.1) a step) and below every norm (the share is
    about 0: it grows by about exp(0.1) a step), by per-example clipping (LoRA) and ghost
    clipping (full fine-tuning); the bounds allow the Poisson batch sizes and the count
    noise."""
    from _configs import tiny_config

    from tuneforge.pipeline import build_model, fine_tune, prepare_data

    raw = tiny_config(
        tmp_path,
        adaptation={"method": adaptation},
        training={"learning_rate": 1e-3, "epochs": 2},
        privacy={
            "noise_multiplier": 1.0,
            "batch_size": 20,
            "max_grad_norm": start,
            "clip_quantile": 0.5,
        },
    )
    config = config_from_dict(raw, config_dir=str(tmp_path))
    data = prepare_data(config)
    result = fine_tune(build_model(config, data), data.task, data, config, show_progress=False)
    privacy = result.privacy
    assert result.state.global_step == 8
    assert privacy["clipping"] == ("ghost" if adaptation == "full" else "per_example")
    assert privacy["max_grad_norm"] == start and low < privacy["final_clip"] < high
