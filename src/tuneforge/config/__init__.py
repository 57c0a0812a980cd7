"""The run schema: one YAML file, validated at load time, one optional section per stage.

Every field carries its meaning in a docstring; unknown keys fail with the dotted path and a
"did you mean" suggestion instead of being silently ignored.
"""

from __future__ import annotations

from tuneforge.config.base import (
    AdaptationMethod,
    LabelKind,
    Section,
    TaskType,
    label_kind_of,
)
from tuneforge.config.data import (
    PII_ENTITIES,
    AnonymizationConfig,
    AugmentationConfig,
    CleaningConfig,
    CustomRecognizerConfig,
    DataConfig,
    SplitConfig,
)
from tuneforge.config.federated import FederatedConfig, FederatedPrivacyConfig
from tuneforge.config.loading import (
    apply_override,
    config_from_dict,
    load_config,
    read_yaml_mapping,
    save_config,
)
from tuneforge.config.model import AdaptationConfig, ModelConfig, TaskConfig
from tuneforge.config.protection import AdversarialConfig, PrivacyConfig, RobustnessConfig
from tuneforge.config.run import RunConfig, check_search_space
from tuneforge.config.search import (
    ParameterSpace,
    SearchConfig,
    SearchPruner,
    SearchSampler,
    SecondObjective,
)
from tuneforge.config.training import (
    EvaluationConfig,
    OutputConfig,
    TrackingConfig,
    TrainingConfig,
)

__all__ = [
    "PII_ENTITIES",
    "AdaptationConfig",
    "AdaptationMethod",
    "AdversarialConfig",
    "AnonymizationConfig",
    "AugmentationConfig",
    "CleaningConfig",
    "CustomRecognizerConfig",
    "DataConfig",
    "EvaluationConfig",
    "FederatedConfig",
    "FederatedPrivacyConfig",
    "LabelKind",
    "ModelConfig",
    "OutputConfig",
    "ParameterSpace",
    "PrivacyConfig",
    "RobustnessConfig",
    "RunConfig",
    "SearchConfig",
    "SearchPruner",
    "SearchSampler",
    "SecondObjective",
    "Section",
    "SplitConfig",
    "TaskConfig",
    "TaskType",
    "TrackingConfig",
    "TrainingConfig",
    "apply_override",
    "check_search_space",
    "config_from_dict",
    "label_kind_of",
    "load_config",
    "read_yaml_mapping",
    "save_config",
]
