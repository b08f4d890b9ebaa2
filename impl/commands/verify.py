"""Prove Baton's invariants and show that the proofs bite.

Runs every proof obligation: the lifecycle and validation proofs, the runtime
conformance checks (generated table, runtime validator), the unbounded
inductive proof and bounded model checking of the cluster for N = 2, 3, 4 in
async and sync mode, the reachability companions (no property holds
vacuously), and every mutant and dropped assumption, each of which must be
caught with a counterexample. Exit 0 only if all of that holds; 1 if anything
failed; 2 on bad usage.

Examples:
  baton verify                      # the full run (a few minutes on 2 cores)
  baton verify --quick              # the sub-minute subset CI runs on every commit
  baton verify --json report.json   # also write the machine-readable report
  baton verify --list               # list the obligations without running them
  baton verify --mutant skip_dir_fsync
                                    # print that mutant's counterexample, step by step
  baton verify --drop-assumption fenced_restart
                                    # the counterexample that assumption guards against
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from baton.cli import UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="the sub-minute subset (CI)")
    parser.add_argument(
        "--json", metavar="FILE", help="write the JSON report to FILE ('-' = stdout)"
    )
    parser.add_argument("--list", action="store_true", help="list the obligations and exit")
    parser.add_argument(
        "--only",
        metavar="PREFIX",
        action="append",
        help="run only obligations whose name starts with PREFIX (repeatable)",
    )
    parser.add_argument(
        "--nodes",
        metavar="N,N,...",
        default="2,3,4",
        help="cluster sizes for induction and BMC (default 2,3,4)",
    )
    parser.add_argument("--depth", type=int, default=None, help="BMC depth (default 10)")
    parser.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        help="worker processes (default: the number of CPUs)",
    )
    parser.add_argument("--mutant", metavar="NAME", help="print the counterexample of one mutant")
    parser.add_argument(
        "--drop-assumption",
        metavar="NAME",
        help="print the counterexample that appears when assumption NAME is dropped",
    )


def _parse_nodes(text: str) -> tuple[int, ...]:
    try:
        ns = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise UsageError(f"--nodes takes comma-separated integers, not {text!r}") from None
    if not ns or any(n < 2 or n > 6 for n in ns):
        raise UsageError("--nodes: each cluster size must be between 2 and 6")
    return ns


def _show_variant(kind: str, name: str, as_json: str | None) -> int:
    from baton.proofs.counterexample import find_counterexample, render
    from baton.proofs.obligations import NEEDS_THREE
    from baton.spec import cluster

    names = cluster.MUTANT_NAMES if kind == "mutant" else cluster.ASSUMPTION_NAMES
    if name not in names:
        raise UsageError(f"unknown {kind} {name!r}; choose from: {', '.join(names)}")
    if kind == "mutant" and cluster.MUTANTS[cluster.MUTANT_NAMES.index(name)].level == "validation":
        return _show_validation_mutant(name, as_json)
    n = 3 if name in NEEDS_THREE else 2
    mode = "sync" if name == "ack_before_standby" else "async"
    if kind == "mutant":
        cfg = cluster.Config(n=n, mode=mode, mutant=name)
    else:
        cfg = cluster.Config(n=n, mode=mode, dropped=frozenset({name}))
    print(f"searching for a counterexample of {cfg.label()} ...", file=sys.stderr)
    cx = find_counterexample(cfg)
    if cx is None:
        print(f"NOT CAUGHT: no counterexample for {kind} {name} within the search depth")
        return 1
    if as_json:
        data = cx.to_dict()
        if as_json == "-":
            print(json.dumps(data, indent=2))
        else:
            with open(as_json, "w", encoding="utf-8") as fh:
                json.dump(data, fh, indent=2)
    if as_json != "-":
        print(render(cx))
        print(f"\nCaught: the {kind} is detected ({cx.seconds:.1f}s).")
    return 0


def _show_validation_mutant(name: str, as_json: str | None) -> int:
    from baton.proofs import obligations

    ob = obligations.Obligation(
        f"mutant.validator.{name}", "mutant", ("P6-F1",), "z3-sat", "", {"mutant": name}
    )
    outcome = obligations.validation_mutant(ob)
    if as_json:
        text = json.dumps(
            {"mutant": name, "caught": outcome.passed, "counterexample": outcome.counterexample},
            indent=2,
        )
        if as_json == "-":
            print(text)
            return 0 if outcome.passed else 1
        with open(as_json, "w", encoding="utf-8") as fh:
            fh.write(text)
    if not outcome.passed:
        print(f"NOT CAUGHT: the validator variant {name} passes soundness")
        return 1
    cx = outcome.counterexample or {}
    print(f"Counterexample (validation rule, mutant {name}): {outcome.detail}")
    print("The variant returns 'allowed' for this context, although a safety precondition fails:")
    for field, value in (cx.get("context") or {}).items():
        print(f"  {field:<16} {value}")
    print(
        "\nViolated P6-F1: the validator allows a promotion only when every precondition is proven."
    )
    print("Caught: the mutant is detected.")
    return 0


def run(args: argparse.Namespace) -> int:
    from baton.proofs import obligations, report

    if args.mutant and args.drop_assumption:
        raise UsageError("give either --mutant or --drop-assumption, not both")
    if args.mutant:
        return _show_variant("mutant", args.mutant, args.json)
    if args.drop_assumption:
        return _show_variant("assumption", args.drop_assumption, args.json)
    if args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    ns = _parse_nodes(args.nodes)
    depth = args.depth if args.depth is not None else obligations.BMC_DEPTH
    if depth < 1 or depth > 30:
        raise UsageError("--depth must be between 1 and 30")
    obs = obligations.build(quick=args.quick, ns=ns, depth=depth)
    indices = list(range(len(obs)))
    if args.only:
        indices = [i for i in indices if any(obs[i].name.startswith(p) for p in args.only)]
        if not indices:
            raise UsageError(f"no obligation matches {args.only}; see 'baton verify --list'")
    if args.list:
        for i in indices:
            ob = obs[i]
            print(f"{ob.name:<44} {','.join(ob.properties):<24} {ob.method:<15} {ob.description}")
        return 0
    mode = "quick" if args.quick else "full"
    print(
        f"baton verify ({mode}): {len(indices)} obligations, {args.jobs} worker(s)", file=sys.stderr
    )
    start = time.perf_counter()
    rows = report.run_all(
        obs,
        quick=args.quick,
        ns=ns,
        depth=depth,
        jobs=args.jobs,
        progress=report.progress_printer(sys.stderr),
        indices=indices,
    )
    wall = time.perf_counter() - start
    if args.json:
        data = report.to_json(rows, quick=args.quick, wall=wall)
        if args.json == "-":
            print(json.dumps(data, indent=2))
        else:
            with open(args.json, "w", encoding="utf-8") as fh:
                json.dump(data, fh, indent=2)
    ok, text = report.summary(rows, wall)
    if args.json != "-":
        print(report.render_table(rows))
        print(text)
        if len(indices) < len(obs):
            print(
                f"Note: only {len(indices)} of {len(obs)} obligations ran (--only): a subset, "
                "not a full verification."
            )
    return 0 if ok else 1
