"""Files of `tuneforge explain --faithfulness`: JSON, a Markdown table, deletion curves, and a
section of the run's model card that links them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tuneforge.explain.faithfulness import RANDOM, FaithfulnessReport
from tuneforge.run.layout import EXPLANATIONS_DIR

_CARD_BEGIN = "<!-- tuneforge explain -->"
_CARD_END = "<!-- /tuneforge explain -->"
_COMPRESS_MARKER = "<!-- tuneforge compress sweep -->"  # compress/sweep.py's section, kept last


def faithfulness_markdown(report: FaithfulnessReport) -> str:
    """The ranked methods as a Markdown table (gains: against random rankings, higher better)."""
    lines = [
        f"Faithfulness on {report.texts} test texts (ERASER AOPC over the top "
        f"{'/'.join(f'{b:g}' for b in report.bins_percent)}% words; gains against random "
        "rankings, higher is better).",
        "",
        "| method | faithfulness | comprehensiveness | gain | sufficiency | gain | s / text |",
        "|---|---|---|---|---|---|---|",
    ]
    for method in report.ranked():
        row = report.methods[method]
        lines.append(
            f"| {method} | {row['faithfulness']:.3f} | {row['comprehensiveness']:.3f} | "
            f"{row['comprehensiveness_gain']:+.3f} | {row['sufficiency']:.3f} | "
            f"{row['sufficiency_gain']:+.3f} | {row['seconds_per_text']:.2f} |"
        )
    first = next(iter(report.methods.values()), None)
    if first is not None:
        lines.append(
            f"| random | – | {first['comprehensiveness_random']:.3f} | – | "
            f"{first['sufficiency_random']:.3f} | – | – |"
        )
    return "\n".join(lines) + "\n"


def plot_deletion_curves(report: FaithfulnessReport, path: Path) -> Path:
    """Mean target score as the top-ranked words are removed, one line per method and random."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 4), dpi=120, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    xs = [0.0, *report.bins_percent]
    for name, curve in report.deletion_curves.items():
        style = {"color": "grey", "linestyle": "--"} if name == RANDOM else {"marker": "o"}
        axes.plot(xs, curve, label=name, **style)
    axes.set_xlabel("top-ranked words removed (%)")
    axes.set_ylabel("score of the predicted output")
    axes.set_title(f"Deletion curves ({report.texts} texts): lower is more faithful")
    axes.legend()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    return path


def write_faithfulness(run_dir: Path, report: FaithfulnessReport) -> dict[str, Path]:
    """explanations/faithfulness.json, .md and deletion_curves.png, and the model card section."""
    folder = run_dir / EXPLANATIONS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": folder / "faithfulness.json",
        "md": folder / "faithfulness.md",
        "png": folder / "deletion_curves.png",
    }
    paths["json"].write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")
    table = faithfulness_markdown(report)
    paths["md"].write_text(f"# Explanation faithfulness\n\n{table}", encoding="utf-8")
    plot_deletion_curves(report, paths["png"])
    link_from_model_card(run_dir, table)
    return paths


def link_from_model_card(run_dir: Path, table: str) -> None:
    """Add or replace the explanations section of model_card.md (before compress's section)."""
    from tuneforge.run.layout import MODEL_CARD_FILE

    card_path = run_dir / MODEL_CARD_FILE
    card = card_path.read_text(encoding="utf-8") if card_path.is_file() else ""
    if _CARD_BEGIN in card:
        before, _, after = card.partition(_CARD_BEGIN)
        card = before.rstrip() + "\n\n" + after.partition(_CARD_END)[2].lstrip()
    section = (
        f"{_CARD_BEGIN}\n## Explanations\nWhich attribution method is faithful to this model, "
        f"measured with `tuneforge explain {run_dir.name} --faithfulness`: details in "
        f"[{EXPLANATIONS_DIR}/faithfulness.md]({EXPLANATIONS_DIR}/faithfulness.md), examples in "
        f"[{EXPLANATIONS_DIR}/report.html]({EXPLANATIONS_DIR}/report.html).\n\n{table}\n"
        f"![Deletion curves]({EXPLANATIONS_DIR}/deletion_curves.png)\n{_CARD_END}\n"
    )
    head, marker, tail = card.partition(_COMPRESS_MARKER)
    card_path.write_text(head.rstrip() + "\n\n" + section + "\n" + marker + tail, encoding="utf-8")


def read_faithfulness(run_dir: Path) -> dict[str, Any] | None:
    """The saved faithfulness JSON of a run, if `--faithfulness` ran."""
    path = run_dir / EXPLANATIONS_DIR / "faithfulness.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
