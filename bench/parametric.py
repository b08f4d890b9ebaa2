"""Time of the all-N proof's obligations, run after run; the variants' cross-checks.

Each run is a fresh process running every ``parametric.*`` obligation of the
full ``baton verify`` one after the other on one core (nothing cached between
runs), and reports each obligation's seconds and verdict. The table gives
every obligation's seconds in each run and the ratio of its slowest to its
fastest run (the stability goal: within 2x), and the total of the proof
proper (initiation, consecution, implication: the queries over the node
sort) and of everything.

``--variants`` also checks the Node-sort model against the cluster model for
every mutant and every dropped assumption, in both modes, at N = 2 and 3 (64
cross-checks, a few minutes; the default configuration's cross-checks are
part of ``baton verify``).

``--ground`` decides every query of the proof a second time, instantiated over
its finite set of ground Node terms and given to Z3's quantifier-free engine
(``baton.proofs.parametric.ground_check``), and reports whether every answer
agrees with the quantified proof's (tens of minutes: some ground queries have
thousands of instances).

Run on demand, never in CI:
  .venv/bin/python bench/parametric.py             # 3 runs (~1 min on 2 cores)
  .venv/bin/python bench/parametric.py --runs 5 --variants --ground
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from typing import Any

PROOF_KINDS = ("initiation", "consecution", "implies")


def worker() -> dict[str, Any]:
    from baton.proofs import obligations

    rows: dict[str, Any] = {}
    for ob in obligations.build(quick=False):
        if not ob.name.startswith("parametric."):
            continue
        cpu = time.process_time()
        outcome = obligations.run(ob)
        rows[ob.name] = {
            "seconds": outcome.seconds,
            "cpu": time.process_time() - cpu,
            "verdict": outcome.verdict,
            "passed": outcome.passed,
        }
    return rows


def variants() -> list[tuple[str, bool, float]]:
    from baton.proofs import parametric
    from baton.spec import cluster
    from baton.spec.cluster import Config

    out = []
    for n in (2, 3):
        for mode in cluster.MODES:
            cfgs = [Config(n=n, mode=mode, mutant=m) for m in cluster.MUTANT_NAMES]
            cfgs += [
                Config(n=n, mode=mode, dropped=frozenset([a])) for a in cluster.ASSUMPTION_NAMES
            ]
            for cfg in cfgs:
                start = time.perf_counter()
                result = parametric.cross_check(cfg)
                out.append((cfg.label(), result.passed, time.perf_counter() - start))
    return out


def grounded() -> list[tuple[str, int, int, float, list[str]]]:
    from baton.proofs import parametric
    from baton.spec import cluster
    from baton.spec.cluster import Config

    out = []
    for mode in cluster.MODES:
        for kind in ("initiation", "consecution", "implication"):
            start = time.perf_counter()
            result = parametric.ground_check(Config(mode=mode), kinds=(kind,), timeout_ms=300_000)
            bad = [f"{c.subject}/{c.goal}: {c.detail}" for c in result.failures()]
            out.append(
                (f"{mode} {kind}", len(result.checks), len(bad), time.perf_counter() - start, bad)
            )
    return out


def _is_proof(name: str) -> bool:
    return name.split(".")[2] in PROOF_KINDS if name.count(".") >= 2 else False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--variants", action="store_true")
    parser.add_argument("--ground", action="store_true")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        json.dump(worker(), sys.stdout)
        return 0

    runs: list[dict[str, Any]] = []
    for _ in range(args.runs):
        proc = subprocess.run(
            [sys.executable, __file__, "--worker"], capture_output=True, text=True, check=True
        )
        runs.append(json.loads(proc.stdout))
    names = list(runs[0])
    head = " | ".join(f"run {k + 1} CPU s (wall)" for k in range(len(runs)))
    print(f"| obligation | verdict | {head} | max/min CPU |")
    print("|---|---|" + "---:|" * (len(runs) + 1))
    worst = 1.0
    for name in names:
        secs = [r[name]["cpu"] for r in runs]
        walls = [r[name]["seconds"] for r in runs]
        ratio = max(secs) / max(min(secs), 1e-3)
        worst = max(worst, ratio) if max(secs) > 0.2 else worst
        cells = " | ".join(f"{s:.2f} ({w:.2f})" for s, w in zip(secs, walls, strict=True))
        verdicts = {r[name]["verdict"] for r in runs}
        print(f"| {name} | {'/'.join(sorted(verdicts))} | {cells} | {ratio:.2f} |")
    for label, pick in (("proof (initiation, consecution, implication)", _is_proof),):
        totals = [sum(r[n]["cpu"] for n in names if pick(n)) for r in runs]
        print(f"| **{label}** | | " + " | ".join(f"{t:.2f}" for t in totals) + " | |")
    totals = [sum(r[n]["cpu"] for n in names) for r in runs]
    print(
        "| **every parametric obligation** | | " + " | ".join(f"{t:.2f}" for t in totals) + " | |"
    )
    failed = sorted({n for r in runs for n in names if not r[n]["passed"]})
    print(
        f"\nworst CPU max/min over obligations above 0.2 s: {worst:.2f}; failed: {failed or 'none'}"
    )

    if args.variants:
        print("\n| configuration | cross-check | seconds |\n|---|---|---:|")
        for label, ok, secs in variants():
            print(f"| {label} | {'equal' if ok else 'DIFFERENT'} | {secs:.2f} |")
    if args.ground:
        print("\n| ground queries | count | disagreeing | seconds |\n|---|---:|---:|---:|")
        for label, count, bad, secs, details in grounded():
            print(f"| {label} | {count} | {bad} | {secs:.1f} |")
            for line in details[:5]:
                print(f"|   {line} | | | |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
