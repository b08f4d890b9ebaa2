"""Promotion latency on real disk vs the floor of its own file operations.

A 3-node runtime cluster (baton.cluster.RuntimeCluster) on real directories:
the primary writes, replicates and acknowledges a few entries, then crashes.
Timed: (a) from the promotion request to the candidate's marker being durable
(the directory fsync after the rename), and (b) to the first write
acknowledged under the new primary. Every disk operation in that window is
recorded by a counting wrapper around the real Disk; the *floor* replays
exactly those operations (same paths, same bytes, same fsyncs, renames and
directory fsyncs) on a copy of the directories taken just before the request,
with no Baton logic in between -- measured in the same run, interleaved, so
both see the same disk. Ratio = Baton median / floor median.

Run on demand, never in CI:
  .venv/bin/python bench/latency.py               # 30 rounds
  .venv/bin/python bench/latency.py --rounds 100 --dir /var/tmp
Goal: latency <= 1.5x floor.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from baton import core
from baton.cluster import RuntimeCluster
from baton.storage import PosixDisk


class RecordingDisk:
    """A Disk that forwards to a real one and, while ``recording``, logs each call.

    One plain method per operation (no per-call closure): the log is the
    benchmark's instrument, and its cost lands on Baton's side of the ratio.
    """

    def __init__(self, inner: PosixDisk) -> None:
        self.inner = inner
        self.recording = False
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def _log(self, name: str, *args: Any) -> None:
        if self.recording:
            self.calls.append((name, args))

    def read(self, path: str) -> bytes | None:
        self._log("read", path)
        return self.inner.read(path)

    def write_file(self, path: str, data: bytes) -> None:
        self._log("write_file", path, data)
        self.inner.write_file(path, data)

    def append(self, path: str, data: bytes) -> None:
        self._log("append", path, data)
        self.inner.append(path, data)

    def fsync(self, path: str) -> None:
        self._log("fsync", path)
        self.inner.fsync(path)

    def rename(self, src: str, dst: str) -> None:
        self._log("rename", src, dst)
        self.inner.rename(src, dst)

    def fsync_dir(self, dirpath: str) -> None:
        self._log("fsync_dir", dirpath)
        self.inner.fsync_dir(dirpath)

    def truncate(self, path: str, size: int) -> None:
        self._log("truncate", path, size)
        self.inner.truncate(path, size)

    def listdir(self, dirpath: str) -> list[str]:
        self._log("listdir", dirpath)
        return self.inner.listdir(dirpath)

    def exists(self, path: str) -> bool:
        self._log("exists", path)
        return self.inner.exists(path)

    def makedirs(self, dirpath: str) -> None:
        self._log("makedirs", dirpath)
        self.inner.makedirs(dirpath)

    def remove(self, path: str) -> None:
        self._log("remove", path)
        self.inner.remove(path)


def one_round(root: Path) -> tuple[float, float, float, float, Counter[str]]:
    """One promotion: (to marker, to first ack, floor to marker, floor to ack, op counts)."""
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    disks: list[RecordingDisk] = []
    for i in range(3):
        PosixDisk(root).makedirs(f"n{i}")
        disks.append(RecordingDisk(PosixDisk(root / f"n{i}")))
    PosixDisk(root).fsync_dir("")
    cluster = RuntimeCluster(disks, "async")
    for _ in range(3):
        for action in (core.Write(0), core.Replicate(0, 1), core.Replicate(0, 2), core.Ack(0)):
            cluster.apply(action)
    cluster.crash(0)
    # The floor's copy: the directories exactly as they are before the request.
    floor_root = root.with_name(root.name + "-floor")
    shutil.rmtree(floor_root, ignore_errors=True)
    shutil.copytree(root, floor_root)
    # Settle every dirty page (the copy's above all) so that neither window pays
    # for writeback it did not cause: each starts on a clean page cache.
    os.sync()
    for d in disks:
        d.recording, d.calls = True, []
    marks: list[int] = []  # index into a merged call log where the marker became durable
    log: list[tuple[int, str, tuple[Any, ...]]] = []

    def flush_log() -> None:
        for i, d in enumerate(disks):
            log.extend((i, name, args) for name, args in d.calls)
            d.calls = []

    start = time.perf_counter()  # the actions are built inside the window, as before
    to_marker: tuple[core.Action, ...] = (
        core.Request(1),
        core.BeginValidation(1),
        core.Decide(1),
        core.BeginTransition(1),
        *(core.MarkerOp(1, op) for op in core.MARKER_OPS),
    )
    for step in to_marker:
        cluster.apply(step)
    t_marker = time.perf_counter() - start
    flush_log()
    marks.append(len(log))
    cluster.apply(core.Complete(1))
    cluster.apply(core.Acknowledge(1))
    cluster.apply(core.Write(1))
    cluster.apply(core.Ack(1))
    t_ack = time.perf_counter() - start
    flush_log()
    cluster.close()
    os.sync()
    # The floor: the same operations, replayed on the copy, nothing else.
    floor = [PosixDisk(floor_root / f"n{i}") for i in range(3)]
    start = time.perf_counter()
    for k, (i, name, args) in enumerate(log):
        if k == marks[0]:
            f_marker = time.perf_counter() - start
        getattr(floor[i], name)(*args)
    f_ack = time.perf_counter() - start
    if marks[0] == len(log):
        f_marker = f_ack
    counts = Counter(name for _i, name, _a in log)
    return t_marker, t_ack, f_marker, f_ack, counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--dir", default=None, help="where the node directories go (real disk)")
    parser.add_argument("--profile", action="store_true", help="profile one promotion")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="baton-latency-", dir=args.dir))
    try:
        samples = [one_round(base / "cluster") for _ in range(args.rounds)]
        counts = samples[-1][4]
        cols = list(zip(*[s[:4] for s in samples], strict=True))
        med = [statistics.median(c) * 1000 for c in cols]
        p90 = [sorted(c)[int(0.9 * (len(c) - 1))] * 1000 for c in cols]
        print(f"rounds: {args.rounds}; directory: {base}")
        print(f"disk operations in the window: {dict(sorted(counts.items()))}\n")
        print("| span | Baton median ms | Baton p90 ms | floor median ms | floor p90 ms | ratio |")
        print("|---|---|---|---|---|---|")
        for label, b, f in (("request -> marker durable", 0, 2), ("request -> first ack", 1, 3)):
            print(
                f"| {label} | {med[b]:.2f} | {p90[b]:.2f} | {med[f]:.2f} | {p90[f]:.2f} | "
                f"{med[b] / med[f]:.2f}x |"
            )
        if args.profile:
            import cProfile
            import pstats

            prof = cProfile.Profile()
            prof.enable()
            one_round(base / "cluster")
            prof.disable()
            pstats.Stats(prof).sort_stats("tottime").print_stats(10)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
