"""The storage layer itself: PosixDisk, the SimDisk persistence models, FaultyDisk,
failpoint arming.

Covers : the simulated disk's volatile view
behaves like the real filesystem (a differential test against PosixDisk on a
temporary directory), and each persistence model allows exactly the crash
states it claims -- a directory entry durable only after the parent's fsync,
atomic vs non-atomic rename, appends exposed as zeros or halves, out-of-order
persistence only in the weak model.
"""

from __future__ import annotations

import errno
import tempfile
from pathlib import Path

import pytest
from baton import failpoints
from baton.errors import DiskFault
from baton.storage import (
    CrashState,
    Disk,
    FaultPlan,
    FaultyDisk,
    PersistenceModel,
    PosixDisk,
    SimDisk,
    write_artifact,
)
from hypothesis import given
from hypothesis import strategies as st

JOURNALED = PersistenceModel.JOURNALED
ALICE_WEAK = PersistenceModel.ALICE_WEAK
MODELS = (JOURNALED, ALICE_WEAK)


def _files(states: list[CrashState]) -> set[tuple[tuple[str, bytes], ...]]:
    return {s.files for s in states}


# --- PosixDisk ----------------------------------------------------------------------------


def test_posix_disk_operations(tmp_path: Path) -> None:
    """The real implementation does what the interface says."""
    disk = PosixDisk(tmp_path)
    assert disk.read("f") is None and not disk.exists("f")
    disk.write_file("f", b"abc")
    disk.append("f", b"de")
    disk.fsync("f")
    assert disk.read("f") == b"abcde"
    disk.truncate("f", 2)
    assert disk.read("f") == b"ab"
    disk.makedirs("d/e")
    disk.fsync_dir("d")
    disk.rename("f", "d/g")
    disk.fsync_dir("")
    assert disk.listdir("") == ["d"] and disk.listdir("d") == ["e", "g"]
    disk.remove("d/g")
    assert not disk.exists("d/g") and disk.exists("d/e")


@pytest.mark.parametrize(
    "action",
    [
        lambda d: d.append("missing", b"x"),
        lambda d: d.fsync("missing"),
        lambda d: d.rename("missing", "x"),
        lambda d: d.remove("missing"),
        lambda d: d.fsync_dir("missing"),
        lambda d: d.write_file("no/such/dir/f", b""),
    ],
    ids=["append", "fsync", "rename", "remove", "fsync_dir", "write_file"],
)
def test_failures_are_disk_faults_naming_the_path(tmp_path: Path, action: object) -> None:
    """Every failure is a DiskFault with the path and errno, on both disks."""
    for disk in (PosixDisk(tmp_path), SimDisk()):
        with pytest.raises(DiskFault) as caught:
            action(disk)  # type: ignore[operator]
        assert caught.value.errno == errno.ENOENT and caught.value.path


@pytest.mark.parametrize("bad", ["/etc/passwd", "../x", "a/../../x"])
def test_paths_cannot_leave_the_root(tmp_path: Path, bad: str) -> None:
    """Paths are relative to the node directory; escaping it is refused."""
    with pytest.raises(ValueError):
        PosixDisk(tmp_path).read(bad)


def test_write_artifact_writes_text(tmp_path: Path) -> None:
    """The one exit for non-durable CLI outputs."""
    write_artifact(tmp_path / "report.txt", "hello\n")
    assert (tmp_path / "report.txt").read_text() == "hello\n"


# --- SimDisk agrees with the real filesystem -------------------------------------------------

NAMES = st.sampled_from(["a", "b", "d/c"])
OPS = st.one_of(
    st.tuples(st.just("write_file"), NAMES, st.binary(max_size=6)),
    st.tuples(st.just("append"), NAMES, st.binary(min_size=1, max_size=6)),
    st.tuples(st.just("truncate"), NAMES, st.integers(0, 8)),
    st.tuples(st.just("rename"), NAMES, NAMES),
    st.tuples(st.just("remove"), NAMES, st.none()),
    st.tuples(st.just("fsync"), NAMES, st.none()),
    st.tuples(st.just("makedirs"), st.just("d"), st.none()),
    st.tuples(st.just("fsync_dir"), st.sampled_from(["", "d"]), st.none()),
)


def _apply(disk: Disk, op: tuple[str, str, object]) -> str:
    name, path, arg = op
    try:
        if name in ("write_file", "append", "rename", "truncate"):
            getattr(disk, name)(path, arg)
        else:
            getattr(disk, name)(path)
    except DiskFault:
        return "fault"
    return "ok"


def _view(disk: Disk) -> tuple[object, ...]:
    return (
        {p: disk.read(p) for p in ("a", "b", "d/c") if disk.exists("d") or "/" not in p},
        disk.listdir(""),
        disk.listdir("d") if disk.exists("d") else None,
    )


@given(st.lists(OPS, max_size=12))
def test_simdisk_volatile_view_matches_posix(ops: list[tuple[str, str, object]]) -> None:
    """Before any crash, SimDisk answers every read as the real filesystem
    does, and fails the same operations (differential test on a real temp dir)."""
    with tempfile.TemporaryDirectory() as root:
        real, sim = PosixDisk(root), SimDisk()
        for op in ops:
            if op[0] == "rename" and op[1] == op[2]:
                continue  # rename onto itself: a no-op on POSIX, not worth modelling
            assert _apply(real, op) == _apply(sim, op), op
            assert _view(real) == _view(sim), op


# --- the persistence models -------------------------------------------------------------------


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.value)
def test_new_entry_is_durable_only_after_directory_fsync(model: PersistenceModel) -> None:
    """Fsync of a new file makes its data durable, not its name."""
    disk = SimDisk()
    disk.write_file("f", b"data")
    disk.fsync("f")
    assert _files(disk.crash_states(model)) == {(), (("f", b"data"),)}
    disk.fsync_dir("")
    assert _files(disk.crash_states(model)) == {(("f", b"data"),)}


def _renamed_over() -> SimDisk:
    disk = SimDisk(CrashState(files=(("dst", b"old"),), dirs=()))
    disk.write_file("tmp", b"new")
    disk.fsync("tmp")
    disk.rename("tmp", "dst")
    return disk


def test_rename_is_atomic_under_journaled() -> None:
    """JOURNALED: after a rename over a file, a crash shows the old or the new file --
    never both names, never neither (given the temp file's own entry was durable)."""
    disk = _renamed_over()
    disk.fsync_dir("")  # the temp's creation and the rename both durable
    assert _files(disk.crash_states(JOURNALED)) == {(("dst", b"new"),)}
    disk = SimDisk(CrashState(files=(("dst", b"old"), ("tmp", b"new")), dirs=()))
    disk.rename("tmp", "dst")
    assert _files(disk.crash_states(JOURNALED)) == {
        (("dst", b"old"), ("tmp", b"new")),
        (("dst", b"new"),),
    }


def test_rename_is_not_atomic_under_alice_weak() -> None:
    """ALICE_WEAK: the same rename may leave both names, or neither the old target."""
    disk = SimDisk(CrashState(files=(("dst", b"old"), ("tmp", b"new")), dirs=()))
    disk.rename("tmp", "dst")
    states = _files(disk.crash_states(ALICE_WEAK))
    assert (("dst", b"new"), ("tmp", b"new")) in states  # both names
    assert (("tmp", b"new"),) in states  # the old target gone, the new name not there
    assert () in states  # neither name


def test_unsynced_append_may_expose_zeros_or_half() -> None:
    """JOURNALED: an unsynced append is lost, whole, zeros, or its first half."""
    disk = SimDisk(CrashState(files=(("f", b"ab"),), dirs=()))
    disk.append("f", b"1234")
    assert {dict(s.files)["f"] for s in disk.crash_states(JOURNALED)} == {
        b"ab",
        b"ab1234",
        b"ab\x00\x00\x00\x00",
        b"ab12",
    }


def test_out_of_order_persistence_only_in_the_weak_model() -> None:
    """Two unsynced appends: only ALICE_WEAK may keep the second and not the first."""
    for model, expected in ((JOURNALED, False), (ALICE_WEAK, True)):
        disk = SimDisk(CrashState(files=(("f", b""),), dirs=()))
        disk.append("f", b"AA")
        disk.append("f", b"BB")
        contents = {dict(s.files)["f"] for s in disk.crash_states(model)}
        assert (b"\x00\x00BB" in contents) is expected, model


def test_crash_starts_from_the_chosen_image() -> None:
    """crash(state): volatile == durable == state, nothing pending."""
    disk = SimDisk()
    disk.write_file("f", b"x")
    for state in disk.crash_states(ALICE_WEAK):
        after = disk.crash(state)
        assert after.volatile_state() == after.durable_state() == state
        assert after.pending_count == 0
    assert disk.crash().volatile_state() == disk.durable_state()


# --- FaultyDisk ---------------------------------------------------------------------------------


@pytest.mark.parametrize("forever", [False, True])
def test_faulty_disk_fails_the_nth_operation(forever: bool) -> None:
    """The Nth counted operation fails; then either recovers or keeps failing."""
    disk = FaultyDisk(SimDisk(), FaultPlan(nth=2, errno=errno.EROFS, forever=forever))
    disk.write_file("a", b"1")
    with pytest.raises(DiskFault, match="EROFS: injected fault on write_file") as caught:
        disk.write_file("b", b"2")
    assert caught.value.errno == errno.EROFS and not disk.inner.exists("b")
    if forever:
        with pytest.raises(DiskFault):
            disk.read("a")
    else:
        assert disk.read("a") == b"1"


def test_fault_plan_is_validated() -> None:
    """A plan that cannot fire is refused, not silently ignored."""
    with pytest.raises(ValueError):
        FaultPlan(nth=0)
    with pytest.raises(ValueError):
        FaultPlan(nth=1, ops=frozenset({"fsink"}))


# --- failpoints -------------------------------------------------------------------------------


def test_failpoints_cost_nothing_unless_armed() -> None:
    """Unarmed, hit() returns at once -- even for a name that is not pinned."""
    failpoints.hit("not.a.failpoint")
    with failpoints.installed(lambda name: None), pytest.raises(failpoints.FailpointError):
        failpoints.hit("not.a.failpoint")


@pytest.mark.parametrize("spec", ["nope", "wal.fsync:x", "wal.fsync:0"])
def test_failpoint_env_spec_is_checked(spec: str) -> None:
    """BATON_FAILPOINT with an unknown name or a bad count is an error naming it."""
    with pytest.raises(failpoints.FailpointError, match="BATON_FAILPOINT"):
        failpoints._parse(spec)


def test_partial_fault_leaves_half_the_write() -> None:
    """A failing write may land part of its data before the error."""
    sim = SimDisk(CrashState(files=(("f", b""),), dirs=()))
    disk = FaultyDisk(sim, FaultPlan(nth=1, errno=errno.ENOSPC, partial=True))
    with pytest.raises(DiskFault, match="ENOSPC"):
        disk.append("f", b"abcd")
    assert sim.read("f") == b"ab"
