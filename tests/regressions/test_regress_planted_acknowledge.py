"""Planted bug: the lifecycle spec allows ``acknowledge`` from AuthorityTransitioning.

Add AuthorityTransitioning to the source states of ``acknowledge`` in
``baton.spec.lifecycle`` and regenerate the runtime's table (what ``baton
generate`` writes to impl/_table.py): the core then lets an operator end an
attempt whose marker write is in flight, and a second attempt can run while
the first candidate's marker lands -- a 15-step P6-S1 violation. The explorer
once passed with this bug: it proposed only the actions it expected the
lifecycle to allow. Now the core enumerates every action its own guards
admit, and the spec's cluster relation (acknowledge only after a success or
a denial) explains no such step: the verify obligation fails at N=2, W=1, P=1.
"""

from __future__ import annotations

import pytest
import z3
from baton import lifecycle
from baton.proofs import explore, obligations
from baton.spec import lifecycle as spec_lifecycle


def _verify_obligation(name: str) -> obligations.Obligation:
    """The full ``baton verify`` obligation ``name`` (one worker: cheap for CI)."""
    (ob,) = [ob for ob in obligations.build(quick=False) if ob.name == name]
    return obligations.Obligation(
        ob.name, ob.group, ob.properties, ob.method, ob.description, {**ob.params, "workers": 1}
    )


def _planted_table() -> dict[tuple[str, str], str]:
    """The table ``baton generate`` would write from the planted lifecycle spec."""
    S = spec_lifecycle.S

    def ack_guard(s: z3.ExprRef) -> z3.BoolRef:
        return z3.Or(
            s == S["PromotionSucceeded"],
            s == S["PromotionDenied"],
            s == S["AuthorityTransitioning"],
        )

    rules = tuple(
        (ev, ack_guard if ev == "acknowledge" else guard, dst)
        for ev, guard, dst in spec_lifecycle.RULES
    )
    return {(src, ev): dst for src, ev, dst in spec_lifecycle.enumerate_transitions(rules)}


def test_verify_catches_acknowledge_during_transition(monkeypatch: pytest.MonkeyPatch) -> None:
    table = _planted_table()
    assert table[("AuthorityTransitioning", "acknowledge")] == "Steady"
    monkeypatch.setattr(lifecycle, "TRANSITIONS", table)
    outcome = obligations.run(_verify_obligation("explore.N2.W1.P1.async"))
    assert not outcome.passed and outcome.verdict == "failed", outcome.detail
    cx = outcome.counterexample
    assert cx is not None and cx["violated"] == [explore.REFINEMENT]
    last = cx["steps"][-1]
    assert last["action"] == "acknowledge(n0)" or last["action"].startswith("acknowledge(")
    assert "AuthorityTransitioning -> Steady" in " ".join(last["changes"])
    assert len(cx["steps"]) == 6
