"""The deterministic seeded cluster simulation (impl/simulate.py, ``baton simulate``).

Covers determinism (same seed -> same trace bytes; many seeds in CI; a
failing seed prints the command that replays it) and "nothing lost" (as
docs/testing.md defines it: every acknowledged write survives every crash
and failover at its LSN, one authority per epoch, epochs never go
backwards, no acknowledgement in an older epoch than one seen), plus the P6
cluster properties P6-A1, P6-A2, P6-A3, P6-S1, P6-S2, P6-F2, P6-F3
through fast Python twins that are cross-checked here against the spec's
Z3 predicates. The oracle (``baton check``) judges simulation traces
independently. Every runtime mutant of
:data:`baton.simulate.MUTANTS`, and dropping the ``force_is_truthful``
assumption, must make some seed fail.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
from baton import core, oracle, trace
from baton.cli import main
from baton.simulate import (
    MUTANTS,
    Ledger,
    SimConfig,
    nothing_lost_violations,
    p6_violations,
    parse_seeds,
    simulate,
)
from baton.spec.concrete import violated_properties

CI_SEEDS = range(0, 300)
"""How many seeds CI runs (each 200 ticks, 3-5 nodes); far more on demand:
``baton simulate --seeds 0..100000``."""


def test_same_seed_gives_byte_identical_trace() -> None:
    """Determinism: a seed replays a run exactly (trace bytes and sha256)."""
    a = simulate(SimConfig(seed=11, nodes=4))
    b = simulate(SimConfig(seed=11, nodes=4))
    assert a.trace == b.trace and a.log == b.log
    assert a.sha256 == b.sha256 == hashlib.sha256(a.trace.encode()).hexdigest()
    assert simulate(SimConfig(seed=12, nodes=4)).sha256 != a.sha256


@pytest.mark.parametrize("nodes", [3, 4, 5])
def test_ci_seeds_keep_every_property(nodes: int) -> None:
    """Nothing lost and P6-A1..P6-F3: a hundred seeds per cluster size, none fails."""
    failures = []
    for seed in CI_SEEDS[(nodes - 3) * 100 : (nodes - 2) * 100]:
        result = simulate(SimConfig(seed=seed, nodes=nodes))
        if not result.ok:
            failures.append(f"{result.violation}\n  replay: {result.replay_command()}")
    assert failures == []


def test_ci_seeds_exercise_the_protocol() -> None:
    """The seeds are not vacuous: every lifecycle transition, several denial reasons,
    crashes at every marker stage, both modes and failovers with acknowledged writes."""
    transitions: set[str] = set()
    denials: set[str] = set()
    points: set[str] = set()
    modes: set[str | None] = set()
    for seed in range(40):
        result = simulate(SimConfig(seed=seed))
        transitions |= result.transitions
        denials |= result.denials
        points |= result.crash_points
        modes.add(result.config.mode)
    assert len(transitions) == 9  # the lifecycle's 9 transitions (docs/design.md)
    assert {"primary_active", "force_cannot_override_active_primary"} <= denials
    assert "duplicate_request" in denials
    for op in core.MARKER_OPS:
        assert any(f"after {op}" in p for p in points), (op, points)
    assert modes == {"async", "sync"}


def test_trace_is_valid_and_the_oracle_accepts_it() -> None:
    """The trace is format v1 (every line validates) and ``baton check`` exits 0."""
    for seed in range(12):
        result = simulate(SimConfig(seed=seed, nodes=3 + seed % 3))
        events = list(trace.read_events(io.StringIO(result.trace), f"seed {seed}"))
        assert events[0][1]["kind"] == "header" and events[-1][1]["kind"] == "end"
        verdict = oracle.check_stream(io.StringIO(result.trace), f"seed {seed}")
        assert verdict.status in ("conforms", "conforms_partial"), oracle.render(verdict)


def test_baton_check_exits_0_on_a_simulation_trace(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """The CLI round trip: ``baton simulate --trace`` then ``baton check`` (exit 0)."""
    path = tmp_path / "run.jsonl"
    assert main(["simulate", "--seed", "5", "--nodes", "4", "--trace", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"trace sha256 {hashlib.sha256(path.read_bytes()).hexdigest()}" in out
    assert main(["check", str(path)]) == 0


def test_python_properties_agree_with_the_spec_predicates() -> None:
    """The fast checks equal the Z3 evaluation of baton.spec.properties, on states of
    good runs and of broken ones (mutants, untruthful operator) alike."""
    states: list[core.ClusterState] = []
    for cfg in (SimConfig(seed=3, nodes=3), SimConfig(seed=4, nodes=4, mode="sync")):
        states += simulate(cfg).states[::3]
    for broken in [{"mutant": m} for m in sorted(MUTANTS)] + [{"untruthful": True}]:
        failed = next(
            r
            for r in (simulate(SimConfig(seed=seed, **broken)) for seed in range(300))  # type: ignore[arg-type]
            if not r.ok
        )
        states += failed.states[-4:]
    bad_seen = 0
    for s in states:
        expected = violated_properties(core.to_snapshot(s))
        assert p6_violations(s) == expected, s
        bad_seen += bool(expected)
    assert bad_seen >= 3  # the comparison covered violating states, not only good ones


@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_every_runtime_mutant_is_caught_with_a_replay_command(mutant: str, capsys) -> None:  # type: ignore[no-untyped-def]
    """A broken runtime fails some seed, and the printed command replays the failure."""
    assert main(["simulate", "--seeds", "0..150", "--mutant", mutant]) == 1
    err = capsys.readouterr().err
    replay = next(line for line in err.splitlines() if "replay: " in line)
    argv = replay.split("replay: baton ", 1)[1].split()
    assert main(argv) == 1
    assert "FAILED" in capsys.readouterr().err


def test_untruthful_operator_breaks_single_authority_the_truthful_one_does_not() -> None:
    """force_is_truthful (P6-A1a): forcing over a live primary of Unknown status yields two
    authorities; the same seeds with a truthful operator keep every property."""
    first = next(
        (s for s in range(300) if not simulate(SimConfig(seed=s, untruthful=True)).ok), None
    )
    assert first is not None, "no seed showed the force_is_truthful counterexample"
    result = simulate(SimConfig(seed=first, untruthful=True))
    assert result.violation is not None
    # Two authorities (P6-A1/A3), or first the candidate approved while the live old
    # primary acknowledges writes it lacks (P6-S2).
    assert any(pid in result.violation for pid in ("P6-A1", "P6-A3", "P6-S2"))
    assert simulate(SimConfig(seed=first)).ok


def test_nothing_lost_catches_an_acknowledged_write_missing_after_failover() -> None:
    """Nothing lost: a writable node without an acknowledged write is reported, at its LSN."""
    s = core.initial_state(3)
    ledger = Ledger()
    s1, effects = core.step(s, core.Write(0))
    assert nothing_lost_violations(s, s1, effects, ledger) == []
    s2, effects = core.step(s1, core.Ack(0))
    assert nothing_lost_violations(s1, s2, effects, ledger) == []
    assert ledger.acknowledged == [(1, 1)]
    # A (broken) failover that makes node 1 writable without the acknowledged entry.
    node1 = s2.nodes[1]
    assert node1.volatile is not None
    broken = s2.with_node(0, s2.nodes[0].__class__(s2.nodes[0].durable, None)).with_node(
        1, node1.__class__(node1.durable, node1.volatile.__class__(active=True))
    )
    problems = nothing_lost_violations(s2, broken, (), ledger)
    assert any("lacks acknowledged writes" in p for p in problems)


def test_nothing_lost_catches_epochs_going_backwards_and_two_authorities() -> None:
    """Nothing lost: an epoch that goes backwards on disk, two authorities in one epoch."""
    ledger = Ledger(durable_epoch={1: 3})
    s = core.initial_state(3)
    effects = (core.PersistMarker(1, "Replica", 2),)
    assert any("went backwards" in p for p in nothing_lost_violations(s, s, effects, ledger))
    ledger = Ledger(authority_of_epoch={1: 2})
    assert any("two authorities" in p for p in nothing_lost_violations(s, s, (), ledger))


def test_cli_summary_and_usage_errors(capsys) -> None:  # type: ignore[no-untyped-def]
    """--seeds prints one summary with coverage counts; bad usage exits 2."""
    assert main(["simulate", "--seeds", "0..9", "--nodes", "5"]) == 0
    out = capsys.readouterr().out
    assert "10 run(s), 0 failed" in out and "distinct transitions" in out
    assert main(["simulate", "--nodes", "7"]) == 2
    assert main(["simulate", "--seeds", "9..3"]) == 2
    assert main(["simulate", "--seeds", "0..3", "--trace", "x.jsonl"]) == 2
    assert parse_seeds("4..6") == range(4, 7) and parse_seeds("8") == range(8, 9)


def test_the_network_drops_partitions_and_the_log_shows_it() -> None:
    """The simulated network really misbehaves: drops, partitions, stale deliveries."""
    log = "\n".join(line for seed in range(5) for line in simulate(SimConfig(seed=seed)).log)
    for fault in ("dropped", "partition", "stale ship", "lost (partition or down)"):
        assert fault in log, fault


# --- the runtime shell on simulated disks (--disk sim) -------------------------------------


def test_disk_mode_seeds_keep_every_property_and_replay() -> None:
    """Determinism on the simulated disk: crashes are power cuts that keep any journaled-Linux
    crash state; every restart's recovery equals the model; nothing lost; same seed, same
    trace; the oracle accepts the traces."""
    failures = []
    for seed in range(60):
        result = simulate(SimConfig(seed=seed, nodes=3 + seed % 3, disk="sim"))
        if not result.ok:
            failures.append(f"{result.violation}\n  replay: {result.replay_command()}")
    assert failures == []
    a = simulate(SimConfig(seed=8, nodes=4, disk="sim"))
    assert a.sha256 == simulate(SimConfig(seed=8, nodes=4, disk="sim")).sha256
    verdict = oracle.check_stream(io.StringIO(a.trace), "seed 8 (disk)")
    assert verdict.status in ("conforms", "conforms_partial"), oracle.render(verdict)


def test_disk_mode_catches_a_dropped_marker_directory_fsync(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """P6-F2 / nothing lost: if the marker's directory fsync is skipped, a power cut after a
    'completed' promotion can bring the old marker back; some seed shows it."""
    from baton import node as node_module

    real = node_module.Node.marker_op

    def marker_op_without_dir_fsync(self: node_module.Node, op: str, epoch: int) -> None:
        if op != "fsync_dir":
            real(self, op, epoch)
            return
        disk_fsync_dir = self.disk.fsync_dir
        self.disk.fsync_dir = lambda path: None  # type: ignore[method-assign]
        try:
            real(self, op, epoch)
        finally:
            self.disk.fsync_dir = disk_fsync_dir  # type: ignore[method-assign]

    monkeypatch.setattr(node_module.Node, "marker_op", marker_op_without_dir_fsync)
    failed = next(
        (r for r in (simulate(SimConfig(seed=s, disk="sim")) for s in range(150)) if not r.ok),
        None,
    )
    assert failed is not None, "no seed caught the missing directory fsync"
    assert "--disk sim" in failed.replay_command()


def test_disk_mode_refuses_mutants() -> None:
    """Mutants wrap the pure core; with the shell they would test nothing: usage error."""
    assert main(["simulate", "--seed", "1", "--disk", "sim", "--mutant", "no_epoch_bump"]) == 2


def test_junit_and_json_have_one_case_per_seed(tmp_path: Path) -> None:
    """CI output: --junit writes one test case per seed (a failing seed carries its
    violation and replay command), --json the same runs; the exit status says it."""
    import json
    import xml.etree.ElementTree as ET

    from baton.cli import main

    junit, report = tmp_path / "sim.xml", tmp_path / "sim.json"
    argv = ["simulate", "--seeds", "13..14", "--mutant", "restart_keeps_authority"]
    assert main([*argv, "--junit", str(junit), "--json", str(report)]) == 1
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures")) == ("2", "1")
    cases = {case.get("name"): case for case in suite.findall("testcase")}
    assert set(cases) == {"seed 13", "seed 14"}
    failure = cases["seed 14"].find("failure")
    assert failure is not None and failure.text is not None
    assert "P6-A3" in failure.text and "replay: baton simulate --seed 14" in failure.text
    assert cases["seed 13"].find("failure") is None
    data = json.loads(report.read_text())
    assert (data["runs"], data["failed"], data["ok"]) == (2, 1, False)
    assert [run["seed"] for run in data["seeds"]] == [13, 14]
    assert data["seeds"][1]["replay"].startswith("baton simulate --seed 14")
