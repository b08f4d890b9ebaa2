"""The explorer's property check against the spec's Z3 predicates.

Covers P6-A1, P6-A2, P6-A3, P6-S1, P6-S2, P6-F2, P6-F3: baton.proofs.explore.violated
(the spec's own predicates compiled to Python by baton.spec.compiled, evaluated
on the refinement mapping of the core state) must give exactly the IDs that
baton.spec.concrete.violated_properties (the same predicates evaluated by Z3)
gives -- on every state of a small exploration, on the states of mutant runs
(which reach violations), and on random, mostly-violating states.
"""

from __future__ import annotations

import random

from baton import core, lifecycle
from baton.proofs import explore as ex
from baton.spec.concrete import violated_properties
from baton.spec.properties import PROPERTY_IDS
from hypothesis import given, settings
from hypothesis import strategies as st


def agree(state: core.ClusterState) -> None:
    assert ex.violated(state) == violated_properties(core.to_snapshot(state)), state


def test_property_ids_are_the_specs() -> None:
    """The explorer checks exactly the spec's cluster properties, in its order."""
    assert ex.PROPERTY_IDS == PROPERTY_IDS


def test_agree_on_every_explored_state() -> None:
    """Every state of the N=2, no-write, one-promotion model (sync: standby matters)."""
    states: list[core.ClusterState] = []
    assert ex.explore(ex.Bounds(2, 0, 1, "sync"), visit=states.append).passed
    for state in states:
        agree(state)


def test_agree_on_mutant_states() -> None:
    """States of mutant runs, violating ones included (sampled deterministically)."""
    rng = random.Random(5)
    for mutant in ("untruthful_force", "restart_keeps_authority"):
        states: list[core.ClusterState] = []
        ex.explore(
            ex.Bounds(2, 1, 1),
            mutant=mutant,
            properties=("P6-S1",),
            refinement=False,
            visit=states.append,
        )
        for state in rng.sample(states, 40) + states[-5:]:
            agree(state)


def _wal(draw: st.DrawFn) -> tuple[core.Entry, ...]:
    epochs = draw(st.lists(st.integers(1, 3), max_size=3))
    return tuple((e, i + 1) for i, e in enumerate(epochs))


@st.composite
def cluster_states(draw: st.DrawFn) -> core.ClusterState:
    n = draw(st.integers(2, 3))
    nodes = []
    for _ in range(n):
        durable = core.Durable(
            draw(st.sampled_from(core.MARKER_ROLES)), draw(st.integers(1, 3)), _wal(draw)
        )
        volatile = None
        if draw(st.booleans()):
            volatile = core.Volatile(
                active=draw(st.booleans()),
                lifecycle=draw(st.sampled_from(lifecycle.STATES)),
                forced=draw(st.booleans()),
                marker_stage=draw(st.integers(0, 4)),
            )
        record = core.AttemptRecord(validations=draw(st.integers(0, 2)))
        nodes.append(core.NodeState(durable, volatile, record))
    return core.ClusterState(
        mode=draw(st.sampled_from(core.MODES)),
        nodes=tuple(nodes),
        standby=draw(st.integers(0, n - 1)),
        acked=_wal(draw),
        broken=draw(st.booleans()),
    )


@settings(max_examples=40)
@given(cluster_states())
def test_agree_on_random_states(state: core.ClusterState) -> None:
    """Arbitrary (mostly unreachable, often violating) states: same verdict per property."""
    agree(state)
