"""Self-conformance at random: traces of the runtime's pure core always conform.

Hypothesis picks a seed, cluster size and mode; a seeded walk over the core's
enabled actions (crashes with every marker outcome except torn, restarts,
reinstatements, forced and uncertain promotions, refused duplicate requests)
is recorded with the runtime's trace recorder (baton.events) and checked by
the oracle: every rule P6-A1 .. P6-O2 must hold on every walk. A walk that
broke a rule would be either an oracle false positive or a runtime bug, and
the failure names the line, the invariant and the state.
"""

from __future__ import annotations

import io
import random

from baton import core, oracle, vectors
from hypothesis import given
from hypothesis import strategies as st

OBSERVATIONS = (
    core.Observation(),
    core.Observation(primary_uncertain=True),
    core.Observation(mvcc="Unknown"),
    core.Observation(bound_known=False),
)


@given(st.integers(0, 2**32 - 1), st.sampled_from([2, 3, 4]), st.sampled_from(["async", "sync"]))
def test_core_walk_traces_conform(seed: int, n: int, mode: str) -> None:
    """P6-A1..P6-O2: a random walk of the core yields a trace the oracle passes in full."""
    rng = random.Random(seed)
    state = core.initial_state(n, mode)
    actions: list[core.Action] = []
    for _ in range(40):
        enabled = [
            a
            for a in core.enabled_actions(state, OBSERVATIONS)
            if not (isinstance(a, core.Crash) and a.outcome == "torn")
        ]
        extra = core.Request(rng.randrange(n))
        if rng.random() < 0.1 and core.refusal(state, extra) is not None:
            actions.append(extra)  # refused (duplicate or down): a request line, then reject
            continue
        action = rng.choice(enabled)
        state, _ = core.step(state, action)
        actions.append(action)
    for i in range(n):  # settle: an attempt never stops before its decision (P6-O1)
        if state.nodes[i].lifecycle == "PromotionRequested":
            actions.append(core.BeginValidation(i))
            state, _ = core.step(state, actions[-1])
        if state.nodes[i].lifecycle == "PromotionValidating":
            actions.append(core.Decide(i))
            state, _ = core.step(state, actions[-1])
    run = vectors.run_actions(n, mode, actions)
    verdict = oracle.check_stream(io.StringIO(run["trace"]), f"walk {seed}", all_violations=True)
    assert verdict.status == "conforms", oracle.render(verdict)
