"""``baton test`` at scale: many seeds of the reference node, the flawed example's time to
be caught, and how often a failing seed reproduces.

Three measurements, each printed as a Markdown table:

1. ``--seeds A..B`` of ``baton test --bin "baton node"`` (nemesis on: every run has a
   SIGKILL/restart, a pause and a partition), split into ``--jobs`` parallel chunks
   of ``baton test --seeds``; prints seeds run, violations, faults and promotions
   in total, and seconds. Goal: 0 violations.
2. The flawed Node.js example (examples/nodes/flawed.js), each flaw on its own
   (``--only=force``, ``--only=bound``) and both: seeds from 0 until the first
   violation; prints the seed, the invariants named and the seconds it took.
   Goal: each caught within 60 s of seeds.
3. The first failing seed of the flawed example replayed ``--replays`` times:
   how many replays give the same trace byte for byte, and the same violations.
   Goal: >= 9 of 10.

Run on demand, never in CI (the full run takes about an hour on 2 cores):
  .venv/bin/python bench/harness.py --seeds 0..999 --jobs 2
  .venv/bin/python bench/harness.py --seeds 0..49 --replays 10      # a quick look
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FLAWED = f"node {ROOT / 'examples' / 'nodes' / 'flawed.js'}"
BATON = (sys.executable, "-m", "baton.cli")


def _seeds(text: str) -> tuple[int, int]:
    low, high = text.split("..", 1)
    return int(low), int(high)


def baton_test(bin_text: str, seeds: str, work: Path, *extra: str) -> dict[str, Any]:
    work.mkdir(parents=True, exist_ok=True)
    out = work / f"result-{seeds}.json"
    subprocess.run(
        [
            *BATON,
            "test",
            "--bin",
            bin_text,
            "--seeds",
            seeds,
            "--dir",
            str(work / seeds),
            "--json",
            str(out),
            *extra,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    doc: dict[str, Any] = json.loads(out.read_text("utf-8"))
    return doc


def many_seeds(first: int, last: int, jobs: int, work: Path) -> None:
    count = last - first + 1
    size = -(-count // jobs)
    chunks = [(a, min(a + size - 1, last)) for a in range(first, last + 1, size)]
    began = time.monotonic()
    procs = []
    for a, b in chunks:
        out = work / f"ref-{a}-{b}.json"
        procs.append(
            (
                out,
                subprocess.Popen(
                    [
                        "nice",
                        "-n",
                        "10",
                        *BATON,
                        "test",
                        "--bin",
                        "baton node",
                        "--seeds",
                        f"{a}..{b}",
                        "--dir",
                        str(work / f"ref-{a}-{b}"),
                        "--json",
                        str(out),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                ),
            )
        )
    runs: list[dict[str, Any]] = []
    for out, proc in procs:
        proc.wait()
        runs += json.loads(out.read_text("utf-8"))["runs"]
    seconds = time.monotonic() - began
    faults: Counter[str] = Counter()
    promotions: Counter[str] = Counter()
    every_kind = 0
    for run in runs:
        faults.update(run["faults"])
        promotions.update(run["promotions"])
        every_kind += {"kill", "pause", "partition"} <= set(run["faults"])
    failed = [r["seed"] for r in runs if r["status"] != "pass"]
    print(f'### `baton test --bin "baton node" --seeds {first}..{last}` ({jobs} jobs)\n')
    print(
        "| seeds run | violations | runs with kill+pause+partition | faults | promotions "
        "| seconds |"
    )
    print("|---|---|---|---|---|---|")
    print(
        f"| {len(runs)} | {len(failed)}{' (seeds ' + str(failed[:10]) + ')' if failed else ''} "
        f"| {every_kind} | {', '.join(f'{k} {v}' for k, v in sorted(faults.items()))} "
        f"| {', '.join(f'{k} {v}' for k, v in sorted(promotions.items()))} | {seconds:.0f} |\n"
    )


def time_to_catch(work: Path, limit: int) -> int | None:
    """Seeds from 0 until a violation (any), and until one the black-box checks name alone
    (no trust in the node's own events)."""
    print("### The flawed example: seeds until it is caught\n")
    print(
        "| flaws | first failing seed (s) | invariants named there | first seed the "
        "black-box checks alone catch (s) | invariants |"
    )
    print("|---|---|---|---|---|")
    first_failing: int | None = None
    for label, only in (
        ("both", ""),
        ("force over an active primary", " --only=force"),
        ("promotion with an unknown bound", " --only=bound"),
    ):
        began = time.monotonic()
        anything: tuple[dict[str, Any], float] | None = None
        black_box: tuple[dict[str, Any], float] | None = None
        for seed in range(limit):
            doc = baton_test(FLAWED + only, f"{seed}..{seed}", work / f"flawed{only.strip()}")
            run = doc["runs"][0]
            elapsed = time.monotonic() - began
            if run["status"] != "pass" and anything is None:
                anything = (run, elapsed)
            if black_box is None and any(v["source"] == "black-box" for v in run["violations"]):
                black_box = (run, elapsed)
            if anything is not None and black_box is not None:
                break
        cells = []
        for found, source in ((anything, None), (black_box, "black-box")):
            if found is None:
                cells += [f"none in 0..{limit - 1}", "-"]
                continue
            run, elapsed = found
            named = sorted(
                {
                    f"{v['invariant']} ({v['source']})"
                    for v in run["violations"]
                    if source is None or v["source"] == source
                }
            )
            cells += [f"{run['seed']} ({elapsed:.1f} s)", ", ".join(named)]
        if anything is not None and first_failing is None:
            first_failing = anything[0]["seed"]
        print(f"| {label} | " + " | ".join(cells) + " |")
    print()
    return first_failing


def replays(seed: int, times: int, work: Path) -> None:
    traces: list[bytes] = []
    verdicts: list[str] = []
    for i in range(times):
        doc = baton_test(FLAWED, f"{seed}..{seed}", work / f"replay-{i}")
        run = doc["runs"][0]
        traces.append(Path(run["trace"]).read_bytes())
        verdicts.append(json.dumps(run["violations"], sort_keys=True))
    same_trace = sum(t == traces[0] for t in traces)
    same_verdict = sum(v == verdicts[0] for v in verdicts)
    print(f"### Replaying the flawed example's seed {seed} {times} times\n")
    print("| replays | same trace, byte for byte | same violations |")
    print("|---|---|---|")
    print(f"| {times} | {same_trace} | {same_verdict} |\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0..999", help="reference-node seeds (A..B)")
    parser.add_argument("--jobs", type=int, default=2, help="parallel chunks")
    parser.add_argument("--replays", type=int, default=10)
    parser.add_argument("--catch-limit", type=int, default=30, help="flawed seeds to try")
    parser.add_argument("--skip-reference", action="store_true")
    args = parser.parse_args()
    if shutil.which("node") is None:
        print("Node.js is needed for the flawed example", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="baton-bench-harness-"))
    print(f"work directory: {work}\n")
    if not args.skip_reference:
        many_seeds(*_seeds(args.seeds), args.jobs, work)
    seed = time_to_catch(work, args.catch_limit)
    if seed is not None:
        replays(seed, args.replays, work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
