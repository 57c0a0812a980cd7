"""The whole run config: every section, the checks across sections, the search space checked
against the schema, and "did you mean" suggestions for unknown keys."""

from __future__ import annotations

import copy
import difflib
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError, model_validator

from tuneforge.config.base import Section
from tuneforge.config.data import DataConfig
from tuneforge.config.federated import FederatedConfig
from tuneforge.config.model import AdaptationConfig, ModelConfig, TaskConfig
from tuneforge.config.protection import NOT_PRIVATE, PrivacyConfig, RobustnessConfig
from tuneforge.config.search import SearchConfig
from tuneforge.config.training import EvaluationConfig, OutputConfig, TrackingConfig, TrainingConfig


class RunConfig(Section):
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
    def _sentence_column_is_for_tokens(self) -> RunConfig:
        if self.data.sentence_column is not None and self.task.label_kind != "tags":
            raise ValueError(
                "data.sentence_column groups one-token rows into sentences, which only NER "
                f"(per-token tags) reads; task.type is {self.task.type}: remove it"
            )
        return self

    @model_validator(mode="after")
    def _calibration_is_for_one_class(self) -> RunConfig:
        if self.evaluation.calibration != "none" and self.task.label_kind != "class":
            raise ValueError(
                "evaluation.calibration: temperature scaling calibrates one softmax over the "
                f"classes, which task.type {self.task.type} has not; remove it"
            )
        return self

    @model_validator(mode="after")
    def _privacy_composes(self) -> RunConfig:
        if not self.privacy.enabled:
            return self
        if self.adaptation.method in NOT_PRIVATE:
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
        if (
            self.privacy.head_clip_fraction is not None
            and self.privacy.clipping_for(self.adaptation.method) == "ghost"
        ):
            raise ValueError(
                "privacy.head_clip_fraction: group-wise clipping needs each example's gradient "
                f"of the head and of the rest apart; ghost clipping (privacy.clipping: "
                f"{self.privacy.clipping}, adaptation.method {self.adaptation.method}) scales "
                "an example's whole gradient by one factor. Set privacy.clipping: per_example"
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
                raise ValueError(f"{where}: unknown config key{did_you_mean(parts[: depth + 1])}")
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


def did_you_mean(location: list[str]) -> str:
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
