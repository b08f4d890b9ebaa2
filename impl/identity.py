"""A node's durable identity, and the node directory's init and recovery sequence.

"Never initialised" is different from "marker
lost". The identity file is the *commit point* of initialisation: it is
written last, after the first marker and the empty WAL are durable. So

* no identity file -> :class:`~baton.errors.NotInitialised` (a crash during
  init leaves at most leftovers; init may simply run again);
* identity present, marker absent -> :class:`~baton.errors.MarkerMissing`
  (the marker *was* durable before the identity was written: it was lost,
  and the node refuses to start rather than start fresh -- P6-F2).

The identity holds no clock reading (determinism, P6-D1/D2): the caller
passes a ``token`` (a counter or a uuid it generated) to tell incarnations
apart.

Also here: the small checksummed frame shared by the identity and the marker
(magic, total length, version, body, CRC32 over everything before it), kept
under 512 bytes like PostgreSQL's control file.
"""

from __future__ import annotations

import itertools
import os
import struct
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from baton.errors import IdentityCorrupt, NotInitialised, ProtocolError, StorageError
from baton.storage import Disk

if TYPE_CHECKING:
    from baton.marker import Marker
    from baton.wal import RecoveryReport, Wal

__all__ = [
    "IDENTITY_FILE",
    "MAX_FRAME",
    "MAX_NAME_BYTES",
    "NodeIdentity",
    "RecoveredNode",
    "cleanup_temp_files",
    "decode_frame",
    "decode_identity",
    "encode_frame",
    "encode_identity",
    "initialise_node",
    "read_identity",
    "recover_node",
    "remove_quietly",
    "unique_token",
    "write_durably",
]

IDENTITY_FILE = "identity"
TEMP_INFIX = ".tmp."
"""Temp files are named ``<final name>.tmp.<unique token>``; recovery removes them."""

MAX_FRAME = 511
"""Every frame stays under 512 bytes, a single sector (PostgreSQL's control-file rule)."""
MAX_NAME_BYTES = 64

_HEAD = struct.Struct(">4sHB")  # magic, total length (whole frame), format version
_CRC = struct.Struct(">I")
MIN_FRAME = _HEAD.size + _CRC.size

_tokens = itertools.count(1)


def unique_token() -> str:
    """A temp-file suffix unique within this machine's processes (pid + counter).

    Never a fixed shared temp name: two writers, or a
    writer and a leftover of a crashed one, never share a temp file.
    """
    return f"{os.getpid()}.{next(_tokens)}"


# --- the frame ------------------------------------------------------------------


def encode_frame(magic: bytes, version: int, body: bytes) -> bytes:
    """``magic | total length | version | body | crc32``; the CRC covers every byte before it."""
    assert len(magic) == 4
    total = MIN_FRAME + len(body)
    if total > MAX_FRAME:
        raise ValueError(f"frame of {total} bytes exceeds {MAX_FRAME}")
    head = _HEAD.pack(magic, total, version) + body
    return head + _CRC.pack(zlib.crc32(head))


def decode_frame(
    path: str, data: bytes, magic: bytes, version: int, error: type[StorageError]
) -> bytes:
    """Check a frame and return its body, or raise ``error(path, reason)``.

    Reasons, in the order checked: empty, shorter than a frame, bad magic,
    truncated / trailing bytes (against the declared length), checksum
    mismatch, unsupported version.
    """
    if not data:
        raise error(path, "empty file (torn write: its data never reached the disk)")
    if len(data) < MIN_FRAME:
        raise error(path, f"truncated: {len(data)} bytes, shorter than the smallest frame")
    found_magic, total, found_version = _HEAD.unpack_from(data)
    if found_magic != magic:
        raise error(
            path, f"bad magic {found_magic!r} (expected {magic!r}; zeros mean a torn write)"
        )
    if len(data) < total:
        raise error(path, f"truncated: {len(data)} of {total} bytes")
    if len(data) > total:
        raise error(path, f"trailing bytes: {len(data)} bytes, frame declares {total}")
    (stored,) = _CRC.unpack_from(data, total - _CRC.size)
    computed = zlib.crc32(data[: total - _CRC.size])
    if stored != computed:
        raise error(path, f"checksum mismatch (stored {stored:08x}, computed {computed:08x})")
    if found_version != version:
        raise error(
            path, f"unsupported format version {found_version} (this Baton reads {version})"
        )
    return data[_HEAD.size : total - _CRC.size]


def pack_name(name: str) -> bytes:
    raw = name.encode("utf-8")
    if not raw or len(raw) > MAX_NAME_BYTES:
        raise ValueError(f"name {name!r} must be 1..{MAX_NAME_BYTES} UTF-8 bytes")
    return bytes([len(raw)]) + raw


class BodyReader:
    """Reads a frame body field by field; any inconsistency is ``error(path, reason)``."""

    def __init__(self, path: str, body: bytes, error: type[StorageError]) -> None:
        self.path, self.body, self.error, self.pos = path, body, error, 0

    def _take(self, n: int, what: str) -> bytes:
        if self.pos + n > len(self.body):
            raise self.error(self.path, f"malformed body: {what} runs past the end")
        out = self.body[self.pos : self.pos + n]
        self.pos += n
        return out

    def name(self, what: str) -> str:
        n = self._take(1, f"{what} length")[0]
        if not 1 <= n <= MAX_NAME_BYTES:
            raise self.error(self.path, f"malformed body: {what} length {n}")
        try:
            return self._take(n, what).decode("utf-8")
        except UnicodeDecodeError:
            raise self.error(self.path, f"malformed body: {what} is not UTF-8") from None

    def u8(self, what: str) -> int:
        return self._take(1, what)[0]

    def u64(self, what: str) -> int:
        value: int = struct.unpack(">Q", self._take(8, what))[0]
        return value

    def end(self) -> None:
        if self.pos != len(self.body):
            raise self.error(self.path, f"malformed body: {len(self.body) - self.pos} extra bytes")


def write_durably(disk: Disk, path: str, data: bytes) -> None:
    """Replace ``path`` atomically and durably: unique temp, fsync, rename, fsync_dir.

    PostgreSQL's ``durable_rename`` order (the marker has its own copy of these
    steps, with failpoints and the mutant hook: :func:`baton.marker.write_marker`).
    On a fault before the rename the temp file is removed (best effort) and
    the fault re-raised; after the rename, the outcome is unknown until
    recovery reads the disk.
    """
    tmp = f"{path}{TEMP_INFIX}{unique_token()}"
    try:
        disk.write_file(tmp, data)
        disk.fsync(tmp)
    except BaseException:
        remove_quietly(disk, tmp)
        raise
    disk.rename(tmp, path)
    disk.fsync_dir(os.path.dirname(path))


def remove_quietly(disk: Disk, path: str) -> None:
    """Remove a temp file if it exists; a failure here is ignored (recovery cleans up)."""
    try:
        if disk.exists(path):
            disk.remove(path)
    except StorageError:
        pass  # the temp file is garbage either way; recovery removes leftovers


def cleanup_temp_files(disk: Disk, dirpath: str = "") -> list[str]:
    """Remove leftover ``*.tmp.*`` files of interrupted writes; return their names.

    Idempotent. Not synced: the caller's next ``fsync_dir`` of ``dirpath`` makes
    the removal durable (recovery and init both end with one).
    """
    leftovers = [name for name in disk.listdir(dirpath) if TEMP_INFIX in name]
    for name in leftovers:
        disk.remove(os.path.join(dirpath, name) if dirpath else name)
    return leftovers


# --- the identity -----------------------------------------------------------------


IDENTITY_MAGIC = b"BTID"
IDENTITY_VERSION = 1


@dataclass(frozen=True)
class NodeIdentity:
    """Who this directory belongs to. ``token`` is the caller's incarnation id (no clock)."""

    node_id: str
    cluster_id: str
    token: str


def encode_identity(identity: NodeIdentity) -> bytes:
    body = pack_name(identity.node_id) + pack_name(identity.cluster_id) + pack_name(identity.token)
    return encode_frame(IDENTITY_MAGIC, IDENTITY_VERSION, body)


def decode_identity(data: bytes, path: str = IDENTITY_FILE) -> NodeIdentity:
    body = decode_frame(path, data, IDENTITY_MAGIC, IDENTITY_VERSION, IdentityCorrupt)
    reader = BodyReader(path, body, IdentityCorrupt)
    identity = NodeIdentity(reader.name("node id"), reader.name("cluster id"), reader.name("token"))
    reader.end()
    return identity


def read_identity(disk: Disk) -> NodeIdentity:
    """The node's identity, or NotInitialised (no file) / IdentityCorrupt (bad file)."""
    data = disk.read(IDENTITY_FILE)
    if data is None:
        raise NotInitialised(IDENTITY_FILE, "no identity file: this directory holds no Baton node")
    return decode_identity(data)


# --- init and recovery ---------------------------------------------------------------


@dataclass(frozen=True)
class RecoveredNode:
    """Everything recovery read back from a node directory, with what it repaired."""

    identity: NodeIdentity
    marker: Marker
    wal: Wal
    wal_report: RecoveryReport
    removed_temp_files: tuple[str, ...]


def initialise_node(
    disk: Disk, identity: NodeIdentity, marker: Marker, wal_name: str = "wal"
) -> Wal:
    """Create a node: first marker, empty WAL, then the identity (the commit point).

    Refuses a directory that already holds an identity (ProtocolError): a
    node is initialised once; losing its marker later is MarkerMissing.
    """
    # Imported here: marker.py builds on this module's frame and file names.
    from baton.marker import write_marker
    from baton.wal import Wal

    if disk.exists(IDENTITY_FILE):
        raise ProtocolError(f"{IDENTITY_FILE}: directory already holds an initialised node")
    if marker.node != identity.node_id:
        raise ValueError(f"marker names node {marker.node!r}, identity {identity.node_id!r}")
    cleanup_temp_files(disk)
    write_marker(disk, marker)
    wal = Wal.create(disk, wal_name)
    write_durably(disk, IDENTITY_FILE, encode_identity(identity))
    return wal


def recover_node(disk: Disk, wal_name: str = "wal") -> RecoveredNode:
    """Read a node directory back after a crash; repair only what is provably safe.

    Order: identity (NotInitialised / IdentityCorrupt), leftover temp files
    removed, marker (MarkerMissing / MarkerCorrupt, and it must name this
    node), WAL (torn tail truncated and reported, then fsynced; WalCorruption /
    WalMissing), and a final directory fsync: everything recovery returns is
    durable when it returns, even after a process-only crash.
    Idempotent: recovering, crashing and recovering again gives the same
    result.
    """
    from baton.marker import read_marker
    from baton.wal import Wal

    identity = read_identity(disk)
    removed = cleanup_temp_files(disk)
    marker = read_marker(disk, expected_node=identity.node_id)
    wal, report = Wal.open(disk, wal_name)
    # The process may have died between a rename and its directory fsync: the
    # names read above may be only in the page cache. Make them (and the temp
    # removals) durable before the node acts on them -- else a later machine
    # crash could bring back an older marker after the node used the newer (P6-F2).
    disk.fsync_dir("")
    return RecoveredNode(identity, marker, wal, report, tuple(removed))
