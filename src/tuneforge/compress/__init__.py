"""Compression of finished runs: ONNX export, int8 quantization, pruning, distillation, and the
measured trade-off report (``compress_run``, ``sweep_run``)."""

from tuneforge.compress.methods import (
    CompressionError,
    CompressOptions,
    SourceRun,
    available_methods,
    register_method,
)
from tuneforge.compress.run import compress_run
from tuneforge.compress.sweep import sweep_run

__all__ = [
    "CompressOptions",
    "CompressionError",
    "SourceRun",
    "available_methods",
    "compress_run",
    "register_method",
    "sweep_run",
]
