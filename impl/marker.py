"""The authority marker: the one durable fact that decides who holds the baton.

Each node directory holds a ``marker`` file naming the node that owns the
directory (``node``), the node it recognises as write authority (``holder``;
the node's role is Primary iff ``holder == node``), the ``epoch`` of that
authority and the ``previous_holder``. Recovery decides authority *only* from
this file (P6-F2): a torn, truncated or mis-checksummed marker is
:class:`~baton.errors.MarkerCorrupt` and the node refuses to start rather
than guess; a marker that vanished after init is
:class:`~baton.errors.MarkerMissing`.

Format: the frame of :mod:`baton.identity` (magic ``BMRK``, total length,
version, body, CRC32 over everything before it; under 512 bytes). Body: node,
holder (length-prefixed UTF-8), epoch (u64), a previous-holder flag and name.

The write (:func:`write_marker`) is PostgreSQL's ``durable_rename``: unique
temp file, fsync it, rename over ``marker``, fsync the directory. Each step is
a failpoint (``marker.write_temp`` ...) and the ``variant`` argument lets the
fsync-mutant tests drop or reorder steps.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from baton import failpoints
from baton.errors import MarkerCorrupt, MarkerMissing, NotInitialised
from baton.identity import (
    IDENTITY_FILE,
    TEMP_INFIX,
    BodyReader,
    decode_frame,
    encode_frame,
    pack_name,
    remove_quietly,
    unique_token,
)
from baton.storage import Disk

__all__ = [
    "MARKER_FILE",
    "MARKER_STEPS",
    "Marker",
    "decode_marker",
    "encode_marker",
    "perform_marker_step",
    "read_marker",
    "write_marker",
]

MARKER_FILE = "marker"
MARKER_MAGIC = b"BMRK"
MARKER_FORMAT_VERSION = 1

MARKER_STEPS: tuple[str, ...] = ("write_temp", "fsync_temp", "rename", "fsync_dir")
"""The marker write as four file operations, in this order (P6-F2); each is a failpoint."""

_STEP_FAILPOINTS: dict[str, str] = {step: f"marker.{step}" for step in MARKER_STEPS}


@dataclass(frozen=True)
class Marker:
    """The authority marker's content. ``version`` is the on-disk format version."""

    node: str
    holder: str
    epoch: int
    previous_holder: str | None
    version: int = MARKER_FORMAT_VERSION

    @property
    def role(self) -> str:
        """Primary iff this node holds the baton itself; otherwise Replica."""
        return "Primary" if self.holder == self.node else "Replica"


def encode_marker(marker: Marker) -> bytes:
    """The marker's bytes on disk (at most 511)."""
    if not 0 <= marker.epoch < 1 << 64:
        raise ValueError(f"epoch {marker.epoch} out of range")
    body = pack_name(marker.node) + pack_name(marker.holder) + struct.pack(">Q", marker.epoch)
    if marker.previous_holder is None:
        body += b"\x00"
    else:
        body += b"\x01" + pack_name(marker.previous_holder)
    return encode_frame(MARKER_MAGIC, marker.version, body)


def decode_marker(data: bytes, path: str = MARKER_FILE) -> Marker:
    """Parse marker bytes or raise MarkerCorrupt naming ``path`` and the reason."""
    body = decode_frame(path, data, MARKER_MAGIC, MARKER_FORMAT_VERSION, MarkerCorrupt)
    reader = BodyReader(path, body, MarkerCorrupt)
    node = reader.name("node")
    holder = reader.name("holder")
    epoch = reader.u64("epoch")
    flag = reader.u8("previous-holder flag")
    if flag not in (0, 1):
        raise MarkerCorrupt(path, f"malformed body: previous-holder flag {flag}")
    previous = reader.name("previous holder") if flag else None
    reader.end()
    return Marker(node, holder, epoch, previous)


def write_marker(
    disk: Disk,
    marker: Marker,
    *,
    variant: Sequence[str] = MARKER_STEPS,
    token: str | None = None,
) -> None:
    """Make ``marker`` the durable authority marker (P6-F2).

    Only after this returns is the new marker durable and may the node act on
    it (durable first, visible after). If it raises, whether the old or the
    new marker survives is unknown until recovery reads the disk: the caller
    must not act on the new one, and must not retry a failed fsync as if it
    had succeeded (fsyncgate) -- it restarts from disk.

    ``variant`` lists the steps to perform, in order; the default is
    :data:`MARKER_STEPS`. Tests pass a reordered or shortened list to build
    the fsync mutants; production code never passes it.
    """
    unknown = [s for s in variant if s not in MARKER_STEPS]
    if unknown:
        raise ValueError(f"unknown marker write steps: {unknown}")
    data = encode_marker(marker)
    tmp = f"{MARKER_FILE}{TEMP_INFIX}{token or unique_token()}"
    renamed = False
    try:
        for step in variant:
            perform_marker_step(disk, step, tmp, data)
            renamed = renamed or step == "rename"
    except BaseException:
        if not renamed:
            remove_quietly(disk, tmp)
        raise


def perform_marker_step(disk: Disk, step: str, temp: str, data: bytes) -> None:
    """One file operation of the marker write, behind its failpoint (P6-F2).

    The one place the marker's file operations are performed: used by
    :func:`write_marker` and by the node, which runs the promotion's marker
    write one step per core action. So the fsync mutants and failpoints that
    cover this function cover both paths.
    """
    failpoint = _STEP_FAILPOINTS.get(step)
    if failpoint is None:
        raise ValueError(f"unknown marker write step {step!r}")
    failpoints.hit(failpoint)
    if step == "write_temp":
        disk.write_file(temp, data)
    elif step == "fsync_temp":
        disk.fsync(temp)
    elif step == "rename":
        disk.rename(temp, MARKER_FILE)
    else:
        disk.fsync_dir("")


def read_marker(disk: Disk, expected_node: str | None = None) -> Marker:
    """Read the durable marker; fail closed on anything but a whole, valid one.

    Raises MarkerCorrupt (torn, truncated, bad checksum, wrong version, or a
    marker of another node), MarkerMissing (identity present, marker gone)
    or NotInitialised (neither). Leftover temp files are ignored here;
    :func:`baton.identity.cleanup_temp_files` removes them.
    """
    data = disk.read(MARKER_FILE)
    if data is None:
        if disk.exists(IDENTITY_FILE):
            raise MarkerMissing(
                MARKER_FILE, "the node is initialised (identity present) but its marker is gone"
            )
        raise NotInitialised(MARKER_FILE, "no marker and no identity: never initialised")
    marker = decode_marker(data)
    if expected_node is not None and marker.node != expected_node:
        raise MarkerCorrupt(
            MARKER_FILE,
            f"marker belongs to node {marker.node!r}, this directory to {expected_node!r}",
        )
    return marker
