"""I/O errors: fail the Nth operation with EIO, ENOSPC or EROFS, once or forever.

Covers P6-S1 / P6-F2: a fault is never
swallowed; nothing is acknowledged after a failed fsync, and no retried fsync
is trusted (fsyncgate); whatever the fault, the disk then recovers -- after a
process restart or after any machine crash -- to a state that keeps every
acknowledgement and exactly the old or new marker; faults injected *during*
recovery leave a disk that the next recovery handles the same way.

The faulty disk wraps a :class:`~baton.storage.SimDisk`; a failed ``fsync``
also drops that file's unsynced data from the durable image, as Linux may.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from dataclasses import replace

import pytest
from baton.errors import DiskFault
from baton.identity import initialise_node, recover_node
from baton.marker import write_marker
from baton.storage import FaultPlan, FaultyDisk, PersistenceModel, SimDisk
from baton.wal import Wal, encode_record, encode_synced_slot, synced_end_path
from test_crash_enumeration import (
    FIRST_MARKER,
    HANDED_OVER,
    IDENTITY,
    MODELS,
    Expect,
    judge,
)

ERRNOS = (errno.EIO, errno.ENOSPC, errno.EROFS)
NEVER = 10**9


class Driver:
    """Init, a synced write, a marker write, a synced write -- tracking the promise."""

    def __init__(self, disk: FaultyDisk) -> None:
        self.disk = disk
        self.expect = Expect(initialised=False)
        self.fault: DiskFault | None = None

    def run(self) -> None:
        try:
            self._steps()
        except DiskFault as exc:
            self.fault = exc  # the process stops here and restarts from disk

    def _write(self, wal: Wal, epoch: int, payload: bytes) -> None:
        self.expect = replace(self.expect, written=(*self.expect.written, (epoch, payload)))
        wal.append(epoch, payload)
        wal.sync()
        self.expect = replace(self.expect, acked=wal.end_lsn)  # only now: acknowledge

    def _steps(self) -> None:
        wal = initialise_node(self.disk, IDENTITY, FIRST_MARKER)
        self.expect = replace(self.expect, initialised=True)
        self._write(wal, 1, b"w1")
        self.expect = replace(
            self.expect, markers=frozenset({FIRST_MARKER, HANDED_OVER}), marker_in_flight=True
        )
        write_marker(self.disk, HANDED_OVER)
        self.expect = replace(self.expect, markers=frozenset({HANDED_OVER}), marker_in_flight=False)
        self._write(wal, 2, b"w2")


def _total_ops() -> int:
    disk = FaultyDisk(SimDisk(), FaultPlan(nth=NEVER))
    Driver(disk).run()
    return disk.count


TOTAL_OPS = _total_ops()


def _check_restart_and_crashes(sim: SimDisk, expect: Expect, context: str) -> int:
    """Process restart (live disk) and every machine-crash state must honour ``expect``."""
    checked = 0
    restart = judge(sim.volatile_state(), expect, PersistenceModel.JOURNALED)
    assert restart.violation is None, f"{context}: restart: {restart.violation}"
    for model in MODELS:
        for state in sim.crash_states(model):
            verdict = judge(state, expect, model)
            assert verdict.violation is None, f"{context} [{model.value}]: {verdict.violation}"
            checked += 1
    return checked


@pytest.mark.parametrize("partial", [False, True], ids=["clean", "half-written"])
@pytest.mark.parametrize("forever", [False, True], ids=["once", "forever"])
@pytest.mark.parametrize("code", ERRNOS, ids=[errno.errorcode[c] for c in ERRNOS])
def test_fault_at_every_operation_is_raised_and_recoverable(
    code: int, forever: bool, partial: bool, record_property: Callable[[str, object], None]
) -> None:
    """P6-S1, P6-F2: fail the Nth operation for every N (a failing write
    may first land half its data); the fault reaches the caller, nothing after it is
    acknowledged, and restart or crash recovers a state that keeps every
    acknowledgement and exactly the old or the new marker."""
    states = 0
    for nth in range(1, TOTAL_OPS + 1):
        sim = SimDisk()
        plan = FaultPlan(nth=nth, errno=code, forever=forever, partial=partial)
        disk = FaultyDisk(sim, plan)
        driver = Driver(disk)
        driver.run()
        assert disk.faults_injected > 0
        assert driver.fault is not None, f"fault at operation {nth} was swallowed"
        assert driver.fault.errno == code
        states += _check_restart_and_crashes(sim, driver.expect, f"fault at op {nth}")
    if code == errno.EIO and not forever and not partial:
        record_property(
            "durability",
            f"I/O faults: every one of {TOTAL_OPS} operations failed with EIO/ENOSPC/EROFS, "
            f"once and forever, clean and half-written ({12 * TOTAL_OPS} runs); "
            f"EIO-once-clean alone checked {states} crash states",
        )


def test_a_trusted_fsync_retry_loses_the_write() -> None:
    """fsyncgate, shown on the model: retrying a failed fsync "succeeds" and the data is
    gone -- which is why a failed fsync poisons the WAL handle (test_wal.py)."""
    sim = SimDisk()
    initialise_node(sim, IDENTITY, FIRST_MARKER)
    disk = FaultyDisk(sim, FaultPlan(nth=1, ops=frozenset({"fsync"})))
    disk.append("wal", encode_record(1, 1, b"lost"))
    with pytest.raises(DiskFault):
        disk.fsync("wal")
    disk.fsync("wal")  # the naive retry: no error ...
    assert sim.read("wal") != b""  # ... the page cache still shows the record ...
    node = recover_node(sim.crash())
    assert node.wal.entries() == ()  # ... but a crash proves it was never durable


def _needs_repair() -> SimDisk:
    """A crashed node directory with a torn WAL tail and a leftover temp file."""
    sim = SimDisk()
    initialise_node(sim, IDENTITY, FIRST_MARKER)
    torn = encode_record(2, 1, b"torn")
    kept = encode_record(1, 1, b"kept")
    sim.write_file("wal", kept + torn[:10])
    sim.fsync("wal")
    sim.append(synced_end_path("wal"), encode_synced_slot(1, len(kept)))  # LSN 1 was synced
    sim.fsync(synced_end_path("wal"))
    sim.write_file("marker.tmp.7.7", b"x")
    sim.fsync_dir("")
    return sim.crash()


def _recovery_ops() -> int:
    disk = FaultyDisk(_needs_repair(), FaultPlan(nth=NEVER))
    recover_node(disk)
    return disk.count


@pytest.mark.parametrize("forever", [False, True], ids=["once", "forever"])
@pytest.mark.parametrize("code", ERRNOS, ids=[errno.errorcode[c] for c in ERRNOS])
def test_faults_during_recovery_then_recover_again(code: int, forever: bool) -> None:
    """A fault at any operation of recovery is raised (the node does not
    start on a half-repaired disk), and the next recovery -- after a restart or any
    crash -- yields the same node as an undisturbed recovery."""
    expected = recover_node(_needs_repair())
    assert [r.payload for r in expected.wal.entries()] == [b"kept"]
    expect = Expect(written=((1, b"kept"),), acked=1)
    ops = _recovery_ops()
    for nth in range(1, ops + 1):
        sim = _needs_repair()
        disk = FaultyDisk(sim, FaultPlan(nth=nth, errno=code, forever=forever))
        with pytest.raises(DiskFault):
            recover_node(disk)
        _check_restart_and_crashes(sim, expect, f"recovery fault at op {nth}")
        again = recover_node(sim)
        assert (again.marker, again.wal.entries()) == (expected.marker, expected.wal.entries())


def test_enospc_on_append_leaves_nothing_acknowledged() -> None:
    """Disk full while appending: the append raises, the handle is poisoned,
    and the record never counts as written."""
    sim = SimDisk()
    initialise_node(sim, IDENTITY, FIRST_MARKER)
    disk = FaultyDisk(sim, FaultPlan(nth=1, errno=errno.ENOSPC, ops=frozenset({"append"})))
    wal, _ = Wal.open(disk, "wal")
    with pytest.raises(DiskFault, match="ENOSPC"):
        wal.append(1, b"no room")
    assert (wal.end_lsn, wal.synced_lsn) == (0, 0)
    with pytest.raises(DiskFault, match="reopen from disk"):
        wal.sync()
    assert recover_node(sim).wal.entries() == ()
