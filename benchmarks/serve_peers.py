"""Serving against a peer: `tuneforge serve` and Infinity serve the same fine-tuned classifier.

    python -m benchmarks.serve_peers --run runs/rt_sentences [--concurrency 1 8 32]
        [--duration 20] [--repeats 2] [--threads 1] [--cache-dir ~/.cache/tuneforge-bench]
        [--extra-run openvino-int8=runs/rt_sentences-openvino-int8]
        [--variant wait20=batching.max_wait_ms=20]

Infinity (`infinity-emb`, https://github.com/michaelfeil/infinity) runs from a virtual
environment of its own, built here on first use under ``--cache-dir`` (it pins transformers,
numpy and typer below what tuneforge uses): torch==2.13.0 first (the CPU build; a bare torch
requirement pulls a multi-GB CUDA build), then ``infinity-emb[server,torch]``, then ``optimum``
if it installs. Its telemetry is off (DO_NOT_TRACK=1) and both servers bind 127.0.0.1.

Both serve the run's saved model on CPU with API keys required, in the dtype tuneforge's
predictor picks for the run (bf16 on a CPU with native bf16), with the same torch threads
(``--threads``; tokenizer threads off in both), the same maximum length (the run's
max_seq_length: Infinity reads it from the model folder's tokenizer_config.json, rewritten in a
copy) and the same largest batch (32). Each server session answers every test text once (for
label agreement; it doubles as warm-up), then takes one text per request from each of
``--concurrency`` clients for ``--duration`` seconds at each level after a 3 s warm-up; the
server's CPU seconds (process and children, psutil) are read around each measured window.
Sessions alternate tuneforge, Infinity, each ``--extra-run`` (another run, e.g. the same model
compressed, served by tuneforge), each ``--variant`` (the run served with other settings), then
again (``--repeats`` of each); figures are medians over the repeats, errors their sum. Writes
benchmarks/results/serve_peers.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

from benchmarks import _harness
from benchmarks.serve_load import (
    UNLIMITED_RATE,
    WARMUP_S,
    Endpoint,
    latency_summary,
    send_load,
)

DEFAULT_CACHE_DIR = Path.home() / ".cache" / "tuneforge-bench"
TORCH_REQUIREMENT = "torch==2.13.0"  # the CPU build on this machine's disk, as scripts/install.sh
INFINITY_REQUIREMENT = "infinity-emb[server,torch]==0.0.78"
OPTIONAL_REQUIREMENT = "optimum"  # Infinity's ONNX engine; the benchmark does not need it
MODEL = "clf"
MAX_BATCH_SIZE = 32  # tuneforge serve's default batching.max_batch_size and Infinity's default
LABEL_PASS_CONCURRENCY = 8
OURS, PEER = "tuneforge", "infinity"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.serve_peers")
    parser.add_argument("--run", type=Path, required=True, help="a finished classification run")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds per level")
    parser.add_argument("--repeats", type=int, default=2, help="sessions of each server")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of both servers")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR)
    parser.add_argument("--out", default="serve_peers", help="results file name (no .json)")
    parser.add_argument(
        "--extra-run",
        action="append",
        default=[],
        metavar="NAME=RUN",
        help="also serve this run (e.g. the same model compressed) with tuneforge as 'tuneforge NAME'",
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=KEY=VALUE[,KEY=VALUE]",
        help="also serve the run with these serve settings as 'tuneforge NAME', e.g. "
        "wait20=batching.max_wait_ms=20 (a setting A/B in the same alternation)",
    )
    args = parser.parse_args(argv)
    if min(args.concurrency) < 1 or args.repeats < 1 or args.threads < 1 or args.duration <= 0:
        parser.error("--concurrency, --repeats, --threads and --duration must be positive")
    extra: dict[str, Path] = {}
    for item in args.extra_run:
        name, _, path = item.partition("=")
        if not name or not path or name in extra:
            parser.error(f"--extra-run {item!r}: expected a new NAME=RUN")
        extra[name] = Path(path)
    args.extra_run = extra
    variants: dict[str, dict[str, Any]] = {}
    for item in args.variant:
        name, _, settings = item.partition("=")
        if not name or not settings or name in variants or name in extra:
            parser.error(f"--variant {item!r}: expected a new NAME=KEY=VALUE[,KEY=VALUE]")
        try:
            variants[name] = dict(_setting(pair) for pair in settings.split(","))
        except ValueError as error:
            parser.error(f"--variant {item!r}: {error}")
    args.variant = variants
    return args


def _setting(pair: str) -> tuple[str, Any]:
    """'batching.max_wait_ms=20' -> ('batching.max_wait_ms', 20); values are read as YAML."""
    key, sep, value = pair.partition("=")
    if not key or not sep:
        raise ValueError(f"{pair!r} is not KEY=VALUE")
    return key, yaml.safe_load(value)


def with_settings(config: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """A copy of a serve config with dotted keys set (models.inference_threads=2)."""
    config = copy.deepcopy(config)
    for key, value in settings.items():
        *parents, last = key.split(".")
        section = config
        for part in parents:
            section = section.setdefault(part, {})
        section[last] = value
    return config


def server_names(extra_runs: dict[str, Path], variants: Iterable[str] = ()) -> list[str]:
    """The sessions of one repeat, in order: tuneforge, Infinity, each extra run, each variant."""
    return [OURS, PEER, *(f"{OURS} {name}" for name in [*extra_runs, *variants])]


def infinity_venv_commands(venv_dir: Path, python: str) -> list[list[str]]:
    """The commands that build Infinity's environment, in order (torch first, pinned)."""
    pip = [str(venv_dir / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    return [
        [python, "-m", "venv", str(venv_dir)],
        [*pip, TORCH_REQUIREMENT],
        [*pip, INFINITY_REQUIREMENT],
    ]


def ensure_infinity_venv(cache_dir: Path) -> Path:
    """Infinity's virtual environment under `cache_dir`, built once; returns its folder."""
    venv_dir = cache_dir / "infinity-venv"
    marker = venv_dir / "tuneforge-bench.json"
    wanted = [TORCH_REQUIREMENT, INFINITY_REQUIREMENT]
    if marker.is_file() and json.loads(marker.read_text())["requirements"] == wanted:
        return venv_dir
    shutil.rmtree(venv_dir, ignore_errors=True)  # a half-built or outdated one
    venv_dir.parent.mkdir(parents=True, exist_ok=True)
    # The base interpreter, not this venv's: the new venv must not see tuneforge's packages.
    python = getattr(sys, "_base_executable", sys.executable)
    for command in infinity_venv_commands(venv_dir, python):
        print(f"infinity venv: {' '.join(command)}", file=sys.stderr)
        subprocess.run(command, check=True)
    pip = [str(venv_dir / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    optional = subprocess.run([*pip, OPTIONAL_REQUIREMENT], check=False).returncode == 0
    marker.write_text(json.dumps({"requirements": wanted, "optimum": optional}))
    return venv_dir


def infinity_model_folder(model_dir: Path, dest: Path, max_seq_length: int) -> Path:
    """A copy of the saved model for Infinity, truncating at `max_seq_length` as tuneforge does.

    Infinity's classifier calls the transformers pipeline with truncation=True, which cuts at
    the tokenizer's model_max_length (512 here); the copy's tokenizer_config.json says
    max_seq_length instead. The other files are symlinks.
    """
    dest.mkdir(parents=True, exist_ok=True)
    for source in model_dir.iterdir():
        if source.is_file() and source.name != "tokenizer_config.json":
            (dest / source.name).symlink_to(source.resolve())
    config = json.loads((model_dir / "tokenizer_config.json").read_text(encoding="utf-8"))
    config["model_max_length"] = max_seq_length
    (dest / "tokenizer_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    return dest


def thread_env(threads: int) -> dict[str, str]:
    """The same compute threads for both servers; tokenizer threads off in both."""
    return {
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "TOKENIZERS_PARALLELISM": "false",
        "HF_HUB_OFFLINE": "1",
    }


def infinity_command(venv_dir: Path, model_dir: Path, port: int, key: str, dtype: str) -> list[str]:
    return [
        str(venv_dir / "bin" / "infinity_emb"),
        "v2",
        "--model-id", str(model_dir),
        "--served-model-name", MODEL,
        "--engine", "torch",
        "--device", "cpu",
        "--dtype", dtype,
        "--batch-size", str(MAX_BATCH_SIZE),
        "--no-vector-disk-cache",  # a cache would answer repeated texts without the model
        "--api-key", key,
        "--host", "127.0.0.1",
        "--port", str(port),
        "--log-level", "warning",
    ]  # fmt: skip


@contextlib.contextmanager
def infinity_server(
    venv_dir: Path, model_dir: Path, key: str, dtype: str, threads: int, workdir: Path
) -> Iterator[Any]:
    """Start Infinity on a free loopback port; yield a ServerChild once /health answers; stop
    its whole process group on exit."""
    from tuneforge.serve.process import ServerChild, free_port, wait_until_ready

    port = free_port()
    log_path = workdir / f"infinity-{port}.log"
    env = {
        **os.environ,
        **thread_env(threads),
        "DO_NOT_TRACK": "1",  # infinity_emb/env.py: either variable turns posthog off
        "INFINITY_ANONYMOUS_USAGE_STATS": "0",
        "INFINITY_HOME": str(workdir / "infinity-home"),
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            infinity_command(venv_dir, model_dir, port, key, dtype),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_until_ready(process, f"{url}/health", 300, log_path)
            yield ServerChild(url, process.pid)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def tuneforge_label_endpoint(base_url: str, key: str, model: str = MODEL) -> Endpoint:
    return Endpoint(
        url=f"{base_url}/v1/models/{model}/predict",
        headers={"Authorization": f"Bearer {key}"},
        body=lambda text: {"inputs": [text]},
        answer=lambda payload: payload["predictions"][0]["label"],
    )


def infinity_label_endpoint(base_url: str, key: str) -> Endpoint:
    return Endpoint(
        url=f"{base_url}/classify",
        headers={"Authorization": f"Bearer {key}"},
        body=lambda text: {"model": MODEL, "input": [text]},
        # One list of {label, score} per input, every label scored (pipeline top_k=None).
        answer=lambda payload: max(payload["data"][0], key=lambda item: item["score"])["label"],
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its children (live and reaped)."""
    import psutil

    process = psutil.Process(pid)
    times = process.cpu_times()
    total = times.user + times.system + times.children_user + times.children_system
    for child in process.children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            child_times = child.cpu_times()
            total += child_times.user + child_times.system
    return total


def label_agreement(first: dict[int, Any], second: dict[int, Any]) -> dict[str, Any]:
    """How many texts answered by both servers got the same label."""
    common = sorted(first.keys() & second.keys())
    agreeing = sum(first[index] == second[index] for index in common)
    return {
        "texts": len(common),
        "agreeing": agreeing,
        "agreement": agreeing / len(common) if common else None,
    }


def measure_level(
    pid: int, endpoint: Endpoint, texts: list[str], concurrency: int, duration_s: float
) -> dict[str, Any]:
    """One concurrency level: warm-up, then `duration_s` of load with the server's CPU read."""
    asyncio.run(send_load(endpoint, texts, concurrency, WARMUP_S, warmup_s=0))
    cpu_before = cpu_seconds(pid)
    records, elapsed, _ = asyncio.run(
        send_load(endpoint, texts, concurrency, duration_s, warmup_s=0)
    )
    cpu_used = cpu_seconds(pid) - cpu_before
    summary = latency_summary(records, elapsed)
    answered = summary["requests"] - summary["errors"]
    # One text per request, so texts/s is requests/s.
    summary["texts_per_s"] = summary.pop("throughput_rps")
    summary["cpu_s_per_1000_texts"] = 1000 * cpu_used / answered if answered else None
    return summary


def label_pass(endpoint: Endpoint, texts: list[str]) -> tuple[dict[int, Any], int]:
    """Every text once: its label by index, and the number of failed requests."""
    records, _, _ = asyncio.run(
        send_load(
            endpoint, texts, LABEL_PASS_CONCURRENCY, 3600, warmup_s=0, max_requests=len(texts)
        )
    )
    labels = {record.text_index: record.answer for record in records if record.status == 200}
    return labels, len(records) - len(labels)


def aggregate(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Median of every figure per server and concurrency; errors summed over the repeats."""
    medians = _harness.median_by_contender(rows)
    for name, median in medians.items():
        median["errors"] = sum(row["errors"] for row in rows if row["contender"] == name)
        median["requests"] = sum(row["requests"] for row in rows if row["contender"] == name)
    return medians


def contender(server: str, concurrency: int) -> str:
    return f"{server}@{concurrency}"


def comparison_rows(
    medians: dict[str, dict[str, Any]], levels: list[int], servers: list[str]
) -> list[list[Any]]:
    """Table rows: each level's servers, then each tuneforge server's ratio to Infinity."""
    rows = []
    for level in levels:
        for server in servers:
            m = medians[contender(server, level)]
            rows.append(
                [level, server, m["requests"], m["texts_per_s"], m["p50_ms"], m["p99_ms"],
                 m["cpu_s_per_1000_texts"], m["errors"]]
            )  # fmt: skip
        theirs = medians[contender(PEER, level)]
        for server in servers:
            if server == PEER:
                continue
            ours = medians[contender(server, level)]
            rows.append(
                [level, f"{server} / {PEER}", "", ours["texts_per_s"] / theirs["texts_per_s"],
                 ours["p50_ms"] / theirs["p50_ms"], ours["p99_ms"] / theirs["p99_ms"],
                 ours["cpu_s_per_1000_texts"] / theirs["cpu_s_per_1000_texts"], ""]
            )  # fmt: skip
    return rows


def split_texts(run_dir: Path) -> list[str]:
    with (run_dir / "splits" / "test.jsonl").open(encoding="utf-8") as handle:
        return [json.loads(line)["text"] for line in handle]


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    from tuneforge.predict import load_predictor

    venv_dir = ensure_infinity_venv(args.cache_dir)
    texts = split_texts(args.run)
    # The dtype tuneforge's predictor computes in for this run here; Infinity gets the same.
    predictor = load_predictor(args.run, device="cpu")
    precision, max_seq_length = predictor.precision, predictor.max_seq_length
    del predictor
    dtype = {"bf16": "bfloat16", "fp32": "float32"}[precision]
    servers = server_names(args.extra_run, args.variant)

    loads = [os.getloadavg()]
    started = time.time()
    rows, labels, label_errors = run_sessions(args, servers, venv_dir, texts, dtype, max_seq_length)
    loads.append(os.getloadavg())

    medians = aggregate(rows)
    agreement = {
        server: [label_agreement(ours, theirs) for ours, theirs in zip(
            labels[server], labels[PEER], strict=True)]
        for server in servers if server != PEER
    }  # fmt: skip
    columns = ["clients", "server", "requests", "texts/s", "p50 ms", "p99 ms",
               "CPU s / 1k texts", "errors"]  # fmt: skip
    print(_harness.markdown_table(columns, comparison_rows(medians, args.concurrency, servers)))
    for server, pairs in agreement.items():
        agreed = ", ".join(f"{pair['agreeing']}/{pair['texts']}" for pair in pairs)
        print(f"label agreement {server} vs {PEER}, per repeat: {agreed}")
    print(f"label-pass errors: {label_errors}")
    top = max(args.concurrency)
    ours, theirs = medians[contender(OURS, top)], medians[contender(PEER, top)]
    ratio = ours["texts_per_s"] / theirs["texts_per_s"]
    print(
        f"at {top} clients: tuneforge {ratio:.2f}x Infinity's throughput (target >= 1.5x), "
        f"p99 {ours['p99_ms']:.0f} vs {theirs['p99_ms']:.0f} ms (target: no worse), "
        f"tuneforge errors {ours['errors']} (target 0)"
    )
    marker = json.loads((venv_dir / "tuneforge-bench.json").read_text())
    path = _harness.write_results(
        args.out,
        {
            "run": str(args.run),
            "extra_runs": {name: str(run) for name, run in args.extra_run.items()},
            "variants": args.variant,
            "texts": len(texts),
            "mean_text_chars": sum(map(len, texts)) / len(texts),
            "texts_per_request": 1,
            "concurrency": args.concurrency,
            "duration_s": args.duration,
            "repeats": args.repeats,
            "threads": args.threads,
            "dtype": dtype,
            "max_seq_length": max_seq_length,
            "max_batch_size": MAX_BATCH_SIZE,
            "infinity": {"requirements": marker["requirements"], "optimum": marker["optimum"]},
            "medians": medians,
            "runs": rows,
            "label_agreement": agreement,
            "label_pass_errors": label_errors,
            "throughput_ratio_at_max_concurrency": ratio,
            "load_average_before_after": loads,
            "wall_s": time.time() - started,
            "machine": _harness.machine_info(),
            "date": time.strftime("%Y-%m-%d"),
        },
    )
    print(f"wrote {path}", file=sys.stderr)


def run_sessions(
    args: argparse.Namespace,
    servers: list[str],
    venv_dir: Path,
    texts: list[str],
    dtype: str,
    max_seq_length: int,
) -> tuple[list[dict[str, Any]], dict[str, list[dict[int, Any]]], dict[str, int]]:
    """Every server session of every repeat, in turn: per-level rows, labels, failed labels."""
    from tuneforge.registry import open_registry
    from tuneforge.serve.process import serve_child

    rows: list[dict[str, Any]] = []
    labels: dict[str, list[dict[int, Any]]] = {server: [] for server in servers}
    label_errors = dict.fromkeys(servers, 0)
    with tempfile.TemporaryDirectory(prefix="serve-peers-") as folder:
        workdir = Path(folder)
        model_copy = infinity_model_folder(args.run / "model", workdir / "model", max_seq_length)
        registry = open_registry(workdir / "registry")
        models = {OURS: MODEL, **{f"{OURS} {name}": f"{MODEL}-{name}" for name in args.extra_run}}
        for name, run in args.extra_run.items():
            registry.push(run, models[f"{OURS} {name}"], stage="production")
        registry.push(args.run, MODEL, stage="production")
        _, key = registry.create_key(
            "bench", list(models.values()), rate_limit_per_minute=UNLIMITED_RATE
        )
        tuneforge_config = {
            "registry": str(workdir / "registry"),
            "log_level": "warning",
            "models": {"inference_threads": args.threads, "device": "cpu"},
        }
        for repeat in range(args.repeats):
            for server in servers:  # alternating sessions: A, B, A, B, ...
                print(f"repeat {repeat + 1}/{args.repeats}: {server}", file=sys.stderr)
                if server == PEER:
                    session = infinity_server(
                        venv_dir, model_copy, key, dtype, args.threads, workdir
                    )
                else:
                    settings = args.variant.get(server.removeprefix(f"{OURS} "), {})
                    session = serve_child(
                        with_settings(tuneforge_config, settings), env=thread_env(args.threads)
                    )
                with session as child:
                    endpoint = (
                        infinity_label_endpoint(child.url, key)
                        if server == PEER
                        else tuneforge_label_endpoint(child.url, key, models.get(server, MODEL))
                    )
                    answered, failed = label_pass(endpoint, texts)
                    labels[server].append(answered)
                    label_errors[server] += failed
                    for level in args.concurrency:
                        result = measure_level(child.pid, endpoint, texts, level, args.duration)
                        rows.append({"contender": contender(server, level), **result})
                        print(f"  c={level}: {json.dumps(result)}", file=sys.stderr)
    return rows, labels, label_errors


if __name__ == "__main__":
    main()
