"""The robustness report: numbers per attack, a markdown page, a bar chart, a model-card section.

Texts of successful attacks are examples of the user's data: they go to their own files
(examples.json, examples.md; run/layout.holds_data_rows), never to the summary, the logs or the
terminal, so that the numbers can travel (model card, registry) without them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tuneforge._atomic import write_json_atomic, write_text_atomic
from tuneforge.run import layout

REPORT_DIR = layout.ROBUSTNESS_DIR
REPORT_FILE = layout.ROBUSTNESS_FILE
MARKDOWN_FILE = "robustness.md"
EXAMPLES_JSON_FILE = f"{layout.ROBUSTNESS_EXAMPLES_STEM}.json"
EXAMPLES_MARKDOWN_FILE = f"{layout.ROBUSTNESS_EXAMPLES_STEM}.md"
CHART_FILE = "robustness.png"
_CARD_START = "<!-- robustness:start -->"
_CARD_END = "<!-- robustness:end -->"
_EXAMPLES_PER_ATTACK = 5


def attack_summary(
    results: list[dict[str, Any] | None], total: int, names: list[str], labels: np.ndarray
) -> dict[str, Any]:
    """Accuracy under attack, success rate over the attacked (originally correct) examples,
    words changed (successful attacks), queries per attacked example, a few examples."""
    attacked = [result for result in results if result is not None]
    succeeded = [result for result in attacked if result["success"]]
    examples = [
        {
            "original": result["original"],
            "perturbed": result["perturbed"],
            "label": names[int(labels[index])],
            "predicted": names[result["predicted"]],
        }
        for index, result in enumerate(results)
        if result is not None and result["success"]
    ][:_EXAMPLES_PER_ATTACK]
    return {
        "accuracy": (len(attacked) - len(succeeded)) / total if total else 0.0,
        "attacked": len(attacked),
        "succeeded": len(succeeded),
        "success_rate": len(succeeded) / len(attacked) if attacked else 0.0,
        "mean_words_changed": _mean([r["words_changed"] for r in succeeded]),
        "mean_words_changed_share": _mean(
            [r["words_changed"] / max(r["words"], 1) for r in succeeded]
        ),
        "mean_queries": _mean([r["queries"] for r in attacked]),
        "examples": examples,
    }


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else 0.0


def build_report(
    data_name: str,
    names: list[str],
    labels: np.ndarray,
    correct: np.ndarray,
    results: dict[str, list[dict[str, Any] | None]],
    settings: Any,
    versions: dict[str, str],
    texts: list[str],
) -> dict[str, Any]:
    """The JSON report of one suite run."""
    for per_attack in results.values():
        for result, text in zip(per_attack, texts, strict=True):
            if result is not None:
                result["original"] = text
    total = len(labels)
    return {
        "data": data_name,
        "examples": total,
        "clean_accuracy": float(correct.mean()) if total else 0.0,
        "settings": {
            "budget": settings.budget,
            "max_words_fraction": settings.max_words_fraction,
            "seed": settings.seed,
            "max_examples": settings.max_examples,
        },
        "attacks": {
            name: {"version": versions[name], **attack_summary(per_attack, total, names, labels)}
            for name, per_attack in results.items()
        },
    }


def write_report(run_dir: Path, report: dict[str, Any]) -> Path:
    """robustness/robustness.json, robustness.md and robustness.png (numbers), examples.json and
    examples.md (texts of successful attacks), and the model card section."""
    folder = run_dir / REPORT_DIR
    folder.mkdir(parents=True, exist_ok=True)
    examples = {name: attack.get("examples", []) for name, attack in report["attacks"].items()}
    numbers = {
        **report,
        "attacks": {
            name: {key: value for key, value in attack.items() if key != "examples"}
            for name, attack in report["attacks"].items()
        },
    }
    write_json_atomic(numbers, folder / REPORT_FILE)
    write_json_atomic(examples, folder / EXAMPLES_JSON_FILE)
    markdown = render_markdown(numbers)
    link = (
        f"\nExamples of successful attacks (texts of your data): "
        f"[{EXAMPLES_MARKDOWN_FILE}]({EXAMPLES_MARKDOWN_FILE}).\n"
    )
    write_text_atomic(markdown + link, folder / MARKDOWN_FILE)
    write_text_atomic(_examples_markdown(examples), folder / EXAMPLES_MARKDOWN_FILE)
    plot_robustness(numbers, folder / CHART_FILE)
    append_to_model_card(run_dir / layout.MODEL_CARD_FILE, markdown)
    return folder


def render_markdown(report: dict[str, Any]) -> str:
    """The summary table (no texts): what the model card shows."""
    settings = report["settings"]
    rows = "\n".join(
        f"| {name} | {a['accuracy']:.3f} | {a['success_rate']:.3f} | {a['attacked']} | "
        f"{a['mean_words_changed']:.2f} | {a['mean_queries']:.1f} |"
        for name, a in report["attacks"].items()
    )
    return (
        "## Robustness\n\n"
        f"Clean accuracy {report['clean_accuracy']:.3f} on {report['examples']} examples of "
        f"{report['data']}; at most {settings['budget']} model queries per example and "
        f"{settings['max_words_fraction']:.0%} of its words changed (seed {settings['seed']}). "
        "Success rate: share of the correctly classified examples whose label the attack "
        "flipped.\n\n"
        "| attack | accuracy under attack | success rate | attacked | mean words changed | "
        "mean queries |\n|---|---|---|---|---|---|\n"
        f"{rows}\n"
    )


def _examples_markdown(examples: dict[str, list[dict[str, Any]]]) -> str:
    lines = ["# Successful attacks (examples)\n"]
    for name, per_attack in examples.items():
        for example in per_attack:
            lines.append(
                f"- **{name}** ({example['label']} -> {example['predicted']}): "
                f"`{example['original']}` -> `{example['perturbed']}`"
            )
    if len(lines) == 1:
        lines.append("None: no attack flipped a label within its budget.")
    return "\n".join(lines) + "\n"


def append_to_model_card(card: Path, markdown: str) -> None:
    """Add (or replace) the robustness section of the model card."""
    if not card.is_file():
        return
    text = card.read_text(encoding="utf-8")
    if _CARD_START in text and _CARD_END in text:
        before, rest = text.split(_CARD_START, 1)
        text = before.rstrip("\n") + "\n" + rest.split(_CARD_END, 1)[1].lstrip("\n")
    card.write_text(f"{text.rstrip()}\n\n{_CARD_START}\n{markdown}{_CARD_END}\n", encoding="utf-8")


def plot_robustness(report: dict[str, Any], path: Path) -> Path:
    """Bars of accuracy: clean, then under each attack (Agg canvas, no pyplot state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    labels = ["clean", *report["attacks"]]
    values = [report["clean_accuracy"], *(a["accuracy"] for a in report["attacks"].values())]
    figure = Figure(figsize=(1.2 * len(labels) + 2, 4.0))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    bars = axes.bar(labels, values, color=["#4c72b0", *["#dd8452"] * (len(labels) - 1)])
    axes.bar_label(bars, fmt="%.2f")
    axes.set_ylim(0, 1.05)
    axes.set_ylabel("accuracy")
    axes.set_title("Accuracy under attack")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    return path
