"""Soft-target terms of knowledge distillation (Hinton et al. 2015), shared by the task heads."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def softmax_kl(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float
) -> torch.Tensor:
    """T^2 * KL(softmax(t/T) || softmax(s/T)), summed over classes, mean over rows; zero when the
    student's logits equal the teacher's. The T^2 keeps the gradient scale independent of T."""
    return temperature**2 * F.kl_div(
        F.log_softmax(student_logits.float() / temperature, dim=-1),
        F.log_softmax(teacher_logits.float() / temperature, dim=-1),
        reduction="batchmean",
        log_target=True,
    )


def bernoulli_kl(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float
) -> torch.Tensor:
    """T^2 * KL of each label's Bernoulli(sigmoid(t/T)) from Bernoulli(sigmoid(s/T)), mean over
    rows and labels: cross-entropy against the teacher's probabilities minus their entropy (same
    gradient as the cross-entropy, zero at a perfect student)."""
    student, teacher = student_logits.float() / temperature, teacher_logits.float() / temperature
    targets = torch.sigmoid(teacher)
    cross = F.binary_cross_entropy_with_logits(student, targets)
    entropy = F.binary_cross_entropy_with_logits(teacher, targets)
    return temperature**2 * (cross - entropy)
