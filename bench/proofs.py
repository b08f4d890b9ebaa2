"""Time and peak memory of the ``baton verify`` obligation groups, by N and depth.

Each cell runs in its own process (one worker, so cells do not share a core)
and reports wall seconds, obligations run and passed, and that process's peak
RSS (Z3 allocates outside Python's heap, so tracemalloc would miss it; the
kernel's ru_maxrss does not). Groups whose cost grows with the cluster size --
the unbounded induction proof, bounded model checking (async + sync), and the
explicit-state explorer (W=1, P=1, symmetry on) -- are run for N = 2, 3, 4
(5 with --five; a cell that exceeds --timeout is reported as such). The
N-independent groups run once. BMC growth with depth is measured at N=2 and 3.

Run on demand, never in CI:
  .venv/bin/python bench/proofs.py                # N = 2, 3, 4 (~15 min on 2 cores)
  .venv/bin/python bench/proofs.py --five --timeout 900
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any


def worker(group: str, n: int, depth: int | None) -> dict[str, Any]:
    """Run one cell in this process; return its numbers."""
    start = time.perf_counter()
    if group == "explore":
        from baton.proofs import explore

        result = explore.explore(explore.Bounds(n, 1, 1))
        return {
            "seconds": time.perf_counter() - start,
            "count": 1,
            "passed": int(result.passed),
            "detail": f"{result.states} states",
        }
    from baton.proofs import obligations

    ns = (n,) if n else (2,)
    kwargs: dict[str, Any] = {"ns": ns}
    if depth is not None:
        kwargs["depth"] = depth
    obs = [ob for ob in obligations.build(quick=False, **kwargs) if ob.group == group]
    if n and group in {"induction", "bmc"}:
        obs = [ob for ob in obs if ob.n == n]
    passed = sum(obligations.run(ob).passed for ob in obs)
    return {"seconds": time.perf_counter() - start, "count": len(obs), "passed": passed}


def cell(group: str, n: int, depth: int | None, timeout: float) -> dict[str, Any]:
    """Run a cell in a child process; add its peak RSS (MB) or mark a timeout."""
    cmd = [sys.executable, __file__, "--worker", group, str(n), str(depth or 0)]
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                os.wait4(proc.pid, 0)
                return {"timeout": True, "seconds": timeout}
            time.sleep(0.05)
        out.seek(0)
        data: dict[str, Any] = json.loads(out.read().decode().strip().splitlines()[-1])
    data["rss_mb"] = usage.ru_maxrss / 1024
    proc.returncode = os.waitstatus_to_exitcode(status)
    return data


def show(label: str, data: dict[str, Any]) -> str:
    if data.get("timeout"):
        return f"| {label} | timeout (> {data['seconds']:.0f} s) | | | |"
    extra = f" ({data['detail']})" if data.get("detail") else ""
    return (
        f"| {label} | {data['seconds']:.1f} | {data['passed']}/{data['count']}{extra} | "
        f"{data['rss_mb']:.0f} |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--worker", nargs=3, metavar=("GROUP", "N", "DEPTH"), help=argparse.SUPPRESS
    )
    parser.add_argument("--five", action="store_true", help="also N=5")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per cell (600)")
    parser.add_argument("--json", metavar="FILE", help="also write the raw numbers as JSON")
    args = parser.parse_args()
    if args.worker:
        group, n, depth = args.worker
        print(json.dumps(worker(group, int(n), int(depth) or None)))
        return 0
    rows: dict[str, Any] = {}
    print("| cell | seconds | passed/run | peak RSS MB |")
    print("|---|---|---|---|")
    for group in ("lifecycle", "validation", "conformance", "companion", "mutant", "assumption"):
        rows[group] = cell(group, 0, None, args.timeout)
        print(show(f"{group} (N-independent)", rows[group]), flush=True)
    for n in (2, 3, 4, 5) if args.five else (2, 3, 4):
        for group in ("induction", "bmc", "explore"):
            key = f"{group} N={n}"
            rows[key] = cell(group, n, None, args.timeout)
            what = {
                "induction": "async+sync, unbounded",
                "bmc": "async+sync, depth 10",
                "explore": "W=1 P=1, symmetry",
            }[group]
            print(show(f"{key} ({what})", rows[key]), flush=True)
    for n in (2, 3):
        for depth in (4, 6, 8, 10, 12):
            key = f"bmc N={n} depth={depth}"
            rows[key] = cell("bmc", n, depth, args.timeout)
            print(show(key + " (async+sync)", rows[key]), flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(rows, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
