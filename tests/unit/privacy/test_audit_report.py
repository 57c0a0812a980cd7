"""The audit's report files: JSON, markdown with the accountant's ε for a DP run, the log-log
ROC plot, and one model-card section however often the audit runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tuneforge.privacy.audit import AuditSettings, MembershipPool, build_report, write_audit

DP = {
    "epsilon": 7.9,
    "delta": 1e-4,
    "noise_multiplier": 0.9,
    "sample_rate": 0.01,
    "steps": 300,
    "accountant": "prv",
    "max_grad_norm": 1.0,
    "target_epsilon": 8.0,
}


def _report(dp: dict | None) -> tuple[dict, dict, np.ndarray]:
    rng = np.random.default_rng(0)
    is_member = np.arange(200) < 100
    pool = MembershipPool([], [], is_member, [], ("test",))
    scores = {
        "loss": rng.normal(size=200) + is_member,
        "lira": rng.normal(size=200) + 2 * is_member,
    }
    report = build_report(pool, scores, "online", "fixed", AuditSettings(), 1e-4, dp)
    return report, scores, is_member


def test_audit_report_of_a_dp_run_sets_the_bound_next_to_the_accountant(tmp_path: Path) -> None:
    report, scores, is_member = _report(DP)
    assert report["accountant_epsilon"] == 7.9 and report["members"] == 100
    assert report["epsilon_lower_bound"] == max(
        a["epsilon_lower_bound"] for a in report["attacks"].values()
    )
    assert report["attacks"]["lira"]["auc"] > report["attacks"]["loss"]["auc"] > 0.5
    (tmp_path / "model_card.md").write_text("# Model card\n\nabout the model\n")
    for _ in range(2):
        folder = write_audit(tmp_path, report, scores, is_member)
    assert json.loads((folder / "audit.json").read_text()) == report
    markdown = (folder / "audit.md").read_text()
    assert "accountant (prv) spent ε = 7.9" in markdown and "TPR @ 0.1% FPR" in markdown
    assert "*" in markdown  # 100 non-members cannot resolve an FPR of 0.1%
    assert (folder / "roc.png").read_bytes()[:4] == b"\x89PNG"
    card = (tmp_path / "model_card.md").read_text()
    assert card.startswith("# Model card") and card.count("## Privacy audit") == 1
    assert "[privacy_audit/audit.md](privacy_audit/audit.md)" in card


def test_audit_report_elsewhere_leaves_the_run_folder_alone(tmp_path: Path) -> None:
    report, scores, is_member = _report(None)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "model_card.md").write_text("# Model card\n")
    write_audit(tmp_path / "run", report, scores, is_member, tmp_path / "elsewhere")
    assert "Not a DP run" in (tmp_path / "elsewhere" / "audit.md").read_text()
    assert (tmp_path / "run" / "model_card.md").read_text() == "# Model card\n"
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["model_card.md"]
