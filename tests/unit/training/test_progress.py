"""The progress bar's ETA: the mean step time since the first step, not a 30-second window."""

from __future__ import annotations

from tuneforge.console import format_seconds, steady_eta
from tuneforge.training.progress import TrainingProgress


def test_progress_steady_eta_is_mean_step_time_times_steps_left() -> None:
    assert steady_eta(0, 100, 5.0) is None
    assert steady_eta(10, 100, 20.0) == 180.0
    assert steady_eta(100, 100, 20.0) == 0.0


def test_progress_eta_holds_steady_when_fast_and_slow_steps_alternate() -> None:
    # Length-grouped batches: a 0.2 s step, then a 1.8 s step, over and over, and an evaluation
    # of 5 s every 20 steps. rich's windowed estimate swung by several times on such a run.
    now = [0.0]
    progress = TrainingProgress(200, enabled=False, clock=lambda: now[0])
    progress.advance_to(0)
    etas = []
    for step in range(1, 201):
        now[0] += 0.2 if step % 2 else 1.8
        if step % 20 == 0:
            progress.pause()
            now[0] += 5.0
            progress.resume()
        progress.advance_to(step)
        if step >= 20:
            etas.append(progress.seconds_remaining + now[0])
    # Predicted finish time (now + ETA) stays within 15% of the true end once 20 steps are done
    # (the low point is just before an evaluation whose time the mean has not seen yet).
    true_end = now[0]
    assert all(abs(eta - true_end) / true_end < 0.15 for eta in etas), (min(etas), max(etas))


def test_progress_eta_counts_from_the_first_step_of_a_resumed_run() -> None:
    now = [100.0]
    progress = TrainingProgress(100, enabled=False, clock=lambda: now[0])
    progress.advance_to(50)  # resumed half-way: the first 50 steps took no time in this process
    now[0] += 10.0
    progress.advance_to(60)
    assert progress.seconds_remaining == 40.0


def test_progress_samples_per_second_leaves_out_pauses() -> None:
    now = [0.0]
    progress = TrainingProgress(10, enabled=False, clock=lambda: now[0])
    progress.add_samples(100)
    now[0] += 10.0
    progress.pause()
    now[0] += 90.0
    progress.resume()
    assert progress.samples_per_second == 10.0


def test_progress_format_seconds() -> None:
    assert format_seconds(None) == "-:--:--"
    assert format_seconds(3725.4) == "1:02:05"
