"""collate, forward_logits and resolve_precision on the real 1-layer all-MiniLM-L6-v2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import transformers
from transformers import (
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    AutoTokenizer,
)

from tuneforge import inference
from tuneforge.inference import IGNORE_INDEX, collate, forward_logits, resolve_precision

transformers.logging.set_verbosity_error()

# Deliberately unsorted by length, so that the length-sorted batches reorder them.
TEXTS = [
    "Shares fell.",
    "The striker scored twice in the second half as the home side came back to win the cup.",
    "Apple unveiled a new phone on Tuesday.",
    "Rain.",
    "Parliament will vote on the budget next week after a long debate.",
]
CPU = torch.device("cpu")
PAD = 7  # not 0, so that padding with the pad id and with zeros can be told apart


def _feature(length: int, labels=None) -> dict:
    feature = {
        "input_ids": list(range(101, 101 + length)),
        "attention_mask": [1] * length,
        "token_type_ids": [0] * length,
    }
    if labels is not None:
        feature["labels"] = labels
    return feature


def test_inference_collate_pads_inputs():
    batch = collate([_feature(2), _feature(4)], pad_token_id=PAD)

    assert batch["input_ids"].tolist() == [[101, 102, PAD, PAD], [101, 102, 103, 104]]
    assert batch["attention_mask"].tolist() == [[1, 1, 0, 0], [1, 1, 1, 1]]
    assert batch["token_type_ids"].tolist() == [[0, 0, 0, 0], [0, 0, 0, 0]]
    assert all(tensor.dtype == torch.long for tensor in batch.values())
    assert "labels" not in batch


def test_inference_collate_skips_absent_inputs():
    features = [{"input_ids": [1, 2, 3]}, {"input_ids": [4]}]

    batch = collate(features, pad_token_id=0)

    assert set(batch) == {"input_ids"}
    assert batch["input_ids"].tolist() == [[1, 2, 3], [4, 0, 0]]


@pytest.mark.parametrize(
    ("labels", "dtype", "expected"),
    [
        ([2, 0], torch.long, [2, 0]),
        ([0.5, -1.25], torch.float32, [0.5, -1.25]),
        ([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]], torch.float32, [[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]]),
        ([[-100, 3], [-100, 1, 2, -100]], torch.long, [[-100, 3, -100, -100], [-100, 1, 2, -100]]),
    ],
    ids=["class-index", "regression", "multi-hot", "token-tags"],
)
def test_inference_collate_labels(labels, dtype, expected):
    features = [_feature(2, labels[0]), _feature(4, labels[1])]

    batch = collate(features, pad_token_id=PAD)

    assert batch["labels"].dtype == dtype
    assert batch["labels"].tolist() == expected
    assert IGNORE_INDEX == -100


@pytest.fixture(scope="module")
def tokenizer(minilm_path: Path):
    return AutoTokenizer.from_pretrained(minilm_path)


@pytest.fixture(scope="module")
def features(tokenizer) -> list[dict]:
    encoded = tokenizer(TEXTS)
    return [{key: encoded[key][i] for key in encoded} for i in range(len(TEXTS))]


def _single_logits(model: torch.nn.Module, feature: dict) -> np.ndarray:
    """The reference: one unpadded example at a time."""
    inputs = {key: torch.tensor([value]) for key, value in feature.items() if key != "labels"}
    with torch.no_grad():
        return model(**inputs).logits[0].numpy()


def test_inference_forward_logits_input_order_and_loss(minilm_path, features):
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(
        minilm_path, num_hidden_layers=1, num_labels=3
    )
    labelled = [{**feature, "labels": i % 3} for i, feature in enumerate(features)]
    lengths = [len(feature["input_ids"]) for feature in features]
    assert lengths != sorted(lengths, reverse=True)
    model.train()

    logits, loss = forward_logits(model, labelled, 2, 0, CPU)

    assert model.training  # the caller's mode is restored
    model.eval()
    expected = [_single_logits(model, feature) for feature in features]
    assert len(logits) == len(features)
    for got, want in zip(logits, expected, strict=True):
        assert got.shape == (3,)
        np.testing.assert_allclose(got, want, atol=1e-5)
    # The mean loss weights every example equally, whatever the batch sizes (2, 2, 1).
    per_example = [
        torch.nn.functional.cross_entropy(torch.tensor(want)[None], torch.tensor([i % 3])).item()
        for i, want in enumerate(expected)
    ]
    assert loss == pytest.approx(np.mean(per_example), abs=1e-5)


def test_inference_forward_logits_without_labels_has_nan_loss(minilm_path, features):
    model = AutoModelForSequenceClassification.from_pretrained(
        minilm_path, num_hidden_layers=1, num_labels=2
    )

    logits, loss = forward_logits(model, features[:2], 8, 0, CPU)

    assert len(logits) == 2
    assert np.isnan(loss)


def test_inference_forward_logits_token_task_cut_to_length(minilm_path, features):
    torch.manual_seed(0)
    model = AutoModelForTokenClassification.from_pretrained(
        minilm_path, num_hidden_layers=1, num_labels=5
    )
    model.eval()

    logits, _ = forward_logits(model, features, 3, 0, CPU)

    for got, feature in zip(logits, features, strict=True):
        assert got.shape == (len(feature["input_ids"]), 5)
        np.testing.assert_allclose(got, _single_logits(model, feature), atol=1e-5)


def test_inference_resolve_precision_auto_follows_cpu_flags():
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.is_file():
        pytest.skip("no /proc/cpuinfo on this system")
    flags = cpuinfo.read_text(errors="replace")
    native = "avx512_bf16" in flags or "amx_bf16" in flags

    assert resolve_precision("auto", CPU) == ("bf16" if native else "fp32")


@pytest.mark.parametrize(
    ("flags", "native"),
    [
        ("flags\t: fpu sse2 avx2 avx512f avx512bw\n", False),
        ("flags\t: fpu avx512f avx512_bf16\n", True),
        ("flags\t: fpu amx_bf16 amx_tile\n", True),
    ],
)
def test_inference_bf16_detection_reads_cpu_flags(tmp_path, monkeypatch, flags, native):
    fake = tmp_path / "cpuinfo"
    fake.write_text(flags, encoding="utf-8")
    monkeypatch.setattr(inference, "Path", lambda _: fake)
    flags_read = inference.cpu_flags.__wrapped__()  # uncached: the real flags are cached
    monkeypatch.setattr(inference, "cpu_flags", lambda: flags_read)

    assert inference._cpu_has_native_bf16.__wrapped__() is native


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_inference_resolve_precision_explicit_passes_through(precision):
    assert resolve_precision(precision, CPU) == precision
