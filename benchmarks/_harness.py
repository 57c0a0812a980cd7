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
        warm_up = time.perf_counter()
        for a, b in pairs:
            a @ b
        if time.perf_counter() - warm_up > seconds / 4:  # a slow kernel: one pass warms it
            break
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

    ``{dtype}_gflops`` is a square GEMM of side ``size`` (smaller for a dtype so slow that
    one product would not fit in ``seconds``): the machine's peak. With ``model_shape`` =
    (tokens per batch, hidden size, intermediate size), ``{dtype}_model_gflops`` runs the six
    weight products of one transformer layer's forward at those shapes: the ceiling a training
    step can reach on this model, which is far below the square peak when the hidden size is
    small (the kernels' packing and threading costs do not shrink with it).
    """
    import torch

    torch.set_num_threads(num_threads)
    peaks = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        # An emulated dtype (bf16 on a CPU without bf16 units: 0.3 GFLOP/s on an AVX2 EPYC)
        # takes a minute per 2048-wide product; a probe shrinks the matrix so warm-up and
        # timing fit in ``seconds`` (the rate of a slow reference kernel hardly depends on it).
        probe = _gemm_gflops([(256, 256, 256)], dtype, min(seconds, 0.2))
        side = max(256, min(size, int((probe * 1e9 * seconds / 8) ** (1 / 3))))
        peaks[f"{name}_gflops"] = _gemm_gflops([(side, side, side)], dtype, seconds)
        if model_shape is not None:
            peaks[f"{name}_model_gflops"] = _gemm_gflops(
                layer_gemm_shapes(*model_shape), dtype, seconds
            )
    return peaks


def layer_gemm_shapes(tokens: int, hidden: int, intermediate: int) -> list[tuple[int, int, int]]:
    """The (m, k, n) weight products of one BERT layer's forward, in order: Q, K, V and
    attention output projections, then the feed-forward up and down projections."""
    return [(tokens, hidden, hidden)] * 4 + [
        (tokens, hidden, intermediate),
        (tokens, intermediate, hidden),
    ]


def weight_gemm_flops(lengths: list[int], hidden: int, intermediate: int, layers: int) -> float:
    """Forward FLOPs of the encoder's weight products over texts of these token counts: the
    work an int8 or fp32 kernel must do whatever else the runtime fuses or skips."""
    per_token = sum(2 * k * n for _, k, n in layer_gemm_shapes(1, hidden, intermediate))
    return float(per_token * layers * sum(lengths))


def measure_int8_gemm_peak(
    num_threads: int, shapes: list[tuple[int, int, int]], seconds: float = 2.0
) -> float:
    """GOP/s of ONNX Runtime's DynamicQuantizeMatMul (the op `onnx-int8-dynamic` writes:
    activations quantized on the fly, int8 weights) over ``shapes`` chained in one graph, each
    product's output the next one's input (so consecutive k must match the previous n).

    This is the ceiling of an int8 model's weight products on this CPU with the kernels ONNX
    Runtime picks for it (VNNI/AMX where present, plain AVX2 otherwise). One session, not one
    per shape: idle ONNX Runtime thread pools spin and would steal the cores from each other.
    """
    import numpy as np
    import onnxruntime
    from onnx import TensorProto, helper

    rng = np.random.default_rng(0)
    nodes, initializers = [], []
    for index, (_, k, n) in enumerate(shapes):
        weights = rng.integers(-127, 128, size=(k, n), dtype=np.int8)
        # Scaled so activations stay near unit size along the chain (no inf after 6 products).
        scale = 1.0 / (127 * k**0.5)
        initializers += [
            helper.make_tensor(f"w{index}", TensorProto.INT8, [k, n], weights.tobytes(), raw=True),
            helper.make_tensor(f"s{index}", TensorProto.FLOAT, [], [scale]),
            helper.make_tensor(f"z{index}", TensorProto.INT8, [], [0]),
        ]
        nodes.append(
            helper.make_node(
                "DynamicQuantizeMatMul",
                [f"x{index}", f"w{index}", f"s{index}", f"z{index}"],
                [f"x{index + 1}"],
                domain="com.microsoft",
            )
        )
    (m, k, _), n = shapes[0], shapes[-1][2]
    graph = helper.make_graph(
        nodes,
        "weight_gemms",
        [helper.make_tensor_value_info("x0", TensorProto.FLOAT, [m, k])],
        [helper.make_tensor_value_info(f"x{len(shapes)}", TensorProto.FLOAT, [m, n])],
        initializer=initializers,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    )
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = num_threads
    session = onnxruntime.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    feed = {"x0": rng.standard_normal((m, k), dtype=np.float32)}
    for _ in range(3):  # warm-up: weight packing, page faults
        session.run(None, feed)
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        session.run(None, feed)
        count += 1
    return sum(2 * m * k * n for m, k, n in shapes) * count / (time.perf_counter() - started) / 1e9


def inference_ceilings(
    model_dir: Path, texts: list[str], max_length: int, threads: int, batch_size: int = 32
) -> dict[str, float]:
    """The fastest any runtime could predict ``texts`` with this model on this CPU, from the
    encoder's weight products alone (attention, LayerNorm, GELU and the runtime's own overhead
    counted as free): their FLOPs per text over the best rate this CPU runs GEMMs at (the
    better of one layer's products at the model's shapes and a square 2048 product), in fp32
    and bf16 (PyTorch) and int8 (ONNX Runtime). A speed-up target above the ceiling's ratio
    cannot be met on this machine by any kernel or graph tuning."""
    from transformers import AutoConfig, AutoTokenizer

    config = AutoConfig.from_pretrained(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    encoded = tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]
    lengths = [len(ids) for ids in encoded]
    hidden, intermediate = config.hidden_size, config.intermediate_size
    flops = weight_gemm_flops(lengths, hidden, intermediate, config.num_hidden_layers)
    per_text = flops / len(texts)
    tokens = batch_size * round(sum(lengths) / len(lengths))
    shape = (tokens, hidden, intermediate)
    peaks = measure_matmul_peak(threads, model_shape=shape)
    rates = {
        "fp32": max(peaks["fp32_gflops"], peaks["fp32_model_gflops"]),
        "bf16": max(peaks["bf16_gflops"], peaks["bf16_model_gflops"]),
        "int8": max(
            measure_int8_gemm_peak(threads, layer_gemm_shapes(*shape)),
            measure_int8_gemm_peak(threads, [(2048, 2048, 2048)]),
        ),
    }
    return {
        "weight_gflop_per_text": per_text / 1e9,
        "layer_gemm_tokens": tokens,
        **{f"{name}_gemm_rate": rate for name, rate in rates.items()},
        **{f"{name}_ceiling_per_s": rate * 1e9 / per_text for name, rate in rates.items()},
    }


def ceiling_lines(ceilings: dict[str, float], baseline_per_s: float, baseline: str) -> str:
    """Markdown lines: each precision's ceiling in texts/s and as a multiple of the baseline."""
    lines = [
        f"Hardware ceilings (encoder weight GEMMs only, {ceilings['weight_gflop_per_text']:.2f} "
        f"GFLOP per text, at the best GEMM rate measured):"
    ]
    for precision, unit in (("fp32", "GFLOP/s"), ("bf16", "GFLOP/s"), ("int8", "GOP/s")):
        per_s = ceilings[f"{precision}_ceiling_per_s"]
        lines.append(
            f"- {precision}: {ceilings[f'{precision}_gemm_rate']:.1f} {unit} -> at most "
            f"{per_s:.1f} texts/s = {per_s / baseline_per_s:.2f}x {baseline}"
        )
    return "\n".join(lines)


def cpu_description() -> dict[str, Any]:
    """The CPU's name and the instruction sets that decide which kernels run (bf16 and int8
    dot products): results from an AVX2 machine and an AMX one are not comparable."""
    from tuneforge.inference import cpu_flags

    info: dict[str, Any] = {"cpu_model": platform.processor() or platform.machine()}
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
    wanted = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8")
    info["isa"] = [flag for flag in wanted if flag in cpu_flags()]
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
