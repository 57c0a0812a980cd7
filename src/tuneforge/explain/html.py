"""A self-contained HTML page of word attributions: no script or style is fetched from anywhere.

Words are highlighted by their score: red pushes towards the explained output, blue away from it;
the stronger the colour, the larger the score relative to the text's largest. Hovering a word
shows its score. Every piece of user text goes through html.escape: a text containing markup is
shown as text, never run.
"""

from __future__ import annotations

import html
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:60em;color:#222}
h1{font-size:1.4em} h2{font-size:1.1em;margin-top:2em}
.card{border:1px solid #ddd;border-radius:6px;padding:1em;margin:1em 0}
.meta{color:#555;font-size:.9em;margin-bottom:.5em}
.words{line-height:2em;font-size:1.05em}
.w{padding:.15em .1em;border-radius:3px}
.span{outline:2px solid #222;outline-offset:1px}
.view{margin:.6em 0} .view b{display:inline-block;min-width:9em;font-size:.9em}
details summary{cursor:pointer;color:#555;font-size:.9em}
table{border-collapse:collapse;margin:1em 0} td,th{border:1px solid #ccc;padding:.3em .6em}
.legend span{padding:.2em .5em;margin-right:.5em;border-radius:3px}
"""


def word_spans_html(
    text: str,
    spans: Sequence[Sequence[int]],
    scores: Sequence[float],
    outlined: Collection[int] = (),
) -> str:
    """The text with each word in a span coloured by its score (title: the score); the words
    in `outlined` (an explained NER span) are framed."""
    peak = max((abs(s) for s in scores), default=0.0) or 1.0
    parts, position = [], 0
    for index, ((start, end), score) in enumerate(zip(spans, scores, strict=True)):
        parts.append(html.escape(text[position:start]))
        alpha = min(1.0, abs(score) / peak)
        rgb = "214,39,40" if score > 0 else "31,119,180"
        kind = "w span" if index in outlined else "w"
        parts.append(
            f'<span class="{kind}" style="background:rgba({rgb},{alpha:.2f})" '
            f'title="{score:+.4f}">{html.escape(text[start:end])}</span>'
        )
        position = end
    parts.append(html.escape(text[position:]))
    return "".join(parts)


def _card(index: int, result: dict[str, Any]) -> str:
    prediction = result["prediction"]
    meta = (
        f"#{index + 1} · predicted <b>{html.escape(str(prediction['label']))}</b> "
        f"({prediction['score']:.3f})"
        + (" · truncated to the model's input" if result.get("truncated") else "")
    )
    views = []
    for method, attribution in result["attributions"].items():
        # The predicted label first; the other explained labels fold away below it.
        targets = sorted(
            attribution["targets"].items(), key=lambda item: item[0] != prediction["label"]
        )
        extra = ""
        if "convergence_delta" in attribution:
            delta = max(attribution["convergence_delta"].values(), default=0.0)
            extra = f" · IG convergence delta {delta:.4f}"
        rows = [
            f'<div class="view"><b>{html.escape(method)} → {html.escape(str(name))}</b>'
            f'<span class="words">{word_spans_html(result["text"], result["spans"], scores)}'
            "</span></div>"
            for name, scores in targets
        ]
        first, rest = rows[0], rows[1:]
        more = (
            f"<details><summary>other classes ({len(rest)})</summary>{''.join(rest)}</details>"
            if rest
            else ""
        )
        views.append(
            f'{first}{more}<div class="meta">{html.escape(method)}: '
            f"{attribution['seconds']:.2f} s{extra}</div>"
        )
    return f'<div class="card"><div class="meta">{meta}</div>{"".join(views)}</div>'


def _entity_card(index: int, result: dict[str, Any]) -> str:
    """A NER text: one highlighted view per method and explained span, the span framed."""
    entities = {entity["key"]: entity for entity in result["prediction"]["entities"]}
    found = ", ".join(
        f"<b>{html.escape(e['text'])}</b> ({html.escape(e['entity'])})" for e in entities.values()
    )
    meta = (
        f"#{index + 1} · "
        + (f"entities: {found}" if entities else "no entity found")
        + (" · truncated to the model's input" if result.get("truncated") else "")
    )
    views = []
    for method, attribution in result["attributions"].items():
        for key, scores in attribution["targets"].items():
            entity = entities[key]
            framed = {
                word
                for word, (start, end) in enumerate(result["spans"])
                if start >= entity["start"] and end <= entity["end"]
            }
            words = word_spans_html(result["text"], result["spans"], scores, framed)
            delta = attribution.get("convergence_delta", {}).get(key)
            extra = "" if delta is None else f" · IG convergence delta {delta:.4f}"
            views.append(
                f'<div class="view"><b>{html.escape(method)} → {html.escape(entity["entity"])}'
                f'</b><span class="words">{words}</span><div class="meta">'
                f"span score {result['scores'][key]:.3f}{extra}</div></div>"
            )
        views.append(
            f'<div class="meta">{html.escape(method)}: {attribution["seconds"]:.2f} s</div>'
        )
    return f'<div class="card"><div class="meta">{meta}</div>{"".join(views)}</div>'


def faithfulness_table_html(faithfulness: dict[str, Any]) -> str:
    """The ranked methods with comprehensiveness, sufficiency and their gains over random."""
    rows = []
    for method in faithfulness["ranking"]:
        row = faithfulness["methods"][method]
        rows.append(
            f"<tr><td>{html.escape(method)}</td><td>{row['faithfulness']:.3f}</td>"
            f"<td>{row['comprehensiveness']:.3f} ({row['comprehensiveness_gain']:+.3f})</td>"
            f"<td>{row['sufficiency']:.3f} ({row['sufficiency_gain']:+.3f})</td>"
            f"<td>{row['seconds_per_text']:.2f}</td></tr>"
        )
    return (
        f"<h2>Faithfulness on {faithfulness['texts']} test texts (ERASER)</h2>"
        "<table><tr><th>method</th><th>faithfulness</th><th>comprehensiveness ↑ (vs random)"
        "</th><th>sufficiency ↓ (vs random)</th><th>s / text</th></tr>" + "".join(rows) + "</table>"
    )


def attribution_page(
    results: Sequence[dict[str, Any]], title: str, faithfulness: dict[str, Any] | None = None
) -> str:
    """The whole page: a legend, the faithfulness table if computed, a card per text."""
    legend = (
        '<div class="legend"><span style="background:rgba(214,39,40,.7)">towards the class '
        "(NER: the framed span's entity type)</span>"
        '<span style="background:rgba(31,119,180,.7)">away from it</span> '
        "hover a word for its score</div>"
    )
    body = "".join(
        (_entity_card if "entities" in result["prediction"] else _card)(index, result)
        for index, result in enumerate(results)
    )
    table = faithfulness_table_html(faithfulness) if faithfulness else ""
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>{legend}{table}{body}</body></html>"
    )


def write_attribution_page(
    path: Path,
    results: Sequence[dict[str, Any]],
    title: str,
    faithfulness: dict[str, Any] | None = None,
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(attribution_page(results, title, faithfulness), encoding="utf-8")
    return path
