"""The spec's concrete-state API (spec/concrete.py) and the cluster model's basics.

Covers: property predicates evaluated on concrete snapshots (P6-A1, P6-A3,
P6-S1), single steps recognised by the transition relation, and a step the
relation forbids being rejected.
"""

from __future__ import annotations

from baton.spec.cluster import Config
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
