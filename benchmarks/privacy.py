"""What does differential privacy cost? Accuracy at epsilon 8 and 3 against non-private training,
seconds per epoch private vs not (full fine-tuning and LoRA), and, with --audit, what a
membership-inference attack learns from each model.

    python -m benchmarks.privacy [--dataset rt_sentences|bbc_news] [--rows 8000]
        [--contenders lora:none lora:8 lora:3 full:none full:8] [--epochs 3]
        [--private-epochs 10] [--private-batch 256] [--private-lr LR] [--private-head-lr LR]
        [--private-clip 1.0]
        [--private-schedule linear|cosine|constant] [--private-clipping per_example|ghost]
        [--seed 42]
        [--max-seq-length 64] [--layers 6] [--model DIR | --public-pretrain]
        [--audit] [--shadows 4] [--work-dir DIR [--reuse]] [--out benchmarks/results/privacy_<dataset>.json]

A contender is adaptation:epsilon (none = non-private). Each one is a `tuneforge train` child
process, one at a time, on the same split and seed. Private and non-private runs use the
settings each regime is known to need (DP-SGD learns from large Poisson batches at a higher
learning rate, Li et al. 2022; "Large language models can be strong differentially private
learners"): PRIVATE_TRAINING below, stated in the result. Reported: test accuracy and macro-F1,
the accountant's epsilon and delta, optimizer steps, training seconds per epoch (evaluation
excluded), the training process's peak RSS and, with --audit, the membership-inference AUC and TPR at 1% FPR.

--public-pretrain starts every contender, private and not, from a model fine-tuned non-privately
on public sentiment data of other domains (tweets, Amazon and NYT snippets from the same VADER
archive; none of them a Rotten Tomatoes sentence): what public data can teach costs no privacy,
so the private run only has to learn the rest. Published DP fine-tuning results rely on public
pretraining too (the language model itself); this goes one step further, to public data of the
task. The result's public_pretrain block says what the public model scores on the private test
split before any private training.

Targets (issue 18): accuracy at epsilon 8 within 3 points of non-private; the DP model's audit
AUC <= 0.55.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from benchmarks import _harness

TUNEFORGE = Path(sys.executable).parent / "tuneforge"

NON_PRIVATE_TRAINING = {
    "full": {"batch_size": 32, "learning_rate": 5e-5},
    "lora": {"batch_size": 32, "learning_rate": 1e-3},
}
# DP-SGD: an expected batch of 256 (q = 256 / n), learning rates 4x the non-private ones, clip 1.
PRIVATE_TRAINING = {
    "full": {"batch_size": 32, "learning_rate": 2e-4},
    "lora": {"batch_size": 32, "learning_rate": 4e-3},
}
PRIVATE_BATCH = 256
MAX_GRAD_NORM = 1.0


def run_config(args: argparse.Namespace, data: Path | None, contender: str, out: Path) -> dict:
    adaptation, epsilon = contender.split(":")
    if args.dataset == "bbc_news":
        config = {
            "data": {"source": "builtin:bbc-news", "split": {"seed": 42}},
            "task": {"type": "classification"},
        }
    else:
        config = {
            "data": {"source": str(data), "split": {"seed": 42, "test_ratio": 0.2}},
            "task": {"type": "classification"},
        }
    config["model"] = {"max_seq_length": args.max_seq_length, "num_hidden_layers": args.layers}
    if args.model is not None:
        # Both regimes start from it: the comparison stays private against non-private.
        config["model"]["name"] = str(args.model)
    private = epsilon != "none"
    training = dict((PRIVATE_TRAINING if private else NON_PRIVATE_TRAINING)[adaptation])
    if private and args.private_lr is not None:
        training["learning_rate"] = args.private_lr
    if private and args.private_head_lr is not None:
        training["head_learning_rate"] = args.private_head_lr
    epochs = args.private_epochs if private and args.private_epochs else args.epochs
    training.update({"epochs": epochs, "seed": args.seed, "warmup_ratio": 0.1})
    if private:
        training["lr_schedule"] = args.private_schedule
    config["training"] = training
    config["adaptation"] = {"method": adaptation}
    if adaptation == "full":
        # Per-example gradients of the 30522 x 384 word-embedding matrix would take 47 MB per
        # example; DP fine-tuning work freezes it (Li et al. 2022). The same for both regimes.
        config["adaptation"]["freeze_word_embeddings"] = True
    if private:
        config["privacy"] = {
            "target_epsilon": float(epsilon),
            "batch_size": args.private_batch,
            "max_grad_norm": args.private_clip,
            "clipping": args.private_clipping,
        }
        if args.private_head_clip is not None:
            config["privacy"]["head_clip_fraction"] = args.private_head_clip
    # The name carries the epochs, and a private run's batch and rate when they are not the
    # defaults: --reuse never picks up a run trained with other settings.
    name = f"{contender.replace(':', '-eps')}-e{epochs:g}"
    if private and args.private_batch != PRIVATE_BATCH:
        name += f"-b{args.private_batch}"
    if private and args.private_lr is not None:
        name += f"-lr{args.private_lr:g}"
    if private and args.private_head_lr is not None:
        name += f"-head{args.private_head_lr:g}"
    if private and args.private_clip != MAX_GRAD_NORM:
        name += f"-clip{args.private_clip:g}"
    if private and args.private_schedule != "linear":
        name += f"-{args.private_schedule}"
    if private and args.private_clipping != "auto":
        name += f"-{args.private_clipping}"
    if private and args.private_head_clip is not None:
        name += f"-hclip{args.private_head_clip:g}"
    if args.public_pretrain:
        name += "-public"  # the public run of the same seed (its name carries the seed)
    elif args.model is not None:
        name += f"-from-{model_tag(args.model)}"
    if args.seed != 42:
        name += f"-seed{args.seed}"
    config["output"] = {"dir": str(out), "run_name": name}
    return config


PUBLIC_RUN = "public-full"
PUBLIC_TRAINING = {"batch_size": 32, "learning_rate": 5e-5, "epochs": 2, "warmup_ratio": 0.1}


def public_config(args: argparse.Namespace, data: Path, out: Path) -> dict:
    """Non-private full fine-tuning on the public sentiment set (tweets, Amazon, NYT snippets):
    the model every contender starts from under --public-pretrain. Its data is public, so it
    needs no privacy; the private runs' guarantee covers the Rotten Tomatoes rows they train on."""
    name = PUBLIC_RUN if args.seed == 42 else f"{PUBLIC_RUN}-seed{args.seed}"
    return {
        "data": {"source": str(data), "split": {"seed": 42}},
        "task": {"type": "classification"},
        "model": {"max_seq_length": args.max_seq_length, "num_hidden_layers": args.layers},
        "training": {**PUBLIC_TRAINING, "seed": args.seed},
        "adaptation": {"method": "full"},
        "output": {"dir": str(out), "run_name": name},
    }


def public_pretrain(args: argparse.Namespace, out: Path) -> Path:
    """Train (or, with --reuse, keep) the public run; returns its folder."""
    from benchmarks.rt_sentences import build_public_sentences

    data = build_public_sentences(out / "public_sentences.csv")
    config = public_config(args, data, out)
    run_dir = out / config["output"]["run_name"]
    if not (args.reuse and (run_dir / "metrics.json").is_file()):
        config_path = out / f"{run_dir.name}.yaml"
        config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        _tuneforge("train", str(config_path), "--overwrite")
    return run_dir


def public_summary(public_run: Path, test_split: Path) -> dict[str, Any]:
    """The public model's accuracy on its own test split and, without any private training, on
    the private set's test split (what starting from it is worth before DP adds anything)."""
    _tuneforge("evaluate", str(public_run), "--data", str(test_split))
    own = json.loads((public_run / "metrics.json").read_text(encoding="utf-8"))["test"]
    private_test = json.loads(
        (public_run / f"evaluation_{test_split.stem}.json").read_text(encoding="utf-8")
    )
    return {
        "run": str(public_run),
        "training": PUBLIC_TRAINING,
        "public_test_accuracy": own["accuracy"],
        "private_test_accuracy_before_training": private_test["accuracy"],
    }


def model_tag(model: Path) -> str:
    """A short name for a starting model in run names: its folder, or the run folder above a
    run's ``model`` folder."""
    model = model.expanduser().resolve()
    return model.parent.name if model.name == "model" else model.name


def _tuneforge(*command: str) -> float:
    """Run the installed command; returns its peak RSS in MiB (its own, not its children's)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    process = subprocess.Popen([str(TUNEFORGE), *command], env=env)
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"tuneforge {' '.join(command)} failed with status {status}")
    return usage.ru_maxrss / 1024  # Linux reports KiB


def run_contender(args: argparse.Namespace, data: Path | None, contender: str, out: Path) -> dict:
    config = run_config(args, data, contender, out)
    run_dir = out / config["output"]["run_name"]
    metrics_path = run_dir / "metrics.json"
    # Beside the run, named after all of it: with_suffix would cut a name at its last dot
    # ("...-clip0.1" and "...-clip0.2" would share one file).
    memory_path = run_dir.parent / f"{run_dir.name}.peak_rss_mib"
    if not (args.reuse and metrics_path.is_file() and memory_path.is_file()):
        config_path = out / f"{config['output']['run_name']}.yaml"
        config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        memory_path.write_text(str(_tuneforge("train", str(config_path), "--overwrite")))
    metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    training = metrics["training"]
    privacy = metrics.get("privacy") or {}
    row: dict[str, Any] = {
        "contender": contender,
        "test_accuracy": metrics["test"]["accuracy"],
        "test_macro_f1": metrics["test"]["macro_f1"],
        "epsilon": privacy.get("epsilon"),
        "delta": privacy.get("delta"),
        "noise_multiplier": privacy.get("noise_multiplier"),
        "steps": training["steps"],
        "seconds_per_epoch": training["train_seconds"] / config["training"]["epochs"],
        "peak_rss_mib": float(memory_path.read_text()),
        "training": config["training"],
    }
    if args.audit:
        audit_path = run_dir / "privacy_audit" / "audit.json"
        if not (args.reuse and audit_path.is_file()):
            shadow_epochs = (
                ["--shadow-epochs", str(args.shadow_epochs)] if args.shadow_epochs else []
            )
            _tuneforge(
                "privacy", "audit", str(run_dir), "--shadows", str(args.shadows), *shadow_epochs
            )
        audit = json.loads(audit_path.read_text(encoding="utf-8"))
        row["audit"] = audit_summary(audit)
    return row


def audit_summary(audit: dict[str, Any]) -> dict[str, Any]:
    """AUC and TPR at 1% FPR of each attack in an audit.json."""
    return {
        name: {key: attack.get(key) for key in ("auc", "tpr_at_1pct_fpr", "epsilon_lower_bound")}
        for name, attack in audit.get("attacks", {}).items()
    }


def verdict(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Accuracy points lost to DP against the same adaptation's non-private run."""
    baseline = {
        row["contender"].split(":")[0]: row for row in rows if row["contender"].endswith(":none")
    }
    out: dict[str, Any] = {}
    for row in rows:
        adaptation, epsilon = row["contender"].split(":")
        reference = baseline.get(adaptation)
        if epsilon == "none" or reference is None:
            continue
        lost = 100 * (reference["test_accuracy"] - row["test_accuracy"])
        out[row["contender"]] = {
            "accuracy_points_lost": round(lost, 2),
            "within_3_points": lost <= 3.0,
            "time_per_epoch_ratio": round(
                row["seconds_per_epoch"] / reference["seconds_per_epoch"], 2
            ),
        }
    return out


def table(rows: list[dict[str, Any]]) -> str:
    columns = [
        "contender",
        "test acc",
        "macro-F1",
        "epsilon",
        "delta",
        "steps",
        "s/epoch",
        "peak MiB",
    ]
    body = [
        [
            row["contender"],
            row["test_accuracy"],
            row["test_macro_f1"],
            "-" if row["epsilon"] is None else row["epsilon"],
            "-" if row["delta"] is None else f"{row['delta']:.1e}",
            row["steps"],
            row["seconds_per_epoch"],
            row["peak_rss_mib"],
        ]
        for row in rows
    ]
    return _harness.markdown_table(columns, body)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.privacy")
    parser.add_argument("--dataset", choices=("rt_sentences", "bbc_news"), default="rt_sentences")
    parser.add_argument("--rows", type=int, default=8000, help="rt_sentences sample size")
    parser.add_argument(
        "--contenders", nargs="+", default=["lora:none", "lora:8", "lora:3", "full:none", "full:8"]
    )
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument(
        "--private-epochs",
        type=float,
        default=None,
        help="epochs of the private runs (default --epochs): DP-SGD's noisy steps need more",
    )
    parser.add_argument(
        "--private-batch",
        type=int,
        default=PRIVATE_BATCH,
        help="expected Poisson batch of the private runs (the noise per averaged coordinate "
        "falls with it)",
    )
    parser.add_argument(
        "--private-lr", type=float, default=None, help="learning rate of the private runs"
    )
    parser.add_argument(
        "--private-head-lr",
        type=float,
        default=None,
        help="learning rate of the task head in the private runs (default: --private-lr)",
    )
    parser.add_argument(
        "--private-clip",
        type=float,
        default=MAX_GRAD_NORM,
        help="per-example clipping norm of the private runs (the noise scales with it: a clip "
        "near the typical per-example gradient norm keeps more of the signal)",
    )
    parser.add_argument(
        "--private-schedule",
        choices=("linear", "cosine", "constant"),
        default="linear",
        help="learning-rate decay of the private runs after the 10%% warmup (a few dozen noisy "
        "steps may learn better at a constant rate than under a linear decay)",
    )
    parser.add_argument(
        "--private-clipping",
        choices=("auto", "per_example", "ghost"),
        default="auto",
        help="per-example gradients materialised, or ghost clipping (norms only, a second "
        "backward pass; less memory for full fine-tuning); auto: ghost for full, per_example "
        "for LoRA",
    )
    parser.add_argument(
        "--private-head-clip",
        type=float,
        default=None,
        help="group-wise clipping of the private runs: the task head's share of the clip "
        "(privacy.head_clip_fraction; the rest gets sqrt(1 - share^2)); default: one clip",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=42,
        help="training seed (initialisation, sampling, DP noise); the split's seed stays 42",
    )
    parser.add_argument("--max-seq-length", type=int, default=64)
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument(
        "--model",
        type=Path,
        default=None,
        help="model folder every contender starts from (default: all-MiniLM-L6-v2), e.g. a "
        "tuneforge run's model fine-tuned non-privately on public data of the same task",
    )
    parser.add_argument(
        "--public-pretrain",
        action="store_true",
        help="rt_sentences: fine-tune non-privately on the public tweets, Amazon and NYT "
        "snippets first (benchmarks.rt_sentences build-public) and start every contender from "
        "that model",
    )
    parser.add_argument("--audit", action="store_true", help="run tuneforge privacy audit too")
    parser.add_argument("--shadows", type=int, default=4)
    parser.add_argument(
        "--shadow-epochs", type=float, default=None, help="epochs per shadow (default: the run's)"
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    parser.add_argument("--work-dir", type=Path, default=None)
    parser.add_argument("--reuse", action="store_true", help="keep runs already in --work-dir")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    for contender in args.contenders:
        adaptation, _, epsilon = contender.partition(":")
        if adaptation not in PRIVATE_TRAINING or not (epsilon == "none" or _is_number(epsilon)):
            parser.error(f"--contenders {contender}: expected full|lora:none|<epsilon>")
    if args.public_pretrain and (args.dataset != "rt_sentences" or args.model is not None):
        parser.error("--public-pretrain: rt_sentences only, and not with --model")
    if args.quick:
        args.rows, args.epochs, args.layers, args.max_seq_length = 600, 1.0, 1, 32
    out_path = args.out or _harness.RESULTS_DIR / f"privacy_{args.dataset}.json"
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="tuneforge-privacy-"))
    work.mkdir(parents=True, exist_ok=True)
    data = None
    if args.dataset == "rt_sentences":
        from benchmarks.rt_sentences import build_rt_sentences

        data = build_rt_sentences(work / "rt_sentences.csv", rows=args.rows, seed=0)
    public_run = public_pretrain(args, work) if args.public_pretrain else None
    if public_run is not None:
        args.model = public_run / "model"
    public: dict[str, Any] | None = None
    rows: list[dict[str, Any]] = []
    for contender in args.contenders:
        rows.append(run_contender(args, data, contender, work))
        if public_run is not None and public is None:
            test_split = work / run_config(args, data, contender, work)["output"]["run_name"]
            public = public_summary(public_run, test_split / "splits" / "test.jsonl")
        # Written after every contender: a run cut short by a time limit keeps what it measured.
        payload = {
            "benchmark": "privacy",
            "settings": {key: str(value) for key, value in vars(args).items()},
            "private_batch": args.private_batch,
            "private_clip": args.private_clip,
            "machine": _harness.machine_info(),
            "public_pretrain": public,
            "rows": rows,
            "verdict": verdict(rows),
        }
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(table(rows))
    print(json.dumps(payload["verdict"], indent=2))


def _is_number(text: str) -> bool:
    try:
        return float(text) > 0
    except ValueError:
        return False


if __name__ == "__main__":
    main()
