"""Running the obligations and reporting on them.

Obligations run in a pool of worker processes (Z3 is single-threaded; the
pool is what uses the other cores), each by name, and are reported in a fixed
order whatever order they finish in. Progress goes to stderr, one line per
finished obligation; the table and the summary go to stdout; ``--json`` writes
the machine-readable report (schema: ``baton schema report``, file
``impl/schemas/report.schema.json``).

A run passes only if every obligation passed: every proof proven, every
companion reachable, every mutant and every dropped assumption caught.
"""

from __future__ import annotations

import multiprocessing
import os
import platform
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict
from typing import Any, TextIO

from baton import __version__

from .obligations import Obligation, Outcome, run

REPORT_FORMAT = "baton-verify-report"
REPORT_VERSION = 1


def _run_by_index(args: tuple[bool, int, tuple[int, ...], int]) -> tuple[int, Outcome]:
    from .obligations import build

    quick, index, ns, depth = args
    return index, run(build(quick=quick, ns=ns, depth=depth)[index])


def run_all(
    obligations: list[Obligation],
    *,
    quick: bool,
    ns: tuple[int, ...],
    depth: int,
    jobs: int,
    progress: Callable[[int, int, Obligation, Outcome], None] | None = None,
    indices: list[int] | None = None,
) -> list[tuple[Obligation, Outcome]]:
    """Run the selected obligations (``indices`` into ``obligations``), in parallel."""
    chosen = list(range(len(obligations))) if indices is None else indices
    results: dict[int, Outcome] = {}
    if jobs <= 1:
        for done, i in enumerate(chosen, 1):
            results[i] = run(obligations[i])
            if progress:
                progress(done, len(chosen), obligations[i], results[i])
    else:
        ctx = multiprocessing.get_context("spawn")
        # Longest first: the cluster searches dominate; start them early.
        order = sorted(chosen, key=lambda i: _cost_hint(obligations[i]), reverse=True)
        with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
            futures = [pool.submit(_run_by_index, (quick, i, ns, depth)) for i in order]
            for done, fut in enumerate(as_completed(futures), 1):
                i, outcome = fut.result()
                results[i] = outcome
                if progress:
                    progress(done, len(chosen), obligations[i], outcome)
    return [(obligations[i], results[i]) for i in chosen]


def _cost_hint(ob: Obligation) -> int:
    n = ob.n or 1
    weights = {
        "bmc": 40,
        "explore": 40,
        "mutant": 30,
        "assumption": 30,
        "induction": 10,
        "companion": 5,
    }
    return weights.get(ob.group, 1) * n * n


def progress_printer(stream: TextIO) -> Callable[[int, int, Obligation, Outcome], None]:
    start = time.perf_counter()

    def show(done: int, total: int, ob: Obligation, outcome: Outcome) -> None:
        mark = "ok " if outcome.passed else "FAIL"
        stream.write(
            f"[{done:>3}/{total}] {mark} {ob.name:<44} {outcome.verdict:<11} "
            f"{outcome.seconds:6.1f}s  (elapsed {time.perf_counter() - start:5.0f}s)\n"
        )
        stream.flush()

    return show


def render_table(rows: list[tuple[Obligation, Outcome]]) -> str:
    header = (
        f"{'obligation':<44} {'properties':<22} {'method':<15} {'N':>2} {'depth':>5} "
        f"{'result':<11} {'seconds':>8}"
    )
    lines = [header, "-" * len(header)]
    for ob, out in rows:
        props = ",".join(p.replace("P6-", "") for p in ob.properties)
        if len(props) > 22:
            props = props[:19] + "..."
        lines.append(
            f"{ob.name:<44} {props:<22} {ob.method:<15} {ob.n or '':>2} {ob.depth or '':>5} "
            f"{out.verdict:<11} {out.seconds:8.2f}"
        )
    return "\n".join(lines)


def summary(rows: list[tuple[Obligation, Outcome]], wall: float) -> tuple[bool, str]:
    failed = [(ob, out) for ob, out in rows if not out.passed]
    groups: dict[str, list[bool]] = {}
    for ob, out in rows:
        groups.setdefault(ob.group, []).append(out.passed)
    parts = [f"{g}: {sum(v)}/{len(v)}" for g, v in groups.items()]
    lines = ["", "Summary: " + "; ".join(parts) + f"; wall time {wall:.1f}s"]
    for ob, out in failed:
        lines.append(f"FAILED {ob.name} ({out.verdict}): {out.detail}")
    ok = not failed
    lines.append(
        "VERIFIED: every obligation proven, every companion reachable, every mutant caught."
        if ok
        else f"NOT VERIFIED: {len(failed)} obligation(s) failed."
    )
    return ok, "\n".join(lines)


def to_json(rows: list[tuple[Obligation, Outcome]], *, quick: bool, wall: float) -> dict[str, Any]:
    ok = all(out.passed for _, out in rows)
    return {
        "format": REPORT_FORMAT,
        "version": REPORT_VERSION,
        "generator": f"baton {__version__}",
        "mode": "quick" if quick else "full",
        "passed": ok,
        "wall_seconds": round(wall, 3),
        "machine": {
            "platform": platform.platform(),
            "python": sys.version.split()[0],
            "cpus": os.cpu_count(),
        },
        "obligations": [
            {
                "name": ob.name,
                "group": ob.group,
                "properties": list(ob.properties),
                "method": ob.method,
                "description": ob.description,
                "params": {k: v for k, v in ob.params.items() if k != "runner"},
                "passed": out.passed,
                "result": out.verdict,
                "detail": out.detail,
                "seconds": round(out.seconds, 3),
                "counterexample": out.counterexample,
                "violations": violations_of(ob, out),
            }
            for ob, out in rows
        ],
    }


def violations_of(ob: Obligation, out: Outcome) -> list[dict[str, Any]]:
    """The obligation's counterexample as records of the one verdict format.

    A caught mutant or dropped assumption contributes the violations its
    counterexample shows (that is what makes it *caught*); a failed proof
    contributes one violation naming the obligation. Witnesses contribute none.
    """
    from baton.verdict import make_violation

    from .counterexample import explain

    cx = out.counterexample or {}
    runner = ob.params.get("runner")
    if runner == "explore_model" and out.passed and cx.get("violated"):
        steps = list(cx.get("steps") or [])
        return [
            make_violation(
                ob.name,
                pid,
                f"the runtime-core variant reaches a state violating {pid} after "
                f"{len(steps)} steps: {' -> '.join(map(str, steps))}",
                step=len(steps),
                event={"action": steps[-1]} if steps else None,
            ).to_dict()
            for pid in cx["violated"]
        ]
    if runner == "cluster_counterexample" and out.passed and cx.get("steps"):
        last = cx["steps"][-1]
        return [
            make_violation(
                ob.name,
                pid,
                explain(pid, last["state"]),
                step=int(last["index"]),
                event={"action": last["action"], "nodes": last["nodes"]},
                state=last["state"],
            ).to_dict()
            for pid in cx.get("violated", [])
        ]
    if runner == "validation_mutant" and out.passed and cx.get("context"):
        return [
            make_violation(
                ob.name,
                "P6-F1",
                f"the variant allows a promotion whose preconditions fail: {out.detail}",
                state={"context": cx["context"]},
            ).to_dict()
        ]
    if not out.passed and ob.verdict_fails_proof():
        return [make_violation(ob.name, ob.properties[0], out.detail or out.verdict).to_dict()]
    return []


def outcome_dict(outcome: Outcome) -> dict[str, Any]:
    return asdict(outcome)
