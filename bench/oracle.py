"""Oracle throughput: ``baton check`` vs plain JSON parsing of the same trace.

Two trace shapes, both conforming and both recorded through the runtime core
and its trace recorder (so every line has the runtime's exact shape):

- write-heavy: one real failover (crash, request, validation, marker,
  completion, demotion of the old primary), then a long steady state of
  write / replicate / replicate / ack at increasing LSNs;
- failover-heavy: a failover every ~17 events, round-robin over three nodes,
  for the whole trace (the shape a chaos test produces; each failover starts a
  new epoch, so the WALs hold one epoch run per failover).

Each trace is checked with ``baton check`` (must conform, exit 0) in its own
process (Baton's bytecode compiled first, as for an installed package), and
parsed in another process by a plain stdlib ``json.loads`` loop
over the same file, in the same run. The table gives events/s, the ratio
parse time / check time (>= 1.5 is the goal: the check, validation included,
is faster than stdlib parsing alone), and each process's peak RSS, which must
stay flat as the trace grows (the checker streams). The last line compares the
two shapes at equal length: the failover-heavy check must take at most 2x the
write-heavy one (linear time: the cost of an event does not grow with the
number of epochs so far). --profile prints where the checker's time goes.

Run on demand, never in CI (numbers depend on the machine and its load):
  .venv/bin/python bench/oracle.py                # 1e4, 1e5, 1e6 (~3 min)
  .venv/bin/python bench/oracle.py --huge         # also 1e7 (~1.5 GB file)
  .venv/bin/python bench/oracle.py --sizes 100000 --profile
Goals: >= 500k events/s on the 1e6 write-heavy trace (idle machine), parse/check
>= 1.5x, flat RSS to 1e7, failover-heavy / write-heavy <= 2x at 1e5.
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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from baton import core, events, trace

NAMES = ("n0", "n1", "n2")


class _Run:
    """The pure core driven step by step, its effects recorded as trace events."""

    def __init__(self) -> None:
        self.rec = events.Recorder(NAMES, "async", NAMES[0])
        self.state = core.initial_state(3, "async")
        self.taken = 0

    def do(self, action: core.Action) -> None:
        self.state, effects = core.step(self.state, action)
        self.rec.record(effects)

    def drain(self) -> list[dict[str, Any]]:
        out = self.rec.events[self.taken :]
        self.taken = len(self.rec.events)
        return out

    def round(self, primary: int) -> None:
        """One write at the primary, replicated to both others, acknowledged."""
        self.do(core.Write(primary))
        for other in range(3):
            if other != primary:
                self.do(core.Replicate(primary, other))
        self.do(core.Ack(primary))

    def failover(self, old: int, new: int) -> None:
        """The old primary crashes; ``new`` is promoted; the old one restarts fenced."""
        self.do(core.Crash(old))
        self.rec.request_arrived(new, False, "bench", "failover")
        self.do(core.Request(new, False))
        self.do(core.BeginValidation(new))
        self.do(core.Decide(new))
        self.do(core.BeginTransition(new))
        for op in core.MARKER_OPS:
            self.do(core.MarkerOp(new, op))
        self.do(core.Complete(new))
        self.do(core.Acknowledge(new))
        self.do(core.Restart(old))
        self.do(core.Demote(old))
        # One round at the new epoch, so both replicas hold it and adopt the epoch.
        self.round(new)


def write_heavy(total: int) -> Iterator[dict[str, Any]]:
    """A real failover, then write/replicate/replicate/ack rounds (the recorder's shapes)."""
    run = _Run()
    for _ in range(2):
        run.round(0)
    run.failover(0, 1)
    yield from run.drain()
    lsn, epoch, emitted = len(run.state.nodes[1].durable.wal), 2, len(run.rec.events)
    while emitted + 4 < total:
        lsn += 1
        yield trace.write("n1", lsn=lsn, epoch=epoch)
        yield trace.replicate("n1", "n0", lsn, epoch, sender_epoch=epoch)
        yield trace.replicate("n1", "n2", lsn, epoch, sender_epoch=epoch)
        yield trace.ack("n1", lsn=lsn, epoch=epoch)
        emitted += 4


def failover_heavy(total: int) -> Iterator[dict[str, Any]]:
    """Failovers round-robin over the three nodes, every ~17 events, through the core."""
    run = _Run()
    primary, emitted = 0, 0
    while emitted < total - 40:
        new = (primary + 1) % 3
        run.failover(primary, new)
        primary = new
        batch = run.drain()
        emitted += len(batch)
        yield from batch


SHAPES = {"write-heavy": write_heavy, "failover-heavy": failover_heavy}


def generate(path: Path, total: int, shape: str = "write-heavy") -> int:
    """Write a conforming trace of about ``total`` events; returns the line count."""
    with path.open("w", encoding="utf-8") as fh:
        writer = trace.TraceWriter(fh, NAMES, "async", NAMES[0], producer="bench/oracle.py")
        for event in SHAPES[shape](total):
            writer.emit(event)
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


def measure(path: Path, count: int, shape: str) -> float:
    """Check and parse ``path`` side by side; print one table row; return check seconds."""
    py = sys.executable
    mb = path.stat().st_size / 1e6
    path.read_bytes()  # warm the page cache so both read from memory
    c_s, c_rss, code, text = timed([py, "-m", "baton.cli", "check", str(path)])
    p_s, p_rss, _pc, _pt = timed([py, "-c", PARSE, str(path)])
    verdict = text.strip().splitlines()[0].split(": ", 1)[-1] if text.strip() else "?"
    if code != 0:
        verdict = f"EXIT {code}: {verdict}"
    print(
        f"| {shape} | {count:,} | {mb:.0f} | {c_s:.2f} | {count / c_s:,.0f} | {p_s:.2f} | "
        f"{count / p_s:,.0f} | {p_s / c_s:.2f}x | {c_rss:.0f} | {p_rss:.0f} | {verdict[:40]} |",
        flush=True,
    )
    return c_s


def compile_bytecode() -> None:
    """Byte-compile Baton's sources, as installing a package does.

    With PYTHONDONTWRITEBYTECODE set (as in some CI and sandbox environments) a
    source checkout is recompiled by every process, which would charge the
    compiler to ``baton check``'s start-up; existing bytecode is still read."""
    import baton

    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(Path(baton.__file__).parent)], check=True
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--huge", action="store_true", help="also 1e7 events (~1.5 GB file)")
    parser.add_argument(
        "--sizes", type=int, nargs="+", help="trace sizes (default 1e4 1e5 1e6)", metavar="N"
    )
    parser.add_argument("--profile", action="store_true", help="profile the checker on 1e5")
    args = parser.parse_args()
    sizes = args.sizes or [10_000, 100_000, 1_000_000]
    if args.huge:
        sizes.append(10_000_000)
    compile_bytecode()
    with tempfile.TemporaryDirectory() as tmp:
        print(
            "| shape | events | file MB | check s | check events/s | parse s | parse events/s | "
            "parse/check | check RSS MB | parse RSS MB | verdict |"
        )
        print("|---" * 11 + "|")
        seconds: dict[tuple[str, int], float] = {}
        for size in sizes:
            path = Path(tmp, f"write-{size}.jsonl")
            count = generate(path, size, "write-heavy")
            seconds["write-heavy", size] = measure(path, count, "write-heavy")
            if size <= 100_000:  # the core drives every failover: generation is slow
                fpath = Path(tmp, f"failover-{size}.jsonl")
                fcount = generate(fpath, size, "failover-heavy")
                seconds["failover-heavy", size] = measure(fpath, fcount, "failover-heavy")
                fpath.unlink()
            if size != sizes[-1] or not args.profile:
                path.unlink()
        for size in sizes:
            if ("failover-heavy", size) in seconds:
                ratio = seconds["failover-heavy", size] / seconds["write-heavy", size]
                print(
                    f"\nfailover-heavy / write-heavy at {size:,} events: {ratio:.2f}x (goal <= 2)"
                )
        if args.profile:
            from baton.oracle import check_stream

            path = Path(tmp, f"write-{sizes[-1]}.jsonl")
            prof = cProfile.Profile()
            with path.open("rb") as fh:
                prof.enable()
                check_stream(fh, str(path))
                prof.disable()
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(12)
            print(f"\nprofile of baton check on {sizes[-1]:,} events (tottime):\n")
            print(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
