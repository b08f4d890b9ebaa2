"""Run a scenario against real node directories, printing every decision.

The scenario (JSON; format in docs/runtime.md and 'baton.scenario') starts
N nodes in directories under --dir (n0 .. n{N-1}; n0 is the primary at epoch
1), then performs its steps: writes, replication, crashes (optionally at a
named failpoint: marker.write_temp, marker.fsync_temp, marker.rename,
marker.fsync_dir, wal.append, wal.fsync, wal.synced_end), restarts,
reinstatement, promotion requests with or without force (held before the
marker if asked, then continued or aborted), acknowledgements, the
promotion-disabled switch, and expectations. Every lifecycle transition and
decision is printed with its invariant IDs and explanation; --trace writes
them as a trace (format v1) that 'baton check' reads.

With --resume, the node directories under --dir are those of a run whose
process died (killed, power cut): each node is recovered from its directory
alone -- marker, WAL (a torn tail past the synced end cut; damage before it
refused), halt file, adopted epoch -- and comes back fenced (a primary admits
no writes until reinstated); the scenario's steps then run on that cluster.
With --trace, the dead run's trace is continued: first the events of the
interrupted step that the disk shows happened, then a crash of every node it
had up and a restart of every node, so 'baton check' reads both runs as one.

A demonstration drops a spec assumption by name at the top of the scenario
("drop_assumptions": ["force_is_truthful"] or ["single_controller"]): the run
says ASSUMPTIONS DROPPED, the trace records each request that relied on it,
and 'baton check' accepts the trace only with --allow-dropped NAME
(docs/assumptions.md).

Exit status: 0 every step went as the scenario expects; 1 a step was refused
unexpectedly or an expectation failed (the step's line is named); 2 the
scenario is malformed (line and field named), --dir or --trace is not
usable, another process holds the directory, or the directories cannot be
resumed (a damaged WAL, a disk the trace cannot be brought level with).

Examples:
  baton run examples/clean_failover.json --dir /tmp/run1
  baton run examples/crash_mid_transition.json --dir /tmp/run2 --trace run2.jsonl
  baton run --resume examples/resume/continue_after_kill.json --dir /tmp/run2 --trace run2.jsonl
  baton run examples/authority_ambiguity.json --dir /tmp/run3 --trace run3.jsonl
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING

from baton.cli import UsageError
from baton.dirlock import LOCK_FILE, DirectoryLock
from baton.output import create_directory

if TYPE_CHECKING:
    from baton.metrics import TraceTap
    from baton.scenario import Scenario

# Checked by the CLI before the scenario runs (baton.cli): --trace and --metrics must be a
# writable path outside every node directory, so a bad path costs no run.
OUTPUT_OPTIONS: tuple[str, ...] = ("trace", "metrics")


def output_node_dirs(args: argparse.Namespace) -> list[Path]:
    """Where no output may go: the node directories live under --dir."""
    root: Path = args.dir
    return [root]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenario", help="scenario file (JSON)")
    parser.add_argument(
        "--dir",
        required=True,
        type=Path,
        help="directory for the node directories (new or empty; with --resume, the dead run's)",
    )
    parser.add_argument(
        "--trace",
        type=Path,
        default=None,
        help="write the trace (JSON Lines), event by event; with --resume, continue it",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="reopen the node directories of a run whose process died (each node recovered "
        "from its directory alone, primaries fenced) and run the scenario's steps on them",
    )
    parser.add_argument(
        "--metrics",
        default=None,
        metavar="FILE",
        help="at the end of the run, write metrics derived from its trace events (OpenMetrics "
        "text, docs/metrics.md; '-' for standard output, the run's own lines then going to "
        "standard error); with --resume and --trace, the dead run's events count too",
    )
    parser.add_argument("--quiet", action="store_true", help="print only failures and the result")


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


def run(args: argparse.Namespace) -> int:
    from baton import scenario
    from baton.errors import InputError, StorageError
    from baton.resume import ResumeMismatch

    try:
        sc = scenario.load(args.scenario)
    except InputError as exc:
        raise UsageError(str(exc)) from None
    if sc.resumes and not args.resume:
        raise UsageError(
            f"{args.scenario}: this scenario continues a run whose process died "
            '("resumes": true): run it with --resume, on that run\'s --dir'
        )
    root: Path = args.dir
    trace_path: Path | None = args.trace
    # A slip of tab completion ('--trace clean_failover.json') would replace the scenario.
    scenario_file = Path(args.scenario).resolve()
    for option, dest in (("--trace", trace_path), ("--metrics", args.metrics)):
        if dest is not None and str(dest) != "-" and Path(dest).resolve() == scenario_file:
            raise UsageError(
                f"{option} {dest}: that is the scenario file; refusing to overwrite it"
            )
    if trace_path is not None and _inside(trace_path, root):
        raise UsageError(f"--trace {trace_path}: inside --dir {root}, where node state lives")
    metrics_path: str | None = args.metrics
    if (
        metrics_path not in (None, "-")
        and trace_path is not None
        and Path(metrics_path).resolve() == trace_path.resolve()
    ):
        raise UsageError(f"--metrics {metrics_path}: the same file as --trace")
    if args.resume:
        if not root.is_dir():
            raise UsageError(f"--dir {root}: no such directory to resume")
    else:
        create_directory(root, f"--dir {root}")
    # One process per directory (single_controller): the lock is taken before the
    # directory is inspected, so two runs racing on one --dir cannot both pass the check.
    root_lock = DirectoryLock(root).acquire()
    try:
        return _run_locked(args, sc, root, trace_path)
    except (ResumeMismatch, StorageError) as exc:
        doing = "resume" if args.resume else "set up the nodes"
        raise UsageError(f"--dir {root}: cannot {doing}: {exc}") from None
    finally:
        root_lock.release()


def _run_locked(args: argparse.Namespace, sc: Scenario, root: Path, trace_path: Path | None) -> int:
    from baton import scenario
    from baton.errors import InputError
    from baton.events import escape_text
    from baton.resume import read_previous_trace

    if not args.resume and any(entry.name != LOCK_FILE for entry in root.iterdir()):
        # Re-running a finished example into the same --dir is the usual way here; --resume
        # is not the answer then (it continues a killed run with a scenario written for it).
        raise UsageError(
            f"--dir {root}: holds an earlier run; give a new or empty directory "
            "(--resume continues a run whose process died, with a scenario written for that)"
        )

    # With --metrics -, standard output carries only the metrics text: the run's own
    # lines go to standard error, so a parser reading the output sees nothing else.
    lines_to = sys.stderr if args.metrics == "-" else sys.stdout

    def say(line: str) -> None:
        if not args.quiet:
            print(line, file=lines_to, flush=True)

    previous = None
    if args.resume and trace_path is not None and trace_path.exists():
        try:
            previous = read_previous_trace(trace_path)
        except (InputError, OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"--trace {trace_path}: cannot continue it: {exc}") from None
        if previous.cut:
            say(f"resume: cut {previous.cut} from {trace_path}")
    elif args.resume and trace_path is not None:
        raise UsageError(
            f"--trace {trace_path}: no such trace; --resume continues the dead run's trace"
        )
    # The trace is written event by event (flushed), so that a run whose process is
    # killed leaves every event before the kill; --resume continues it.
    try:
        trace_stream = _open_trace(trace_path, previous.kept if previous is not None else None)
    except OSError as exc:
        raise UsageError(f"--trace {trace_path}: cannot write: {exc.strerror or exc}") from None
    tap = None
    if args.metrics is not None:
        from baton.metrics import TraceTap

        # The metrics are folded from the trace lines themselves, as they are written.
        tap = TraceTap(trace_stream, previous.kept if previous is not None else "")
    try:
        outcome = scenario.execute(
            sc,
            os.fspath(root),
            tap if tap is not None else trace_stream,
            say,
            resume=args.resume,
            previous=previous,
        )
    finally:
        if trace_stream is not None:
            trace_stream.close()
    if tap is not None:
        _write_metrics(args.metrics, tap)
    if outcome.failed:
        print(f"baton run: {escape_text(outcome.failed)}", file=sys.stderr)
        return 1
    print(f"baton run: {escape_text(sc.name)}: ok ({outcome.steps_run} steps)", file=lines_to)
    return 0


def _write_metrics(path: str, tap: TraceTap) -> None:
    from baton.metrics import write_exposition

    try:
        write_exposition(path, tap.metrics)
    except OSError as exc:
        raise UsageError(f"--metrics {path}: cannot write: {exc.strerror or exc}") from None


def _open_trace(path: Path | None, kept: str | None) -> IO[str] | _ContinuedTraceFile | None:
    """Open the trace for writing before anything runs (a bad path fails first)."""
    if path is None:
        return None
    if kept is not None:
        return _ContinuedTraceFile(path, len(kept.encode("utf-8")))
    return open(path, "w", encoding="utf-8")  # closed by the caller


class _ContinuedTraceFile:
    """The dead run's trace, continued in place.

    The file is cut (a partial last line, an 'end' line) and written only when
    the first new event arrives -- after the cluster was reopened -- so a
    resume refused before that leaves the trace exactly as it was.
    """

    def __init__(self, path: Path, keep: int) -> None:
        self._handle = open(path, "r+b")  # noqa: SIM115 -- closed by close()
        self._keep: int | None = keep

    def write(self, text: str) -> int:
        if self._keep is not None:
            self._handle.seek(self._keep)
            self._handle.truncate()
            self._keep = None
        self._handle.write(text.encode("utf-8"))
        return len(text)

    def flush(self) -> None:
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()
