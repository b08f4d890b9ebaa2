"""Planted bug: the replica's epoch fencing is removed from ``_replication_base`` (P6-A3).

Without the check "a replica refuses a lower-epoch primary", a restarted,
fenced old primary ships its WAL to a replica that already adopted a newer
epoch, and the replica takes the old primary's epoch back. ``baton verify``
once passed with this bug, and every core test did. The spec's replicate
requires the replica's epoch to be at most the primary's, so that core step
is no spec step: the full verify's explorer obligation at N=3, W=1, P=1 async
fails with the path to it.
"""

from __future__ import annotations

import pytest
from baton import core
from baton.proofs import explore, obligations


def _verify_obligation(name: str) -> obligations.Obligation:
    """The full ``baton verify`` obligation ``name`` (one worker: cheap for CI)."""
    (ob,) = [ob for ob in obligations.build(quick=False) if ob.name == name]
    return obligations.Obligation(
        ob.name, ob.group, ob.properties, ob.method, ob.description, {**ob.params, "workers": 1}
    )


def test_verify_catches_missing_replica_epoch_fencing(monkeypatch: pytest.MonkeyPatch) -> None:
    ob = _verify_obligation("explore.N3.W1.P1.async")
    fenced = core._replication_base

    def unfenced(s: core.ClusterState, p: int, r: int) -> str | None:
        why = fenced(s, p, r)
        return None if why is not None and "(P6-A3)" in why else why

    monkeypatch.setattr(core, "_replication_base", unfenced)
    outcome = obligations.run(ob)
    assert not outcome.passed and outcome.verdict == "failed", outcome.detail
    cx = outcome.counterexample
    assert cx is not None and cx["violated"] == [explore.REFINEMENT]
    last = cx["steps"][-1]
    assert last["action"].startswith(("replicate(", "adopt(", "diverge("))
    assert "is no step of the spec" in outcome.detail
    assert len(cx["steps"]) == 14
