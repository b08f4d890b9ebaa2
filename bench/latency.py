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

A second table gives this thread's CPU time in the same windows (system time
included) and what Baton adds to the floor's: on a busy machine, where fsync
waits swamp the wall-clock ratio, that is the figure that still shows
Baton's own cost. ``--baseline REV`` measures REV's runtime (git archive of
impl/ and spec/) and this checkout's in alternating blocks of fresh
interpreters, and prints both side by side.

Run on demand, never in CI:
  .venv/bin/python bench/latency.py               # 30 rounds
  .venv/bin/python bench/latency.py --rounds 30 --dir /var/tmp
  .venv/bin/python bench/latency.py --rounds 30 --dir /var/tmp --baseline main --blocks 3
  .venv/bin/python bench/latency.py --rounds 100 --dir /var/tmp --baseline main --blocks 6
Goal: latency <= 1.5x floor (on the idle machine). The ratio moves with the
machine's state by about 0.1x from one hour to the next; the larger
side-by-side sample (last line, about 20 s) is the one to judge by.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any, NamedTuple

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


class Round(NamedTuple):
    """One promotion's spans, in seconds: wall clock and this thread's CPU time."""

    marker: float  # request -> marker durable, Baton
    ack: float  # request -> first ack, Baton
    floor_marker: float
    floor_ack: float
    cpu_marker: float
    cpu_ack: float
    cpu_floor_marker: float
    cpu_floor_ack: float
    counts: Counter[str]


def _clocks() -> tuple[float, float]:
    return time.perf_counter(), time.thread_time()


def one_round(root: Path) -> Round:
    """One promotion, then the floor replaying its disk operations on a copy."""
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
    log: list[tuple[int, str, tuple[Any, ...]]] = []

    def flush_log() -> None:
        for i, d in enumerate(disks):
            log.extend((i, name, args) for name, args in d.calls)
            d.calls = []

    wall0, cpu0 = _clocks()  # the actions are built inside the window
    to_marker: tuple[core.Action, ...] = (
        core.Request(1),
        core.BeginValidation(1),
        core.Decide(1),
        core.BeginTransition(1),
        *(core.MarkerOp(1, op) for op in core.MARKER_OPS),
    )
    for step in to_marker:
        cluster.apply(step)
    wall_marker, cpu_marker = _clocks()
    flush_log()
    marker_ops = len(log)  # the operations up to the marker's directory fsync
    cluster.apply(core.Complete(1))
    cluster.apply(core.Acknowledge(1))
    cluster.apply(core.Write(1))
    cluster.apply(core.Ack(1))
    wall_ack, cpu_ack = _clocks()
    flush_log()
    cluster.close()
    os.sync()
    # The floor: the same operations, replayed on the copy, nothing else.
    floor = [PosixDisk(floor_root / f"n{i}") for i in range(3)]
    f_wall0, f_cpu0 = _clocks()
    f_wall_marker, f_cpu_marker = f_wall0, f_cpu0
    for k, (i, name, args) in enumerate(log):
        if k == marker_ops:
            f_wall_marker, f_cpu_marker = _clocks()
        getattr(floor[i], name)(*args)
    f_wall_ack, f_cpu_ack = _clocks()
    if marker_ops == len(log):
        f_wall_marker, f_cpu_marker = f_wall_ack, f_cpu_ack
    return Round(
        marker=wall_marker - wall0,
        ack=wall_ack - wall0,
        floor_marker=f_wall_marker - f_wall0,
        floor_ack=f_wall_ack - f_wall0,
        cpu_marker=cpu_marker - cpu0,
        cpu_ack=cpu_ack - cpu0,
        cpu_floor_marker=f_cpu_marker - f_cpu0,
        cpu_floor_ack=f_cpu_ack - f_cpu0,
        counts=Counter(name for _i, name, _a in log),
    )


def _ms(values: list[float], at: float) -> float:
    """The ``at`` quantile (0.5: median) of ``values``, in milliseconds."""
    if at == 0.5:
        return statistics.median(values) * 1000
    return sorted(values)[int(at * (len(values) - 1))] * 1000


def _load() -> str:
    one, five, _fifteen = os.getloadavg()
    return f"{one:.2f} (1 min), {five:.2f} (5 min)"


SPANS: tuple[tuple[str, str], ...] = (
    ("request -> marker durable", "marker"),
    ("request -> first ack", "ack"),
)


def _column(samples: list[Round], field: str) -> list[float]:
    return [float(getattr(r, field)) for r in samples]


def _added(samples: list[Round], span: str) -> list[float]:
    """Per round: CPU time of Baton's window minus the floor's (what Baton adds)."""
    return [getattr(r, "cpu_" + span) - getattr(r, "cpu_floor_" + span) for r in samples]


def print_tables(samples: list[Round]) -> None:
    print(f"disk operations in the window: {dict(sorted(samples[-1].counts.items()))}\n")
    print("| span | Baton median ms | Baton p90 ms | floor median ms | floor p90 ms | ratio |")
    print("|---|---|---|---|---|---|")
    for label, span in SPANS:
        b, f = _column(samples, span), _column(samples, "floor_" + span)
        print(
            f"| {label} | {_ms(b, 0.5):.2f} | {_ms(b, 0.9):.2f} | {_ms(f, 0.5):.2f} | "
            f"{_ms(f, 0.9):.2f} | {_ms(b, 0.5) / _ms(f, 0.5):.2f}x |"
        )
    # CPU time of this thread in the same windows (system time included): what Baton
    # adds between the disk operations, without the waits a busy disk lengthens.
    print("\n| span | Baton CPU median ms | floor CPU median ms | CPU Baton adds, median ms |")
    print("|---|---|---|---|")
    for label, span in SPANS:
        b, f = _column(samples, "cpu_" + span), _column(samples, "cpu_floor_" + span)
        added = _ms(_added(samples, span), 0.5)
        print(f"| {label} | {_ms(b, 0.5):.3f} | {_ms(f, 0.5):.3f} | {added:.3f} |")


# --- side by side with another revision's runtime ---------------------------------------


def _package_tree(source: Path, dest: Path) -> Path:
    """``dest/baton`` laid out as the installed package (impl/ is baton, spec/ baton.spec)."""
    package = dest / "baton"
    package.mkdir(parents=True)
    for entry in sorted((source / "impl").iterdir()):
        (package / entry.name).symlink_to(entry)
    (package / "spec").symlink_to(source / "spec")
    return dest


def _export(repo: Path, revision: str, dest: Path) -> None:
    """The runtime (impl/, spec/) of ``revision``, unpacked into ``dest``."""
    archive = subprocess.run(
        ["git", "-C", os.fspath(repo), "archive", "--format=tar", revision, "impl", "spec"],
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        message = archive.stderr.decode(errors="replace").strip().splitlines()
        raise ValueError(f"cannot export {revision!r}: {message[-1] if message else 'git failed'}")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(dest, filter="data")


def _run_block(tree: Path, rounds: int, directory: str | None, out: Path) -> list[Round]:
    """``rounds`` rounds in a fresh interpreter importing baton from ``tree``."""
    command = [sys.executable, os.fspath(Path(__file__).resolve()), "--rounds", str(rounds)]
    command += ["--samples-out", os.fspath(out)] + (["--dir", directory] if directory else [])
    env = {**os.environ, "PYTHONPATH": os.fspath(tree)}
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    rows = json.loads(out.read_text(encoding="utf-8"))
    return [Round._make([*row[:-1], Counter(row[-1])]) for row in rows]


def compare(revision: str, rounds: int, blocks: int, directory: str | None) -> int:
    """This checkout's runtime and ``revision``'s, in alternating blocks of rounds."""
    repo = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory(prefix="baton-latency-trees-") as tmp:
        work = Path(tmp)
        try:
            _export(repo, revision, work / "baseline-src")
        except ValueError as exc:
            print(f"latency: {exc}", file=sys.stderr)
            return 2
        trees = {
            f"{revision}": _package_tree(work / "baseline-src", work / "baseline"),
            "this checkout": _package_tree(repo, work / "current"),
        }
        samples: dict[str, list[Round]] = {name: [] for name in trees}
        print(f"load average before: {_load()}")
        for block in range(blocks):
            order = list(trees) if block % 2 == 0 else list(reversed(trees))
            for name in order:
                samples[name] += _run_block(trees[name], rounds, directory, work / "rounds.json")
        print(f"load average after: {_load()}")
    print(f"{blocks} alternating blocks of {rounds} rounds per runtime\n")
    print(
        "| runtime | span | Baton median ms | floor median ms | ratio | CPU Baton adds, median ms |"
    )
    print("|---|---|---|---|---|---|")
    for label, span in SPANS:
        for name, rows in samples.items():
            b, f = _ms(_column(rows, span), 0.5), _ms(_column(rows, "floor_" + span), 0.5)
            added = _ms(_added(rows, span), 0.5)
            print(f"| {name} | {label} | {b:.2f} | {f:.2f} | {b / f:.2f}x | {added:.3f} |")
    print()
    base, ours = samples[revision], samples["this checkout"]
    for label, span in SPANS:
        ratio = _ms(_added(ours, span), 0.5) / _ms(_added(base, span), 0.5)
        print(f"{label}: CPU Baton adds, this checkout / {revision} = {ratio:.2f}x")
    return 0


# --- how much of what Baton adds is the core's ------------------------------------------


WINDOW_ACTIONS: frozenset[core.Action] = frozenset(
    {
        core.Request(1),
        core.BeginValidation(1),
        core.Decide(1),
        core.BeginTransition(1),
        *(core.MarkerOp(1, op) for op in core.MARKER_OPS),
        core.Complete(1),
        core.Acknowledge(1),
        core.Write(1),
        core.Ack(1),
    }
)
"""The actions one_round times (each taken once per round)."""


class ReplayedCore:
    """``core.step`` for the window's actions answered from a memo: the shell alone.

    The rounds are deterministic, so each window action meets the same state, by
    value, in every round; the first (priming) round records the real step's
    answer and later rounds replay it. Every other step runs the real core.
    """

    def __init__(self) -> None:
        self.real = core.step
        self.memo: dict[core.Action, tuple[core.ClusterState, tuple[core.Effect, ...]]] = {}
        self.priming = True

    def __call__(
        self, state: core.ClusterState, action: core.Action
    ) -> tuple[core.ClusterState, tuple[core.Effect, ...]]:
        if action not in WINDOW_ACTIONS:
            return self.real(state, action)
        if self.priming:
            answer = self.real(state, action)
            self.memo.setdefault(action, answer)
            if self.memo[action] != answer:
                raise AssertionError(f"{action.label()} met another state: cannot replay it")
            return answer
        return self.memo[action]


def split(rounds: int, directory: str | None) -> None:
    """Rounds with the real core and with its window steps replayed, alternating."""
    replay = ReplayedCore()
    base = Path(tempfile.mkdtemp(prefix="baton-latency-", dir=directory))
    real: list[Round] = []
    shell: list[Round] = []
    try:
        core.step = replay  # type: ignore[assignment]  # a callable object, same signature
        for _ in range(2):  # prime, then check the replay would answer the same
            one_round(base / "cluster")
        replay.priming = False
        for _ in range(rounds):
            core.step = replay.real
            real.append(one_round(base / "cluster"))
            core.step = replay  # type: ignore[assignment]  # a callable object, same signature
            shell.append(one_round(base / "cluster"))
    finally:
        core.step = replay.real
        shutil.rmtree(base, ignore_errors=True)
    print(
        "\n| span | CPU Baton adds, median ms | of which the shell (core.step replayed) "
        "| core.step's share |"
    )
    print("|---|---|---|---|")
    for label, span in SPANS:
        whole, alone = _ms(_added(real, span), 0.5), _ms(_added(shell, span), 0.5)
        print(f"| {label} | {whole:.3f} | {alone:.3f} | {(whole - alone) / whole:.0%} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--dir", default=None, help="where the node directories go (real disk)")
    parser.add_argument("--profile", action="store_true", help="profile one promotion")
    parser.add_argument(
        "--baseline",
        metavar="REV",
        help="also measure the runtime of git revision REV, in alternating blocks",
    )
    parser.add_argument("--blocks", type=int, default=3, help="blocks per runtime (--baseline)")
    parser.add_argument(
        "--split",
        action="store_true",
        help="also split what Baton adds between core.step and the shell (replayed core)",
    )
    parser.add_argument("--samples-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rounds < 1 or args.blocks < 1:
        parser.error("--rounds and --blocks must be at least 1")
    if args.dir is not None and not os.path.isdir(args.dir):
        print(f"latency: --dir {args.dir}: not a directory", file=sys.stderr)
        return 2
    if args.baseline:
        return compare(args.baseline, args.rounds, args.blocks, args.dir)
    base = Path(tempfile.mkdtemp(prefix="baton-latency-", dir=args.dir))
    try:
        load_before = _load()
        samples = [one_round(base / "cluster") for _ in range(args.rounds)]
        if args.samples_out is not None:
            rows = [[*r[:-1], dict(r.counts)] for r in samples]
            args.samples_out.write_text(json.dumps(rows), encoding="utf-8")
            return 0
        print(f"rounds: {args.rounds}; directory: {base}")
        print(f"load average before: {load_before}; after: {_load()}")
        print_tables(samples)
        if args.split:
            split(args.rounds, args.dir)
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
