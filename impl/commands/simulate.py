"""Run the deterministic seeded cluster simulation (RELIABILITY.md items 10, 11).

One thread drives the pure core for 3 to 5 nodes with a simulated clock, a
network that drops, duplicates, delays and reorders messages and partitions
nodes, crashes at any marker stage, restarts, and an operator who requests
promotions (sometimes ill-advised ones). Every step checks "nothing lost"
and the P6 properties. The same seed gives a byte-identical trace (its
sha256 is printed); a failing seed prints the exact command that replays it.

examples:
  baton simulate --seed 7                       one run, summary and trace sha256
  baton simulate --seed 7 --steps 500 --nodes 5 --trace run.jsonl
  baton simulate --seeds 0..999                 many runs, one summary line
  baton simulate --seeds 0..99 --disk sim       the runtime shell on simulated disks
  baton simulate --seed 3 --log                 print the run's event log
  baton simulate --seeds 0..200 --untruthful-operator   the force_is_truthful counterexample
  baton simulate --seeds 0..200 --mutant restart_keeps_authority   a broken runtime is caught

exit status: 0 every run kept every property, 1 a run broke one, 2 bad usage.
"""

from __future__ import annotations

import argparse
import sys

from baton.cli import UsageError
from baton.simulate import MUTANTS, SimConfig, parse_seeds, simulate


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


def run(args: argparse.Namespace) -> int:
    if not 3 <= args.nodes <= 5:
        raise UsageError("--nodes must be 3, 4 or 5")
    if args.steps < 1:
        raise UsageError("--steps must be at least 1")
    try:
        seeds = (
            parse_seeds(args.seeds) if args.seeds else range(args.seed or 0, (args.seed or 0) + 1)
        )
    except ValueError as exc:
        raise UsageError(f"--seeds: {exc}") from exc
    if args.disk == "sim" and args.mutant:
        raise UsageError("--mutant wraps the pure core: run it without --disk sim")
    if args.trace and len(seeds) != 1:
        raise UsageError("--trace needs a single --seed")
    failed = 0
    transitions: set[str] = set()
    denials: set[str] = set()
    crash_points: set[str] = set()
    for seed in seeds:
        cfg = SimConfig(
            seed=seed,
            steps=args.steps,
            nodes=args.nodes,
            mode=args.mode,
            untruthful=args.untruthful_operator,
            mutant=args.mutant,
            disk=args.disk,
        )
        result = simulate(cfg)
        transitions |= result.transitions
        denials |= result.denials
        crash_points |= result.crash_points
        if args.log:
            print("\n".join(result.log))
        if args.trace:
            with open(args.trace, "w", encoding="utf-8") as out:
                out.write(result.trace)
        if len(seeds) == 1:
            status = "ok" if result.ok else "FAILED"
            print(
                f"seed {seed}: {status}, mode {result.config.mode}, {result.steps_run} ticks, "
                f"trace sha256 {result.sha256}"
            )
        if not result.ok:
            failed += 1
            print(f"seed {seed} FAILED: {result.violation}", file=sys.stderr)
            print(f"  replay: {result.replay_command()}", file=sys.stderr)
    print(
        f"{len(seeds)} run(s), {failed} failed; exercised {len(transitions)} distinct "
        f"transitions, {len(denials)} denial reasons, {len(crash_points)} crash points"
    )
    return 1 if failed else 0
