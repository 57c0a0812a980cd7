"""run(config): the whole flow from raw data to an evaluated, saved model, top to bottom."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from tuneforge._atomic import write_json_atomic
from tuneforge.config import RunConfig, save_config
from tuneforge.console import console
from tuneforge.errors import ConfigError
from tuneforge.run import layout

# The fast tokenizer's own thread pool would warn (and can deadlock) once a process forks.
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@dataclass
class RunResult:
    run_dir: Path
    metrics: dict[str, Any]
    """Test metrics (validation metrics when there is no test split)."""
    trainable_parameters: int
    total_parameters: int


def run(
    config: RunConfig,
    *,
    default_run_name: str = "run",
    resume: bool = False,
    overwrite: bool = False,
    show_progress: bool = True,
) -> RunResult:
    """Prepare data, fine-tune, evaluate and save; returns the run folder and its test metrics."""
    from transformers import set_seed

    from tuneforge.adapt import after_optimizer_step_hook, apply_adaptation, count_parameters
    from tuneforge.data import (
        build_data_report,
        prepare_dataset,
        render_data_report,
        write_quarantine,
    )
    from tuneforge.evaluate import higher_is_better, scalar_metrics
    from tuneforge.inference import forward_logits, resolve_precision
    from tuneforge.modeling import load_tokenizer, resolve_model_source
    from tuneforge.tasks import get_task
    from tuneforge.train import FitSetup, TrainingHooks, count_steps, fit

    run_dir = config.run_dir(default_run_name)
    layout.prepare_run_dir(run_dir, config, resume=resume, overwrite=overwrite)
    save_config(config, run_dir / layout.CONFIG_FILE)
    set_threads(config.training.num_threads)
    set_seed(config.training.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    precision = resolve_precision(config.training.precision, device)

    # 1. Data: load, clean (quarantine), split, report.
    splits = prepare_dataset(config)
    write_quarantine(splits.quarantined, run_dir / layout.QUARANTINE_FILE)
    source = resolve_model_source(config.model.name)
    tokenizer = load_tokenizer(source, config.model.revision)
    report = build_data_report(splits, tokenizer, config.model.max_seq_length, config.task.type)
    write_json_atomic(report, run_dir / layout.DATA_REPORT_FILE)
    console.print(render_data_report(report))
    layout.write_records(run_dir / layout.SPLITS_DIR / "validation.jsonl", splits.validation)
    layout.write_records(run_dir / layout.SPLITS_DIR / "test.jsonl", splits.test)

    # 2. Model: task head on the pretrained encoder, then the adaptation method.
    task = get_task(config.task.type)
    # Names from every split: the splits are stratified on coarse keys (NER: has any entity;
    # multilabel: the rarest label), so a rare entity type or label can land in validation or test
    # only, and encoding it needs an output id. That output is never trained: its recall is 0.
    names = task.label_names([*splits.train, *splits.validation, *splits.test], config.data.labels)
    metadata = task.fit_metadata(splits.train, names)
    model = build_task_model(config, source, task, names, metadata)
    _, total_steps = count_steps(len(splits.train), config.training)
    model = apply_adaptation(model, config.adaptation, task.peft_task_type, total_steps=total_steps)
    trainable, total = count_parameters(model)
    console.print(
        f"[bold]{config.adaptation.method}[/]: {trainable:,} trainable of {total:,} parameters "
        f"({100 * trainable / total:.2f}%) · precision {precision} · device {device.type}"
    )
    model.to(device)

    # 3. Features: tokenised once, padded per batch.
    max_length = config.model.max_seq_length
    encode = lambda records: task.encode(records, tokenizer, names, max_length, metadata)  # noqa: E731
    train_features, validation_features = encode(splits.train), encode(splits.validation)
    test_features = encode(splits.test)
    pad_token_id = tokenizer.pad_token_id or 0

    def logits_and_loss(model: torch.nn.Module, features: list) -> tuple[Any, float]:
        rows, loss = forward_logits(
            model, features, config.evaluation.batch_size, pad_token_id, device, precision
        )
        return task.stack_logits(rows), loss

    def score(
        model: torch.nn.Module, records: list, features: list, output: tuple | None = None
    ) -> dict[str, Any]:
        # `metadata` is read at call time: the final scores use the thresholds tuned below.
        logits, loss = output or logits_and_loss(model, features)
        metrics = task.compute_metrics(logits, records, features, names, metadata, config)
        return {"loss": loss, **metrics}

    metric_for_best = config.training.metric_for_best or task.default_metric

    def evaluate_validation(model: torch.nn.Module) -> dict[str, float]:
        metrics = scalar_metrics(score(model, splits.validation, validation_features))
        if metric_for_best not in metrics:
            raise ConfigError(
                f"training.metric_for_best {metric_for_best!r} is not a metric of the "
                f"{config.task.type} task; choose one of: {', '.join(sorted(metrics))}."
            )
        return metrics

    hooks = TrainingHooks()
    adalora_step = after_optimizer_step_hook(model)
    if adalora_step is not None:
        hooks.after_optimizer_step.append(lambda context: adalora_step(context.state.global_step))

    # 4. Training.
    state = fit(
        model,
        train_features,
        FitSetup(
            config=config.training,
            pad_token_id=pad_token_id,
            checkpoint_dir=run_dir / layout.CHECKPOINTS_DIR,
            precision=precision,
            device=device,
            evaluate=evaluate_validation if splits.validation else None,
            metric_for_best=metric_for_best,
            higher_is_better=higher_is_better(metric_for_best),
            hooks=hooks,
            resume=resume,
            show_progress=show_progress,
        ),
    )
    model.eval()

    # 5. Final evaluation with the best weights; multilabel thresholds tuned on validation.
    validation_output = logits_and_loss(model, validation_features) if splits.validation else None
    validation_logits = validation_output[0] if validation_output else None
    metadata = task.tune_metadata(validation_logits, splits.validation, names, metadata, config)
    results = {}
    if splits.validation:
        results["validation"] = score(
            model, splits.validation, validation_features, validation_output
        )
    if splits.test:
        results["test"] = score(model, splits.test, test_features)

    # 6. Save: the model, then the reports; metrics.json last marks the run finished.
    from tuneforge.run.outputs import save_run_outputs

    headline = results.get("test") or results.get("validation") or {}
    save_run_outputs(
        run_dir,
        config,
        model,
        tokenizer,
        task_type=config.task.type,
        names=names,
        metadata=metadata,
        precision=precision,
        state=state,
        results=results,
        parameters=(trainable, total),
        report=report,
    )
    return RunResult(run_dir, headline, trainable, total)


def build_task_model(
    config: RunConfig, source: str, task: Any, names: list[str], metadata: dict[str, Any]
) -> torch.nn.Module:
    """The pretrained encoder with a new task head (initialised from the training seed)."""
    import transformers

    from tuneforge.modeling import load_pretrained

    overrides = task.head_config(names, metadata)
    if config.model.num_hidden_layers:
        overrides["num_hidden_layers"] = config.model.num_hidden_layers
    auto_class = getattr(transformers, task.auto_class)
    return load_pretrained(auto_class, source, config.model.revision, **overrides)


def set_threads(num_threads: int | None) -> None:
    """Use one thread per physical core: hyper-threads only add contention to GEMM kernels."""
    if num_threads is None:
        import psutil

        num_threads = psutil.cpu_count(logical=False) or os.cpu_count() or 1
    torch.set_num_threads(num_threads)
