"""Regressions found by the lockstep state machines (tests/test_stateful_lockstep.py).

Covers: a replica that replicates from a primary of a higher epoch persists
the adopted epoch (its marker) before it appends the entry (its WAL); killed
between the two writes -- here by the ``wal.append`` failpoint -- its
directory held the new epoch and the old WAL. No crash outcome of the spec's
atomic ``replicate`` explained that, so the shell raised DiskModelMismatch on
a legitimate crash (found by a random lockstep run, 2026-11-29). The spec now
has ``adopt``, the epoch half of such a replicate, and the shell and the
explorer take it as a step of its own (``baton.core.partial_steps``); P6-A3
holds in the adopted state (the replica's epoch only grows).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from baton import core
from baton.cluster import RuntimeCluster
from baton.controller import Controller, PromotionRequest
from baton.spec.concrete import violated_properties
from baton.storage import Disk, PosixDisk, SimDisk


def _promoted_with_a_lagging_replica(disks: list[Disk]) -> RuntimeCluster:
    """n1 promoted at epoch 2 after n0 crashed; n2 still at epoch 1 with an empty WAL."""
    cluster = RuntimeCluster(disks, "async")
    cluster.apply(core.Write(0))
    cluster.apply(core.Ack(0))
    cluster.apply(core.Replicate(0, 1))
    cluster.crash(0)
    controller = Controller(cluster)
    result = controller.request_promotion(PromotionRequest("n1", operator="alice"))
    assert result.state == "PromotionSucceeded"
    controller.acknowledge("n1", operator="t")
    lagging = cluster.state.nodes[2].durable
    assert (lagging.epoch, lagging.wal) == (1, ())
    return cluster


@pytest.mark.parametrize("backend", ["simulated", "posix"])
def test_crash_between_epoch_adoption_and_append_is_the_adopt_state(
    backend: str, tmp_path: Path
) -> None:
    disks: list[Disk] = [SimDisk() for _ in range(3)]
    if backend == "posix":
        for i in range(3):
            (tmp_path / f"n{i}").mkdir()
        disks = [PosixDisk(tmp_path / f"n{i}") for i in range(3)]
    cluster = _promoted_with_a_lagging_replica(disks)
    before = cluster.state
    assert core.partial_steps(before, core.Replicate(1, 2)) == (core.Adopt(1, 2),)
    cluster.arm(2, "wal.append")
    cluster.apply(core.Replicate(1, 2))  # was: DiskModelMismatch
    adopted, _ = core.step(before, core.Adopt(1, 2))
    expected, _ = core.step(adopted, core.Crash(2))
    assert cluster.state == expected
    assert cluster.state.nodes[2].durable == core.Durable("Replica", 2, ())
    assert violated_properties(core.to_snapshot(cluster.state)) == []
    cluster.restart(2)  # recovery reads the same from the directory
    cluster.apply(core.Replicate(1, 2))  # and replication carries on at epoch 2
    assert cluster.state.nodes[2].durable.wal == cluster.state.nodes[1].durable.wal[:1]
