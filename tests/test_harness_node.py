"""The reference node (baton node) in-process: its directory, its lock, its local view.

Messages are fed to :class:`baton.harness.refnode.ReferenceNode` directly (no
processes, no workbench), so each protocol rule is checked in milliseconds;
every message the node writes is validated against the shipped JSON Schema.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from baton.errors import DirectoryLocked
from baton.harness import protocol
from baton.harness.refnode import PROBE_TICKS, ReferenceNode, serve

NAMES = ["n0", "n1", "n2"]
SCHEMA = jsonschema.Draft202012Validator(protocol.protocol_schema())


class Session:
    """One node process's life: feed messages, collect what it wrote."""

    def __init__(self, data_dir: Path, name: str, incarnation: int = 0) -> None:
        self.out: list[dict[str, Any]] = []
        self.node = ReferenceNode(self.out.append)
        self.ids = 0
        self.request(
            "harness",
            "init",
            name=name,
            node_id=name,
            node_ids=NAMES,
            initial_primary="n0",
            mode="async",
            data_dir=str(data_dir),
            incarnation=incarnation,
            protocol=1,
        )

    def request(
        self, src: str, kind: str, name: str | None = None, **fields: Any
    ) -> list[dict[str, Any]]:
        self.ids += 1
        dest = name or self.node.name
        msg = {"src": src, "dest": dest, "body": {"type": kind, "msg_id": self.ids, **fields}}
        start = len(self.out)
        self.node.handle(protocol.check_message(msg))
        written = self.out[start:]
        for line in written:
            SCHEMA.validate(line)  # every line the node writes is in the protocol
            protocol.check_message(line)
        return written

    def reply(self, written: list[dict[str, Any]], kind: str) -> dict[str, Any]:
        found = [m["body"] for m in written if m["body"]["type"] == kind]
        assert len(found) == 1, written
        return found[0]

    def events(self, written: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [m["body"]["event"] for m in written if m["body"]["type"] == "event"]


def test_fresh_primary_acknowledges_a_durable_write_and_reads_it_back(tmp_path: Path) -> None:
    n0 = Session(tmp_path / "n0", "n0")
    written = n0.request("c0", "write", value="v1")
    ok = n0.reply(written, "write_ok")
    assert (ok["epoch"], ok["lsn"], ok["in_reply_to"]) == (1, 1, n0.ids)
    assert [e["kind"] for e in n0.events(written)] == ["write", "ack"]
    read = n0.reply(n0.request("c0", "read"), "read_ok")
    assert read["entries"] == [[1, 1]] and read["writable"] is True


def test_a_replica_refuses_writes(tmp_path: Path) -> None:
    n1 = Session(tmp_path / "n1", "n1")
    error = n1.reply(n1.request("c0", "write", value="v"), "error")
    assert error["code"] == "not_primary"


def test_restart_recovers_from_the_directory_alone_and_comes_up_fenced(tmp_path: Path) -> None:
    """P6-F2 / fenced restart: the WAL and the marker survive, write authority does not."""
    first = Session(tmp_path / "n0", "n0")
    first.request("c0", "write", value="v1")
    assert first.node.lock is not None
    first.node.lock.release()  # what the kernel does when the process dies
    second = Session(tmp_path / "n0", "n0", incarnation=1)
    restart = [e for e in second.events(second.out) if e["kind"] == "restart"]
    assert restart == [{"kind": "restart", "node": "n0", "role": "Primary", "epoch": 1}]
    status = second.reply(second.request("operator", "status"), "status_ok")
    assert status["writable"] is False and status["wal_end"] == 1
    assert second.reply(second.request("c0", "write", value="v"), "error")["code"] == "not_primary"


def test_a_second_process_on_the_same_directory_is_refused(tmp_path: Path) -> None:
    Session(tmp_path / "n0", "n0")
    with pytest.raises(DirectoryLocked):
        Session(tmp_path / "n0", "n0")


def test_silent_peers_make_the_bound_unknown_so_force_cannot_promote(tmp_path: Path) -> None:
    """A candidate whose peers never answer: status Unknown, and even forced, no bound on
    acknowledged writes is proven -- denied (fail closed, P6-F1)."""
    n1 = Session(tmp_path / "n1", "n1")
    probes = n1.request("operator", "promote", attempt="op1", force=True, operator="t", reason="r")
    assert sorted(m["dest"] for m in probes if m["body"]["type"] == "probe") == ["n0", "n2"]
    decided = n1.request("harness", "tick", time=PROBE_TICKS)
    outcome = n1.reply(decided, "promote_ok")
    assert (outcome["outcome"], outcome["reason"]) == ("denied", "ack_bound_unknown")
    validation = next(e for e in n1.events(decided) if e["kind"] == "validation")
    assert validation["context"]["primary_status"] == "Unknown"
    assert validation["ack_bound"] is None and validation["attempt"] == "op1"


def _probe_answer(round_id: str, role: str, writable: bool, wal: list[list[int]]) -> dict[str, Any]:
    return {
        "round": round_id,
        "role": role,
        "epoch": 1,
        "writable": writable,
        "wal_end": len(wal),
        "lifecycle": "Steady",
        "entries": wal,
        "busy": False,
    }


def _promote_with_answers(n1: Session, answers: dict[str, dict[str, Any]], force: bool) -> Any:
    probes = n1.request("operator", "promote", attempt="op7", force=force, operator="t", reason="r")
    round_id = probes[0]["body"]["round"]
    written: list[dict[str, Any]] = []
    for peer, answer in answers.items():
        written += n1.request(peer, "probe_ok", **{**answer, "round": round_id})
    return n1.reply(written, "promote_ok"), n1.events(written)


def test_an_active_primary_is_never_overridden_even_forced(tmp_path: Path) -> None:
    """P6-A1a: force never overrides a primary observed Active."""
    n1 = Session(tmp_path / "n1", "n1")
    answers = {
        "n0": _probe_answer("", "Primary", True, []),
        "n2": _probe_answer("", "Replica", False, []),
    }
    outcome, _ = _promote_with_answers(n1, answers, force=True)
    assert outcome["reason"] == "force_cannot_override_active_primary"


def test_a_fenced_old_primary_that_answers_lets_a_caught_up_replica_take_over(
    tmp_path: Path,
) -> None:
    """Every peer answered, the old primary is fenced and its WAL end is the bound: allowed;
    the candidate's marker is durable at epoch 2 before it admits writes (P6-A2, P6-A3)."""
    n1 = Session(tmp_path / "n1", "n1")
    answers = {
        "n0": _probe_answer("", "Primary", False, []),
        "n2": _probe_answer("", "Replica", False, []),
    }
    outcome, events = _promote_with_answers(n1, answers, force=False)
    assert (outcome["outcome"], outcome["epoch"]) == ("succeeded", 2)
    kinds = [e["kind"] for e in events]
    assert kinds.index("marker") < max(
        i for i, e in enumerate(events) if e.get("event") == "complete"
    )
    written = n1.request("c0", "write", value="v")
    assert n1.reply(written, "write_ok")["epoch"] == 2


def test_serve_speaks_json_lines_and_ignores_a_malformed_line(tmp_path: Path) -> None:
    init = {
        "src": "harness",
        "dest": "n0",
        "body": {
            "type": "init",
            "msg_id": 1,
            "node_id": "n0",
            "node_ids": NAMES,
            "initial_primary": "n0",
            "mode": "async",
            "data_dir": str(tmp_path / "n0"),
            "incarnation": 0,
            "protocol": 1,
        },
    }
    tick = {"src": "harness", "dest": "n0", "body": {"type": "tick", "msg_id": 2, "time": 1}}
    stdin = io.StringIO("\n".join([json.dumps(init), "{not json", json.dumps(tick)]) + "\n")
    stdout = io.StringIO()
    assert serve(stdin, stdout) == 0
    kinds = [json.loads(line)["body"]["type"] for line in stdout.getvalue().splitlines()]
    assert kinds[0] == "init_ok" and kinds[-1] == "tick_ok"
    assert kinds.count("replicate") == 2  # the primary's state, to each peer
