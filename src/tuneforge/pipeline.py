"""The flow from raw data to a saved run, as stages a caller can compose:

    prepare_data -> build_model -> fine_tune -> evaluate_model -> save_run

`fine_tune` works in memory (no run folder, no test split): a hyper-parameter search or a
federated round calls it many times in one process. `run` strings the stages together for the
CLI and `tuneforge.train`, top to bottom.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from tuneforge._atomic import write_json_atomic
from tuneforge._distributed import is_main_process, world_size
from tuneforge.config import RunConfig, save_config
from tuneforge.console import console
from tuneforge.errors import ConfigError
from tuneforge.run import layout

if TYPE_CHECKING:
    from tuneforge.data import Splits
    from tuneforge.tasks import Task
    from tuneforge.tasks._weighting import ClassWeighting
    from tuneforge.training import TrainingHooks, TrainState
    from tuneforge.training.optim import OptimizerFactory
    from tuneforge.training.sampling import BatchSampler
    from tuneforge.training.steps import TrainingStep

SPLITS = ("train", "validation", "test")


@dataclass
class PreparedData:
    """The data stage's output: cleaned splits, their features and what the head is sized for."""

    splits: Splits
    task: Task
    tokenizer: Any
    model_source: str
    """The resolved model location (a local folder or hub id)."""
    names: list[str]
    """Label names in output order."""
    metadata: dict[str, Any]
    """Task metadata fitted on the training split (e.g. regression target scaling)."""
    features: dict[str, list[dict[str, Any]]]
    """Encoded features per split ("train", "validation", "test")."""
    report: dict[str, Any] = field(default_factory=dict)
    """The data report (sizes, lengths, labels, quarantine)."""

    @property
    def pad_token_id(self) -> int:
        return self.tokenizer.pad_token_id or 0

    def records(self, split: str) -> list[Any]:
        return getattr(self.splits, split)


@dataclass
class FitResult:
    """What `fine_tune` leaves: the model (best weights, eval mode) and how it got there."""

    model: torch.nn.Module
    state: TrainState
    validation: dict[str, Any] | None
    """Validation metrics of the best weights with the tuned metadata; None without a split."""
    metadata: dict[str, Any]
    """Task metadata after tuning on validation (multilabel thresholds)."""
    precision: str
    class_weighting: ClassWeighting | None
    privacy: dict[str, Any] | None = None
    """What DP-SGD spent (epsilon, delta, noise, steps; PrivacyPlan.report); None: not private."""
    dp_gradient_norms: dict[str, Any] | None = None
    """What per-example clipping did over the run (share clipped, median and 90th-percentile
    norm); statistics of the private rows themselves, so outside the DP guarantee: kept in the
    run's metrics for whoever trains, never in the model card. None: not private."""


@dataclass
class RunResult:
    run_dir: Path
    metrics: dict[str, Any]
    """Test metrics (validation metrics when there is no test split)."""
    trainable_parameters: int
    total_parameters: int


def prepare_data(config: RunConfig) -> PreparedData:
    """Load, clean (quarantine), split, report and encode."""
    from tuneforge.data import build_data_report, prepare_dataset
    from tuneforge.modeling import load_tokenizer, resolve_model_source
    from tuneforge.tasks import get_task
    from tuneforge.tasks._windows import covered_length, encode_for_model

    task = get_task(config.task.type)
    long_text = config.model.long_text_settings
    if long_text and not task.sequence_level:
        raise ConfigError(
            f"model.long_text: chunks reads a text in windows and pools one prediction per "
            f"text; the {task.name} task predicts per token. Use model.long_text: truncate "
            "(or a larger model.max_seq_length)."
        )
    splits = prepare_dataset(config)
    source = resolve_model_source(config.model.name)
    tokenizer = load_tokenizer(source, config.model.revision)
    report = build_data_report(
        splits,
        tokenizer,
        config.model.max_seq_length,
        config.task.type,
        covered_tokens=(
            covered_length(tokenizer, config.model.max_seq_length, long_text) if long_text else None
        ),
    )
    # Names from every split: the splits are stratified on coarse keys (NER: has any entity;
    # multilabel: the rarest label), so a rare entity type or label can land in validation or test
    # only, and encoding it needs an output id. That output is never trained: its recall is 0.
    names = task.label_names([*splits.train, *splits.validation, *splits.test], config.data.labels)
    metadata = task.fit_metadata(splits.train, names)
    features = {
        split: encode_for_model(
            task,
            getattr(splits, split),
            tokenizer,
            names,
            config.model.max_seq_length,
            metadata,
            long_text,
        )
        for split in SPLITS
    }
    return PreparedData(splits, task, tokenizer, source, names, metadata, features, report)


def build_model(config: RunConfig, data: PreparedData) -> torch.nn.Module:
    """The pretrained encoder with a new task head (seeded), wrapped by the adaptation method."""
    from transformers import set_seed

    from tuneforge.adapt import apply_adaptation
    from tuneforge.modeling import load_task_model
    from tuneforge.training import count_steps

    set_seed(config.training.seed)
    model = load_task_model(
        data.task,
        data.model_source,
        data.names,
        data.metadata,
        revision=config.model.revision,
        num_hidden_layers=config.model.num_hidden_layers,
    )
    _, total_steps = count_steps(len(data.features["train"]), config.training)
    return apply_adaptation(
        model, config.adaptation, data.task.peft_task_type, total_steps=total_steps
    )


def fine_tune(
    model: torch.nn.Module,
    task: Task,
    data: PreparedData,
    config: RunConfig,
    *,
    hooks: TrainingHooks | None = None,
    checkpoint_dir: Path | None = None,
    resume: bool = False,
    show_progress: bool = True,
    precision: str | None = None,
    sampler: BatchSampler | None = None,
    training_step: TrainingStep | None = None,
    optimizer_factory: OptimizerFactory | None = None,
) -> FitResult:
    """Train `model` on the training split, picking the best weights on validation.

    Nothing is written unless `checkpoint_dir` is given (then `last/` for resuming and `best/`);
    the test split is not touched. The class-weighting loss term (training.class_weighting)
    runs first, before any term in `hooks`, so a distillation term sees the weighted loss.

    Args:
        precision: "fp32" or "bf16" to override training.precision (a compressed run keeps its
            source run's).
        sampler, training_step, optimizer_factory: replace the loop's defaults (the sampler
            training.sampler names, one forward/backward per micro-batch, AdamW), e.g. Poisson
            sampling, a clipped and noised private step and its optimizer.
    """
    from transformers import set_seed

    from tuneforge.adapt import after_optimizer_step_hook
    from tuneforge.evaluate import higher_is_better, scalar_metrics
    from tuneforge.inference import default_device, resolve_precision
    from tuneforge.training import FitSetup, TrainingHooks, fit
    from tuneforge.training.optim import adamw
    from tuneforge.training.steps import forward_backward

    training = config.training
    device = default_device()
    precision = resolve_precision(precision or training.precision, device)
    metric_for_best = training.metric_for_best or task.default_metric
    train_features = data.features["train"]
    validation_records = data.records("validation")

    def validation_scores(model: torch.nn.Module, metadata: dict[str, Any]) -> Any:
        return evaluate_model(model, task, data, "validation", config, precision, metadata)

    def evaluate_validation(model: torch.nn.Module) -> dict[str, float]:
        metrics = scalar_metrics(validation_scores(model, data.metadata).metrics)
        if metric_for_best not in metrics:
            raise ConfigError(
                f"training.metric_for_best {metric_for_best!r} is not a metric of the "
                f"{task.name} task; choose one of: {', '.join(sorted(metrics))}."
            )
        return metrics

    weighting, weighted_loss = task.class_weighting(
        train_features, data.names, training.class_weighting
    )
    loop_hooks = TrainingHooks(loss_terms=[weighted_loss] if weighted_loss else [])
    loop_hooks.extend(hooks or TrainingHooks())
    adalora_step = after_optimizer_step_hook(model)
    if adalora_step is not None:
        loop_hooks.after_optimizer_step.append(
            lambda context: adalora_step(context.state.global_step)
        )

    private = _private_training(config, len(train_features), announce=show_progress)
    if private is not None:
        per_example = task.per_example_loss_term()
        if per_example is not None:  # replaces the model's loss before any other term
            loop_hooks.loss_terms.insert(0, per_example)
        loop_hooks.extend(private.hooks())
        training = private.training_config(training)
        sampler = private.sampler
        training_step = private.step
        optimizer_factory = private.optimizer_factory(optimizer_factory or adamw)

    set_seed(training.seed)
    try:
        state = fit(
            model,
            train_features,
            FitSetup(
                config=training,
                pad_token_id=data.pad_token_id,
                checkpoint_dir=checkpoint_dir,
                precision=precision,
                device=device,
                evaluate=evaluate_validation if validation_records else None,
                metric_for_best=metric_for_best,
                higher_is_better=higher_is_better(metric_for_best),
                hooks=loop_hooks,
                resume=resume,
                show_progress=show_progress,
                sampler=sampler or _sampler(task, train_features, config),
                training_step=training_step or forward_backward,
                optimizer_factory=optimizer_factory or adamw,
            ),
        )
    finally:
        if private is not None:
            private.detach()
    model.eval()
    metadata, validation = data.metadata, None
    if validation_records:
        # Multilabel thresholds are tuned on the best weights' validation logits, then the
        # validation metrics are those of the tuned thresholds (the same logits, rescored).
        scored = validation_scores(model, metadata)
        metadata = task.tune_metadata(
            scored.logits, validation_records, data.names, metadata, config
        )
        validation = _rescored(scored, task, data, metadata, config)
    privacy, norms = None, None
    if private is not None:
        privacy = private.report(state.global_step)
        norms = private.gradient_norms.overall()
    return FitResult(model, state, validation, metadata, precision, weighting, privacy, norms)


def _private_training(config: RunConfig, training_rows: int, announce: bool) -> Any:
    """DP-SGD's sampler, step, optimizer and hooks when the privacy section is on; else None.
    With `announce`, the main process prints the plan and the epsilon spent per evaluation."""
    from tuneforge.training.private import PrivateTraining, plan_privacy

    if not config.privacy.enabled:
        return None
    if world_size() > 1:
        raise ConfigError(
            "privacy: DP-SGD runs in one process here (per-example clipping across data-parallel "
            "ranks is not supported); drop --nproc / --ray-address."
        )
    private = PrivateTraining(
        plan_privacy(config.privacy, config.training, training_rows, config.adaptation.method),
        config.training.seed,
        announce=announce and is_main_process(),
    )
    private.announce_plan()
    return private


def evaluate_model(
    model: torch.nn.Module,
    task: Task,
    data: PreparedData,
    split: str,
    config: RunConfig,
    precision: str,
    metadata: dict[str, Any] | None = None,
) -> Any:
    """Metrics (and logits) of `model` on one prepared split: `evaluate.scoring.evaluate_model`
    with this run's names, metadata and padding."""
    from tuneforge.evaluate.scoring import evaluate_model as score_model

    return score_model(
        model,
        task,
        data.records(split),
        data.features[split],
        names=data.names,
        metadata=data.metadata if metadata is None else metadata,
        config=config,
        precision=precision,
        pad_token_id=data.pad_token_id,
    )


def check_quality(
    data: PreparedData, split: str, metrics: dict[str, Any], config: RunConfig
) -> tuple[dict[str, dict[str, Any]] | None, list[Any]]:
    """The baselines on `split` (fitted on train) and the warnings against them; (None, []) for
    tasks without baselines."""
    from tuneforge.data.report import truncation_advice
    from tuneforge.evaluate import higher_is_better
    from tuneforge.evaluate.guardrails import check_quality as warnings_for
    from tuneforge.evaluate.guardrails import predicted_class_counts

    task = data.task
    baselines = task.score_baselines(data.records("train"), data.records(split), data.names, config)
    if baselines is None:
        return None, []
    metric = config.training.metric_for_best or task.default_metric
    counts = (
        predicted_class_counts(metrics["confusion_matrix"])
        if "confusion_matrix" in metrics
        else (None, None)
    )
    warnings = warnings_for(
        metrics,
        baselines,
        metric=metric,
        higher_is_better=higher_is_better(metric),
        predicted_class_counts=counts[0],
        true_class_counts=counts[1],
        truncation_advice=truncation_advice(data.report, split),
    )
    return baselines, warnings


def save_data_outputs(run_dir: Path, data: PreparedData) -> None:
    """What the data stage leaves in the run folder: quarantine, data report, held-out splits."""
    from tuneforge.data import render_data_report, write_quarantine

    write_quarantine(data.splits.quarantined, run_dir / layout.QUARANTINE_FILE)
    write_json_atomic(data.report, run_dir / layout.DATA_REPORT_FILE)
    console.print(render_data_report(data.report))
    save_anonymization_report(run_dir, data.splits)
    for split in ("validation", "test"):
        layout.write_records(run_dir / layout.SPLITS_DIR / f"{split}.jsonl", data.records(split))


def save_anonymization_report(folder: Path, splits: Splits) -> None:
    """Write and show what data.anonymization found (nothing when it is off)."""
    from tuneforge.data import render_anonymization_report

    if splits.anonymization is not None:
        write_json_atomic(splits.anonymization, folder / layout.ANONYMIZATION_REPORT_FILE)
        console.print(render_anonymization_report(splits.anonymization))


def save_run(
    run_dir: Path,
    config: RunConfig,
    data: PreparedData,
    result: FitResult,
    results: dict[str, dict[str, Any]],
    *,
    parameters: tuple[int, int],
    quality: dict[str, Any] | None = None,
) -> None:
    """The model, its reports and plots; metrics.json last marks the run finished."""
    from tuneforge.run.outputs import save_run_outputs

    save_run_outputs(
        run_dir,
        config,
        result.model,
        data.tokenizer,
        task_type=config.task.type,
        names=data.names,
        metadata=result.metadata,
        precision=result.precision,
        state=result.state,
        results=results,
        parameters=parameters,
        report=data.report,
        quality=quality or {},
    )


def run(
    config: RunConfig,
    *,
    default_run_name: str = "run",
    resume: bool = False,
    overwrite: bool = False,
    show_progress: bool = True,
) -> RunResult:
    """Prepare data, fine-tune, evaluate and save; returns the run folder and its test metrics."""
    from tuneforge._distributed import barrier
    from tuneforge._process import run_settings
    from tuneforge.tracking import open_tracker
    from tuneforge.tracking.base import tracked

    run_dir = config.run_dir(default_run_name)
    # Under torchrun only rank 0 writes; a refusal there (a finished run in the way) ends the
    # launch, and torchrun stops the other ranks.
    if is_main_process():
        layout.prepare_run_dir(run_dir, config, resume=resume, overwrite=overwrite)
        save_config(config, run_dir / layout.CONFIG_FILE)
    barrier()
    with run_settings(config.training.num_threads):
        tracker = open_tracker(
            config, run_dir, run_name=run_dir.name, is_main_process=is_main_process()
        )
        with tracked(tracker):
            return _run_stages(config, run_dir, tracker, resume, show_progress)


def _run_stages(
    config: RunConfig, run_dir: Path, tracker: Any, resume: bool, show_progress: bool
) -> RunResult:
    from tuneforge.adapt import count_parameters
    from tuneforge.evaluate import scalar_metrics
    from tuneforge.inference import default_device, resolve_precision
    from tuneforge.modeling import head_start
    from tuneforge.tracking.base import HistoryLogger, run_artifacts
    from tuneforge.training import TrainingHooks
    from tuneforge.training.adversarial import adversarial_step

    main = is_main_process()
    data = prepare_data(config)
    if main:
        save_data_outputs(run_dir, data)

    model = build_model(config, data)
    trainable, total = count_parameters(model)
    device = default_device()
    if main:
        console.print(
            f"[bold]{config.adaptation.method}[/]: {trainable:,} trainable of {total:,} "
            f"parameters ({100 * trainable / total:.2f}%) · precision "
            f"{resolve_precision(config.training.precision, device)} · device {device.type}"
            + (f" · {world_size()} processes" if world_size() > 1 else "")
        )
        start = head_start(
            data.task, data.model_source, data.names, data.metadata, config.model.revision
        )
        if start.kind != "new":  # a warm start: say whether its head was kept
            console.print(start.describe())
    history = HistoryLogger(tracker)
    tracking = config.tracking.backend != "none"
    result = fine_tune(
        model,
        data.task,
        data,
        config,
        hooks=TrainingHooks(after_optimizer_step=[history], on_evaluate=[history])
        if tracking
        else None,
        checkpoint_dir=run_dir / layout.CHECKPOINTS_DIR,
        resume=resume,
        show_progress=show_progress,
        training_step=adversarial_step(config.robustness.adversarial),
    )
    history.flush(result.state.history)

    results = {"validation": result.validation} if result.validation else {}
    if data.records("test"):
        test = evaluate_model(
            result.model, data.task, data, "test", config, result.precision, result.metadata
        )
        results["test"] = test.metrics
    headline = "test" if "test" in results else "validation"
    quality: dict[str, Any] = {"split": headline, "baselines": None, "warnings": []}
    if headline in results:
        baselines, warnings = check_quality(data, headline, results[headline], config)
        quality.update(baselines=baselines, warnings=warnings)
    if result.class_weighting is not None:
        quality["class_weighting"] = result.class_weighting.to_json()
    if result.privacy is not None:
        quality["privacy"] = result.privacy
    if result.dp_gradient_norms is not None:
        quality["dp_gradient_norms"] = result.dp_gradient_norms

    if main:
        save_run(
            run_dir,
            config,
            data,
            result,
            results,
            parameters=(trainable, total),
            quality=quality,
        )
    for split, metrics in results.items():
        tracker.log_metrics(
            {f"{split}_{name}": value for name, value in scalar_metrics(metrics).items()},
            result.state.global_step,
        )
    tracker.log_artifacts(run_artifacts(run_dir))
    if config.tracking.log_model:
        tracker.log_model(run_dir)
    return RunResult(run_dir, results.get(headline, {}), trainable, total)


def _sampler(task: Task, features: list[dict[str, Any]], config: RunConfig) -> Any:
    """The batch sampler training.sampler names; None: the loop's default (shuffled)."""
    from tuneforge.training.sampling import ClassBalancedBatches

    if config.training.sampler == "shuffled":
        return None
    keys = task.balanced_sampling_keys(features)
    if keys is None:
        raise ConfigError(
            f"training.sampler: class_balanced needs one class per example; the {task.name} "
            "task has none. Use training.sampler: shuffled (and training.class_weighting)."
        )
    return ClassBalancedBatches(keys, config.training.batch_size, config.training.seed)


def _rescored(
    scored: Any, task: Task, data: PreparedData, metadata: dict[str, Any], config: RunConfig
) -> dict[str, Any]:
    from tuneforge.evaluate.scoring import score_logits

    loss = scored.metrics.get("loss")
    return score_logits(
        task,
        scored.logits,
        data.records("validation"),
        scored.features,
        names=data.names,
        metadata=metadata,
        config=config,
        loss=loss,
    )
