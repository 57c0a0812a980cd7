"""Membership-inference audit of a finished run (`tuneforge privacy audit`)."""

from tuneforge.privacy.audit.command import attack_scores, build_report, run_audit, run_privacy
from tuneforge.privacy.audit.lira import lira_scores, shadow_membership
from tuneforge.privacy.audit.membership import (
    AuditSettings,
    MembershipPool,
    membership_pool,
    target_confidence,
)
from tuneforge.privacy.audit.metrics import attack_metrics, epsilon_lower_bound, roc, tpr_at_fpr
from tuneforge.privacy.audit.report import write_audit
from tuneforge.privacy.audit.shadows import train_shadows

__all__ = [
    "AuditSettings",
    "MembershipPool",
    "attack_metrics",
    "attack_scores",
    "build_report",
    "epsilon_lower_bound",
    "lira_scores",
    "membership_pool",
    "roc",
    "run_audit",
    "run_privacy",
    "shadow_membership",
    "target_confidence",
    "tpr_at_fpr",
    "train_shadows",
    "write_audit",
]
