"""The explicit-state explorer (baton.proofs.explore, ``baton explore``).

Covers: the pinned manifest (distinct-state counts and verdicts of fast and
known-bad models, STYLE.md pattern 10); the pruned enumeration equals the
core's enabled_actions on every explored state; symmetry reduction is exact
(the reduced search visits exactly the orbits of the full one, and both pass);
each runtime-core mutant and the dropped force_is_truthful assumption yields a
counterexample that replays on the core (P6-A1, P6-A3, P6-S1); a search stopped
at --max-states is not a pass; the CLI's exit statuses and JSON.
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
def test_pruned_enumeration_equals_core_enabled_actions(mode: str) -> None:
    """The explorer's candidate pruning drops no action the core enables, on every state."""
    seen: list[core.ClusterState] = []
    result = ex.explore(ex.Bounds(2, 1, 1, mode), visit=seen.append)
    assert result.passed and len(seen) == result.states
    for state in seen:
        assert ex.enabled(state) == core.enabled_actions(state)
        assert ex.enabled(state, force_is_truthful=False) == core.enabled_actions(
            state, force_is_truthful=False
        )


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
        ("concurrent_attempts", ex.Bounds(3, 0, 2), ex.PROPERTY_IDS, "P6-A3"),
        ("untruthful_force", ex.Bounds(2, 0, 1), ("P6-A1",), "P6-A1"),
    ],
)
def test_each_mutant_yields_a_counterexample_that_replays(
    mutant: str, bounds: ex.Bounds, properties: tuple[str, ...], expected: str
) -> None:
    """Every broken variant of the core is caught; its run is real (each step replays)."""
    result = ex.explore(bounds, mutant=mutant, properties=properties)
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
    assert data["verdict"] == "pass" and data["finished"] and data["states"] == 173
    code = main(["explore", "--mutant", "restart_keeps_authority", "--quiet", "--json"])
    assert code == 1
    data = json.loads(capsys.readouterr().out)
    assert data["verdict"] == "violation" and data["counterexample"]["length"] == 8
    assert main(["explore", "--mutant", "no_such_mutant"]) == 2
    assert main(["explore", "--nodes", "1"]) == 2
    assert main(["explore", "--properties", "P6-X9"]) == 2
    capsys.readouterr()


def test_cli_prints_readable_counterexample(capsys: pytest.CaptureFixture[str]) -> None:
    """The human report lists the steps, marks mutant steps and shows the final state."""
    code = main(["explore", "--mutant", "restart_keeps_authority", "--properties", "P6-S1"])
    out = capsys.readouterr().out
    assert code == 1
    assert "VIOLATION of P6-S1: shortest counterexample, 13 steps" in out
    assert "restart(node=0)  [mutant]" in out and "ack(node=0)" in out
    assert "acked [1.1]" in out
