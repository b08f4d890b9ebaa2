"""The spec's concrete-state API (spec/concrete.py) and the cluster model's basics.

Covers: property predicates evaluated on concrete snapshots (P6-A1, P6-A3,
P6-S1), single steps recognised by the transition relation, a step the
relation forbids being rejected; and the compiled evaluator (baton.spec.compiled,
what the explorer uses on every step) agreeing with Z3 on explored transitions,
on random pairs, and on integer choices, and refusing terms it cannot translate.
"""

from __future__ import annotations

import random

import pytest
import z3
from baton import core
from baton.proofs.explore import Bounds, abstraction, explore, successors
from baton.spec.cluster import Config, fresh_state
from baton.spec.compiled import CompileError, compile_step, compiled, flatten
from baton.spec.concrete import NodeSnapshot, Snapshot, explaining_actions, violated_properties

PRIMARY = NodeSnapshot(role="Primary", active=True)
INITIAL = Snapshot(nodes=(PRIMARY, NodeSnapshot()))


def test_initial_state_satisfies_every_property() -> None:
    assert violated_properties(INITIAL) == []


def test_two_writers_violate_single_writer() -> None:
    """P6-A1 and P6-A3 are violated by two writable primaries."""
    two = Snapshot(nodes=(PRIMARY, NodeSnapshot(role="Primary", active=True, epoch=2)))
    assert violated_properties(two) == ["P6-A1", "P6-A3"]


def test_writer_missing_acked_write_violates_s1() -> None:
    """P6-S1: the writable node lacks an acknowledged entry."""
    lost = Snapshot(nodes=(PRIMARY, NodeSnapshot()), acked=("w1",))
    assert "P6-S1" in violated_properties(lost)


def test_write_step_is_recognised() -> None:
    after = Snapshot(nodes=(NodeSnapshot(role="Primary", active=True, wal=("w1",)), NodeSnapshot()))
    assert explaining_actions(Config(n=2), INITIAL, after) == ["write[0]"]


def test_replica_cannot_write() -> None:
    """A replica appending on its own is no step of the relation."""
    after = Snapshot(nodes=(PRIMARY, NodeSnapshot(wal=("x",))))
    assert explaining_actions(Config(n=2), INITIAL, after) == []


# --- the compiled evaluator (baton.spec.compiled) against Z3 ------------------------------


def _explored_steps(bounds: Bounds) -> list[tuple[core.ClusterState, core.ClusterState]]:
    """Every (before, after) transition of a small exploration of the real core."""
    states: list[core.ClusterState] = []
    explore(bounds, visit=states.append)
    return [(s, t) for s in states for _a, t, _m in successors(s)]


@pytest.mark.parametrize("mode", ["async", "sync"])
def test_compiled_steps_agree_with_z3_on_explored_transitions(mode: str) -> None:
    """On sampled core transitions (N=2, one write, one promotion), the compiled
    transition relation names exactly the actions Z3 finds; so do swapped pairs
    (mostly no step at all), and the compiled properties agree with Z3's."""
    cfg = Config(n=2, mode=mode)
    model = compiled(cfg)
    steps = _explored_steps(Bounds(2, 1, 1, mode))
    rng = random.Random(12)
    for before, after in rng.sample(steps, 25):
        b, a = core.to_snapshot(before), core.to_snapshot(after)
        fb, fa = flatten(b), flatten(a)
        assert fb == abstraction(before) and fa == abstraction(after)
        assert model.explaining(fb, fa) == explaining_actions(cfg, b, a)
        assert model.explaining(fa, fb) == explaining_actions(cfg, a, b)
        assert model.violated(fa) == violated_properties(a)


def test_compiled_steps_agree_with_z3_on_random_pairs() -> None:
    """Random pairs of explored N=3 states (almost never a step) and a few real steps:
    the compiled relation and Z3 agree on every action instance."""
    cfg = Config(n=3, mode="sync")
    model = compiled(cfg)
    states: list[core.ClusterState] = []
    explore(Bounds(3, 1, 1, "sync"), visit=states.append, max_states=3000)
    rng = random.Random(7)
    pairs = [(rng.choice(states), rng.choice(states)) for _ in range(8)]
    for s in rng.sample(states, 5):
        pairs += [(s, t) for _a, t, _m in successors(s)][:2]
    for before, after in pairs:
        b, a = core.to_snapshot(before), core.to_snapshot(after)
        assert model.explaining(flatten(b), flatten(a)) == explaining_actions(cfg, b, a)


def test_integer_choices_are_enumerated_exactly() -> None:
    """begin_transition's granted epoch is a free integer choice: any value but
    highest + 1 is no step, however far from the candidates the compiler tries."""
    cfg = Config(n=2, mode="async")
    model = compiled(cfg)
    before = Snapshot(nodes=(NodeSnapshot(lifecycle="PromotionApproved", epoch=3), PRIMARY))
    for grant in range(-2, 9):
        after = Snapshot(
            nodes=(
                NodeSnapshot(lifecycle="AuthorityTransitioning", epoch=3, grant=grant, pepoch=3),
                PRIMARY,
            )
        )
        expected = explaining_actions(cfg, before, after)
        assert model.explaining(flatten(before), flatten(after)) == expected
        assert (expected == ["begin_transition[0]"]) == (grant == 4)


def test_compiler_refuses_what_it_cannot_translate() -> None:
    """An unknown term kind is an error at compile time, never a guess."""
    s, t = fresh_state(2, "b"), fresh_state(2, "a")
    with pytest.raises(CompileError):
        compile_step(z3.BV2Int(z3.BitVec("x", 4)) == s.epoch[0], s, t, "bv")
    with pytest.raises(CompileError):
        compile_step(z3.Int("k") * 2 == s.epoch[0], s, t, "scaled-choice")
