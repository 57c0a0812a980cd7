"""Training throughput: tuneforge's loop vs transformers.Trainer, same data, model and settings.

    python -m benchmarks.train_speed            # 1 epoch of the full BBC News training split
    python -m benchmarks.train_speed --quick    # a 192-example subset, for a check in < 3 min

Contenders (all-MiniLM-L6-v2, BBC News seeded split, same max_seq_length, batch size, epochs,
learning rate, warmup, weight decay, clipping and seed):
- tuneforge: the training loop with its defaults (precision auto, length-grouped batches);
- tuneforge_frozen_embeddings: the same with adaptation.freeze_word_embeddings (an opt-in);
- trainer_default: transformers.Trainer as a new user runs it (fp32, DataCollatorWithPadding);
- trainer_best: the Trainer's best CPU settings (bf16=True, group_by_length sampling); left out
  by default on a CPU without native bf16, where the Trainer's best setting is its default.
Useful FLOPs are counted on real (unpadded) tokens alike for all, so padding is wasted work.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import _harness

CONTENDERS = ("tuneforge", "tuneforge_frozen_embeddings", "trainer_default", "trainer_best")
SETTINGS = {
    "max_seq_length": 128,
    "batch_size": 16,
    "epochs": 1,
    "learning_rate": 1e-4,
    "warmup_ratio": 0.1,
    "weight_decay": 0.01,
    "seed": 42,
}
QUICK_TRAIN_EXAMPLES = 192


def training_flops(lengths: list[int], model: Any) -> float:
    """Forward+backward FLOPs on unpadded tokens: 6·N·L for the encoder weights, 12·layers·d·L²
    for attention scores and mixing (Kaplan et al., 2020, table 1), and 6·N_head once per
    sequence for the pooler and classifier, which see only the [CLS] vector."""
    config = model.config
    per_token = sum(p.numel() for n, p in model.named_parameters() if ".encoder." in f".{n}")
    per_sequence = sum(
        p.numel()
        for n, p in model.named_parameters()
        if ".encoder." not in f".{n}" and "embeddings" not in n
    )
    layers, hidden = config.num_hidden_layers, config.hidden_size
    return float(
        sum(6 * per_token * n + 12 * layers * hidden * n * n + 6 * per_sequence for n in lengths)
    )


def _prepare(quick: bool) -> tuple[Any, list, list, list[str], Any]:
    import torch

    from tuneforge.modeling import load_tokenizer, resolve_model_source
    from tuneforge.tasks import classification

    torch.manual_seed(SETTINGS["seed"])
    train, test = _harness.bbc_news_split(QUICK_TRAIN_EXAMPLES if quick else None)
    source = resolve_model_source("all-MiniLM-L6-v2")
    tokenizer = load_tokenizer(source)
    names = classification.label_names(train, None)
    encode = lambda records: classification.encode(  # noqa: E731
        records, tokenizer, names, SETTINGS["max_seq_length"], {}
    )
    return tokenizer, encode(train), encode(test), names, source


def _new_model(source: str, names: list[str]) -> Any:
    import torch
    from transformers import AutoModelForSequenceClassification

    from tuneforge.modeling import quiet_transformers
    from tuneforge.tasks import classification

    quiet_transformers()
    torch.manual_seed(SETTINGS["seed"])
    return AutoModelForSequenceClassification.from_pretrained(
        source, **classification.head_config(names, {})
    )


def _device() -> Any:
    """CUDA when present (the same harness reports GPU numbers), else the CPU."""
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _test_scores(model: Any, test: list, names: list[str], pad_token_id: int) -> dict[str, float]:
    import numpy as np

    from tuneforge.evaluate import classification_metrics
    from tuneforge.inference import forward_logits
    from tuneforge.tasks._encoding import softmax

    rows, _ = forward_logits(model, test, 64, pad_token_id, _device(), "fp32")
    labels = np.array([feature["labels"] for feature in test])
    metrics = classification_metrics(labels, softmax(np.stack(rows)), names)
    return {"test_accuracy": metrics["accuracy"], "test_macro_f1": metrics["macro_f1"]}


def run_tuneforge(quick: bool, freeze_word_embeddings: bool = False) -> dict[str, Any]:

    from tuneforge.adapt import apply_adaptation
    from tuneforge.config import AdaptationConfig, TrainingConfig
    from tuneforge.inference import resolve_precision
    from tuneforge.training import FitSetup, fit

    tokenizer, train, test, names, source = _prepare(quick)
    adaptation = AdaptationConfig(method="full", freeze_word_embeddings=freeze_word_embeddings)
    model = apply_adaptation(_new_model(source, names), adaptation, "classification").to(_device())
    device = _device()
    config = TrainingConfig(
        epochs=SETTINGS["epochs"],
        batch_size=SETTINGS["batch_size"],
        learning_rate=SETTINGS["learning_rate"],
        warmup_ratio=SETTINGS["warmup_ratio"],
        weight_decay=SETTINGS["weight_decay"],
        seed=SETTINGS["seed"],
    )
    precision = resolve_precision(config.precision, device)
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        fit(
            model,
            train,
            FitSetup(
                config=config,
                pad_token_id=tokenizer.pad_token_id,
                checkpoint_dir=Path(folder),
                precision=precision,
                device=device,
                show_progress=False,
            ),
        )
        seconds = time.perf_counter() - started
    return _result(
        "tuneforge_frozen_embeddings" if freeze_word_embeddings else "tuneforge",
        model,
        train,
        seconds,
        _test_scores(model, test, names, tokenizer.pad_token_id),
        precision,
    )


def run_trainer(quick: bool, best: bool) -> dict[str, Any]:
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

    tokenizer, train, test, names, source = _prepare(quick)
    model = _new_model(source, names)
    with tempfile.TemporaryDirectory() as folder:
        arguments = TrainingArguments(
            output_dir=folder,
            per_device_train_batch_size=SETTINGS["batch_size"],
            num_train_epochs=SETTINGS["epochs"],
            learning_rate=SETTINGS["learning_rate"],
            warmup_steps=SETTINGS["warmup_ratio"],
            weight_decay=SETTINGS["weight_decay"],
            seed=SETTINGS["seed"],
            use_cpu=_device().type == "cpu",
            report_to="none",
            save_strategy="no",
            logging_steps=10_000,
            disable_tqdm=True,
            bf16=best,
            train_sampling_strategy="group_by_length" if best else "random",
        )
        trainer = Trainer(
            model=model,
            args=arguments,
            train_dataset=train,
            data_collator=DataCollatorWithPadding(tokenizer),
        )
        started = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - started
    name = "trainer_best" if best else "trainer_default"
    return _result(
        name,
        model,
        train,
        seconds,
        _test_scores(model, test, names, tokenizer.pad_token_id),
        "bf16" if best else "fp32",
    )


def _result(
    name: str, model: Any, train: list, seconds: float, scores: dict, precision: str
) -> dict[str, Any]:
    lengths = [len(feature["input_ids"]) for feature in train]
    examples = len(train) * SETTINGS["epochs"]
    flops = training_flops(lengths, model) * SETTINGS["epochs"]
    return {
        "contender": name,
        "precision": precision,
        "train_seconds": seconds,
        "samples_per_second": examples / seconds,
        "achieved_gflops": flops / seconds / 1e9,
        **scores,
    }


def default_contenders(peak: dict[str, float]) -> list[str]:
    """Every contender, less trainer_best on a CPU without native bf16: there its bf16 GEMMs run
    a reference kernel (measured 0.3 GFLOP/s on an AVX2 EPYC against 182 in fp32), one epoch
    would take hours, and the Trainer's best setting on such a CPU is its fp32 default. Name it
    in --contenders to run it anyway."""
    if not native_bf16():
        print(
            "trainer_best left out: this CPU has no native bf16 (bf16 GEMM "
            f"{peak['bf16_gflops']:.1f} GFLOP/s vs fp32 {peak['fp32_gflops']:.0f}); "
            "trainer_default is the Trainer's best setting here.",
            file=sys.stderr,
        )
        return [name for name in CONTENDERS if name != "trainer_best"]
    return list(CONTENDERS)


def native_bf16() -> bool:
    """Whether this device computes bf16 natively: the one rule for leaving trainer_best out and
    for reporting against the bf16 peak (an emulated bf16 peak makes the percentage meaningless)."""
    from tuneforge.inference import resolve_precision

    return resolve_precision("auto", _device()) == "bf16"


def _gflops(value: float) -> str:
    """A GEMM rate for the report header: an emulated bf16 rate of 0.3 must not print as 0."""
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def _layer_shape() -> tuple[int, int, int]:
    """(tokens per batch, hidden, intermediate) of all-MiniLM-L6-v2 at the benchmark's settings."""
    from transformers import AutoConfig

    from tuneforge.modeling import resolve_model_source

    config = AutoConfig.from_pretrained(resolve_model_source("all-MiniLM-L6-v2"))
    tokens = SETTINGS["batch_size"] * SETTINGS["max_seq_length"]
    return tokens, config.hidden_size, config.intermediate_size


def _worker(contender: str, quick: bool) -> None:
    from tuneforge._process import run_settings

    # Every contender gets the threads and tokenizer settings a tuneforge run sets.
    with run_settings(None):
        if contender.startswith("tuneforge"):
            result = run_tuneforge(quick, freeze_word_embeddings=contender.endswith("embeddings"))
        else:
            result = run_trainer(quick, best=contender == "trainer_best")
    sys.stdout.write(json.dumps(result) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small subset, < 3 minutes")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--contenders", nargs="+", default=None, choices=CONTENDERS)
    parser.add_argument("--worker", choices=CONTENDERS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args.worker, args.quick)
        return
    import psutil

    threads = psutil.cpu_count(logical=False) or 1
    peak = _harness.measure_matmul_peak(threads, model_shape=_layer_shape())
    args.contenders = args.contenders or default_contenders(peak)
    rows = []
    for repeat in range(args.repeats):
        for contender in args.contenders:
            row = _harness.run_child(
                "benchmarks.train_speed",
                ["--worker", contender] + (["--quick"] if args.quick else []),
            )
            print(
                f"repeat {repeat + 1}: {contender}: {row['samples_per_second']:.2f} samples/s, "
                f"macro-F1 {row['test_macro_f1']:.4f}",
                file=sys.stderr,
            )
            rows.append(row)
    medians = _harness.median_by_contender(rows)
    print(report(medians, peak, args))
    _harness.write_results(
        "train_speed_quick" if args.quick else "train_speed",
        {
            "settings": SETTINGS,
            "quick": args.quick,
            "machine": _harness.machine_info(),
            "matmul_peak": peak,
            "medians": medians,
            "runs": rows,
        },
    )


def report(medians: dict[str, dict[str, float]], peak: dict[str, float], args: Any) -> str:
    base = medians.get("trainer_default", {}).get("samples_per_second")
    # Without a trainer_best run (no native bf16) the Trainer's best is its default.
    best = medians.get("trainer_best", {}).get("samples_per_second", base)
    columns = [
        "contender",
        "samples/s",
        "× trainer_default",
        "× trainer_best" if "trainer_best" in medians else "× trainer_best (= default here)",
        "precision",
        "GFLOP/s",
        "% bf16 peak",
        "% peak, own precision",
        "% layer-GEMM ceiling",
        "peak RSS MiB",
        "test acc",
        "test macro-F1",
    ]
    rows = []
    for name, m in medians.items():
        precision = m.get("precision", "fp32")
        own_peak = peak[f"{precision}_gflops"]
        ceiling = peak.get(f"{precision}_model_gflops")
        rows.append(
            [
                name,
                m["samples_per_second"],
                m["samples_per_second"] / base if base else "-",
                m["samples_per_second"] / best if best else "-",
                precision,
                m["achieved_gflops"],
                # Against an emulated bf16 peak (no bf16 units) the percentage means nothing.
                100 * m["achieved_gflops"] / peak["bf16_gflops"] if native_bf16() else "-",
                100 * m["achieved_gflops"] / own_peak,
                100 * m["achieved_gflops"] / ceiling if ceiling else "-",
                m["peak_rss_mib"],
                m["test_accuracy"],
                m["test_macro_f1"],
            ]
        )
    header = (
        f"Training, BBC News {'subset' if args.quick else 'full split'}, "
        f"medians of {args.repeats}; matmul peak fp32 {_gflops(peak['fp32_gflops'])} GFLOP/s, "
        f"bf16 {_gflops(peak['bf16_gflops'])} GFLOP/s (square GEMM); one layer's weight GEMMs "
        f"at the model's shapes: fp32 {_gflops(peak.get('fp32_model_gflops', 0))}, "
        f"bf16 {_gflops(peak.get('bf16_model_gflops', 0))} GFLOP/s\n\n"
    )
    return header + _harness.markdown_table(columns, rows)


if __name__ == "__main__":
    main()
