"""`baton run`: scenarios against real node directories, exit statuses, errors.

Covers: every shipped example runs (exit 0) and its trace conforms to the
oracle; malformed scenarios and unknown node ids exit 2 naming line and
field, without a traceback; an unexpected duplicate request exits 1 naming
DuplicateRequest; a corrupt marker makes the node refuse to start
(MarkerCorrupt, P6-F2); a torn WAL tail is cut and reported on restart and
nothing acknowledged is lost (P6-S1); the clean failover leaves the new
marker on disk with the higher epoch.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from baton.cli import main
from baton.marker import read_marker
from baton.storage import PosixDisk
from baton.wal import Wal

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.json"))


def write_scenario(tmp_path: Path, steps: list[dict[str, object]], nodes: int = 3) -> Path:
    path = tmp_path / "s.json"
    body = [{"do": "init", "nodes": nodes, "mode": "async"}, *steps]
    path.write_text(json.dumps({"name": "t", "steps": body}, indent=1))
    return path


def run(tmp_path: Path, scenario: Path, *extra: str) -> int:
    return main(["run", str(scenario), "--dir", str(tmp_path / "nodes"), "--quiet", *extra])


def test_examples_exist() -> None:
    names = {p.stem for p in EXAMPLE_FILES}
    assert {
        "clean_failover",
        "lagging_replica_denied",
        "forced_promotion",
        "crash_mid_transition",
    } <= names


@pytest.mark.parametrize("example", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_example_runs_and_its_trace_conforms(example: Path, tmp_path: Path) -> None:
    """P6-O1/P6-O2: the run succeeds and the oracle accepts its trace (a demonstration's
    only with its dropped assumptions allowed by name)."""
    trace_file = tmp_path / "trace.jsonl"
    assert run(tmp_path, example, "--trace", str(trace_file)) == 0
    dropped = json.loads(example.read_text("utf-8")).get("drop_assumptions", [])
    allow = [arg for name in dropped for arg in ("--allow-dropped", name)]
    assert main(["check", *allow, str(trace_file)]) == 0


def test_clean_failover_leaves_the_new_authority_on_disk(tmp_path: Path) -> None:
    """P6-F2/P6-A3: n1's durable marker names itself at epoch 2; n0 follows it."""
    assert run(tmp_path, EXAMPLES / "clean_failover.json") == 0
    n1 = read_marker(PosixDisk(tmp_path / "nodes" / "n1"))
    n0 = read_marker(PosixDisk(tmp_path / "nodes" / "n0"))
    assert (n1.holder, n1.epoch) == ("n1", 2)
    assert (n0.role, n0.epoch, n0.holder) == ("Replica", 2, "n1")
    wal, report = Wal.open(PosixDisk(tmp_path / "nodes" / "n1"), "wal")
    assert report.clean and [(r.epoch, r.lsn) for r in wal.entries()] == [
        (1, 1),
        (1, 2),
        (1, 3),
        (2, 4),
    ]


def test_malformed_scenario_exits_2_naming_line_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"steps": [\n {"do": "init", "nodes": 2},\n {"do": "write"}\n]}\n')
    assert run(tmp_path, path) == 2
    err = capsys.readouterr().err
    assert "bad.json:3: field 'node': required by a 'write' step" in err
    assert "Traceback" not in err


def test_unknown_node_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_scenario(tmp_path, [{"do": "crash", "node": "n5"}])
    assert run(tmp_path, path) == 2
    assert "unknown node 'n5' (known nodes: n0, n1, n2)" in capsys.readouterr().err


def test_unexpected_duplicate_request_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A second request while one is in progress is refused, the first undisturbed."""
    steps: list[dict[str, object]] = [
        {"do": "request", "candidate": "n1", "operator": "a"},  # denied: n0 is Active
        {"do": "request", "candidate": "n2", "operator": "b"},
    ]
    assert run(tmp_path, write_scenario(tmp_path, steps)) == 1
    err = capsys.readouterr().err
    assert "s.json:" in err and "DuplicateRequest" in err and "'n1' is in progress" in err


def test_corrupt_marker_refuses_to_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """P6-F2: a marker failing its checksum: the node refuses to start, never guesses."""
    steps: list[dict[str, object]] = [
        {"do": "write", "node": "n0", "count": 2},
        {"do": "crash", "node": "n0"},
        {"do": "corrupt_marker", "node": "n0"},
        {"do": "restart", "node": "n0"},
    ]
    assert run(tmp_path, write_scenario(tmp_path, steps)) == 1
    err = capsys.readouterr().err
    assert "MarkerCorrupt" in err and "marker" in err and "checksum" in err
    steps[-1]["expect_error"] = "MarkerCorrupt"
    steps.append({"do": "expect", "node": "n0", "up": False})
    assert main(["run", str(write_scenario(tmp_path, steps)), "--dir", str(tmp_path / "b")]) == 0


def test_torn_wal_tail_is_cut_and_nothing_acknowledged_is_lost(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """P6-S1: a torn tail is truncated to the last valid record and reported."""
    steps: list[dict[str, object]] = [
        {"do": "write", "node": "n0", "count": 3},
        {"do": "crash", "node": "n0"},
        {"do": "tear_wal", "node": "n0", "bytes": 11},
        {"do": "restart", "node": "n0"},
        {"do": "reinstate", "node": "n0"},
        {"do": "expect", "node": "n0", "wal_end": 3, "writable": True},
        {"do": "write", "node": "n0"},
        {"do": "expect", "acked": 4},
    ]
    path = write_scenario(tmp_path, steps)
    assert main(["run", str(path), "--dir", str(tmp_path / "nodes")]) == 0
    out = capsys.readouterr().out
    assert "torn tail" in out and "dropped 11 bytes" in out
    assert "4 acknowledged write(s), none lost [P6-S1]" in out


def test_failed_expectation_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    steps: list[dict[str, object]] = [{"do": "expect", "node": "n1", "role": "PrimaryActive"}]
    assert run(tmp_path, write_scenario(tmp_path, steps)) == 1
    assert "n1.role 'PrimaryActive', found 'ReplicaActive'" in capsys.readouterr().err


def test_dir_must_be_empty(tmp_path: Path) -> None:
    (tmp_path / "nodes").mkdir()
    (tmp_path / "nodes" / "junk").write_text("x")
    assert run(tmp_path, EXAMPLES / "clean_failover.json") == 2


def test_same_scenario_same_trace(tmp_path: Path) -> None:
    """P6-D1/P6-D2: running a scenario twice writes byte-identical traces."""
    traces = []
    for k in range(2):
        out = tmp_path / f"t{k}.jsonl"
        args = [
            "run",
            str(EXAMPLES / "crash_mid_transition.json"),
            "--dir",
            str(tmp_path / f"d{k}"),
        ]
        assert main([*args, "--quiet", "--trace", str(out)]) == 0
        traces.append(out.read_bytes())
    assert traces[0] == traces[1]


def test_armed_failpoint_never_reached_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A crash the scenario armed but no step reached is reported, not ignored."""
    steps: list[dict[str, object]] = [{"do": "crash", "node": "n1", "at": "marker.rename"}]
    assert run(tmp_path, write_scenario(tmp_path, steps)) == 1
    assert "never reached" in capsys.readouterr().err


def test_crash_at_wal_fsync_loses_nothing_acknowledged(tmp_path: Path) -> None:
    """P6-S1: the primary dies before fsyncing a write; earlier acks survive."""
    steps: list[dict[str, object]] = [
        {"do": "write", "node": "n0", "count": 2},
        {"do": "crash", "node": "n0", "at": "wal.fsync"},
        {"do": "write", "node": "n0"},
        {"do": "expect", "node": "n0", "up": False},
        {"do": "expect", "acked": 2},
        {"do": "restart", "node": "n0"},
        {"do": "reinstate", "node": "n0"},
        {"do": "write", "node": "n0"},
        {"do": "expect", "acked": 4},
    ]
    assert run(tmp_path, write_scenario(tmp_path, steps)) == 0


def test_divergent_replica_of_equal_length_halts_at_once(tmp_path: Path) -> None:
    """P6-S2: a replica whose WAL differs from the primary's at any position halts with
    history_divergence, even when both WALs have the same length."""
    steps: list[dict[str, object]] = [
        {"do": "write", "node": "n0", "count": 1},
        {"do": "replicate", "from": "n0", "to": "n1"},
        {"do": "ack", "node": "n0"},
        {"do": "write", "node": "n0", "count": 1, "ack": False},  # lsn 2, epoch 1, never acked
        {"do": "crash", "node": "n0"},
        {"do": "request", "candidate": "n1", "operator": "op"},  # sync: the standby's bound
        {"do": "expect", "verdict": "allowed"},
        {"do": "acknowledge", "candidate": "n1"},
        {"do": "write", "node": "n1", "count": 1, "ack": False},  # lsn 2, epoch 2
        {"do": "restart", "node": "n0"},
        {"do": "demote", "node": "n0"},
        {"do": "replicate", "from": "n1", "to": "n0"},
        {"do": "expect", "node": "n0", "role": "Halted"},
    ]
    path = tmp_path / "s.json"
    path.write_text(
        json.dumps({"steps": [{"do": "init", "nodes": 3, "mode": "sync"}, *steps]}, indent=1)
    )
    assert run(tmp_path, path) == 0
