"""The tiny BBC run compressed once per test session by the ONNX and int8 methods."""

from __future__ import annotations

import pytest
from _configs import bbc_run

from tuneforge.compress.methods import CompressOptions
from tuneforge.compress.run import Variant, compress_run

# One timed repeat over 8 texts: the tests check that numbers are measured, not how fast.
FAST = CompressOptions(
    calibration_size=32, measure_repeats=1, measure_examples=8, optimize_graph=False
)
INT8_METHODS = ("onnx-int8-dynamic", "onnx-int8-static", "torch-int8")


@pytest.fixture(scope="session")
def compressed_bbc(tmp_path_factory) -> dict[str, tuple[Variant, Variant]]:
    run_dir = bbc_run(tmp_path_factory)
    output = tmp_path_factory.mktemp("compressed")
    results = {}
    original = None
    for method in ("onnx", *INT8_METHODS):
        results[method] = compress_run(run_dir, method, FAST, output / method, original=original)
        original = results[method][0]
    return results
