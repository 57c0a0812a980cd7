"""The attribution page: highlighted words, scores on hover, no markup from user text."""

from __future__ import annotations

from tuneforge.explain.html import attribution_page, word_spans_html

INJECTED = 'Great <script>alert("x")</script> <img src=x onerror=alert(1)> film'


def _result(text: str, spans: list[list[int]], scores: list[float]) -> dict:
    return {
        "text": text,
        "prediction": {"label": "<b>pos</b>", "score": 0.9},
        "words": [text[s:e] for s, e in spans],
        "spans": spans,
        "attributions": {
            "ig": {
                "targets": {"<b>pos</b>": scores, "neg": [-s for s in scores]},
                "seconds": 0.1,
                "convergence_delta": {"<b>pos</b>": 0.001},
            }
        },
    }


def _spans(text: str) -> list[list[int]]:
    spans, start = [], None
    for index, char in enumerate(text + " "):
        if char != " " and start is None:
            start = index
        elif char == " " and start is not None:
            spans.append([start, index])
            start = None
    return spans


def test_html_escapes_injected_markup() -> None:
    spans = _spans(INJECTED)
    page = attribution_page([_result(INJECTED, spans, [1.0] * len(spans))], "<title>x")
    assert "<script>alert" not in page
    assert "<img" not in page
    assert "<b>pos</b>" not in page
    assert "&lt;script&gt;" in page and "&lt;b&gt;pos&lt;/b&gt;" in page
    assert page.count("<script") == 0  # the attribution page needs no script at all


def test_html_colour_follows_sign_and_magnitude() -> None:
    html = word_spans_html("good bad meh", [[0, 4], [5, 8], [9, 12]], [2.0, -1.0, 0.0])
    assert 'rgba(214,39,40,1.00)" title="+2.0000">good<' in html
    assert 'rgba(31,119,180,0.50)" title="-1.0000">bad<' in html
    assert 'title="+0.0000">meh<' in html


def test_html_shows_other_classes_and_faithfulness() -> None:
    spans = _spans("a b")
    faithfulness = {
        "texts": 3,
        "ranking": ["ig"],
        "methods": {
            "ig": {
                "faithfulness": 0.5,
                "comprehensiveness": 0.4,
                "comprehensiveness_gain": 0.3,
                "sufficiency": 0.1,
                "sufficiency_gain": 0.2,
                "seconds_per_text": 0.2,
            }
        },
    }
    page = attribution_page([_result("a b", spans, [0.5, -0.5])], "t", faithfulness)
    assert "other classes (1)" in page
    assert "Faithfulness on 3 test texts" in page
    assert "IG convergence delta 0.0010" in page
