"""`tuneforge compress RUN --sweep`: every method that applies, one trade-off table and plot.

The report goes to ``<run>/compression/`` (tradeoff.json, tradeoff.md, pareto.png) and the source
run's model card gets a short section pointing at it; the source's model files are not touched.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tuneforge._atomic import write_json_atomic
from tuneforge.compress.methods import (
    CompressOptions,
    SourceRun,
    methods_for_task,
)
from tuneforge.compress.report import plot_pareto, tradeoff_markdown, tradeoff_rows
from tuneforge.compress.run import Variant, compress_run, default_output_dir, measure_original
from tuneforge.console import CountedProgress
from tuneforge.errors import TuneforgeError
from tuneforge.run import layout

REPORT_DIR = "compression"
_CARD_MARKER = "<!-- tuneforge compress sweep -->"
# Pairs of methods that compose: the second applied to the first one's output. A smaller
# student, then quantized, is the fastest model a sweep can offer (BBC News on a 2-core AVX2
# EPYC: distill 2.0x the original, distill then int8 3.0x, at +1 point macro-F1). The row is
# added when the sweep runs both methods.
CHAINS = (("distill", "onnx-int8-dynamic"), ("distill", "openvino-int8"))


def chain_name(steps: tuple[str, ...]) -> str:
    """The row and folder name of a chained compression, e.g. "distill+onnx-int8-dynamic"."""
    return "+".join(steps)


def sweep_methods(task_type: str, skip_training: bool = False) -> list[str]:
    """Names of the methods that apply to a task, optionally without those that fine-tune."""
    return [
        method.name
        for method in methods_for_task(task_type)
        if not (skip_training and method.trains)
    ]


def sweep_run(
    run_dir: str | Path,
    options: CompressOptions | None = None,
    methods: list[str] | None = None,
    output_root: str | Path | None = None,
    *,
    skip_training: bool = False,
    overwrite: bool = False,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Compress ``run_dir`` with every applicable method and report the trade-off.

    Args:
        run_dir: the finished source run.
        options: settings shared by the methods.
        methods: the methods to run (default: all that apply to the run's task).
        output_root: folder of the compressed runs (default: next to the source run).
        skip_training: leave out methods that fine-tune (pruning recovery, distillation).
        overwrite: replace compressed run folders left by an earlier sweep.
        show_progress: a rich progress bar on stderr.

    Returns:
        The report written to ``<run>/compression/tradeoff.json``. A method that refuses (a
        TuneforgeError: too little calibration data, options that do not fit the model) is
        listed under "failed" with its reason and the sweep goes on.
    """

    options = options or CompressOptions()
    source = SourceRun.open(run_dir)
    names = methods or sweep_methods(source.task_type, skip_training)
    chains = [steps for steps in CHAINS if all(step in names for step in steps)]
    variants: list[Variant] = []
    failed: dict[str, str] = {}
    from tuneforge.compress.quantize import shared_onnx_exports

    total = 1 + len(names) + len(chains)
    with (
        shared_onnx_exports(),
        CountedProgress("compression sweep", total, show_progress) as progress,
    ):
        progress.note("measuring the original")
        original = measure_original(source, options)
        variants.append(original)
        progress.advance()
        made: dict[str, Path] = {}  # method -> its compressed run, the input of a chain
        for name in names:
            progress.note(f"compressing: {name}")
            compressed = _compress_or_record(
                source.run_dir, name, name, original, options, output_root, overwrite, failed
            )
            if compressed is not None:
                variants.append(compressed)
                made[name] = compressed.run_dir
            progress.advance()
        for steps in chains:
            name = chain_name(steps)
            progress.note(f"compressing: {name}")
            if steps[0] not in made:
                failed[name] = f"{steps[0]} was not applied"
            else:
                # The last step runs on the first one's output, measured against the original.
                compressed = _compress_or_record(
                    made[steps[0]],
                    steps[1],
                    name,
                    original,
                    options,
                    output_root,
                    overwrite,
                    failed,
                )
                if compressed is not None:
                    variants.append(compressed)
            progress.advance()
    return write_sweep_report(source, options, variants, failed)


def _compress_or_record(
    input_run: Path,
    method: str,
    name: str,
    original: Variant,
    options: CompressOptions,
    output_root: str | Path | None,
    overwrite: bool,
    failed: dict[str, str],
) -> Variant | None:
    """Apply ``method`` to ``input_run`` as the sweep row ``name``; a refusal goes to ``failed``."""
    # "+" in a chain's name becomes "-" in its folder: folder names also become URLs and shell words.
    target = default_output_dir(original.run_dir, name.replace("+", "-"))
    if output_root is not None:
        target = Path(output_root) / target.name
    try:
        _, compressed = compress_run(
            input_run, method, options, target, original=original, overwrite=overwrite
        )
    except TuneforgeError as exc:
        # One method that cannot apply (too little calibration data, a 1-layer teacher for
        # distillation) must not cost the user the rest of the sweep.
        failed[name] = str(exc)
        return None
    return Variant(
        name, compressed.run_dir, compressed.metrics, compressed.measurements, compressed.details
    )


def write_sweep_report(
    source: SourceRun, options: CompressOptions, variants: list[Variant], failed: dict[str, str]
) -> dict[str, Any]:
    """tradeoff.json, tradeoff.md and pareto.png under ``<run>/compression/``, and a link in
    the source run's model card."""
    folder = source.run_dir / REPORT_DIR
    rows = tradeoff_rows(source.task_type, variants)
    table = tradeoff_markdown(rows)
    report = {
        "source_run": str(source.run_dir.resolve()),
        "task": source.task_type,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "options": options.model_dump(mode="json"),
        "rows": rows,
        "failed": failed,
        "details": {variant.name: variant.details for variant in variants[1:]},
    }
    write_json_atomic(report, folder / "tradeoff.json")
    failures = "".join(f"- {name}: {reason}\n" for name, reason in failed.items())
    (folder / "tradeoff.md").write_text(
        f"# Compression trade-off: {source.run_dir.name}\n\n{table}\n"
        + (f"## Not applied\n{failures}" if failures else "")
        + "\n![Pareto plot](pareto.png)\n",
        encoding="utf-8",
    )
    plot_pareto(rows, folder / "pareto.png", f"{source.run_dir.name}: quality vs throughput")
    _link_from_model_card(source.run_dir, table)
    return report


def _link_from_model_card(run_dir: Path, table: str) -> None:
    """Add (or replace) a compression section at the end of the source run's model card."""
    card_path = run_dir / layout.MODEL_CARD_FILE
    card = card_path.read_text(encoding="utf-8") if card_path.is_file() else ""
    card = card.split(_CARD_MARKER)[0].rstrip() + "\n\n"
    section = (
        f"{_CARD_MARKER}\n## Compression\nMeasured with `tuneforge compress {run_dir} --sweep`; "
        f"full report in [{REPORT_DIR}/tradeoff.md]({REPORT_DIR}/tradeoff.md).\n\n{table}\n"
        f"![Pareto plot]({REPORT_DIR}/pareto.png)\n"
    )
    card_path.write_text(card + section, encoding="utf-8")
