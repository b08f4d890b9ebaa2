"""Check a recorded trace against the spec: the conformance oracle.

Reads a Baton trace (JSON Lines, format v1: 'baton schema trace') from a file
or from standard input ('-'), streaming and in constant memory, and checks
every event against the spec's rules: lifecycle table (P6-D2), validation
decisions and the facts they rest on (P6-D1, P6-F1), audited force (P6-A1a),
single writer (P6-A1), atomic transfer (P6-A2),
epoch fencing (P6-A3), acknowledged writes preserved (P6-S1), prefix history
(P6-S2), crash recovery (P6-F2), no implicit retry (P6-F3), observable and
explained attempts (P6-O1, P6-O2). It stops at the first violation and prints
its line, the event, the invariants, an explanation and the state before it.

Where the trace carries the data events, the oracle derives the candidate's
WAL end, position and prefix compatibility itself and reports a validation
context that contradicts them (docs/oracle.md, "Derived and recorded").

A demonstration's trace declares the spec assumptions it dropped (a request
event's meta.dropped_assumptions, e.g. 'baton run' of a scenario with
"drop_assumptions"). It fails the check unless each is allowed with
--allow-dropped NAME; then violations of the properties that assumption guards
(baton spec: "guards ...") are listed as EXCUSED and do not fail, while every
other violation still does. --allow-dropped on a trace that declares nothing
changes nothing.

A trace that lacks a family of events (e.g. only one node's lifecycle, no
writes) is checked for what it contains: the verdict is 'conforms (partial)'
and lists the rules it could not check. --require-full turns that into a
failure: status 'incomplete', exit 1.

examples:
  baton check run.jsonl
  baton run examples/clean_failover.json --dir /tmp/r1 --trace run.jsonl && baton check run.jsonl
  python examples/adapter/failover_sim.py | python examples/adapter/log_to_trace.py | baton check -
  baton check --all --json verdict.json --junit rules.xml run.jsonl
  baton check --require-full run.jsonl
  baton check --metrics run.prom run.jsonl
  baton run examples/authority_ambiguity.json --dir /tmp/r2 --trace demo.jsonl
  baton check --allow-dropped single_controller demo.jsonl

exit status: 0 conforms (also partial, unless --require-full; also with excused
violations only), 1 a rule was broken (or a partial trace under --require-full,
or a dropped assumption the trace declares was not allowed), 2 malformed input
(the message names the line and the field) or bad usage, 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from collections.abc import Callable
from typing import IO

from baton.errors import UsageError
from baton.oracle import RULES, check_stream, render
from baton.output import JUnitCase, add_output_args, check_output_path, emit_json, write_junit
from baton.verdict import Verdict


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("trace", help="trace file (JSON Lines), or - for standard input")
    add_output_args(parser, junit=True)
    parser.add_argument(
        "--all", action="store_true", help="keep going after a violation and list every one"
    )
    parser.add_argument(
        "--metrics",
        default=None,
        metavar="FILE",
        help="also write the metrics derived from the trace's events (OpenMetrics text, "
        "docs/metrics.md; '-' for standard output); not written for a malformed trace",
    )
    parser.add_argument(
        "--allow-dropped",
        action="append",
        default=[],
        metavar="NAME",
        help="accept a demonstration that declares the spec assumption NAME dropped "
        "(repeatable; NAME as 'baton spec' lists them): violations of the properties NAME "
        "guards are reported as excused and do not fail the check; a declared assumption "
        "not allowed fails it. Changes nothing for a trace that declares no dropped assumption",
    )
    parser.add_argument(
        "--require-full",
        action="store_true",
        help="fail (status 'incomplete', exit 1) when some rules could not be checked",
    )


def junit_cases(verdict: Verdict, seconds: float) -> list[JUnitCase]:
    """One test case per oracle rule: failed (its violations), skipped (not checkable), passed.

    A malformed trace fails every rule: nothing could be checked."""
    cases = []
    not_checked = {nc["rule"]: nc["why"] for nc in verdict.not_checked}
    for rule in RULES:
        label = f"{rule.name} ({rule.invariant})"
        broken = [v for v in verdict.violations if v.rule == rule.name]
        failure: str | None = None
        skipped: str | None = None
        if verdict.error is not None:
            failure = f"trace not readable: line {verdict.error.line}: {verdict.error.reason}"
        elif broken:
            failure = "\n".join(
                f"line {v.line}: {v.headline} broken: {v.explanation}" for v in broken
            )
        elif label in not_checked:
            skipped = not_checked[label]
        cases.append(
            JUnitCase(
                label,
                f"baton.check.{verdict.subject}",
                seconds / len(RULES),
                failure=failure,
                skipped=skipped,
            )
        )
    # A demonstration: one more case per assumption the trace declares dropped, failed
    # unless allowed; an allowed one lists the violations it excused.
    for d in verdict.dropped:
        listed = "\n".join(
            f"line {x.violation.line}: {x.violation.headline} broken (rule {x.violation.rule}), "
            "excused"
            for x in verdict.excused
            if x.assumption == d.name
        )
        cases.append(
            JUnitCase(
                f"dropped assumption {d.name} (declared line {d.line})",
                f"baton.check.{verdict.subject}",
                0.0,
                failure=None
                if d.allowed
                else f"the trace declares {d.name} dropped; pass --allow-dropped {d.name}",
                output=listed or None,
            )
        )
    return cases


def _guarded(write: Callable[[], None]) -> bool:
    """Run ``write``; False when standard output was closed early (``| head``).

    The verdict's exit status must survive a reader that stops early: a CI
    pipeline piping into ``head`` still sees exit 1 for a violation."""
    if sys.stdout.closed:
        return False
    try:
        write()
        sys.stdout.flush()
    except BrokenPipeError:
        # Close it here (the failed flush's data is dropped), so the interpreter's
        # final flush neither prints an error nor changes the exit status.
        with contextlib.suppress(OSError):
            sys.stdout.close()
        return False
    return True


def _stdin_bytes() -> IO[bytes] | IO[str]:
    # Bytes, so a non-UTF-8 byte is reported (exit 2) exactly as from a file.
    buffer = getattr(sys.stdin, "buffer", None)
    return buffer if buffer is not None else sys.stdin


def _write_metrics(stream: IO[bytes] | IO[str], subject: str, dest: str) -> None:
    """Fold the (readable) trace into metrics and write them (baton.metrics)."""
    from baton.errors import InputError
    from baton.metrics import from_trace, write_exposition

    stream.seek(0)
    try:
        metrics = from_trace(stream, subject)
    except InputError as exc:  # the oracle read it; the strict reader agrees (same lines)
        raise UsageError(f"--metrics: {exc}") from None
    try:
        write_exposition(dest, metrics)
    except OSError as exc:
        raise UsageError(f"--metrics {dest}: cannot write: {exc.strerror or exc}") from None


def _open_trace(path: str, rereadable: bool, opened: contextlib.ExitStack) -> IO[bytes] | IO[str]:
    """The trace as a stream (binary where it can be); standard input is spooled to a
    temporary file when it must be read twice (the oracle, then the metrics)."""
    if path == "-":
        stdin = _stdin_bytes()
        if not rereadable:
            return stdin
        spool = opened.enter_context(tempfile.TemporaryFile())  # noqa: SIM115 -- the stack closes it
        data = stdin.read(1 << 20)
        while data:
            spool.write(data if isinstance(data, bytes) else data.encode("utf-8"))
            data = stdin.read(1 << 20)
        spool.seek(0)
        return spool
    try:
        return opened.enter_context(open(path, "rb"))
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None


def _allowed_dropped(names: list[str]) -> tuple[str, ...]:
    """--allow-dropped names, each one of the spec's assumptions (exit 2 otherwise)."""
    if not names:
        return ()
    from baton.spec.cluster import ASSUMPTION_NAMES

    for name in names:
        if name not in ASSUMPTION_NAMES:
            raise UsageError(
                f"--allow-dropped {name}: not an assumption of the spec "
                f"(known: {', '.join(ASSUMPTION_NAMES)})"
            )
    return tuple(dict.fromkeys(names))


TRACE_HEADER_MARK = b'"baton-trace"'
"""In a trace's first line (its header's format); how an output path is recognised as a trace."""


def _refuse_overwriting_a_trace(option: str, dest: str, trace: str) -> None:
    """``--json a.jsonl b.jsonl`` reads as "check two traces as JSON" but would replace the
    trace a.jsonl with b.jsonl's verdict: refuse an output path that holds a Baton trace."""
    if dest == "-":
        return
    try:
        with open(dest, "rb") as existing:
            first_line = existing.readline(4096)
    except OSError:
        return  # absent (the usual case) or unreadable: check_output_path has the say
    if TRACE_HEADER_MARK in first_line:
        raise UsageError(
            f"{option} {dest}: that file is a Baton trace; refusing to overwrite it "
            f"(to check it with JSON output: baton check --json - {dest})"
            if dest != trace
            else f"{option} {dest}: that is the trace being checked; refusing to overwrite it"
        )


def run(args: argparse.Namespace) -> int:
    allowed = _allowed_dropped(args.allow_dropped)
    for option, dest in (
        ("--json", args.json),
        ("--junit", args.junit),
        ("--metrics", args.metrics),
    ):
        if dest is not None:
            check_output_path(dest)
            _refuse_overwriting_a_trace(option, dest, args.trace)
    if args.metrics == "-" and "-" in (args.json, args.junit):
        raise UsageError("--metrics -: standard output already carries --json or --junit")
    start = time.perf_counter()
    with contextlib.ExitStack() as opened:
        try:
            stream = _open_trace(args.trace, args.metrics is not None, opened)
            try:
                verdict = check_stream(
                    stream, args.trace, args.all, args.require_full, allowed_dropped=allowed
                )
            except OSError as exc:
                raise UsageError(f"cannot read {args.trace}: {exc.strerror or exc}") from None
        except KeyboardInterrupt:
            print("baton check: interrupted", file=sys.stderr)
            return 130
        seconds = time.perf_counter() - start
        if args.metrics is not None and verdict.error is None:
            _write_metrics(stream, args.trace, args.metrics)
    if args.junit is not None:
        write_junit(args.junit, "baton check", junit_cases(verdict, seconds))
    if args.json is not None:
        _guarded(lambda: emit_json(verdict.to_dict(), args.json))
    if "-" not in (args.json, args.junit, args.metrics):
        _guarded(lambda: print(render(verdict)))
    if verdict.status == "incomplete" and args.json is None:
        print("  --require-full: a partial trace does not pass", file=sys.stderr)
    for dropped in verdict.dropped_not_allowed:
        print(
            f"baton check: the trace declares the assumption {dropped.name} dropped (line "
            f"{dropped.line}); pass --allow-dropped {dropped.name} to accept it as a demonstration",
            file=sys.stderr,
        )
    return verdict.exit_code
