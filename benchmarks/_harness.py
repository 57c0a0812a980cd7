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
import random
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
    train = splits.train
    if max_train and max_train < len(train):
        # A seeded sample, not the first rows: the split lists its examples grouped by label,
        # and a prefix would leave whole topics out of the subset.
        train = random.Random(seed).sample(train, max_train)
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


def _gemm_gflops(shapes: list[tuple[int, int, int]], dtype: Any, seconds: float) -> float:
    """GFLOP/s of running the (m, k, n) matrix products of ``shapes`` back to back."""
    import torch

    pairs = [(torch.randn(m, k, dtype=dtype), torch.randn(k, n, dtype=dtype)) for m, k, n in shapes]
    flops = sum(2 * m * k * n for m, k, n in shapes)
    for _ in range(3):  # warm-up: kernel selection, page faults
        for a, b in pairs:
            a @ b
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for a, b in pairs:
            a @ b
        count += 1
    return flops * count / (time.perf_counter() - started) / 1e9


def measure_matmul_peak(
    num_threads: int,
    size: int = 2048,
    seconds: float = 2.0,
    model_shape: tuple[int, int, int] | None = None,
) -> dict[str, float]:
    """GEMM throughput (GFLOP/s) in fp32 and bf16 with the threads the contenders use.

    ``{dtype}_gflops`` is a square ``size`` GEMM: the machine's peak. With ``model_shape`` =
    (tokens per batch, hidden size, intermediate size), ``{dtype}_model_gflops`` runs the six
    weight products of one transformer layer's forward at those shapes: the ceiling a training
    step can reach on this model, which is far below the square peak when the hidden size is
    small (the kernels' packing and threading costs do not shrink with it).
    """
    import torch

    torch.set_num_threads(num_threads)
    peaks = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        peaks[f"{name}_gflops"] = _gemm_gflops([(size, size, size)], dtype, seconds)
        if model_shape is not None:
            tokens, hidden, intermediate = model_shape
            layer = [(tokens, hidden, hidden)] * 4 + [
                (tokens, hidden, intermediate),
                (tokens, intermediate, hidden),
            ]
            peaks[f"{name}_model_gflops"] = _gemm_gflops(layer, dtype, seconds)
    return peaks


def cpu_description() -> dict[str, Any]:
    """The CPU's name and the instruction sets that decide which kernels run (bf16 and int8
    dot products): results from an AVX2 machine and an AMX one are not comparable."""
    info: dict[str, Any] = {"cpu_model": platform.processor() or platform.machine()}
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        text = cpuinfo.read_text(errors="replace")
        for line in text.splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
        flags = set(next((ln for ln in text.splitlines() if ln.startswith("flags")), "").split())
        wanted = (
            "avx2",
            "avx512f",
            "avx512_vnni",
            "avx_vnni",
            "avx512_bf16",
            "amx_bf16",
            "amx_int8",
        )
        info["isa"] = [flag for flag in wanted if flag in flags]
    return info


def median_by_contender(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Median of every numeric field, per contender (and its labels)."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(row["contender"], []).append(row)
    medians = {}
    for contender, runs in grouped.items():
        numeric = [key for key, value in runs[0].items() if isinstance(value, (int, float))]
        medians[contender] = {key: statistics.median(run[key] for run in runs) for key in numeric}
        # Labels such as the precision a contender ran in, kept when every repeat agrees.
        for key, value in runs[0].items():
            agreed = all(run.get(key) == value for run in runs)
            if isinstance(value, str) and key != "contender" and agreed:
                medians[contender][key] = value
        medians[contender]["repeats"] = len(runs)
    return medians


def machine_info() -> dict[str, Any]:
    import torch

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpus": os.cpu_count(),
        **cpu_description(),
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
