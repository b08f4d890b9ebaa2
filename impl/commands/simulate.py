"""Run the deterministic seeded cluster simulation.

One thread drives the pure core for 3 to 5 nodes with a simulated clock, a
network that drops, duplicates, delays and reorders messages and partitions
nodes, crashes at any marker stage, restarts, and an operator who requests
promotions (sometimes ill-advised ones). Every step checks "nothing lost"
and the P6 properties. The same seed gives a byte-identical trace (its
sha256 is printed); a failing seed prints the exact command that replays it.

examples:
  baton simulate --seed 7                      # one run, summary and trace sha256
  baton simulate --seed 7 --steps 500 --nodes 5 --trace run.jsonl
  baton simulate --seeds 0..999                # many runs, one summary line
  baton simulate --seeds 0..99 --junit sim.xml # one JUnit test case per seed, for CI
  baton simulate --seeds 0..99 --json -        # the runs as JSON on standard output
  baton simulate --seeds 0..99 --disk sim      # the runtime shell on simulated disks
  baton simulate --seed 3 --log                # print the run's event log
  baton simulate --seeds 0..200 --untruthful-operator  # the force_is_truthful counterexample
  baton simulate --seeds 0..200 --mutant restart_keeps_authority  # a broken runtime is caught
  baton simulate --seeds 0..99999 --ray auto   # the seeds as Ray tasks on a cluster

With --json on standard output the human summary goes to standard error.

exit status: 0 every run kept every property, 1 a run broke one, 2 bad usage
or an unwritable output path (checked before the first run), 3 internal
error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from baton.commands.ray_option import add_ray_argument
from baton.errors import UsageError
from baton.output import (
    STDOUT,
    JUnitCase,
    add_output_args,
    console,
    emit_json,
    write_junit,
)
from baton.simulate import MUTANTS, SimConfig, SimResult, parse_seeds, simulate

# Checked by baton.cli before run() starts (with --json and --junit).
OUTPUT_OPTIONS = ("trace",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--seed", type=int, help="run this one seed (default 0)")
    which.add_argument("--seeds", metavar="A..B", help="run every seed from A to B inclusive")
    parser.add_argument("--steps", type=int, default=200, help="simulated ticks per run (200)")
    parser.add_argument("--nodes", type=int, default=3, help="cluster size, 3 to 5 (3)")
    parser.add_argument(
        "--mode", choices=("async", "sync"), help="replication mode (default: chosen by the seed)"
    )
    parser.add_argument(
        "--untruthful-operator",
        action="store_true",
        help="drop the force_is_truthful assumption: the operator may force over a live primary",
    )
    parser.add_argument(
        "--mutant", choices=sorted(MUTANTS), help="run a deliberately broken runtime"
    )
    parser.add_argument(
        "--disk",
        choices=("none", "sim"),
        default="none",
        help="sim: run the runtime shell on simulated disks (power cuts, recovery checked)",
    )
    parser.add_argument("--trace", metavar="FILE", help="write the run's trace (one seed only)")
    parser.add_argument("--log", action="store_true", help="print the run's event log")
    add_output_args(parser, junit=True)
    add_ray_argument(parser, "run the seeds as Ray tasks")


def _seeds(args: argparse.Namespace) -> range:
    if args.seeds is None:
        seed = 0 if args.seed is None else args.seed
        if seed < 0:
            raise UsageError(f"--seed {seed} is negative; seeds are 0 or more")
        return range(seed, seed + 1)
    try:
        return parse_seeds(args.seeds)
    except ValueError as exc:
        raise UsageError(f"--seeds {args.seeds!r}: {exc} (expected A..B, e.g. 0..99)") from None


MAX_STEPS = 1_000_000
"""Ticks per run: a run prints nothing until it ends, and this many take seconds to a
minute and memory for the whole trace; a typo such as ``--steps 99999999999`` would
otherwise run silently for weeks."""


def _validate(args: argparse.Namespace) -> range:
    """Every usage error and unwritable output, before the first run starts."""
    if not 3 <= args.nodes <= 5:
        raise UsageError(f"--nodes {args.nodes}: the cluster size must be 3, 4 or 5")
    if args.steps < 1:
        raise UsageError(f"--steps {args.steps}: must be at least 1")
    if args.steps > MAX_STEPS:
        raise UsageError(
            f"--steps {args.steps}: at most {MAX_STEPS:,} ticks per run (more seeds explore more)"
        )
    seeds = _seeds(args)
    if args.disk == "sim" and args.mutant:
        raise UsageError("--mutant wraps the pure core: run it without --disk sim")
    if args.trace and len(seeds) != 1:
        raise UsageError("--trace needs a single --seed")
    if args.ray is not None:
        from baton.proofs import ray_backend

        ray_backend.require_ray()
    machine_on_stdout = [o for o in ("json", "junit") if getattr(args, o) == STDOUT]
    if args.trace == STDOUT:
        machine_on_stdout.append("trace")
    if len(machine_on_stdout) > 1:
        raise UsageError(
            "only one of " + ", ".join(f"--{o}" for o in machine_on_stdout) + " can use stdout"
        )
    return seeds


def _simulate_job(job: tuple[SimConfig, bool]) -> tuple[SimResult, float]:
    """One seed's run and its seconds. A Ray task with --ray: unless asked to
    keep the text (``job[1]``), the trace text, the log and the sampled states
    stay on the worker; the trace's sha256 comes back."""
    cfg, keep_text = job
    started = time.perf_counter()
    result = simulate(cfg)
    seconds = time.perf_counter() - started
    if not keep_text:
        result = replace(result, trace="", log=[], states=[])
    return result, seconds


def _run_record(result: SimResult, seconds: float) -> dict[str, Any]:
    return {
        "seed": result.config.seed,
        "ok": result.ok,
        "mode": result.config.mode,
        "ticks": result.steps_run,
        "trace_sha256": result.sha256,
        "violation": result.violation,
        "replay": result.replay_command(),
        "seconds": round(seconds, 3),
    }


def _progress(seeds: range, err: Any) -> Any:
    """A live progress bar on a terminal for many seeds; nothing otherwise."""
    from contextlib import nullcontext

    if len(seeds) < 2 or not err.is_terminal:
        return nullcontext(None)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )


def run(args: argparse.Namespace) -> int:
    from rich.text import Text

    seeds = _validate(args)
    # Standard output belongs to a machine document when one is written there.
    machine_on_stdout = STDOUT in (args.json, args.junit, args.trace)
    human = sys.stderr if machine_on_stdout else sys.stdout
    out, err = console(human), console(sys.stderr)
    failed = 0
    transitions: set[str] = set()
    denials: set[str] = set()
    crash_points: set[str] = set()
    records: dict[int, dict[str, Any]] = {}
    cases: dict[int, JUnitCase] = {}
    configs = [
        SimConfig(
            seed=seed,
            steps=args.steps,
            nodes=args.nodes,
            mode=args.mode,
            untruthful=args.untruthful_operator,
            mutant=args.mutant,
            disk=args.disk,
        )
        for seed in seeds
    ]
    with contextlib.ExitStack() as stack, _progress(seeds, err) as progress:
        task = progress.add_task("simulating", total=len(seeds)) if progress else None
        runs: Iterator[tuple[int, tuple[SimResult, float]]]
        if args.ray is None:
            runs = ((i, _simulate_job((cfg, True))) for i, cfg in enumerate(configs))
        else:
            # The same seeds as Ray tasks; results arrive as they finish and the
            # report below puts them back in seed order.
            from baton.proofs import ray_backend

            ray = stack.enter_context(ray_backend.session(args.ray))
            keep_text = bool(args.trace or args.log)
            jobs = [(cfg, keep_text) for cfg in configs]
            runs = ray_backend.map_jobs(ray, _simulate_job, jobs)
        for index, (result, seconds) in runs:
            seed = result.config.seed
            transitions |= result.transitions
            denials |= result.denials
            crash_points |= result.crash_points
            records[index] = _run_record(result, seconds)
            cases[index] = JUnitCase(
                name=f"seed {seed}",
                classname="baton.simulate",
                time=seconds,
                failure=None
                if result.ok
                else f"{result.violation}\nreplay: {result.replay_command()}",
            )
            if args.log:
                print("\n".join(result.log), file=human)
            if args.trace:
                if args.trace == STDOUT:
                    sys.stdout.write(result.trace)
                else:
                    with open(args.trace, "w", encoding="utf-8") as trace_file:
                        trace_file.write(result.trace)
            if len(seeds) == 1:
                line = Text(f"seed {seed}: ")
                line.append("ok" if result.ok else "FAILED", "green" if result.ok else "bold red")
                line.append(
                    f", mode {result.config.mode}, {result.steps_run} ticks, "
                    f"trace sha256 {result.sha256}"
                )
                out.print(line)
            if not result.ok:
                failed += 1
                # Text, not markup: a violation may contain brackets ("[P6-S1]").
                err.print(Text(f"seed {seed} FAILED: {result.violation}", style="red"))
                err.print(Text(f"  replay: {result.replay_command()}"))
            if progress is not None and task is not None:
                progress.advance(task)
    summary = (
        f"{len(seeds)} run(s), {failed} failed; exercised {len(transitions)} distinct "
        f"transitions, {len(denials)} denial reasons, {len(crash_points)} crash points"
    )
    out.print(Text(summary, style="bold red" if failed else ""))
    emit_json(
        {
            "ok": failed == 0,
            "runs": len(seeds),
            "failed": failed,
            "coverage": {
                "transitions": sorted(transitions),
                "denial_reasons": sorted(denials),
                "crash_points": sorted(crash_points),
            },
            "seeds": [records[i] for i in sorted(records)],
        },
        args.json,
    )
    if args.junit is not None:
        write_junit(args.junit, "baton simulate", [cases[i] for i in sorted(cases)])
    return 1 if failed else 0
