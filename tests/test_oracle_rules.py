"""The oracle's rules (baton.oracle): each invariant it enforces catches its broken trace.

One test per rule/invariant: a deliberately broken copy of the conforming
run in examples/traces/make_examples.py must be caught at the right line with
the right invariant and rule, and the conforming run must pass. Also: the
committed example traces equal what make_examples.py writes and get the
verdicts recorded in EXPECTED.json; --all lists every violation; a partial
trace conforms only as partial; the epoch-run WAL summary agrees with a
plain list model (hypothesis).
"""

from __future__ import annotations

import importlib.util
import io
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from baton import oracle
from baton import trace as t
from baton import verdict as verdict_mod
from hypothesis import given
from hypothesis import strategies as st

TRACES = Path(__file__).resolve().parent.parent / "examples" / "traces"


def _load_examples() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_examples", TRACES / "make_examples.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


EX = _load_examples()


def _check_broken(name: str) -> verdict_mod.Violation:
    """Run the named broken trace; assert its first violation is the expected one."""
    mutate, invariant, rule, label = EX.BROKEN[name]
    events, lines = EX.numbered(mutate(EX.base()))
    verdict = oracle.check_events(events, name)
    assert verdict.status == "violation", oracle.render(verdict)
    first = verdict.violations[0]
    assert (first.invariant, first.rule) == (invariant, rule), oracle.render(verdict)
    assert first.line == (lines[label] if label is not None else len(events) + 1)
    assert first.explanation and first.state["nodes"], "violations carry explanation and state"
    assert verdict.exit_code == 1
    return first


def test_conforming_run_conforms() -> None:
    """The base run obeys every rule and every rule is checked (full coverage)."""
    events, _ = EX.numbered(EX.base())
    verdict = oracle.check_events(events)
    assert verdict.status == "conforms", oracle.render(verdict)
    assert len(verdict.checked) == len(oracle.RULES) and not verdict.not_checked


def test_p6_d2_forbidden_lifecycle_transition() -> None:
    """P6-D2: a transition the spec's table forbids (Validating --acknowledge-->) is caught."""
    _check_broken("broken_d2_forbidden_transition")


def test_p6_f1_lifecycle_skips_validation() -> None:
    """P6-F1: approving straight from PromotionRequested (no validation) is caught."""
    _check_broken("broken_f1_skips_validation")


def test_p6_f1_validator_allows_unknown_primary() -> None:
    """P6-F1: a validator allowing with an Unknown primary and no force fails closed."""
    _check_broken("broken_f1_allows_unknown_primary")


def test_p6_s1_false_ack_bound() -> None:
    """P6-S1 (beside P6-F1): a validation whose ack_bound is below the writes already
    acknowledged decided on a false fact; the fact hides acknowledged-write loss."""
    _check_broken("broken_s1_false_ack_bound")


def test_p6_s2_lsn_only_prefix_is_derived_and_flagged() -> None:
    """P6-S2 (beside P6-F1): an LSN-only validator records a divergent, not yet acknowledged
    entry as Compatible; the oracle derives both WALs from the trace and flags the line."""
    v = _check_broken("broken_s2_lsn_only_prefix")
    assert v.also == ("P6-F1",) and "diverges from n2's WAL (1@e1 2@e2)" in v.explanation


def test_p6_a1_two_writers_is_single_writer() -> None:
    """P6-A1: a forced promotion while the old primary still writes is reported under
    single_writer, not as the step (complete) that made the second writer."""
    _check_broken("broken_a1_two_writers")


def test_unsafe_approval_names_the_reason_invariant() -> None:
    """P6-F1 and P6-A1a: allowing force over an active primary names both invariants."""
    v = _check_broken("broken_a1a_force_over_active_primary")
    assert v.also == ("P6-A1a",)
    assert "P6-F1 and P6-A1a broken" in oracle.render(
        oracle.check_stream((TRACES / "broken_a1a_force_over_active_primary.jsonl").open("rb"))
    )


def test_p6_d1_decision_differs_from_spec() -> None:
    """P6-D1: a denial with a reason other than the spec's for that context is caught."""
    _check_broken("broken_d1_wrong_denial_reason")


def test_p6_f3_retry_transition() -> None:
    """P6-F3: a 'retry' event re-entering validation without a new request is caught."""
    _check_broken("broken_f3_retry")


def test_p6_o1_decision_without_validation() -> None:
    """P6-O1: an approval with no validation result in its attempt is caught."""
    _check_broken("broken_o1_decision_without_validation")


def test_p6_o1_trace_ends_mid_attempt() -> None:
    """P6-O1: a trace that ends while an attempt awaits its decision fails (fail closed)."""
    _check_broken("broken_o1_ends_mid_attempt")


def test_p6_o2_decision_names_wrong_invariant() -> None:
    """P6-O2: a decision explained with an invariant other than its reason's is caught."""
    _check_broken("broken_o2_wrong_invariant")


def test_p6_a1a_forced_request_not_audited() -> None:
    """P6-A1a: a forced request naming no operator is caught."""
    _check_broken("broken_a1a_unaudited_force")


def test_p6_a1_fenced_primary_writes() -> None:
    """P6-A1: a restarted (fenced) old primary writing without authority is caught."""
    _check_broken("broken_a1_fenced_primary_writes")


def test_p6_a2_complete_before_durable_marker() -> None:
    """P6-A2: completing a promotion before its marker is durable is caught."""
    _check_broken("broken_a2_complete_before_marker")


def test_p6_a3_deposed_primary_reinstated() -> None:
    """P6-A3: reinstating the old primary below the highest epoch is caught."""
    _check_broken("broken_a3_deposed_primary_reinstated")


def test_p6_s1_acknowledged_write_lost() -> None:
    """P6-S1: promoting a node whose WAL lacks an acknowledged write is caught at complete."""
    _check_broken("broken_s1_lost_ack")


def test_p6_s2_replication_gap() -> None:
    """P6-S2: replicating lsn 3 onto a WAL that ends at 1 (a gap) is caught."""
    _check_broken("broken_s2_wal_gap")


def test_p6_f2_recovery_reads_neither_old_nor_new() -> None:
    """P6-F2: a restart reading a marker that is neither the old nor the new one is caught."""
    _check_broken("broken_f2_recovers_a_guess")


def test_p6_f3_second_validation_in_one_attempt() -> None:
    """P6-F3: validating twice within one request (a hidden retry) is caught."""
    events, lines = EX.numbered(EX.base())
    val = next(e for e in events if e["kind"] == "validation")
    twice = t.number([*events[: lines["val"]], val, *events[lines["val"] :]])
    twice[-1]["events"] = len(twice) - 1
    verdict = oracle.check_events(twice)
    assert [(v.invariant, v.line) for v in verdict.violations] == [("P6-F3", lines["val"] + 1)]


def test_every_rule_has_a_broken_example() -> None:
    """Every oracle rule and every invariant it reports has a broken trace above."""
    rules = {rule for _, _, rule, _ in EX.BROKEN.values()}
    assert rules == {r.name for r in oracle.RULES}


def _ev(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return t.number([t.header(["n1", "n2"], "async", "n1"), *events])


def test_p6_a1_two_writers_after_reinstate() -> None:
    """P6-A1: a second node reinstated while the primary still admits writes is caught."""
    events = _ev([t.marker("n2", "Primary", 1), t.reinstate("n2", 1)])
    verdict = oracle.check_events(events, all_violations=True)
    # The self-made Primary marker is itself an epoch violation; the reinstatement
    # then gains authority at an epoch n1 still claims (authority_ambiguity) and makes
    # two writers (single_writer).
    assert [(x.rule, x.invariant, x.line) for x in verdict.violations] == [
        ("epoch_fencing", "P6-A3", 2),
        ("authority_ambiguity", "P6-A1", 3),
        ("single_writer", "P6-A1", 3),
    ]


def test_p6_a1_write_by_non_authority() -> None:
    """P6-A1: a write by a replica is caught."""
    v = oracle.check_events(_ev([t.write("n2", 1, 1)]))
    assert [x.invariant for x in v.violations] == ["P6-A1"]


def test_p6_a3_write_in_wrong_epoch() -> None:
    """P6-A3: a writer writing in an epoch other than its marker's is caught."""
    v = oracle.check_events(_ev([t.write("n1", 1, 2)]))
    assert [x.invariant for x in v.violations] == ["P6-A3"]


def test_p6_s1_ack_of_entry_not_durable() -> None:
    """P6-S1: acknowledging an entry that is not durable in the acknowledging WAL fails."""
    v = oracle.check_events(_ev([t.write("n1", 1, 1), t.ack("n1", 2, 1)]))
    assert [x.invariant for x in v.violations] == ["P6-S1"]


def test_p6_s1_sync_ack_without_standby() -> None:
    """P6-S1: in sync mode an ack before any standby holds the entry is caught; after
    replication to the designated standby it passes."""
    head = t.header(["n1", "n2", "n3"], "sync", "n1")
    early = t.number([head, t.write("n1", 1, 1), t.ack("n1", 1, 1)])
    assert [v.invariant for v in oracle.check_events(early).violations] == ["P6-S1"]
    ok = t.number(
        [
            head,
            t.designate("n1", "n3"),
            t.write("n1", 1, 1),
            t.replicate("n1", "n3", 1, 1, 1),
            t.ack("n1", 1, 1),
        ]
    )
    assert oracle.check_events(ok).status == "conforms"
    wrong_standby = t.number(
        [
            head,
            t.designate("n1", "n3"),
            t.write("n1", 1, 1),
            t.replicate("n1", "n2", 1, 1, 1),
            t.ack("n1", 1, 1),
        ]
    )
    assert [v.line for v in oracle.check_events(wrong_standby).violations] == [5]


def test_all_lists_every_violation() -> None:
    """--all keeps going: two independent violations are both reported, in order."""
    events = _ev([t.write("n2", 1, 1), t.write("n1", 5, 1)])
    verdict = oracle.check_events(events, all_violations=True)
    assert [(x.invariant, x.line) for x in verdict.violations] == [("P6-A1", 2), ("P6-S2", 3)]
    first_only = oracle.check_events(events)
    assert len(first_only.violations) == 1


def test_partial_trace_is_partial_not_full() -> None:
    """A lifecycle-only trace conforms only as partial, naming the rules not checked."""
    verdict = oracle.check_events(EX.partial_trace())
    assert verdict.status == "conforms_partial"
    not_checked = {nc["rule"].split()[0] for nc in verdict.not_checked}
    assert {"single_writer", "acked_writes_preserved", "crash_recovery"} <= not_checked
    assert "validation_decision (P6-D1)" in verdict.checked


def test_declared_emits_make_absent_families_checked() -> None:
    """A header declaring every family makes an empty family mean 'nothing happened'."""
    verdict = oracle.check_events(_ev([t.write("n1", 1, 1), t.ack("n1", 1, 1)]))
    assert verdict.status == "conforms" and not verdict.not_checked


def test_open_attempt_after_decision_is_a_note() -> None:
    """Ending after the decision but before acknowledge conforms, with a note saying so."""
    events, _ = EX.numbered(EX.cut_after("deny2")(EX.base()))
    verdict = oracle.check_events(events[:-1])  # also drop the end line
    assert verdict.status == "conforms", oracle.render(verdict)
    assert any("still open" in n for n in verdict.notes)
    assert any("no 'end' line" in n for n in verdict.notes)


def test_committed_examples_are_current_and_verdicts_match() -> None:
    """examples/traces equal make_examples.py output and get their EXPECTED.json verdicts."""
    built = EX.build()
    expected = json.loads((TRACES / "EXPECTED.json").read_text("utf-8"))
    assert set(expected) == {f"{name}.jsonl" for name in built}
    for name, (text, exp) in built.items():
        path = TRACES / f"{name}.jsonl"
        assert path.read_text("utf-8") == text, f"{path} is stale: run make_examples.py"
        assert expected[path.name] == exp
        with path.open(encoding="utf-8", newline="") as stream:
            verdict = oracle.check_stream(stream, path.name)
        assert verdict.status == exp["status"], oracle.render(verdict)
        if exp["status"] == "violation":
            v = verdict.violations[0]
            assert (v.invariant, v.rule, v.line) == (exp["invariant"], exp["rule"], exp["line"])
        if exp["status"] == "malformed":
            assert verdict.error is not None
            assert (verdict.error.line, verdict.error.field) == (exp["line"], exp["field"])


# --- the WAL summary ------------------------------------------------------------------


wal_ops = st.lists(
    st.tuples(
        st.sampled_from(["append", "truncate", "become_prefix", "set_runs"]),
        st.integers(0, 2),
        st.integers(0, 2),
        st.integers(0, 8),
    ),
    max_size=40,
)


def _common(a: list[int], b: list[int]) -> int:
    return next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )


@given(wal_ops)
def test_wal_set_agrees_with_a_list_model(ops: list[tuple[str, int, int, int]]) -> None:
    """WalSet (epoch runs, common prefixes kept incrementally) agrees with plain lists of
    entry epochs after any sequence of appends, truncations and prefix copies."""
    wals = oracle.WalSet(3)
    model: list[list[int]] = [[], [], []]
    for op, i, j, n in ops:
        if op == "append":
            wals.append(i, n % 3 + 1)
            model[i].append(n % 3 + 1)
        elif op == "truncate":
            wals.truncate(i, n)
            del model[i][n:]
        elif op == "set_runs":  # a declared initial WAL: epochs 1..3 in runs of n
            entries = sorted((k % 3) + 1 for k in range(n))
            runs = [[e, idx + 1] for idx, e in enumerate(entries)]
            wals.set_runs(i, runs)
            model[i] = entries
        elif i != j:
            n = min(n, len(model[j]))
            wals.become_prefix(i, j, n)
            model[i] = model[j][:n]
        for k in range(3):
            wal = wals.wals[k]
            assert wal.length == len(model[k])
            assert wal.runs() == [
                [e, idx + 1]
                for idx, e in enumerate(model[k])
                if idx + 1 == len(model[k]) or model[k][idx + 1] != e
            ]
            for lsn in range(len(model[k]) + 2):
                want = model[k][lsn - 1] if 1 <= lsn <= len(model[k]) else None
                assert wal.epoch_at(lsn) == want
            for m in range(3):
                assert wals.common[k][m] == _common(model[k], model[m]), (k, m)


def test_check_stream_reads_line_by_line() -> None:
    """check_stream consumes an iterator of lines (no read-all): a generator-backed stream works."""

    class Lines(io.TextIOBase):
        def __init__(self, lines: list[str]) -> None:
            self._it = iter(lines)

        def __iter__(self) -> Lines:
            return self

        def __next__(self) -> str:
            return next(self._it)

    events, _ = EX.numbered(EX.base())
    lines = [line + "\n" for line in t.dumps(events).splitlines()]
    verdict = oracle.check_stream(Lines(lines), "gen")  # type: ignore[arg-type]
    assert verdict.status == "conforms"


@pytest.mark.parametrize("garbage", ["\x00\x01\x02", "{" * 100000, "null\n", '"x"\n'])
def test_garbage_is_malformed_never_a_traceback(garbage: str) -> None:
    """Binary noise, absurd nesting and non-objects are malformed input (exit 2)."""
    verdict = oracle.check_stream(io.StringIO(garbage), "g")
    assert verdict.status == "malformed" and verdict.exit_code == 2
    assert verdict.error is not None and verdict.error.line == 1


def _initial_run(n2_runs: list[list[int]]) -> list[dict[str, Any]]:
    """A cluster that starts with history: n1 Primary@2 with 150 entries (120 acknowledged),
    n2 with ``n2_runs``; n1 writes one more, crashes, and n2 is promoted."""
    ctx = t.context("ReplicaActive", "Unavailable", False, "Ahead", "Compatible", "Preserved")
    inv = ["P6-A1", "P6-S1", "P6-S2", "P6-S3", "P6-F1"]
    initial = {
        "wals": {"n1": [[1, 100], [2, 150]], "n2": n2_runs},
        "acked": 120,
        "markers": {"n2": {"role": "Replica", "epoch": 2}},
    }
    return t.number(
        [
            t.header(["n1", "n2"], "async", "n1", epoch=2, initial=initial),
            t.write("n1", 151, 2),
            t.crash("n1"),
            t.request("n2", "a1", False, "op"),
            t.transition("n2", "a1", "Steady", "request", "PromotionRequested"),
            t.transition("n2", "a1", "PromotionRequested", "begin_validation",
                         "PromotionValidating"),
            t.validation("n2", "a1", ctx, "allowed", inv, "ok", wal_end=150, ack_bound=120),
        ]
    )  # fmt: skip


def test_header_initial_state_is_where_the_trace_starts() -> None:
    """A trace may start from existing WALs, acknowledged writes and markers: the data
    events continue them (lsn 151 at epoch 2), and a candidate whose declared WAL
    diverges from the acknowledged history is flagged at its validation (P6-S2)."""
    verdict = oracle.check_events(_initial_run([[1, 100], [2, 150]]), all_violations=True)
    # The only complaint: the trace ends before the attempt is decided (P6-O1).
    assert [(v.rule, v.line) for v in verdict.violations] == [("attempt_observable", 8)]
    bad = oracle.check_events(_initial_run([[1, 150]]))
    v = bad.violations[0]
    assert (v.invariant, v.rule, v.line) == ("P6-S2", "validation_context", 7), oracle.render(bad)


def test_header_initial_state_is_validated() -> None:
    """More acknowledged entries than the initial primary's WAL holds is malformed (exit 2)."""
    events = _initial_run([[1, 100], [2, 150]])
    events[0]["initial"] = {**events[0]["initial"], "acked": 151}
    verdict = oracle.check_events(events)
    assert verdict.status == "malformed" and verdict.error is not None
    assert (verdict.error.line, verdict.error.field) == (1, "initial.acked")
