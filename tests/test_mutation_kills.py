"""Tests written to kill mutants that survived bench/mutation/run.py.

Each test names the surviving mutant it kills (file:line and the mutation) so
docs/mutation.md can point at it; the invariant it protects is named where one
applies. Covers: ValidationContext immutability and its error messages
(impl/validator.py), the marker's on-disk file name (impl/marker.py); and
baton verify's explorer obligations, at small bounds, as killers of runtime-core
mutants (impl/core.py: refinement and the spec's properties, P6-A1 .. P6-F3).

Test names start with the module they target and imports are local, so
bench/mutation/run.py can select ``-k <module>`` and a mutant of one module
never fails (falsely kills) the run of another module mutated in parallel.
"""

from __future__ import annotations

import dataclasses
import re
import struct
from pathlib import Path

import pytest


def test_validator_context_is_immutable() -> None:
    """validator.py:48 `frozen=True -> False`: a context checked in __post_init__
    must not change afterwards, or a validated context could be edited into an
    unsafe one between validation and promotion (P6-A1)."""
    from baton.validator import ValidationContext

    ctx = ValidationContext("ReplicaActive", "Unavailable", False, 5, 5, "Compatible")
    with pytest.raises(dataclasses.FrozenInstanceError):
        ctx.force = True  # type: ignore[misc]


def test_validator_unknown_role_message_names_the_role() -> None:
    """validator.py:68 message mutated to "XX...XX": the operator-facing message
    names the rejected role exactly."""
    from baton.validator import ValidationContext

    with pytest.raises(ValueError, match=r"^unknown role 'Leader'$"):
        ValidationContext("Leader", "Unavailable", False, 5, 5, "Compatible")


def test_marker_file_is_named_marker_on_disk(tmp_path: Path) -> None:
    """marker.py:53 `MARKER_FILE = "marker" -> "XXmarkerXX"`: the on-disk name is
    part of the durable format (P6-F2); a node upgraded in place must find the
    marker its previous version wrote."""
    from baton.identity import NodeIdentity, initialise_node
    from baton.marker import Marker, read_marker
    from baton.storage import PosixDisk

    disk = PosixDisk(tmp_path)
    marker = Marker("n1", "n1", 1, None)
    initialise_node(disk, NodeIdentity("n1", "c1", "t1"), marker)
    assert (tmp_path / "marker").is_file()
    assert read_marker(disk) == marker


def test_marker_epoch_bound_is_exactly_two_to_the_64() -> None:
    """marker.py:79-80 `< 1 << 64` -> `<= 1 << 64` / `< 2 << 64` / `< 1 << 65` and the
    message mutated to "XX...XX": the epoch is a u64 on disk (P6-F2); 2**64 - 1
    encodes, 2**64 is refused with a ValueError naming the epoch (not a
    struct.error from deeper down)."""
    from baton.marker import Marker, decode_marker, encode_marker

    largest = Marker("n1", "n1", (1 << 64) - 1, None)
    assert decode_marker(encode_marker(largest)) == largest
    with pytest.raises(ValueError, match=rf"^epoch {1 << 64} out of range$"):
        encode_marker(Marker("n1", "n1", 1 << 64, None))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"role": "Halted"}, "halt_reason is required exactly when the role is Halted"),
        (
            {"halt_reason": "wal_corruption"},
            "halt_reason is required exactly when the role is Halted",
        ),
        ({"role": "Halted", "halt_reason": "bored"}, "unknown halt reason 'bored'"),
        ({"primary_status": "Gone"}, "unknown primary status 'Gone'"),
        ({"prefix": "Maybe"}, "unknown prefix compatibility 'Maybe'"),
        ({"mvcc": "Sometimes"}, "unknown MVCC visibility 'Sometimes'"),
    ],
)
def test_validator_context_messages_name_the_bad_field(
    overrides: dict[str, object], message: str
) -> None:
    """validator.py:69-80 messages mutated to "XX...XX" (and the Halted/halt_reason
    pairing): each rejection of a malformed context says exactly what is wrong."""
    from baton.validator import ValidationContext

    fields: dict[str, object] = {
        "role": "ReplicaActive",
        "primary_status": "Unavailable",
        "force": False,
        "wal_end": 5,
        "ack_bound": 5,
        "prefix": "Compatible",
    }
    fields.update(overrides)
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        ValidationContext(**fields)  # type: ignore[arg-type]


def test_validator_every_explanation_is_a_sentence_citing_its_invariant() -> None:
    """validator.py explanation strings mutated to "XX...XX": every verdict's
    explanation ends by citing the invariant the verdict names (P6-O2), over the
    whole abstract domain."""
    from baton import validator
    from baton.spec import validation as spec

    seen: set[str] = set()
    for point in spec.decision_table():
        for wal_end, bound in validator.POSITION_REPRESENTATIVES[point[4]]:
            verdict = validator.validate(validator.context_for_point(point, wal_end, bound))
            cited = verdict.invariants[-1] if isinstance(verdict, validator.Allowed) else None
            invariant = verdict.invariant if isinstance(verdict, validator.Denied) else cited
            assert verdict.explanation.endswith(f"{invariant})"), verdict.explanation
            seen.add(verdict.reason)
    assert validator.ALLOWED in seen and len(seen) == len(spec.CHECKS) + 1


def test_marker_temp_file_name_is_marker_infix_token(tmp_path: Path) -> None:
    """marker.py:127 temp name wrapped in "XX...XX": a write stopped before the
    rename leaves ``marker.tmp.<token>``, the name cleanup_temp_files recognises
    after a crash (P6-F2)."""
    from baton.identity import TEMP_INFIX
    from baton.marker import MARKER_FILE, Marker, write_marker
    from baton.storage import PosixDisk

    disk = PosixDisk(tmp_path)
    write_marker(disk, Marker("n1", "n1", 1, None), variant=("write_temp",), token="t0")
    assert disk.listdir("") == [f"{MARKER_FILE}{TEMP_INFIX}t0"]


def test_marker_read_errors_say_exactly_what_is_wrong(tmp_path: Path) -> None:
    """marker.py:172-179 messages mutated to "XX...XX": the fail-closed errors of
    read_marker carry their exact reasons (P6-F2)."""
    from baton.errors import MarkerCorrupt, MarkerMissing, NotInitialised
    from baton.identity import IDENTITY_FILE, NodeIdentity, initialise_node
    from baton.marker import MARKER_FILE, Marker, read_marker
    from baton.storage import PosixDisk

    disk = PosixDisk(tmp_path)
    with pytest.raises(NotInitialised) as never:
        read_marker(disk)
    assert never.value.reason == "no marker and no identity: never initialised"
    initialise_node(disk, NodeIdentity("n1", "c1", "t1"), Marker("n1", "n1", 1, None))
    with pytest.raises(MarkerCorrupt) as other:
        read_marker(disk, expected_node="n2")
    assert other.value.reason == "marker belongs to node 'n1', this directory to 'n2'"
    (tmp_path / MARKER_FILE).unlink()
    assert (tmp_path / IDENTITY_FILE).exists()
    with pytest.raises(MarkerMissing) as gone:
        read_marker(disk)
    assert gone.value.reason == (
        "the node is initialised (identity present) but its marker is gone"
    )


def test_marker_unknown_write_steps_are_named() -> None:
    """marker.py:125,157 messages mutated to "XX...XX": a bad step list is refused
    naming the steps."""
    from baton.marker import Marker, perform_marker_step, write_marker
    from baton.storage import SimDisk

    with pytest.raises(ValueError, match=r"^unknown marker write steps: \['bogus'\]$"):
        write_marker(SimDisk(), Marker("n1", "n1", 1, None), variant=("bogus",))
    with pytest.raises(ValueError, match=r"^unknown marker write step 'bogus'$"):
        perform_marker_step(SimDisk(), "bogus", "t", b"")


def test_validator_verdicts_are_frozen_values() -> None:
    """validator.py:81,102 `frozen=True -> False` / @dataclass removed, :97 @property
    removed: verdicts compare by value, cannot be edited after the decision
    (P6-O2: the recorded verdict is the one that was decided), and
    ``allowed`` is the boolean True, not a bound method that is merely truthy."""
    from baton.validator import Allowed, Denied

    allowed = Allowed()
    assert allowed == Allowed() and allowed.allowed is True
    denied = Denied("primary_active", "P6-A1", "the old primary is observed Active (P6-A1)")
    assert denied.allowed is False
    with pytest.raises(dataclasses.FrozenInstanceError):
        allowed.explanation = "edited"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        denied.reason = "allowed"  # type: ignore[misc]


def test_validator_allowed_explanation_is_the_documented_sentence() -> None:
    """validator.py:87-90 parts of the allowed explanation mutated to "XX...XX":
    the sentence an operator reads on success lists every proven invariant."""
    from baton.validator import Allowed

    assert Allowed().explanation == (
        "allowed: the candidate is an active replica, no other node is observed to admit "
        "writes, its WAL reaches the proven acknowledged bound, its history is a prefix of "
        "the committed history and MVCC visibility is preserved (P6-A1, P6-S1, P6-S2, "
        "P6-S3, P6-F1)"
    )


def test_wal_record_bytes_are_the_documented_format() -> None:
    """wal.py:42-44 magic/version/kind constants mutated: the record header is
    ``>HBBIQQ`` = magic 0xBA7A, version 1, kind 0 (data), payload length, LSN,
    epoch; a changed constant would make old WAL files unreadable (P6-S1)."""
    import zlib

    from baton.wal import encode_record

    head = bytes.fromhex("ba7a01000000000200000000000000070000000000000003") + b"ab"
    assert encode_record(7, 3, b"ab") == head + zlib.crc32(head).to_bytes(4, "big")


def test_wal_payload_limit_is_exactly_one_mebibyte() -> None:
    """wal.py:45,88-89 `MAX_PAYLOAD = 1 << 20` -> 2 << 20 / 1 << 21, `>` -> `>=`,
    message mutated: 2**20 bytes encode, one more is refused naming both sizes."""
    from baton.wal import RECORD_OVERHEAD, encode_record

    assert len(encode_record(1, 1, bytes(1 << 20))) == (1 << 20) + RECORD_OVERHEAD
    with pytest.raises(ValueError, match=rf"^payload of {(1 << 20) + 1} bytes exceeds {1 << 20}$"):
        encode_record(1, 1, bytes((1 << 20) + 1))


def test_wal_recovery_report_defaults_and_descriptions() -> None:
    """wal.py:60-82 RecoveryReport frozen, its defaults ("" / 1 / None) and its
    describe() text mutated: a clean report equals one with explicit defaults
    and both descriptions read exactly as the operator docs show."""
    from baton.wal import RecoveryReport, WalRecord

    clean = RecoveryReport("wal", 3, 3)
    assert clean == RecoveryReport("wal", 3, 3, None, 0, 0, None) and clean.clean
    assert clean.describe() == "wal: 3 records, end LSN 3, clean"
    torn = RecoveryReport("wal", 2, 2, 56, 10, 1, "incomplete header: 10 of 24 bytes")
    assert torn.describe() == (
        "wal: torn tail at offset 56 (incomplete header: 10 of 24 bytes); "
        "dropped 10 bytes (1 partial record); kept 2 records, end LSN 2"
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        clean.records = 4  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        WalRecord(1, 1, b"").lsn = 2  # type: ignore[misc]


def test_wal_torn_tail_reasons_are_exact(tmp_path: Path) -> None:
    """wal.py:106-115 `<` -> `<=`, `>` -> `>=` on the length, `end - pos` ->
    `end + pos`, reasons mutated: a
    tail holding exactly a header (no CRC) is an incomplete RECORD, a shorter one
    an incomplete header, zeros a bad magic, an oversized length implausible; the
    report says exactly which (P6-S1: the synced records before it are kept)."""
    from baton.storage import PosixDisk
    from baton.wal import RECORD_OVERHEAD, Wal, encode_record

    disk = PosixDisk(tmp_path)
    good = encode_record(1, 1, b"x")
    header_only = encode_record(2, 1, b"")[: RECORD_OVERHEAD - 4]
    huge_header = struct.pack(">HBBIQQ", 0xBA7A, 1, 0, (1 << 20) + 1, 2, 1)
    for tail, reason in [
        (
            header_only,
            f"incomplete record: needs {RECORD_OVERHEAD} bytes, {len(header_only)} remain",
        ),
        (header_only[:10], f"incomplete header: 10 of {len(header_only)} bytes"),
        (bytes(30), "bad magic 0x0000 (zeros mean a torn write)"),
        (huge_header, f"implausible payload length {(1 << 20) + 1}"),
    ]:
        (tmp_path / "wal").write_bytes(good + tail)
        (tmp_path / "wal.synced").write_bytes(b"")  # nothing synced yet
        wal, report = Wal.open(disk, "wal")
        assert [r.lsn for r in wal.entries()] == [1]
        assert report.reason == reason and report.truncated_at == len(good)


def test_wal_record_of_exactly_the_payload_limit_reads_back(tmp_path: Path) -> None:
    """wal.py:111 `length > MAX_PAYLOAD` -> `>=`: a record the encoder accepts
    (payload of exactly 2**20 bytes) is read back, not cut as implausible (P6-S1)."""
    from baton.storage import PosixDisk
    from baton.wal import Wal, encode_record

    (tmp_path / "wal").write_bytes(encode_record(1, 1, bytes(1 << 20)))
    (tmp_path / "wal.synced").write_bytes(b"")  # nothing synced yet
    wal, report = Wal.open(PosixDisk(tmp_path), "wal")
    assert report.clean and [len(r.payload) for r in wal.entries()] == [1 << 20]


@pytest.mark.parametrize(("version", "kind"), [(2, 0), (1, 1)])
def test_wal_unsupported_record_is_corruption_not_a_torn_tail(
    tmp_path: Path, version: int, kind: int
) -> None:
    """wal.py:121-122 `or` -> `and`, fatal=True -> False, message mutated: a
    record whose checksum holds but whose version OR kind is unknown was written
    so; it is refused as corruption, never cut as a torn tail (P6-S1, P6-S2)."""
    import zlib

    from baton.errors import WalCorruption
    from baton.storage import PosixDisk
    from baton.wal import Wal

    head = struct.pack(">HBBIQQ", 0xBA7A, version, kind, 1, 1, 1) + b"x"
    (tmp_path / "wal").write_bytes(head + zlib.crc32(head).to_bytes(4, "big"))
    (tmp_path / "wal.synced").write_bytes(b"")  # nothing synced yet
    with pytest.raises(WalCorruption) as refused:
        Wal.open(PosixDisk(tmp_path), "wal")
    assert refused.value.reason == (
        f"record at offset 0 (LSN 1): unsupported record version {version} kind {kind}"
    )


def test_wal_sequence_errors_and_missing_file_say_exactly_what_is_wrong(tmp_path: Path) -> None:
    """wal.py:124,126,172 messages mutated to "XX...XX": an LSN gap (P6-S2), an
    epoch going backwards (P6-S2) and a vanished WAL each carry their exact reason."""
    from baton.errors import WalCorruption, WalMissing
    from baton.storage import PosixDisk
    from baton.wal import Wal, encode_record

    disk = PosixDisk(tmp_path)
    with pytest.raises(WalMissing) as missing:
        Wal.open(disk, "wal")
    assert missing.value.reason == "WAL file is missing"
    first = encode_record(1, 2, b"a")
    for second, reason in [
        (encode_record(3, 2, b"b"), "LSN 3 out of sequence (expected 2)"),
        (encode_record(2, 1, b"b"), "epoch 1 goes backwards (previous record epoch 2)"),
    ]:
        (tmp_path / "wal").write_bytes(first + second)
        (tmp_path / "wal.synced").write_bytes(b"")  # nothing synced yet
        with pytest.raises(WalCorruption) as refused:
            Wal.open(disk, "wal")
        assert refused.value.reason == f"record at offset {len(first)} (LSN 2): {reason}"


def test_marker_body_errors_name_the_field_they_stop_in() -> None:
    """marker.py:93-99 field labels ("node", "holder", "epoch", "previous-holder
    flag", "previous holder") and the bad-flag message mutated to "XX...XX": a
    checksummed but malformed body is refused (P6-F2) with a reason naming the
    field where decoding stopped, so an operator knows what is wrong on disk."""
    from baton.errors import MarkerCorrupt
    from baton.identity import encode_frame, pack_name
    from baton.marker import MARKER_FORMAT_VERSION, MARKER_MAGIC, decode_marker

    node, holder = pack_name("n1"), pack_name("n2")
    epoch = struct.pack(">Q", 7)
    cases = {
        b"": "malformed body: node length runs past the end",
        node[:2]: "malformed body: node runs past the end",
        node: "malformed body: holder length runs past the end",
        node + holder + epoch[:3]: "malformed body: epoch runs past the end",
        node + holder + epoch: "malformed body: previous-holder flag runs past the end",
        node + holder + epoch + b"\x02": "malformed body: previous-holder flag 2",
        node + holder + epoch + b"\x01": "malformed body: previous holder length runs past the end",
        node + holder + epoch + b"\x01" + pack_name("n1") + b"!": "malformed body: 1 extra bytes",
    }
    for body, reason in cases.items():
        frame = encode_frame(MARKER_MAGIC, MARKER_FORMAT_VERSION, body)
        with pytest.raises(MarkerCorrupt) as refused:
            decode_marker(frame, "dir/marker")
        assert refused.value.reason == reason, body
        assert "dir/marker" in str(refused.value)
    whole = node + holder + epoch + b"\x01" + pack_name("n1")
    decoded = decode_marker(encode_frame(MARKER_MAGIC, MARKER_FORMAT_VERSION, whole))
    assert (decoded.node, decoded.holder, decoded.epoch, decoded.previous_holder) == (
        "n1",
        "n2",
        7,
        "n1",
    )


def test_wal_clean_open_cuts_nothing_and_reports_defaults(tmp_path: Path) -> None:
    """wal.py:177 `while pos < len(data)` -> `<=`: at the end of a whole WAL there is
    no record to parse; recovery must not report (or perform) a cut of zero bytes."""
    from baton.storage import PosixDisk
    from baton.wal import RecoveryReport, Wal, encode_record

    data = encode_record(1, 1, b"a") + encode_record(2, 1, b"b")
    (tmp_path / "wal").write_bytes(data)
    (tmp_path / "wal.synced").write_bytes(b"")  # nothing synced yet
    wal, report = Wal.open(PosixDisk(tmp_path), "wal")
    assert report == RecoveryReport("wal", 2, 2)
    assert (tmp_path / "wal").read_bytes() == data and wal.end_lsn == 2


def test_wal_first_record_may_have_epoch_zero(tmp_path: Path) -> None:
    """wal.py:176 `last_epoch = 0` -> `1`: the WAL enforces that epochs never go
    backwards (P6-S2), not a floor; the floor is the marker's business, so a
    first record at epoch 0 is read back, not refused as going backwards."""
    from baton.storage import PosixDisk
    from baton.wal import Wal, encode_record

    (tmp_path / "wal").write_bytes(encode_record(1, 0, b"a") + encode_record(2, 0, b"b"))
    (tmp_path / "wal.synced").write_bytes(b"")  # nothing synced yet
    wal, report = Wal.open(PosixDisk(tmp_path), "wal")
    assert report.clean and [r.epoch for r in wal.entries()] == [0, 0]


def test_wal_torn_checksum_reason_shows_both_sums(tmp_path: Path) -> None:
    """wal.py:119 checksum reason mutated to "XX...XX": a last record whose bytes
    are all there but do not match their CRC is a torn tail, cut and reported
    with the stored and computed CRC32 (P6-S1: the records before it are kept)."""
    import zlib

    from baton.storage import PosixDisk
    from baton.wal import Wal, encode_record

    good, last = encode_record(1, 1, b"a"), bytearray(encode_record(2, 1, b"b"))
    last[-5] ^= 0x01  # the payload byte
    stored = int.from_bytes(last[-4:], "big")
    computed = zlib.crc32(bytes(last[:-4]))
    (tmp_path / "wal").write_bytes(good + bytes(last))
    (tmp_path / "wal.synced").write_bytes(b"")  # nothing synced yet
    _wal, report = Wal.open(PosixDisk(tmp_path), "wal")
    assert report.reason == f"checksum mismatch (stored {stored:08x}, computed {computed:08x})"
    assert (report.records, report.truncated_at) == (1, len(good))


def test_wal_torn_tail_with_magic_bytes_inside_is_still_a_torn_tail(tmp_path: Path) -> None:
    """wal.py:136 `parsed = None`, :140 `pos - 1` / `pos = None`: the search for a
    valid record after a bad one must skip a WAL magic that starts no valid
    record (here inside the torn record's own payload) and move forward, or a
    torn tail would be mistaken for corruption (or the search would never end)."""
    from baton.storage import PosixDisk
    from baton.wal import Wal, encode_record

    good = encode_record(1, 1, b"a")
    payload = b"xx" + bytes.fromhex("ba7a") + b"yy" + bytes.fromhex("ba7a") + b"zz"
    torn = encode_record(2, 1, payload)[:-3]  # the CRC did not fully land
    (tmp_path / "wal").write_bytes(good + torn)
    (tmp_path / "wal.synced").write_bytes(b"")  # nothing synced yet
    wal, report = Wal.open(PosixDisk(tmp_path), "wal")
    assert [r.lsn for r in wal.entries()] == [1]
    assert (report.truncated_at, report.bytes_dropped) == (len(good), len(torn))


def test_wal_corruption_names_the_valid_record_that_follows(tmp_path: Path) -> None:
    """wal.py:138 LSN taken from the epoch field / None, :193 `pos + 1` -> `pos + 2`,
    :198 message mutated: one stray byte before a whole record is corruption, not
    a torn tail (a valid record follows it, P6-S1), and the error names that
    record's LSN and offset exactly."""
    from baton.errors import WalCorruption
    from baton.storage import PosixDisk
    from baton.wal import Wal, encode_record

    first = encode_record(1, 3, b"a")
    (tmp_path / "wal").write_bytes(first + b"\x00" + encode_record(2, 5, b"b"))
    (tmp_path / "wal.synced").write_bytes(b"")  # nothing synced yet
    with pytest.raises(WalCorruption) as halted:
        Wal.open(PosixDisk(tmp_path), "wal")
    at = len(first)
    assert halted.value.reason == (
        f"record at offset {at} (LSN 2): bad magic 0x00ba (zeros mean a torn write); "
        f"a valid record (LSN 2) follows at offset {at + 1}, so this is not a torn tail"
    )


VALIDATOR_EXPLANATIONS = {
    "candidate_is_primary": "the candidate already admits writes (P6-A1)",
    "candidate_disabled": (
        "the candidate is disabled: replication or promotion switched off (P6-S1)"
    ),
    "candidate_uninitialized": "the candidate was never initialised from the primary (P6-S1)",
    "candidate_halted": "the candidate's replication is halted (history_divergence) (P6-S2)",
    "primary_active": "the old primary is observed Active (P6-A1)",
    "force_cannot_override_active_primary": (
        "force was given but the old primary is observed Active; force never overrides "
        "that (P6-A1a)"
    ),
    "primary_status_unknown": (
        "the old primary's status is Unknown and the request was not forced (P6-F1)"
    ),
    "ack_bound_unknown": "no upper bound on acknowledged writes is proven (P6-F1)",
    "candidate_behind_ack_bound": (
        "the candidate's durable WAL ends at 0, before the acknowledged bound 1 (P6-S1)"
    ),
    "history_unknown": (
        "it is unknown whether the candidate's WAL is a prefix of the committed history (P6-F1)"
    ),
    "history_divergent": "the candidate's WAL diverges from the committed history (P6-S2)",
    "mvcc_unknown": "MVCC visibility preservation is unknown (P6-F1)",
    "mvcc_violated": "promoting the candidate would violate MVCC visibility (P6-S3)",
}


def test_validator_each_denial_explains_itself_in_its_documented_words() -> None:
    """validator.py:160 (and every other denial text) mutated to "XX...XX": the
    explanation is what the operator and the oracle's reader see for a denial
    (P6-O2); each reason's sentence is pinned, on the first domain point that
    produces it."""
    from baton import validator
    from baton.spec import validation as spec

    found: dict[str, str] = {}
    for point in spec.decision_table():
        wal_end, bound = validator.POSITION_REPRESENTATIVES[point[4]][0]
        verdict = validator.validate(validator.context_for_point(point, wal_end, bound))
        if isinstance(verdict, validator.Denied):
            found.setdefault(verdict.reason, verdict.explanation)
    assert found == VALIDATOR_EXPLANATIONS


def test_validator_conformance_check_reports_each_kind_of_mismatch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """validator.py POSITION_REPRESENTATIVES values and conformance messages mutated:
    the equal-on-the-whole-domain check (P6-F1, P6-D1) must itself fail when a
    representative leaves its order relation, when a decision or an invariant
    differs from the spec's, or when the domain is not the documented 1512
    points -- and say which, exactly."""
    from baton import validator
    from baton.spec import validation as spec

    assert validator.conformance_mismatches() == []
    for relation, representatives in validator.POSITION_REPRESENTATIVES.items():
        assert {validator.ack_position(e, b) for e, b in representatives} == {relation}
        assert len(set(representatives)) == len(representatives) >= 2

    real = validator.validate
    monkeypatch.setattr(validator, "validate", lambda ctx: validator.Allowed())
    decisions = validator.conformance_mismatches()
    assert decisions and all(
        re.fullmatch(r"\(.+\) end=\d+ bound=(\d+|None): runtime allowed, spec \w+", line)
        for line in decisions
    ), decisions[:3]

    def wrong_invariant(ctx: validator.ValidationContext) -> validator.Verdict:
        verdict = real(ctx)
        if isinstance(verdict, validator.Denied):
            return validator.Denied(verdict.reason, "P6-ZZ", verdict.explanation)
        return verdict

    monkeypatch.setattr(validator, "validate", wrong_invariant)
    invariants = validator.conformance_mismatches()
    assert invariants and all(
        re.fullmatch(r"\(.+\): runtime invariant P6-ZZ, spec P6-[A-Z][0-9]+a?", line)
        for line in invariants
    ), invariants[:3]

    monkeypatch.setattr(validator, "validate", real)
    one_point = dict(list(spec.decision_table().items())[:1])
    monkeypatch.setattr(spec, "decision_table", lambda: one_point)
    assert validator.conformance_mismatches() == ["the spec's domain has 1 points, expected 1512"]
    monkeypatch.setitem(validator.POSITION_REPRESENTATIVES, "Equal", ((1, 0),))
    assert "representative end=1 bound=0 is Ahead, not Equal" in (
        validator.conformance_mismatches()
    )


def test_lifecycle_in_flight_states_are_approve_until_complete() -> None:
    """lifecycle.py IN_FLIGHT_STATES mutated ("XX...XX" / None): the hazardous gap
    between an approval and a durable marker is exactly the states entered by
    ``approve`` and left by ``complete`` -- the states in which the candidate's
    WAL is frozen (P6-S1)."""
    from baton import lifecycle

    approved = {to for (_, event), to in lifecycle.TRANSITIONS.items() if event == "approve"}
    completing = {state for (state, event) in lifecycle.TRANSITIONS if event == "complete"}
    between = {
        to
        for (state, _), to in lifecycle.TRANSITIONS.items()
        if state in approved and to in completing
    }
    in_flight = lifecycle.IN_FLIGHT_STATES
    assert in_flight == approved | between
    assert in_flight == {"PromotionApproved", "AuthorityTransitioning"}


def test_lifecycle_machine_legality_errors_and_repr() -> None:
    """lifecycle.py `in` -> `not in` in is_allowed, the unknown-state message and
    the repr mutated: legality is exactly the generated table (P6-D2), an unknown
    state is refused by name, and the machine shows its state."""
    from baton import lifecycle

    for state in lifecycle.STATES:
        for event in lifecycle.EVENTS:
            assert lifecycle.is_allowed(state, event) == ((state, event) in lifecycle.TRANSITIONS)
    with pytest.raises(ValueError, match=r"^unknown lifecycle state 'Nowhere'$"):
        lifecycle.PromotionState("Nowhere")
    machine = lifecycle.PromotionState()
    machine.fire("request")
    assert repr(machine) == "PromotionState('PromotionRequested')"


def test_recovery_frames_fit_one_sector_exactly() -> None:
    """identity.py:61 `MAX_FRAME = 511` -> 512, :88 `>` -> `>=`, :89 message, :105
    `<` -> `<=`: a frame of exactly 511 bytes encodes (one 512-byte sector holds
    it whole, the atomic-write assumption behind P6-F2), 512 is refused by name,
    and the smallest frame -- an empty body -- decodes."""
    from baton.errors import IdentityCorrupt
    from baton.identity import MAX_FRAME, MIN_FRAME, decode_frame, encode_frame

    assert MAX_FRAME == 511
    assert len(encode_frame(b"TEST", 1, bytes(511 - MIN_FRAME))) == 511
    with pytest.raises(ValueError, match=r"^frame of 512 bytes exceeds 511$"):
        encode_frame(b"TEST", 1, bytes(512 - MIN_FRAME))
    smallest = encode_frame(b"TEST", 1, b"")
    assert len(smallest) == MIN_FRAME
    assert decode_frame("f", smallest, b"TEST", 1, IdentityCorrupt) == b""


def test_recovery_frame_and_name_errors_say_exactly_what_is_wrong() -> None:
    """identity.py:122 version message, :130 name-length message mutated: the
    fail-closed reasons an operator reads are exact."""
    from baton.errors import IdentityCorrupt
    from baton.identity import decode_frame, encode_frame, pack_name

    with pytest.raises(IdentityCorrupt) as version:
        decode_frame("f", encode_frame(b"TEST", 2, b""), b"TEST", 1, IdentityCorrupt)
    assert version.value.reason == "unsupported format version 2 (this Baton reads 1)"
    with pytest.raises(ValueError, match=r"^name '' must be 1\.\.64 UTF-8 bytes$"):
        pack_name("")


def test_recovery_identity_body_errors_name_the_field() -> None:
    """identity.py:141-165 BodyReader (`pos + n` -> `pos - n`, `<= MAX_NAME_BYTES` ->
    `<`, every reason mutated to "XX...XX"): a checksummed but malformed identity
    body is refused with IdentityCorrupt naming the field and what is wrong; a
    name of exactly 64 bytes is valid."""
    from baton.errors import IdentityCorrupt
    from baton.identity import IDENTITY_MAGIC, IDENTITY_VERSION, decode_identity, encode_frame

    def refused(body: bytes) -> str:
        with pytest.raises(IdentityCorrupt) as error:
            decode_identity(encode_frame(IDENTITY_MAGIC, IDENTITY_VERSION, body), "d/identity")
        assert "d/identity" in str(error.value)
        return error.value.reason

    def name(raw: bytes) -> bytes:
        return bytes([len(raw)]) + raw

    longest = b"n" * 64
    assert decode_identity(
        encode_frame(IDENTITY_MAGIC, IDENTITY_VERSION, name(longest) + name(b"c") + name(b"t"))
    ).node_id == longest.decode("ascii")
    assert refused(b"") == "malformed body: node id length runs past the end"
    assert refused(b"\x05ab") == "malformed body: node id runs past the end"
    assert refused(b"\x00") == "malformed body: node id length 0"
    assert refused(bytes([65]) + b"n" * 65) == "malformed body: node id length 65"
    assert refused(b"\x02\xff\xfe") == "malformed body: node id is not UTF-8"
    assert refused(name(b"n")) == "malformed body: cluster id length runs past the end"
    assert refused(name(b"n") + name(b"c")) == "malformed body: token length runs past the end"
    whole = name(b"n") + name(b"c") + name(b"t")
    assert refused(whole + b"!?") == "malformed body: 2 extra bytes"


def test_recovery_temp_names_are_final_name_infix_pid_counter() -> None:
    """identity.py:69 `count(1)` -> 2, :78 token and :177 temp name wrapped in
    "XX...XX": a temp file is ``<final>.tmp.<pid>.<n>`` with n counting from 1
    in each process -- the pattern cleanup_temp_files removes after a crash and
    that never collides across processes (no temp name shared between processes)."""
    import errno
    import subprocess
    import sys

    from baton.errors import StorageError
    from baton.identity import write_durably
    from baton.storage import FaultPlan, FaultyDisk, SimDisk

    probe = (
        "import os\n"
        "from baton.identity import unique_token\n"
        "print(unique_token() == f'{os.getpid()}.1', unique_token() == f'{os.getpid()}.2')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["True", "True"]

    inner = SimDisk()
    disk = FaultyDisk(inner, FaultPlan(nth=1, errno=errno.EIO, ops=frozenset({"rename"})))
    with pytest.raises(StorageError):
        write_durably(disk, "identity", b"data")
    (left,) = inner.listdir("")
    assert re.fullmatch(r"identity\.tmp\.\d+\.\d+", left), left


def test_recovery_identity_bytes_are_the_documented_format() -> None:
    """identity.py:213 `IDENTITY_VERSION = 1` -> 2, :216 NodeIdentity `frozen=False`:
    the identity file is ``BTID | length | version 1 | node id | cluster id |
    token | crc32`` (a changed version would make every existing node refuse to
    start), and an identity is an immutable value."""
    import dataclasses
    import zlib

    from baton.identity import NodeIdentity, encode_identity

    identity = NodeIdentity("n1", "c1", "t")
    head = b"BTID" + struct.pack(">HB", 19, 1) + b"\x02n1\x02c1\x01t"
    assert encode_identity(identity) == head + zlib.crc32(head).to_bytes(4, "big")
    with pytest.raises(dataclasses.FrozenInstanceError):
        identity.token = "u"  # type: ignore[misc]


def test_controller_request_and_result_are_frozen_values_with_safe_defaults() -> None:
    """controller.py:40,53 `frozen=False`, defaults `force=None`, `reason=""`,
    `primary_uncertain=None`, `interrupted=""`: a request is not forced, carries
    no reason and asserts nothing about the primary unless the operator says so
    (P6-A1a: force is explicit); a result is interrupted only when a node died;
    neither can be edited after the fact (the audit trail, P6-O1)."""
    import dataclasses

    from baton.controller import AttemptResult, PromotionRequest

    request = PromotionRequest("n1", "alice")
    assert request == PromotionRequest("n1", "alice", False, None, False, "Preserved")
    assert request.force is False and request.primary_uncertain is False
    assert request.reason is None
    result = AttemptResult("n1", "Steady", None)
    assert result == AttemptResult("n1", "Steady", None, None) and result.interrupted is None
    for value, field in ((request, "force"), (result, "state")):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(value, field, True)


def test_controller_refusals_name_the_candidate_and_the_problem() -> None:
    """controller.py:127,155,157 messages mutated to "XX...XX": an ill-formed
    request is refused with a message naming the candidate and what is wrong."""
    from baton import core
    from baton.controller import Controller, CoreDriver, PromotionRequest
    from baton.errors import InapplicableRequest

    state, _ = core.step(core.initial_state(3), core.Crash(0))
    ctl = Controller(CoreDriver(state))
    with pytest.raises(InapplicableRequest) as nobody:
        ctl.request_promotion(PromotionRequest("n1", operator=""))
    assert str(nobody.value) == "promotion request for 'n1': no operator identity given"
    with pytest.raises(InapplicableRequest) as bad_reason:
        ctl.request_promotion(PromotionRequest("n2", operator="alice", reason=7))  # type: ignore[arg-type]
    assert str(bad_reason.value) == "promotion request for 'n2': the reason must be text"


def test_controller_candidate_crash_mid_transition_ends_the_attempt_in_steady() -> None:
    """controller.py:149 `"Steady"` -> "XXSteadyXX": a candidate that dies during
    the marker write ends the attempt; its lifecycle restarts in Steady (the
    crash semantics of every lifecycle state) and nothing retries (P6-F3)."""
    from baton import core
    from baton.controller import Controller, CoreDriver, PromotionRequest

    class CrashAfterRename(CoreDriver):
        def apply(self, action: core.Action) -> tuple[core.Effect, ...]:
            effects = super().apply(action)
            if isinstance(action, core.MarkerOp) and action.op == "rename":
                super().apply(core.Crash(action.candidate, "new"))
            return effects

    state, _ = core.step(core.initial_state(3), core.Crash(0))
    driver = CrashAfterRename(state)
    result = Controller(driver).request_promotion(PromotionRequest("n1", operator="alice"))
    assert (result.state, result.interrupted) == ("Steady", "n1")
    assert result.verdict is not None and result.verdict.allowed
    assert not driver.state.nodes[1].up


def test_recovery_init_and_read_refusals_are_exact() -> None:
    """identity.py:242,273,275 messages mutated, :249 RecoveredNode `frozen=False`:
    reading a directory without a node, initialising one twice, or with a marker
    of another node is refused with an exact reason; what recovery returns is
    an immutable record of what it read (P6-F2)."""
    import dataclasses

    from baton.errors import NotInitialised, ProtocolError
    from baton.identity import NodeIdentity, initialise_node, read_identity, recover_node
    from baton.marker import Marker
    from baton.storage import SimDisk

    disk = SimDisk()
    with pytest.raises(NotInitialised) as empty:
        read_identity(disk)
    assert empty.value.reason == "no identity file: this directory holds no Baton node"
    identity = NodeIdentity("n1", "c1", "t")
    with pytest.raises(ValueError, match=r"^marker names node 'n2', identity 'n1'$"):
        initialise_node(disk, identity, Marker("n2", "n2", 1, None))
    initialise_node(disk, identity, Marker("n1", "n1", 1, None))
    with pytest.raises(
        ProtocolError, match=r"^identity: directory already holds an initialised node$"
    ):
        initialise_node(disk, identity, Marker("n1", "n1", 1, None))
    recovered = recover_node(disk)
    with pytest.raises(dataclasses.FrozenInstanceError):
        recovered.marker = Marker("n1", "n2", 2, "n1")  # type: ignore[misc]


def test_wal_handle_epochs_start_at_zero_and_never_go_back() -> None:
    """wal.py:237 empty `last_epoch` 0 -> 1, :256-257 message mutated: a fresh WAL
    takes a record of any epoch; a lower epoch after a higher one is refused,
    naming both (P6-S2: epochs along a WAL never decrease)."""
    from baton.errors import ProtocolError
    from baton.storage import SimDisk
    from baton.wal import Wal

    wal = Wal.create(SimDisk(), "wal")
    assert wal.last_epoch == 0
    assert wal.append(0, b"a") == 1
    wal.append(3, b"b")
    with pytest.raises(ProtocolError) as backwards:
        wal.append(2, b"c")
    assert (
        str(backwards.value) == "wal: append in epoch 2 after epoch 3 (epochs never go backwards)"
    )


@pytest.mark.parametrize("operation", ["append", "fsync", "truncate"])
def test_wal_failed_operation_poisons_the_handle_naming_the_failure(operation: str) -> None:
    """wal.py:246-247, 265, 279, 297 poison reasons mutated ("XX...XX" / None): after a
    failed append, fsync or truncate the handle refuses every later use, saying
    which operation failed and why (fsyncgate: reopen from disk, never retry)."""
    from baton.errors import DiskFault
    from baton.storage import FaultPlan, FaultyDisk, SimDisk
    from baton.wal import Wal

    inner = SimDisk()
    created = Wal.create(inner, "wal")
    created.append(1, b"a")
    created.sync()  # the synced end is recorded: opening appends nothing to it
    # Opening fsyncs what it read (operation #1 of the fsyncs): fail the next one.
    plan = FaultPlan(nth=2 if operation == "fsync" else 1, ops=frozenset({operation}))
    wal, _ = Wal.open(FaultyDisk(inner, plan), "wal")
    with pytest.raises(DiskFault) as first:
        if operation == "append":
            wal.append(1, b"b")
        elif operation == "fsync":
            wal.append(1, b"b")
            wal.sync()
        else:
            wal.truncate_after(0)
    expected = (
        f"WAL handle unusable after an earlier failure ({operation} failed: "
        f"{first.value.reason}); reopen from disk"
    )
    for later in (lambda: wal.append(1, b"c"), wal.sync, lambda: wal.truncate_after(0)):
        with pytest.raises(DiskFault) as refused:
            later()
        assert refused.value.reason == expected


def test_wal_truncate_after_cuts_at_record_boundaries_of_its_own_appends() -> None:
    """wal.py:268 record end offsets (`0` -> `1`, `+` -> `-`), :288 bounds (`0 <=` ->
    `1 <=` / `0 <`, `<= end` -> `<`), :290 message, :292 empty size `0` -> `1`:
    truncating the records this handle appended leaves exactly the records kept,
    byte for byte; 0 and the end are valid cut points; beyond the end is refused."""
    from baton.errors import ProtocolError
    from baton.storage import SimDisk
    from baton.wal import Wal, encode_record

    disk = SimDisk()
    wal = Wal.create(disk, "wal")
    for payload in (b"a", b"bb", b"ccc"):
        wal.append(1, payload)
    wal.sync()
    wal.truncate_after(3)  # the end: nothing to cut
    assert disk.read("wal") == b"".join(
        encode_record(k, 1, p) for k, p in ((1, b"a"), (2, b"bb"), (3, b"ccc"))
    )
    wal.truncate_after(1)
    assert disk.read("wal") == encode_record(1, 1, b"a")
    assert (wal.end_lsn, wal.synced_lsn) == (1, 1)
    with pytest.raises(ProtocolError) as beyond:
        wal.truncate_after(2)
    assert str(beyond.value) == "wal: cannot truncate after LSN 2 (end 1)"
    wal.truncate_after(0)
    assert disk.read("wal") == b"" and (wal.end_lsn, wal.synced_lsn) == (0, 0)


@pytest.mark.parametrize("obligation", ["explore.N2.W1.P1.async", "explore.N2.W1.P1.sync"])
def test_core_killed_by_verify_explorer(obligation: str) -> None:
    """baton verify's explorer obligations as a killer of impl/core.py mutants: every
    step of the (mutated) core must be a step of the spec and every state must satisfy
    the spec's properties (P6-A1 .. P6-F3). Small bounds, one process: cheap enough to
    run per mutant."""
    from baton.proofs import obligations

    _group, n, w, p, mode = obligation.split(".")
    ob = obligations.Obligation(
        obligation,
        "explore",
        (),
        "explicit-state",
        "",
        {
            "runner": "explore_model",
            "n": int(n[1:]),
            "writes": int(w[1:]),
            "promotions": int(p[1:]),
            "mode": mode,
            "expect": "pass",
            "workers": 1,
        },
    )
    outcome = obligations.run(ob)
    assert outcome.passed, outcome.detail


def test_cluster_index_of_names_every_node_and_refuses_others() -> None:
    """cluster.py index_of `not in` -> `in`: the controller names nodes by name; each
    of the cluster's names maps to its index, an unknown name is UnknownNode."""
    from baton.cluster import RuntimeCluster
    from baton.errors import UnknownNode
    from baton.storage import SimDisk

    cluster = RuntimeCluster([SimDisk() for _ in range(3)], "async")
    try:
        assert [cluster.index_of(name) for name in cluster.names] == [0, 1, 2]
        with pytest.raises(UnknownNode):
            cluster.index_of("no-such-node")
    finally:
        cluster.close()
