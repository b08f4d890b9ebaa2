"""One node's data directory: the thin I/O shell under the pure core.

A node is a directory, reached only through the :class:`baton.storage.Disk`
interface: its identity, its authority marker (``marker``), its WAL (``wal``,
with its durable synced end in ``wal.synced``) and, if it halted, a ``halt``
file naming the reason. This module performs the core's durable effects on
that directory and reads it back; it decides nothing (decisions are
:mod:`baton.core`'s).

* :meth:`Node.recover` is the only way back from a crash: it reads identity,
  marker, halt file and WAL (cutting and reporting a torn tail) and returns
  the core's :class:`~baton.core.Durable`. A corrupt or missing marker and a
  WAL corrupt before its tail refuse to start (fail closed; never a guess).
* The promotion's marker write is performed one file operation at a time
  (:meth:`Node.marker_op`), in the order of :data:`baton.marker.MARKER_STEPS`
  and with the same failpoints as :func:`baton.marker.write_marker`, so a
  crash can land between any two of them and the core, which models each
  operation as its own step, stays in lock-step with the disk.

Replication roles (the validator's vocabulary): ``Uninitialized`` (no
identity), ``Halted(reason)``, ``PrimaryActive`` (the marker names this node
as holder; *writable* is a separate, volatile fact: a restarted primary is
fenced until reinstated), ``ReplicaActive``. ``Disabled`` is part of the
vocabulary but this runtime has no step that disables replication.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from baton import core
from baton.errors import MarkerCorrupt, MarkerMissing, NotInitialised
from baton.identity import (
    TEMP_INFIX,
    NodeIdentity,
    initialise_node,
    recover_node,
    unique_token,
    write_durably,
)
from baton.marker import (
    MARKER_FILE,
    MARKER_STEPS,
    Marker,
    encode_marker,
    perform_marker_step,
    read_marker,
    write_marker,
)
from baton.storage import Disk
from baton.wal import RecoveryReport, Wal

WAL_NAME = "wal"
HALT_FILE = "halt"
ROLES: tuple[str, ...] = ("Disabled", "Uninitialized", "PrimaryActive", "ReplicaActive", "Halted")


def payload_of(entry: core.Entry) -> bytes:
    """A WAL record's payload: the entry's identity, readable in a hex dump."""
    epoch, position = entry
    return f"write epoch={epoch} position={position}".encode()


class _MarkerWrite(NamedTuple):
    """The promotion's marker write in progress: the new marker, its temp file, its bytes.

    A named tuple, not a frozen dataclass: it is built on the promotion's path, where a
    frozen dataclass's field-by-field ``__init__`` costs several times as much.
    """

    marker: Marker
    temp: str
    data: bytes


@dataclass(frozen=True)
class Recovered:
    """What recovery read: the durable state, and what it repaired (to report)."""

    durable: core.Durable
    wal_report: RecoveryReport
    removed_temp_files: tuple[str, ...]


class Node:
    """A node directory: performs durable effects, reads durable state back."""

    def __init__(self, name: str, disk: Disk, cluster_id: str = "baton") -> None:
        self.name = name
        self.disk = disk
        self.cluster_id = cluster_id
        self._wal: Wal | None = None
        self._marker: Marker | None = None
        self._marker_write: _MarkerWrite | None = None

    # --- life cycle of the directory ---

    def initialise(self, holder: str, epoch: int, token: str = "1") -> None:
        """Create the node: marker (holder, epoch), empty WAL, identity last."""
        marker = Marker(self.name, holder, epoch, None)
        self._wal = initialise_node(
            self.disk, NodeIdentity(self.name, self.cluster_id, token), marker, WAL_NAME
        )
        self._marker = marker

    def recover(self) -> Recovered:
        """Read the directory back after a crash (fail closed on anything corrupt)."""
        self.forget()
        found = recover_node(self.disk, WAL_NAME)
        if found.identity.node_id != self.name:
            raise MarkerCorrupt(
                "identity", f"directory belongs to {found.identity.node_id!r}, not {self.name!r}"
            )
        self._wal, self._marker = found.wal, found.marker
        return Recovered(
            durable=self._durable(found.marker, found.wal),
            wal_report=found.wal_report,
            removed_temp_files=found.removed_temp_files,
        )

    def forget(self) -> None:
        """Drop every in-memory handle: what a crash does to the process."""
        self._wal = None
        self._marker = None
        self._marker_write = None

    def _durable(self, marker: Marker, wal: Wal) -> core.Durable:
        halted = self.disk.read(HALT_FILE) is not None
        role = "Halted" if halted else marker.role
        entries = tuple((rec.epoch, rec.lsn) for rec in wal.entries())
        return core.Durable(role, marker.epoch, entries)

    def read_durable(self) -> core.Durable:
        """The durable state as a restart would read it now.

        A marker a restart refuses (corrupt, or missing after init) reads as Torn:
        the node cannot start, and no authority is guessed.
        """
        try:
            marker = read_marker(self.disk, expected_node=self.name)
        except (MarkerCorrupt, MarkerMissing):
            wal, _ = Wal.open(self.disk, WAL_NAME)
            entries = tuple((rec.epoch, rec.lsn) for rec in wal.entries())
            return core.Durable("Torn", 0, entries)
        wal, _ = Wal.open(self.disk, WAL_NAME)
        return self._durable(marker, wal)

    # --- durable effects ---

    @property
    def wal(self) -> Wal:
        if self._wal is None:
            raise NotInitialised(WAL_NAME, f"node {self.name} is not running (no open WAL)")
        return self._wal

    @property
    def marker(self) -> Marker:
        if self._marker is None:
            raise NotInitialised(MARKER_FILE, f"node {self.name} is not running")
        return self._marker

    def append(self, entry: core.Entry) -> None:
        epoch, position = entry
        lsn = self.wal.append(epoch, payload_of(entry))
        if lsn != position:  # the core and the disk must agree on every position
            raise AssertionError(f"{self.name}: WAL appended LSN {lsn}, core expected {position}")

    def sync(self) -> None:
        self.wal.sync()

    def persist_marker(
        self, role: str, epoch: int, holder: str, halt_reason: str | None = None
    ) -> None:
        """Replace the marker atomically and durably (write_marker), or record a halt."""
        if role == "Halted":
            # The marker keeps the last authority it knew; the halt is its own durable file.
            write_durably(self.disk, HALT_FILE, (halt_reason or "operator_halt").encode())
            return
        marker = Marker(
            self.name, self.name if role == "Primary" else holder, epoch, self.marker.holder
        )
        write_marker(self.disk, marker)
        self._marker = marker

    def marker_op(self, op: str, epoch: int) -> None:
        """One file operation of the promotion's marker write (P6-F2).

        The same operations and failpoints as baton.marker.write_marker (both
        call perform_marker_step), split so that each is one step of the core.
        """
        if op not in MARKER_STEPS:
            raise ValueError(f"unknown marker operation {op!r}")
        if op == MARKER_STEPS[0]:
            # The new marker is built and encoded once per attempt, here; the other
            # three operations act on the file written now and only check the epoch.
            new = Marker(self.name, self.name, epoch, self.marker.holder)
            temp = f"{MARKER_FILE}{TEMP_INFIX}{unique_token()}"
            self._marker_write = _MarkerWrite(new, temp, encode_marker(new))
        write = self._marker_write
        if write is None:
            raise AssertionError(f"marker operation {op} before write_temp")
        if write.marker.epoch != epoch:
            raise AssertionError(
                f"marker operation {op} at epoch {epoch}, the temp file holds {write.marker.epoch}"
            )
        perform_marker_step(self.disk, op, write.temp, write.data)
        if op == MARKER_STEPS[-1]:
            self._marker = write.marker
            self._marker_write = None

    # --- deliberate damage, for scenarios and tests (through the Disk only) ---

    def corrupt_marker(self) -> None:
        """Flip one byte in the middle of the marker file (its checksum then fails)."""
        data = self.disk.read(MARKER_FILE)
        if data is None:
            raise NotInitialised(MARKER_FILE, f"node {self.name} has no marker to corrupt")
        middle = len(data) // 2
        damaged = data[:middle] + bytes([data[middle] ^ 0x40]) + data[middle + 1 :]
        self.disk.write_file(MARKER_FILE, damaged)
        self.disk.fsync(MARKER_FILE)

    def tear_wal(self, garbage: int) -> None:
        """Append ``garbage`` bytes of a record that never finished (a torn tail)."""
        self.disk.append(WAL_NAME, b"\xba\x7a\x01" + b"\x00" * max(0, garbage - 3))
        self.disk.fsync(WAL_NAME)


def replication_role(node: core.NodeState | None, initialised: bool = True) -> str:
    """The validator-vocabulary role of a node (Halted carries its reason)."""
    if not initialised or node is None:
        return "Uninitialized"
    role = node.durable.marker_role
    if role == "Primary":
        return "PrimaryActive"
    if role == "Replica":
        return "ReplicaActive"
    if role == "Halted":
        return "Halted(history_divergence)"
    return "Halted(wal_corruption)"
