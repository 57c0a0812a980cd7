"""The training, evaluation, output and tracking sections."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from tuneforge.config.base import Section


class TrainingConfig(Section):
    epochs: float = Field(3.0, gt=0)
    """Number of passes over the training split (fractions allowed)."""
    max_steps: int | None = Field(None, ge=1)
    """Stop after this many optimizer steps (overrides epochs)."""
    batch_size: int = Field(32, ge=1)
    """Examples per forward pass."""
    gradient_accumulation_steps: int = Field(1, ge=1)
    """Forward passes per optimizer step; effective batch = batch_size * this."""
    learning_rate: float = Field(5e-5, gt=0)
    head_learning_rate: float | None = Field(None, gt=0)
    """Learning rate of the task head (the freshly initialised classifier on top of the
    encoder); None: learning_rate. A head that starts from random weights often wants a rate
    several times the encoder's, most of all beside an adapter such as LoRA, whose small rate
    keeps the pretrained features intact, and under DP (docs/guide.md says what was measured).
    The schedule scales both rates alike."""
    weight_decay: float = Field(0.01, ge=0)
    """AdamW decoupled weight decay; not applied to biases and LayerNorm weights."""
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    """Share of optimizer steps with linear warmup from 0 to learning_rate."""
    lr_schedule: Literal["linear", "cosine", "constant"] = "linear"
    """Decay after warmup."""
    max_grad_norm: float | None = Field(1.0, gt=0)
    """Clip the global gradient norm to this value; None disables clipping."""
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    """auto: bf16 autocast where the hardware has native bf16 (CUDA, or CPUs with AVX512-BF16/AMX),
    else fp32."""
    group_by_length: bool = True
    """Batch examples of similar length together to cut padding (shuffled at the batch level)."""
    attention_implementation: Literal["auto", "eager", "sdpa"] = "auto"
    """Attention kernel while training (the saved model keeps its own). auto: eager on a CPU when
    the model drops out attention probabilities (torch's fused CPU attention has no dropout
    kernel; eager was 1.17x faster per step on all-MiniLM-L6-v2), else the model's default."""
    dropout_generator: Literal["auto", "numpy", "torch"] = "auto"
    """Where training dropout masks come from. auto: numpy's PCG64DXSM on a CPU (torch draws CPU
    masks one element at a time; the fast masks made an all-MiniLM-L6-v2 step 1.25x faster),
    torch's own elsewhere. Same distribution (p rounded to a multiple of 2^-16), seeded from
    torch's generator, so seeds and resumes stay reproducible."""
    class_weighting: Literal["none", "balanced", "auto"] = "auto"
    """Loss weights against class imbalance. balanced: cross-entropy weights n / (k * n_class)
    (classification), BCE pos_weight = negatives / positives per label, capped (multilabel).
    auto: balanced when the largest class has at least 3x the training examples of the smallest
    (multilabel: a label's negatives 3x its positives), else none. Tasks without classes ignore it."""
    sampler: Literal["shuffled", "class_balanced"] = "shuffled"
    """Which examples each batch holds. shuffled: every example once per epoch in seeded order
    (grouped by length). class_balanced: drawn with replacement so every class is equally
    likely (single-label classification; an alternative to class_weighting, not an addition)."""
    eval_every_steps: int | None = Field(None, ge=1)
    """Evaluate on the validation split every N optimizer steps; None: at the end of each epoch."""
    checkpoint_every_steps: int | None = Field(None, ge=1)
    """Write a resumable checkpoint every N optimizer steps (and at every evaluation)."""
    early_stopping_patience: int | None = Field(None, ge=1)
    """Stop after this many evaluations without improvement of metric_for_best; None: never."""
    metric_for_best: str | None = None
    """Validation metric that picks the best checkpoint; None: the task's default
    (macro_f1, micro_f1, r2 or entity f1)."""
    seed: int = 42
    """Seed of weight init of new heads, dropout and batch order."""
    num_threads: int | None = Field(None, ge=1)
    """CPU threads for PyTorch; None: the number of physical cores."""
    log_every_steps: int = Field(10, ge=1)
    """Write loss and learning rate to the log every N optimizer steps."""


class EvaluationConfig(Section):
    calibration_bins: int = Field(15, ge=2)
    """Number of equal-width confidence bins of the expected calibration error."""
    calibration: Literal["none", "temperature"] = "none"
    """temperature: fit one temperature on the validation split (Guo et al. 2017) and divide
    the logits by it before the softmax, in the test metrics, prediction and serving: the
    scores then mean what they say (a 0.8 is right about 80% of the time) while the predicted
    classes stay the same. Classification only."""
    batch_size: int = Field(64, ge=1)
    """Examples per forward pass during evaluation and prediction."""


class OutputConfig(Section):
    dir: str = "runs"
    """Parent folder of run directories; relative paths resolve against the working directory."""
    run_name: str | None = None
    """Name of this run's folder; None uses the config file's name."""


class TrackingConfig(Section):
    """Experiment tracking of every run (and every search trial, nested under its study)."""

    backend: Literal["none", "mlflow", "tensorboard"] = "none"
    """mlflow (mlflow-skinny) or tensorboard (torch's SummaryWriter); none: off."""
    uri: str | None = None
    """mlflow: a tracking URI (http://host:5000, sqlite:///path/mlflow.db); default
    sqlite:///<output.dir>/mlflow.db. tensorboard: a log folder (one subfolder per run);
    default <run folder>/tensorboard."""
    experiment: str | None = None
    """mlflow: the experiment's name; default the run's name."""
    log_model: bool = False
    """mlflow: also log the model as an MLflow pyfunc (a copy of the model folder)."""
    system_metrics: bool = True
    """mlflow: sample CPU, memory (and GPU) use every 5 s during the run."""
