"""Explore every reachable state of the runtime core and check it against the spec.

Breadth-first search over the pure core (baton.core): every action the
core's own guards enable (every crash point and crash outcome, every
observation a validation can make), with at most --writes client writes and
--promotions promotion requests per run. It checks that every core step it
takes is a step of the spec's transition relation (refinement: some action
of baton.spec.cluster takes the spec-level view of the state before to the
state after), and evaluates the spec's own property predicates (P6-A1,
P6-A2, P6-A3, P6-S1, P6-S2, P6-F2, P6-F3, from baton.spec.properties) on
every state; the spec's Z3 terms are compiled to Python once per run. A step
the spec cannot explain, or a state violating a property, is reported with
the shortest path to it, step by step, showing only what changed (nodes n0,
n1, ...). Symmetry reduction treats nodes 1..N-1 as interchangeable (node 0
is the initial primary); values no guard reads (the last decision's reason,
a granted epoch outside a transition) are not told apart. --workers runs
the search on several processes, --ray on Ray actors (a local instance, or
a cluster: docs/cluster.md); both partition the visited set by a hash of the
state and count the same states and transitions, and report each partition's
peak memory.
--mutant runs a deliberately broken variant of the core, which must fail.

Exit status: 0 no violation AND the search finished; 1 a violation, or the
search stopped at --max-states (a search that did not finish is not a pass);
2 bad usage.

Examples:
  baton explore                                 # N=2, 1 write, 1 promotion
  baton explore --nodes 3 --writes 2 --promotions 2 --mode sync --workers 0
  baton explore --nodes 3 --mode sync --no-symmetry
  baton explore --nodes 3 --promotions 2 --mutant concurrent_attempts
  baton explore --nodes 3 --writes 0 --promotions 2 --mutant concurrent_attempts \\
      --no-refinement --properties P6-A3        # the property violation itself
  baton explore --nodes 4 --max-states 5000    # a capped search stops incomplete: exit 1
  baton explore --nodes 3 --writes 2 --promotions 2 --ray   # local Ray, every core
  baton explore --nodes 3 --writes 3 --promotions 3 --ray auto --workers 16
  baton explore --list-mutants
  baton explore --nodes 3 --json result.json     # the result as JSON (--json alone: stdout)
"""

from __future__ import annotations

import argparse
import sys

from baton.cli import UsageError
from baton.commands.parallelism import check_local_workers
from baton.commands.ray_option import add_ray_argument
from baton.output import STDOUT, add_output_args, emit_json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--nodes", type=int, default=2, help="cluster size N (default 2)")
    parser.add_argument(
        "--writes", type=int, default=1, help="at most W client writes per run (default 1)"
    )
    parser.add_argument(
        "--promotions",
        type=int,
        default=1,
        help="at most P promotion requests per run (default 1)",
    )
    parser.add_argument("--mode", choices=("async", "sync"), default="async")
    parser.add_argument(
        "--symmetry",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="treat nodes 1..N-1 as interchangeable (default on)",
    )
    parser.add_argument("--mutant", metavar="NAME", help="explore a broken variant of the core")
    parser.add_argument("--list-mutants", action="store_true", help="list the mutants and exit")
    parser.add_argument(
        "--max-states",
        type=int,
        default=None,
        metavar="K",
        help="stop after K distinct states (the run then fails: not finished)",
    )
    parser.add_argument(
        "--properties",
        metavar="ID,ID,...",
        help="check only these properties (default: all seven), e.g. P6-S1",
    )
    parser.add_argument(
        "--refinement",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="check that every core step is a step of the spec's transition relation (default on)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="K",
        help="search with K processes, or K Ray actors with --ray (0: one per CPU; "
        "default 1, with --ray one per CPU of the cluster); counts are the same",
    )
    add_ray_argument(parser, "search on Ray actors, the states hash-partitioned over them")
    add_output_args(parser, junit=False)
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")


def run(args: argparse.Namespace) -> int:
    from baton.proofs import explore

    if args.list_mutants:
        for m in explore.MUTANTS.values():
            print(f"{m.name:<26} breaks {', '.join(m.breaks):<14} {m.description}")
        return 0
    if not 2 <= args.nodes <= 6:
        raise UsageError("--nodes must be between 2 and 6")
    if args.writes < 0 or args.promotions < 0:
        raise UsageError("--writes and --promotions must be >= 0")
    workers = args.workers
    if workers is None:
        workers = 0 if args.ray is not None else 1
    if workers < 0:
        raise UsageError("--workers must be >= 0 (0: one per CPU)")
    if args.ray is None:
        check_local_workers("--workers", workers)
    if args.ray is not None:
        from baton.proofs import ray_backend

        ray_backend.require_ray()  # a missing Ray is a usage error, before any work
    if args.max_states is not None and args.max_states < 1:
        raise UsageError("--max-states must be >= 1")
    if args.mutant is not None and args.mutant not in explore.MUTANTS:
        raise UsageError(
            f"unknown mutant {args.mutant!r}; choose from: {', '.join(explore.MUTANTS)}"
        )
    props = explore.PROPERTY_IDS
    if args.properties is not None:  # '' names no property: an error, not "all of them"
        props = tuple(p.strip() for p in args.properties.split(",") if p.strip())
        bad = [p for p in props if p not in explore.PROPERTY_IDS]
        if bad or not props:
            raise UsageError(
                f"--properties: unknown {', '.join(bad) or '(none given)'}; "
                f"choose from {', '.join(explore.PROPERTY_IDS)}"
            )
    bounds = explore.Bounds(args.nodes, args.writes, args.promotions, args.mode)

    def progress(states: int, transitions: int, depth: int, seconds: float) -> None:
        print(
            f"  ... {states:,} states, {transitions:,} transitions, depth {depth}, "
            f"{seconds:.0f} s ({states / max(seconds, 1e-9):,.0f} states/s)",
            file=sys.stderr,
            flush=True,
        )

    result = explore.explore(
        bounds,
        symmetry=args.symmetry,
        mutant=args.mutant,
        max_states=args.max_states,
        properties=props,
        refinement=args.refinement,
        workers=workers,
        ray=args.ray,
        progress=None if args.quiet else progress,
    )
    emit_json(result.to_json(), args.json)
    if args.json != STDOUT:
        print(explore.render(result))
    return 0 if result.passed else 1
