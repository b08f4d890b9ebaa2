"""The WAL on a real directory: append/sync/reopen, torn tails, corruption, every bit
flip and truncation of each record class, epochs, truncate_after, poisoning, and
the durable synced end (``<wal>.synced``) that tells a torn tail from a damaged
synced record.

Covers P6-S1 (acknowledged = synced records survive at their LSN, and a damaged
or missing synced record is refused, never cut), P6-S2 (no gap or reordering:
LSNs 1, 2, 3 ...), P6-A3 (epochs never go backwards on disk), and fsyncgate (a
failed fsync poisons the handle).
"""

from __future__ import annotations

import errno
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from baton import failpoints
from baton.errors import DiskFault, ProtocolError, WalCorruption, WalMissing
from baton.storage import Disk, FaultPlan, FaultyDisk, PosixDisk, SimDisk
from baton.wal import (
    COMPACT_AFTER_SLOTS,
    RECORD_OVERHEAD,
    SLOT_SIZE,
    Wal,
    encode_record,
    encode_synced_slot,
    read_synced_end,
    synced_end_path,
)

NAME = "wal"
PAYLOADS = (b"first", b"second!", b"third..")


@pytest.fixture
def disk(tmp_path: Path) -> PosixDisk:
    return PosixDisk(tmp_path)


def _three_records(disk: Disk, synced: int = 3) -> bytes:
    """Three records in the WAL; the first ``synced`` of them synced (acknowledgeable)."""
    wal = Wal.create(disk, NAME)
    for lsn, (epoch, payload) in enumerate(zip((1, 1, 2), PAYLOADS, strict=True), start=1):
        wal.append(epoch, payload)
        if lsn == synced:
            wal.sync()
    data = disk.read(NAME)
    assert data is not None
    return data


def test_append_sync_reopen(disk: PosixDisk) -> None:
    """P6-S1: synced records come back at their LSNs with their epochs and payloads."""
    wal = Wal.create(disk, NAME)
    assert wal.append(1, b"a") == 1
    assert wal.append(1, b"") == 2
    assert (wal.end_lsn, wal.synced_lsn) == (2, 0)  # appended, not yet acknowledgeable
    assert wal.sync() == 2
    reopened, report = Wal.open(disk, NAME)
    assert report.clean and report.end_lsn == 2
    assert [(r.lsn, r.epoch, r.payload) for r in reopened.entries()] == [(1, 1, b"a"), (2, 1, b"")]
    assert reopened.synced_lsn == 2
    assert reopened.append(3, b"c") == 3


def test_missing_wal_is_an_error(disk: PosixDisk) -> None:
    """A WAL that vanished is WalMissing, never an empty fresh log."""
    with pytest.raises(WalMissing):
        Wal.open(disk, NAME)


def _record_spans(data: bytes) -> list[tuple[int, int]]:
    spans, pos = [], 0
    for payload in PAYLOADS:
        end = pos + RECORD_OVERHEAD + len(payload)
        spans.append((pos, end))
        pos = end
    assert pos == len(data)
    return spans


def _region(offset_in_record: int, record_len: int) -> str:
    if offset_in_record < RECORD_OVERHEAD - 4:
        return "header"
    if offset_in_record >= record_len - 4:
        return "checksum"
    return "body"


@pytest.mark.parametrize("synced", [3, 2], ids=["all-synced", "last-unsynced"])
def test_every_bit_flip_of_every_record_is_rejected_or_cut(
    synced: int, record_property: Callable[[str, object], None]
) -> None:
    """P6-S1: a flipped bit in a synced record -- or in any record followed by a valid
    one -- is WalCorruption naming the file, offset, LSN and reason, and nothing is
    cut; only in a last record past the synced end (never acknowledged) is it a torn
    tail, cut and reported. On the simulated disk (each cut is fsynced: seconds on a
    real disk over 824 flips; the real-disk path is the same code)."""
    disk = SimDisk()
    good = _three_records(disk, synced)
    spans = _record_spans(good)
    tally: Counter[str] = Counter()
    for index, (start, end) in enumerate(spans):
        for bit in range(start * 8, end * 8):
            flipped = bytearray(good)
            flipped[bit // 8] ^= 1 << (bit % 8)
            disk.write_file(NAME, bytes(flipped))
            region = _region(bit // 8 - start, end - start)
            if index < len(spans) - 1 or index < synced:
                with pytest.raises(WalCorruption) as caught:
                    Wal.open(disk, NAME)
                exc = caught.value
                assert (exc.path, exc.offset, exc.lsn) == (NAME, start, index + 1), str(exc)
                assert str(exc).startswith(f"{NAME}: record at offset {start} (LSN {index + 1}): ")
                assert disk.read(NAME) == bytes(flipped)  # fail closed: nothing was cut
                tally[f"{region}: WalCorruption"] += 1
            else:
                wal, report = Wal.open(disk, NAME)
                assert [r.payload for r in wal.entries()] == list(PAYLOADS[:-1])
                assert (report.truncated_at, report.records_dropped) == (start, 1)
                assert report.bytes_dropped == end - start and report.reason
                assert disk.read(NAME) == good[:start]  # the cut is on disk
                tally[f"{region}: torn tail cut"] += 1
    flips = len(good) * 8
    assert sum(tally.values()) == flips
    for region in ("header", "body", "checksum"):
        assert tally[f"{region}: WalCorruption"] > 0
        assert (tally[f"{region}: torn tail cut"] > 0) == (synced < 3)
    record_property(
        "durability",
        f"WAL bit flips ({synced} of 3 records synced) handled {sum(tally.values())}/{flips} "
        f"({', '.join(f'{k} {v}' for k, v in sorted(tally.items()))})",
    )


@pytest.mark.parametrize("synced", [3, 2], ids=["all-synced", "last-unsynced"])
def test_every_truncation_length_is_refused_or_cut_to_the_last_whole_record(
    synced: int, record_property: Callable[[str, object], None]
) -> None:
    """P6-S1: a prefix of the file that lacks part of a synced record is refused
    (WalCorruption: synced records missing); past the synced end, a prefix recovers
    exactly the whole records in it, a partial last record cut and reported."""
    disk = SimDisk()
    good = _three_records(disk, synced)
    ends = [end for _, end in _record_spans(good)]
    torn = refused = 0
    for length in range(len(good)):
        disk.write_file(NAME, good[:length])
        if length < ends[synced - 1]:
            with pytest.raises(WalCorruption, match=f"LSN {synced}"):
                Wal.open(disk, NAME)
            refused += 1
            continue
        wal, report = Wal.open(disk, NAME)
        whole = sum(1 for end in ends if end <= length)
        boundary = [0, *ends][whole]
        assert wal.end_lsn == whole
        assert report.bytes_dropped == length - boundary
        assert report.clean == (length == boundary)
        torn += not report.clean
    assert refused == ends[synced - 1] and (torn > 0) == (synced < 3)
    record_property(
        "durability",
        f"WAL truncations ({synced} of 3 records synced) handled {len(good)}/{len(good)} "
        f"({refused} refused: synced records missing; {torn} torn tails cut and reported)",
    )


@pytest.mark.parametrize("extra", [1, 5, RECORD_OVERHEAD, 40])
def test_zeros_after_the_last_record_are_a_torn_tail(disk: PosixDisk, extra: int) -> None:
    """Tail class: an append whose size landed before its data (zeros) is cut, reported."""
    good = _three_records(disk)
    disk.write_file(NAME, good + bytes(extra))
    wal, report = Wal.open(disk, NAME)
    assert wal.end_lsn == 3 and report.bytes_dropped == extra
    assert "bad magic" in (report.reason or "") or "incomplete" in (report.reason or "")
    assert "torn tail" in report.describe()


def test_checksum_valid_record_out_of_sequence_is_corruption_even_at_the_tail(
    disk: PosixDisk,
) -> None:
    """P6-S2: a whole record with the wrong LSN was written so, not torn: halt."""
    good = _three_records(disk)
    disk.write_file(NAME, good + encode_record(5, 2, b"gap"))
    with pytest.raises(WalCorruption, match=r"LSN 5 out of sequence \(expected 4\)"):
        Wal.open(disk, NAME)


def test_epoch_going_backwards_on_disk_is_corruption(disk: PosixDisk) -> None:
    """P6-A3: epochs never go backwards on disk."""
    good = _three_records(disk)
    disk.write_file(NAME, good + encode_record(4, 1, b"old epoch"))
    with pytest.raises(WalCorruption, match="epoch 1 goes backwards"):
        Wal.open(disk, NAME)


def test_append_in_an_older_epoch_is_refused(disk: PosixDisk) -> None:
    """P6-A3: the WAL refuses to write an epoch below its last one."""
    wal = Wal.create(disk, NAME)
    wal.append(3, b"x")
    with pytest.raises(ProtocolError, match="epochs never go backwards"):
        wal.append(2, b"y")


def test_truncate_after_is_durable_and_lsns_continue(disk: PosixDisk) -> None:
    """P6-S2: cutting a suffix leaves no gap: the next record takes the next LSN."""
    _three_records(disk)
    wal, _ = Wal.open(disk, NAME)
    wal.truncate_after(1)
    assert wal.append(2, b"new") == 2
    wal.sync()
    reopened, report = Wal.open(disk, NAME)
    assert report.clean
    assert [(r.lsn, r.payload) for r in reopened.entries()] == [(1, b"first"), (2, b"new")]
    with pytest.raises(ProtocolError):
        reopened.truncate_after(7)


def test_failed_fsync_poisons_the_handle(disk: PosixDisk) -> None:
    """After a failed fsync nothing is acknowledged and no retry
    through the same handle is trusted; reopening from disk is the only way on."""
    Wal.create(disk, NAME)
    faulty = FaultyDisk(disk, FaultPlan(nth=1, errno=errno.EIO, ops=frozenset({"fsync"})))
    wal, _ = Wal.open(faulty, NAME)
    wal.append(1, b"unacknowledged")
    with pytest.raises(DiskFault):
        wal.sync()
    assert wal.synced_lsn == 0
    with pytest.raises(DiskFault, match="reopen from disk"):
        wal.sync()
    with pytest.raises(DiskFault, match="reopen from disk"):
        wal.append(1, b"more")


def test_append_and_sync_hit_their_failpoints(disk: PosixDisk) -> None:
    """Wal.append before the write, wal.fsync before the fsync, wal.synced_end before
    the synced end is recorded (a sync with nothing new records nothing)."""
    wal = Wal.create(disk, NAME)
    hits: list[str] = []
    with failpoints.installed(hits.append):
        wal.append(1, b"x")
        wal.sync()
        wal.sync()
    assert hits == ["wal.append", "wal.fsync", "wal.synced_end", "wal.fsync"]


# --- the durable synced end ---------------------------------------------------------------


def test_sync_records_the_synced_end_before_returning(disk: PosixDisk) -> None:
    wal = Wal.create(disk, NAME)
    assert read_synced_end(disk, NAME).lsn == 0
    wal.append(1, b"a")
    assert read_synced_end(disk, NAME).lsn == 0  # appended: not synced, not recorded
    wal.append(1, b"bb")
    wal.sync()
    end = read_synced_end(disk, NAME)
    assert (end.lsn, end.end, end.slots) == (2, 2 * RECORD_OVERHEAD + 3, 1)


def test_a_synced_last_record_that_is_damaged_is_refused_not_cut(disk: PosixDisk) -> None:
    """The case a WAL alone cannot tell from a torn tail: the synced end tells."""
    good = _three_records(disk)
    damaged = good[:-1] + bytes([good[-1] ^ 0x01])
    disk.write_file(NAME, damaged)
    with pytest.raises(WalCorruption, match=r"LSN 3.*synced.*refusing to cut") as caught:
        Wal.open(disk, NAME)
    assert caught.value.lsn == 3 and disk.read(NAME) == damaged


def test_missing_synced_end_file_is_walmissing(disk: PosixDisk) -> None:
    _three_records(disk)
    disk.remove(synced_end_path(NAME))
    with pytest.raises(WalMissing, match="synced-end file is missing"):
        Wal.open(disk, NAME)


def test_torn_last_slot_falls_back_to_the_slot_before(disk: PosixDisk) -> None:
    """A slot append whose fsync never returned acknowledged nothing: ignored."""
    wal = Wal.create(disk, NAME)
    wal.append(1, b"a")
    wal.sync()
    wal.append(1, b"b")
    disk.append(synced_end_path(NAME), encode_synced_slot(2, 999)[: SLOT_SIZE // 2])
    end = read_synced_end(disk, NAME)
    assert (end.lsn, end.slots, end.torn_slot) == (1, 1, True)
    reopened, report = Wal.open(disk, NAME)
    assert reopened.end_lsn == 2 and report.clean


def test_a_corrupt_slot_followed_by_a_valid_one_is_corruption(disk: PosixDisk) -> None:
    wal = Wal.create(disk, NAME)
    for payload in (b"a", b"b"):
        wal.append(1, payload)
        wal.sync()
    path = synced_end_path(NAME)
    data = bytearray(disk.read(path) or b"")
    data[5] ^= 0x10
    disk.write_file(path, bytes(data))
    with pytest.raises(WalCorruption, match="synced end cannot be trusted"):
        Wal.open(disk, NAME)


def test_a_synced_end_past_the_wal_is_refused(disk: PosixDisk) -> None:
    good = _three_records(disk)
    disk.write_file(NAME, good[: _record_spans(good)[1][1]])  # whole records 1..2 only
    with pytest.raises(WalCorruption, match="synced records are missing"):
        Wal.open(disk, NAME)


def test_truncate_after_lowers_the_synced_end_first(disk: PosixDisk) -> None:
    _three_records(disk)
    wal, _ = Wal.open(disk, NAME)
    hits: list[str] = []
    wal.truncate_after(1)
    assert read_synced_end(disk, NAME).lsn == 1
    with failpoints.installed(hits.append):
        wal.sync()  # nothing new since the cut: nothing recorded
    assert hits == ["wal.fsync"]


def test_recovery_compacts_a_long_synced_end_file() -> None:
    disk = SimDisk()
    wal = Wal.create(disk, NAME)
    wal.append(1, b"x")
    wal.sync()
    path = synced_end_path(NAME)
    slot = disk.read(path)
    assert slot is not None
    disk.write_file(path, slot * (COMPACT_AFTER_SLOTS + 1))
    Wal.open(disk, NAME)
    assert disk.read(path) == slot
    assert read_synced_end(disk.crash(), NAME).lsn == 1  # durably
