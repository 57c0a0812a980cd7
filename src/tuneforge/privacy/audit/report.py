"""The audit report: audit.json, audit.md, a log-log ROC plot and a model-card section.

Numbers only: no text of the data reaches the report, the terminal or the logs.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np

from tuneforge._atomic import write_bytes_atomic, write_json_atomic, write_text_atomic
from tuneforge.privacy.audit.metrics import roc
from tuneforge.run import layout

MARKDOWN_FILE = "audit.md"
PLOT_FILE = "roc.png"
_CARD_START = "<!-- privacy-audit:start -->"
_CARD_END = "<!-- privacy-audit:end -->"
_ATTACK_TITLES = {
    "loss": "loss threshold (Yeom et al. 2018)",
    "lira": "LiRA (Carlini et al. 2022)",
    "lira_offline": "LiRA offline (OUT shadows only)",
}


def write_audit(
    run_dir: Path,
    report: dict[str, Any],
    scores: dict[str, np.ndarray],
    is_member: np.ndarray,
    folder: Path | None = None,
) -> Path:
    """audit.json, audit.md and roc.png in `folder`; by default <run>/privacy_audit, and then
    the model card's privacy-audit section too (a report written elsewhere leaves the run folder
    as it was)."""
    inside = folder is None
    folder = folder or run_dir / layout.PRIVACY_AUDIT_DIR
    write_json_atomic(report, folder / layout.PRIVACY_AUDIT_FILE)
    markdown = render_markdown(report)
    write_text_atomic(markdown, folder / MARKDOWN_FILE)
    plot_roc(scores, is_member, folder / PLOT_FILE)
    card = run_dir / layout.MODEL_CARD_FILE
    if inside and card.is_file():
        link = os.path.relpath(folder / MARKDOWN_FILE, run_dir)
        write_text_atomic(_with_section(card.read_text(encoding="utf-8"), markdown, link), card)
    return folder


def render_markdown(report: dict[str, Any]) -> str:
    rows = "\n".join(
        f"| {_ATTACK_TITLES.get(name, name)} | {a['auc']:.3f} | {_tpr(a, '1pct')} | "
        f"{_tpr(a, '0.1pct')} | {a['balanced_accuracy']:.3f} | {a['epsilon_lower_bound']:.2f} |"
        for name, a in report["attacks"].items()
    )
    dp = report["dp"]
    if dp is None:
        privacy = (
            "Not a DP run (no `privacy` in metrics.json): no accountant ε to compare with; the "
            f"empirical bound uses δ = {report['delta']:.3g} (1 / (10 × training rows))."
        )
    else:
        privacy = (
            f"DP run: the accountant ({dp.get('accountant')}) spent ε = {dp['epsilon']:.3g} at "
            f"δ = {dp['delta']:.3g}; the audit's empirical lower bound is "
            f"ε ≥ {report['epsilon_lower_bound']:.2f}. A bound far below the accountant's ε is "
            "expected (these attacks are not the worst case); a bound above it would mean a bug."
        )
    small = (
        " TPR at 0.1% FPR is not resolvable with this many non-members (fewer than 1,000): "
        "it is the TPR at FPR 0."
        if not report["resolvable_0.1pct_fpr"]
        else ""
    )
    return (
        "## Privacy audit (membership inference)\n\n"
        f"{report['members']} training rows (members) against {report['non_members']} held-out "
        f"rows never trained on ({' + '.join(report['non_member_splits'])} split), seed "
        f"{report['seed']}; LiRA with {report['shadows']} shadow models "
        f"({report['lira_variant']}, {report['variance']} variance). AUC 0.5 is chance; with "
        f"this sample an attack without signal lands within ±{report['chance_auc_half_width']:.3f}"
        f" of 0.5 (95%).{small}\n\n"
        "| attack | ROC AUC | TPR @ 1% FPR | TPR @ 0.1% FPR | balanced accuracy | ε lower bound |\n"
        "|---|---|---|---|---|---|\n"
        f"{rows}\n\n{privacy}\n\n"
        "The ε lower bound holds with 95% confidence (Clopper-Pearson) for the threshold chosen; "
        "the threshold is chosen on the same sample, which makes it slightly optimistic. A low "
        "AUC shows these attacks failed, not that no attack can succeed.\n"
    )


def _tpr(attack: dict[str, Any], level: str) -> str:
    value = f"{attack[f'tpr_at_{level}_fpr']:.3f}"
    return value if attack[f"tpr_at_{level}_fpr_resolvable"] else f"{value}*"


def _with_section(card: str, markdown: str, link: str) -> str:
    """The card with its privacy-audit section added, or replaced when one is there."""
    if _CARD_START in card and _CARD_END in card:
        before, rest = card.split(_CARD_START, 1)
        card = before.rstrip("\n") + "\n" + rest.split(_CARD_END, 1)[1].lstrip("\n")
    section = f"{markdown}\nFull report: [{link}]({link}).\n"
    return f"{card.rstrip()}\n\n{_CARD_START}\n{section}{_CARD_END}\n"


def plot_roc(scores: dict[str, np.ndarray], is_member: np.ndarray, path: Path) -> Path:
    """ROC curves on log-log axes (the LiRA paper's view: what matters is the low-FPR corner)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5.0, 5.0))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    floor = 1.0 / (2 * max(len(is_member), 1))
    for name, values in scores.items():
        curve = roc(values, is_member)
        axes.plot(
            np.maximum(curve.fpr, floor),
            np.maximum(curve.tpr, floor),
            label=_ATTACK_TITLES.get(name, name),
        )
    axes.plot([floor, 1], [floor, 1], linestyle="--", color="grey", label="chance")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlim(floor, 1)
    axes.set_ylim(floor, 1)
    axes.set_xlabel("false positive rate")
    axes.set_ylabel("true positive rate")
    axes.set_title("Membership inference ROC")
    axes.legend(loc="lower right", fontsize="small")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, dpi=120, format="png")
    write_bytes_atomic(buffer.getvalue(), path)
    return path
