"""distill: knowledge distillation of the fine-tuned run into a smaller student.

The teacher is the source run's model (frozen, eval mode). The student is, by default, the
teacher with only `student_layers` of its encoder layers, evenly spread (0, 2, 4 of 6: the
every-other-layer initialisation of DistilBERT, Sanh et al. 2019), with embeddings and task head
copied; or another model given as `student_model`. Sajjad et al. 2023 ("On the effect of dropping
layers of pre-trained transformer models") keep up to 98% of the accuracy with 40% of the layers
dropped; they drop the top layers of a *pre-trained* model, while here the layers come from a
model already fine-tuned for the task, and spreading them keeps a layer of every depth (on BBC
News the 3-of-6 student matched the teacher: macro-F1 0.975 vs 0.971).

The student is trained on the source run's training split through the core loop with a loss
term (composable with any other term, e.g. an adversarial one):

    loss = distill_alpha * Task.soft_label_loss + (1 - distill_alpha) * hard-label loss

where the soft-target term is, per task, the temperature-scaled KL divergence of Hinton et al.
2015 (T^2 keeps its gradients on the scale of the hard loss).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tuneforge.compress.methods import CompressOptions, SourceRun, register_method
from tuneforge.compress.recovery import fine_tune_on_source
from tuneforge.errors import ConfigError
from tuneforge.inference import MODEL_INPUTS
from tuneforge.tasks import Task, get_task

METHOD = "distill"


@register_method(METHOD, trains=True)
def distill(source: SourceRun, model_dir: Path, options: CompressOptions) -> dict[str, Any]:
    """Train a student on the teacher's soft targets and the labels; save it in `model_dir`."""
    from tuneforge.inference import default_device, resolve_precision
    from tuneforge.training import TrainingHooks

    teacher = source.load_model()
    teacher_layers = teacher.config.num_hidden_layers
    if options.student_model:
        student, layer_ids = load_student_model(source, options.student_model), None
    else:
        check_student_layers(options.student_layers, teacher_layers)
        layer_ids = evenly_spread_layers(teacher_layers, options.student_layers)
        student = student_from_teacher(teacher, layer_ids)
    device = default_device()
    teacher.to(device).eval().requires_grad_(False)
    recorder = LossRecorder()
    hooks = TrainingHooks(
        loss_terms=[
            distillation_term(
                teacher,
                get_task(source.task_type),
                options.temperature,
                options.distill_alpha,
                resolve_precision(source.info.precision, device),
                recorder,
            )
        ]
    )
    epochs = options.distill_epochs
    result = fine_tune_on_source(
        student, source, epochs=epochs, learning_rate=options.distill_learning_rate, hooks=hooks
    )
    student.cpu()
    student_layer_count = student.config.num_hidden_layers
    source.save_torch_model(
        student, model_dir, metadata=result.metadata, num_hidden_layers=student_layer_count
    )
    batches_per_epoch = math.ceil(len(source.splits().train) / source.config.training.batch_size)
    return {
        "student": options.student_model or f"{student_layer_count} teacher layers",
        "teacher_layers": teacher_layers,
        "student_layers": student_layer_count,
        "student_layer_ids": layer_ids,
        "teacher_parameters": sum(p.numel() for p in teacher.parameters()),
        "student_parameters": sum(p.numel() for p in student.parameters()),
        "temperature": options.temperature,
        "distill_alpha": options.distill_alpha,
        "epochs": epochs,
        "steps": result.state.global_step,
        "best_validation": result.state.best_metric,
        "losses_first_epoch": recorder.mean(slice(0, batches_per_epoch)),
        "losses_last_epoch": recorder.mean(slice(-batches_per_epoch, None)),
    }


def check_student_layers(student_layers: int, teacher_layers: int) -> None:
    """Raises ConfigError unless 1 <= student_layers < teacher_layers."""
    if teacher_layers <= 1:
        raise ConfigError(
            f"--method {METHOD}: the teacher has {teacher_layers} layer, so no student_layers "
            "below it exists; distil a deeper run, or give student_model (a smaller model of "
            "another architecture)."
        )
    if not 1 <= student_layers < teacher_layers:
        raise ConfigError(
            f"--method {METHOD}: student_layers must be at least 1 and fewer than the teacher's "
            f"{teacher_layers} layers; got {student_layers}. (Use student_model for a student "
            "of another architecture.)"
        )


def evenly_spread_layers(teacher_layers: int, student_layers: int) -> list[int]:
    """Indices of `student_layers` teacher layers spread evenly from the bottom (6 -> 3: 0, 2, 4)."""
    return [index * teacher_layers // student_layers for index in range(student_layers)]


def student_from_teacher(teacher: nn.Module, layer_ids: list[int]) -> nn.Module:
    """A copy of the teacher keeping only the encoder layers `layer_ids` (embeddings, pooler and
    task head copied as they are); its config says the new layer count."""
    student = copy.deepcopy(teacher)
    encoder = student.base_model.encoder
    encoder.layer = nn.ModuleList([encoder.layer[index] for index in layer_ids])
    for position, layer in enumerate(encoder.layer):
        attention = getattr(getattr(layer, "attention", None), "self", None)
        if hasattr(attention, "layer_idx"):  # the key-value cache slot of the layer
            attention.layer_idx = position
    student.config.num_hidden_layers = len(layer_ids)
    return student


def load_student_model(source: SourceRun, name: str) -> nn.Module:
    """Another pretrained model with the source run's task head, as a student.

    Raises:
        ConfigError: its tokenizer's vocabulary differs from the teacher's (the student must read
            the same token ids, and the soft targets must be for the same inputs).
    """
    from tuneforge.modeling import load_task_model, load_tokenizer, resolve_model_source

    location = resolve_model_source(name)
    if load_tokenizer(location).get_vocab() != source.tokenizer.get_vocab():
        raise ConfigError(
            f"--method {METHOD}: student_model {name!r} uses a different tokenizer vocabulary "
            f"than the teacher {source.info.base_model!r}; a student must read the "
            "same token ids. Choose a model of the same family, or leave student_model unset to "
            "cut the teacher's layers."
        )
    task = get_task(source.task_type)
    return load_task_model(task, location, source.label_names, source.info.metadata).float()


def distillation_loss(soft: torch.Tensor, hard: torch.Tensor, alpha: float) -> torch.Tensor:
    """alpha x soft-target term + (1 - alpha) x hard-label loss."""
    return alpha * soft + (1.0 - alpha) * hard


@dataclass
class LossRecorder:
    """The soft, hard and total loss of every training batch (for the report)."""

    rows: list[torch.Tensor] = field(default_factory=list)
    """One (soft, hard, total) tensor per batch, kept on the device: reading each value at once
    would add a host sync to every training step."""

    def mean(self, part: slice) -> dict[str, float] | None:
        chosen = self.rows[part]
        if not chosen:
            return None
        soft, hard, total = torch.stack(chosen).mean(dim=0).tolist()
        return {"soft": soft, "hard": hard, "total": total}


def distillation_term(
    teacher: nn.Module,
    task: Task,
    temperature: float,
    alpha: float,
    precision: str,
    recorder: LossRecorder | None = None,
) -> Any:
    """A `TrainingHooks.loss_terms` entry: the frozen teacher's logits on the batch, then
    `distillation_loss` of the student's soft-target loss and the hard-label loss so far (the
    model's own loss, or what earlier terms made of it, e.g. class weights)."""
    from tuneforge.inference import autocast

    device = next(teacher.parameters()).device

    def distill_term(
        model: nn.Module, batch: dict[str, torch.Tensor], outputs: Any, hard: torch.Tensor
    ) -> torch.Tensor:
        inputs = {key: value for key, value in batch.items() if key in MODEL_INPUTS}
        with torch.no_grad(), autocast(device, precision):
            teacher_logits = teacher(**inputs).logits
        soft = task.soft_label_loss(
            outputs.logits, teacher_logits, temperature, batch.get("labels")
        )
        loss = distillation_loss(soft, hard, alpha)
        if recorder is not None:
            recorder.rows.append(torch.stack([soft.float(), hard.float(), loss.float()]).detach())
        return loss

    return distill_term
