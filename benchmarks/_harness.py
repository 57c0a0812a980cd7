"""What every benchmark shares: the seeded BBC News split, contenders run as child processes with
their own peak RSS, medians and ratios, and the machine's measured matmul peak.

Each contender runs in a fresh child process (so one's allocator state, threads or compiled
kernels cannot help or hurt another) and the contenders alternate within each repeat, so slow
drift of the machine (thermal, other load) spreads evenly over them.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).parent / "results"


def bbc_news_split(max_train: int | None, seed: int = 42) -> tuple[list, list]:
    """(train, test) records of BBC News, cleaned and split exactly as tuneforge's config does."""
    from tuneforge.config import config_from_dict
    from tuneforge.data import prepare_dataset

    config = config_from_dict(
        {"data": {"source": "builtin:bbc-news", "split": {"seed": seed}}}, source="benchmark"
    )
    splits = prepare_dataset(config)
    train = splits.train[:max_train] if max_train else splits.train
    return train, splits.test


def run_child(module: str, args: list[str]) -> dict[str, Any]:
    """Run `python -m module args` and return its JSON result plus its own peak RSS (MiB)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    process = subprocess.Popen(
        [sys.executable, "-m", module, *args], stdout=subprocess.PIPE, env=env, text=True
    )
    stdout = process.stdout.read() if process.stdout else ""
    # wait4 returns the child's own rusage: its peak RSS alone, not the maximum over all children.
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{module} {' '.join(args)} failed with status {status}")
    result = json.loads(stdout.strip().splitlines()[-1])
    result["peak_rss_mib"] = usage.ru_maxrss / 1024  # Linux reports KiB
    return result


def measure_matmul_peak(
    num_threads: int, size: int = 2048, seconds: float = 2.0
) -> dict[str, float]:
    """GEMM throughput (GFLOP/s) in fp32 and bf16 with the threads the contenders use."""
    import torch

    torch.set_num_threads(num_threads)
    peaks = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        a = torch.randn(size, size, dtype=dtype)
        b = torch.randn(size, size, dtype=dtype)
        for _ in range(3):
            a @ b  # warm-up: kernel selection, page faults
        count, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            a @ b
            count += 1
        elapsed = time.perf_counter() - started
        peaks[f"{name}_gflops"] = 2 * size**3 * count / elapsed / 1e9
    return peaks


def median_by_contender(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Median of every numeric field, per contender."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(row["contender"], []).append(row)
    medians = {}
    for contender, runs in grouped.items():
        numeric = [key for key, value in runs[0].items() if isinstance(value, (int, float))]
        medians[contender] = {key: statistics.median(run[key] for run in runs) for key in numeric}
        medians[contender]["repeats"] = len(runs)
    return medians


def machine_info() -> dict[str, Any]:
    import torch

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpus": os.cpu_count(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def markdown_table(columns: list[str], rows: list[list[Any]]) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
        return str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines)


def write_results(name: str, payload: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return path
