"""The durable "promotion disabled" switch, per node and cluster-wide.

Covers: a Decide whose observation carries the switch is the spec's deny with
candidate_disabled (the Disabled role; refinement asks the spec); the switch
file is written durably (nothing pending on the simulated disk: every crash
state keeps it) and survives a reopen of the directories; the controller
reads it at every validation and audits every change with its operator; the
oracle holds a validation to it (rule validation_context: a set switch and a
role other than Disabled is a false fact, P6-F1 with P6-S1, the invariant of
candidate_disabled); a killed run's switch is known to ``baton run --resume``
and the combined trace conforms; the shipped example's trace conforms.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from baton import core, oracle
from baton import trace as t
from baton.cli import main
from baton.cluster import PROMOTION_SWITCH_FILE, RuntimeCluster, read_switch
from baton.controller import Controller, CoreDriver, PromotionRequest
from baton.errors import InapplicableRequest, StorageError, UnknownNode
from baton.spec.cluster import Config
from baton.spec.concrete import explaining_actions
from baton.storage import PersistenceModel, SimDisk

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _validating() -> core.ClusterState:
    s = core.initial_state(2)
    for action in (
        core.Write(0),
        core.Ack(0),
        core.Replicate(0, 1),
        core.Crash(0),
        core.Request(1),
        core.BeginValidation(1),
    ):
        s, _ = core.step(s, action)
    return s


def test_a_disabled_candidate_is_denied_as_the_spec_says() -> None:
    """The Disabled role denies with candidate_disabled; the step is the spec's deny[1]."""
    s = _validating()
    t_state, effects = core.step(s, core.Decide(1, core.Observation(candidate_disabled=True)))
    [validation] = [e for e in effects if isinstance(e, core.Emit) and e.kind == "validation"]
    assert validation.data["context"].role == "Disabled"
    assert validation.data["verdict"].reason == "candidate_disabled"
    assert t_state.nodes[1].lifecycle == "PromotionDenied"
    snapshots = (core.to_snapshot(s), core.to_snapshot(t_state))
    assert explaining_actions(Config(n=2), *snapshots) == ["deny[1]"]
    # The same candidate with the switch clear is approved: the switch alone denied it.
    allowed, _ = core.step(s, core.Decide(1))
    assert allowed.nodes[1].lifecycle == "PromotionApproved"


def test_controller_reads_the_switch_and_audits_changes() -> None:
    s = core.initial_state(3)
    for action in (core.Write(0), core.Ack(0), core.Replicate(0, 1), core.Crash(0)):
        s, _ = core.step(s, action)
    driver = CoreDriver(s)
    ctl = Controller(driver)
    ctl.disable_promotion(None, operator="bob", reason="freeze")
    denied = ctl.request_promotion(PromotionRequest("n1", "alice"))
    assert denied.verdict is not None and denied.verdict.reason == "candidate_disabled"
    ctl.acknowledge("n1", operator="alice")
    ctl.enable_promotion(None, operator="bob")
    with pytest.raises(UnknownNode):
        ctl.disable_promotion("n9", operator="bob")
    with pytest.raises(InapplicableRequest):
        ctl.disable_promotion("n1", operator=" ")
    done = ctl.request_promotion(PromotionRequest("n1", "alice"))
    assert done.state == "PromotionSucceeded"
    switches = [(a.action, a.target, a.operator, a.outcome) for a in driver.audit_log][:4]
    assert switches == [
        ("disable", "cluster", "bob", "accepted"),
        ("request", "n1", "alice", "accepted"),
        ("acknowledge", "n1", "alice", "accepted"),
        ("enable", "cluster", "bob", "accepted"),
    ]
    assert [(a.action, a.outcome) for a in driver.audit_log[4:6]] == [
        ("disable", "refused"),
        ("disable", "refused"),
    ]


def test_the_switch_is_durable_on_every_crash_state() -> None:
    """Temp, fsync, rename, directory fsync: no crash can lose the switch once set."""
    disks = [SimDisk() for _ in range(2)]
    root = SimDisk()
    cluster = RuntimeCluster(disks, "async", root=root)
    Controller(cluster).disable_promotion("n1", operator="alice")
    Controller(cluster).disable_promotion(None, operator="alice")
    for disk in (disks[1], root):
        assert disk.pending_count == 0
        states = disk.crash_states(PersistenceModel.JOURNALED)
        assert [json.loads(st.file(PROMOTION_SWITCH_FILE) or b"{}")["disabled"] for st in states]
        assert all(read_switch(disk.crash(st)) for st in states)
        assert not [name for name in disk.listdir("") if ".tmp." in name]
    assert cluster.promotion_disabled(0) and cluster.promotion_disabled(1)
    cluster.close()


def test_a_malformed_switch_file_is_refused_not_guessed() -> None:
    disk = SimDisk()
    disk.write_file(PROMOTION_SWITCH_FILE, b"yes please")
    with pytest.raises(StorageError):
        read_switch(disk)


def test_the_cluster_switch_needs_a_cluster_directory() -> None:
    cluster = RuntimeCluster([SimDisk(), SimDisk()], "async")
    with pytest.raises(InapplicableRequest):
        Controller(cluster).disable_promotion(None, operator="alice")
    assert not cluster.promotion_disabled(1)
    cluster.close()


def test_switch_survives_reopen_and_is_recorded(tmp_path: Path) -> None:
    root = tmp_path / "c"
    cluster = RuntimeCluster.on_directories(root, 3, "async")
    Controller(cluster).disable_promotion("n2", operator="alice", reason="disk swap")
    cluster.close()
    again = RuntimeCluster.reopen_directories(root, 3, "async")
    assert again.promotion_disabled(2) and not again.promotion_disabled(1)
    # A fresh trace of the reopened cluster learns the switch from the disk.
    assert t.disable("n2", True) in [
        {k: v for k, v in e.items() if k != "meta"} for e in again.recorder.events
    ]
    again.close()


def _validation_events(role: str, *switch: dict[str, object]) -> list[dict[str, object]]:
    ctx = t.context(role, "Unavailable", False, "Equal", "Compatible", "Preserved")
    reason = "candidate_disabled" if role == "Disabled" else "allowed"
    invs = ["P6-S1"] if role == "Disabled" else ["P6-A1", "P6-S1", "P6-S2", "P6-S3", "P6-F1"]
    return t.number(
        [
            t.header(["n1", "n2"], "async", "n1"),
            t.crash("n1"),
            *switch,
            t.request("n2", "a1", False, operator="alice"),
            t.transition("n2", "a1", "Steady", "request", "PromotionRequested"),
            t.transition(
                "n2", "a1", "PromotionRequested", "begin_validation", "PromotionValidating"
            ),
            t.validation("n2", "a1", ctx, reason, invs, "why", 0, 0),
            t.transition(
                "n2",
                "a1",
                "PromotionValidating",
                "deny" if role == "Disabled" else "approve",
                "PromotionDenied" if role == "Disabled" else "PromotionApproved",
                reason=reason,
                invariants=invs,
                explanation="why",
            ),
        ]
    )


@pytest.mark.parametrize("scope", ["n2", None], ids=["node", "cluster"])
def test_oracle_holds_a_validation_to_the_switch(scope: str | None) -> None:
    on = t.disable(scope, True, "alice")
    lying = _validation_events("ReplicaActive", on)
    verdict = oracle.check_events(lying)
    assert [(v.invariant, v.rule, v.line) for v in verdict.violations] == [
        ("P6-S1", "validation_context", len(lying) - 1)
    ]
    assert not oracle.check_events(_validation_events("Disabled", on)).violations
    cleared = _validation_events("ReplicaActive", on, t.disable(scope, False, "alice"))
    assert not oracle.check_events(cleared).violations


def test_resume_keeps_the_switch_and_the_combined_trace_conforms(tmp_path: Path) -> None:
    nodes, trace_file = tmp_path / "nodes", tmp_path / "trace.jsonl"
    first = tmp_path / "first.json"
    first.write_text(
        json.dumps(
            {
                "steps": [
                    {"do": "init", "nodes": 3, "mode": "async"},
                    {"do": "write", "node": "n0", "count": 1},
                    {"do": "replicate", "from": "n0", "to": "n1"},
                    {"do": "disable", "operator": "bob", "reason": "freeze"},
                ]
            }
        )
    )
    then = tmp_path / "then.json"
    then.write_text(
        json.dumps(
            {
                "steps": [
                    {"do": "init", "nodes": 3, "mode": "async"},
                    {"do": "crash", "node": "n0"},
                    {"do": "request", "candidate": "n1", "operator": "alice"},
                    {"do": "expect", "verdict": "candidate_disabled"},
                ]
            }
        )
    )
    base = ["--dir", str(nodes), "--quiet", "--trace", str(trace_file)]
    assert main(["run", str(first), *base]) == 0
    # Killed after the switch was written but before its event reached the trace.
    lines = trace_file.read_text().splitlines(keepends=True)
    kept = [line for line in lines if '"kind": "disable"' not in line and '"end"' not in line]
    trace_file.write_text("".join(kept))
    assert main(["run", str(then), "--resume", *base]) == 0
    assert main(["check", str(trace_file)]) == 0
    kinds = [json.loads(line)["kind"] for line in trace_file.read_text().splitlines()]
    assert kinds.count("disable") == 1  # caught up from the disk, before the restarts


def test_disable_scenario_trace_conforms(tmp_path: Path) -> None:
    trace_file = tmp_path / "trace.jsonl"
    scenario = str(EXAMPLES / "promotion_disabled.json")
    argv = ["run", scenario, "--dir", str(tmp_path / "nodes"), "--quiet", "--trace"]
    assert main([*argv, str(trace_file)]) == 0
    assert main(["check", str(trace_file)]) == 0
    events = [e for _, e in t.read_events(trace_file.open(), "trace")]
    switches = [
        (e.get("node"), e["disabled"], e.get("operator")) for e in events if e["kind"] == "disable"
    ]
    assert switches == [
        ("n1", True, "alice"),
        ("n1", False, "alice"),
        (None, True, "bob"),
        (None, False, "bob"),
    ]
