"""Counted progress: a steady ETA, and plain lines where no live bar can be drawn (a log, CI)."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from tuneforge import console as console_module
from tuneforge.console import CountedProgress, format_rate


def _console(monkeypatch, terminal: bool) -> io.StringIO:
    stream = io.StringIO()
    monkeypatch.setattr(
        console_module, "console", Console(file=stream, force_terminal=terminal, width=160)
    )
    return stream


def test_counted_progress_writes_plain_lines_to_a_log(monkeypatch) -> None:
    stream = _console(monkeypatch, terminal=False)
    now = [0.0]
    with CountedProgress("shadow models", 4, clock=lambda: now[0]) as bar:
        for _ in range(4):
            now[0] += 30.0  # each item longer than the log interval: one line each
            bar.note("last AUC 0.51")
            bar.advance()
    lines = [
        line for line in stream.getvalue().splitlines() if line.startswith("shadow models 1/4")
    ]
    assert lines == [
        "shadow models 1/4 · 30.0 s each · elapsed 0:00:30 · ETA 0:01:30 · last AUC 0.51"
    ]
    assert "shadow models 4/4" in stream.getvalue()
    assert "ETA 0:00:00" in stream.getvalue()


def test_counted_progress_throttles_lines_for_fast_items(monkeypatch) -> None:
    stream = _console(monkeypatch, terminal=False)
    now = [0.0]
    with CountedProgress("deepwordbug", 1000, clock=lambda: now[0]) as bar:
        for _ in range(1000):
            now[0] += 0.1  # 100 s in all: the first item, one line per 20 s, and the end
            bar.advance()
    # rich adds its last frame when the bar stops; the plain lines are the " · " ones.
    logged = [line for line in stream.getvalue().splitlines() if " · " in line]
    assert 5 <= len(logged) <= 8, logged
    assert logged[0].startswith("deepwordbug 1/1000 · 10.0/s")
    assert logged[-1].startswith("deepwordbug 1000/1000")


def test_counted_progress_eta_is_the_mean_item_time_times_items_left() -> None:
    now = [0.0]
    bar = CountedProgress("rounds", 10, enabled=False, clock=lambda: now[0])
    assert bar.seconds_remaining is None
    for cost in (1.0, 9.0, 1.0, 9.0):  # items that differ in cost: the mean holds steady
        now[0] += cost
        bar.advance()
    assert bar.seconds_remaining == pytest.approx(6 * 5.0)


def test_counted_progress_draws_a_bar_on_a_terminal(monkeypatch) -> None:
    stream = _console(monkeypatch, terminal=True)
    with CountedProgress("compression sweep", 3) as bar:
        bar.note("compressing: onnx")
        bar.advance(3)
    shown = stream.getvalue()
    assert "compression sweep" in shown and "3/3" in shown and "━" in shown
    assert " · " not in shown  # no plain log lines when the bar is live


def test_disabled_progress_writes_nothing(monkeypatch) -> None:
    stream = _console(monkeypatch, terminal=False)
    with CountedProgress("shadow models", 2, enabled=False) as bar:
        bar.advance(2)
    assert stream.getvalue() == ""


def test_format_rate_switches_to_seconds_per_item_when_slow() -> None:
    assert format_rate(0, 5.0) == "-"
    assert format_rate(50, 10.0) == "5.0/s"
    assert format_rate(2, 300.0) == "150.0 s each"
