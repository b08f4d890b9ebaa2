"""The authority-ambiguity halt (P6-A1): a node that sees two primaries claim one epoch halts.

With one primary marker per epoch (P6-A3) no reachable state has two claimants,
so these tests build the state directly: a primary marker restored from a copy
of another node's directory, or two controllers granting the same epoch. The
core's step must be the spec's ``ambiguity_halt`` (refinement), refused exactly
where the spec disables it, and the oracle must accept the halt and reject a
node that follows both claimants.
"""

from __future__ import annotations

import io
import itertools
import json
from pathlib import Path

import jsonschema
import pytest
import z3
from baton import core, oracle
from baton import trace as t
from baton.core import AmbiguityHalt, ClusterState, Durable, NodeState, Volatile
from baton.errors import ActionNotEnabled
from baton.events import Recorder
from baton.spec import cluster as spec_cluster
from baton.spec import properties as spec_properties
from baton.spec.cluster import Config
from baton.spec.concrete import bind, explaining_actions

SCHEMAS = Path(__file__).resolve().parent.parent / "impl" / "schemas"


def _node(role: str, epoch: int, *, active: bool = False, up: bool = True) -> NodeState:
    return NodeState(Durable(role, epoch, ((1, 1),)), Volatile(active=active) if up else None)


def two_claimants(observer_epoch: int = 2) -> ClusterState:
    """n0 and n1 both claim Primary at epoch 2 (n1 writable); n2 is a replica."""
    return ClusterState(
        "async",
        (
            _node("Primary", 2),
            _node("Primary", 2, active=True),
            _node("Replica", observer_epoch),
        ),
    )


@pytest.mark.parametrize(("observer", "claimant", "rival"), [(2, 0, 1), (2, 1, 0), (1, 0, 1)])
def test_a_node_that_sees_two_primaries_of_one_epoch_halts_as_the_spec_says(
    observer: int, claimant: int, rival: int
) -> None:
    """P6-A1: the replica (or a claimant itself) writes a Halted marker, reason
    authority_ambiguity, and admits no writes; the spec explains the step."""
    s = two_claimants()
    action = AmbiguityHalt(observer, claimant, rival)
    assert core.refusal(s, action) is None and action in core.enabled_actions(s)
    t_state, effects = core.step(s, action)
    node = t_state.nodes[observer]
    assert node.durable == Durable("Halted", 2, ((1, 1),)) and not node.writable
    assert core.PersistMarker(observer, "Halted", 2, "authority_ambiguity") in effects
    halt = next(e for e in effects if isinstance(e, core.Emit))
    assert halt.kind == "halt" and halt.data["reason"] == "authority_ambiguity"
    assert halt.data["invariant"] == "P6-A1" and halt.data["claimants"] == [claimant, rival]
    names = explaining_actions(Config(n=3), core.to_snapshot(s), core.to_snapshot(t_state))
    assert f"ambiguity_halt{[observer, claimant, rival]}" in names


def _states() -> list[ClusterState]:
    """States around the guard's edges: ordered epochs, a claimant down, a lower
    epoch than the observer's, an observer with an attempt, a halted observer."""
    base = two_claimants()
    requested = core.step(core.step(base, core.Request(2, False))[0], core.BeginValidation(2))[0]
    return [
        base,
        two_claimants(observer_epoch=3),
        ClusterState("async", (_node("Primary", 1), _node("Primary", 2), _node("Replica", 2))),
        base.with_node(0, _node("Primary", 2, up=False)),
        base.with_node(2, _node("Halted", 2)),
        requested,
        core.initial_state(3),
    ]


@pytest.mark.parametrize("index", range(7))
def test_the_core_refuses_the_halt_exactly_where_the_spec_disables_it(index: int) -> None:
    """Refinement both ways, every instance: the core enables ambiguity_halt[i, j, k]
    iff the spec's guard holds in the same state."""
    s = _states()[index]
    before = spec_cluster.fresh_state(3, "s")
    after = spec_cluster.fresh_state(3, "t")
    formulas = {
        act.nodes: act.formula
        for act in spec_cluster.actions(Config(n=3), before, after, "x")
        if act.name == "ambiguity_halt"
    }
    assert len(formulas) == 12
    for i, j, k in itertools.product(range(3), repeat=3):
        action: core.Action = AmbiguityHalt(i, j, k)
        solver = z3.Solver()
        solver.add(bind(core.to_snapshot(s), before))
        enabled = (i, j, k) in formulas and (
            solver.check(formulas[(i, j, k)]) == z3.sat  # type: ignore[arg-type]
        )
        assert (core.refusal(s, action) is None) == enabled, (action, core.refusal(s, action))


def test_ordered_epochs_are_no_ambiguity() -> None:
    """A deposed primary at a lower epoch is fenced off (P6-A3), not ambiguous."""
    s = ClusterState("async", (_node("Primary", 1), _node("Primary", 2), _node("Replica", 2)))
    with pytest.raises(ActionNotEnabled, match="claim different epochs: they are ordered"):
        core.step(s, AmbiguityHalt(2, 0, 1))


def test_no_reachable_runtime_state_enables_the_halt() -> None:
    """Under the assumptions each epoch has one primary marker: a failover walk
    never offers ambiguity_halt (the spec's defence in depth, P6-A3)."""
    s = core.initial_state(3)
    for action in (core.Write(0), core.Replicate(0, 1), core.Crash(0)):
        s = core.step(s, action)[0]
        assert not any(isinstance(a, AmbiguityHalt) for a in core.enabled_actions(s))


def test_the_halt_is_traced_with_its_reason_and_the_schema_accepts_it() -> None:
    """The event becomes a trace 'halt' line with reason authority_ambiguity."""
    out = io.StringIO()
    said: list[str] = []
    rec = Recorder(("n0", "n1", "n2"), "async", "n0", out, say=said.append)
    _, effects = core.step(two_claimants(), AmbiguityHalt(2, 0, 1))
    rec.record(effects)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    halt = next(line for line in lines if line["kind"] == "halt")
    assert any("HALTED: authority_ambiguity" in line and "[P6-A1]" in line for line in said)
    assert halt["node"] == "n2" and halt["reason"] == "authority_ambiguity"
    schema = json.loads((SCHEMAS / "trace.schema.json").read_text("utf-8"))
    jsonschema.validate(halt, schema)


def _claimants_trace(last: dict[str, object]) -> list[dict[str, object]]:
    head = t.header(["n1", "n2", "n3"], "async", "n1", emits=["data", "durability", "authority"])
    return t.number(
        [
            head,
            t.write("n1", 1, 1),
            t.replicate("n1", "n2", 1, 1, sender_epoch=1),
            t.replicate("n1", "n3", 1, 1, sender_epoch=1),
            t.marker("n2", "Primary", 1),
            t.write("n2", 2, 1),
            last,
        ]
    )


def test_oracle_accepts_the_halt_and_rejects_following_both_primaries() -> None:
    """Rule authority_ambiguity (P6-A1): n3 halting is accepted; n3 taking n2's entry
    at epoch 1 after n1's is a violation at that line."""
    halted = oracle.check_events(_claimants_trace(t.halt("n3", "authority_ambiguity")))
    assert not halted.violations
    followed = oracle.check_events(
        _claimants_trace(t.replicate("n2", "n3", 2, 1, sender_epoch=1)), all_violations=True
    )
    assert [(v.rule, v.invariant, v.line) for v in followed.violations] == [
        ("authority_ambiguity", "P6-A1", 7)
    ]


def test_a_new_epoch_from_another_primary_is_no_ambiguity() -> None:
    """The good failover example: n3 follows n1 at epoch 1, then n2 at epoch 2."""
    text = (
        Path(__file__).resolve().parent.parent / "examples/traces/good_failover.jsonl"
    ).read_text()
    events = [json.loads(line) for line in text.splitlines()]
    assert not oracle.check_events(events, all_violations=True).violations


def test_a_replica_follows_neither_claimant() -> None:
    """P6-A1 (one primary followed per epoch): replication from either claimant is
    refused, naming the other; the spec disables it too (checked above)."""
    s = two_claimants().with_node(2, NodeState(Durable("Replica", 1, ()), Volatile()))
    for p, k in ((0, 1), (1, 0)):
        why = core.refusal(s, core.Replicate(p, 2))
        assert why == f"n{k} also claims Primary at epoch 2: authority ambiguity (P6-A1)"
    assert core.refusal(s, AmbiguityHalt(2, 0, 1)) is None


def test_the_replication_guard_alone_keeps_one_primary_followed() -> None:
    """P6-A1 one-primary-followed, step by step from any state: with single_controller
    dropped (two primaries of one epoch possible) no step of the correct model breaks
    it, and the mutant follow_ambiguous_primary breaks it with replicate and adopt."""
    step = next(sp for sp in spec_properties.STEP_PROPERTIES if sp.name == "one-primary-followed")
    dropped = frozenset({"single_controller"})
    breaking: dict[str | None, set[str]] = {}
    for mutant in (None, "follow_ambiguous_primary"):
        cfg = Config(n=3, dropped=dropped, mutant=mutant)
        s, t_ = spec_cluster.fresh_state(3, "p0"), spec_cluster.fresh_state(3, "p1")
        found = breaking.setdefault(mutant, set())
        for act in spec_cluster.actions(cfg, s, t_, "p"):
            solver = z3.Solver()
            solver.add(act.formula, z3.Not(step.holds(s, t_)))
            if solver.check() != z3.unsat:
                found.add(act.name)
    assert breaking == {None: set(), "follow_ambiguous_primary": {"replicate", "adopt"}}
