"""Reopening a cluster from its node directories after the whole process died.

Covers: ``baton run`` SIGKILLed at every failpoint (the process, not one
node), then ``baton run --resume`` recovers every node from its directory
alone -- marker, WAL, halt file, adopted epoch; primaries fenced -- and
``baton check`` accepts the combined trace (P6-F2, P6-S1, P6-A1, P6-A3 over
both runs); the catch-up of an interrupted step is exercised; a cluster
reopened in-process takes nothing from memory (a deposed primary comes back
Primary at its old epoch, fenced, with its own WAL; only the highest epoch
may be reinstated); a torn marker keeps its node down; the sync standby is
read back from disk; a disk the trace cannot be brought level with, or a
damaged acknowledged record, refuses to resume (exit 2, one line).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from baton import core, failpoints
from baton.cli import main
from baton.cluster import RuntimeCluster
from baton.controller import Controller, PromotionRequest
from baton.errors import ActionNotEnabled
from baton.spec.concrete import violated_properties
from baton.storage import Disk, PersistenceModel, SimDisk

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# A failpoint's first hit after init: init writes one marker per node (3 nodes).
KILLS = {
    "marker.write_temp": "marker.write_temp:4",
    "marker.fsync_temp": "marker.fsync_temp:4",
    "marker.rename": "marker.rename:4",
    "marker.fsync_dir": "marker.fsync_dir:4",
    "wal.append": "wal.append:2",
    "wal.fsync": "wal.fsync:3",
    "wal.synced_end": "wal.synced_end:2",
}


def _killed_run(root: Path, trace_file: Path, spec: str, example: str) -> str:
    env = dict(os.environ)
    env[failpoints.ENV_VAR] = spec
    done = subprocess.run(
        [sys.executable, "-m", "baton.cli", "run", str(EXAMPLES / f"{example}.json"),
         "--dir", str(root), "--trace", str(trace_file), "--quiet"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == -signal.SIGKILL, (done.returncode, done.stderr)
    return done.stderr


def _continuation(tmp_path: Path, mode: str = "async") -> Path:
    steps = [
        {"do": "init", "nodes": 3, "mode": mode},
        *({"do": "expect", "node": f"n{i}", "writable": False} for i in range(3)),
        {"do": "request", "candidate": "n2", "operator": "erin", "reason": "after the kill"},
        {"do": "acknowledge", "candidate": "n2", "operator": "erin"},
    ]
    path = tmp_path / "continue.json"
    path.write_text(json.dumps({"name": "continue", "steps": steps}))
    return path


@pytest.mark.parametrize("failpoint", list(KILLS), ids=list(KILLS))
def test_sigkill_at_every_failpoint_then_resume_and_check(
    failpoint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, trace_file = tmp_path / "nodes", tmp_path / "trace.jsonl"
    stderr = _killed_run(root, trace_file, KILLS[failpoint], "clean_failover")
    assert f"failpoint hit: {failpoint}" in stderr
    status = main(
        ["run", "--resume", str(_continuation(tmp_path)), "--dir", str(root),
         "--trace", str(trace_file)]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert status == 0, out
    assert out.count("restarted from disk") == 3  # every node, fenced (the expect steps)
    assert main(["check", str(trace_file)]) == 0
    lines = trace_file.read_text().splitlines()
    assert json.loads(lines[0])["kind"] == "header" and json.loads(lines[-1])["kind"] == "end"
    seqs = [json.loads(line)["seq"] for line in lines]
    assert seqs == list(range(len(lines)))  # one trace, numbered on


def test_the_disk_ahead_of_the_trace_is_caught_up(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Killed between a write's fsync and its event: the record is on disk, not in
    the trace; the resumed trace records it before the crash, and the oracle agrees."""
    root, trace_file = tmp_path / "nodes", tmp_path / "trace.jsonl"
    _killed_run(root, trace_file, "wal.synced_end:2", "clean_failover")
    before = [json.loads(line) for line in trace_file.read_text().splitlines()]
    assert [e["lsn"] for e in before if e["kind"] == "write"] == [1]
    continuation = EXAMPLES / "resume" / "continue_after_kill.json"  # the shipped example
    assert main(["run", "--resume", str(continuation), "--dir", str(root),
                 "--trace", str(trace_file)]) == 0  # fmt: skip
    assert "the disk shows what the trace missed: write" in capsys.readouterr().out
    after = [json.loads(line) for line in trace_file.read_text().splitlines()]
    resumed = after[len(before) :]
    assert resumed[0]["kind"] == "write" and resumed[0]["lsn"] == 2
    assert [e["kind"] for e in resumed[1:7]] == ["crash"] * 3 + ["restart"] * 3
    assert main(["check", str(trace_file)]) == 0


def test_resume_refuses_a_disk_behind_the_trace(tmp_path: Path) -> None:
    root, trace_file = tmp_path / "nodes", tmp_path / "trace.jsonl"
    _killed_run(root, trace_file, "wal.fsync:3", "clean_failover")
    (root / "n0" / "wal").write_bytes(b"")  # n0's written records vanished, all trace
    (root / "n0" / "wal.synced").write_bytes(b"")
    done = subprocess.run(
        [sys.executable, "-m", "baton.cli", "run", "--resume", str(_continuation(tmp_path)),
         "--dir", str(root), "--trace", str(trace_file)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "cannot resume" in done.stderr and "n0" in done.stderr


def test_resume_refuses_a_damaged_acknowledged_record(tmp_path: Path) -> None:
    root = tmp_path / "nodes"
    assert main(["run", str(EXAMPLES / "clean_failover.json"), "--dir", str(root), "--quiet"]) == 0
    wal = root / "n1" / "wal"
    data = bytearray(wal.read_bytes())
    data[-6] ^= 0x01  # inside the last, synced and acknowledged record
    wal.write_bytes(bytes(data))
    assert main(["run", "--resume", str(_continuation(tmp_path)), "--dir", str(root)]) == 2


# --- in process: nothing taken from memory ---------------------------------------------


def _after_failover() -> tuple[list[Disk], RuntimeCluster]:
    disks: list[Disk] = [SimDisk() for _ in range(3)]
    cluster = RuntimeCluster(disks, "async")
    for _ in range(2):
        cluster.apply(core.Write(0))
        cluster.apply(core.Ack(0))
    for r in (1, 2):
        cluster.apply(core.Replicate(0, r))
        cluster.apply(core.Replicate(0, r))
    cluster.crash(0)
    Controller(cluster).request_promotion(PromotionRequest("n1", "alice"))
    cluster.apply(core.Write(1))
    cluster.close()
    return disks, cluster


def test_reopen_reads_every_node_from_its_directory_alone() -> None:
    disks, before = _after_failover()
    reopened = RuntimeCluster.reopen(disks, "async")
    state = reopened.state
    for i, node in enumerate(state.nodes):
        assert node.durable == reopened.nodes[i].read_durable()  # the disk, nothing else
        assert node.up and not node.writable and node.lifecycle == "Steady"
    assert state.nodes[0].durable.marker_role == "Primary" and state.nodes[0].durable.epoch == 1
    assert state.nodes[0].durable.wal == ((1, 1), (1, 2))
    assert state.nodes[1].durable == before.state.nodes[1].durable  # Primary@2, 3 records
    assert state.acked == state.nodes[1].durable.wal  # the upper bound of what was acked
    assert violated_properties(core.to_snapshot(state)) == []  # the spec's, on the reopened state
    with pytest.raises(ActionNotEnabled, match="highest epoch"):
        Controller(reopened).reinstate("n0", operator="op")
    Controller(reopened).reinstate("n1", operator="op")
    assert reopened.state.writable_nodes() == (1,)
    reopened.close()


def test_a_torn_marker_keeps_its_node_down_on_reopen() -> None:
    disks, _ = _after_failover()
    RuntimeCluster.reopen(disks, "async").close()
    from baton.node import Node

    Node("n2", disks[2]).corrupt_marker()
    reopened = RuntimeCluster.reopen(disks, "async")
    assert not reopened.state.nodes[2].up
    assert reopened.state.nodes[2].durable.marker_role == "Torn"
    assert [name for name, _ in reopened.refused_to_start] == ["n2"]
    reopened.close()


def test_the_sync_standby_is_read_back_from_disk() -> None:
    disks: list[Disk] = [SimDisk() for _ in range(3)]
    cluster = RuntimeCluster(disks, "sync")
    cluster.apply(core.Designate(0, 2))
    cluster.apply(core.Write(0))
    cluster.apply(core.Replicate(0, 2))
    cluster.apply(core.Ack(0))
    cluster.close()
    reopened = RuntimeCluster.reopen(disks, "sync")
    assert reopened.state.standby == 2
    assert reopened.state.acked == ((1, 1),)  # held by the primary and its standby
    assert violated_properties(core.to_snapshot(reopened.state)) == []
    reopened.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--trace", "{d}/n0/marker"], "refusing to write inside node directory"),
        (["--trace", "{t}/missing/t.jsonl"], "does not exist"),
        (["--resume"], "no such directory to resume"),
    ],
    ids=["trace-inside-dir", "trace-in-missing-dir", "resume-nothing"],
)
def test_run_refuses_unusable_paths_before_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    root = tmp_path / "nodes"
    argv = [a.format(d=root, t=tmp_path) for a in args]
    status = main(["run", str(EXAMPLES / "clean_failover.json"), "--dir", str(root), *argv])
    err = capsys.readouterr().err
    assert status == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (root / "n0").exists()  # nothing ran


def test_resume_with_a_trace_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "nodes"
    assert main(["run", str(EXAMPLES / "clean_failover.json"), "--dir", str(root), "--quiet"]) == 0
    missing = tmp_path / "none.jsonl"
    assert main(["run", "--resume", str(_continuation(tmp_path)), "--dir", str(root),
                 "--trace", str(missing)]) == 2  # fmt: skip
    assert not missing.exists()


def test_random_runs_survive_whole_process_restarts() -> None:
    """Seeded runs on the simulated disk, the whole process killed every few steps
    (sometimes the machine too: any crash state of each disk) and the cluster
    reopened from its disks alone; directories equal the core at every step and
    the spec's properties hold after every reopening and at the end."""
    import random

    reopenings = 0
    after_reopening: set[str] = set()
    for seed in range(4):
        rng = random.Random(seed)
        mode = "sync" if seed % 2 else "async"
        disks: list[Disk] = [SimDisk() for _ in range(3)]
        cluster = RuntimeCluster(disks, mode)
        for step in range(80):
            if step % 13 == 12:
                cluster.close()  # the process dies: only the disks remain
                if rng.random() < 0.5:  # and the machine: any crash state of each disk
                    disks = [
                        d.crash(rng.choice(d.crash_states(PersistenceModel.JOURNALED)))
                        for d in disks
                        if isinstance(d, SimDisk)
                    ]
                cluster = RuntimeCluster.reopen(disks, mode)
                reopenings += 1
                assert not cluster.state.writable_nodes()  # everything comes back fenced
                assert violated_properties(core.to_snapshot(cluster.state)) == []
            actions = [
                a
                for a in core.enabled_actions(cluster.state)
                if not isinstance(a, core.Crash | core.Restart)
            ]
            action = rng.choice(actions)
            cluster.apply(action)
            if reopenings:
                after_reopening.add(action.name)
            for i, node in enumerate(cluster.state.nodes):
                if node.up:
                    assert cluster.nodes[i].read_durable() == node.durable, (seed, step, i)
        assert violated_properties(core.to_snapshot(cluster.state)) == []
        cluster.close()
    assert reopenings == 4 * 6
    # Not vacuous: after reopenings, authority was given back and used.
    assert {"reinstate", "write", "replicate", "request"} <= after_reopening, after_reopening


def test_resume_continues_a_finished_trace_and_one_with_a_partial_last_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, trace_file = tmp_path / "nodes", tmp_path / "trace.jsonl"
    assert main(["run", str(EXAMPLES / "clean_failover.json"), "--dir", str(root),
                 "--trace", str(trace_file), "--quiet"]) == 0  # fmt: skip
    assert main(["run", "--resume", str(_continuation(tmp_path)), "--dir", str(root),
                 "--trace", str(trace_file)]) == 0  # fmt: skip
    assert "cut the 'end' line" in capsys.readouterr().out
    assert main(["check", str(trace_file)]) == 0
    text = trace_file.read_text()
    trace_file.write_text(text[: text.rstrip("\n").rfind("\n") + 1] + '{"seq": 9')  # torn
    assert main(["run", "--resume", str(_continuation(tmp_path)), "--dir", str(root),
                 "--trace", str(trace_file)]) == 0  # fmt: skip
    assert "cut a partial last line" in capsys.readouterr().out
    assert main(["check", str(trace_file)]) == 0


@pytest.mark.parametrize(("nodes", "mode"), [(2, "async"), (3, "sync")], ids=["fewer", "mode"])
def test_resume_refuses_a_scenario_that_does_not_match_the_cluster(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], nodes: int, mode: str
) -> None:
    root, trace_file = tmp_path / "nodes", tmp_path / "trace.jsonl"
    assert main(["run", str(EXAMPLES / "clean_failover.json"), "--dir", str(root),
                 "--trace", str(trace_file), "--quiet"]) == 0  # fmt: skip
    scenario = tmp_path / "other.json"
    steps = [{"do": "init", "nodes": nodes, "mode": mode}, {"do": "expect", "acked": 0}]
    scenario.write_text(json.dumps({"steps": steps}))
    capsys.readouterr()
    before = trace_file.read_bytes()
    assert main(["run", "--resume", str(scenario), "--dir", str(root),
                 "--trace", str(trace_file)]) == 2  # fmt: skip
    assert "cannot resume" in capsys.readouterr().err
    assert trace_file.read_bytes() == before  # a refused resume leaves the trace as it was


def test_a_refused_reopening_lets_go_of_the_directories(tmp_path: Path) -> None:
    """A damaged acknowledged record refuses the reopening, and the directory locks
    taken for it are released: after a repair, the same process can reopen."""
    from baton.errors import WalCorruption

    root = tmp_path / "nodes"
    assert main(["run", str(EXAMPLES / "clean_failover.json"), "--dir", str(root), "--quiet"]) == 0
    wal = root / "n1" / "wal"
    good = wal.read_bytes()
    wal.write_bytes(good[:-6] + bytes([good[-6] ^ 0x01]) + good[-5:])
    with pytest.raises(WalCorruption):
        RuntimeCluster.reopen_directories(root, 3, "async")
    wal.write_bytes(good)
    RuntimeCluster.reopen_directories(root, 3, "async").close()
