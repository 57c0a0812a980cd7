"""The embedding map as a PNG and as a self-contained interactive page (inline SVG + a few lines
of inline script: hovering a point shows its label and text; nothing is fetched)."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

# matplotlib's tab10, so the PNG and the page colour labels alike.
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
_SIZE, _PAD = 640, 20


def _colours(labels: Sequence[str]) -> dict[str, str]:
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(sorted(set(labels)))}


def plot_map(
    points: np.ndarray, labels: Sequence[str], wrong: Sequence[bool], title: str, path: Path
) -> Path:
    """Scatter coloured by gold label; errors drawn as black-ringed crosses."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 6), dpi=120, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    colours = _colours(labels)
    labels_array, wrong_array = np.asarray(labels), np.asarray(wrong, dtype=bool)
    for name, colour in colours.items():
        mine = labels_array == name
        axes.scatter(*points[mine & ~wrong_array].T, s=14, color=colour, label=name, alpha=0.8)
        if (mine & wrong_array).any():
            axes.scatter(
                *points[mine & wrong_array].T,
                s=40,
                color=colour,
                marker="X",
                edgecolors="black",
                linewidths=0.8,
            )
    axes.set_title(f"{title} (X: misclassified)")
    axes.legend(fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    return path


def map_page(
    points: np.ndarray,
    labels: Sequence[str],
    wrong: Sequence[bool],
    texts: Sequence[str],
    title: str,
    silhouettes: dict[str, float],
) -> str:
    """An SVG scatter with one <circle> per text; its text is in a data attribute (escaped)."""
    low, high = points.min(axis=0), points.max(axis=0)
    scale = (_SIZE - 2 * _PAD) / np.where(high > low, high - low, 1.0)
    xy = (points - low) * scale + _PAD
    colours = _colours(labels)
    circles = []
    for (x, y), label, error, text in zip(xy, labels, wrong, texts, strict=True):
        stroke = ' stroke="#000" stroke-width="2"' if error else ""
        tip = f"{label}{' (misclassified)' if error else ''}: {text[:300]}"
        circles.append(
            f'<circle class="pt" cx="{x:.1f}" cy="{_SIZE - y:.1f}" r="{6 if error else 4}" '
            f'fill="{colours[label]}"{stroke} data-tip="{html.escape(tip, quote=True)}">'
            f"<title>{html.escape(tip)}</title></circle>"
        )
    legend = "".join(
        f'<span style="color:{c}">●</span> {html.escape(name)} '
        f"(silhouette {_number(silhouettes.get(name))}) &nbsp;"
        for name, c in colours.items()
    )
    script = (
        "const tip=document.getElementById('tip');"
        "document.querySelectorAll('.pt').forEach(p=>{"
        "p.addEventListener('mouseenter',e=>{tip.textContent=p.dataset.tip;"
        "tip.style.display='block';tip.style.left=(e.pageX+12)+'px';tip.style.top=(e.pageY+12)+'px'});"
        "p.addEventListener('mouseleave',()=>{tip.style.display='none'})});"
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>"
        "body{font-family:system-ui,sans-serif;margin:2em}"
        "#tip{position:absolute;display:none;max-width:28em;background:#fff;border:1px solid #999;"
        "padding:.4em;font-size:.85em;box-shadow:2px 2px 6px #aaa}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p>{legend}</p>"
        f"<p>{len(texts)} texts; ringed: misclassified; overall silhouette "
        f"{_number(silhouettes.get('overall'))}. Hover a point for its text.</p>"
        f'<svg id="map" width="{_SIZE}" height="{_SIZE}" style="border:1px solid #ccc">'
        f'{"".join(circles)}</svg><div id="tip"></div>'
        f"<script>{script}</script>"
        f'<script type="application/json" id="meta">{json.dumps({"points": len(texts)})}</script>'
        "</body></html>"
    )


def _number(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"
