"""The compression method registry, its options and its errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from tuneforge.compress.methods import (
    METHODS,
    CompressionError,
    available_methods,
    get_method,
    options_from_overrides,
    register_method,
)
from tuneforge.errors import ConfigError


def test_methods_registry_holds_every_method_of_issue_5() -> None:
    # A snapshot (spaCy-style): renaming or dropping a method breaks users' commands.
    assert set(available_methods()) == {
        "onnx",
        "onnx-int8-dynamic",
        "onnx-int8-static",
        "torch-int8",
        "openvino",
        "openvino-int8",
        "prune-magnitude",
        "prune-heads",
        "distill",
    }
    assert {name for name, method in available_methods().items() if method.trains} == {
        "prune-magnitude",
        "prune-heads",
        "distill",
    }


def test_methods_method_for_another_task_lists_the_supported_tasks() -> None:
    @register_method("test-only-classification", tasks=("classification",))
    def only_classification(source, model_dir, options):  # pragma: no cover - never called
        return {}

    try:
        assert get_method("test-only-classification", "classification").fn is only_classification
        with pytest.raises(CompressionError, match=r"does not apply to ner runs.*classification"):
            get_method("test-only-classification", "ner")
    finally:
        del METHODS["test-only-classification"]


def test_methods_unknown_method_names_the_choices() -> None:
    with pytest.raises(CompressionError, match=r"Unknown compression method .onnx-int4.*onnx"):
        get_method("onnx-int4", "classification")


def test_methods_options_parse_yaml_values_and_reject_typos() -> None:
    options = options_from_overrides(["calibration_size=16", "per_channel=true"])
    assert options.calibration_size == 16 and options.per_channel is True
    with pytest.raises(ConfigError, match="did you mean calibration_size"):
        options_from_overrides(["calibraton_size=16"])
    with pytest.raises(ConfigError, match="calibration_size"):
        options_from_overrides(["calibration_size=0"])
    with pytest.raises(ConfigError, match="key=value"):
        options_from_overrides(["calibration_size"])


def test_an_adapter_run_is_sized_with_the_base_weights_it_loads(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A run saved as an adapter keeps only the adapter in model/ (about 0.2 MB here); its size
    in a trade-off table is what serving it loads, base included, like any other variant's."""
    from _configs import bbc_run, tiny_config

    from tuneforge.compress.measure import weights_size_bytes
    from tuneforge.config import config_from_dict
    from tuneforge.pipeline import run
    from tuneforge.predict import load_predictor

    raw = tiny_config(tmp_path / "runs", adaptation={"method": "lora", "save": "adapter"})
    adapter_run = run(config_from_dict(raw, config_dir=str(tmp_path))).run_dir
    on_disk = weights_size_bytes(adapter_run / "model")
    loaded = weights_size_bytes(adapter_run / "model", load_predictor(adapter_run).model)
    full = weights_size_bytes(bbc_run(tmp_path_factory, "full") / "model")
    assert on_disk < full / 50
    assert loaded == pytest.approx(full, rel=0.05)
