"""The HTML report and the interactive map rendered by a real headless Chromium (Debian's
chromium driven by playwright; nothing is fetched: file:// pages only). Screenshots go to
$TUNEFORGE_SCREENSHOT_DIR when set (to look at), else to the test's temporary folder."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from tuneforge.explain.attributions import ExplainSettings, explain_texts
from tuneforge.explain.html import write_attribution_page
from tuneforge.explain.map_html import map_page

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium not installed")


@pytest.fixture
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox"], headless=True
        )
        yield browser
        browser.close()


def _shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("TUNEFORGE_SCREENSHOT_DIR", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_screenshot_attribution_report_shows_highlighted_words(toy_model, browser, tmp_path):
    texts = ["the movie was excellent and the music long", "<b>bold</b> city night car"]
    results = explain_texts(
        toy_model, texts, ["ig", "lime"], "all", ExplainSettings(n_steps=16, lime_samples=100)
    )
    page_path = write_attribution_page(tmp_path / "report.html", results, "Toy explanations")
    page = browser.new_page(viewport={"width": 1000, "height": 900})
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(page_path.as_uri())
    words = page.locator("span.w")
    # 2 methods x 2 classes x words of each text
    assert words.count() == 4 * sum(len(r["words"]) for r in results)
    assert page.locator("span.w", has_text="excellent").first.get_attribute("title")
    assert page.locator("b").filter(has_text="bold").count() == 0  # user markup stays text
    assert all(url.startswith("file://") for url in requests)
    page.screenshot(path=str(_shots(tmp_path) / "attribution_report.png"), full_page=True)


def test_screenshot_embedding_map_points_and_hover(browser, tmp_path):
    rng = np.random.default_rng(0)
    labels = ["sport"] * 20 + ["politics"] * 20
    points = np.vstack([rng.normal(0, 1, (20, 2)), rng.normal(4, 1, (20, 2))])
    wrong = [i % 9 == 0 for i in range(40)]
    texts = [f"text number {i} <i>x</i>" for i in range(40)]
    path = tmp_path / "map.html"
    path.write_text(
        map_page(points, labels, wrong, texts, "Toy map", {"sport": 0.6, "overall": 0.5}),
        encoding="utf-8",
    )
    page = browser.new_page(viewport={"width": 800, "height": 820})
    page.goto(path.as_uri())
    assert page.locator("circle.pt").count() == 40
    page.locator("circle.pt").nth(3).hover()
    tip = page.locator("#tip")
    assert tip.is_visible()
    assert "text number 3 <i>x</i>" in tip.inner_text()
    page.screenshot(path=str(_shots(tmp_path) / "embedding_map.png"), full_page=True)


def test_screenshot_ner_report_frames_each_explained_span(toy_ner_model, browser, tmp_path):
    texts = ["the car in river and blue", "night in city"]
    results = explain_texts(toy_ner_model, texts, ["ig", "lime"], None, ExplainSettings(16, 8, 100))
    page_path = write_attribution_page(tmp_path / "ner.html", results, "Toy NER explanations")
    page = browser.new_page(viewport={"width": 1000, "height": 700})
    page.goto(page_path.as_uri())
    framed = page.locator("span.w.span")
    # one explained span per text (the word after "in"), two methods
    assert [framed.nth(i).inner_text() for i in range(framed.count())] == [
        "river",
        "river",
        "city",
        "city",
    ]
    assert framed.first.evaluate("e => getComputedStyle(e).outlineStyle") == "solid"
    assert page.locator("span.w").count() == 2 * sum(len(r["words"]) for r in results)
    page.screenshot(path=str(_shots(tmp_path) / "ner_report.png"), full_page=True)
