"""The lockstep machine catches broken runtimes (mutants of the core's step).

Covers: each runtime mutant of :data:`baton.simulate.MUTANTS` (fenced restart
dropped, no epoch bump, sync ack without the standby, recovery forgetting the
epoch) is run inside the runtime shell (``baton.cluster.RuntimeCluster``
calls ``baton.core.step``, patched here) and the lockstep machine of
``tests/test_stateful_lockstep.py`` must fail: a step outside the spec's
relation, a violated property (P6-A1, P6-A3, P6-S1) or a disk that disagrees
with the model. A check that cannot fail proves nothing; this shows it can.
"""

from __future__ import annotations

import pytest
from baton import core
from baton.errors import BatonError
from baton.simulate import MUTANTS
from hypothesis import Phase, settings
from hypothesis.stateful import run_state_machine_as_test
from test_stateful_lockstep import SimulatedDisks

# Every runtime mutant: the lockstep machine must catch each within this budget.
CAUGHT = sorted(MUTANTS)
EXAMPLES = 60


@pytest.mark.parametrize("mutant", CAUGHT)
def test_lockstep_catches_runtime_mutant(mutant: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The mutant's first wrong step fails the machine (spec step, property or disk check)."""
    monkeypatch.setattr(core, "step", MUTANTS[mutant][0])
    budget = settings(
        max_examples=EXAMPLES,
        stateful_step_count=50,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],  # finding it is the point; shrinking costs Z3 time
    )
    # AssertionError: a spec step, property or disk check failed; Failed: a refused
    # action did not raise; BatonError: the shell's own disk-vs-model check fired.
    with pytest.raises((AssertionError, BatonError, pytest.fail.Exception)):
        run_state_machine_as_test(SimulatedDisks, settings=budget)
