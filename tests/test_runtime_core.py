"""The pure core (impl/core.py) cross-checked against the spec, step by step.

Covers: every step of seeded random walks is a step of the spec's transition
relation (baton.spec.concrete.explaining_actions) and every reached state
satisfies every property (P6-A1, P6-A2, P6-A3, P6-S1, P6-S2, P6-F2, P6-F3);
the marker's crash outcomes equal the spec's (P6-F2); effect ordering
(durable, visible, observe); the two mechanisms that close the
approval-to-marker gap: fenced restart + gated reinstatement and serialised
attempts (P6-S1, P6-A1); recover() comes up fenced in Steady; refused actions
raise a named error and change nothing; the state is a hashable value.
"""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
from baton import core
from baton.core import (
    Ack,
    Acknowledge,
    BeginTransition,
    BeginValidation,
    Complete,
    Crash,
    Decide,
    MarkerOp,
    Reinstate,
    Replicate,
    Request,
    Restart,
    Write,
)
from baton.errors import ActionNotEnabled, DuplicateRequest, IllegalTransition, MarkerCorrupt
from baton.spec.cluster import Config, crash_outcomes_by_stage
from baton.spec.concrete import explaining_actions, violated_properties


def run(state: core.ClusterState, *actions: core.Action) -> core.ClusterState:
    for action in actions:
        state, _ = core.step(state, action)
    return state


def promote(state: core.ClusterState, c: int, force: bool = False) -> core.ClusterState:
    obs = core.Observation(primary_uncertain=force)
    state = run(state, Request(c, force), BeginValidation(c), Decide(c, obs))
    assert state.nodes[c].lifecycle == "PromotionApproved", state.nodes[c].record.reason
    state = run(state, BeginTransition(c))
    for op in core.MARKER_OPS:
        state = run(state, MarkerOp(c, op))
    return run(state, Complete(c), Acknowledge(c))


@pytest.mark.parametrize(("mode", "seed"), [("async", 1), ("sync", 2), ("async", 3)])
def test_random_walk_is_a_spec_behaviour(mode: str, seed: int) -> None:
    """Each core step is explained by the spec's relation; no property is violated."""
    rng = random.Random(seed)
    cfg = Config(n=2, mode=mode)
    state = core.initial_state(2, mode)
    for _ in range(22):
        action = rng.choice(core.enabled_actions(state))
        nxt, _ = core.step(state, action)
        names = explaining_actions(cfg, core.to_snapshot(state), core.to_snapshot(nxt))
        assert set(names) & set(core.spec_action_names(action)), (action, names)
        assert violated_properties(core.to_snapshot(nxt)) == [], action
        state = nxt


def test_failover_path_is_a_spec_behaviour() -> None:
    """A full failover (write, replicate, crash, promote, restart old) matches the spec."""
    cfg = Config(n=3, mode="async")
    state = core.initial_state(3, "async")
    path: list[core.Action] = [Write(0), Ack(0), Replicate(0, 1), Crash(0), Request(1)]
    path += [BeginValidation(1), Decide(1), BeginTransition(1)]
    path += [MarkerOp(1, op) for op in core.MARKER_OPS]
    path += [Complete(1), Acknowledge(1), Restart(0), core.Demote(0)]
    for action in path:
        nxt, _ = core.step(state, action)
        names = explaining_actions(cfg, core.to_snapshot(state), core.to_snapshot(nxt))
        assert set(names) & set(core.spec_action_names(action)), (action, names)
        assert violated_properties(core.to_snapshot(nxt)) == []
        state = nxt
    assert state.nodes[1].writable and state.nodes[1].durable.epoch == 2
    assert state.nodes[0].durable.marker_role == "Replica"


@pytest.mark.parametrize("stage", range(len(core.MARKER_OPS) + 1))
def test_marker_crash_outcomes_equal_the_spec(stage: int) -> None:
    """P6-F2: after k marker operations, a crash leaves exactly the spec's outcomes."""
    assert core.marker_crash_outcomes(stage) == crash_outcomes_by_stage(core.MARKER_OPS)[stage]


def test_crash_mid_marker_yields_old_or_new_authority() -> None:
    """P6-F2: a crash after the rename but before the dir fsync lands as old or new."""
    state = run(core.initial_state(2), Crash(0), Request(1), BeginValidation(1), Decide(1))
    state = run(state, BeginTransition(1), *(MarkerOp(1, op) for op in core.MARKER_OPS[:3]))
    outcomes = {a.outcome for a in core.enabled_actions(state) if isinstance(a, Crash)}
    assert outcomes == {"old", "new"}
    old = run(state, Crash(1, "old"))
    assert (old.nodes[1].durable.marker_role, old.nodes[1].durable.epoch) == ("Replica", 1)
    new = run(state, Crash(1, "new"))
    assert (new.nodes[1].durable.marker_role, new.nodes[1].durable.epoch) == ("Primary", 2)
    with pytest.raises(ActionNotEnabled):
        core.step(state, Crash(1, "torn"))  # data was fsynced before the rename


def test_effects_are_durable_then_visible_then_observed() -> None:
    """Ordering rule: no durable effect after a visible one, observations last."""
    rng = random.Random(7)
    state = core.initial_state(3, "sync")
    for _ in range(300):
        action = rng.choice(core.enabled_actions(state))
        state, effects = core.step(state, action)
        phases = [e.phase for e in effects]
        assert phases == sorted(phases), (action, effects)


def test_complete_only_after_the_marker_is_durable() -> None:
    """P6-A2: complete is refused until all four marker operations are done."""
    state = run(core.initial_state(2), Crash(0), Request(1), BeginValidation(1), Decide(1))
    state = run(state, BeginTransition(1), *(MarkerOp(1, op) for op in core.MARKER_OPS[:3]))
    with pytest.raises(ActionNotEnabled):
        core.step(state, Complete(1))
    state, effects = core.step(run(state, MarkerOp(1, "fsync_dir")), Complete(1))
    assert state.nodes[1].writable
    assert isinstance(effects[0], core.Announce)


def test_restarted_primary_is_fenced_until_reinstated() -> None:
    """Mechanism 1 (P6-S1, P6-A1): restart never makes a node writable by itself."""
    state = run(core.initial_state(2), Crash(0), Restart(0))
    assert not state.nodes[0].writable
    assert run(state, Reinstate(0)).nodes[0].writable


def test_no_reinstatement_while_an_attempt_is_in_flight() -> None:
    """The 11-step hazard: after approval the old primary cannot be reinstated (P6-S1)."""
    state = run(core.initial_state(2), Write(0), Ack(0), Replicate(0, 1), Crash(0))
    state = run(state, Request(1), BeginValidation(1), Decide(1), Restart(0))
    assert state.nodes[1].lifecycle == "PromotionApproved"
    with pytest.raises(ActionNotEnabled) as info:
        core.step(state, Reinstate(0))
    assert "in flight" in str(info.value)


def test_duplicate_request_is_rejected_without_disturbing_the_attempt() -> None:
    """Mechanism 2 (P6-A1): one attempt at a time; the duplicate changes nothing."""
    state = run(core.initial_state(3), Crash(0), Request(1), BeginValidation(1))
    with pytest.raises(DuplicateRequest) as info:
        core.step(state, Request(2))
    assert info.value.in_progress == "1"  # the core names nodes by index
    assert core.refusal(state, Request(1)) is not None
    assert state.nodes[1].lifecycle == "PromotionValidating"


def test_illegal_lifecycle_event_raises_with_state_and_event() -> None:
    """P6-D2/P6-F3: e.g. begin_transition from Steady is an IllegalTransition."""
    with pytest.raises(IllegalTransition) as info:
        core.step(core.initial_state(2), BeginTransition(1))
    assert (info.value.state, info.value.event) == ("Steady", "begin_transition")


def test_recover_comes_up_fenced_in_steady_and_refuses_a_torn_marker() -> None:
    """recover(durable) is the only way back: Steady, not writable; Torn refuses (P6-F2)."""
    vol = core.recover(core.Durable("Primary", 3, ((3, 1),)))
    assert (vol.active, vol.lifecycle, vol.marker_stage) == (False, "Steady", 0)
    with pytest.raises(MarkerCorrupt):
        core.recover(core.Durable("Torn", 3))


def test_lagging_candidate_is_denied_with_p6_s1() -> None:
    """P6-S1: a replica missing an acknowledged write is denied, reason named."""
    state = run(core.initial_state(2), Write(0), Ack(0), Crash(0), Request(1), BeginValidation(1))
    state, effects = core.step(state, Decide(1))
    assert state.nodes[1].lifecycle == "PromotionDenied"
    verdicts = [
        e.data["verdict"] for e in effects if isinstance(e, core.Emit) and "verdict" in e.data
    ]
    assert verdicts[0].reason == "candidate_behind_ack_bound"
    assert verdicts[0].invariant == "P6-S1"


def test_promotion_grants_highest_epoch_plus_one_and_fences_the_old_primary() -> None:
    """P6-A3: the new epoch is max + 1; the old primary steps down when it sees it."""
    state = promote(run(core.initial_state(3), Crash(0)), 1)
    assert state.nodes[1].durable.epoch == 2
    state = run(state, Restart(0))
    with pytest.raises(ActionNotEnabled):
        core.step(state, Reinstate(0))  # does not hold the highest epoch
    state = run(state, core.Demote(0), Write(1), Replicate(1, 0))
    assert state.nodes[0].durable.epoch == 2  # the replica adopted the new epoch


def test_state_is_a_hashable_value() -> None:
    """The explorer keys visited sets by state: equal states hash equal."""
    a = run(core.initial_state(2), Write(0))
    b = run(core.initial_state(2), Write(0))
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1


def test_dropping_force_is_truthful_shows_the_two_writer_counterexample() -> None:
    """Assumption force_is_truthful: without it a lying force yields two writers (P6-A1)."""
    lie = Decide(1, core.Observation(primary_uncertain=True))
    state = run(core.initial_state(2), Request(1, True), BeginValidation(1))
    assert lie not in core.enabled_actions(state)
    assert lie in core.enabled_actions(state, force_is_truthful=False)
    state = promote_after(state, lie)
    assert state.writable_nodes() == (0, 1)
    assert "P6-A1" in violated_properties(core.to_snapshot(state))


def promote_after(state: core.ClusterState, decide: core.Action) -> core.ClusterState:
    state = run(state, decide, BeginTransition(1))
    return run(state, *(MarkerOp(1, op) for op in core.MARKER_OPS), Complete(1))


# Actions whose spec counterpart has no choice beyond the node parameters, so a
# refusal by the core must mean the spec's action is disabled too.
CHOICE_FREE = (
    core.Write,
    core.Ack,
    core.Replicate,
    core.Adopt,
    core.Diverge,
    core.Restart,
    core.Reinstate,
    core.Demote,
    core.StepDown,
    core.Designate,
    core.Reject,
    core.BeginValidation,
    core.BeginTransition,
    core.MarkerOp,
    core.Complete,
    core.Acknowledge,
    core.Request,
)


@pytest.mark.parametrize("mode", ["async", "sync"])
def test_core_refuses_only_what_the_spec_disables(mode: str) -> None:
    """No needless refusal: an action the core refuses is disabled in the spec too."""
    import z3
    from baton.spec import cluster as spec_cluster
    from baton.spec.concrete import bind

    cfg = Config(n=2, mode=mode)
    rng = random.Random(11)
    state = core.initial_state(2, mode)
    checked = 0
    for _ in range(12):
        s_vars = spec_cluster.fresh_state(2, "s")
        t_vars = spec_cluster.fresh_state(2, "t")
        solver = z3.Solver()
        solver.add(bind(core.to_snapshot(state), s_vars))
        formulas: dict[str, list[z3.BoolRef]] = {}
        for act in spec_cluster.actions(cfg, s_vars, t_vars, "x"):
            formulas.setdefault(f"{act.name}{list(act.nodes)}", []).append(act.formula)
        for action in core.candidate_actions(state):
            if not isinstance(action, CHOICE_FREE) or core.refusal(state, action) is None:
                continue
            for name in core.spec_action_names(action):
                solver.push()
                solver.add(z3.Or(*formulas[name]))
                assert solver.check() == z3.unsat, (action, core.refusal(state, action))
                solver.pop()
                checked += 1
        state, _ = core.step(state, rng.choice(core.enabled_actions(state)))
    assert checked > 100


def test_adopt_is_the_epoch_half_of_a_replicate_and_only_when_epochs_differ() -> None:
    """P6-A3: a replica's durable epoch only grows. Adopt takes the primary's epoch
    without the entry (the state a crash inside Replicate can leave) and is refused,
    saying why, once the replica holds that epoch."""
    state = promote(run(core.initial_state(3), Write(0), Ack(0), Replicate(0, 1), Crash(0)), 1)
    state = run(state, Write(1))
    assert core.partial_steps(state, Replicate(1, 2)) == (core.Adopt(1, 2),)
    adopted = run(state, core.Adopt(1, 2))
    replicated = run(state, Replicate(1, 2))
    assert adopted.nodes[2].durable == replace(state.nodes[2].durable, epoch=2)
    assert replicated.nodes[2].durable.epoch == adopted.nodes[2].durable.epoch == 2
    assert core.partial_steps(adopted, Replicate(1, 2)) == ()
    with pytest.raises(ActionNotEnabled) as info:
        core.step(adopted, core.Adopt(1, 2))
    assert "n2 already holds n1's epoch 2" in str(info.value)


def test_divergent_suffix_is_detected_whatever_the_lengths() -> None:
    """P6-S2: a replica whose WAL differs from the primary's at any position halts
    (Diverge) at once -- also when the primary's WAL is not longer than its own --
    and never takes an entry (Replicate is refused, naming the divergence)."""
    primary = core.NodeState(core.Durable("Primary", 2, ((1, 1), (2, 2))), core.Volatile(True))
    for replica_wal in (((1, 1), (1, 2)), ((1, 1), (1, 2), (1, 3)), ((1, 1), (2, 2), (2, 3))):
        replica = core.NodeState(core.Durable("Replica", 1, replica_wal), core.Volatile())
        s = core.ClusterState("async", (replica, primary))
        assert core.refusal(s, core.Diverge(1, 0)) is None
        assert core.Diverge(1, 0) in core.enabled_actions(s)
        why = core.refusal(s, core.Replicate(1, 0))
        assert why is not None and "not a prefix" in why
        t, _ = core.step(s, core.Diverge(1, 0))
        assert t.nodes[0].durable.marker_role == "Halted"
    # A replica that is a prefix and not behind neither diverges nor replicates.
    replica = core.NodeState(core.Durable("Replica", 2, ((1, 1), (2, 2))), core.Volatile())
    s = core.ClusterState("async", (replica, primary))
    assert core.refusal(s, core.Diverge(1, 0)) is not None
    assert "already holds every entry" in (core.refusal(s, core.Replicate(1, 0)) or "")


def test_effect_phases_say_durable_visible_observe() -> None:
    """The effect rule (durable first, visible after, observations last) rests on each
    effect class's phase: every DURABLE effect is phase 0, every VISIBLE one phase 1,
    Emit phase 2 -- so a marker file operation is never ordered after an Announce."""
    durable = (core.AppendWal, core.SyncWal, core.PersistMarker, core.MarkerFileOp)
    visible = (core.Announce, core.AckClients)
    assert all(cls.phase == 0 for cls in durable)
    assert all(cls.phase == 1 for cls in visible)
    assert core.Emit.phase == 2


def test_ack_that_does_not_extend_the_history_sets_the_p6_s2_ghost() -> None:
    """P6-S2's ghost: an acknowledgement that does not extend the acknowledged
    history (here a primary whose WAL diverges from it) marks the history broken,
    and stays broken; one that extends it leaves it intact."""
    primary = core.NodeState(core.Durable("Primary", 2, ((2, 1),)), core.Volatile(True))
    replica = core.NodeState(core.Durable("Replica", 1, ((1, 1),)), core.Volatile())
    s = core.ClusterState("async", (primary, replica), acked=((1, 1),))
    t, _ = core.step(s, core.Ack(0))
    assert t.broken and t.acked == ((2, 1),)
    t, _ = core.step(t, core.Ack(0))
    assert t.broken  # never repaired
    ok = core.ClusterState("async", (primary, replica), acked=())
    assert not core.step(ok, core.Ack(0))[0].broken


def test_restart_event_says_whether_the_node_comes_up_fenced() -> None:
    """A restarted primary marker comes up fenced (and says so in its trace event);
    a replica does not."""
    s = core.initial_state(2)
    for node, fenced in ((0, True), (1, False)):
        down, _ = core.step(s, core.Crash(node))
        _t, effects = core.step(down, core.Restart(node))
        (event,) = [e for e in effects if isinstance(e, core.Emit) and e.kind == "restart"]
        assert event.data["fenced"] is fenced
