"""The write-ahead log: epoch-tagged records, appended, synced, recovered.

"Nothing lost" (RELIABILITY.md, item 11; P6-S1): a write is acknowledged only
after :meth:`Wal.sync` returned for a WAL holding it; every acknowledged
record survives every crash at its LSN; an unacknowledged record appears
whole or not at all; epochs never go backwards on disk.

Record layout (big-endian; 28 bytes of overhead)::

    magic u16 (0xBA7A) | version u8 (1) | kind u8 (0) | payload length u32 |
    lsn u64 | epoch u64 | payload | crc32 u32 over every byte before it

LSNs are 1, 2, 3 ... with no gap. Recovery (:meth:`Wal.open`) scans from the
start:

* a bad or incomplete record with *no valid record after it* is a torn tail:
  after a crash one cannot tell whether it was past the last synced point, so
  -- by the rule that only the final record may be torn -- it is cut off, the
  cut made durable, and reported (bytes and records dropped) in the
  :class:`RecoveryReport`. Known limit: a bit flip in the *last* record, even
  a synced one, looks exactly like a torn tail and is reported, not refused.
* a bad record *followed by* a valid one, or a checksum-valid record whose
  LSN, epoch or format is wrong, is :class:`~baton.errors.WalCorruption`
  naming the file, offset, LSN and reason: the node halts.

A failed append or fsync *poisons* the handle (fsyncgate): nothing more is
appended or acknowledged through it; the node reopens the WAL from disk.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from baton import failpoints
from baton.errors import DiskFault, ProtocolError, WalCorruption, WalMissing
from baton.storage import Disk, parent_dir

__all__ = ["RECORD_OVERHEAD", "RecoveryReport", "Wal", "WalRecord", "encode_record"]

WAL_MAGIC = 0xBA7A
WAL_VERSION = 1
KIND_DATA = 0
MAX_PAYLOAD = 1 << 20
_HEADER = struct.Struct(">HBBIQQ")
_CRC = struct.Struct(">I")
RECORD_OVERHEAD = _HEADER.size + _CRC.size


@dataclass(frozen=True)
class WalRecord:
    """One record: its position (LSN), the epoch it was written in, its payload."""

    lsn: int
    epoch: int
    payload: bytes


@dataclass(frozen=True)
class RecoveryReport:
    """What :meth:`Wal.open` found and repaired. ``clean`` when nothing was cut."""

    path: str
    records: int
    end_lsn: int
    truncated_at: int | None = None
    bytes_dropped: int = 0
    records_dropped: int = 0
    reason: str | None = None

    @property
    def clean(self) -> bool:
        return self.bytes_dropped == 0

    def describe(self) -> str:
        if self.clean:
            return f"{self.path}: {self.records} records, end LSN {self.end_lsn}, clean"
        return (
            f"{self.path}: torn tail at offset {self.truncated_at} ({self.reason}); "
            f"dropped {self.bytes_dropped} bytes ({self.records_dropped} partial record); "
            f"kept {self.records} records, end LSN {self.end_lsn}"
        )


def encode_record(lsn: int, epoch: int, payload: bytes) -> bytes:
    """A record's bytes: header, payload, CRC32 over both."""
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    head = _HEADER.pack(WAL_MAGIC, WAL_VERSION, KIND_DATA, len(payload), lsn, epoch) + payload
    return head + _CRC.pack(zlib.crc32(head))


@dataclass(frozen=True)
class _Bad:
    """A record that fails to parse; ``fatal`` when it cannot be a torn write."""

    reason: str
    fatal: bool = False


def _parse_at(
    data: bytes, pos: int, expected_lsn: int | None, min_epoch: int
) -> tuple[WalRecord, int] | _Bad:
    remaining = len(data) - pos
    if remaining < _HEADER.size:
        return _Bad(f"incomplete header: {remaining} of {_HEADER.size} bytes")
    magic, version, kind, length, lsn, epoch = _HEADER.unpack_from(data, pos)
    if magic != WAL_MAGIC:
        return _Bad(f"bad magic 0x{magic:04x} (zeros mean a torn write)")
    if length > MAX_PAYLOAD:
        return _Bad(f"implausible payload length {length}")
    end = pos + _HEADER.size + length + _CRC.size
    if end > len(data):
        return _Bad(f"incomplete record: needs {end - pos} bytes, {remaining} remain")
    (stored,) = _CRC.unpack_from(data, end - _CRC.size)
    computed = zlib.crc32(data[pos : end - _CRC.size])
    if stored != computed:
        return _Bad(f"checksum mismatch (stored {stored:08x}, computed {computed:08x})")
    # The checksum holds: whatever is wrong now was written so, not torn.
    if version != WAL_VERSION or kind != KIND_DATA:
        return _Bad(f"unsupported record version {version} kind {kind}", fatal=True)
    if expected_lsn is not None and lsn != expected_lsn:
        return _Bad(f"LSN {lsn} out of sequence (expected {expected_lsn})", fatal=True)
    if epoch < min_epoch:
        return _Bad(f"epoch {epoch} goes backwards (previous record epoch {min_epoch})", fatal=True)
    payload = data[pos + _HEADER.size : end - _CRC.size]
    return WalRecord(lsn, epoch, payload), end


def _valid_record_after(data: bytes, start: int) -> tuple[int, int] | None:
    """(offset, LSN) of the first checksum-valid record starting at or after ``start``."""
    magic = struct.pack(">H", WAL_MAGIC)
    pos = data.find(magic, start)
    while pos != -1:
        parsed = _parse_at(data, pos, None, 0)
        if not isinstance(parsed, _Bad) or parsed.fatal:
            lsn: int = _HEADER.unpack_from(data, pos)[4]
            return pos, lsn
        pos = data.find(magic, pos + 1)
    return None


class Wal:
    """An open WAL. Appends are volatile until :meth:`sync` returns (then acknowledge)."""

    def __init__(self, disk: Disk, name: str, records: list[WalRecord], ends: list[int]) -> None:
        self._disk = disk
        self.name = name
        self._records = records
        self._ends = ends  # byte offset just past each record
        self._synced_lsn = len(records)
        self._poisoned: str | None = None

    # -- opening
    @classmethod
    def create(cls, disk: Disk, name: str) -> Wal:
        """Create an empty WAL durably: its directory entry is synced.

        No fsync of the file: it holds no data yet (the fsync-mutant test
        showed that fsync could not matter under either persistence model).
        """
        disk.write_file(name, b"")
        disk.fsync_dir(parent_dir(name))
        return cls(disk, name, [], [])

    @classmethod
    def open(cls, disk: Disk, name: str) -> tuple[Wal, RecoveryReport]:
        """Read the WAL back; cut and report a torn tail; refuse corruption before it."""
        data = disk.read(name)
        if data is None:
            raise WalMissing(name, "WAL file is missing")
        records: list[WalRecord] = []
        ends: list[int] = []
        pos = 0
        last_epoch = 0
        while pos < len(data):
            parsed = _parse_at(data, pos, len(records) + 1, last_epoch)
            if not isinstance(parsed, _Bad):
                record, pos = parsed
                records.append(record)
                ends.append(pos)
                last_epoch = record.epoch
                continue
            lsn = len(records) + 1
            if parsed.fatal:
                raise WalCorruption(
                    name,
                    f"record at offset {pos} (LSN {lsn}): {parsed.reason}",
                    offset=pos,
                    lsn=lsn,
                )
            later = _valid_record_after(data, pos + 1)
            if later is not None:
                raise WalCorruption(
                    name,
                    f"record at offset {pos} (LSN {lsn}): {parsed.reason}; a valid record "
                    f"(LSN {later[1]}) follows at offset {later[0]}, so this is not a torn tail",
                    offset=pos,
                    lsn=lsn,
                )
            # Torn tail: cut it (made durable below, before anything is appended after it).
            disk.truncate(name, pos)
            cut = RecoveryReport(
                path=name,
                records=len(records),
                end_lsn=len(records),
                truncated_at=pos,
                bytes_dropped=len(data) - pos,
                records_dropped=1,
                reason=parsed.reason,
            )
            break
        else:
            cut = RecoveryReport(name, len(records), len(records))
        # What was read back may sit only in the page cache (the process died, the
        # machine did not): make it durable before calling it the durable end --
        # a promotion decision may rest on it (P6-S1). An empty file read back
        # claims nothing, so there is nothing to make durable.
        if data:
            disk.fsync(name)
        return cls(disk, name, records, ends), cut

    # -- state
    @property
    def end_lsn(self) -> int:
        """LSN of the last record appended (0 when empty); not necessarily durable."""
        return len(self._records)

    @property
    def synced_lsn(self) -> int:
        """LSN up to which the WAL is known durable: only these may be acknowledged."""
        return self._synced_lsn

    @property
    def last_epoch(self) -> int:
        return self._records[-1].epoch if self._records else 0

    def entries(self) -> tuple[WalRecord, ...]:
        return tuple(self._records)

    def _check_usable(self) -> None:
        if self._poisoned is not None:
            raise DiskFault(
                self.name,
                f"WAL handle unusable after an earlier failure ({self._poisoned}); "
                "reopen from disk",
            )

    # -- writing
    def append(self, epoch: int, payload: bytes) -> int:
        """Append a record; returns its LSN. NOT durable: acknowledge only after sync()."""
        self._check_usable()
        if epoch < self.last_epoch:
            raise ProtocolError(
                f"{self.name}: append in epoch {epoch} after epoch {self.last_epoch} "
                "(epochs never go backwards)"
            )
        lsn = self.end_lsn + 1
        data = encode_record(lsn, epoch, payload)
        failpoints.hit("wal.append")
        try:
            self._disk.append(self.name, data)
        except DiskFault as exc:
            self._poisoned = f"append failed: {exc.reason}"
            raise
        self._records.append(WalRecord(lsn, epoch, payload))
        self._ends.append((self._ends[-1] if self._ends else 0) + len(data))
        return lsn

    def sync(self) -> int:
        """fsync the WAL; returns the LSN now durable. A failure poisons the handle."""
        self._check_usable()
        failpoints.hit("wal.fsync")
        try:
            self._disk.fsync(self.name)
        except DiskFault as exc:
            # fsyncgate: the kernel may have dropped the dirty pages; never retry.
            self._poisoned = f"fsync failed: {exc.reason}"
            raise
        self._synced_lsn = self.end_lsn
        return self._synced_lsn

    def truncate_after(self, lsn: int) -> None:
        """Drop every record after ``lsn`` (a replica cutting an unacknowledged,
        divergent suffix, P6-S2), durably."""
        self._check_usable()
        if not 0 <= lsn <= self.end_lsn:
            raise ProtocolError(
                f"{self.name}: cannot truncate after LSN {lsn} (end {self.end_lsn})"
            )
        size = self._ends[lsn - 1] if lsn else 0
        try:
            self._disk.truncate(self.name, size)
            self._disk.fsync(self.name)
        except DiskFault as exc:
            self._poisoned = f"truncate failed: {exc.reason}"
            raise
        del self._records[lsn:]
        del self._ends[lsn:]
        # The fsync above made the file durable exactly up to ``lsn``.
        self._synced_lsn = lsn
