"""The write-ahead log: epoch-tagged records, appended, synced, recovered.

Nothing acknowledged is lost (P6-S1): a write is acknowledged only after
:meth:`Wal.sync` returned for a WAL holding it; every acknowledged record
survives every crash at its LSN; an unacknowledged record appears whole or
not at all; epochs never go backwards on disk.

Record layout (big-endian; 28 bytes of overhead)::

    magic u16 (0xBA7A) | version u8 (1) | kind u8 (0) | payload length u32 |
    lsn u64 | epoch u64 | payload | crc32 u32 over every byte before it

LSNs are 1, 2, 3 ... with no gap.

The synced end is durable on its own. A torn last record (an append that
never completed) and a bit flip in a last record that was synced and
acknowledged look the same in the WAL. So, as PostgreSQL's control file
records where its WAL is known good, every :meth:`Wal.sync` that makes new
records durable then appends a *synced-end slot* -- the LSN and byte end now
durable -- to the WAL's companion file ``<wal>.synced`` and fsyncs it, before
it returns (before anything is acknowledged). Slot layout (24 bytes)::

    magic u16 (0xBA7C) | version u8 (1) | reserved u8 | lsn u64 | byte end u64 | crc32 u32

The last valid slot is the synced end. A torn slot at the file's end is an
append whose fsync never returned (that sync acknowledged nothing) and is
ignored; a bad slot *followed by* a valid one is corruption.

Recovery (:meth:`Wal.open`) reads the synced end, then scans the WAL from the
start:

* a bad or missing record at or before the synced end -- a record that was
  synced and may have been acknowledged -- is :class:`~baton.errors.WalCorruption`
  naming the file, offset, LSN and the synced end: the node halts; nothing is
  cut (fail closed);
* past the synced end, a bad or incomplete record with *no valid record after
  it* is a torn tail: it was never acknowledged, so it is cut off, the cut
  made durable, and reported (bytes and records dropped) in the
  :class:`RecoveryReport`;
* a bad record *followed by* a valid one, or a checksum-valid record whose
  LSN, epoch or format is wrong, is corruption too.

A missing ``<wal>.synced`` on a WAL that exists is WalMissing (fail closed):
which records were acknowledged could not be told. Known limit: a bit flip in
the *last* slot of ``<wal>.synced`` looks like a torn slot, so the synced end
falls back to the slot before it; only a second, coinciding corruption of a
WAL record between the two ends would then be cut rather than refused.
Recovery then records the end it read back as synced (those records are
durable now, and a restarted primary may acknowledge them). The file grows by
one slot per sync that made new records durable; recovery compacts it to one
slot (atomically, by rename) once it holds more than
:data:`COMPACT_AFTER_SLOTS`.

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

__all__ = [
    "RECORD_OVERHEAD",
    "RecoveryReport",
    "SyncedEnd",
    "Wal",
    "WalRecord",
    "encode_record",
    "encode_synced_slot",
    "synced_end_path",
]

WAL_MAGIC = 0xBA7A
WAL_VERSION = 1
KIND_DATA = 0
MAX_PAYLOAD = 1 << 20
_HEADER = struct.Struct(">HBBIQQ")
_CRC = struct.Struct(">I")
RECORD_OVERHEAD = _HEADER.size + _CRC.size

SYNCED_SUFFIX = ".synced"
SYNCED_MAGIC = 0xBA7C
SYNCED_VERSION = 1
_SLOT_BODY = struct.Struct(">HBBQQ")
SLOT_SIZE = _SLOT_BODY.size + _CRC.size
COMPACT_AFTER_SLOTS = 4096


def synced_end_path(wal_name: str) -> str:
    """The companion file recording the WAL's durable synced end."""
    return wal_name + SYNCED_SUFFIX


def encode_synced_slot(lsn: int, end: int) -> bytes:
    """One synced-end slot: LSN and byte end durable in the WAL, CRC32 over both."""
    body = _SLOT_BODY.pack(SYNCED_MAGIC, SYNCED_VERSION, 0, lsn, end)
    return body + _CRC.pack(zlib.crc32(body))


@dataclass(frozen=True)
class SyncedEnd:
    """What ``<wal>.synced`` says: records 1..lsn (bytes 0..end) were synced."""

    lsn: int
    end: int
    slots: int
    torn_slot: bool = False


def _slot_at(data: bytes, pos: int) -> tuple[int, int] | None:
    if len(data) - pos < SLOT_SIZE:
        return None
    magic, version, _, lsn, end = _SLOT_BODY.unpack_from(data, pos)
    (stored,) = _CRC.unpack_from(data, pos + _SLOT_BODY.size)
    if magic != SYNCED_MAGIC or stored != zlib.crc32(data[pos : pos + _SLOT_BODY.size]):
        return None
    if version != SYNCED_VERSION:
        return None
    return lsn, end


def read_synced_end(disk: Disk, wal_name: str) -> SyncedEnd:
    """The last valid slot of ``<wal>.synced`` (0, 0 when it holds none yet)."""
    path = synced_end_path(wal_name)
    data = disk.read(path)
    if data is None:
        raise WalMissing(
            path, "the WAL's synced-end file is missing: which records were synced is unknown"
        )
    found = (0, 0)
    slots = 0
    for pos in range(0, len(data), SLOT_SIZE):
        slot = _slot_at(data, pos)
        if slot is None:
            later = [p for p in range(pos + SLOT_SIZE, len(data), SLOT_SIZE) if _slot_at(data, p)]
            if later:
                raise WalCorruption(
                    path,
                    f"synced-end slot at offset {pos} is corrupt and a valid slot follows at "
                    f"offset {later[0]}: the synced end cannot be trusted",
                    offset=pos,
                )
            return SyncedEnd(found[0], found[1], slots, torn_slot=True)
        found = slot
        slots += 1
    return SyncedEnd(found[0], found[1], slots)


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


def _record_recovered_end(disk: Disk, name: str, synced: SyncedEnd, lsn: int, end: int) -> None:
    """After recovery every record read back is durable and the node acts on it (a
    restarted primary may acknowledge it): record it as synced, so it too is refused,
    never cut, if it is damaged later. A torn slot is cut first (slots stay aligned).
    """
    path = synced_end_path(name)
    if synced.slots > COMPACT_AFTER_SLOTS:
        from baton.identity import write_durably  # identity builds on this module

        write_durably(disk, path, encode_synced_slot(lsn, end))
        return
    if lsn == synced.lsn and not synced.torn_slot:
        return
    if synced.torn_slot:
        disk.truncate(path, synced.slots * SLOT_SIZE)
    if lsn != synced.lsn:
        disk.append(path, encode_synced_slot(lsn, end))
    disk.fsync(path)


class Wal:
    """An open WAL. Appends are volatile until :meth:`sync` returns (then acknowledge)."""

    def __init__(
        self,
        disk: Disk,
        name: str,
        records: list[WalRecord],
        ends: list[int],
        recorded_lsn: int = 0,
    ) -> None:
        self._disk = disk
        self.name = name
        self._records = records
        self._ends = ends  # byte offset just past each record
        self._synced_lsn = len(records)
        # The synced end <wal>.synced holds now: sync() records a new one when it grows.
        self._recorded_lsn = recorded_lsn
        self._poisoned: str | None = None

    # -- opening
    @classmethod
    def create(cls, disk: Disk, name: str) -> Wal:
        """Create an empty WAL durably: its directory entry is synced.

        No fsync of the files: they hold no data yet (the fsync-mutant test
        showed that fsync could not matter under either persistence model). An
        empty ``<wal>.synced`` says nothing was synced yet.
        """
        disk.write_file(synced_end_path(name), b"")
        disk.write_file(name, b"")
        disk.fsync_dir(parent_dir(name))
        return cls(disk, name, [], [])

    @classmethod
    def open(cls, disk: Disk, name: str) -> tuple[Wal, RecoveryReport]:
        """Read the WAL back; cut and report a torn tail; refuse corruption before it."""
        data = disk.read(name)
        if data is None:
            raise WalMissing(name, "WAL file is missing")
        synced = read_synced_end(disk, name)
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
            if lsn <= synced.lsn:
                raise WalCorruption(
                    name,
                    f"record at offset {pos} (LSN {lsn}): {parsed.reason}; records up to LSN "
                    f"{synced.lsn} were synced (and may be acknowledged), so this is corruption, "
                    "not a torn tail: refusing to cut it",
                    offset=pos,
                    lsn=lsn,
                )
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
        if len(records) < synced.lsn or (synced.lsn and ends[synced.lsn - 1] != synced.end):
            have = ends[-1] if ends else 0
            raise WalCorruption(
                name,
                f"the WAL holds {len(records)} records ({have} bytes), but records up to LSN "
                f"{synced.lsn} ({synced.end} bytes) were synced: synced records are missing",
                offset=have,
                lsn=len(records) + 1,
            )
        # What was read back may sit only in the page cache (the process died, the
        # machine did not): make it durable before calling it the durable end --
        # a promotion decision may rest on it (P6-S1). An empty file read back
        # claims nothing, so there is nothing to make durable.
        if data:
            disk.fsync(name)
        _record_recovered_end(disk, name, synced, len(records), ends[-1] if ends else 0)
        return cls(disk, name, records, ends, len(records)), cut

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
        self._record_synced_end()
        self._synced_lsn = self.end_lsn
        return self._synced_lsn

    def _record_synced_end(self) -> None:
        """Make the new synced end durable in ``<wal>.synced`` (before any acknowledgement).

        Written after the WAL's fsync returned, so the slot never claims more than
        is durable; a crash before this completes leaves the previous synced end,
        and the records past it count as a tail that was never acknowledged.
        """
        lsn = self.end_lsn
        if lsn == self._recorded_lsn:
            return
        path = synced_end_path(self.name)
        end = self._ends[lsn - 1] if lsn else 0
        failpoints.hit("wal.synced_end")
        try:
            self._disk.append(path, encode_synced_slot(lsn, end))
            self._disk.fsync(path)
        except DiskFault as exc:
            self._poisoned = f"recording the synced end failed: {exc.reason}"
            raise
        self._recorded_lsn = lsn

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
            if lsn < self._recorded_lsn:
                # Lower the synced end first: a crash between the two writes then leaves
                # whole records past the synced end (kept), never a synced end past the
                # WAL's end (which recovery would refuse as lost records).
                path = synced_end_path(self.name)
                self._disk.append(path, encode_synced_slot(lsn, size))
                self._disk.fsync(path)
                self._recorded_lsn = lsn
            self._disk.truncate(self.name, size)
            self._disk.fsync(self.name)
        except DiskFault as exc:
            self._poisoned = f"truncate failed: {exc.reason}"
            raise
        del self._records[lsn:]
        del self._ends[lsn:]
        # The fsync above made the file durable exactly up to ``lsn``.
        self._synced_lsn = lsn
