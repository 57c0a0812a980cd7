"""The model registry: immutable versions, stages and API keys (issue 4)."""

from tuneforge.registry.errors import RegistryError
from tuneforge.registry.keys import ApiKey
from tuneforge.registry.refs import STAGES, ModelRef, parse_ref
from tuneforge.registry.store import ModelVersion, Registry, open_registry

__all__ = [
    "STAGES",
    "ApiKey",
    "ModelRef",
    "ModelVersion",
    "Registry",
    "RegistryError",
    "open_registry",
    "parse_ref",
]
