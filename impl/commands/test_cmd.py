"""Drive an implementation's node processes through failovers and faults, and judge them.

Starts --nodes processes of --bin (each with its own data directory), routes
every message between them through a seeded simulated network (delay, loss,
duplication, partitions), runs clients that write and read, an operator that
requests promotions as a runbook would (with and without force), and a
nemesis (SIGKILL and restart from the same directory, SIGSTOP/SIGCONT,
partitions). Everything is recorded as a Baton trace and judged by the
oracle plus black-box checks on what the clients saw (an acknowledged write
missing from a later primary's read: P6-S1; two nodes acknowledging writes
at the same time: P6-A1). The first violation is printed with its seed and
the command that replays it; an HTML report shows a timeline of authority.

--bin is split like a shell command line; '{dir}' and '{node}' in it are
replaced by the node's directory and name (the directory is also in the init
message). Node directories, logs, trace.jsonl and report.html stay in
--dir/seed-S for inspection (seed-S-2, -3 ... when that directory is taken:
nothing is ever deleted).

examples:
  baton test --bin "baton node" --nodes 3 --seed 1
  baton test --bin "python3 examples/nodes/failover.py" --seeds 0..9
  baton test --bin "node examples/nodes/flawed.js" --seeds 0..20
  baton test --bin "baton node" --seeds 0..999 --json results.json
  baton test --bin "baton node" --seeds 0..9999 --ray auto   seeds as Ray tasks on a cluster

The node protocol: docs/harness.md and 'baton schema node-protocol'.

exit status: 0 every seed passed, 1 a violation (protocol problems of the
same seed are listed under it), 2 bad usage or a node that broke the protocol
(exited, wrote malformed lines, never answered a tick), 130 interrupted.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

from baton.commands.ray_option import add_ray_argument
from baton.errors import UsageError
from baton.output import (
    JUnitCase,
    add_output_args,
    check_output_path,
    create_directory,
    emit_json,
    write_junit,
)

DEFAULT_TICKS = 150


def _seeds(text: str) -> range:
    try:
        if ".." in text:
            low, high = text.split("..", 1)
            first, last = int(low), int(high)
        else:
            first = last = int(text)
    except ValueError:
        raise UsageError(f"--seeds {text!r}: expected A..B (integers, inclusive)") from None
    if first < 0 or last < first:
        raise UsageError(f"--seeds {text!r}: expected 0 <= A <= B")
    return range(first, last + 1)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bin", required=True, help="the node program's command line")
    parser.add_argument("--nodes", type=int, default=3, help="cluster size (default 3)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--seed", type=int, default=None, help="run one seed (default 0)")
    group.add_argument("--seeds", default=None, metavar="A..B", help="run seeds A to B")
    parser.add_argument(
        "--ticks", type=int, default=DEFAULT_TICKS, help=f"run length (default {DEFAULT_TICKS})"
    )
    parser.add_argument(
        "--dir", default="baton-test", help="where runs are kept (default ./baton-test)"
    )
    parser.add_argument(
        "--time-limit",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop after this long (no new seed starts; a run in progress stops early)",
    )
    add_output_args(parser, junit=True)
    add_ray_argument(parser, "run the seeds as Ray tasks (node processes start on the workers)")


def _fresh(root: Path, name: str) -> Path:
    """``root/name``, or ``root/name-2``, ``-3`` ... if taken: a run never reuses a directory."""
    candidate, k = root / name, 1
    while candidate.exists():
        k += 1
        candidate = root / f"{name}-{k}"
    return candidate


def _this_baton() -> tuple[str, ...]:
    script = Path(sys.executable).parent / "baton"
    return (str(script),) if script.exists() else (sys.executable, "-m", "baton.cli")


def _on_signal(signum: int, frame: FrameType | None) -> None:
    from baton.harness.workbench import STOP

    STOP.set()  # the workbench stops at its next safe point and kills every process


def _seed_job(job: tuple[Any, str, str]) -> tuple[str, Any]:
    """One seed (a Ray task with --ray): ("done", summary) or ("aborted", why)."""
    from baton.harness.runner import run_seed
    from baton.harness.workbench import RunAborted

    config, bin_text, replay = job
    try:
        return "done", run_seed(config, bin_text, replay)
    except RunAborted as exc:
        return "aborted", str(exc)


def run(args: argparse.Namespace) -> int:
    from baton.harness.runner import replay_command, run_seed
    from baton.harness.workbench import STOP, Interrupted, RunAborted, RunConfig

    if args.nodes < 2 or args.nodes > 9:
        raise UsageError("--nodes must be between 2 and 9")
    if args.ticks < 40:
        raise UsageError("--ticks must be at least 40 (faults need room, the end quiesces)")
    if args.time_limit is not None and not args.time_limit > 0:
        # 0 would stop every seed at tick 0 and call it a pass: nothing was tested.
        raise UsageError(f"--time-limit {args.time_limit:g}: must be a positive number of seconds")
    try:
        argv = tuple(shlex.split(args.bin))
    except ValueError as exc:  # an unbalanced quote: shlex's message says which
        raise UsageError(f"--bin {args.bin!r}: {exc}") from None
    if not argv:
        raise UsageError("--bin is empty")
    if argv[0] == "baton" and shutil.which("baton") is None:
        # This baton, run from a virtual environment that is not on PATH.
        argv = (*_this_baton(), *argv[1:])
    if shutil.which(argv[0]) is None and not Path(argv[0]).exists():
        raise UsageError(f"--bin: program {argv[0]!r} not found")
    seeds = (
        _seeds(args.seeds)
        if args.seeds is not None
        else range(args.seed or 0, (args.seed or 0) + 1)
    )
    for dest in (args.json, args.junit):
        if dest is not None:
            check_output_path(dest)
    if args.ray is not None:
        from baton.proofs import ray_backend

        ray_backend.require_ray()
        # Workers may start in another directory: give them absolute paths.
        if Path(argv[0]).exists():
            argv = (str(Path(argv[0]).resolve()), *argv[1:])
    root = Path(args.dir).resolve() if args.ray is not None else Path(args.dir)
    create_directory(root, f"--dir {args.dir}")
    deadline = time.monotonic() + args.time_limit if args.time_limit is not None else None
    many = len(seeds) > 1
    quiet_json = args.json == "-"
    say = (lambda line: print(line, file=sys.stderr)) if quiet_json else print
    summaries: list[dict[str, Any]] = []
    STOP.clear()
    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        if args.ray is not None:
            _run_on_ray(args, argv, root, seeds, deadline, summaries, say, many)
        for seed in seeds if args.ray is None else ():
            if deadline is not None and time.monotonic() > deadline and summaries:
                say(f"time limit reached: stopping before seed {seed}")
                break
            run_dir = _fresh(root, f"seed-{seed}")
            config = RunConfig(
                argv=argv,
                run_dir=run_dir,
                nodes=args.nodes,
                seed=seed,
                ticks=args.ticks,
                deadline=deadline,
            )
            replay = replay_command(args.bin, args.nodes, seed, args.ticks, DEFAULT_TICKS)
            try:
                summary = run_seed(config, args.bin, replay)
            except RunAborted as exc:
                raise UsageError(f"seed {seed}: {exc}") from None
            summaries.append(summary)
            _print_seed(say, summary, many)
            if STOP.is_set():
                raise Interrupted
    except Interrupted:
        print("baton test: interrupted; every node process was stopped", file=sys.stderr)
        return 130
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    failed = [s for s in summaries if s["status"] != "pass"]
    if many:
        cut_short = sum(1 for s in summaries if s["stopped_early"])
        say(
            f"{len(summaries)} seed(s) run, {len(failed)} with a violation"
            + (f" (seeds {', '.join(str(s['seed']) for s in failed[:20])})" if failed else "")
            + (f"; {cut_short} stopped early" if cut_short else "")
        )
    doc = {
        "bin": args.bin,
        "nodes": args.nodes,
        "seeds_run": len(summaries),
        "failed": len(failed),
        "runs": summaries,
    }
    emit_json(doc, args.json)
    if args.junit is not None:
        cases = [
            JUnitCase(
                name=f"seed {s['seed']}",
                classname="baton.test",
                time=s["seconds"],
                failure=None if s["status"] == "pass" else _first_failure(s),
            )
            for s in summaries
        ]
        write_junit(args.junit, "baton test", cases)
    if any(s["status"] == "violation" for s in summaries):
        return 1
    return 2 if failed else 0


def _run_on_ray(
    args: argparse.Namespace,
    argv: tuple[str, ...],
    root: Path,
    seeds: range,
    deadline: float | None,
    summaries: list[dict[str, Any]],
    say: Any,
    many: bool,
) -> None:
    """The seeds as Ray tasks: each seed's run directory is chosen here (as a
    local run would), the run happens on a worker, each result is printed as
    it arrives and ``summaries`` ends in seed order, as a local run's. The time
    limit stops new seeds from starting; runs in progress finish."""
    from baton.harness.runner import replay_command
    from baton.harness.workbench import STOP, Interrupted, RunConfig
    from baton.proofs import ray_backend

    jobs = []
    for seed in seeds:
        config = RunConfig(
            argv=argv,
            run_dir=_fresh(root, f"seed-{seed}"),
            nodes=args.nodes,
            seed=seed,
            ticks=args.ticks,
        )
        replay = replay_command(args.bin, args.nodes, seed, args.ticks, DEFAULT_TICKS)
        jobs.append((config, args.bin, replay))

    def stop() -> bool:
        return STOP.is_set() or (deadline is not None and time.monotonic() > deadline)

    arrived: dict[int, dict[str, Any]] = {}
    with ray_backend.session(args.ray) as ray:
        runs = ray_backend.map_jobs(ray, _seed_job, jobs, stop=stop)
        try:
            for index, (status, payload) in runs:
                if status == "aborted":
                    raise UsageError(f"seed {seeds[index]}: {payload}")
                arrived[index] = payload
                _print_seed(say, payload, many)
                if STOP.is_set():
                    raise Interrupted
        finally:
            runs.close()  # cancels the tasks still running
            summaries.extend(arrived[i] for i in sorted(arrived))
    if len(arrived) < len(seeds):
        say(f"time limit reached: {len(seeds) - len(arrived)} seed(s) not started")


def _first_failure(s: dict[str, Any]) -> str:
    if s["violations"]:
        first = s["violations"][0]
        return f"{first['invariant']}: {first['explanation']}"
    return f"protocol error: {s['problems'][0] if s['problems'] else 'unknown'}"


def _print_seed(say: Any, s: dict[str, Any], many: bool) -> None:
    faults = ", ".join(f"{k} {v}" for k, v in sorted(s["faults"].items())) or "none"
    promos = ", ".join(f"{k} {v}" for k, v in sorted(s["promotions"].items())) or "none"
    if s["status"] == "protocol_error":
        say(f"seed {s['seed']}: PROTOCOL ERROR -- the node broke the node protocol")
        say(f"  replay: {s['replay']}")
    elif s["status"] == "pass":
        if many:
            # A seed cut short by --time-limit saw fewer ticks than asked: say so on its line.
            cut = f"; stopped early: {s['stopped_early']}" if s["stopped_early"] else ""
            say(f"seed {s['seed']}: pass ({s['ticks']} ticks, {s['seconds']:.1f} s{cut})")
            return
        say(f"seed {s['seed']}: PASS -- oracle: {s['oracle']}, black-box checks: ok")
    else:
        first = s["violations"][0]
        say(
            f"seed {s['seed']}: VIOLATION {', '.join(s['invariants'])} -- first: "
            f"{first['invariant']} ({first['source']}"
            + (f", tick {first['tick']}" if first.get("tick") is not None else "")
            + f"): {first['explanation']}"
        )
        say(f"  replay: {s['replay']}")
        if s["problems"]:
            # A rejected event is missing from the trace, so the oracle may blame its absence
            # (e.g. "a decision without a validation") when the real fault is the event's form.
            say(
                f"  the node also broke the node protocol ({len(s['problems'])} problem(s), "
                "listed below): the events Baton rejected are not in the trace, so a violation "
                "after the first problem may only be its consequence -- fix the protocol first"
            )
    say(f"  faults: {faults}; promotions: {promos}")
    if s["stopped_early"]:
        say(f"  stopped early: {s['stopped_early']}")
    for p in s["problems"][:5]:
        say(f"  protocol problem: {p}")
    if len(s["problems"]) > 5:
        say(f"  ... and {len(s['problems']) - 5} more protocol problems (--json lists them all)")
    say(f"  trace: {s['trace']}  report: {s['report']}")
