"""Run a scenario against real node directories, printing every decision.

The scenario (JSON; format in docs/runtime.md and 'baton.scenario') starts
N nodes in directories under --dir (n0 .. n{N-1}; n0 is the primary at epoch
1), then performs its steps: writes, replication, crashes (optionally at a
named failpoint: marker.write_temp, marker.fsync_temp, marker.rename,
marker.fsync_dir, wal.append, wal.fsync), restarts, reinstatement,
promotion requests with or without force, acknowledgements, and
expectations. Every lifecycle transition and decision is printed with its
invariant IDs and explanation; --trace writes them as a trace (format v1)
that 'baton check' reads.

Exit status: 0 every step went as the scenario expects; 1 a step was refused
unexpectedly or an expectation failed (the step's line is named); 2 the
scenario is malformed (line and field named) or --dir is not usable.

Examples:
  baton run examples/clean_failover.json --dir /tmp/run1
  baton run examples/crash_mid_transition.json --dir /tmp/run2 --trace run2.jsonl
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from pathlib import Path

from baton.cli import UsageError
from baton.dirlock import LOCK_FILE, DirectoryLock
from baton.storage import write_artifact


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenario", help="scenario file (JSON)")
    parser.add_argument(
        "--dir", required=True, type=Path, help="directory for the node directories (empty/new)"
    )
    parser.add_argument("--trace", type=Path, default=None, help="write the trace (JSON Lines)")
    parser.add_argument("--quiet", action="store_true", help="print only failures and the result")


def run(args: argparse.Namespace) -> int:
    from baton import scenario
    from baton.errors import InputError

    try:
        sc = scenario.load(args.scenario)
    except InputError as exc:
        raise UsageError(str(exc)) from None
    root: Path = args.dir
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--dir {root}: cannot create: {exc.strerror or exc}") from None
    # One process per directory (single_controller): the lock is taken before the
    # directory is inspected, so two runs racing on one --dir cannot both pass the check.
    root_lock = DirectoryLock(root).acquire()
    if any(entry.name != LOCK_FILE for entry in root.iterdir()):
        root_lock.release()
        raise UsageError(f"--dir {root}: must be a new or empty directory")

    def say(line: str) -> None:
        if not args.quiet:
            print(line, flush=True)

    # The trace is an artefact for people and 'baton check', not node state: it is
    # collected in memory and written through storage.write_artifact at the end.
    trace_stream = io.StringIO() if args.trace is not None else None
    try:
        outcome = scenario.execute(sc, os.fspath(root), trace_stream, say)
    finally:
        if trace_stream is not None:
            write_artifact(args.trace, trace_stream.getvalue())
        root_lock.release()
    if outcome.failed:
        print(f"baton run: {outcome.failed}", file=sys.stderr)
        return 1
    print(f"baton run: {sc.name}: ok ({outcome.steps_run} steps)")
    return 0
