"""Write the example traces: one conforming run, and one deliberately broken copy per rule.

Run from the repository root: ``python examples/traces/make_examples.py``. It
rewrites every ``*.jsonl`` here and ``EXPECTED.json`` (file -> the verdict
``baton check`` must give: status, and for broken traces the invariant, the
rule and the line). The tests check the committed files against both.

The base run (``good_failover.jsonl``): n1 is primary; two writes are
replicated to n2 and acknowledged; n1 crashes; the operator promotes n2
(validated, approved, marker durable at epoch 2, complete); n2 writes; n1
restarts fenced and is demoted; a promotion of n3 is denied because n2 is
Active. Each broken copy changes one thing.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from baton import trace as t

Event = dict[str, Any]
HERE = Path(__file__).resolve().parent

ALLOWED_EXPLANATION = (
    "allowed: n2 is an active replica, no node admits writes, its WAL reaches the proven "
    "acknowledged bound, its history is a prefix and MVCC visibility is preserved"
)
ALLOWED_INVS = ["P6-A1", "P6-S1", "P6-S2", "P6-S3", "P6-F1"]
GOOD_CTX = t.context("ReplicaActive", "Unavailable", False, "Equal", "Compatible", "Preserved")
ACTIVE_CTX = t.context("ReplicaActive", "Active", False, "Equal", "Compatible", "Preserved")


def base() -> list[tuple[str, Event]]:
    """The conforming run as (label, event) pairs; labels let mutations find lines."""
    a1, a2 = "a1", "a2"
    return [
        ("header", t.header(["n1", "n2", "n3"], "async", "n1", producer="make_examples.py")),
        ("w1", t.write("n1", 1, 1)),
        ("w2", t.write("n1", 2, 1)),
        ("r1", t.replicate("n1", "n2", 1, 1, sender_epoch=1)),
        ("r2", t.replicate("n1", "n2", 2, 1, sender_epoch=1)),
        ("ack2", t.ack("n1", 2, 1)),
        ("r3", t.replicate("n1", "n3", 1, 1, sender_epoch=1)),
        ("crash1", t.crash("n1")),
        ("req", t.request("n2", a1, False, operator="alice", reason="n1 is down")),
        ("t_req", t.transition("n2", a1, "Steady", "request", "PromotionRequested")),
        (
            "t_val",
            t.transition("n2", a1, "PromotionRequested", "begin_validation", "PromotionValidating"),
        ),
        (
            "val",
            t.validation("n2", a1, GOOD_CTX, "allowed", ALLOWED_INVS, ALLOWED_EXPLANATION, 2, 2),
        ),
        (
            "approve",
            t.transition(
                "n2",
                a1,
                "PromotionValidating",
                "approve",
                "PromotionApproved",
                reason="allowed",
                invariants=ALLOWED_INVS,
                explanation=ALLOWED_EXPLANATION,
            ),
        ),
        *_transfer("n2", a1, 2),
        ("t_ack", t.transition("n2", a1, "PromotionSucceeded", "acknowledge", "Steady")),
        ("w3", t.write("n2", 3, 2)),
        ("ack3", t.ack("n2", 3, 2)),
        ("r4", t.replicate("n2", "n3", 2, 1, sender_epoch=2)),
        ("r5", t.replicate("n2", "n3", 3, 2, sender_epoch=2)),
        ("restart1", t.restart("n1", "Primary", 1)),
        ("demote1", t.demote("n1", 1)),
        ("req2", t.request("n3", a2, False, operator="bob")),
        ("t_req2", t.transition("n3", a2, "Steady", "request", "PromotionRequested")),
        (
            "t_val2",
            t.transition("n3", a2, "PromotionRequested", "begin_validation", "PromotionValidating"),
        ),
        (
            "val2",
            t.validation(
                "n3",
                a2,
                ACTIVE_CTX,
                "primary_active",
                ["P6-A1"],
                "the old primary n2 is observed Active (P6-A1)",
                3,
                3,
            ),
        ),
        (
            "deny2",
            t.transition(
                "n3",
                a2,
                "PromotionValidating",
                "deny",
                "PromotionDenied",
                reason="primary_active",
                invariants=["P6-A1"],
                explanation="the old primary n2 is observed Active (P6-A1)",
            ),
        ),
        ("t_ack2", t.transition("n3", a2, "PromotionDenied", "acknowledge", "Steady")),
    ]


Mutation = Callable[[list[tuple[str, Event]]], list[tuple[str, Event]]]


def replace(label: str, event: Event) -> Mutation:
    return lambda evs: [(lab, event if lab == label else ev) for lab, ev in evs]


def drop(label: str) -> Mutation:
    return lambda evs: [(lab, ev) for lab, ev in evs if lab != label]


def insert_after(label: str, *events: Event) -> Mutation:
    def go(evs: list[tuple[str, Event]]) -> list[tuple[str, Event]]:
        out = []
        for lab, ev in evs:
            out.append((lab, ev))
            if lab == label:
                out += [(f"{label}+{i}", e) for i, e in enumerate(events)]
        return out

    return go


def cut_after(label: str) -> Mutation:
    def go(evs: list[tuple[str, Event]]) -> list[tuple[str, Event]]:
        labels = [lab for lab, _ in evs]
        return evs[: labels.index(label) + 1]

    return go


def with_field(label: str, **changes: Any) -> Mutation:
    def go(evs: list[tuple[str, Event]]) -> list[tuple[str, Event]]:
        out = []
        for lab, ev in evs:
            if lab == label:
                ev = {**ev, **changes}
                ev = {k: v for k, v in ev.items() if v is not None}
            out.append((lab, ev))
        return out

    return go


def two_primaries_one_epoch(_evs: list[tuple[str, Event]]) -> list[tuple[str, Event]]:
    """A producer that traces no lifecycle: n2's directory is restored from a copy of
    n1's, so n2's marker also claims Primary at epoch 1, and n3 follows both."""
    head = t.header(
        ["n1", "n2", "n3"],
        "async",
        "n1",
        emits=["data", "durability", "authority"],
        producer="make_examples.py",
    )
    return [
        ("header", head),
        ("w1", t.write("n1", 1, 1)),
        ("r1", t.replicate("n1", "n2", 1, 1, sender_epoch=1)),
        ("r2", t.replicate("n1", "n3", 1, 1, sender_epoch=1)),
        ("m2", t.marker("n2", "Primary", 1)),
        ("w2", t.write("n2", 2, 1)),
        ("r3", t.replicate("n2", "n3", 2, 1, sender_epoch=1)),
    ]


# name -> (mutation, expected invariant, expected rule, label of the line caught or None for end)
BROKEN: dict[str, tuple[Mutation, str, str, str | None]] = {
    "broken_d2_forbidden_transition": (
        insert_after(
            "val2", t.transition("n3", "a2", "PromotionValidating", "acknowledge", "Steady")
        ),
        "P6-D2",
        "lifecycle_table",
        "val2+0",
    ),
    "broken_f1_skips_validation": (
        replace(
            "t_val", t.transition("n2", "a1", "PromotionRequested", "approve", "PromotionApproved")
        ),
        "P6-F1",
        "lifecycle_table",
        "t_val",
    ),
    "broken_f1_allows_unknown_primary": (
        with_field(
            "val",
            context=t.context(
                "ReplicaActive", "Unknown", False, "Equal", "Compatible", "Preserved"
            ),
        ),
        "P6-F1",
        "validation_decision",
        "val",
    ),
    "broken_s1_false_ack_bound": (
        with_field("val", ack_bound=1, context={**GOOD_CTX, "position": "Ahead"}),
        "P6-S1",
        "validation_context",
        "val",
    ),
    "broken_s2_lsn_only_prefix": (
        lambda _evs: lsn_only_peer(),
        "P6-S2",
        "validation_context",
        "val",
    ),
    "broken_a1_two_writers": (lambda _evs: two_writers(), "P6-A1", "single_writer", "complete"),
    "broken_a1a_force_over_active_primary": (
        lambda evs: with_field(
            "val2",
            context={**ACTIVE_CTX, "force": True},
            decision="allowed",
            invariants=ALLOWED_INVS,
            explanation="allowed (forced)",
        )(with_field("req2", force=True)(evs)),
        "P6-F1",
        "validation_decision",
        "val2",
    ),
    "broken_d1_wrong_denial_reason": (
        with_field("val2", decision="mvcc_unknown", invariants=["P6-F1"]),
        "P6-D1",
        "validation_decision",
        "val2",
    ),
    "broken_f3_retry": (
        insert_after(
            "deny2",
            t.transition("n3", "a2", "PromotionDenied", "retry", "PromotionValidating"),
        ),
        "P6-F3",
        "no_implicit_retry",
        "deny2+0",
    ),
    "broken_o1_decision_without_validation": (
        drop("val"),
        "P6-O1",
        "attempt_observable",
        "approve",
    ),
    "broken_o1_ends_mid_attempt": (
        cut_after("t_val2"),
        "P6-O1",
        "attempt_observable",
        None,
    ),
    "broken_o2_wrong_invariant": (
        with_field("val2", invariants=["P6-S3"]),
        "P6-O2",
        "decision_explained",
        "val2",
    ),
    "broken_a1a_unaudited_force": (
        with_field("req", force=True, operator=None),
        "P6-A1a",
        "force_bounded",
        "req",
    ),
    "broken_a1_fenced_primary_writes": (
        insert_after("restart1", t.write("n1", 3, 1)),
        "P6-A1",
        "single_writer",
        "restart1+0",
    ),
    "broken_a2_complete_before_marker": (
        drop("marker"),
        "P6-A2",
        "atomic_transfer",
        "complete",
    ),
    "broken_a3_deposed_primary_reinstated": (
        replace("demote1", t.reinstate("n1", 1)),
        "P6-A3",
        "epoch_fencing",
        "demote1",
    ),
    "broken_s1_lost_ack": (
        # The known hazard: the old primary comes back after the approval and
        # acknowledges a write before the candidate's marker is durable.
        insert_after(
            "approve",
            t.restart("n1", "Primary", 1),
            t.reinstate("n1", 1),
            t.write("n1", 3, 1),
            t.ack("n1", 3, 1),
        ),
        "P6-S1",
        "acked_writes_preserved",
        "complete",
    ),
    "broken_s2_wal_gap": (
        replace("r2", t.replicate("n1", "n2", 3, 1, sender_epoch=1)),
        "P6-S2",
        "prefix_history",
        "r2",
    ),
    "broken_f2_recovers_a_guess": (
        replace("restart1", t.restart("n1", "Primary", 2)),
        "P6-F2",
        "crash_recovery",
        "restart1",
    ),
    # n3 takes an entry from n2 at epoch 1 after taking n1's at epoch 1: it must halt
    # (authority_ambiguity) instead of following a second primary of the same epoch.
    "broken_a1_two_primaries_one_epoch": (
        two_primaries_one_epoch,
        "P6-A1",
        "authority_ambiguity",
        "r3",
    ),
    # An operator's abort once n2's new marker is durable (all 4 file operations done):
    # the attempt is forgotten while the marker names n2 Primary at epoch 2.
    "broken_f2_abort_after_rename": (
        insert_after("marker", t.abort("n2", "a1", "AuthorityTransitioning", 4, "carol")),
        "P6-F2",
        "abort_before_rename",
        "marker+0",
    ),
}


def _transfer(node: str, attempt: str, epoch: int) -> list[tuple[str, Event]]:
    """An approved attempt transfers authority: begin_transition, the marker, complete."""
    return [
        (
            "t_begin",
            t.transition(
                node, attempt, "PromotionApproved", "begin_transition", "AuthorityTransitioning",
                epoch=epoch,
            ),
        ),
        ("marker", t.marker(node, "Primary", epoch)),
        (
            "complete",
            t.transition(
                node, attempt, "AuthorityTransitioning", "complete", "PromotionSucceeded",
                epoch=epoch,
            ),
        ),
    ]  # fmt: skip


def _attempt(node: str, attempt: str, ctx: Event, force: bool) -> list[tuple[str, Event]]:
    """Request, validation (allowed on ``ctx``), approval, promotion to epoch 3 or 2."""
    return [
        ("req", t.request(node, attempt, force, operator="alice")),
        ("t_req", t.transition(node, attempt, "Steady", "request", "PromotionRequested")),
        (
            "t_val",
            t.transition(
                node, attempt, "PromotionRequested", "begin_validation", "PromotionValidating"
            ),
        ),
        ("val", t.validation(node, attempt, ctx, "allowed", ALLOWED_INVS, "allowed")),
        (
            "approve",
            t.transition(
                node,
                attempt,
                "PromotionValidating",
                "approve",
                "PromotionApproved",
                reason="allowed",
                invariants=ALLOWED_INVS,
                explanation="allowed",
            ),
        ),
    ]


def lsn_only_peer() -> list[tuple[str, Event]]:
    """A validator that compares LSNs, never entry epochs: a divergent, unacknowledged entry.

    n1 writes lsn 2 at epoch 1 and crashes before replicating it; n2 is promoted
    (epoch 2), writes its own lsn 2 and crashes too; n1 restarts and is demoted.
    Promoting n1 now: both WALs end at lsn 2, so an LSN-only check says
    Compatible, but lsn 2 is 2@e1 on n1 and 2@e2 on n2, the old primary: the
    history diverges (P6-S2), and the oracle derives that from the trace."""
    good = t.context("ReplicaActive", "Unavailable", False, "Equal", "Compatible", "Preserved")
    first = [(f"a1.{lab}", ev) for lab, ev in _attempt("n2", "a1", good, False)]
    return [
        ("header", t.header(["n1", "n2", "n3"], "async", "n1", producer="make_examples.py")),
        ("w1", t.write("n1", 1, 1)),
        ("r1", t.replicate("n1", "n2", 1, 1, sender_epoch=1)),
        ("r2", t.replicate("n1", "n3", 1, 1, sender_epoch=1)),
        ("ack1", t.ack("n1", 1, 1)),
        ("w2", t.write("n1", 2, 1)),
        ("crash1", t.crash("n1")),
        *first,
        *_transfer("n2", "a1", 2),
        ("t_ack", t.transition("n2", "a1", "PromotionSucceeded", "acknowledge", "Steady")),
        ("w2b", t.write("n2", 2, 2)),
        ("crash2", t.crash("n2")),
        ("restart1", t.restart("n1", "Primary", 1)),
        ("demote1", t.demote("n1", 1)),
        *_attempt("n1", "a2", good, False),
    ]  # fmt: skip


def two_writers() -> list[tuple[str, Event]]:
    """The textbook split brain: a forced promotion while the old primary still writes.

    The validator records the old primary as Unknown and the operator forces,
    which the spec allows; the old primary n1 never stopped, so when n2
    completes two nodes admit writes (P6-A1)."""
    forced = t.context("ReplicaActive", "Unknown", True, "Equal", "Compatible", "Preserved")
    return [
        ("header", t.header(["n1", "n2"], "async", "n1", producer="make_examples.py")),
        ("w1", t.write("n1", 1, 1)),
        ("r1", t.replicate("n1", "n2", 1, 1, sender_epoch=1)),
        ("ack1", t.ack("n1", 1, 1)),
        *_attempt("n2", "a1", forced, True),
        *_transfer("n2", "a1", 2),
    ]  # fmt: skip


def numbered(evs: list[tuple[str, Event]]) -> tuple[list[Event], dict[str, int]]:
    """Events numbered with seq, an end line, and each label's line number."""
    events = t.number([ev for _, ev in evs])
    events.append({**t.end(len(events)), "seq": len(events)})
    return events, {lab: i + 1 for i, (lab, _) in enumerate(evs)}


MALFORMED: dict[str, tuple[Callable[[str], str], int, str | None]] = {
    # name -> (text transformation of the good trace, line, field)
    "malformed_not_json": (lambda s: s.replace('{"seq":3,', '{"seq":3 ', 1), 4, None),
    "malformed_unknown_kind": (
        lambda s: s.replace('"kind":"crash"', '"kind":"explode"'),
        8,
        "kind",
    ),
    "malformed_version_2": (lambda s: s.replace('"version":1', '"version":2', 1), 1, "version"),
    "malformed_missing_field": (
        lambda s: s.replace(',"lsn":2,"epoch":1}', ',"epoch":1}', 1),
        3,
        "lsn",
    ),
    "malformed_truncated_last_line": (lambda s: s[: s.rstrip("\n").rfind(",")], 30, None),
    "malformed_unknown_node": (lambda s: s.replace('"node":"n3"', '"node":"n9"', 1), 24, "node"),
    "malformed_big_integer": (
        lambda s: s.replace('"lsn":2,', '"lsn":' + "9" * 5000 + ",", 1),
        3,
        None,
    ),
    "malformed_duplicate_key": (lambda s: s.replace('{"seq":3,', '{"seq":3,"seq":3,', 1), 4, None),
    "malformed_nan": (
        lambda s: s.replace(
            '"kind":"crash","node":"n1"}', '"kind":"crash","node":"n1","meta":{"t":NaN}}'
        ),
        8,
        None,
    ),
}


def partial_trace() -> list[Event]:
    """Only n2's lifecycle and validation lines (no writes, no crashes): partial."""
    keep = [
        (lab, ev)
        for lab, ev in base()
        if ev.get("node") == "n2" and ev["kind"] in ("request", "transition", "validation")
    ]
    head = t.header(["n1", "n2", "n3"], "async", "n1", emits=None, producer="make_examples.py")
    return t.number([head, *(ev for _, ev in keep)])


def build() -> dict[str, tuple[str, dict[str, Any]]]:
    """name -> (trace text, expected verdict summary)."""
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    good, _ = numbered(base())
    good_text = t.dumps(good)
    out["good_failover"] = (good_text, {"status": "conforms"})
    for name, (mutate, invariant, rule, label) in BROKEN.items():
        events, lines = numbered(mutate(base()))
        line = lines[label] if label is not None else len(events) + 1
        out[name] = (
            t.dumps(events),
            {"status": "violation", "invariant": invariant, "rule": rule, "line": line},
        )
    for name, (transform, line, fld) in MALFORMED.items():
        out[name] = (transform(good_text), {"status": "malformed", "line": line, "field": fld})
    out["partial_lifecycle_only"] = (t.dumps(partial_trace()), {"status": "conforms_partial"})
    return out


def main() -> int:
    built = build()
    for old in HERE.glob("*.jsonl"):
        old.unlink()
    for name, (text, _) in built.items():
        (HERE / f"{name}.jsonl").write_text(text, encoding="utf-8")
    expected = {f"{name}.jsonl": exp for name, (_, exp) in built.items()}
    (HERE / "EXPECTED.json").write_text(json.dumps(expected, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {len(built)} traces to {HERE}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
