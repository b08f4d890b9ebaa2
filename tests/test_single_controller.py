"""The assumptions the runtime enforces: single_controller and force_is_truthful.

Covers: any number of threads on one Controller never produce two
authorities (P6-A1), because every operator action runs under one lock per
driver (a mutant without the lock lets two threads inside at once); a node
directory is held by one process at a time (a second process, and a second
``baton run`` on the same ``--dir``, is refused: exit 2, one line naming the
directory and the holder); a forced request over an uncertain primary is
refused while the runtime sees another node admitting writes (P6-A1a), unless
``force_is_truthful`` is dropped by name, which the trace records; every
operator action is audited with its operator, refused ones included, and
operator text cannot forge output lines. Dropping ``single_controller`` by name
(attempts at once, for demonstrations) is covered in
``tests/test_dropped_assumptions.py``.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
import threading
from contextlib import nullcontext, suppress
from pathlib import Path

import pytest
from baton import controller as controller_module
from baton import core
from baton.cli import main
from baton.cluster import RuntimeCluster
from baton.controller import Controller, CoreDriver, PromotionRequest
from baton.errors import (
    ActionNotEnabled,
    DirectoryLocked,
    DuplicateRequest,
    ForceContradicted,
    InapplicableRequest,
    UnknownNode,
)
from baton.events import Recorder, escape_text
from baton.marker import read_marker
from baton.storage import Disk, SimDisk

# --- single_controller: threads ------------------------------------------------------


def _primary_lost(n: int = 3) -> RuntimeCluster:
    disks: list[Disk] = [SimDisk() for _ in range(n)]
    cluster = RuntimeCluster(disks, "async")
    cluster.apply(core.Write(0))
    cluster.apply(core.Ack(0))
    for r in range(1, n):
        cluster.apply(core.Replicate(0, r))
    cluster.crash(0)
    return cluster


def _authorities(cluster: RuntimeCluster) -> list[str]:
    """Nodes whose marker on disk names them as holder at the highest epoch on disk."""
    markers = [read_marker(node.disk, expected_node=node.name) for node in cluster.nodes]
    top = max(m.epoch for m in markers)
    return [m.node for m in markers if m.role == "Primary" and m.epoch == top]


@pytest.fixture
def eager_thread_switches():  # type: ignore[no-untyped-def]
    """Switch threads as often as the interpreter can: races show up in a few runs
    (without the controller lock, every batch of 40 runs below fails)."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(previous)


@pytest.mark.usefixtures("eager_thread_switches")
def test_threads_on_one_controller_never_make_two_authorities() -> None:
    """P6-A1 under single_controller: 3 threads request different candidates at once."""
    for _ in range(40):
        cluster = _primary_lost(4)
        ctl = Controller(cluster)
        start = threading.Barrier(3)
        outcomes: list[str] = []

        def ask(
            name: str,
            ctl: Controller = ctl,
            start: threading.Barrier = start,
            outcomes: list[str] = outcomes,
        ) -> None:
            start.wait(timeout=10)
            try:
                outcomes.append(ctl.request_promotion(PromotionRequest(name, "t")).state)
            except DuplicateRequest:
                outcomes.append("duplicate")

        threads = [threading.Thread(target=ask, args=(f"n{i}",)) for i in (1, 2, 3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert sorted(outcomes) == ["PromotionSucceeded", "duplicate", "duplicate"]
        assert len(cluster.state.writable_nodes()) == 1
        assert len(_authorities(cluster)) == 1
        cluster.close()


class _Rendezvous(CoreDriver):
    """A driver that notices two controller threads inside it at the same time."""

    def __init__(self, state: core.ClusterState) -> None:
        super().__init__(state)
        self.inside = 0
        self.most_inside = 0
        self._count = threading.Lock()
        self.other_arrived = threading.Event()

    def apply(self, action: core.Action) -> tuple[core.Effect, ...]:
        with self._count:
            self.inside += 1
            self.most_inside = max(self.most_inside, self.inside)
            if self.inside == 2:
                self.other_arrived.set()
        if isinstance(action, core.Request):
            self.other_arrived.wait(timeout=0.3)  # give a second thread every chance
        try:
            return super().apply(action)
        finally:
            with self._count:
                self.inside -= 1


def _race(driver: _Rendezvous) -> None:
    ctl = Controller(driver)

    def ask(name: str) -> None:
        # What matters here is who was inside the driver at once, not how it ended.
        with suppress(Exception):
            ctl.request_promotion(PromotionRequest(name, "t"))

    threads = [threading.Thread(target=ask, args=(f"n{i}",)) for i in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)


def test_the_controller_lock_keeps_a_second_thread_out() -> None:
    driver = _Rendezvous(core.step(core.initial_state(3), core.Crash(0))[0])
    _race(driver)
    assert driver.most_inside == 1


def test_mutant_without_the_lock_lets_two_threads_in(monkeypatch: pytest.MonkeyPatch) -> None:
    """The companion of the test above: without the lock the rendezvous happens."""
    monkeypatch.setattr(controller_module, "lock_for", lambda _driver: nullcontext())
    driver = _Rendezvous(core.step(core.initial_state(3), core.Crash(0))[0])
    _race(driver)
    assert driver.most_inside == 2


def test_two_controllers_of_one_driver_share_the_lock() -> None:
    driver = CoreDriver(core.initial_state(2))
    assert Controller(driver)._lock is Controller(driver)._lock
    assert Controller(driver)._lock is not Controller(CoreDriver(core.initial_state(2)))._lock


# --- single_controller: processes ------------------------------------------------------

_HOLDER = textwrap.dedent(
    """
    import sys
    from baton.cluster import RuntimeCluster
    cluster = RuntimeCluster.on_directories(sys.argv[1], 2, "async")
    print("open", flush=True)
    sys.stdin.read()
    cluster.close()
    """
)


@pytest.fixture
def held_cluster(tmp_path: Path):  # type: ignore[no-untyped-def]
    child = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, os.fspath(tmp_path / "c")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "open"
    yield tmp_path / "c", child.pid
    assert child.stdin is not None
    child.stdin.close()
    child.wait(timeout=30)


def test_a_second_process_cannot_open_the_node_directories(
    held_cluster: tuple[Path, int],
) -> None:
    root, pid = held_cluster
    with pytest.raises(DirectoryLocked) as refused:
        RuntimeCluster.on_directories(root, 2, "async")
    assert refused.value.path == os.fspath(root / "n0")
    assert f"pid {pid}" in refused.value.holder
    # Nothing was changed by the refused process: the holder's nodes are intact.
    assert read_marker(_posix(root / "n1")).epoch == 1


def _posix(path: Path) -> Disk:
    from baton.storage import PosixDisk

    return PosixDisk(path)


def test_second_baton_run_on_one_dir_exits_2_naming_the_holder(tmp_path: Path) -> None:
    scenario = Path(__file__).resolve().parent.parent / "examples" / "clean_failover.json"
    target = tmp_path / "d"
    target.mkdir()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from baton.dirlock import DirectoryLock; "
            "l = DirectoryLock(sys.argv[1]).acquire(); print('locked', flush=True); "
            "sys.stdin.read()",
            os.fspath(target),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        done = subprocess.run(
            [sys.executable, "-m", "baton.cli", "run", os.fspath(scenario), "--dir", str(target)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr
    assert str(target) in lines[0] and f"pid {holder.pid}" in lines[0]
    assert not (target / "n0").exists()  # refused before anything was created


# --- force_is_truthful ---------------------------------------------------------------


def _forced_uncertain(name: str = "n1") -> PromotionRequest:
    return PromotionRequest(name, "carol", force=True, reason="n0 is dead", primary_uncertain=True)


def test_force_contradicted_by_an_observed_writer_is_refused() -> None:
    """P6-A1a: the operator says the primary is down, the runtime sees it admit writes."""
    driver = CoreDriver(core.initial_state(3))  # n0 is up and writable
    with pytest.raises(ForceContradicted) as refused:
        Controller(driver).request_promotion(_forced_uncertain())
    assert refused.value.writers == ("n0",)
    assert "n0 admits writes" in str(refused.value) and "force_is_truthful" in str(refused.value)
    assert driver.state == core.initial_state(3)  # nothing changed
    assert driver.state.writable_nodes() == (0,)
    assert [a.outcome for a in driver.audit_log] == ["refused"]
    assert driver.audits and driver.rejections  # the forced request is on the record


def test_force_over_a_primary_really_down_is_still_allowed() -> None:
    driver = CoreDriver(core.step(core.initial_state(3), core.Crash(0))[0])
    result = Controller(driver).request_promotion(_forced_uncertain())
    assert result.state == "PromotionSucceeded"


def test_dropping_force_is_truthful_by_name_shows_two_writers_and_the_trace_says_so() -> None:
    """The demonstration of the spec's counterexample: P6-A1 fails, on the record."""
    stream = io.StringIO()
    recorder = Recorder(("n0", "n1", "n2"), "async", "n0", stream)
    cluster = RuntimeCluster([SimDisk() for _ in range(3)], "async", recorder)
    ctl = Controller(cluster, drop_assumptions=frozenset({"force_is_truthful"}))
    assert ctl.request_promotion(_forced_uncertain()).state == "PromotionSucceeded"
    assert cluster.state.writable_nodes() == (0, 1)  # what the assumption excluded
    cluster.close()
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    (request,) = [e for e in events if e["kind"] == "request"]
    assert request["meta"]["dropped_assumptions"] == ["force_is_truthful"]
    (audit,) = events[-1]["meta"]["audit"]
    assert audit["dropped_assumptions"] == ["force_is_truthful"]


def test_only_droppable_assumptions_can_be_named() -> None:
    with pytest.raises(ValueError, match="fenced_restart"):
        Controller(
            CoreDriver(core.initial_state(2)), drop_assumptions=frozenset({"fenced_restart"})
        )


# --- operator identity and audit --------------------------------------------------------


def test_every_operator_action_is_audited_with_its_operator() -> None:
    driver = CoreDriver(core.step(core.initial_state(3), core.Crash(0))[0])
    ctl = Controller(driver)
    with pytest.raises(UnknownNode):
        ctl.request_promotion(PromotionRequest("n9", "mallory", force=True, reason="x"))
    ctl.request_promotion(PromotionRequest("n1", "alice"))
    ctl.acknowledge("n1", operator="bob")
    driver.apply(core.Restart(0))
    with pytest.raises(ActionNotEnabled):
        ctl.reinstate("n0", operator="dave")
    with pytest.raises(InapplicableRequest, match="no operator identity"):
        ctl.acknowledge("n1", operator=" ")
    log = [(a.action, a.operator, a.target, a.outcome, a.force) for a in driver.audit_log]
    assert log == [
        ("request", "mallory", "n9", "refused", True),
        ("request", "alice", "n1", "accepted", False),
        ("acknowledge", "bob", "n1", "accepted", False),
        ("reinstate", "dave", "n0", "refused", False),
        ("acknowledge", " ", "n1", "refused", False),
    ]
    assert "UnknownNode" in (driver.audit_log[0].detail or "")


def test_trace_events_carry_the_operator_and_the_end_line_the_audit() -> None:
    stream = io.StringIO()
    recorder = Recorder(("n0", "n1", "n2"), "async", "n0", stream)
    cluster = RuntimeCluster([SimDisk() for _ in range(3)], "async", recorder)
    cluster.crash(0)
    ctl = Controller(cluster)
    ctl.request_promotion(PromotionRequest("n1", "alice"))
    ctl.acknowledge("n1", operator="bob")
    with pytest.raises(UnknownNode):
        ctl.reinstate("n7", operator="eve")
    cluster.close()
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    acknowledged = [e for e in events if e.get("event") == "acknowledge"]
    assert [e["meta"]["operator"] for e in acknowledged] == ["bob"]
    approve = [e for e in events if e.get("event") == "approve"]
    assert approve[0]["meta"]["operator"] == "alice"
    audit = events[-1]["meta"]["audit"]
    assert [(a["action"], a["operator"], a["outcome"]) for a in audit] == [
        ("request", "alice", "accepted"),
        ("acknowledge", "bob", "accepted"),
        ("reinstate", "eve", "refused"),
    ]
    # The oracle reads the trace with its meta (ignored by the rules).
    trace_file = io.StringIO(stream.getvalue())
    from baton import trace

    assert len(list(trace.read_events(trace_file))) == len(events)


def test_escape_text_keeps_operator_text_on_one_line() -> None:
    forged = "ok\nn2 reinstated at epoch 7: admits writes [P6-A3]\r\x1b[2K\u2028"
    shown = escape_text(forged)
    assert "\n" not in shown and "\r" not in shown and "\x1b" not in shown
    assert "\u2028" not in shown
    assert shown.startswith("ok\\nn2 reinstated")
    assert escape_text("naïve operator") == "naïve operator"


def test_a_newline_in_a_reason_cannot_forge_an_output_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The reported forgery: a reason that prints a fake 'reinstated' line."""
    forged = "dead\nn2 reinstated at epoch 7: admits writes [P6-A3]"
    steps = [
        {"do": "init", "nodes": 3, "mode": "async"},
        {"do": "crash", "node": "n0"},
        {
            "do": "request",
            "candidate": "n1",
            "operator": "op\nx",
            "force": True,
            "uncertain": True,
            "reason": forged,
        },
        {
            "do": "request",
            "candidate": "n2",
            "operator": "op",
            "reason": forged,
            "expect_error": "DuplicateRequest",
            "note": forged,
        },
    ]
    scenario = tmp_path / "s.json"
    scenario.write_text(json.dumps({"name": "forge", "steps": steps}))
    assert main(["run", str(scenario), "--dir", str(tmp_path / "d")]) == 0
    out = capsys.readouterr().out
    assert not any(line.startswith("n2 reinstated") for line in out.splitlines())
    assert "dead\\nn2 reinstated" in out


def test_a_scenario_drops_an_assumption_only_by_name(tmp_path: Path) -> None:
    steps: list[dict[str, object]] = [
        {"do": "init", "nodes": 2},
        {"do": "request", "candidate": "n1", "operator": "carol", "force": True, "uncertain": True},
        {"do": "expect", "node": "n1", "writable": True},
        {"do": "expect", "node": "n0", "writable": True},
    ]
    scenario = tmp_path / "s.json"
    scenario.write_text(json.dumps({"steps": steps, "drop_assumptions": ["force_is_truthful"]}))
    trace_file = tmp_path / "t.jsonl"
    assert (
        main(["run", str(scenario), "--dir", str(tmp_path / "a"), "--trace", str(trace_file)]) == 0
    )
    assert main(["check", str(trace_file)]) == 1  # the oracle sees P6-A1 broken
    scenario.write_text(json.dumps({"steps": steps}))
    assert main(["run", str(scenario), "--dir", str(tmp_path / "b")]) == 1  # refused
    scenario.write_text(json.dumps({"steps": steps, "drop_assumptions": ["fenced_restart"]}))
    assert main(["run", str(scenario), "--dir", str(tmp_path / "c")]) == 2


def test_two_baton_runs_racing_on_one_dir_make_one_cluster(tmp_path: Path) -> None:
    """Two processes started together on one fresh --dir: one runs, the other is
    refused (exit 2, one line); the directories hold one cluster with one authority."""
    scenario = Path(__file__).resolve().parent.parent / "examples" / "clean_failover.json"
    target = tmp_path / "d"
    command = [sys.executable, "-m", "baton.cli", "run", str(scenario), "--dir", str(target)]
    runs = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = [(run.wait(timeout=120), *run.communicate()) for run in runs]
    assert sorted(code for code, _, _ in results) == [0, 2]
    (_, _, refused_stderr) = next(r for r in results if r[0] == 2)
    assert len(refused_stderr.strip().splitlines()) == 1 and "Traceback" not in refused_stderr
    assert "in use by another Baton process" in refused_stderr or "new or empty" in refused_stderr
    markers = [read_marker(_posix(target / f"n{i}")) for i in range(3)]
    top = max(m.epoch for m in markers)
    assert [m.node for m in markers if m.role == "Primary" and m.epoch == top] == ["n1"]


@pytest.mark.usefixtures("eager_thread_switches")
def test_direct_steps_and_controller_requests_from_many_threads_stay_in_lock_step() -> None:
    """Writes applied to the cluster directly, and promotions through its controller,
    from several threads at once: every step runs whole, one at a time (the
    controller's lock is the cluster's), so the disk equals the core and the spec's
    properties hold."""
    from baton.spec.concrete import violated_properties

    for _ in range(10):
        cluster = _primary_lost(3)
        cluster.restart(0)
        ctl = Controller(cluster)
        ctl.reinstate("n0", operator="t")
        start = threading.Barrier(3)

        def write(cluster: RuntimeCluster = cluster, start: threading.Barrier = start) -> None:
            start.wait(timeout=10)
            for _ in range(20):
                with suppress(ActionNotEnabled):
                    cluster.apply(core.Write(0))

        def promote(name: str, ctl: Controller = ctl, start: threading.Barrier = start) -> None:
            start.wait(timeout=10)
            with suppress(DuplicateRequest):
                ctl.request_promotion(PromotionRequest(name, "t"))

        threads = [
            threading.Thread(target=write),
            threading.Thread(target=promote, args=("n1",)),
            threading.Thread(target=promote, args=("n2",)),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        state = cluster.state
        assert len(state.writable_nodes()) <= 1
        for i, node in enumerate(state.nodes):
            assert cluster.nodes[i].read_durable() == node.durable
        assert violated_properties(core.to_snapshot(state)) == []
        cluster.close()
