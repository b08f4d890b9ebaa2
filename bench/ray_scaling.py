"""The explorer on Ray: 1 vs 2 workers, against the single-process search, in one run.

For every model of bench/spin/run.py's ``MODELS`` (symmetry on, every step
checked against the spec, every state against its properties) this runs the
single-process search, then the partitioned search on one and on two Ray
actors of one local Ray instance, and prints states, transitions and depth
(which must be equal: the script exits 1 if not), the search's wall seconds
(without starting the actors), the 1-to-2-worker speed-up in wall time and
in CPU time (one worker's CPU seconds over the busiest of two workers': the
load-robust figure) and each actor's peak RSS. The three runs of a model are
side by side in time, so a loaded machine slows them alike; the ratios are
what to read.

``--big`` then explores N=3 W=3 P=3 async to completion on Ray with every
core and prints its states, time and peak memory per worker beside SPIN's
exhaustive run of the same bounds (bench/spin/run.py's ``spin_run``, when
SPIN can be installed).

Run on demand, never in CI (needs ``pip install -e '.[ray]'``):
  .venv/bin/python bench/ray_scaling.py            # the table (~10 min on 2 idle cores)
  .venv/bin/python bench/ray_scaling.py --quick    # the small models only
  .venv/bin/python bench/ray_scaling.py --big      # also N=3 W=3 P=3 (tens of minutes)
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "spin"))

import run as spin_bench  # noqa: E402  (bench/spin/run.py: MODELS, SPIN runner)
from baton.proofs import explore as ex  # noqa: E402
from baton.proofs import ray_backend  # noqa: E402


def _row(result: ex.Result) -> dict[str, Any]:
    return {
        "states": result.states,
        "transitions": result.transitions,
        "depth": result.max_depth,
        "verdict": result.verdict,
        "seconds": round(result.seconds - result.setup_seconds, 2),
        "setup_seconds": round(result.setup_seconds, 2),
        "worker_peak_rss_mb": [round(mb) for mb in result.worker_peak_rss_mb],
        "worker_states": result.worker_states,
        "worker_cpu_seconds": [round(cpu, 2) for cpu in result.worker_cpu_seconds],
    }


def cpu_speedup(one: ex.Result, two: ex.Result) -> float:
    """One worker's search CPU time over the busiest of two workers': the speed-up
    the partitioning allows on two free cores, whatever else loads the machine
    (it leaves out the coordinator and Ray's transfers)."""
    return sum(one.worker_cpu_seconds) / max(max(two.worker_cpu_seconds), 1e-9)


def scaling(models: list[tuple[int, int, int, str]]) -> tuple[list[dict[str, Any]], bool]:
    print(
        "| model | states | transitions | same counts (local = 1 w = 2 w) | local s | "
        "Ray 1 worker s | Ray 2 workers s | speed-up 1 -> 2 (wall) | "
        "speed-up 1 -> 2 (CPU) | peak RSS MB per worker (2 w) |"
    )
    print("|---" * 10 + "|")
    rows = []
    all_same = True
    for n, w, p, mode in models:
        bounds = ex.Bounds(n, w, p, mode)
        local = ex.explore(bounds)
        one = ex.explore(bounds, workers=1, ray=ray_backend.LOCAL)
        two = ex.explore(bounds, workers=2, ray=ray_backend.LOCAL)
        counts = {(r.states, r.transitions, r.max_depth, r.verdict) for r in (local, one, two)}
        same = len(counts) == 1 and local.passed
        all_same &= same
        r1, r2 = _row(one), _row(two)
        rows.append({"model": bounds.label(), "local": _row(local), "ray_1": r1, "ray_2": r2})
        print(
            f"| {bounds.label()} | {local.states:,} | {local.transitions:,} | "
            f"{'yes' if same else 'NO'} | {local.seconds:.1f} | {r1['seconds']:.1f} | "
            f"{r2['seconds']:.1f} | {r1['seconds'] / max(r2['seconds'], 1e-9):.2f}x | "
            f"{cpu_speedup(one, two):.2f}x | "
            f"{' / '.join(str(mb) for mb in r2['worker_peak_rss_mb'])} |",
            flush=True,
        )
    return rows, all_same


def big() -> dict[str, Any]:
    bounds = ex.Bounds(*spin_bench.LARGEST_N3)

    def progress(states: int, transitions: int, depth: int, seconds: float) -> None:
        print(f"  ... {states:,} states, depth {depth}, {seconds:.0f} s", file=sys.stderr)

    result = ex.explore(bounds, workers=0, ray=ray_backend.LOCAL, progress=progress)
    row: dict[str, Any] = {"model": bounds.label(), "explorer_ray": _row(result)}
    print(f"\n## {bounds.label()} on Ray, {result.workers} workers\n")
    print("| checker | states | seconds | peak memory |")
    print("|---|---|---|---|")
    print(
        f"| baton explore --ray ({result.workers} actors, symmetry, every step checked "
        f"against the spec) | {result.states:,} ({result.verdict}) | "
        f"{result.seconds:.0f} | {' + '.join(f'{mb:.0f}' for mb in result.worker_peak_rss_mb)} MB |"
    )
    try:
        spin_bench.ensure_spin()
        sp, _compile = spin_bench.spin_run(spin_bench.LARGEST_N3, bfs=False, bits=26)
    except (OSError, RuntimeError, ValueError) as err:  # no SPIN here: say so
        print(f"| SPIN | not run: {err} | | |")
    else:
        row["spin_dfs"] = {"states": sp.states, "seconds": sp.seconds, "rss_mb": sp.rss_mb}
        print(
            f"| SPIN DFS (no symmetry) | {sp.states:,} ({sp.verdict}) | {sp.seconds:.0f} | "
            f"{sp.rss_mb:.0f} MB |"
        )
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the small models only")
    parser.add_argument("--big", action="store_true", help="also N=3 W=3 P=3 async to the end")
    parser.add_argument("--json", metavar="FILE", help="also write the numbers as JSON")
    args = parser.parse_args()
    os.environ.setdefault(ray_backend.LOOPBACK_ONLY, "0")
    import ray

    ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False, logging_level=logging.ERROR)
    try:
        models = spin_bench.QUICK_MODELS if args.quick else spin_bench.MODELS
        print(f"## Ray scaling, {os.cpu_count()} CPUs, one local Ray instance\n")
        rows, same = scaling(models)
        doc: dict[str, Any] = {"scaling": rows}
        if args.big:
            doc["big"] = big()
    finally:
        ray.shutdown()
    if args.json:
        Path(args.json).write_text(json.dumps(doc, indent=2))
    if not same:
        print("\nCOUNTS DIFFER between the local and the Ray search", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
