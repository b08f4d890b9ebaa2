"""Planted bug: the core's prefix comparison always says Compatible (P6-S2, P6-S1).

With ``observed_context`` comparing nothing (every candidate's WAL "is a
prefix" of the acknowledged source), a candidate holding a divergent history
is approved; an exhaustive search of the core at N=3, W=2, P=2 sync then
reaches a 26-step run that loses an acknowledged write (P6-S1). ``baton
verify`` once passed with this bug. Now the explorer checks every core step
against the spec's transition relation: the core's approval of a divergent
candidate is no spec step (the spec's verdict is history_divergent), so the
full verify's explorer obligation at N=2, W=2, P=2 sync fails, with the path.
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


def test_verify_catches_prefix_always_compatible(monkeypatch: pytest.MonkeyPatch) -> None:
    ob = _verify_obligation("explore.N2.W2.P2.sync")

    def no_comparison(a: tuple[core.Entry, ...], b: tuple[core.Entry, ...]) -> int:
        return min(len(a), len(b))  # "the common prefix is the shorter log": Compatible

    monkeypatch.setattr(core, "_common_prefix", no_comparison)
    outcome = obligations.run(ob)
    assert not outcome.passed and outcome.verdict == "failed", outcome.detail
    cx = outcome.counterexample
    assert cx is not None and cx["violated"] == [explore.REFINEMENT]
    steps = cx["steps"]
    assert steps[-1]["action"].startswith("decide(")  # the approval the spec denies
    assert "PromotionValidating -> PromotionApproved" in " ".join(steps[-1]["changes"])
    assert "is no step of the spec" in outcome.detail and "1." in outcome.detail
    assert len(steps) == 18
