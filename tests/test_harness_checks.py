"""The workbench's black-box checks and its command line, on hand-built inputs.

Each check is shown to fail on the history it exists for and to pass on the
nearest legal one (so neither can hold vacuously); usage errors exit 2 with
one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from baton import trace
from baton.cli import main
from baton.harness import checks
from baton.harness.network import Network, NetworkConfig
from baton.harness.workbench import plan_faults


def _at(tick: int, event: dict[str, Any]) -> dict[str, Any]:
    return {**event, "meta": {"tick": tick}}


def _write(node: str, tick: int, epoch: int, lsn: int) -> dict[str, Any]:
    return _at(tick, trace.client("c0", "write", node, "ok", tick, tick, epoch=epoch, lsn=lsn))


def _read(node: str, tick: int, entries: list[list[int]], writable: bool = True) -> dict[str, Any]:
    return _at(
        tick,
        trace.client(
            "c1",
            "read",
            node,
            "ok",
            tick,
            tick,
            epoch=entries[-1][0] if entries else 1,
            writable=writable,
            result={"entries": entries},
        ),
    )


def test_p6_s1_a_later_primary_missing_an_acknowledged_write() -> None:
    lost = [_write("n0", 3, 1, 1), _write("n0", 4, 1, 2), _read("n1", 9, [[1, 1], [2, 2]])]
    found = checks.acknowledged_writes_survive(lost)
    assert [(f.invariant, f.tick) for f in found] == [("P6-S1", 9)]
    assert "lsn 2" in found[0].explanation
    kept = [_write("n0", 3, 1, 1), _write("n0", 4, 1, 2), _read("n1", 9, [[1, 1], [1, 2]])]
    assert checks.acknowledged_writes_survive(kept) == []
    # A replica may lag, and an ack after the read was sent is not yet owed to it.
    assert checks.acknowledged_writes_survive([*lost[:2], _read("n1", 9, [], False)]) == []
    assert checks.acknowledged_writes_survive([_read("n1", 2, [[1, 1]]), *lost[:2]]) == []


def test_p6_a1_two_nodes_acknowledging_at_the_same_time() -> None:
    overlap = [_write("n0", 2, 1, 1), _write("n1", 5, 2, 2), _write("n0", 6, 1, 2)]
    found = checks.one_writer_at_a_time(overlap)
    assert [f.invariant for f in found] == ["P6-A1"]
    handover = [_write("n0", 2, 1, 1), _write("n0", 6, 1, 2), _write("n1", 9, 2, 3)]
    assert checks.one_writer_at_a_time(handover) == []
    # Authority handed over and back: n0 writes again, in a later epoch, after n1 stopped.
    again = [_write("n0", 2, 1, 1), _write("n1", 5, 2, 2), _write("n0", 8, 3, 3)]
    assert checks.one_writer_at_a_time(again) == []


def test_the_network_and_the_nemesis_plan_are_functions_of_the_seed() -> None:
    import random

    def deliveries(seed: int) -> list[tuple[int, int]]:
        net = Network(random.Random(seed), NetworkConfig(loss=0.2, duplicate=0.2))
        for i in range(50):
            net.send({"src": "n0", "dest": "n1", "body": {"type": "x", "msg_id": i}}, i, 0, 0)
        return [(item.due, item.msg["body"]["msg_id"]) for item in net.due(100)]

    assert deliveries(7) == deliveries(7) != deliveries(8)
    plans = [plan_faults(random.Random(f"{s}:nemesis"), 150) for s in range(1000)]
    for plan in plans:
        assert {"kill", "pause", "partition"} <= {w.what for w in plan}
        assert all(w.start + w.duration < 150 - 25 for w in plan)  # the end quiesces
    assert plan_faults(random.Random("3:nemesis"), 150) == plans[3]
    for s in range(200):  # a short run plans what fits, never fails to plan
        assert all(w.start + w.duration < 40 - 25 for w in plan_faults(random.Random(s), 40))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--bin", "no-such-program-xyz"], "not found"),
        (["--bin", "baton node", "--seeds", "5..2"], "--seeds"),
        (["--bin", "baton node", "--nodes", "1"], "--nodes"),
        (["--bin", "baton node", "--ticks", "10"], "--ticks"),
        (["--bin", ""], "empty"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["test", *argv, "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
