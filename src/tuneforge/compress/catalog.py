"""Imports every module that registers a compression method, so the registry is complete."""

from tuneforge.compress import (  # noqa: F401  (imported for their @register_method side effect)
    distill,
    heads,
    openvino,
    prune,
    quantize,
)
