"""Oracle throughput: ``baton check`` vs plain JSON parsing of the same trace.

Generates conforming traces of 1e4, 1e5 and 1e6 events (1e7 with --huge): a
real failover driven through the runtime core and its trace recorder (crash,
request, validation, marker, completion, demotion of the old primary), then a
long steady state of write / replicate / ack events at increasing LSNs with the
exact shapes the recorder emits. Each trace is checked with ``baton check``
(must conform, exit 0) in its own process, and parsed with plain ``json.loads``
per line in another; it reports events/s, the ratio, and each process's peak
RSS, which must stay flat as the trace grows (the checker streams). --profile
prints where the checker's time goes (cProfile, 1e5 events).

Run on demand, never in CI:
  .venv/bin/python bench/oracle.py                # 1e4, 1e5, 1e6 (~2 min)
  .venv/bin/python bench/oracle.py --profile
Goals: check <= 2x plain parse, >= 500k events/s.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from baton import core, events, trace

NAMES = ("n0", "n1", "n2")


def failover_prefix() -> tuple[list[dict[str, Any]], int]:
    """A real failover through the core and the recorder; returns events and the last LSN."""
    rec = events.Recorder(NAMES, "async", NAMES[0])
    s = core.initial_state(3, "async")

    def do(action: core.Action) -> None:
        nonlocal s
        s, effects = core.step(s, action)
        rec.record(effects)

    for _ in range(2):
        do(core.Write(0))
        do(core.Replicate(0, 1))
        do(core.Replicate(0, 2))
        do(core.Ack(0))
    do(core.Crash(0))
    rec.request_arrived(1, False, "bench", "failover")
    do(core.Request(1, False))
    do(core.BeginValidation(1))
    do(core.Decide(1))
    do(core.BeginTransition(1))
    for op in core.MARKER_OPS:
        do(core.MarkerOp(1, op))
    do(core.Complete(1))
    do(core.Acknowledge(1))
    do(core.Restart(0))
    do(core.Demote(0))
    # One round at the new epoch through the core, so both replicas adopt it.
    do(core.Write(1))
    do(core.Replicate(1, 0))
    do(core.Replicate(1, 2))
    do(core.Ack(1))
    return rec.events, len(s.nodes[1].durable.wal)


def generate(path: Path, total: int) -> int:
    """Write a conforming trace of about ``total`` events; returns the event count."""
    prefix, lsn = failover_prefix()
    with path.open("w", encoding="utf-8") as fh:
        writer = trace.TraceWriter(fh, NAMES, "async", NAMES[0], producer="bench/oracle.py")
        for event in prefix:
            writer.emit(event)
        epoch = 2
        while writer.count + 4 < total:
            lsn += 1
            writer.emit(trace.write("n1", lsn=lsn, epoch=epoch))
            writer.emit(trace.replicate("n1", "n0", lsn, epoch, sender_epoch=epoch))
            writer.emit(trace.replicate("n1", "n2", lsn, epoch, sender_epoch=epoch))
            writer.emit(trace.ack("n1", lsn=lsn, epoch=epoch))
        writer.close()
        return writer.count


PARSE = "import json, sys\nfor line in open(sys.argv[1], encoding='utf-8'):\n    json.loads(line)\n"


def timed(cmd: list[str]) -> tuple[float, float, int, str]:
    """Run ``cmd``: wall seconds, its peak RSS (MB), exit code, output."""
    # /usr/bin/time measures the child's own peak RSS; os.wait4 on a child of this
    # process would count the pages it shared with this (large) parent before exec.
    with tempfile.NamedTemporaryFile() as rss:
        start = time.perf_counter()
        with tempfile.TemporaryFile() as out:
            wrapped = ["/usr/bin/time", "-f", "%M", "-o", rss.name, *cmd]
            proc = subprocess.Popen(wrapped, stdout=out, stderr=subprocess.STDOUT)
            code = proc.wait()
            seconds = time.perf_counter() - start
            out.seek(0)
            text = out.read().decode()
        lines = Path(rss.name).read_text().strip().splitlines()
        # /usr/bin/time writes "Command exited with non-zero status N" before %M.
        peak = int(lines[-1]) / 1024 if lines else float("nan")
    return seconds, peak, code, text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--huge", action="store_true", help="also 1e7 events (~1.5 GB file)")
    parser.add_argument("--profile", action="store_true", help="profile the checker on 1e5")
    args = parser.parse_args()
    sizes = [10_000, 100_000, 1_000_000] + ([10_000_000] if args.huge else [])
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        print(
            "| events | file MB | check s | check events/s | parse s | parse events/s | "
            "check/parse | check RSS MB | parse RSS MB | verdict |"
        )
        print("|---" * 10 + "|")
        for size in sizes:
            path = Path(tmp, f"trace-{size}.jsonl")
            count = generate(path, size)
            mb = path.stat().st_size / 1e6
            # Warm the page cache so both read from memory.
            path.read_bytes()
            c_s, c_rss, code, text = timed([py, "-m", "baton.cli", "check", str(path)])
            p_s, p_rss, _pc, _pt = timed([py, "-c", PARSE, str(path)])
            verdict = text.strip().splitlines()[0].split(": ", 1)[-1] if text.strip() else "?"
            if code != 0:
                verdict = f"EXIT {code}: {verdict}"
            print(
                f"| {count:,} | {mb:.0f} | {c_s:.2f} | {count / c_s:,.0f} | {p_s:.2f} | "
                f"{count / p_s:,.0f} | {c_s / p_s:.1f}x | {c_rss:.0f} | {p_rss:.0f} | "
                f"{verdict[:60]} |",
                flush=True,
            )
        if args.profile:
            from baton.oracle import check_stream

            path = Path(tmp, "trace-100000.jsonl")
            if not path.exists():
                generate(path, 100_000)
            prof = cProfile.Profile()
            with path.open(encoding="utf-8") as fh:
                prof.enable()
                check_stream(fh, str(path))
                prof.disable()
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(12)
            print("\nprofile of baton check on 1e5 events (tottime):\n")
            print(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
