"""The promotion lifecycle table: GENERATED, DO NOT EDIT.

Written by ``baton generate`` from the Z3 transition relation in
``baton.spec.lifecycle`` (enumerate_transitions). CI runs
``baton generate --check`` and fails on any difference. Data only: the
runtime's lifecycle machine (baton.lifecycle) decides legality from it.
"""

from __future__ import annotations

STATES: tuple[str, ...] = (
    "Steady",
    "PromotionRequested",
    "PromotionValidating",
    "PromotionApproved",
    "AuthorityTransitioning",
    "PromotionSucceeded",
    "PromotionDenied",
)

EVENTS: tuple[str, ...] = (
    "request",
    "begin_validation",
    "reject",
    "approve",
    "deny",
    "begin_transition",
    "complete",
    "acknowledge",
    "timeout",
    "retry",
)

# (state, event) -> next state; every pair not listed is forbidden.
TRANSITIONS: dict[tuple[str, str], str] = {
    ("Steady", "request"): "PromotionRequested",
    ("PromotionRequested", "begin_validation"): "PromotionValidating",
    ("PromotionRequested", "reject"): "Steady",
    ("PromotionValidating", "approve"): "PromotionApproved",
    ("PromotionValidating", "deny"): "PromotionDenied",
    ("PromotionApproved", "begin_transition"): "AuthorityTransitioning",
    ("AuthorityTransitioning", "complete"): "PromotionSucceeded",
    ("PromotionSucceeded", "acknowledge"): "Steady",
    ("PromotionDenied", "acknowledge"): "Steady",
}

RECOVERY_STATE: str = "Steady"
