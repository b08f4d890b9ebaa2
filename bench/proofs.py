"""Time and peak memory of the ``baton verify`` obligation groups, by N and depth.

Each cell runs in its own process (one worker, so cells do not share a core)
and reports wall seconds, obligations run and passed, and that process's peak
RSS (Z3 allocates outside Python's heap, so tracemalloc would miss it; the
kernel's ru_maxrss does not). Groups whose cost grows with the cluster size --
the unbounded induction proof, bounded model checking (async + sync), and the
explicit-state explorer (W=1, P=1, symmetry on) -- are run for N = 2, 3, 4
(5 with --five; a cell that exceeds --timeout is reported as such). The
N-independent groups run once. BMC growth with depth is measured at N=2 and 3.

``--runs K`` instead times whole runs, side by side: ``baton verify`` (full)
and ``baton verify --quick``, K times each, and for every obligation its
fastest and slowest time over the K full runs and their ratio, flagged when
over 2x -- the "predictable" claim is that no obligation varies by more than
2x and the full run stays within two minutes on an idle 2-core machine. The load
average at the start and end of each run is printed: numbers measured under
load say so.

Run on demand, never in CI:
  .venv/bin/python bench/proofs.py                # N = 2, 3, 4 (~15 min on 2 cores)
  .venv/bin/python bench/proofs.py --five --timeout 900
  .venv/bin/python bench/proofs.py --runs 3       # whole runs, spread per obligation
  .venv/bin/python bench/proofs.py --engines      # counterexample search: explicit vs bmc

``--engines`` times each mutant's and dropped assumption's counterexample
search with both engines side by side in one process: the explicit search of
the compiled spec and bounded model checking.
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

# The predictability claim: no obligation's time varies by more than this
# factor between runs. Below the noise floor a ratio says little (a 0.1 s
# obligation delayed by one scheduler tick on a shared machine doubles).
MAX_RATIO = 2.0
NOISE_FLOOR_S = 1.0


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


def whole_run(quick: bool) -> dict[str, Any]:
    """One ``baton verify`` (full or quick) in a child process: wall time, load, rows."""
    with tempfile.TemporaryDirectory() as tmp:
        report = os.path.join(tmp, "report.json")
        cmd = [sys.executable, "-m", "baton.cli", "verify", "--json", report]
        if quick:
            cmd.append("--quick")
        load_before = os.getloadavg()[0]
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - start
        load_after = os.getloadavg()[0]
        with open(report, encoding="utf-8") as fh:
            data = json.load(fh)
    return {
        "wall": wall,
        "status": proc.returncode,
        "load": (load_before, load_after),
        "seconds": {o["name"]: o["seconds"] for o in data["obligations"]},
        "passed": sum(o["passed"] for o in data["obligations"]),
        "count": len(data["obligations"]),
    }


def runs_table(k: int) -> dict[str, Any]:
    """K full and K quick runs, interleaved so that both see the same load."""
    full: list[dict[str, Any]] = []
    quick: list[dict[str, Any]] = []
    print("| run | wall s | passed/run | exit | load 1-min (start -> end) |")
    print("|---|---|---|---|---|")
    for i in range(1, k + 1):
        for label, bucket, is_quick in (("full", full, False), ("quick", quick, True)):
            r = whole_run(is_quick)
            bucket.append(r)
            print(
                f"| {label} #{i} | {r['wall']:.1f} | {r['passed']}/{r['count']} | {r['status']} "
                f"| {r['load'][0]:.1f} -> {r['load'][1]:.1f} |",
                flush=True,
            )
    spread = []
    for name in full[0]["seconds"]:
        times = [r["seconds"][name] for r in full if name in r["seconds"]]
        if len(times) == len(full) and min(times) > 0:
            spread.append((max(times) / min(times), name, min(times), max(times)))
    spread.sort(reverse=True)
    flagged = [row for row in spread if row[0] > MAX_RATIO]
    print(
        f"\nEvery obligation of the full run: fastest and slowest of {k} runs and their "
        f"ratio; '> {MAX_RATIO:g}x' flags a spread over the limit ({len(flagged)} of "
        f"{len(spread)}). Obligations under {NOISE_FLOOR_S:g} s are shown but their "
        "ratio is mostly scheduler noise.\n"
    )
    print("| obligation | min s | max s | max/min | |")
    print("|---|---|---|---|---|")
    for ratio, name, lo, hi in spread:
        flag = f"> {MAX_RATIO:g}x" if ratio > MAX_RATIO else ""
        if flag and hi < NOISE_FLOOR_S:
            flag += " (sub-second)"
        print(f"| {name} | {lo:.2f} | {hi:.2f} | {ratio:.2f} | {flag} |")
    slow = sorted(
        ((sum(r["seconds"][n] for r in full) / len(full), n) for n in full[0]["seconds"]),
        reverse=True,
    )
    print("\nThe ten most expensive obligations of the full run (mean seconds):\n")
    print("| obligation | mean s |")
    print("|---|---|")
    for mean, name in slow[:10]:
        print(f"| {name} | {mean:.1f} |")
    return {"full": full, "quick": quick, "flagged": [name for _r, name, _lo, _hi in flagged]}


def engines_table() -> list[dict[str, Any]]:
    """Each mutant's and dropped assumption's counterexample search, both engines
    side by side in this process: the explicit search of the compiled spec (what
    ``baton verify`` uses first) and bounded model checking (its fallback)."""
    from baton.proofs import counterexample, obligations
    from baton.spec import cluster
    from baton.spec.cluster import Config

    rows: list[dict[str, Any]] = []
    print("| variant | config | explicit: steps, s | bmc: steps, s | bmc/explicit |")
    print("|---|---|---|---|---|")
    variants = [(m.name, "mutant") for m in cluster.MUTANTS]
    variants += [(a.name, "assumption") for a in cluster.ASSUMPTIONS]
    for name, kind in variants:
        n, mode = obligations.variant_config(name, kind)
        cfg = Config(
            n=n,
            mode=mode,
            mutant=name if kind == "mutant" else None,
            dropped=frozenset({name}) if kind == "assumption" else frozenset(),
        )
        deep = name in obligations.DEEP_RUNS
        start = time.perf_counter()
        fast = counterexample.find_run(cfg, deep=deep)
        t_fast = time.perf_counter() - start
        if name in BMC_TOO_DEEP:
            slow, t_slow = None, float("nan")
        else:
            start = time.perf_counter()
            depths = obligations.DEEP_SEARCH.get(name, counterexample.DEPTHS)
            slow = counterexample.find_counterexample(cfg, depths)
            t_slow = time.perf_counter() - start
        fast_text = f"{len(fast.trace.steps) - 1}, {t_fast:.1f}" if fast else f"none, {t_fast:.1f}"
        if fast is not None and not fast.engine.startswith("explicit"):
            fast_text += " (fell back to bmc)"
        slow_text = (
            "not run (one query at depth 21 did not finish in 17 min)"
            if name in BMC_TOO_DEEP
            else (f"{len(slow.trace.steps) - 1}, {t_slow:.1f}" if slow else f"none, {t_slow:.1f}")
        )
        ratio = f"{t_slow / t_fast:.1f}" if name not in BMC_TOO_DEEP else ""
        print(f"| {name} | {cfg.label()} | {fast_text} | {slow_text} | {ratio} |", flush=True)
        rows.append({"variant": name, "explicit_s": t_fast, "bmc_s": t_slow})
    return rows


# Variants whose run is too deep for one bounded-model-checking query in a
# benchmark's time (20 steps at N=3, sync).
BMC_TOO_DEEP = frozenset({"allow_divergent_history"})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--worker", nargs=3, metavar=("GROUP", "N", "DEPTH"), help=argparse.SUPPRESS
    )
    parser.add_argument("--five", action="store_true", help="also N=5")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per cell (600)")
    parser.add_argument("--json", metavar="FILE", help="also write the raw numbers as JSON")
    parser.add_argument(
        "--runs", type=int, metavar="K", help="time K whole full and quick runs instead"
    )
    parser.add_argument(
        "--engines",
        action="store_true",
        help="time each variant's counterexample search, explicit vs bmc, instead",
    )
    args = parser.parse_args()
    if args.engines:
        engines = engines_table()
        if args.json:
            with open(args.json, "w", encoding="utf-8") as fh:
                json.dump(engines, fh, indent=2)
        return 0
    if args.runs:
        data = runs_table(args.runs)
        if args.json:
            with open(args.json, "w", encoding="utf-8") as fh:
                json.dump(data, fh, indent=2)
        return 0
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
            if group == "bmc" and n > 3:
                continue  # the full run has no BMC at N=4 (the induction covers it)
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
