"""The authority marker on a real directory: format, every bit flip and truncation,
missing vs never initialised, temp files, the write's steps and failpoints.

Covers P6-F2 (a torn, truncated or
mis-checksummed marker fails closed with MarkerCorrupt naming the file and the
reason; never a guess).
"""

from __future__ import annotations

import errno
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from baton import failpoints
from baton.errors import (
    DiskFault,
    IdentityCorrupt,
    MarkerCorrupt,
    MarkerMissing,
    NotInitialised,
    ProtocolError,
)
from baton.identity import (
    IDENTITY_FILE,
    NodeIdentity,
    cleanup_temp_files,
    encode_frame,
    encode_identity,
    initialise_node,
    read_identity,
    recover_node,
)
from baton.marker import (
    MARKER_FILE,
    MARKER_MAGIC,
    MARKER_STEPS,
    Marker,
    decode_marker,
    encode_marker,
    read_marker,
    write_marker,
)
from baton.storage import FaultPlan, FaultyDisk, PosixDisk, SimDisk
from hypothesis import given
from hypothesis import strategies as st

IDENTITY = NodeIdentity("n1", "c1", "t1")
PRIMARY = Marker("n1", "n1", 1, None)
HANDED_OVER = Marker("n1", "n2", 2, "n1")


@pytest.fixture
def disk(tmp_path: Path) -> PosixDisk:
    real = PosixDisk(tmp_path)
    initialise_node(real, IDENTITY, PRIMARY)
    return real


def test_roundtrip_on_disk(disk: PosixDisk) -> None:
    """P6-F2: what write_marker made durable is what read_marker returns."""
    assert read_marker(disk) == PRIMARY
    write_marker(disk, HANDED_OVER)
    assert read_marker(disk) == HANDED_OVER
    assert read_marker(disk).role == "Replica" and PRIMARY.role == "Primary"
    assert disk.listdir("") == sorted([IDENTITY_FILE, MARKER_FILE, "wal", "wal.synced"])  # no temp


names = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=16
)


@given(
    node=names,
    holder=names,
    epoch=st.integers(min_value=0, max_value=2**64 - 1),
    previous=st.none() | names,
)
def test_encoding_roundtrips_and_stays_under_512_bytes(
    node: str, holder: str, epoch: int, previous: str | None
) -> None:
    """The format is total on valid markers and small (PostgreSQL's control-file rule)."""
    marker = Marker(node, holder, epoch, previous)
    data = encode_marker(marker)
    assert len(data) < 512
    assert decode_marker(data) == marker


def test_largest_marker_is_under_512_bytes() -> None:
    """Names are capped at 64 bytes, so no marker reaches a second sector."""
    longest = "x" * 64
    assert len(encode_marker(Marker(longest, longest, 2**64 - 1, longest))) < 512
    with pytest.raises(ValueError):
        encode_marker(Marker("x" * 65, "n", 1, None))


def _expect_corrupt(disk: PosixDisk, data: bytes, tally: Counter[str]) -> None:
    disk.write_file(MARKER_FILE, data)
    with pytest.raises(MarkerCorrupt) as caught:
        read_marker(disk)
    assert caught.value.path == MARKER_FILE
    assert str(caught.value).startswith(f"{MARKER_FILE}: ") and caught.value.reason
    tally[reason_kind(caught.value.reason)] += 1


REASON_KINDS = (
    "empty file",
    "truncated",
    "trailing bytes",
    "bad magic",
    "checksum mismatch",
    "unsupported format version",
    "malformed body",
)


def reason_kind(reason: str) -> str:
    """The reason's kind (its fixed prefix); an unknown reason fails the test."""
    for kind in REASON_KINDS:
        if reason.startswith(kind):
            return kind
    raise AssertionError(f"unexpected reason {reason!r}")


def test_every_bit_flip_of_the_marker_is_rejected(
    disk: PosixDisk, record_property: Callable[[str, object], None]
) -> None:
    """P6-F2: each of the marker file's single-bit flips is MarkerCorrupt
    naming the file and the reason (CRC32 detects every single-bit error)."""
    good = encode_marker(HANDED_OVER)
    tally: Counter[str] = Counter()
    for bit in range(len(good) * 8):
        flipped = bytearray(good)
        flipped[bit // 8] ^= 1 << (bit % 8)
        _expect_corrupt(disk, bytes(flipped), tally)
    assert sum(tally.values()) == len(good) * 8
    assert tally["checksum mismatch"] > 0 and tally["bad magic"] > 0
    record_property(
        "durability",
        f"marker bit flips rejected {sum(tally.values())}/{len(good) * 8} "
        f"({', '.join(f'{k}: {v}' for k, v in sorted(tally.items()))})",
    )


def test_every_truncation_of_the_marker_is_rejected(
    disk: PosixDisk, record_property: Callable[[str, object], None]
) -> None:
    """P6-F2: every proper prefix (0 .. n-1 bytes) is MarkerCorrupt, and so
    is the file with bytes appended."""
    good = encode_marker(HANDED_OVER)
    tally: Counter[str] = Counter()
    for length in range(len(good)):
        _expect_corrupt(disk, good[:length], tally)
    _expect_corrupt(disk, good + b"\x00", tally)
    assert sum(tally.values()) == len(good) + 1
    assert set(tally) == {"empty file", "truncated", "trailing bytes"}
    record_property(
        "durability", f"marker truncations rejected {len(good)}/{len(good)} (+1 extension)"
    )


def test_all_zero_marker_is_rejected(disk: PosixDisk) -> None:
    """An append exposed as zeros (journaled model) is not a marker."""
    with pytest.raises(MarkerCorrupt, match="bad magic"):
        disk.write_file(MARKER_FILE, bytes(len(encode_marker(PRIMARY))))
        read_marker(disk)


def test_unsupported_version_with_valid_checksum_is_rejected(disk: PosixDisk) -> None:
    """A well-formed marker of a future format is refused by name, not misread."""
    body = encode_marker(PRIMARY)[7:-4]
    disk.write_file(MARKER_FILE, encode_frame(MARKER_MAGIC, 2, body))
    with pytest.raises(MarkerCorrupt, match="unsupported format version 2"):
        read_marker(disk)


def test_marker_of_another_node_is_rejected(disk: PosixDisk) -> None:
    """A marker copied from another node's directory is not this node's authority."""
    write_marker(disk, Marker("n2", "n2", 3, None))
    with pytest.raises(MarkerCorrupt, match="belongs to node 'n2'"):
        read_marker(disk, expected_node="n1")


def test_missing_marker_after_init_is_not_a_fresh_start(disk: PosixDisk) -> None:
    """Identity present and marker gone is MarkerMissing, never NotInitialised."""
    disk.remove(MARKER_FILE)
    with pytest.raises(MarkerMissing) as caught:
        read_marker(disk)
    assert caught.value.path == MARKER_FILE


def test_never_initialised_directory(tmp_path: Path) -> None:
    """An empty directory is NotInitialised (neither identity nor marker)."""
    with pytest.raises(NotInitialised):
        read_marker(PosixDisk(tmp_path))


def test_leftover_temp_files_are_ignored_then_cleaned(disk: PosixDisk) -> None:
    """A crash between the temp write and the rename leaves a temp file: reading ignores
    it, recovery's cleanup removes it (durably)."""
    disk.write_file(f"{MARKER_FILE}.tmp.123.4", b"garbage")
    assert read_marker(disk) == PRIMARY
    assert cleanup_temp_files(disk) == [f"{MARKER_FILE}.tmp.123.4"]
    assert cleanup_temp_files(disk) == []
    assert read_marker(disk) == PRIMARY


def test_temp_names_are_unique() -> None:
    """No fixed shared temp name: two writes use two names."""
    seen: list[str] = []

    class Spy(SimDisk):
        def write_file(self, path: str, data: bytes) -> None:
            seen.append(path)
            super().write_file(path, data)

    sim = Spy()
    write_marker(sim, PRIMARY)
    write_marker(sim, HANDED_OVER)
    assert len(set(seen)) == 2 and all(".tmp." in name for name in seen)


def test_write_steps_hit_their_failpoints_in_order() -> None:
    """Each marker step is a failpoint, met in the pinned order."""
    hits: list[str] = []
    with failpoints.installed(hits.append):
        write_marker(SimDisk(), PRIMARY)
    assert hits == [f"marker.{step}" for step in MARKER_STEPS]


def test_failure_before_rename_keeps_old_marker_and_removes_temp(disk: PosixDisk) -> None:
    """P6-F2: a fault on the temp file's fsync leaves the old marker and no temp file;
    the fault is raised, never swallowed."""
    faulty = FaultyDisk(disk, FaultPlan(nth=1, errno=errno.EIO, ops=frozenset({"fsync"})))
    with pytest.raises(DiskFault) as caught:
        write_marker(faulty, HANDED_OVER)
    assert caught.value.errno == errno.EIO
    assert read_marker(disk) == PRIMARY
    assert [n for n in disk.listdir("") if ".tmp." in n] == []


def test_variant_hook_rejects_unknown_steps() -> None:
    """The mutant hook is checked: a misspelt step is an error, not a skipped fsync."""
    with pytest.raises(ValueError, match="unknown marker write steps"):
        write_marker(SimDisk(), PRIMARY, variant=("write_temp", "fsync-temp"))


# --- the identity ---------------------------------------------------------


def test_identity_roundtrip_and_every_bit_flip_rejected(disk: PosixDisk) -> None:
    """The identity reads back; any single-bit flip is IdentityCorrupt
    naming the file (the node refuses to start rather than guess who it is)."""
    assert read_identity(disk) == IDENTITY
    good = encode_identity(IDENTITY)
    for bit in range(len(good) * 8):
        flipped = bytearray(good)
        flipped[bit // 8] ^= 1 << (bit % 8)
        disk.write_file(IDENTITY_FILE, bytes(flipped))
        with pytest.raises(IdentityCorrupt) as caught:
            read_identity(disk)
        assert caught.value.path == IDENTITY_FILE
        reason_kind(caught.value.reason)


def test_initialise_refuses_an_initialised_directory(disk: PosixDisk) -> None:
    """Init happens once: a second init would overwrite the marker (epochs backwards)."""
    with pytest.raises(ProtocolError, match="already holds an initialised node"):
        initialise_node(disk, IDENTITY, PRIMARY)


def test_initialise_refuses_a_marker_of_another_node(tmp_path: Path) -> None:
    """The first marker must name the directory's own node."""
    with pytest.raises(ValueError):
        initialise_node(PosixDisk(tmp_path), IDENTITY, Marker("n2", "n2", 1, None))


def test_interrupted_init_can_be_rerun(tmp_path: Path) -> None:
    """A crash before the identity landed leaves NotInitialised, and init
    simply runs again over the leftovers."""
    real = PosixDisk(tmp_path)
    write_marker(real, HANDED_OVER)  # a leftover of an interrupted init
    with pytest.raises(NotInitialised):
        recover_node(real)
    initialise_node(real, IDENTITY, PRIMARY)
    assert recover_node(real).marker == PRIMARY
