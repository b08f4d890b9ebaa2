"""An operator's abort of an approved attempt before its marker rename.

Covers: the core allows ``Abort`` from PromotionApproved and from
AuthorityTransitioning before the rename, forgets the attempt as a crash does
and leaves the marker as it was (every step is a step of the spec's ``abort``:
refinement asks the spec); after the rename it is refused with
AbortAfterRename (P6-F2, P6-A3) and nothing changes; the spec's mutant
``abort_after_rename`` yields a run that breaks P6-A3 and fails the all-N
proof; the controller audits every abort with its operator; a trace with an
abort after the durable marker is a violation of rule ``abort_before_rename``
(P6-F2), one before the rename conforms; the shipped scenario's trace conforms.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from baton import core, oracle
from baton import trace as t
from baton.cli import main
from baton.controller import PAUSE_POINTS, Controller, CoreDriver, PromotionRequest
from baton.errors import AbortAfterRename, ActionNotEnabled, InapplicableRequest
from baton.scenario import PAUSE_POINTS as SCENARIO_PAUSE_POINTS
from baton.spec.cluster import Config
from baton.spec.concrete import explaining_actions

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _approved(n: int = 2) -> core.ClusterState:
    """n0 crashed; n1 validated and approved (async: the bound is read from n0's disk)."""
    s = core.initial_state(n)
    for action in (
        core.Write(0),
        core.Ack(0),
        core.Replicate(0, 1),
        core.Crash(0),
        core.Request(1),
        core.BeginValidation(1),
        core.Decide(1),
    ):
        s, _ = core.step(s, action)
    assert s.nodes[1].lifecycle == "PromotionApproved"
    return s


def _after_ops(s: core.ClusterState, k: int) -> core.ClusterState:
    s, _ = core.step(s, core.BeginTransition(1))
    for op in core.MARKER_OPS[:k]:
        s, _ = core.step(s, core.MarkerOp(1, op))
    return s


@pytest.mark.parametrize("ops", [None, 0, 1, 2], ids=lambda k: f"ops={k}")
def test_abort_before_rename_forgets_the_attempt_and_refines_the_spec(ops: int | None) -> None:
    """P6-F2: the marker is untouched; the step is the spec's abort[1] and nothing else."""
    s = _approved() if ops is None else _after_ops(_approved(), ops)
    t_state, effects = core.step(s, core.Abort(1))
    node = t_state.nodes[1]
    assert node.lifecycle == "Steady" and not node.writable
    assert node.durable == s.nodes[1].durable  # role Replica, epoch 1: the old authority
    assert (core.DiscardMarkerTemp(1) in effects) == bool(ops)
    [emit] = [e for e in effects if isinstance(e, core.Emit)]
    assert emit.kind == "abort" and emit.data["marker_stage"] == (ops or 0)
    explained = explaining_actions(Config(n=2), core.to_snapshot(s), core.to_snapshot(t_state))
    assert explained == ["abort[1]"]
    # A new request may follow at once (the attempt is gone: serialisation is free).
    assert core.refusal(t_state, core.Request(1)) is None


@pytest.mark.parametrize("ops", [3, 4])
def test_abort_after_rename_is_refused_with_a_named_error(ops: int) -> None:
    """P6-F2, P6-A3: once the new marker is visible, abort is refused; nothing changes."""
    s = _after_ops(_approved(), ops)
    assert core.refusal(s, core.Abort(1)) is not None
    with pytest.raises(AbortAfterRename) as err:
        core.step(s, core.Abort(1))
    assert err.value.stage == ops and "P6-F2" in str(err.value)
    assert core.Abort(1) not in core.enabled_actions(s)


def test_abort_with_no_attempt_in_flight_is_refused() -> None:
    s = core.initial_state(2)
    with pytest.raises(ActionNotEnabled) as err:
        core.step(s, core.Abort(1))
    assert not isinstance(err.value, AbortAfterRename)


def test_the_mutant_abort_after_rename_is_caught() -> None:
    """The spec's mutant: a 10-step run lets n1's epoch go back (P6-A3), and the
    all-N proof breaks at abort/no-write-in-flight."""
    from baton.proofs import parametric as pp
    from baton.proofs.counterexample import find_counterexample

    cx = find_counterexample(Config(n=2, mutant="abort_after_rename"), depths=(10,))
    assert cx is not None and cx.violated == ["P6-A3"]
    actions = [step.action for step in cx.trace.steps[1:]]
    assert actions.index("marker_rename") < actions.index("abort")
    result = pp.check(pp.variant("abort_after_rename"), "consecution", "abort", stop_at_first=True)
    assert [(c.subject, c.goal) for c in result.failures()] == [("abort", "no-write-in-flight")]
    # The correct model: the same action preserves every lemma.
    assert pp.check(Config(), "consecution", "abort").passed


def test_controller_holds_aborts_and_audits_with_the_operator() -> None:
    s = core.initial_state(3)
    for action in (core.Write(0), core.Ack(0), core.Replicate(0, 1), core.Crash(0)):
        s, _ = core.step(s, action)
    driver = CoreDriver(s)
    ctl = Controller(driver)
    held = ctl.request_promotion(PromotionRequest("n1", "alice", pause_after="write_temp"))
    assert held.paused and held.state == "AuthorityTransitioning"
    ctl.abort_attempt("n1", operator="alice")
    assert driver.state.nodes[1].lifecycle == "Steady"
    with pytest.raises(ActionNotEnabled):
        ctl.abort_attempt("n1", operator="bob")
    held = ctl.request_promotion(PromotionRequest("n1", "alice", pause_after="rename"))
    with pytest.raises(AbortAfterRename):
        ctl.abort_attempt("n1", operator="carol")
    done = ctl.continue_attempt("n1", operator="alice")
    assert done.state == "PromotionSucceeded" and driver.state.nodes[1].durable.epoch == 2
    aborts = [(a.operator, a.outcome) for a in driver.audit_log if a.action == "abort"]
    assert aborts == [("alice", "accepted"), ("bob", "refused"), ("carol", "refused")]
    with pytest.raises(InapplicableRequest):
        ctl.abort_attempt("n1", operator=" ")  # no identity: refused before the core
    assert PAUSE_POINTS == SCENARIO_PAUSE_POINTS


def _attempt_events(marker_ops: int, durable_first: bool) -> list[dict[str, object]]:
    ctx = t.context("ReplicaActive", "Unavailable", False, "Equal", "Compatible", "Preserved")
    invs = ["P6-A1", "P6-S1", "P6-S2", "P6-S3", "P6-F1"]
    events: list[dict[str, object]] = [
        t.header(["n1", "n2"], "async", "n1"),
        t.crash("n1"),
        t.request("n2", "a1", False, operator="alice"),
        t.transition("n2", "a1", "Steady", "request", "PromotionRequested"),
        t.transition("n2", "a1", "PromotionRequested", "begin_validation", "PromotionValidating"),
        t.validation("n2", "a1", ctx, "allowed", invs, "allowed", 0, 0),
        t.transition(
            "n2", "a1", "PromotionValidating", "approve", "PromotionApproved",
            reason="allowed", invariants=invs, explanation="allowed",
        ),
        t.transition(
            "n2", "a1", "PromotionApproved", "begin_transition", "AuthorityTransitioning", epoch=2
        ),
    ]  # fmt: skip
    if durable_first:
        events.append(t.marker("n2", "Primary", 2))
    events.append(t.abort("n2", "a1", "AuthorityTransitioning", marker_ops, "alice"))
    return t.number(events)


def test_oracle_accepts_an_abort_before_the_rename() -> None:
    verdict = oracle.check_events(_attempt_events(2, durable_first=False))
    assert not verdict.violations


@pytest.mark.parametrize(
    ("marker_ops", "durable_first"), [(3, False), (4, True)], ids=["renamed", "durable"]
)
def test_oracle_rejects_an_abort_after_the_rename(marker_ops: int, durable_first: bool) -> None:
    """P6-F2, rule abort_before_rename: the producer's own count, or a durable marker."""
    events = _attempt_events(marker_ops, durable_first)
    verdict = oracle.check_events(events)
    assert [(v.invariant, v.rule, v.line) for v in verdict.violations] == [
        ("P6-F2", "abort_before_rename", len(events))
    ]


def test_check_rejects_the_shipped_bad_trace() -> None:
    """`baton check` exits 1 on the hand-made abort after the durable marker."""
    bad = EXAMPLES / "traces" / "broken_f2_abort_after_rename.jsonl"
    assert main(["check", str(bad)]) == 1


def test_abort_scenario_trace_conforms_and_records_the_abort(tmp_path: Path) -> None:
    trace_file = tmp_path / "trace.jsonl"
    scenario = str(EXAMPLES / "abort_before_marker.json")
    argv = ["run", scenario, "--dir", str(tmp_path / "nodes"), "--quiet", "--trace"]
    assert main([*argv, str(trace_file)]) == 0
    assert main(["check", str(trace_file)]) == 0
    events = [e for _, e in t.read_events(trace_file.open(), "trace")]
    [abort] = [e for e in events if e["kind"] == "abort"]
    assert abort["marker_ops"] == 2 and abort["meta"]["operator"] == "alice"
    # The temp file of the aborted marker write is gone; the marker still names n0.
    assert not [p for p in (tmp_path / "nodes" / "n1").iterdir() if ".tmp." in p.name]
