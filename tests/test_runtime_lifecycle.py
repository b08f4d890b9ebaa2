"""The runtime lifecycle machine (impl/lifecycle.py), driven only by _table.

Covers: every (state, event) pair -- legal pairs reach the spec's successor,
illegal ones raise IllegalTransition with state and event and leave the state
unchanged (P6-D2); the transitions the spec names as forbidden are
impossible by any event; timeout and retry never move (P6-F3); recovery
re-enters Steady.
"""

from __future__ import annotations

import itertools

import pytest
from baton import lifecycle
from baton.errors import IllegalTransition
from baton.spec import lifecycle as spec


@pytest.mark.parametrize(
    ("state", "event"), list(itertools.product(lifecycle.STATES, lifecycle.EVENTS))
)
def test_every_pair_is_decided_by_the_spec(state: str, event: str) -> None:
    """P6-D2: each pair has the spec's successor or raises, changing nothing."""
    machine = lifecycle.PromotionState(state)
    expected = spec.allowed_table().get((state, event))
    if expected is None:
        with pytest.raises(IllegalTransition) as info:
            machine.fire(event)
        assert (info.value.state, info.value.event) == (state, event)
        assert machine.state == state
    else:
        assert machine.fire(event) == expected


@pytest.mark.parametrize(("source", "target"), spec.NAMED_FORBIDDEN)
def test_named_forbidden_transitions_are_impossible(source: str, target: str) -> None:
    """The spec's named forbidden transitions: no event takes source to target."""
    for event in lifecycle.EVENTS:
        assert lifecycle.TRANSITIONS.get((source, event)) != target


def test_timeout_and_retry_never_move() -> None:
    """P6-F3: no timeout- or retry-driven transition in any state."""
    for state in lifecycle.STATES:
        assert set(lifecycle.allowed_events(state)).isdisjoint({"timeout", "retry"})


def test_happy_path_and_recovery() -> None:
    """The success path ends in Steady; a crash mid-way re-enters Steady."""
    machine = lifecycle.PromotionState()
    for event in ("request", "begin_validation", "approve", "begin_transition"):
        machine.fire(event)
    assert machine.state == "AuthorityTransitioning"
    assert machine.recover() == "Steady"
    with pytest.raises(IllegalTransition):
        machine.fire("complete")  # no re-entering the attempt after a crash
