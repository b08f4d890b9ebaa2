"""Regressions: failing seeds and shrunk failures, pasted as tests (every failing seed becomes one).

Covers: the replay command of a failing seed reproduces it (a real bug found
by tests/test_simulate.py: naming ``--mode`` skipped a random draw, so the
"replay" ran a different simulation); the seeds on which each runtime mutant
and the untruthful operator were first caught keep failing (P6-A1, P6-A3,
P6-S1, nothing lost), and the same seeds pass on the real runtime; the shrunk
lockstep sequence start(n=2) / request(1) / request(1) raises
DuplicateRequest and changes neither the model nor the disk; seed 1192 on
simulated disks, where a candidate shipped WAL entries tagged with an epoch
whose marker was not yet durable -- a power cut then erased that epoch, yet
the receivers had "seen" it (the "seen epoch e+1" check of nothing lost fired on a
simulator bug, fixed in ``Simulation.ship``).

If a deliberate change to the simulator shifts the random stream, re-pin the
seeds with ``baton simulate --seeds 0..150 --mutant NAME`` (the first
failing seed) -- never drop one.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from baton import core
from baton.cluster import RuntimeCluster
from baton.errors import DuplicateRequest
from baton.simulate import SimConfig, simulate

FIRST_FAILING_SEED: dict[str, tuple[int, str]] = {
    # mutant -> (seed, mode) as printed by `baton simulate --seeds 0..150 --mutant NAME`
    "restart_keeps_authority": (14, "async"),
    "no_epoch_bump": (1, "async"),
    "ack_unsynced_standby": (0, "sync"),
    "restart_forgets_epoch": (1, "async"),
}
UNTRUTHFUL_SEED = 67
"""`baton simulate --seed 67 --untruthful-operator`: force over a live primary of
Unknown status; the new marker lands while the old primary still writes (P6-A3/P6-A1)."""


@pytest.mark.parametrize("seed", range(0, 20))
def test_naming_the_mode_replays_the_same_run(seed: int) -> None:
    """Determinism: the printed replay command (which names --mode) gives the same trace."""
    first = simulate(SimConfig(seed=seed))
    replay = simulate(SimConfig(seed=seed, mode=first.config.mode))
    assert replay.sha256 == first.sha256


@pytest.mark.parametrize("mutant", sorted(FIRST_FAILING_SEED))
def test_pinned_mutant_seed_still_fails(mutant: str) -> None:
    """The seed that caught the mutant still does; the real runtime passes it."""
    seed, mode = FIRST_FAILING_SEED[mutant]
    assert not simulate(SimConfig(seed=seed, mode=mode, mutant=mutant)).ok
    assert simulate(SimConfig(seed=seed, mode=mode)).ok


def test_pinned_untruthful_operator_seed_still_fails() -> None:
    """force_is_truthful dropped: two authorities (P6-A1/P6-A3); truthful: none."""
    result = simulate(SimConfig(seed=UNTRUTHFUL_SEED, mode="async", untruthful=True))
    # Two authorities (P6-A1/A3), or first the candidate approved while the live old
    # primary acknowledges writes it lacks (P6-S2, an approved candidate holds them all).
    assert result.violation is not None
    assert any(pid in result.violation for pid in ("P6-A", "P6-S2"))
    assert simulate(SimConfig(seed=UNTRUTHFUL_SEED, mode="async")).ok


def test_shrunk_duplicate_request_on_the_same_candidate(tmp_path: Path) -> None:
    """Shrunk by hypothesis: start(n=2, async); request(c=1); request(c=1). The second
    request raises DuplicateRequest naming the attempt in progress; nothing changes."""
    cluster = RuntimeCluster.on_directories(tmp_path, 2, "async")
    cluster.apply(core.Request(1, False))
    before = cluster.state
    disk_before = [node.read_durable() for node in cluster.nodes]
    with pytest.raises(DuplicateRequest) as info:
        cluster.apply(core.Request(1, False))
    assert info.value.in_progress in ("1", cluster.names[1])
    assert cluster.state == before
    assert [node.read_durable() for node in cluster.nodes] == disk_before
    cluster.close()


def test_seed_1192_candidate_does_not_leak_a_non_durable_epoch() -> None:
    """Nothing lost: no node hears of an epoch before its marker is durable (seed 1192)."""
    cfg = SimConfig(seed=1192, steps=400, nodes=5, mode="sync", disk="sim")
    result = simulate(cfg)
    assert result.ok, result.violation
