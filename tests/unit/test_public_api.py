"""The public API: tuneforge.train, load_predictor and evaluate_run, whatever was imported first."""

from __future__ import annotations

import subprocess
import sys

import pytest
from _configs import bbc_run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return bbc_run(tmp_path_factory)


def test_public_api_evaluate_run_after_the_evaluate_subpackage(run_dir) -> None:
    import tuneforge
    import tuneforge.evaluate.metrics

    metrics = tuneforge.evaluate_run(run_dir)
    assert 0.0 <= metrics["macro_f1"] <= 1.0
    assert metrics == tuneforge.evaluate_run(str(run_dir))


@pytest.mark.parametrize(
    "first",
    [
        "tuneforge.evaluate",
        "tuneforge.run.evaluation",
        "tuneforge.predict",
        "tuneforge.training.loop",
        "tuneforge",
    ],
)
def test_public_api_names_survive_any_import_order(first: str) -> None:
    code = (
        f"import {first}; import tuneforge; "
        "assert callable(tuneforge.evaluate_run) and callable(tuneforge.train) "
        "and callable(tuneforge.load_predictor); "
        "assert set(tuneforge.__all__) >= {'train', 'load_predictor', 'evaluate_run'}"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
