"""Prove Baton's invariants and show that the proofs bite.

Runs every proof obligation: the lifecycle and validation proofs, the runtime
conformance checks (generated table, runtime validator), the unbounded
inductive proof and bounded model checking of the cluster in async and sync
mode, the reachability companions (no property or action holds vacuously),
and every mutant and dropped assumption, each of which must be caught with a
counterexample run. Each result says what exactly it established (its result
kind: proven-unbounded (N=3), bounded (depth 10), ...), the properties by ID
and name, and the environment assumptions it rests on.

Exit status: 0 everything verified; 1 an obligation failed (a proof, a
missing witness, a mutant not caught, a timeout); 2 bad usage; 130 Ctrl-C.

Examples:
  baton verify                      # the full run (about two minutes on 2 cores)
  baton verify --quick              # the sub-minute subset CI runs on every commit
  baton verify --json report.json   # also write the machine-readable report
  baton verify --junit verify.xml   # and JUnit XML, one test case per obligation
  baton verify --list               # list the obligations without running them
  baton verify --ray auto           # the obligations as Ray actors on a cluster
  baton verify --mutant skip_dir_fsync
                                    # that mutant's counterexample, step by step
  baton verify --drop-assumption fenced_restart --itf cx.itf.json
                                    # the counterexample that assumption guards
                                    # against, also in the Informal Trace Format
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time

from baton.commands.parallelism import check_local_workers
from baton.commands.ray_option import add_ray_argument
from baton.errors import UsageError
from baton.output import add_output_args, check_output_path, emit_json, write_junit

EXIT_INTERRUPTED = 130


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="the sub-minute subset (CI)")
    add_output_args(parser, junit=True)
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
        help="cluster sizes for induction, BMC and companions (default 2,3,4)",
    )
    parser.add_argument("--depth", type=int, default=None, help="BMC depth (default 10)")
    parser.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="worker processes, or Ray actors with --ray (default: the number of CPUs, "
        "of the cluster with --ray)",
    )
    add_ray_argument(parser, "run the obligations as Ray actors")
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="per-obligation limit; an obligation over it fails with result 'timeout' "
        "(default 600)",
    )
    parser.add_argument("--mutant", metavar="NAME", help="print the counterexample of one mutant")
    parser.add_argument(
        "--drop-assumption",
        metavar="NAME",
        help="print the counterexample that appears when assumption NAME is dropped",
    )
    parser.add_argument(
        "--itf",
        metavar="FILE",
        help="with --mutant or --drop-assumption: also write the counterexample in the "
        "Informal Trace Format (ITF JSON, as Apalache and Quint write it)",
    )


def _parse_nodes(text: str) -> tuple[int, ...]:
    try:
        ns = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise UsageError(f"--nodes takes comma-separated integers, not {text!r}") from None
    if not ns or any(n < 2 or n > 6 for n in ns):
        raise UsageError("--nodes: each cluster size must be between 2 and 6")
    return ns


def _variant_obligation(kind: str, name: str) -> str:
    from baton.proofs.obligations import SPEC_MUTANTS
    from baton.spec import cluster

    # Lifecycle and validation spec mutants have runs of the cluster too.
    names = (*cluster.MUTANT_NAMES, *SPEC_MUTANTS) if kind == "mutant" else cluster.ASSUMPTION_NAMES
    if name not in names:
        raise UsageError(f"unknown {kind} {name!r}; choose from: {', '.join(names)}")
    if kind == "mutant" and name in SPEC_MUTANTS:
        return f"mutant.spec.{name}"
    return f"{kind}.{name}"


def _show_variant(args: argparse.Namespace, kind: str, name: str) -> int:
    """Run one mutant's (or dropped assumption's) obligation and print its counterexample."""
    from baton.proofs import obligations, render, report

    wanted = _variant_obligation(kind, name)
    obs = obligations.build(quick=False)
    index = next(i for i, ob in enumerate(obs) if ob.name == wanted)
    out = report.console(sys.stdout)
    err = report.console(sys.stderr)
    err.print(f"searching for a counterexample: {wanted} ...")
    rows = report.run_all(
        obs,
        quick=False,
        ns=obligations.DEFAULT_NS,
        depth=obligations.BMC_DEPTH,
        jobs=1,
        indices=[index],
        timeout=args.timeout or report.DEFAULT_TIMEOUT,
    )
    ob, outcome = rows[0]
    cx = outcome.counterexample
    if args.json is not None:
        emit_json({"obligation": ob.name, **report.to_json(rows, quick=False, wall=0.0)}, args.json)
    if args.itf and cx and cx.get("steps"):
        from baton.proofs import itf

        emit_json(itf.to_itf(cx, description=f"{ob.name}: {ob.description}"), args.itf)
    if args.json == "-":
        return 0 if outcome.passed else 1
    if not outcome.passed:
        out.print(f"NOT CAUGHT: {ob.name}: {outcome.kind}: {outcome.detail}")
        return 1
    if cx and cx.get("steps"):
        render.print_counterexample(out, cx, title=f"{ob.name}: {ob.description}")
    elif cx and cx.get("context"):
        render.print_context_counterexample(out, name, outcome.detail, cx, outcome.violated)
    out.print(f"\nCaught: {outcome.kind} ({outcome.seconds:.1f}s).")
    return 0


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except KeyboardInterrupt:
        # The pool has already stopped its workers; say so in one line.
        print("baton verify: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _run(args: argparse.Namespace) -> int:
    from baton.proofs import obligations, report

    for path in (args.json, args.junit, args.itf):
        if path is not None:
            check_output_path(path)
    if args.timeout is not None and not args.timeout > 0:  # NaN too: it would never fire
        raise UsageError("--timeout must be a positive number of seconds")
    if args.mutant and args.drop_assumption:
        raise UsageError("give either --mutant or --drop-assumption, not both")
    if args.itf and not (args.mutant or args.drop_assumption):
        raise UsageError("--itf needs --mutant or --drop-assumption (it writes one counterexample)")
    if args.mutant:
        return _show_variant(args, "mutant", args.mutant)
    if args.drop_assumption:
        return _show_variant(args, "assumption", args.drop_assumption)
    if args.jobs is not None and args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    if args.jobs is not None and args.ray is None:
        check_local_workers("--jobs", args.jobs)
    if args.ray is not None:
        from baton.proofs import ray_backend

        ray_backend.require_ray()
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
    out = report.console(sys.stdout)
    if args.list:
        for i in indices:
            ob = obs[i]
            out.print(
                f"{ob.name:<48} {','.join(ob.properties):<24} {ob.method:<15} {ob.description}"
            )
        return 0
    with contextlib.ExitStack() as stack:
        if args.ray is None:
            jobs, where = args.jobs or os.cpu_count() or 1, "worker(s)"
        else:
            from baton.proofs import ray_backend

            ray = stack.enter_context(ray_backend.session(args.ray))
            jobs, where = args.jobs or ray_backend.cluster_cpus(ray), "Ray actor(s)"
        mode = "quick" if args.quick else "full"
        display = report.ProgressDisplay(len(indices), sys.stderr)
        display.console.print(f"baton verify ({mode}): {len(indices)} obligations, {jobs} {where}")
        start = time.perf_counter()
        with display:
            rows = report.run_all(
                obs,
                quick=args.quick,
                ns=ns,
                depth=depth,
                jobs=jobs,
                events=display.events(),
                indices=indices,
                timeout=args.timeout or report.DEFAULT_TIMEOUT,
                ray=args.ray,
            )
        wall = time.perf_counter() - start
    if args.json is not None:
        emit_json(report.to_json(rows, quick=args.quick, wall=wall), args.json)
    if args.junit is not None:
        write_junit(args.junit, "baton verify", report.junit_cases(rows))
    ok, lines = report.summary(rows, wall)
    if args.json != "-" and args.junit != "-":
        report.render_table(rows, out)
        report.render_legend(rows, out)
        for line in lines:
            out.print(line)
        if len(indices) < len(obs):
            out.print(
                f"Note: only {len(indices)} of {len(obs)} obligations ran (--only): a subset, "
                "not a full verification."
            )
    return 0 if ok else 1
