"""Check a recorded trace against the spec: the conformance oracle.

Reads a Baton trace (JSON Lines, format v1: 'baton schema trace') from a file
or from standard input ('-'), streaming and in constant memory, and checks
every event against the spec's rules: lifecycle table (P6-D2), validation
decisions and the facts they rest on (P6-D1, P6-F1), audited force (P6-A1a),
single writer (P6-A1), atomic transfer (P6-A2),
epoch fencing (P6-A3), acknowledged writes preserved (P6-S1), prefix history
(P6-S2), crash recovery (P6-F2), no implicit retry (P6-F3), observable and
explained attempts (P6-O1, P6-O2). It stops at the first violation and prints
its line, the event, the invariant, an explanation and the state before it.

A trace that lacks a family of events (e.g. only one node's lifecycle, no
writes) is checked for what it contains: the verdict is 'conforms (partial)'
and lists the rules it could not check. --require-full turns that into a
failure (exit 1).

examples:
  baton check run.jsonl
  baton run examples/clean_failover.json --dir /tmp/r1 --trace run.jsonl && baton check run.jsonl
  python examples/adapter/failover_sim.py | python examples/adapter/log_to_trace.py | baton check -
  baton check --all --json examples/traces/broken_s1_lost_ack.jsonl
  baton check --require-full run.jsonl

exit status: 0 conforms (also partial, unless --require-full), 1 a rule was
broken, 2 malformed input (the message names the line and the field) or bad
usage.
"""

from __future__ import annotations

import argparse
import sys

from baton.errors import UsageError
from baton.oracle import check_stream, render


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("trace", help="trace file (JSON Lines), or - for standard input")
    parser.add_argument("--json", action="store_true", help="print the verdict as JSON")
    parser.add_argument(
        "--all", action="store_true", help="keep going after a violation and list every one"
    )
    parser.add_argument(
        "--require-full",
        action="store_true",
        help="fail (exit 1) when some rules could not be checked (partial trace)",
    )


def run(args: argparse.Namespace) -> int:
    if args.trace == "-":
        verdict = check_stream(sys.stdin, "-", args.all)
    else:
        try:
            with open(args.trace, encoding="utf-8", newline="") as stream:
                verdict = check_stream(stream, args.trace, args.all)
        except OSError as exc:
            raise UsageError(f"cannot read {args.trace}: {exc.strerror or exc}") from None
    print(verdict.to_json() if args.json else render(verdict))
    code = verdict.exit_code
    if code == 0 and args.require_full and verdict.status == "conforms_partial":
        if not args.json:
            print("  --require-full: a partial trace does not pass", file=sys.stderr)
        code = 1
    return code
