"""`baton check` and `baton schema` from the command line, and self-conformance.

Covers the exit statuses (0 conforms, 1 violation, 2 malformed input or bad
usage, never a traceback), standard input, --json (valid against the verdict
schema), --all, --require-full on a partial trace, and self-conformance: the
runtime's own `baton run` traces of examples/*.json and a 10^4-event trace
from the pure core are checked with exit 0 (every invariant, P6-A1 .. P6-O2).
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from baton import cli, oracle, verdict
from baton import trace as t

ROOT = Path(__file__).resolve().parent.parent
TRACES = ROOT / "examples" / "traces"


def _baton(*argv: str, stdin: str | None = None) -> tuple[int, str, str]:
    """Run the CLI in-process; return (exit, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    old_stdin = sys.stdin
    if stdin is not None:
        sys.stdin = io.StringIO(stdin)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(list(argv))
    finally:
        sys.stdin = old_stdin
    return code, out.getvalue(), err.getvalue()


def test_conforming_trace_exits_0() -> None:
    """A conforming full trace: exit 0 and the verdict says CONFORMS with every rule checked."""
    code, out, _ = _baton("check", str(TRACES / "good_failover.jsonl"))
    assert code == 0 and "CONFORMS" in out and f"{len(oracle.RULES)}/{len(oracle.RULES)}" in out


def test_violation_exits_1_with_line_invariant_and_state() -> None:
    """P6-S1: the lost-ack trace exits 1 naming line, invariant, explanation and state."""
    code, out, _ = _baton("check", str(TRACES / "broken_s1_lost_ack.jsonl"))
    assert code == 1
    assert "line 20 (seq 19): P6-S1 broken (rule acked_writes_preserved)" in out
    assert "acknowledged write" in out and "state before the event" in out


def test_malformed_exits_2_naming_line_and_field() -> None:
    """A missing field is exit 2 with its line and field, and no traceback."""
    code, out, err = _baton("check", str(TRACES / "malformed_missing_field.jsonl"))
    assert code == 2
    assert "line 3, field 'lsn'" in out and "Traceback" not in out + err


def test_stdin_and_json_verdict_matches_schema() -> None:
    """`baton check - --json` reads stdin and prints a verdict valid against its schema."""
    text = (TRACES / "broken_a2_complete_before_marker.jsonl").read_text("utf-8")
    code, out, _ = _baton("check", "-", "--json", "--all", stdin=text)
    assert code == 1
    data = json.loads(out)
    jsonschema.validate(data, verdict.verdict_schema())
    assert data["violations"][0]["invariant"] == "P6-A2"
    assert data["violations"][0]["line"] == 15


def test_partial_trace_passes_unless_full_is_required() -> None:
    """A partial trace: exit 0 'conforms (partial)', but exit 1 with --require-full."""
    path = str(TRACES / "partial_lifecycle_only.jsonl")
    code, out, _ = _baton("check", path)
    assert code == 0 and "CONFORMS (PARTIAL)" in out and "NOT checked" in out
    code, _, _ = _baton("check", path, "--require-full")
    assert code == 1


def test_missing_file_is_usage_error() -> None:
    """A trace file that does not exist is exit 2 with a one-line error."""
    code, _, err = _baton("check", "/nonexistent/trace.jsonl")
    assert code == 2 and "cannot read" in err


@pytest.mark.parametrize("name", ["trace", "verdict", "vectors"])
def test_schema_command_prints_valid_schema(name: str) -> None:
    """`baton schema NAME` prints a valid draft 2020-12 schema."""
    code, out, _ = _baton("schema", name)
    assert code == 0
    jsonschema.Draft202012Validator.check_schema(json.loads(out))


def test_runtime_scenarios_conform(tmp_path: Path) -> None:
    """Self-conformance: `baton run` of every examples/*.json gives a trace that conforms."""
    scenarios = sorted((ROOT / "examples").glob("*.json"))
    if not scenarios:
        pytest.skip("no runtime scenarios in examples/")
    for path in scenarios:
        out = tmp_path / f"{path.stem}.jsonl"
        code, _, _ = _baton(
            "run", str(path), "--dir", str(tmp_path / path.stem), "--trace", str(out), "--quiet"
        )
        assert code == 0, path.name
        # A demonstration conforms only with its dropped assumptions allowed by name.
        dropped = json.loads(path.read_text("utf-8")).get("drop_assumptions", [])
        allow = [arg for name in dropped for arg in ("--allow-dropped", name)]
        code, text, _ = _baton("check", str(out), "--require-full", *allow)
        assert code == 0, text


def long_trace(writes: int) -> str:
    """A conforming full trace of about 3.5*writes events (write, replicate, ack on
    3 nodes) with a failover in the middle, for the memory and speed checks."""
    events = [t.header(["n1", "n2", "n3"], "async", "n1")]
    half = writes // 2
    for lsn in range(1, half + 1):
        events += [
            t.write("n1", lsn, 1),
            t.replicate("n1", "n2", lsn, 1, 1),
            t.replicate("n1", "n3", lsn, 1, 1),
            t.ack("n1", lsn, 1),
        ]
    ctx = t.context("ReplicaActive", "Unavailable", False, "Equal", "Compatible", "Preserved")
    invs = ["P6-F1"]
    events += [
        t.crash("n1"),
        t.request("n2", "a1", False, "op"),
        t.transition("n2", "a1", "Steady", "request", "PromotionRequested"),
        t.transition("n2", "a1", "PromotionRequested", "begin_validation", "PromotionValidating"),
        t.validation("n2", "a1", ctx, "allowed", invs, "ok", half, half),
        t.transition(
            "n2",
            "a1",
            "PromotionValidating",
            "approve",
            "PromotionApproved",
            reason="allowed",
            invariants=invs,
            explanation="ok",
        ),
        t.transition(
            "n2", "a1", "PromotionApproved", "begin_transition", "AuthorityTransitioning", epoch=2
        ),
        t.marker("n2", "Primary", 2),
        t.transition(
            "n2", "a1", "AuthorityTransitioning", "complete", "PromotionSucceeded", epoch=2
        ),
        t.transition("n2", "a1", "PromotionSucceeded", "acknowledge", "Steady"),
    ]
    for lsn in range(half + 1, writes + 1):
        events += [t.write("n2", lsn, 2), t.replicate("n2", "n3", lsn, 2, 2), t.ack("n2", lsn, 2)]
    return t.dumps(t.number(events))


def test_long_trace_conforms_in_bounded_memory() -> None:
    """The checker's state does not grow with trace length (epoch runs, no history)."""
    import tracemalloc

    peaks = []
    for writes in (500, 2000):
        text = long_trace(writes)
        stream = io.StringIO(text)
        tracemalloc.start()
        result = oracle.check_stream(stream, "long")
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert result.status == "conforms", oracle.render(result)
    assert peaks[1] < peaks[0] * 1.5 + 200_000, peaks


def test_check_via_subprocess_never_tracebacks(tmp_path: Path) -> None:
    """The installed entry point on binary garbage: exit 2, one message, no traceback."""
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b"\xff\xfe\x00garbage\n")
    proc = subprocess.run(
        [sys.executable, "-m", "baton.cli", "check", str(bad)], capture_output=True, text=True
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr


def test_simulation_traces_conform_and_a_mutant_is_caught(tmp_path: Path) -> None:
    """Self-conformance with `baton simulate`: seeded runs conform (P6-A1..P6-O2); the
    restart_keeps_authority mutant's trace is caught as P6-A1 (a fenced primary acks)."""
    if "simulate" not in cli.COMMANDS:
        pytest.skip("no 'baton simulate' in this tree")
    for seed, mode in ((1, "async"), (5, "sync"), (7, "async")):
        out = tmp_path / f"sim{seed}.jsonl"
        code, _, _ = _baton(
            "simulate", "--seed", str(seed), "--steps", "300", "--mode", mode, "--trace", str(out)
        )
        assert code == 0
        code, text, _ = _baton("check", str(out), "--require-full")
        assert code == 0, text
    out = tmp_path / "mutant.jsonl"
    _baton(
        "simulate",
        "--seed",
        "3",
        "--steps",
        "400",
        "--mutant",
        "restart_keeps_authority",
        "--trace",
        str(out),
    )
    code, text, _ = _baton("check", str(out), "--json")
    assert code == 1 and json.loads(text)["violations"][0]["invariant"] == "P6-A1"
