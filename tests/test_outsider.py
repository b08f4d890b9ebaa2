"""What an outside team meets on the conformance path (baton test, baton check, replay).

Each test pins one point an outsider writing their own node or adapter from
the docs alone ran into. Cheap: one short `baton test` run of a tiny node
written here (it stops at end of input), the rest in-process.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from baton import oracle, replay, trace, vectors
from baton.cli import main
from baton.harness import protocol
from baton.harness.runner import run_seed
from baton.harness.workbench import RunAborted, RunConfig

REPO = Path(__file__).resolve().parent.parent

# A node that keeps one fixed primary and, on its first tick, reports a whole denied
# attempt whose validation event is malformed: role ReplicaActive with a halt reason
# (a halt reason is given exactly when the role is Halted). Baton drops that event, so
# the trace holds a decision without a validation: the oracle's P6-O1 is a consequence
# of the protocol problem, and the output must say so. It exits at end of input.
MALFORMED_VALIDATION_NODE = textwrap.dedent(
    """
    import json, sys
    me = None
    def send(dest, body):
        sys.stdout.write(json.dumps({"src": me, "dest": dest, "body": body}) + "\\n")
        sys.stdout.flush()
    def event(ev):
        send("harness", {"type": "event", "event": ev})
    reported = False
    for line in sys.stdin:
        msg = json.loads(line)
        body = msg["body"]
        kind = body["type"]
        reply = {"in_reply_to": body.get("msg_id")}
        if kind == "init":
            me = body["node_id"]
            send(msg["src"], {"type": "init_ok", "protocol": 1,
                              "emits": ["lifecycle", "validation"], **reply})
        elif kind == "tick":
            if not reported and me == "n1":
                reported = True
                att = {"node": me, "attempt": "x1"}
                event({"kind": "request", **att, "force": False, "operator": "me"})
                event({"kind": "transition", **att, "from": "Steady", "event": "request",
                       "to": "PromotionRequested"})
                event({"kind": "transition", **att, "from": "PromotionRequested",
                       "event": "begin_validation", "to": "PromotionValidating"})
                ctx = {"role": "ReplicaActive", "halt_reason": "history_divergence",
                       "primary_status": "Active", "force": False, "position": "Equal",
                       "prefix": "Compatible", "mvcc": "NotApplicable"}
                why = {"invariants": ["P6-A1"], "explanation": "the primary is active"}
                event({"kind": "validation", **att, "context": ctx,
                       "decision": "primary_active", **why})
                event({"kind": "transition", **att, "from": "PromotionValidating",
                       "event": "deny", "to": "PromotionDenied", "reason": "primary_active",
                       **why})
                event({"kind": "transition", **att, "from": "PromotionDenied",
                       "event": "acknowledge", "to": "Steady"})
            send(msg["src"], {"type": "tick_ok", **reply})
        elif kind == "write":
            send(msg["src"], {"type": "error", "code": "not_primary", "text": "no", **reply})
        elif kind == "read":
            send(msg["src"], {"type": "read_ok", "entries": [], "epoch": 1,
                              "writable": me == "n0", **reply})
        elif kind == "promote":
            send(msg["src"], {"type": "promote_ok", "attempt": body["attempt"],
                              "outcome": "rejected", "reason": "unsupported", **reply})
        elif kind == "status":
            send(msg["src"], {"type": "status_ok", "role": "Primary" if me == "n0" else "Replica",
                              "epoch": 1, "writable": me == "n0", "wal_end": 0,
                              "lifecycle": "Steady", **reply})
    """
)


def test_a_violation_caused_by_a_dropped_event_points_at_the_protocol_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The first violation (P6-O1, a deny without a validation) only exists because Baton
    dropped the node's malformed validation event: the seed's output must say that the
    node broke the protocol, name the dropped event by kind and attempt (not by a
    meaningless 'n1:0' location) and the field at fault."""
    node = tmp_path / "node.py"
    node.write_text(MALFORMED_VALIDATION_NODE, encoding="utf-8")
    # Seed 3: the runbook operator also makes its classic mistake (a forced request while
    # n0 says it admits writes), which the promotion counts below rely on.
    argv = ["test", "--bin", f"{sys.executable} {node}", "--seed", "3", "--ticks", "40"]
    code = main([*argv, "--dir", str(tmp_path / "runs")])
    out = capsys.readouterr().out
    assert code == 1, out
    lines = out.splitlines()
    assert lines[0].startswith("seed 3: VIOLATION P6-O1"), out
    assert "without a validation" in lines[0]
    # Right under the headline and the replay line: the hint that the violation may follow
    # from the protocol problem, before the counts.
    assert lines[1].startswith("  replay: ")
    assert "also broke the node protocol" in lines[2] and "consequence" in lines[2]
    problem = next(line for line in lines if "protocol problem:" in line)
    assert "malformed trace event (kind 'validation', attempt 'x1')" in problem
    assert "field 'context.halt_reason'" in problem
    assert "n1:0" not in problem
    # "requests" counts every request, "forced requests" the forced ones among them (they
    # were counted apart: "denied 25, forced requests 2, requests 23").
    counts = next(line for line in lines if "promotions:" in line).split("promotions: ")[1]
    assert counts == "forced requests 1, rejected 1, requests 1", counts
    # The HTML report says the same under its protocol problems.
    report = next(line for line in lines if "report: " in line).split("report: ")[1]
    page = Path(report).read_text(encoding="utf-8")
    assert "<h2>Protocol problems</h2><p>The events Baton rejected are not in the trace" in page


def test_replay_help_shows_outcomes_and_examples(capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m baton.replay --help` teaches the outcome per family and gives examples."""
    with pytest.raises(SystemExit) as exited:
        replay.main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for family in replay.FILES:
        assert f"\n  {family} " in out, family
    assert '{"next": null}' in out
    assert "examples:\n  baton vectors --out vectors/" in out
    assert "python -m baton.replay vectors/ --stream --command" in out


def test_vectors_readme_names_every_family_in_its_line_format() -> None:
    """The README written with the vectors showed the line format with the families
    'lifecycle|validation|scenario|trace': the protocol family, the one an outside
    implementation replays first, was missing."""
    line = next(x for x in vectors.README.splitlines() if '"family":' in x)
    assert line.split('"family": "')[1].split('"')[0].split("|") == list(vectors.FAMILIES)


def test_a_wal_end_below_the_reported_writes_names_the_likely_bug(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A node that acknowledges before fsync loses entries in a SIGKILL; after its restart
    its validator truthfully reads a shorter WAL than its own write events claimed. The
    oracle's reason says what such a gap means, not only that the numbers differ."""
    good = (REPO / "examples" / "traces" / "good_failover.jsonl").read_text(encoding="utf-8")
    recorded = '"wal_end":2,"ack_bound":2}'
    assert good.count(recorded) == 1
    trace = tmp_path / "short_wal.jsonl"
    trace.write_text(good.replace(recorded, '"wal_end":1,"ack_bound":2}'), encoding="utf-8")
    assert main(["check", "--all", str(trace)]) == 1
    out = capsys.readouterr().out
    assert "wal_end is 1 but n2's durable WAL ends at 2 (2 by n2's own write and replicate" in out
    assert "reported durable before they were fsynced and a crash lost them" in out


def _node_answering_ticks_with(*tick_lines: str) -> str:
    """A node script that answers init properly and runs ``tick_lines`` on every tick
    (they set ``out["body"]``; ``body`` is the tick's), writing each answer flushed."""
    lines = [
        "import json, sys",
        "for line in sys.stdin:",
        "    msg = json.loads(line)",
        '    body = msg["body"]',
        '    out = {"src": msg["dest"], "dest": msg["src"]}',
        '    if body["type"] == "init":',
        '        out["body"] = {"type": "init_ok", "protocol": 1, "in_reply_to": body["msg_id"]}',
        '    elif body["type"] == "tick":',
        *(f"        {line}" for line in tick_lines),
        "    else:",
        "        continue",
        '    sys.stdout.write(json.dumps(out) + "\\n")',
        "    sys.stdout.flush()",
    ]
    return "\n".join(lines) + "\n"


# Answers init properly, then every tick with a tick_ok that forgets in_reply_to (the
# schema requires it; Maelstrom-style nodes often add it only to client replies).
TICK_OK_WITHOUT_REPLY_NODE = _node_answering_ticks_with('out["body"] = {"type": "tick_ok"}')


def test_a_reply_without_in_reply_to_is_named_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The run used to wait 20 s and then say the node 'did not answer' a tick it had
    answered, only without in_reply_to. Now it stops at once and says what is missing."""
    node = tmp_path / "node.py"
    node.write_text(TICK_OK_WITHOUT_REPLY_NODE, encoding="utf-8")
    argv = ["test", "--bin", f"{sys.executable} {node}", "--ticks", "40"]
    began = time.monotonic()
    code = main([*argv, "--dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert time.monotonic() - began < 10  # the tick timeout is 20 s
    assert err.count("\n") == 1
    assert "answered tick (msg_id " in err
    assert "with tick_ok without in_reply_to: a reply carries in_reply_to" in err


def test_node_protocol_schema_teaches_error_codes_mode_and_who_reports_events() -> None:
    """`baton schema node-protocol` is what a node author codes against: 'code' said only
    'what went wrong' (the meanings were in the code), 'mode' did not say that baton test
    sends async, and 'event' did not say which node reports what."""
    bodies = {b["title"]: b for b in protocol.protocol_schema()["properties"]["body"]["oneOf"]}
    code = bodies["error"]["properties"]["code"]["description"]
    for name, meaning in protocol.ERROR_CODES.items():
        assert f"{name}: {meaning}" in code
    assert "baton test sends async" in bodies["init"]["properties"]["mode"]["description"]
    assert "restart event" in bodies["init"]["properties"]["incarnation"]["description"]
    event = bodies["event"]["description"]
    assert "replicate by the receiver" in event
    assert "the workbench writes header, seq, crash and end" in event


def test_a_wrong_validation_answer_shows_the_context_it_was_asked_on() -> None:
    """'first: decision 'allowed', expected 'ack_bound_unknown'' sent the reader to grep
    validation.jsonl for the vector's id to learn what was asked; the line carries it."""
    asked = [v for v in vectors.validation_vectors() if v["expected"]["decision"] != "allowed"]
    report = replay.replay(asked[:5], lambda vector: {"decision": "allowed"})
    assert report.agreed == 0
    first = next(line for line in report.render().splitlines() if "first:" in line)
    context, expected = asked[0]["input"]["context"], asked[0]["expected"]["decision"]
    assert f"expected '{expected}' (context: role={context['role']}," in first
    assert f"force={str(context['force']).lower()}" in first


FAILOVER_EXAMPLE = REPO / "examples" / "nodes" / "failover.py"


def test_the_failover_example_passes_in_full_and_its_planted_flaw_is_caught(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """examples/nodes/failover.py (docs/harness.md, section 3): fails over, reports every
    event family, so its trace passes 'baton check --require-full'; with
    '--bug ack-before-fsync' a SIGKILL loses acknowledged writes and the oracle says so."""
    good = [sys.executable, str(FAILOVER_EXAMPLE)]
    argv = ["test", "--bin", " ".join(good), "--seed", "2", "--json", str(tmp_path / "r.json")]
    assert main([*argv, "--dir", str(tmp_path / "good")]) == 0, capsys.readouterr().out
    run = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["runs"][0]
    assert run["oracle"] == "conforms" and run["promotions"]["succeeded"] >= 1
    assert main(["check", "--require-full", run["trace"]]) == 0
    capsys.readouterr()
    flawed = [*good, "--bug", "ack-before-fsync"]
    argv = ["test", "--bin", " ".join(flawed), "--seed", "0"]
    assert main([*argv, "--dir", str(tmp_path / "flawed")]) == 1
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("seed 0: VIOLATION P6-S1"), first
    assert "entries were reported durable before they were fsynced" in first


# Answers init and every tick properly, and prints a debug line to standard output on
# every tick: the first mistake of many a node author.
DEBUG_PRINTING_NODE = _node_answering_ticks_with(
    'print("debug: tick", body["time"])',
    'out["body"] = {"type": "tick_ok", "in_reply_to": body["msg_id"]}',
)


def test_a_debug_print_on_standard_output_says_where_logs_go_and_counts_the_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A print() on standard output is a protocol problem: the message says to log on
    standard error, and the five problems shown say how many more there are."""
    node = tmp_path / "node.py"
    node.write_text(DEBUG_PRINTING_NODE, encoding="utf-8")
    argv = ["test", "--bin", f"{sys.executable} {node}", "--ticks", "40"]
    assert main([*argv, "--dir", str(tmp_path / "runs")]) == 2
    out = capsys.readouterr().out
    problems = [line for line in out.splitlines() if "protocol problem:" in line]
    assert len(problems) == 5, out
    assert "wrote a line that is not JSON: 'debug: tick 1' (standard output carries " in out
    assert "log to standard error)" in problems[0]
    # One debug line per tick the three nodes answered (a killed or paused node misses some).
    more = next(line for line in out.splitlines() if line.startswith("  ... and "))
    assert more.endswith(" more protocol problems (--json lists them all)"), more
    assert int(more.split()[2]) > 40


def test_a_streaming_adapter_that_never_answers_is_stopped_with_a_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Python adapter that prints without flushing never answers through a pipe: the
    replay used to wait for ever. It now stops the adapter after --answer-timeout and
    asks the likely question. (The adapter here reads and never writes, the same thing
    seen from the harness, whatever PYTHONUNBUFFERED says.)"""
    silent = tmp_path / "silent.py"
    silent.write_text("import sys\nfor line in sys.stdin:\n    pass\n", encoding="utf-8")
    some = list(vectors.lifecycle_vectors())[:3]
    began = time.monotonic()
    report = replay.stream_replay(some, f"{sys.executable} {silent}", answer_timeout=0.5)
    assert time.monotonic() - began < 10
    assert report.agreed == 0 and len(report.not_consumed) == 3
    reasons = [why for _, why in report.not_consumed]
    assert reasons[0].startswith("skipped: no answer within 0.5 s (does the adapter flush its")
    assert all("does it flush its standard output" in why for why in reasons[1:])
    # The option, and its refusal of a non-positive value as one line, exit 2.
    argv = [str(tmp_path), "--command", "x", "--stream", "--answer-timeout", "0"]
    assert replay.main(argv) == 2
    err = capsys.readouterr().err
    assert err == "replay: error: --answer-timeout must be a positive number of seconds\n"


def test_a_node_that_never_answers_is_told_the_likely_cause(tmp_path: Path) -> None:
    """A node whose answers sit in an unflushed pipe buffer looks, from the workbench, like
    one that never answers: the abort says so. (Short tick timeout; the node here reads
    and never writes, and ends when its input closes.)"""
    silent = tmp_path / "silent.py"
    silent.write_text("import sys\nfor line in sys.stdin:\n    pass\n", encoding="utf-8")
    argv = (sys.executable, str(silent))
    config = RunConfig(argv=argv, run_dir=tmp_path / "seed-0", seed=0, tick_timeout=0.5)
    with pytest.raises(RunAborted) as aborted:
        run_seed(config, " ".join(argv), "replay 0")
    assert "n0 did not answer init within" in str(aborted.value)
    assert "a node that does not flush its standard output after every line" in str(aborted.value)


def test_baton_test_help_points_at_the_protocol_and_a_safe_failover_example(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An outsider's first stop is --help: it names where the node protocol is written
    down and shows a node that fails over correctly, next to the flawed one."""
    with pytest.raises(SystemExit):
        main(["test", "--help"])
    out = capsys.readouterr().out
    assert 'baton test --bin "python3 examples/nodes/failover.py" --seeds 0..9' in out
    assert FAILOVER_EXAMPLE.exists()
    assert "docs/harness.md and 'baton schema node-protocol'" in out


def test_the_failover_examples_two_refusals_are_traces_the_oracle_accepts(
    tmp_path: Path,
) -> None:
    """Both ways the example turns a promotion away, fed to it by hand (a whole run rarely
    reaches them): a second request while one is in progress (request, then the reject
    kind: never let in) and a peer busy with its own attempt (the attempt already entered
    the lifecycle: it leaves by the transition 'reject'). Its events, numbered into a
    trace, conform; the oracle's message for the mix-up it once made is tested below."""

    def msg(src: str, body: dict[str, object]) -> str:
        return json.dumps({"src": src, "dest": "n1", "body": body}) + "\n"

    init = {"type": "init", "msg_id": 1, "node_id": "n1", "node_ids": ["n0", "n1", "n2"],
            "initial_primary": "n0", "mode": "async", "data_dir": str(tmp_path),
            "incarnation": 0, "protocol": 1}  # fmt: skip
    promote = {"type": "promote", "force": False, "operator": "o", "reason": "test"}
    busy = {"type": "probe_ok", "attempt": "a1", "busy": True, "writable": False,
            "epoch": 1, "wal": []}  # fmt: skip
    script = (
        msg("harness", init)
        + msg("operator", {**promote, "msg_id": 2, "attempt": "a1"})
        + msg("operator", {**promote, "msg_id": 3, "attempt": "a2"})
        + msg("n0", busy)
        + msg("n2", {**busy, "busy": False})
        + msg("harness", {"type": "tick", "msg_id": 4, "time": 1})
    )
    done = subprocess.run(
        [sys.executable, str(FAILOVER_EXAMPLE)],
        input=script,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    bodies = [json.loads(line)["body"] for line in done.stdout.splitlines()]
    outcomes = [(b["attempt"], b["reason"]) for b in bodies if b["type"] == "promote_ok"]
    assert outcomes == [("a2", "duplicate_request"), ("a1", "duplicate_request")]
    events = [b["event"] for b in bodies if b["type"] == "event"]
    assert [e["kind"] for e in events] == ["request", "transition", "request", "reject",
                                           "transition"]  # fmt: skip
    assert events[-1]["event"] == "reject" and events[-1]["to"] == "Steady"
    lines = [json.dumps({"seq": 0, **trace.header(["n0", "n1", "n2"], "async", "n0")})]
    lines += [json.dumps({"seq": i, **e}) for i, e in enumerate(events, 1)]
    verdict = oracle.check_stream(io.StringIO("\n".join(lines) + "\n"), "refusals")
    assert verdict.status == "conforms", verdict.to_json()


def test_a_reject_after_the_attempt_entered_the_lifecycle_says_which_step_applies(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The oracle said 'reject of attempt a1, which has no pending request line' right
    after that request line: true in its bookkeeping, baffling to the producer. It now
    says the attempt already entered the lifecycle and which step leaves it."""
    good = (REPO / "examples" / "traces" / "good_failover.jsonl").read_text(encoding="utf-8")
    head = good.splitlines()[:10]  # up to a1's transition into PromotionRequested
    assert '"event":"request","to":"PromotionRequested"' in head[-1]
    reject = '{"seq":10,"kind":"reject","node":"n2","attempt":"a1","reason":"duplicate_request"}'
    trace_file = tmp_path / "mixed.jsonl"
    trace_file.write_text("\n".join([*head, reject]) + "\n", encoding="utf-8")
    assert main(["check", str(trace_file)]) == 1
    out = capsys.readouterr().out
    assert "which already entered n2's lifecycle (now PromotionRequested)" in out
    assert "a transition with event 'reject' (PromotionRequested -> Steady)" in out
