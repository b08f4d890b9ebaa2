"""Parity with the peer implementation (docs/parity.md), through Baton's public API.

Each test's docstring names the rows of docs/parity.md it exercises, as
``file.rs::test_name`` (the peer's test). The rows classified *same* or
*stricter* are checked here: the same behaviour holds in Baton, or Baton
refuses what the peer allows, for the reason the page gives. The last tests
check the page itself: every row that names a test points to one that exists
and that names the row back, and every same or stricter row names one.
"""

from __future__ import annotations

import ast
import itertools
import re
from pathlib import Path

import pytest
from baton import core, lifecycle, trace
from baton.cli import main
from baton.core import (
    Acknowledge,
    BeginTransition,
    BeginValidation,
    Complete,
    Crash,
    Decide,
    MarkerOp,
    Observation,
    Request,
    Restart,
    Write,
)
from baton.errors import (
    DuplicateRequest,
    IllegalTransition,
    MarkerMissing,
    NotInitialised,
    ProtocolError,
)
from baton.events import Recorder
from baton.marker import MARKER_FILE, Marker, perform_marker_step, read_marker, write_marker
from baton.node import Node
from baton.storage import PosixDisk
from baton.validator import Allowed, Denied, ValidationContext, validate

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "parity.md"
EXAMPLES = ROOT / "examples"


def run(state: core.ClusterState, *actions: core.Action) -> core.ClusterState:
    for action in actions:
        state, _ = core.step(state, action)
    return state


def failed_over(n: int = 3) -> core.ClusterState:
    """n0 wrote and acknowledged one entry, every replica holds it, n0 crashed."""
    state = run(core.initial_state(n), Write(0), core.Ack(0))
    for replica in range(1, n):
        state = run(state, core.Replicate(0, replica))
    return run(state, Crash(0))


def context(**fields: object) -> ValidationContext:
    """A candidate that may be promoted (the peer's 'caught up, primary unavailable')."""
    base: dict[str, object] = {
        "role": "ReplicaActive",
        "primary_status": "Unavailable",
        "force": False,
        "wal_end": 100,
        "ack_bound": 100,
        "prefix": "Compatible",
    }
    base.update(fields)
    return ValidationContext(**base)  # type: ignore[arg-type]


# --- the lifecycle (baton.lifecycle, generated from the spec) --------------------------------


@pytest.mark.parametrize(("state", "event"), sorted(lifecycle.TRANSITIONS))
def test_the_nine_allowed_transitions(state: str, event: str) -> None:
    """Parity rows: state.rs::test_steady_to_requested, state.rs::test_requested_to_validating,
    state.rs::test_requested_to_steady, state.rs::test_validating_to_approved,
    state.rs::test_validating_to_denied, state.rs::test_approved_to_transitioning,
    state.rs::test_transitioning_to_succeeded, state.rs::test_succeeded_to_steady,
    state.rs::test_denied_to_steady, promotion_atomicity.rs::test_steady_to_promotion_requested,
    promotion_atomicity.rs::test_requested_to_validating,
    promotion_atomicity.rs::test_validating_to_approved,
    promotion_atomicity.rs::test_validating_to_denied,
    promotion_atomicity.rs::test_approved_to_authority_transitioning,
    promotion_atomicity.rs::test_authority_transition_completes."""
    peer_edges = {
        ("Steady", "PromotionRequested"),
        ("PromotionRequested", "PromotionValidating"),
        ("PromotionRequested", "Steady"),
        ("PromotionValidating", "PromotionApproved"),
        ("PromotionValidating", "PromotionDenied"),
        ("PromotionApproved", "AuthorityTransitioning"),
        ("AuthorityTransitioning", "PromotionSucceeded"),
        ("PromotionSucceeded", "Steady"),
        ("PromotionDenied", "Steady"),
    }
    machine = lifecycle.PromotionState(state)
    target = machine.fire(event)
    assert (state, target) in peer_edges
    assert machine.state == target
    assert len(lifecycle.TRANSITIONS) == len(peer_edges)  # the same nine, no more


@pytest.mark.parametrize(
    ("state", "event"),
    [
        ("Steady", "begin_transition"),
        ("PromotionRequested", "approve"),
        ("PromotionValidating", "begin_transition"),
        ("PromotionDenied", "begin_transition"),
        ("Steady", "begin_validation"),
        ("PromotionRequested", "complete"),
        ("PromotionRequested", "request"),
    ],
)
def test_forbidden_transitions_raise_and_change_nothing(state: str, event: str) -> None:
    """Parity rows: state.rs::test_forbidden_steady_to_transitioning,
    state.rs::test_forbidden_requested_to_approved,
    state.rs::test_forbidden_validating_to_transitioning,
    state.rs::test_forbidden_denied_to_transitioning,
    promotion_atomicity.rs::test_cannot_validate_from_steady,
    promotion_atomicity.rs::test_cannot_complete_from_requested,
    promotion_atomicity.rs::test_cannot_request_when_in_progress."""
    machine = lifecycle.PromotionState(state)
    with pytest.raises(IllegalTransition):
        machine.fire(event)
    assert machine.state == state


@pytest.mark.parametrize(
    "events",
    [
        ("request", "begin_validation", "approve", "begin_transition", "complete", "acknowledge"),
        ("request", "begin_validation", "deny", "acknowledge"),
        ("request", "reject"),
    ],
    ids=["succeeded", "denied", "rejected"],
)
def test_whole_paths_return_to_steady(events: tuple[str, ...]) -> None:
    """Parity rows: state.rs::test_successful_promotion_lifecycle,
    state.rs::test_denied_promotion_lifecycle, state.rs::test_rejected_request_lifecycle,
    promotion_atomicity.rs::test_success_acknowledged_returns_steady,
    promotion_atomicity.rs::test_denied_returns_to_steady,
    controller.rs::test_controller_reject_request."""
    machine = lifecycle.PromotionState()
    for event in events:
        machine.fire(event)
    assert machine.state == "Steady"


def test_state_names_and_the_idle_start() -> None:
    """Parity rows: state.rs::test_state_names,
    promotion_atomicity.rs::test_default_state_is_steady,
    controller.rs::test_controller_starts_steady, transition.rs::test_manager_starts_idle."""
    assert lifecycle.STATES == (
        "Steady",
        "PromotionRequested",
        "PromotionValidating",
        "PromotionApproved",
        "AuthorityTransitioning",
        "PromotionSucceeded",
        "PromotionDenied",
    )
    assert lifecycle.PromotionState().state == "Steady"
    state = core.initial_state(3)
    assert state.in_flight() is None
    assert {node.lifecycle for node in state.nodes} == {"Steady"}


def test_every_state_but_steady_is_an_attempt_in_progress() -> None:
    """Parity rows: state.rs::test_is_promotion_in_progress,
    controller.rs::test_controller_full_lifecycle,
    controller.rs::test_request_promotion_accepted."""
    state = failed_over()
    seen = []
    for action in (
        Request(1),
        BeginValidation(1),
        Decide(1),
        BeginTransition(1),
        *(MarkerOp(1, op) for op in core.MARKER_OPS),
        Complete(1),
    ):
        state = run(state, action)
        assert state.in_flight() == 1
        seen.append(state.nodes[1].lifecycle)
    assert seen[0] == "PromotionRequested"
    assert set(seen) == set(lifecycle.STATES) - {"Steady", "PromotionDenied"}
    denied = run(
        failed_over(), Request(1), BeginValidation(1), Decide(1, Observation(mvcc="Violated"))
    )
    assert denied.nodes[1].lifecycle == "PromotionDenied" and denied.in_flight() == 1
    assert run(state, Acknowledge(1)).in_flight() is None


def test_a_second_request_during_an_attempt_is_refused() -> None:
    """Parity rows: controller.rs::test_request_promotion_already_in_progress."""
    state = run(failed_over(), Request(1))
    with pytest.raises(DuplicateRequest):
        core.step(state, Request(2))
    assert core.refusal(state, Request(2)) is not None


def test_a_denied_attempt_is_acknowledged_then_a_new_request_may_follow() -> None:
    """Parity rows: crash_tests.rs::test_e2e_repeated_promotion_attempts,
    controller.rs::test_controller_denial_lifecycle."""
    state = run(
        failed_over(), Request(1), BeginValidation(1), Decide(1, Observation(mvcc="Violated"))
    )
    assert state.nodes[1].lifecycle == "PromotionDenied"
    state = run(state, Acknowledge(1))
    assert state.nodes[1].lifecycle == "Steady"
    state = run(state, Request(1), BeginValidation(1), Decide(1))  # a new, explicit request
    assert state.nodes[1].lifecycle == "PromotionApproved"


# --- the validator (baton.validator, proven equal to the spec) ---------------------------------


@pytest.mark.parametrize(
    ("fields", "reason", "invariant"),
    [
        ({"wal_end": 90}, "candidate_behind_ack_bound", "P6-S1"),
        ({"wal_end": 50}, "candidate_behind_ack_bound", "P6-S1"),
        ({"primary_status": "Active"}, "primary_active", "P6-A1"),
        ({"role": "Disabled", "ack_bound": None}, "candidate_disabled", "P6-S1"),
        ({"role": "PrimaryActive"}, "candidate_is_primary", "P6-A1"),
        ({"mvcc": "Violated"}, "mvcc_violated", "P6-S3"),
    ],
    ids=["behind", "stale", "primary-active", "disabled", "already-primary", "mvcc"],
)
def test_validator_denies_as_the_peer_does(
    fields: dict[str, object], reason: str, invariant: str
) -> None:
    """Parity rows: validator.rs::test_denied_when_replica_behind_wal,
    crash_tests.rs::test_negative_promotion_with_stale_replica,
    validator.rs::test_denied_when_primary_still_active,
    validator.rs::test_denied_when_replication_disabled,
    crash_tests.rs::test_e2e_disablement_behavior,
    integration.rs::test_validate_replica_eligibility_disabled,
    integration.rs::test_rebind_role_from_disabled_fails,
    validator.rs::test_denied_when_already_primary,
    promotion_atomicity.rs::test_mvcc_denial_reason_references_invariant."""
    verdict = validate(context(**fields))
    assert isinstance(verdict, Denied)
    assert (verdict.reason, verdict.invariant) == (reason, invariant)
    assert invariant in verdict.explanation  # the explanation names what blocked it (P6-O2)


def test_validator_allows_a_caught_up_replica_when_the_primary_is_unavailable() -> None:
    """Parity rows: validator.rs::test_allowed_when_caught_up_and_primary_unavailable,
    integration.rs::test_validate_replica_eligibility_valid, validator.rs::test_explain_allowed,
    observability.rs::test_explanation_success."""
    verdict = validate(context())
    assert isinstance(verdict, Allowed)
    assert verdict.explanation.startswith("allowed")


def test_denial_explanation_cites_the_invariant() -> None:
    """Parity rows: validator.rs::test_explain_denied, observability.rs::test_explanation_denied."""
    verdict = validate(context(wal_end=90))
    assert isinstance(verdict, Denied) and not verdict.allowed
    assert "P6-S1" in verdict.explanation


def test_force_never_overrides_an_active_primary() -> None:
    """Stricter. Parity rows: validator.rs::test_allowed_with_force_even_if_primary_active.

    The peer allows a forced promotion over a primary it observes admitting writes;
    Baton denies it (P6-A1a): that primary and the candidate would both write."""
    verdict = validate(context(primary_status="Active", force=True))
    assert isinstance(verdict, Denied)
    assert (verdict.reason, verdict.invariant) == ("force_cannot_override_active_primary", "P6-A1a")
    # Force keeps the meaning it has in both: standing in for a primary of Unknown status.
    assert isinstance(validate(context(primary_status="Unknown", force=True)), Allowed)


def test_every_denial_reason_names_an_invariant() -> None:
    """Parity rows: promotion_atomicity.rs::test_promotion_denial_reasons_complete."""
    reached: set[str] = set()
    positions = ((5, 9), (9, 9), (9, None))
    for role, status, force, (wal_end, bound), prefix, mvcc in itertools.product(
        ("Disabled", "Uninitialized", "ReplicaActive", "PrimaryActive", "Halted"),
        ("Active", "Unavailable", "Unknown"),
        (False, True),
        positions,
        ("Compatible", "Divergent", "Unknown"),
        ("Preserved", "Violated", "Unknown"),
    ):
        halt = "wal_corruption" if role == "Halted" else None
        ctx = ValidationContext(role, status, force, wal_end, bound, prefix, mvcc, halt)
        verdict = validate(ctx)
        if isinstance(verdict, Denied):
            assert verdict.invariant in trace.INVARIANT_IDS
            reached.add(verdict.reason)
    assert reached == set(trace.REASON_NAMES)


@pytest.mark.parametrize("mvcc", ["Violated", "Unknown"])
def test_a_denial_keeps_its_reason(mvcc: str) -> None:
    """Parity rows: promotion_atomicity.rs::test_denial_reasons_preserved,
    promotion_atomicity.rs::test_mvcc_visibility_violation_denies_promotion."""
    state = run(failed_over(), Request(1), BeginValidation(1), Decide(1, Observation(mvcc=mvcc)))
    assert state.nodes[1].lifecycle == "PromotionDenied"
    assert state.nodes[1].record.reason == (
        "mvcc_violated" if mvcc == "Violated" else "mvcc_unknown"
    )


# --- the authority transition (baton.core) -------------------------------------------------


@pytest.mark.parametrize(
    "before", ["Steady", "PromotionRequested", "PromotionValidating", "PromotionDenied"]
)
def test_no_transition_without_approval(before: str) -> None:
    """Stricter. Parity rows: transition.rs::test_begin_transition_valid_replica.

    The peer's transition manager begins a transition for any active replica; Baton
    begins one only for the candidate the validator approved (P6-F1, P6-D2)."""
    prefix = {
        "Steady": (),
        "PromotionRequested": (Request(1),),
        "PromotionValidating": (Request(1), BeginValidation(1)),
        "PromotionDenied": (
            Request(1),
            BeginValidation(1),
            Decide(1, Observation(mvcc="Violated")),
        ),
    }[before]
    state = run(failed_over(), *prefix)
    assert state.nodes[1].lifecycle == before
    assert core.refusal(state, BeginTransition(1)) is not None
    with pytest.raises(ProtocolError):
        core.step(state, BeginTransition(1))
    approved = run(failed_over(), Request(1), BeginValidation(1), Decide(1))
    assert run(approved, BeginTransition(1)).nodes[1].lifecycle == "AuthorityTransitioning"


def test_a_transition_only_for_the_approved_candidate() -> None:
    """Parity rows: transition.rs::test_begin_transition_wrong_replica_id,
    transition.rs::test_begin_transition_invalid_state."""
    approved = run(failed_over(), Request(1), BeginValidation(1), Decide(1))
    assert core.refusal(approved, BeginTransition(2)) is not None
    assert core.refusal(approved, BeginTransition(1)) is None


def test_the_durable_marker_makes_the_candidate_the_only_writer() -> None:
    """Parity rows: transition.rs::test_apply_transition_returns_primary_active,
    integration.rs::test_rebind_role_success, crash_tests.rs::test_e2e_successful_promotion_path."""
    state = run(failed_over(), Request(1), BeginValidation(1), Decide(1), BeginTransition(1))
    for op in core.MARKER_OPS:
        assert not state.nodes[1].writable  # durable first, visible after (P6-A2)
        state = run(state, MarkerOp(1, op))
    state = run(state, Complete(1))
    assert state.nodes[1].writable and state.nodes[1].durable.marker_role == "Primary"
    assert state.nodes[1].durable.epoch == 2
    assert state.writable_nodes() == (1,)
    assert run(state, Acknowledge(1)).nodes[1].lifecycle == "Steady"


@pytest.mark.parametrize(
    ("reached", "ops_done"),
    [
        ("PromotionRequested", 0),
        ("PromotionValidating", 0),
        ("PromotionApproved", 0),
        ("AuthorityTransitioning", 0),
        ("AuthorityTransitioning", 1),
        ("AuthorityTransitioning", 2),
    ],
)
def test_a_crash_before_the_rename_changes_no_authority(reached: str, ops_done: int) -> None:
    """Parity rows: crash_tests.rs::test_crash_before_validation_no_authority_change,
    crash_tests.rs::test_crash_during_validation_no_authority_change,
    crash_tests.rs::test_crash_after_approval_before_transition,
    state.rs::test_crash_recovery_no_transition."""
    steps: list[core.Action] = [Request(1), BeginValidation(1), Decide(1), BeginTransition(1)]
    count = lifecycle.STATES.index(reached)
    state = run(failed_over(), *steps[:count])
    state = run(state, *(MarkerOp(1, op) for op in core.MARKER_OPS[:ops_done]))
    assert state.nodes[1].lifecycle == reached
    assert core.marker_crash_outcomes(ops_done) == frozenset({"old"})
    # Inside the marker write the crash names what the disk kept: before the rename,
    # the only possible outcome is the old marker.
    after = run(state, Crash(1, "old" if ops_done else None), Restart(1))
    assert after.nodes[1].lifecycle == "Steady"  # the attempt is forgotten (P6-F2)
    assert after.nodes[1].durable.marker_role == "Replica"
    assert after.nodes[1].durable.epoch == 1
    assert after.writable_nodes() == ()


def test_after_the_rename_the_new_authority_survives_whole_or_not_at_all() -> None:
    """Parity rows: transition.rs::test_recovery_after_marker,
    promotion_crash_disk.rs::test_crash_after_marker_write_new_authority."""
    # After rename and directory fsync, recovery reads exactly the new marker; after the
    # rename alone, the old or the new one -- never a mix (the spec's crash table).
    assert core.marker_crash_outcomes(len(core.MARKER_OPS)) == frozenset({"new"})
    assert core.marker_crash_outcomes(3) == frozenset({"old", "new"})


# --- the marker on disk (baton.marker, baton.node) ------------------------------------------


def _initialised(tmp_path: Path, name: str = "n1") -> Node:
    node = Node(name, PosixDisk(str(tmp_path / name)))
    (tmp_path / name).mkdir()
    node.initialise(holder="n0", epoch=1)
    return node


def test_marker_written_is_read_back_by_any_later_reader(tmp_path: Path) -> None:
    """Parity rows: marker.rs::test_marker_write_and_read, marker.rs::test_marker_exists_check,
    marker.rs::test_marker_recovery_determinism, transition.rs::test_recovery_determinism,
    promotion_crash_disk.rs::test_recovery_deterministic_from_disk,
    promotion_crash_disk.rs::test_binary_state_present,
    promotion_crash_disk.rs::test_marker_persists_across_instances."""
    node = _initialised(tmp_path)
    write_marker(node.disk, Marker("n1", "n1", 2, "n0"))
    assert node.disk.exists(MARKER_FILE)
    readers = [PosixDisk(str(tmp_path / "n1")) for _ in range(3)]  # new "processes"
    found = [read_marker(disk, expected_node="n1") for disk in readers]
    assert found[0] == found[1] == found[2] == Marker("n1", "n1", 2, "n0")
    assert Node("n1", readers[0]).recover().durable.marker_role == "Primary"


def test_marker_is_visible_only_once_renamed(tmp_path: Path) -> None:
    """Parity rows: marker.rs::test_marker_atomicity_simulated,
    promotion_crash_disk.rs::test_marker_atomicity_no_partial_state,
    promotion_crash_disk.rs::test_crash_before_marker_write_old_authority."""
    from baton.marker import encode_marker

    node = _initialised(tmp_path)
    data = encode_marker(Marker("n1", "n1", 2, "n0"))
    temp = f"{MARKER_FILE}.tmp.parity"
    for step in ("write_temp", "fsync_temp"):
        perform_marker_step(node.disk, step, temp, data)
        assert read_marker(PosixDisk(str(tmp_path / "n1")), "n1").epoch == 1  # old authority
    perform_marker_step(node.disk, "rename", temp, data)
    assert read_marker(PosixDisk(str(tmp_path / "n1")), "n1").epoch == 2


@pytest.mark.parametrize("initialised", [True, False])
def test_an_absent_marker_is_refused_never_read_as_old_authority(
    tmp_path: Path, initialised: bool
) -> None:
    """Stricter. Parity rows: marker.rs::test_marker_absent_returns_none,
    promotion_crash_disk.rs::test_binary_state_absent, transition.rs::test_recovery_before_marker,
    promotion_crash_disk.rs::test_recovery_reads_only_disk_state.

    The peer reads "no marker file" as "no transition committed: the old authority".
    In Baton every initialised node always has a marker (it is created with the node
    and only ever replaced by rename), so a missing one means the directory was
    damaged: recovery refuses to start (P6-F2) rather than guess an authority."""
    if initialised:
        node = _initialised(tmp_path)
        node.disk.remove(MARKER_FILE)
        with pytest.raises(MarkerMissing):
            Node("n1", PosixDisk(str(tmp_path / "n1"))).recover()
    else:
        (tmp_path / "n1").mkdir()
        with pytest.raises(NotInitialised):
            read_marker(PosixDisk(str(tmp_path / "n1")))


# --- whole runs on real directories (baton run) ---------------------------------------------


@pytest.mark.parametrize(
    "scenario", ["crash_mid_transition", "clean_failover", "lagging_replica_denied"]
)
def test_shipped_scenarios_hold_on_real_directories(tmp_path: Path, scenario: str) -> None:
    """Parity rows: promotion_crash_disk.rs::test_full_lifecycle_crash_simulation,
    crash_tests.rs::test_e2e_denied_promotion_path.

    crash_mid_transition crashes the candidate before the rename (old authority after
    restart) and after it (new authority, fenced); the others run a promotion that
    succeeds and one that is denied. Each scenario's own expect steps fail the run
    (exit 1) if an outcome differs; the trace must then conform to the oracle."""
    trace_file = tmp_path / "t.jsonl"
    argv = ["run", str(EXAMPLES / f"{scenario}.json"), "--dir", str(tmp_path / "nodes")]
    assert main([*argv, "--quiet", "--trace", str(trace_file)]) == 0
    assert main(["check", str(trace_file)]) == 0


# --- requests and observability (baton.events) ---------------------------------------------


def test_requests_carry_force_reason_and_operator() -> None:
    """Parity rows: request.rs::test_request_creation, request.rs::test_request_with_reason,
    request.rs::test_request_with_force."""
    from baton.controller import PromotionRequest

    request = PromotionRequest("n1", "alice")
    assert (request.force, request.reason) == (False, None)
    assert Request(1).force is False
    assert Request(1, force=True).force is True
    recorder = Recorder(["n0", "n1"], "async", "n0")
    recorder.request_arrived(1, force=False, operator="alice", reason=None)
    plain = recorder.events[-1]
    assert plain["force"] is False and "reason" not in plain
    recorder.request_arrived(1, force=True, operator="alice", reason="Primary unavailable")
    forced = recorder.events[-1]
    assert forced["reason"] == "Primary unavailable" and forced["force"] is True
    assert forced["meta"]["audit"]["operator"] == "alice"  # a forced request is audited (P6-A1a)


def test_every_attempt_is_recorded_event_by_event() -> None:
    """Parity rows: observability.rs::test_observer_collects_events."""
    recorder = Recorder(["n0", "n1", "n2"], "async", "n0")
    state = failed_over()
    recorder.request_arrived(1, force=False, operator="alice", reason=None)
    for action in (Request(1), BeginValidation(1), Decide(1)):
        state, effects = core.step(state, action)
        recorder.record(effects)
    kinds = [event["kind"] for event in recorder.events]
    assert kinds == ["request", "transition", "transition", "validation", "transition"]
    assert {event["attempt"] for event in recorder.events} == {"a1"}


# --- the operator abort ---------------------------------------------------------------------


def _approved_then(ops: int | None) -> core.ClusterState:
    state = run(failed_over(), Request(1), BeginValidation(1), Decide(1))
    if ops is not None:
        state = run(state, BeginTransition(1), *(MarkerOp(1, op) for op in core.MARKER_OPS[:ops]))
    return state


@pytest.mark.parametrize("ops", [None, 0, 1, 2])
def test_abort_before_the_rename_forgets_the_attempt(ops: int | None) -> None:
    """Now supported. Parity rows: transition.rs::test_abort_transition_before_apply,
    crash_tests.rs::test_transition_manager_abort_before_atomic.

    An approved or transitioning attempt aborted before the rename is forgotten, as a
    crash forgets it, and the old authority stands (P6-F2)."""
    state = _approved_then(ops)
    after = run(state, core.Abort(1))
    assert after.nodes[1].lifecycle == "Steady" and after.in_flight() is None
    assert after.nodes[1].durable == state.nodes[1].durable  # marker Replica at epoch 1
    assert after.writable_nodes() == ()


@pytest.mark.parametrize("ops", [3, 4])
def test_abort_after_the_rename_is_refused(ops: int) -> None:
    """Now supported. Parity rows: transition.rs::test_cannot_abort_after_apply,
    crash_tests.rs::test_transition_manager_cannot_abort_after_atomic."""
    from baton.errors import AbortAfterRename

    state = _approved_then(ops)
    with pytest.raises(AbortAfterRename):
        core.step(state, core.Abort(1))
    assert core.refusal(state, core.Abort(1)) is not None


# --- the page itself -------------------------------------------------------------------------

ROW = re.compile(r"^\| `(\w+\.rs::test_\w+)` \|(.*)\|\s*$", re.M)
CLASSES = ("same", "stricter", "different", "now supported", "not in Baton")


def page_rows() -> dict[str, list[str]]:
    rows: dict[str, list[str]] = {}
    for match in ROW.finditer(PAGE.read_text(encoding="utf-8")):
        assert match.group(1) not in rows, f"row {match.group(1)} twice"
        rows[match.group(1)] = [cell.strip() for cell in match.group(2).split("|")]
    return rows


def parity_tests() -> dict[str, str]:
    """Every test function of this file, with its docstring."""
    tree = ast.parse(Path(__file__).read_text(encoding="utf-8"))
    return {
        node.name: ast.get_docstring(node) or ""
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
    }


def test_page_rows_point_to_tests_that_exist_and_name_them_back() -> None:
    rows = page_rows()
    assert len(rows) == 112  # the peer's promotion tests, one row each
    tests = parity_tests()
    for row, cells in rows.items():
        _behaviour, _counterpart, klass, test_cell = cells
        assert klass.strip("*") in CLASSES, (row, klass)
        named = re.findall(r"`test_parity\.py::(test_\w+)`", test_cell)
        if klass.strip("*") in ("same", "stricter", "now supported"):
            assert named, f"{row} is {klass} but names no test"
        for name in named:
            assert name in tests, f"{row} cites test_parity.py::{name}, which does not exist"
            cited = " ".join(tests[name].split())
            assert row in cited, f"{name}'s docstring does not name its row {row}"


def test_page_counts_match_its_rows() -> None:
    """The counts the page states (per source, per class) are those of its rows."""
    text = " ".join(PAGE.read_text(encoding="utf-8").split())
    rows = page_rows()
    in_tests_dir = sum(
        row.startswith(("promotion_atomicity.rs", "promotion_crash_disk.rs")) for row in rows
    )
    assert f"{len(rows) - in_tests_dir} in the modules of `src/promotion/`" in text
    assert f"and {in_tests_dir} in `tests/promotion_atomicity.rs`" in text
    by_class: dict[str, int] = {}
    for cells in rows.values():
        by_class[cells[2].strip("*")] = by_class.get(cells[2].strip("*"), 0) + 1
    stated = ", ".join(f"{by_class[k]} {k}" for k in CLASSES if k in by_class)
    assert f"Counts: {stated}." in text


def test_every_parity_test_names_rows_of_the_page() -> None:
    rows = page_rows()
    for name, doc in parity_tests().items():
        if name.startswith(("test_page_", "test_every_parity_test")):
            continue
        cited = re.findall(r"\b(\w+\.rs::test_\w+)", doc)
        assert cited, f"{name} names no parity row"
        for row in cited:
            assert row in rows, f"{name} names {row}, which is not a row of docs/parity.md"
            assert f"`test_parity.py::{name}`" in " ".join(rows[row]), (name, row)
