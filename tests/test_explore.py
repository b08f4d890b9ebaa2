"""The explicit-state explorer (baton.proofs.explore, ``baton explore``).

Covers: the pinned manifest (distinct-state counts and verdicts of fast and
known-bad models); the core's grouped enumeration equals filtering every
candidate by refusal() on every explored state (the explorer prunes nothing);
symmetry reduction is exact (the reduced search visits exactly the orbits of
the full one) and so is the dead-value reduction; the multi-process search
counts what the sequential one counts; the initial state is checked against
the spec's; each runtime-core mutant is refused by the spec at its first
broken step, and without refinement yields a property counterexample that
replays on the core (P6-A1, P6-A3, P6-S1); a search stopped at --max-states
is not a pass; the CLI's exit statuses, JSON and per-step changes.
"""

from __future__ import annotations

import json

import pytest
from baton import core
from baton.cli import main
from baton.proofs import explore as ex


@pytest.mark.parametrize("entry", ex.load_manifest()["models"], ids=lambda e: e["name"])
def test_manifest_pins_state_counts_and_verdicts(entry: dict[str, object]) -> None:
    """Pattern 10: each pinned model gives its pinned state count, verdict and cx length."""
    ok, detail, _result = ex.check_manifest_entry(entry)  # type: ignore[arg-type]
    assert ok, detail


@pytest.mark.parametrize("mode", ["async", "sync"])
def test_core_enumeration_is_refusal_exactly(mode: str) -> None:
    """The core's grouped enumeration (gates evaluated once) equals filtering every
    candidate action by refusal(), on every explored state: the explorer prunes nothing."""
    seen: list[core.ClusterState] = []
    result = ex.explore(ex.Bounds(2, 1, 1, mode), visit=seen.append)
    assert result.passed and len(seen) == result.states
    for state in seen[::3]:
        for truthful in (True, False):
            expected = tuple(
                a
                for a in core.candidate_actions(state, core.ALL_OBSERVATIONS)
                if core.refusal(state, a) is None
                and (not truthful or core.environment_allows(state, a))
            )
            enabled = core.enabled_actions(state, core.ALL_OBSERVATIONS, force_is_truthful=truthful)
            assert enabled == expected
            succ = list(core.successors(state, core.ALL_OBSERVATIONS, force_is_truthful=truthful))
            assert succ == [(a, core.step(state, a)[0]) for a in expected]


def test_symmetry_reduction_is_exact() -> None:
    """The reduced search reaches exactly the relabelling-orbits of the full search."""
    full: list[core.ClusterState] = []
    reduced: list[core.ClusterState] = []
    bounds = ex.Bounds(3, 0, 1, "sync")
    r_full = ex.explore(bounds, symmetry=False, visit=full.append)
    r_reduced = ex.explore(bounds, symmetry=True, visit=reduced.append)
    assert r_full.passed and r_reduced.passed
    assert r_reduced.states < r_full.states
    assert r_reduced.max_depth == r_full.max_depth
    # Both counts include the bound counters; compare the core states' orbits.
    orbits_full = {ex.state_key(s, symmetry=True) for s in full}
    orbits_reduced = {ex.state_key(s, symmetry=True) for s in reduced}
    assert orbits_full == orbits_reduced


def test_symmetric_key_ignores_replica_relabelling() -> None:
    """Swapping two replicas (and the standby with them) keeps the canonical key."""
    s = core.initial_state(3, "sync")
    s, _ = core.step(s, core.Write(0))
    s, _ = core.step(s, core.Replicate(0, 2))
    swapped = core.ClusterState(
        mode=s.mode, nodes=(s.nodes[0], s.nodes[2], s.nodes[1]), standby=2, acked=s.acked
    )
    assert ex.state_key(s) == ex.state_key(swapped)
    assert ex.state_key(s, symmetry=False) != ex.state_key(swapped, symmetry=False)


@pytest.mark.parametrize(
    ("mutant", "bounds", "properties", "expected"),
    [
        ("restart_keeps_authority", ex.Bounds(2, 1, 1), ("P6-S1",), "P6-S1"),
        ("reinstate_during_attempt", ex.Bounds(2, 1, 1), ("P6-S1",), "P6-S1"),
        ("untruthful_force", ex.Bounds(2, 0, 1), ("P6-A1",), "P6-A1"),
    ],
)
def test_each_mutant_yields_a_counterexample_that_replays(
    mutant: str, bounds: ex.Bounds, properties: tuple[str, ...], expected: str
) -> None:
    """Every broken variant of the core is caught; its run is real (each step replays)."""
    result = ex.explore(bounds, mutant=mutant, properties=properties, refinement=False)
    assert result.verdict == "violation"
    cx = result.counterexample
    assert cx is not None and expected in cx.violated
    assert expected in ex.violated(cx.steps[-1].state)
    # Shortest: no earlier state of the run violates a checked property.
    assert all(not set(ex.violated(st.state)) & set(properties) for st in cx.steps[:-1])
    assert any(st.mutated for st in cx.steps), "the mutant's broken rule must be used"
    # Unmutated steps are steps of the real core.
    for before, after in zip(cx.steps, cx.steps[1:], strict=False):
        if not after.mutated:
            assert any(t == after.state for _a, t, _m in ex.successors(before.state))


@pytest.mark.parametrize("mutant", sorted(ex.MUTANTS))
def test_refinement_catches_each_mutant(mutant: str) -> None:
    """Each broken variant also takes a step no spec action explains (or, for the
    untruthful operator, breaks a property of the spec without that assumption)."""
    bounds = ex.Bounds(3, 0, 2) if mutant == "concurrent_attempts" else ex.Bounds(2, 1, 1)
    result = ex.explore(bounds, mutant=mutant)
    cx = result.counterexample
    assert cx is not None
    if mutant == "untruthful_force":
        assert cx.violated != [ex.REFINEMENT]
    else:
        assert cx.violated == [ex.REFINEMENT] and cx.steps[-1].mutated
        assert "is no step of the spec" in cx.detail


def test_correct_core_passes_where_the_mutants_fail() -> None:
    """The same bounds that catch concurrent_attempts pass on the real core (P6-A3)."""
    assert ex.explore(ex.Bounds(3, 0, 2)).passed


def test_max_states_is_not_a_pass() -> None:
    """Pattern 9: a search that did not finish is reported incomplete, exit 1."""
    result = ex.explore(ex.Bounds(2, 1, 1), max_states=50)
    assert result.verdict == "incomplete" and not result.passed
    assert main(["explore", "--max-states", "50", "--quiet"]) == 1


def test_cli_exit_statuses_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    """0 pass, 1 violation, 2 usage; --json carries the counts and the counterexample."""
    assert main(["explore", "--nodes", "2", "--writes", "0", "--quiet", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["verdict"] == "pass" and data["finished"] and data["states"] == 140
    code = main(["explore", "--mutant", "restart_keeps_authority", "--quiet", "--json"])
    assert code == 1
    data = json.loads(capsys.readouterr().out)
    cx = data["counterexample"]
    assert data["verdict"] == "violation" and cx["violated"] == ["refinement"]
    assert cx["length"] == 2 and cx["steps"][-1]["changes"] == ["n0: process down -> writable"]
    assert main(["explore", "--mutant", "no_such_mutant"]) == 2
    assert main(["explore", "--nodes", "1"]) == 2
    assert main(["explore", "--properties", "P6-X9"]) == 2
    capsys.readouterr()


def test_cli_prints_readable_counterexample(capsys: pytest.CaptureFixture[str]) -> None:
    """The human report lists the steps, marks mutant steps and shows the final state."""
    code = main(
        [
            "explore",
            "--mutant",
            "restart_keeps_authority",
            "--properties",
            "P6-S1",
            "--no-refinement",
        ]
    )
    out = capsys.readouterr().out
    assert code == 1
    assert "VIOLATION of P6-S1: shortest counterexample, 13 steps" in out
    assert "restart(n0)  [mutant]" in out and "ack(n0)" in out
    assert "n0: process down -> writable" in out  # only what changed, per step
    assert "acked [1.1]" in out


def test_dead_variable_reduction_is_exact() -> None:
    """States keyed together (they differ only in dead values: the last decision's
    reason, and grant/previous epoch outside AuthorityTransitioning) have the same
    enabled actions and successors with the same keys, on every explored state
    (N=2, one write, one promotion, sync)."""
    states: list[core.ClusterState] = []
    ex.explore(ex.Bounds(2, 1, 1, "sync"), visit=states.append)
    masked_somewhere = 0
    for s in states:
        twin = ex.decode_state(ex.state_key(s, symmetry=False), s.mode)
        masked_somewhere += twin != s
        mine = [(a, ex.state_key(t, symmetry=False)) for a, t, _m in ex.successors(s)]
        theirs = [(a, ex.state_key(t, symmetry=False)) for a, t, _m in ex.successors(twin)]
        assert mine == theirs
    assert masked_somewhere > 50  # the reduction is exercised, not vacuous


@pytest.mark.parametrize("mode", ["async", "sync"])
def test_parallel_search_counts_what_the_sequential_search_counts(mode: str) -> None:
    """Two worker processes: the same states, transitions and depth, and the same
    verdict; a violation found in parallel comes back with the sequential search's
    shortest counterexample."""
    bounds = ex.Bounds(3, 0, 1, mode)
    one = ex.explore(bounds, workers=1)
    two = ex.explore(bounds, workers=2)
    assert (two.states, two.transitions, two.max_depth, two.verdict) == (
        one.states,
        one.transitions,
        one.max_depth,
        one.verdict,
    )
    assert two.workers == 2 and one.passed
    bad_one = ex.explore(ex.Bounds(2, 1, 1), mutant="restart_keeps_authority", workers=1)
    bad_two = ex.explore(ex.Bounds(2, 1, 1), mutant="restart_keeps_authority", workers=2)
    assert bad_two.counterexample is not None and bad_one.counterexample is not None
    assert [st.action for st in bad_two.counterexample.steps] == [
        st.action for st in bad_one.counterexample.steps
    ]


def test_initial_state_must_be_an_initial_state_of_the_spec(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Refinement starts at the start: a core whose initial state the spec's
    ``cluster.initial`` does not admit (here a previous epoch of 1 instead of 0,
    a value the dead-value reduction would otherwise hide) fails at step 0."""
    real = core.initial_state

    def skewed(n: int, mode: str = "async") -> core.ClusterState:
        s = real(n, mode)
        node = s.nodes[1]
        return s.with_node(
            1, core.NodeState(node.durable, node.volatile, core.AttemptRecord(previous_epoch=1))
        )

    monkeypatch.setattr(core, "initial_state", skewed)
    for workers in (1, 2):
        result = ex.explore(ex.Bounds(2, 0, 1), workers=workers)
        cx = result.counterexample
        assert cx is not None and cx.violated == [ex.REFINEMENT] and len(cx) == 1
        assert "not an initial state of the spec" in cx.detail
