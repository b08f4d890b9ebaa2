"""The explicit search of the compiled spec for counterexample runs (baton.proofs.search).

Each run it returns is checked here against Z3 itself (baton.spec.concrete:
every step is explained by the spec's transition relation, and the last state
violates what the run says), it is a shortest run (bounded model checking
finds none shorter), and the spec bugs planted in the model -- the sync-ack
off-by-one and the reinstatement without the epoch check -- yield their runs
(regression tests for those mutants, P6-S1/S2 and P6-A3).
"""

from __future__ import annotations

import pytest
from baton.proofs import counterexample, search
from baton.spec import concrete
from baton.spec.cluster import Config
from baton.spec.compiled import Flat, Layout, successor_model
from baton.spec.concrete import NodeSnapshot, Snapshot


def _snapshot(cfg: Config, flat: Flat) -> Snapshot:
    """A flat state as a concrete snapshot, with WAL contents rebuilt from the
    common-prefix lengths (entries named by the first log holding them)."""
    state = search.describe_flat_state(cfg.n, flat)
    layout = Layout(cfg.n)
    lcp = {pair: flat[layout.slot("lcp", k)] for k, pair in enumerate(layout.pairs())}
    lengths = [node["wal_len"] for node in state["nodes"]] + [state["acked"]]
    logs: list[list[str]] = []
    for i, length in enumerate(lengths):
        log: list[str] = []
        for pos in range(length):
            owner = next(
                (j for j in range(i) if lcp[(j, i)] > pos),
                i,
            )
            log.append(logs[owner][pos] if owner != i else f"e{i}.{pos}")
        logs.append(log)
    nodes = tuple(
        NodeSnapshot(
            up=node["up"],
            role=node["role"],
            epoch=node["epoch"],
            active=bool(flat[layout.slot("active", i)]),
            wal=tuple(logs[i]),
            lifecycle=node["lifecycle"],
            forced=bool(flat[layout.slot("forced", i)]),
            reason=_reason(flat[layout.slot("reason", i)]),
            grant=flat[layout.slot("grant", i)],
            pepoch=flat[layout.slot("pepoch", i)],
            marker_stage=node["marker_stage"],
            validations=flat[layout.slot("vcount", i)],
        )
        for i, node in enumerate(state["nodes"])
    )
    return Snapshot(nodes, tuple(logs[cfg.n]), state["standby"], bool(flat[layout.slot("broken")]))


def _reason(index: int) -> str:
    from baton.spec import validation

    return validation.DECISION_NAMES[index]


def _check_against_z3(run: search.Run) -> None:
    cfg = run.config
    for k, (name, nodes, _choices) in enumerate(run.steps):
        before, after = _snapshot(cfg, run.states[k]), _snapshot(cfg, run.states[k + 1])
        assert f"{name}{list(nodes)}" in concrete.explaining_actions(cfg, before, after), k + 1
    final = concrete.violated_properties(_snapshot(cfg, run.states[-1]))
    # A step property (epochs never go backwards) may be what the last step breaks.
    assert set(final) <= set(run.violated) and (final or run.violated == ["P6-A3"])


@pytest.mark.parametrize(
    ("mutant", "mode", "length"),
    [
        ("ack_one_entry_early", "sync", 6),  # planted: the sync ack guard one entry early
        ("reinstate_without_top_epoch", "async", 11),  # planted: no holds_max_epoch check
        ("retry_after_denial", "async", 4),
    ],
)
def test_planted_spec_bug_yields_a_shortest_run(mutant: str, mode: str, length: int) -> None:
    cfg = Config(n=2, mode=mode, mutant=mutant)
    run = search.search_rounds(cfg)
    assert run is not None
    assert len(run.steps) == length
    _check_against_z3(run)
    # Shortest: bounded model checking finds no violation one step earlier.
    assert counterexample.find_counterexample(cfg, depths=(length - 1,)) is None


def test_correct_model_has_no_counterexample_within_the_bounds() -> None:
    """Soundness of the successor function: the proven model yields no run."""
    assert search.search(Config(n=2), bounds=search.SearchBounds(1, 2, 5_000)) is None


def test_successors_agree_with_the_compiled_step_checks() -> None:
    """Every successor generated is a step of its action (compile_step's translation)."""
    from baton.spec.compiled import compiled

    cfg = Config(n=2, mode="sync")
    model, checks = successor_model(cfg), compiled(cfg)
    frontier = [search.initial_flat(cfg)]
    seen = set(frontier)
    while frontier and len(seen) < 300:
        pre = frontier.pop()
        for index, post, _chosen in model.successors(pre):
            name, nodes = model.instances[index]
            assert checks.by_instance[f"{name}{list(nodes)}"].check(pre, post)
            if post not in seen:
                seen.add(post)
                frontier.append(post)
    assert len(seen) >= 300


def test_find_run_reports_its_engine() -> None:
    cx = counterexample.find_run(Config(n=2, mutant="retry_after_denial"))
    assert cx is not None and cx.engine.startswith("explicit")
    assert cx.faulty_steps == [4] and cx.violated == ["P6-F3"]
    bmc = counterexample.find_run(Config(n=2, mutant="retry_after_denial"), explicit=False)
    assert bmc is not None and bmc.engine == counterexample.ENGINE


def test_divergent_history_mutant_yields_a_cluster_run() -> None:
    """allow_divergent_history (the validator lets a candidate whose WAL forks the
    standby's through) is caught with a run of the cluster, not only a context:
    a 20-step run at N=3 in sync mode ending in the approval of a candidate
    that lacks an acknowledged write (P6-S2)."""
    cx = counterexample.find_run(
        Config(n=3, mode="sync", mutant="allow_divergent_history"), deep=True
    )
    assert cx is not None and cx.engine.startswith("explicit")
    assert cx.violated == ["P6-S2"] and len(cx.trace.steps) - 1 == 20
    assert cx.trace.steps[-1].action == "approve"
    # The mutant acts in the last step only: every earlier step is the correct model's.
    assert cx.faulty_steps == [20]


@pytest.mark.parametrize(
    ("mutant", "pid", "last", "faulty"),
    [
        ("ambiguous_deny", "P6-D2", "deny", True),
        ("silent_abandon", "P6-O1", "acknowledge", True),
        # The correct model has the same step with another observation (the
        # observation is a choice of the step, not part of the state): what is
        # wrong is the decision on the observation the step shows.
        ("decision_reads_clock", "P6-D1", "approve", False),
        ("unexplained_denial", "P6-O2", "deny", False),
        ("ignore_mvcc_violation", "P6-S3", "approve", False),
    ],
)
def test_spec_mutant_yields_a_cluster_run(mutant: str, pid: str, last: str, faulty: bool) -> None:
    """Each lifecycle and validation spec mutant is caught with its finite-model
    context *and* a run of the cluster from the initial state that reaches the
    context and takes the mutated step, labelled with the property it breaks."""
    from baton.proofs import obligations, spec_runs

    ob = next(o for o in obligations.build() if o.name == f"mutant.spec.{mutant}")
    outcome = obligations.run(ob)
    assert outcome.passed and outcome.violated == [pid]
    cx = outcome.counterexample
    assert cx is not None and cx["context"] and outcome.kind.startswith("counterexample (")
    steps = cx["steps"]
    assert steps[0]["action"] == "init" and steps[-1]["action"] == last
    assert (cx["faulty_steps"] == [len(steps) - 1]) is faulty
    assert f"Violated {pid}" in cx["rendered"]
    # Every step before the mutated one is a step of the correct spec.
    run = spec_runs.lifted_run(mutant)
    assert run is not None and run["steps"] == steps
