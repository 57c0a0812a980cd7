"""The robustness and privacy sections: adversarial training and DP-SGD."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from tuneforge.config.base import Section


class AdversarialConfig(Section):
    method: Literal["none", "fgm", "pgd", "freelb"] = "none"
    """Adversarial training on the input word embeddings: fgm (Miyato et al., 2017; 2 passes per
    batch), pgd (Madry et al., 2018; steps + 2 passes), freelb (Zhu et al., 2020; steps
    passes). none: the standard single forward/backward pass."""
    epsilon: float = Field(0.05, gt=0.0)
    """Radius of the perturbation ball (l2: per example over all token embeddings; linf: per
    value). A MiniLM word embedding has an l2 norm of about 1.1; on 2,000 short review sentences
    (docs/benchmarks.md, Robustness) training collapsed to one class at 1.0 and 0.25."""
    steps: int = Field(3, ge=1, le=20)
    """Ascent steps of pgd and freelb (fgm takes one); each costs a forward and backward pass."""
    step_size: float | None = Field(None, gt=0.0)
    """Size of one ascent step; None: epsilon / steps."""
    norm: Literal["l2", "linf"] = "l2"
    """The norm of the perturbation ball."""

    @property
    def passes_per_step(self) -> int:
        """Forward and backward passes per micro-batch, against 1 for standard training."""
        return {"none": 1, "fgm": 2, "pgd": self.steps + 2, "freelb": self.steps}[self.method]


class RobustnessConfig(Section):
    adversarial: AdversarialConfig = Field(default_factory=AdversarialConfig)


class PrivacyConfig(Section):
    """Differentially private fine-tuning (DP-SGD through Opacus): per-example gradients are
    clipped to max_grad_norm, Gaussian noise is added to their sum, and batches are Poisson
    samples, so an accountant can bound what the trained weights reveal about any one training
    row. On when target_epsilon or noise_multiplier is set."""

    target_epsilon: float | None = Field(None, gt=0)
    """The privacy budget the whole training may spend (smaller is more private; 8 and 3 are
    common). With no noise_multiplier, the noise is derived so that the planned steps spend
    exactly this; with one, training stops when the next step would exceed it."""
    target_delta: float | Literal["auto"] = "auto"
    """The probability the epsilon guarantee may fail. auto: 1 / (10 n) for n training rows;
    must be below 1 / n (a larger delta allows leaking a whole row)."""
    noise_multiplier: float | None = Field(None, gt=0)
    """Noise standard deviation as a multiple of max_grad_norm; None: derived from
    target_epsilon."""
    max_grad_norm: float = Field(1.0, gt=0)
    """Each example's gradient is clipped to this l2 norm before the noise is added."""
    batch_size: int | None = Field(None, ge=1)
    """Expected examples per optimizer step (Poisson sampling: each row joins a step with
    probability batch_size / n). DP-SGD learns better from large batches; they are processed
    in pieces of training.batch_size. None: training.batch_size x gradient_accumulation_steps."""
    clipping: Literal["auto", "per_example", "ghost"] = "auto"
    """How each example's gradient is clipped (the same update either way). per_example: Opacus
    materialises every example's gradient (a copy of the trainable weights per row of a piece),
    clips and sums them. ghost: ghost clipping (Li et al. 2022) computes each example's gradient
    norm from the layer inputs and output gradients without materialising the gradient, then a
    second backward pass sums the clipped gradients. auto: ghost for full fine-tuning (measured
    3.1x faster per private epoch and 950 MB less peak memory on all-MiniLM-L6-v2),
    per_example for adapters, whose per-example gradients are small (ghost clipping was no
    faster for LoRA and held 200 MB more)."""
    head_clip_fraction: float | None = Field(None, gt=0, lt=1)
    """Group-wise clipping (He et al. 2022): each example's task-head gradient is clipped to
    head_clip_fraction x max_grad_norm and the rest of its gradient (the adapter, or the
    encoder) to sqrt(1 - head_clip_fraction^2) x max_grad_norm, so the whole stays within
    max_grad_norm, the sensitivity the noise is scaled to. A fresh head's per-example gradient
    is ~16x a LoRA adapter's (measured on all-MiniLM-L6-v2), so under one clip the adapter
    gets a few percent of the clip; 0.3 gives it 95%. Measured: the adapter learned sooner,
    but final accuracy did not rise on RT sentences or BBC News (docs/benchmarks.md). None:
    one clip over all trainable weights. Needs per_example clipping (ghost clipping scales an
    example's whole gradient by one factor)."""
    clip_quantile: float | None = Field(None, gt=0, lt=1)
    """Adaptive clipping (Andrew et al. 2021): after each step the clip moves geometrically
    toward this quantile of the examples' gradient norms, starting from max_grad_norm. The
    share of unclipped examples it steers by is released with noise (std expected batch / 20,
    the paper's choice) that is part of the accounted mechanism: the gradient noise grows a
    little, the epsilon does not. 0.5 (the median) is the paper's default; None: the clip stays
    max_grad_norm. Picking a clip blind is DP-SGD's hardest setting: this finds one."""
    clip_learning_rate: float = Field(0.2, gt=0)
    """Adaptive clipping's step: the clip is multiplied by exp(-rate x (unclipped share -
    clip_quantile)) after each step (0.2 in the paper)."""
    accountant: Literal["prv", "rdp"] = "prv"
    """prv: the privacy-loss-distribution accountant (Gopi et al., 2021), the tightest bound;
    rdp: Renyi DP (Mironov, 2017), looser, as most papers report it."""

    @property
    def enabled(self) -> bool:
        return self.target_epsilon is not None or self.noise_multiplier is not None

    def clipping_for(self, adaptation_method: str) -> str:
        """per_example or ghost: `clipping`, with auto resolved for the adaptation method."""
        if self.clipping != "auto":
            return self.clipping
        return "ghost" if adaptation_method == "full" else "per_example"

    @model_validator(mode="after")
    def _delta_is_a_probability(self) -> PrivacyConfig:
        if isinstance(self.target_delta, float) and not 0 < self.target_delta < 1:
            raise ValueError(f"target_delta {self.target_delta} must be between 0 and 1")
        return self


# Adaptation methods that DP-SGD cannot train: AdaLoRA adds an orthogonality penalty over the
# whole batch to the loss and reallocates ranks from gradients (neither is per example);
# prefix and prompt tuning route their parameters through past key values and virtual-token
# embeddings that Opacus computes no per-example gradients for.
NOT_PRIVATE = {"adalora", "prefix", "prompt"}
