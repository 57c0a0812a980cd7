"""The trade-off report: markdown table, model card of a compressed run, and the Pareto plot."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuneforge.run import layout
from tuneforge.run.layout import MODEL_DIR

if TYPE_CHECKING:
    from tuneforge.compress.methods import SourceRun
    from tuneforge.compress.run import Variant

_MEGABYTE = 1_000_000


def tradeoff_rows(task_type: str, variants: list[Variant]) -> list[dict[str, Any]]:
    """One row per variant with its measurements and its ratios to the first (the original)."""
    from tuneforge.compress.run import headline

    base = variants[0].measurements
    _, base_metric = headline(task_type, variants[0].metrics)
    rows = []
    for variant in variants:
        metric_name, metric = headline(task_type, variant.metrics)
        measured = variant.measurements
        rows.append(
            {
                "method": variant.name,
                "run_dir": str(variant.run_dir),
                "metric": metric_name,
                "value": metric,
                "change_points": None
                if metric is None or base_metric is None
                else (metric - base_metric) * 100,
                "accuracy": variant.metrics.get("accuracy"),
                "size_mb": measured["size_bytes"] / _MEGABYTE,
                "size_ratio": measured["size_bytes"] / base["size_bytes"],
                "parameters": measured["parameters"],
                "nonzero_parameters": measured["nonzero_parameters"],
                "latency_p50_ms": measured["latency_p50_ms"],
                "throughput_per_s": measured["throughput_per_s"],
                "speedup": measured["throughput_per_s"] / base["throughput_per_s"],
                "max_abs_diff": variant.details.get("max_abs_diff"),
            }
        )
    return rows


def tradeoff_markdown(rows: list[dict[str, Any]]) -> str:
    """The rows as a markdown table (metric in points, size in MB, speed-up vs the original)."""
    metric = rows[0]["metric"] if rows else "metric"
    header = (
        f"| method | {metric} | change (points) | size MB | size vs original | parameters "
        "(non-zero) | p50 latency batch 1 (ms) | throughput batch 32 (texts/s) | speed-up |\n"
        "|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for row in rows:
        value = "n/a" if row["value"] is None else f"{row['value']:.4f}"
        change = "n/a" if row["change_points"] is None else f"{row['change_points']:+.2f}"
        lines.append(
            f"| {row['method']} | {value} | {change} | {row['size_mb']:.1f} | "
            f"{row['size_ratio']:.0%} | {row['parameters']:,} ({row['nonzero_parameters']:,}) | "
            f"{row['latency_p50_ms']:.1f} | {row['throughput_per_s']:.1f} | "
            f"{row['speedup']:.2f}x |"
        )
    return header + "\n".join(lines) + "\n"


def write_compressed_model_card(
    run_dir: Path, name: str, source: SourceRun, report: dict[str, Any], variants: list[Variant]
) -> None:
    """model_card.md (and model/README.md) of a compressed run, with the trade-off table."""
    rows = tradeoff_rows(source.task_type, variants)
    info = source.info
    method = report["method"].rsplit("+", 1)[-1]  # a chain runs with its last method's backend
    backend = {"onnx": "ONNX Runtime", "openvino": "OpenVINO"}.get(
        method.split("-", 1)[0], "PyTorch"
    )
    details = "\n".join(
        f"- {key}: {value}" for key, value in report["details"].items() if _short(value)
    )
    original_run = report.get("original_run", report["source_run"])
    chained = (
        f"\nThe original it is measured against is `{original_run}`, where the chain of "
        "compressions started.\n"
        if original_run != report["source_run"]
        else ""
    )
    card = f"""# Model card: {name}

Compressed with `tuneforge compress --method {report["method"]}` from the run
`{report["source_run"]}` (base model `{info.base_model}`, task **{info.task}**,
labels: {", ".join(info.label_names[:30])}). Runs with {backend}.
{chained}
## Trade-off, measured in one process against the original
Test split of the source run ({variants[0].measurements["measured_examples"]} texts timed,
median of {report["options"]["measure_repeats"]} repeats after warm-up, tokenisation included).

{tradeoff_markdown(rows)}
## Method details
{details or "- none"}

## Intended use and limitations
The source run's model card applies: same data, labels and limits. Compression changes the
numbers above and nothing else; check the change column before replacing the original.
"""
    (run_dir / layout.MODEL_CARD_FILE).write_text(card, encoding="utf-8")
    (run_dir / MODEL_DIR / "README.md").write_text(card, encoding="utf-8")


def _short(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) or (
        isinstance(value, list | dict) and len(str(value)) < 200
    )


def pareto_front(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows no other row beats on both quality and throughput, by throughput."""
    scored = [row for row in rows if row["value"] is not None]
    front = [
        row
        for row in scored
        if not any(
            other["value"] >= row["value"]
            and other["throughput_per_s"] >= row["throughput_per_s"]
            and (
                other["value"] > row["value"] or other["throughput_per_s"] > row["throughput_per_s"]
            )
            for other in scored
        )
    ]
    return sorted(front, key=lambda row: row["throughput_per_s"])


def plot_pareto(rows: list[dict[str, Any]], path: Path, title: str) -> Path:
    """Quality against throughput, one point per method sized by its file size, with the
    Pareto front drawn through the undominated points."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7.0, 5.0), dpi=120, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    scored = [row for row in rows if row["value"] is not None]
    largest = max(row["size_mb"] for row in scored) if scored else 1.0
    for index, row in enumerate(scored):
        axes.scatter(
            row["throughput_per_s"],
            row["value"],
            s=40 + 400 * row["size_mb"] / largest,
            alpha=0.6,
        )
        axes.annotate(
            f"{row['method']}\n{row['size_mb']:.1f} MB",
            (row["throughput_per_s"], row["value"]),
            textcoords="offset points",
            # Alternate above/below: variants of equal quality and speed would overlap.
            xytext=(6, 6 if index % 2 == 0 else -22),
            fontsize=8,
        )
    front = pareto_front(rows)
    if len(front) > 1:
        axes.plot(
            [row["throughput_per_s"] for row in front],
            [row["value"] for row in front],
            linestyle="--",
            color="grey",
            label="Pareto front",
        )
        axes.legend(loc="lower left")
    axes.margins(x=0.2, y=0.15)  # room for the labels of the outermost points
    axes.set_xlabel("throughput at batch 32 (texts/s)")
    axes.set_ylabel(f"test {rows[0]['metric'] if rows else 'metric'}")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    return path
