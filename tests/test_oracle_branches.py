"""Every other way the oracle's rules can break, one small trace each (baton.oracle).

test_oracle_rules.py has one realistic broken run per rule; these are the
remaining branches of each rule, so that no check in the oracle is untested:
each trace must be caught with the named invariant and rule at the named line.
"""

from __future__ import annotations

from typing import Any

import pytest
from baton import oracle
from baton import trace as t

CTX = t.context("ReplicaActive", "Unavailable", False, "Equal", "Compatible", "Preserved")
INV = ["P6-F1"]


def _attempt(node: str = "n2", attempt: str = "a1", **val: Any) -> list[dict[str, Any]]:
    """n1 crashes; node is requested, validated (allowed) and approved."""
    return [
        t.crash("n1"),
        t.request(node, attempt, False, "op"),
        t.transition(node, attempt, "Steady", "request", "PromotionRequested"),
        t.transition(
            node, attempt, "PromotionRequested", "begin_validation", "PromotionValidating"
        ),
        t.validation(node, attempt, val.get("ctx", CTX), "allowed", INV, "ok"),
        t.transition(
            node, attempt, "PromotionValidating", "approve", "PromotionApproved",
            reason="allowed", invariants=INV, explanation="ok",
        ),
    ]  # fmt: skip


def _promoted(node: str = "n2", epoch: int = 2) -> list[dict[str, Any]]:
    return [
        *_attempt(node),
        t.transition(
            node, "a1", "PromotionApproved", "begin_transition", "AuthorityTransitioning",
            epoch=epoch,
        ),
        t.marker(node, "Primary", epoch),
        t.transition(
            node, "a1", "AuthorityTransitioning", "complete", "PromotionSucceeded", epoch=epoch
        ),
    ]  # fmt: skip


CASES: dict[str, tuple[list[dict[str, Any]], str, str, int]] = {
    # name: (events after the header, invariant, rule, line of the violation)
    "request_reuses_attempt_id": (
        [t.request("n2", "a1", False, "op"), t.request("n3", "a1", False, "op")],
        "P6-F3", "no_implicit_retry", 3,
    ),
    "reject_without_request": ([t.reject("n2", "a9", "duplicate")], "P6-O1",
                               "attempt_observable", 2),
    "lifecycle_without_request_line": (
        [t.transition("n2", "a1", "Steady", "request", "PromotionRequested")],
        "P6-F3", "no_implicit_retry", 2,
    ),
    "request_for_other_node": (
        [t.request("n3", "a1", False, "op"),
         t.transition("n2", "a1", "Steady", "request", "PromotionRequested")],
        "P6-O1", "attempt_observable", 3,
    ),
    "wrong_target_state": (
        [t.request("n2", "a1", False, "op"),
         t.transition("n2", "a1", "Steady", "request", "PromotionValidating")],
        "P6-D2", "lifecycle_table", 3,
    ),
    "from_state_disagrees": (
        [*_attempt(), t.transition("n2", "a1", "PromotionValidating", "deny", "PromotionDenied")],
        "P6-D2", "lifecycle_table", 8,
    ),
    "other_attempt_id_mid_attempt": (
        [*_attempt()[:3],
         t.transition("n2", "a7", "PromotionRequested", "begin_validation", "PromotionValidating")],
        "P6-F3", "no_implicit_retry", 5,
    ),
    "attempt_survives_crash": (
        [*_attempt()[:3], t.crash("n2"), t.restart("n2", "Replica", 1),
         t.transition("n2", "a1", "PromotionRequested", "begin_validation", "PromotionValidating")],
        "P6-F3", "no_implicit_retry", 7,
    ),
    "decision_without_explanation": (
        [*_attempt()[:5], t.transition("n2", "a1", "PromotionValidating", "approve",
                                       "PromotionApproved")],
        "P6-O2", "decision_explained", 7,
    ),
    "approve_with_denial_reason": (
        [*_attempt()[:5], t.transition("n2", "a1", "PromotionValidating", "approve",
                                       "PromotionApproved", reason="mvcc_unknown",
                                       invariants=["P6-F1"], explanation="x")],
        "P6-D1", "validation_decision", 7,
    ),
    "position_disagrees_with_integers": (
        [*_attempt()[:4], t.validation("n2", "a1", {**CTX, "position": "Ahead"}, "allowed", INV,
                                       "ok", 0, 0)],
        "P6-D1", "validation_decision", 6,
    ),
    "validation_forces_unforced_request": (
        [*_attempt(ctx={**CTX, "force": True})[:5]], "P6-A1a", "force_bounded", 6,
    ),
    "allowed_with_unrelated_invariants": (
        [*_attempt()[:4], t.validation("n2", "a1", CTX, "allowed", ["P6-O1"], "ok", 0, 0)],
        "P6-O2", "decision_explained", 6,
    ),
    "grant_not_above_known_epochs": (
        [*_attempt(), t.transition("n2", "a1", "PromotionApproved", "begin_transition",
                                   "AuthorityTransitioning", epoch=1)],
        "P6-A3", "epoch_fencing", 8,
    ),
    "marker_not_the_grant": (
        [*_promoted()[:7], t.marker("n2", "Primary", 3)], "P6-A3", "epoch_fencing", 9,
    ),
    "complete_with_wrong_epoch": (
        [*_promoted()[:8], t.transition("n2", "a1", "AuthorityTransitioning", "complete",
                                        "PromotionSucceeded", epoch=5)],
        "P6-A3", "epoch_fencing", 10,
    ),
    "old_primary_still_writable_at_complete": (
        [t.request("n2", "a1", True, "op"),
           t.transition("n2", "a1", "Steady", "request", "PromotionRequested"),
           t.transition("n2", "a1", "PromotionRequested", "begin_validation",
                        "PromotionValidating"),
           t.validation("n2", "a1", {**CTX, "primary_status": "Unknown", "force": True},
                        "allowed", INV, "ok"),
           t.transition("n2", "a1", "PromotionValidating", "approve", "PromotionApproved",
                        reason="allowed", invariants=INV, explanation="ok"),
           t.transition("n2", "a1", "PromotionApproved", "begin_transition",
                        "AuthorityTransitioning", epoch=2),
           t.marker("n2", "Primary", 2),
           t.transition("n2", "a1", "AuthorityTransitioning", "complete",
                        "PromotionSucceeded", epoch=2)],
        "P6-A1", "single_writer", 9,
    ),
    "marker_epoch_goes_back": (
        [t.marker("n2", "Replica", 3), t.marker("n2", "Replica", 2)],
        "P6-A3", "epoch_fencing", 3,
    ),
    "primary_marker_outside_promotion": (
        [t.marker("n2", "Primary", 2)], "P6-A3", "epoch_fencing", 2,
    ),
    "write_below_highest_epoch": (
        [t.marker("n3", "Replica", 2), t.write("n1", 1, 1)], "P6-A3", "epoch_fencing", 3,
    ),
    "replica_accepts_lower_epoch": (
        [t.write("n1", 1, 1), t.marker("n3", "Replica", 2), t.replicate("n1", "n3", 1, 1, 1)],
        "P6-A3", "epoch_fencing", 4,
    ),
    "demote_below_own_epoch": (
        [t.marker("n2", "Replica", 2), t.demote("n2", 1)], "P6-A3", "epoch_fencing", 3,
    ),
    "replicate_into_writer": (
        [t.write("n1", 1, 1), t.replicate("n2", "n1", 1, 1)], "P6-A1", "single_writer", 3,
    ),
    "replicate_entry_sender_lacks": (
        [t.replicate("n1", "n2", 1, 1)], "P6-S2", "prefix_history", 2,
    ),
    "replicate_onto_divergent_wal": (
        [t.write("n1", 1, 1), t.write("n1", 2, 1), t.replicate("n1", "n2", 1, 1),
         t.crash("n1"), *_promoted()[1:], t.write("n2", 2, 2), t.restart("n1", "Primary", 1),
         t.demote("n1", 1), t.replicate("n2", "n1", 3, 2)],
        "P6-S2", "prefix_history", 17,
    ),
    "write_overwrites": ([t.write("n1", 1, 1), t.write("n1", 1, 1)], "P6-S2",
                         "prefix_history", 3),
    "event_on_down_node": ([t.crash("n2"), t.marker("n2", "Replica", 1)], "P6-F2",
                           "crash_recovery", 3),
    "restart_without_crash": ([t.restart("n2", "Replica", 1)], "P6-F2", "crash_recovery", 2),
    "end_count_wrong": ([t.write("n1", 1, 1), t.end(5)], "P6-O1", "attempt_observable", 3),
    "request_never_answered": ([t.request("n2", "a1", False, "op")], "P6-O1",
                               "attempt_observable", 3),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(CASES))
def test_branch_is_caught(name: str) -> None:
    """Each trace breaks exactly the invariant named in CASES, first, at its line."""
    events, invariant, rule, line = CASES[name]
    head = t.header(["n1", "n2", "n3"], "async", "n1")
    verdict = oracle.check_events(t.number([head, *events]), name)
    assert verdict.violations, oracle.render(verdict)
    first = verdict.violations[0]
    assert (first.invariant, first.rule, first.line) == (invariant, rule, line), oracle.render(
        verdict
    )
