"""`tuneforge privacy audit <run>`: membership inference against a finished run.

Members are rows the run trained on, non-members held-out rows it never trained on, in equal
numbers. Two attacks score each example: the loss threshold (Yeom et al. 2018) and LiRA
(Carlini et al. 2022) with shadow models trained by the run's own recipe. Each step is a
function a benchmark can call on its own (benchmarks/privacy.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from tuneforge.privacy.audit.lira import lira_scores, shadow_membership
from tuneforge.privacy.audit.membership import (
    AuditSettings,
    MembershipPool,
    check_auditable,
    membership_pool,
    target_confidence,
)
from tuneforge.privacy.audit.metrics import attack_metrics, chance_auc_interval
from tuneforge.run import layout


def run_audit(
    run_dir: str | Path,
    settings: AuditSettings | None = None,
    output: str | Path | None = None,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Audit the run; write audit.json, audit.md, roc.png and the model card section.

    Raises:
        ConfigError: a bad option (fewer than two shadows, ...).
        RunError: not a finished run, an unsupported task, or data that changed since training.
        DataError: too few held-out or training rows.
    """
    from tuneforge._process import run_settings
    from tuneforge.pipeline import prepare_data
    from tuneforge.privacy.audit.report import write_audit
    from tuneforge.privacy.audit.shadows import train_shadows
    from tuneforge.run.evaluation import finished_run_config

    settings = settings or AuditSettings()
    settings.check()
    run_dir = Path(run_dir)
    config = finished_run_config(run_dir)
    with run_settings(config.training.num_threads):
        data = prepare_data(config)
        check_auditable(run_dir, data, config)
        pool = membership_pool(data, settings)
        target = target_confidence(run_dir, data, pool, config)
        keep = shadow_membership(settings.shadows, len(pool.records), settings.seed)
        shadow = train_shadows(
            config, data, pool, keep, settings.shadow_epochs, show_progress=show_progress
        )
    dp = run_privacy(run_dir)
    delta = dp["delta"] if dp else 1.0 / (10 * len(data.records("train")))
    scores, variant, variance = attack_scores(target, shadow, keep, settings.variance)
    report = build_report(pool, scores, variant, variance, settings, delta, dp)
    write_audit(run_dir, report, scores, pool.is_member, Path(output) if output else None)
    return report


def run_privacy(run_dir: Path) -> dict[str, Any] | None:
    """The `privacy` section DP training writes into metrics.json (epsilon, delta, noise
    multiplier, sample rate, steps, accountant, ...); None for a run trained without DP."""
    metrics = json.loads((run_dir / layout.METRICS_FILE).read_text(encoding="utf-8"))
    return metrics.get("privacy")


def attack_scores(
    target: np.ndarray, shadow: np.ndarray, keep: np.ndarray, variance: str = "auto"
) -> tuple[dict[str, np.ndarray], str, str]:
    """Per-example membership scores of each attack (higher: member), the LiRA variant used
    (online where every example has IN and OUT shadows, else offline) and its variance."""
    lira = lira_scores(target, shadow, keep, variance)  # type: ignore[arg-type]
    # The loss attack thresholds -loss = log p = -softplus(-φ), a monotone function of φ.
    scores = {"loss": -np.logaddexp(0.0, -target)}
    if lira.online is not None:
        scores["lira"] = lira.online
        scores["lira_offline"] = lira.offline
        return scores, "online", lira.variance
    scores["lira"] = lira.offline
    return scores, "offline", lira.variance


def build_report(
    pool: MembershipPool,
    scores: dict[str, np.ndarray],
    variant: str,
    variance: str,
    settings: AuditSettings,
    delta: float,
    dp: dict[str, Any] | None,
) -> dict[str, Any]:
    members = int(pool.is_member.sum())
    non_members = len(pool.is_member) - members
    attacks = {
        name: attack_metrics(values, pool.is_member, delta) for name, values in scores.items()
    }
    return {
        "members": members,
        "non_members": non_members,
        "non_member_splits": list(pool.non_member_splits),
        "seed": settings.seed,
        "shadows": settings.shadows,
        "shadow_epochs": settings.shadow_epochs,
        "lira_variant": variant,
        "variance": variance,
        "delta": delta,
        "dp": dp,
        "accountant_epsilon": dp["epsilon"] if dp else None,
        "epsilon_lower_bound": max(a["epsilon_lower_bound"] for a in attacks.values()),
        "chance_auc_half_width": chance_auc_interval(members, non_members),
        "resolvable_0.1pct_fpr": bool(non_members * 0.001 >= 1),
        "attacks": attacks,
    }
