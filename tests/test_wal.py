"""The WAL on a real directory: append/sync/reopen, torn tails, corruption, every bit
flip and truncation of each record class, epochs, truncate_after, poisoning.

Covers RELIABILITY.md plan items 6, 9 and 11 and P6-S1 (acknowledged = synced
records survive at their LSN), P6-S2 (no gap or reordering: LSNs 1, 2, 3 ...),
P6-A3 (epochs never go backwards on disk).
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
from baton.wal import RECORD_OVERHEAD, Wal, encode_record

NAME = "wal"
PAYLOADS = (b"first", b"second!", b"third..")


@pytest.fixture
def disk(tmp_path: Path) -> PosixDisk:
    return PosixDisk(tmp_path)


def _three_records(disk: Disk) -> bytes:
    wal = Wal.create(disk, NAME)
    for epoch, payload in zip((1, 1, 2), PAYLOADS, strict=True):
        wal.append(epoch, payload)
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
    """Plan item 4: a WAL that vanished is WalMissing, never an empty fresh log."""
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


def test_every_bit_flip_of_every_record_is_rejected_or_cut(
    record_property: Callable[[str, object], None],
) -> None:
    """Plan item 9: a flipped bit in a record followed by valid ones is WalCorruption
    naming the file, offset, LSN and reason; in the last record it is a torn tail,
    cut and reported (the documented limit: it cannot be told from a torn write).
    On the simulated disk: each cut is fsynced, which on a real disk costs seconds
    over 824 flips; the real-disk path is the same code, tested in the other tests."""
    disk = SimDisk()
    good = _three_records(disk)
    spans = _record_spans(good)
    tally: Counter[str] = Counter()
    for index, (start, end) in enumerate(spans):
        for bit in range(start * 8, end * 8):
            flipped = bytearray(good)
            flipped[bit // 8] ^= 1 << (bit % 8)
            disk.write_file(NAME, bytes(flipped))
            region = _region(bit // 8 - start, end - start)
            if index < len(spans) - 1:
                with pytest.raises(WalCorruption) as caught:
                    Wal.open(disk, NAME)
                exc = caught.value
                assert (exc.path, exc.offset, exc.lsn) == (NAME, start, index + 1), str(exc)
                assert str(exc).startswith(f"{NAME}: record at offset {start} (LSN {index + 1}): ")
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
        assert tally[f"{region}: WalCorruption"] > 0 and tally[f"{region}: torn tail cut"] > 0
    record_property(
        "durability",
        f"WAL bit flips handled {sum(tally.values())}/{flips} "
        f"({', '.join(f'{k} {v}' for k, v in sorted(tally.items()))})",
    )


def test_every_truncation_length_is_cut_to_the_last_whole_record(
    record_property: Callable[[str, object], None],
) -> None:
    """Plan item 9, P6-S1: any prefix of the file recovers exactly the whole records in it;
    a partial last record is cut and reported, a cut on a boundary is clean."""
    disk = SimDisk()
    good = _three_records(disk)
    ends = [end for _, end in _record_spans(good)]
    torn = 0
    for length in range(len(good)):
        disk.write_file(NAME, good[:length])
        wal, report = Wal.open(disk, NAME)
        whole = sum(1 for end in ends if end <= length)
        boundary = [0, *ends][whole]
        assert wal.end_lsn == whole
        assert report.bytes_dropped == length - boundary
        assert report.clean == (length == boundary)
        torn += not report.clean
    record_property(
        "durability",
        f"WAL truncations handled {len(good)}/{len(good)} ({torn} torn tails cut and reported)",
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
    """Plan item 6 (fsyncgate): after a failed fsync nothing is acknowledged and no retry
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
    """Plan item 8: wal.append before the write, wal.fsync before the fsync."""
    wal = Wal.create(disk, NAME)
    hits: list[str] = []
    with failpoints.installed(hits.append):
        wal.append(1, b"x")
        wal.sync()
    assert hits == ["wal.append", "wal.fsync"]
