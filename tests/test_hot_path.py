"""The promotion's and the write's hot path does only what it must, and still all of it.

``bench/latency.py`` times a promotion against the floor of its own disk
operations; the shell was made cheaper on that path. These tests pin that the
cheaper path is the same path:

* the marker is encoded once per attempt, and the four file operations
  (P6-F2) write exactly the marker the node then holds;
* :class:`~baton.storage.PosixDisk`'s shortcut for plain names resolves to
  the same absolute path as the general route, and never lets a path out of
  the root;
* a :class:`~baton.events.Recorder` that nobody reads while it records (no
  trace stream, no operator lines) builds its events when they are read, and
  they are the events an eager recorder writes, operator attribution and
  attempt IDs included;
* the cluster computes a step's partial states only when a crash needs them,
  and a crash that lands inside a Replicate after the adopted epoch became
  durable is still explained by Adopt's state (P6-A3);
* the benchmark's window performs exactly the durable operations, in order.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
from baton import core
from baton import node as node_module
from baton.cluster import RuntimeCluster
from baton.controller import Controller, PromotionRequest
from baton.events import Recorder
from baton.marker import MARKER_FILE, MARKER_STEPS, Marker, decode_marker
from baton.node import Node
from baton.storage import Disk, PosixDisk, SimDisk, _check_relative
from hypothesis import given
from hypothesis import strategies as st


def _initialised(name: str = "n1") -> Node:
    node = Node(name, SimDisk())
    node.initialise(holder="n0", epoch=1)
    return node


def test_marker_is_encoded_once_per_attempt_and_written_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """P6-F2: four file operations, one encoding; the file holds the marker the node acts on."""
    node = _initialised()
    encoded: list[Marker] = []
    real = node_module.encode_marker

    def counting(marker: Marker) -> bytes:
        encoded.append(marker)
        return real(marker)

    monkeypatch.setattr(node_module, "encode_marker", counting)
    for op in MARKER_STEPS:
        node.marker_op(op, 2)
    assert encoded == [Marker("n1", "n1", 2, "n0")]
    data = node.disk.read(MARKER_FILE)
    assert data is not None and decode_marker(data) == node.marker == encoded[0]
    # A second attempt encodes its own marker (nothing is carried over).
    for op in MARKER_STEPS:
        node.marker_op(op, 3)
    assert [m.epoch for m in encoded] == [2, 3]


def test_marker_operations_refuse_an_epoch_the_temp_file_does_not_hold() -> None:
    node = _initialised()
    with pytest.raises(AssertionError, match="before write_temp"):
        node.marker_op("fsync_temp", 2)
    node.marker_op("write_temp", 2)
    with pytest.raises(AssertionError, match="at epoch 3, the temp file holds 2"):
        node.marker_op("fsync_temp", 3)


def test_a_crash_forgets_the_marker_write_in_progress() -> None:
    node = _initialised()
    node.marker_op("write_temp", 2)
    node.forget()
    with pytest.raises(AssertionError, match="before write_temp"):
        node.marker_op("rename", 2)


def _general_route(root: str, path: str) -> str:
    rel = _check_relative(path)
    return os.path.join(root, rel) if rel else root


@pytest.mark.parametrize("root", ["/var/x", "/var/x/", "rel/dir", ""])
@given(
    name=st.text(
        st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
        min_size=1,
        max_size=12,
    )
)
def test_plain_name_shortcut_resolves_like_the_general_route(root: str, name: str) -> None:
    disk = PosixDisk(root)
    try:
        expected = _general_route(root, name)
    except ValueError:
        with pytest.raises(ValueError):
            disk._abs(name)
        return
    assert disk._abs(name) == expected


@pytest.mark.parametrize("path", ["..", "../x", "/etc/passwd", "a\\b", "x/../../y"])
def test_paths_out_of_the_root_are_still_refused(path: str) -> None:
    with pytest.raises(ValueError):
        PosixDisk("/var/x")._abs(path)


def _promotion_effects() -> list[tuple[str | None, tuple[core.Effect, ...]]]:
    """A promotion and a write under the new primary: (acting operator, effects) per step."""
    state = core.initial_state(3, "async")
    steps: list[tuple[str | None, core.Action]] = [
        (None, core.Write(0)),
        (None, core.Replicate(0, 1)),
        (None, core.Ack(0)),
        (None, core.Crash(0)),
        ("alice", core.Request(1)),
        ("alice", core.BeginValidation(1)),
        ("alice", core.Decide(1)),
        ("alice", core.BeginTransition(1)),
        *(("alice", core.MarkerOp(1, op)) for op in core.MARKER_OPS),
        ("alice", core.Complete(1)),
        ("bob", core.Acknowledge(1)),
        (None, core.Write(1)),
        (None, core.Ack(1)),
    ]
    out = []
    for operator, action in steps:
        state, effects = core.step(state, action)
        out.append((operator, effects))
    return out


def _feed(recorder: Recorder) -> None:
    for index, (operator, effects) in enumerate(_promotion_effects()):
        if index == 4:  # the controller announces the request before the core sees it
            recorder.operator = "alice"
            recorder.request_arrived(1, False, "alice", "drill")
        recorder.operator = operator
        recorder.record(effects)
    recorder.operator = None


def test_a_recorder_nobody_reads_yet_builds_the_same_events_when_read() -> None:
    """P6-O1/O2: deferring the events changes nothing in them (order, attempt, operator)."""
    names = ("n0", "n1", "n2")
    stream = io.StringIO()
    eager = Recorder(names, "async", "n0", stream=stream)
    _feed(eager)
    lazy = Recorder(names, "async", "n0")
    _feed(lazy)
    assert lazy._deferred, "the recorder without readers did not defer its work"
    assert lazy.events == eager.events
    assert not lazy._deferred
    kinds = [e["kind"] for e in lazy.events]
    assert kinds.count("transition") == 6 and "validation" in kinds and "marker" in kinds
    operators = {e.get("meta", {}).get("operator") for e in lazy.events if e["kind"] != "write"}
    assert operators == {None, "alice", "bob"}
    written = [json.loads(line) for line in stream.getvalue().splitlines()[1:]]
    assert [e["kind"] for e in written] == kinds


def test_reading_and_clearing_the_events_between_steps_keeps_them_in_order() -> None:
    """The reference node reads and clears the list after each step; nothing is lost."""
    names = ("n0", "n1", "n2")
    eager = Recorder(names, "async", "n0", stream=io.StringIO())
    _feed(eager)
    lazy = Recorder(names, "async", "n0")
    seen: list[dict[str, object]] = []
    for index, (operator, effects) in enumerate(_promotion_effects()):
        if index == 4:
            lazy.operator = "alice"
            lazy.request_arrived(1, False, "alice", "drill")
        lazy.operator = operator
        lazy.record(effects)
        if index % 3 == 0:
            seen += lazy.events
            lazy.events.clear()
    lazy.operator = None
    seen += lazy.events
    assert seen == eager.events


def test_a_listening_recorder_does_not_defer() -> None:
    lines: list[str] = []
    recorder = Recorder(("n0", "n1"), "async", "n0", say=lines.append)
    _state, effects = core.step(core.initial_state(2), core.Write(0))
    recorder.record(effects)
    assert not recorder._deferred and lines == ["write on n0: lsn 1 (epoch 1) durable"]


def test_a_crash_inside_replicate_after_the_adopted_epoch_is_explained_by_adopt() -> None:
    """P6-A3: Replicate persists the adopted epoch, then appends. A crash between the two
    leaves Adopt's state, which the cluster computes only now (a crash needs it)."""
    disks: list[Disk] = [SimDisk() for _ in range(3)]
    cluster = RuntimeCluster(disks, "async")
    cluster.apply(core.Write(0))
    cluster.apply(core.Replicate(0, 1))
    cluster.apply(core.Replicate(0, 2))
    cluster.apply(core.Ack(0))
    cluster.crash(0)
    result = Controller(cluster).request_promotion(PromotionRequest("n1", operator="t"))
    assert result.state == "PromotionSucceeded" and result.interrupted is None
    cluster.apply(core.Write(1))
    cluster.arm(2, "wal.append")
    cluster.apply(core.Replicate(1, 2))
    assert cluster.crashed(2)
    after = cluster.state.nodes[2]
    assert not after.up
    assert after.durable == core.Durable("Replica", 2, ((1, 1),))
    cluster.restart(2)  # the directory agrees with the core
    cluster.close()


def _load_latency_bench() -> Any:
    path = Path(__file__).resolve().parent.parent / "bench" / "latency.py"
    spec = importlib.util.spec_from_file_location("baton_bench_latency", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_timed_window_performs_exactly_the_durable_operations(tmp_path: Path) -> None:
    """P6-F2, P6-S1: from the request to the first acknowledgement the candidate performs
    the marker's four operations, then the synced write (WAL, then its synced end), and
    nothing else -- no read, no extra fsync -- through the benchmark's own recorder."""
    bench = _load_latency_bench()
    disks = []
    for i in range(3):
        PosixDisk(tmp_path).makedirs(f"n{i}")
        disks.append(bench.RecordingDisk(PosixDisk(tmp_path / f"n{i}")))
    cluster = RuntimeCluster(disks, "async")
    cluster.apply(core.Write(0))
    cluster.apply(core.Replicate(0, 1))
    cluster.apply(core.Ack(0))
    cluster.crash(0)
    for disk in disks:
        disk.recording = True
    window = [
        core.Request(1),
        core.BeginValidation(1),
        core.Decide(1),
        core.BeginTransition(1),
        *(core.MarkerOp(1, op) for op in core.MARKER_OPS),
        core.Complete(1),
        core.Acknowledge(1),
        core.Write(1),
        core.Ack(1),
    ]
    assert set(window) == bench.WINDOW_ACTIONS  # what --split replays is this window
    for action in window:
        cluster.apply(action)
    cluster.close()
    assert disks[0].calls == [] and disks[2].calls == []
    temp = disks[1].calls[0][1][0]
    assert temp.startswith(f"{MARKER_FILE}.")
    assert [(name, args[:1]) for name, args in disks[1].calls] == [
        ("write_file", (temp,)),
        ("fsync", (temp,)),
        ("rename", (temp,)),
        ("fsync_dir", ("",)),
        ("append", ("wal",)),
        ("fsync", ("wal",)),
        ("append", ("wal.synced",)),
        ("fsync", ("wal.synced",)),
    ]


def test_an_event_emitted_directly_comes_after_the_deferred_ones() -> None:
    """Any emission (here the end of a resumed run's prologue) first turns what was
    deferred into events: the trace order is the order things happened."""
    recorder = Recorder(("n0", "n1"), "async", "n0")
    _state, effects = core.step(core.initial_state(2), core.Write(0))
    recorder.record(effects)
    recorder._emit({"kind": "crash", "node": "n0"})
    assert [e["kind"] for e in recorder.events] == ["write", "crash"]
