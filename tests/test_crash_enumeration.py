"""Every crash state of the marker write, node init and WAL appends, under both models.

Covers the invariants P6-F2 (recovery yields exactly the old or the new
authority), P6-S1 (no acknowledged write lost, and none cut silently later:
the durable synced end covers every record recovery returns, and a bit flip
in the last acknowledged record of every recovered state is refused, not
cut), P6-A3 (epochs never go backwards on disk); a node whose init returned
is found again; recovery's repairs are durable and idempotent.

The harness runs a *workload* -- up to three operations after a node is
initialised, CrashMonkey-style -- on a :class:`~baton.storage.SimDisk`. Before
every file operation, and once more after each API call returns, it
enumerates every durable image a crash may leave (``crash_states``) under the
persistence model, recovers each image from scratch with
:func:`baton.identity.recover_node`, and judges the result against what the
workload had been promised so far (:class:`Expect`). It also crashes right
after that recovery and recovers again: repairs must be durable when
recovery returns, and the second recovery must agree with the first.

Workload letters: ``A`` append + sync (acknowledged), ``a`` append without
sync, ``M`` a marker write handing the baton to the other node; and four
special workloads: ``I`` init from an empty directory, ``C`` create a
missing WAL, ``T`` truncate_after on a three-record WAL, ``R`` recovery of a
directory holding a torn WAL tail and a leftover temp file.

Which typed errors are legitimate: under JOURNALED, none (the protocol must
always recover old-or-new). Under ALICE_WEAK, a non-atomic rename may leave
neither name while a marker write is in flight (MarkerMissing, fail closed),
and unsynced appends may persist out of order, leaving a torn record before
a whole one (WalCorruption) -- allowed only when that record was never
acknowledged. The counts of such states are pinned too.

This module is also the harness the fsync-mutant tests import.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import pytest
from baton.errors import (
    MarkerMissing,
    NotInitialised,
    StorageError,
    WalCorruption,
    WalMissing,
)
from baton.identity import NodeIdentity, encode_identity, initialise_node, recover_node
from baton.marker import MARKER_STEPS, Marker, write_marker
from baton.storage import CrashState, PersistenceModel, SimDisk
from baton.wal import (
    RECORD_OVERHEAD,
    Wal,
    encode_record,
    encode_synced_slot,
    read_synced_end,
    synced_end_path,
)

JOURNALED = PersistenceModel.JOURNALED
ALICE_WEAK = PersistenceModel.ALICE_WEAK
MODELS = (JOURNALED, ALICE_WEAK)

IDENTITY = NodeIdentity("n1", "c1", "incarnation-1")
FIRST_MARKER = Marker("n1", "n1", 1, None)
HANDED_OVER = Marker("n1", "n2", 2, "n1")

Site = tuple[str, int]
"""An fsync call site: (real path of the module, line number)."""


# --- the disk as the harness sees it ---------------------------------------------------


class HarnessDisk:
    """A SimDisk that calls ``observe()`` before every mutating operation.

    With ``skip_site`` set, the one ``fsync``/``fsync_dir`` call made from that
    source line does nothing: an fsync mutant (tests/test_fsync_mutants.py).
    """

    def __init__(self, inner: SimDisk, observe: Callable[[], None], skip_site: Site | None) -> None:
        self.inner = inner
        self.observe = observe
        self.skip_site = skip_site
        self.skipped = 0

    def _mutant_skips(self) -> bool:
        if self.skip_site is None:
            return False
        caller = sys._getframe(2)
        here = (os.path.realpath(caller.f_code.co_filename), caller.f_lineno)
        if here == self.skip_site:
            self.skipped += 1
            return True
        return False

    def read(self, path: str) -> bytes | None:
        return self.inner.read(path)

    def write_file(self, path: str, data: bytes) -> None:
        self.observe()
        self.inner.write_file(path, data)

    def append(self, path: str, data: bytes) -> None:
        self.observe()
        self.inner.append(path, data)

    def fsync(self, path: str) -> None:
        self.observe()
        if not self._mutant_skips():
            self.inner.fsync(path)

    def rename(self, src: str, dst: str) -> None:
        self.observe()
        self.inner.rename(src, dst)

    def fsync_dir(self, dirpath: str) -> None:
        self.observe()
        if not self._mutant_skips():
            self.inner.fsync_dir(dirpath)

    def truncate(self, path: str, size: int) -> None:
        self.observe()
        self.inner.truncate(path, size)

    def listdir(self, dirpath: str) -> list[str]:
        return self.inner.listdir(dirpath)

    def exists(self, path: str) -> bool:
        return self.inner.exists(path)

    def makedirs(self, dirpath: str) -> None:
        self.observe()
        self.inner.makedirs(dirpath)

    def remove(self, path: str) -> None:
        self.observe()
        self.inner.remove(path)


# --- what recovery must show --------------------------------------------------------------


@dataclass(frozen=True)
class Expect:
    """What the workload has been promised so far; every crash state must honour it.

    ``initialised``: init returned, so recovery must find the node.
    ``markers``: the markers recovery may return -- the last durable one, plus
    the one being written while a write is in flight (P6-F2).
    ``written``: every record that may appear, in order, as (epoch, payload);
    ``acked``: records 1..acked were synced and must appear (P6-S1).
    ``wal_created``: the WAL exists durably (else WalMissing is expected).
    ``repaired``: a recovery returned, so its repairs must be durable: the
    next recovery finds no torn tail and no temp file.
    """

    initialised: bool = True
    markers: frozenset[Marker] = frozenset({FIRST_MARKER})
    marker_in_flight: bool = False
    written: tuple[tuple[int, bytes], ...] = ()
    acked: int = 0
    wal_created: bool = True
    repaired: bool = False


@dataclass(frozen=True)
class Verdict:
    """The judgement of one crash state: ``outcome`` for tallies, ``violation`` if any."""

    outcome: str
    violation: str | None = None


def _recover_and_check(disk: SimDisk, expect: Expect, model: PersistenceModel) -> Verdict:
    try:
        node = recover_node(disk)
    except NotInitialised as exc:
        if expect.initialised:
            return Verdict("error", f"init had returned, yet recovery says: {exc}")
        return Verdict("not-initialised")
    except MarkerMissing as exc:
        if model is ALICE_WEAK and expect.marker_in_flight:
            return Verdict("MarkerMissing (non-atomic rename left neither name)")
        return Verdict("error", f"MarkerMissing: {exc}")
    except WalMissing as exc:
        if not expect.wal_created:
            return Verdict("wal-not-yet-created")
        return Verdict("error", f"WalMissing: {exc}")
    except WalCorruption as exc:
        if model is ALICE_WEAK and exc.lsn is not None and exc.lsn > expect.acked:
            return Verdict("WalCorruption (unsynced appends persisted out of order)")
        return Verdict("error", f"WalCorruption: {exc}")
    except StorageError as exc:
        return Verdict("error", f"{type(exc).__name__}: {exc}")
    if node.marker not in expect.markers:
        allowed = ", ".join(f"{m.holder}@{m.epoch}" for m in expect.markers)
        return Verdict(
            "error",
            f"marker {node.marker.holder}@{node.marker.epoch} is neither old nor new ({allowed})",
        )
    records = node.wal.entries()
    if len(records) < expect.acked:
        return Verdict(
            "error", f"acknowledged LSN {len(records) + 1} lost (acked up to {expect.acked})"
        )
    if len(records) > len(expect.written):
        return Verdict("error", f"{len(records)} records recovered, only {len(expect.written)} may")
    for record, (epoch, payload) in zip(records, expect.written, strict=False):
        if (record.epoch, record.payload) != (epoch, payload):
            return Verdict(
                "error", f"LSN {record.lsn} recovered as {record!r}, written {payload!r}"
            )
    # P6-S1, fail closed: every record recovery returned -- every acknowledged one
    # among them -- is covered by the durable synced end, so damage to it later is
    # refused (WalCorruption), never cut as a torn tail.
    synced_end = read_synced_end(disk, "wal").lsn
    if synced_end != len(records):
        return Verdict(
            "error",
            f"recovery returned {len(records)} records but the synced end says {synced_end}",
        )
    if expect.repaired and (not node.wal_report.clean or node.removed_temp_files):
        return Verdict(
            "error",
            "a recovery had returned, yet its repairs were not durable: "
            f"{node.wal_report.describe()}; temp files {node.removed_temp_files}",
        )
    # Crash right after this recovery; recovering again must agree
    # and find nothing left to repair.
    try:
        again = recover_node(disk.crash())
    except StorageError as exc:
        return Verdict("error", f"second recovery failed: {type(exc).__name__}: {exc}")
    if (again.marker, again.wal.entries()) != (node.marker, records):
        return Verdict("error", "recover, crash, recover disagrees with recovering once")
    if not again.wal_report.clean or again.removed_temp_files:
        return Verdict("error", f"repairs of recovery not durable: {again.wal_report.describe()}")
    return Verdict("ok" if node.wal_report.clean else "ok, torn tail cut")


def _damage_to_last_acknowledged_is_refused(state: CrashState, expect: Expect) -> bool:
    """Flip a payload bit of the last acknowledged record in the crash state itself:
    recovery must refuse it (WalCorruption at that LSN), not cut it as a torn tail
    (P6-S1) -- whatever the crash left of the synced-end file."""
    disk = SimDisk(state)
    end = sum(RECORD_OVERHEAD + len(payload) for _, payload in expect.written[: expect.acked])
    data = bytearray(disk.read("wal") or b"")
    data[end - 5] ^= 0x01  # the last payload byte, or the header's last byte if empty
    disk.write_file("wal", bytes(data))
    disk.fsync("wal")
    try:
        Wal.open(disk, "wal")
    except WalCorruption as exc:
        return exc.lsn == expect.acked
    return False


def judge(state: CrashState, expect: Expect, model: PersistenceModel) -> Verdict:
    """Recover ``state`` from scratch and check it against ``expect``."""
    verdict = _recover_and_check(SimDisk(state), expect, model)
    if (
        verdict.violation is None
        and expect.acked
        and not _damage_to_last_acknowledged_is_refused(state, expect)
    ):
        return Verdict("error", f"a bit flip in acknowledged LSN {expect.acked} was not refused")
    return verdict


# --- workloads ---------------------------------------------------------------------------------

BASIC_LETTERS = "AaM"
BASIC_WORKLOADS: tuple[str, ...] = tuple(
    "".join(w) for n in (1, 2, 3) for w in itertools.product(BASIC_LETTERS, repeat=n)
)
SPECIAL_WORKLOADS: tuple[str, ...] = ("I", "C", "T", "R", "IP", "MP", "aP")
ALL_WORKLOADS: tuple[str, ...] = SPECIAL_WORKLOADS + BASIC_WORKLOADS


@dataclass
class Run:
    """The result of one workload under one model."""

    workload: str
    model: PersistenceModel
    states: set[CrashState] = field(default_factory=set)
    crash_points: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)
    mutant_skips: int = 0


class _Stop(Exception):
    """Raised inside a workload to stop at its first violation (mutant runs)."""


def _initialised_disk() -> SimDisk:
    disk = SimDisk()
    initialise_node(disk, IDENTITY, FIRST_MARKER)
    return disk.crash()  # nothing pending: only what init made durable


def _setup(workload: str) -> tuple[SimDisk, Expect]:
    """The durable starting point of a workload and the promise it starts with."""
    if workload == "I":
        return SimDisk(), Expect(initialised=False)
    disk = _initialised_disk()
    if workload == "C":
        disk.remove("wal")
        disk.fsync_dir("")
        return disk.crash(), Expect(wal_created=False)
    if workload == "T":
        wal, _ = Wal.open(disk, "wal")
        written = tuple((1, f"t{i}".encode()) for i in (1, 2, 3))
        for epoch, payload in written:
            wal.append(epoch, payload)
        wal.sync()
        return disk.crash(), Expect(written=written, acked=3)
    if workload == "IP":
        # The process died after the identity's rename, before its directory fsync:
        # the live disk still shows the node (the machine did not crash).
        disk = SimDisk()
        write_marker(disk, FIRST_MARKER)
        Wal.create(disk, "wal")
        disk.write_file("identity.tmp.999.1", encode_identity(IDENTITY))
        disk.fsync("identity.tmp.999.1")
        disk.rename("identity.tmp.999.1", "identity")
        return disk, Expect(initialised=False)
    if workload == "MP":
        # The process died after the marker's rename, before its directory fsync.
        write_marker(disk, HANDED_OVER, variant=("write_temp", "fsync_temp", "rename"))
        return disk, Expect(markers=frozenset({FIRST_MARKER, HANDED_OVER}), marker_in_flight=True)
    if workload == "aP":
        # The process died after an append, before the sync.
        wal, _ = Wal.open(disk, "wal")
        wal.append(1, b"unsynced")
        return disk, Expect(written=((1, b"unsynced"),))
    if workload == "R":
        # A synced record, then a torn one (half its bytes), and a leftover temp file.
        whole = encode_record(1, 1, b"kept")
        torn = encode_record(2, 1, b"torn-away")
        disk.write_file("wal", whole + torn[: len(torn) // 2])
        disk.fsync("wal")
        disk.append(synced_end_path("wal"), encode_synced_slot(1, len(whole)))
        disk.fsync(synced_end_path("wal"))
        disk.write_file("marker.tmp.999.1", b"leftover")
        disk.fsync("marker.tmp.999.1")
        disk.fsync_dir("")
        return disk.crash(), Expect(written=((1, b"kept"),), acked=1)
    return disk, Expect()


class _Harness:
    """One workload run: the disk, the current promise, the verdict cache."""

    def __init__(
        self,
        run: Run,
        sim: SimDisk,
        expect: Expect,
        skip_site: Site | None,
        stop_at_first_violation: bool,
        cache: dict[tuple[CrashState, Expect], Verdict],
        marker_variant: tuple[str, ...] = MARKER_STEPS,
    ) -> None:
        self.marker_variant = marker_variant
        self.run = run
        self.sim = sim
        self.expect = expect
        self.stop = stop_at_first_violation
        self.cache = cache
        self.disk = HarnessDisk(sim, self.observe, skip_site)

    def observe(self) -> None:
        """A crash point: judge every state a crash here may leave."""
        run = self.run
        run.crash_points += 1
        for state in self.sim.crash_states(run.model):
            run.states.add(state)
            key = (state, self.expect)
            verdict = self.cache.get(key)
            if verdict is None:
                verdict = self.cache[key] = judge(state, self.expect, run.model)
            run.outcomes[verdict.outcome] += 1
            if verdict.violation is not None:
                run.violations.append(
                    f"{run.workload} [{run.model.value}] {verdict.violation} "
                    f"(crash state: {state.label})"
                )
                if self.stop:
                    raise _Stop

    def promise(self, **changes: object) -> None:
        self.expect = replace(self.expect, **changes)  # type: ignore[arg-type]

    def perform(self, workload: str) -> None:
        disk = self.disk
        if workload == "I":
            initialise_node(disk, IDENTITY, FIRST_MARKER)
            self.promise(initialised=True)
        elif workload == "C":
            Wal.create(disk, "wal")
            self.promise(wal_created=True)
        elif workload == "T":
            wal, _ = Wal.open(disk, "wal")
            # The caller chose to drop LSNs 2..3 (a divergent suffix): while the
            # cut is in flight they may or may not survive; after, never.
            self.promise(acked=1)
            wal.truncate_after(1)
            self.promise(written=self.expect.written[:1])
        elif workload == "R":
            recover_node(disk)
            self.promise(repaired=True)
        elif workload.endswith("P"):
            # Restart of the process alone: recovery reads the live disk, and the
            # node will act on what it read -- so all of it must be durable now.
            node = recover_node(disk)
            self.promise(
                initialised=True,
                markers=frozenset({node.marker}),
                marker_in_flight=False,
                acked=node.wal.end_lsn,
                repaired=True,
            )
        else:
            self._perform_basic(workload)
        self.observe()

    def _perform_basic(self, workload: str) -> None:
        wal, _ = Wal.open(self.disk, "wal")
        marker = FIRST_MARKER
        for letter in workload:
            if letter in "Aa":
                payload = f"w{wal.end_lsn + 1}".encode()
                # While the append runs, the record may appear (whole) or not.
                self.promise(written=(*self.expect.written, (marker.epoch, payload)))
                wal.append(marker.epoch, payload)
                if letter == "A":
                    wal.sync()
                    self.promise(acked=wal.end_lsn)  # the write is acknowledged now
            else:
                new = Marker(
                    "n1", "n2" if marker.holder == "n1" else "n1", marker.epoch + 1, marker.holder
                )
                self.promise(markers=frozenset({marker, new}), marker_in_flight=True)
                write_marker(self.disk, new, variant=self.marker_variant)
                marker = new
                self.promise(markers=frozenset({new}), marker_in_flight=False)
            self.observe()


def run_workload(
    workload: str,
    model: PersistenceModel,
    *,
    skip_site: Site | None = None,
    stop_at_first_violation: bool = False,
    cache: dict[tuple[CrashState, Expect], Verdict] | None = None,
    marker_variant: tuple[str, ...] = MARKER_STEPS,
) -> Run:
    """Run ``workload``, judging every crash state at every crash point."""
    run = Run(workload, model)
    sim, expect = _setup(workload)
    harness = _Harness(
        run,
        sim,
        expect,
        skip_site,
        stop_at_first_violation,
        cache if cache is not None else {},
        marker_variant,
    )
    with contextlib.suppress(_Stop):
        harness.perform(workload)
    run.mutant_skips = harness.disk.skipped
    return run


# --- the tests ----------------------------------------------------------------------------------

PINNED_STATE_COUNTS: dict[PersistenceModel, dict[str, int]] = {
    # Distinct crash images per workload (union over its crash points): regression
    # data, as Stateright pins state counts. A change means the protocol's file
    # operations or the persistence model changed -- update deliberately. (They
    # grew when each sync began recording the synced end in wal.synced.)
    JOURNALED: {"I": 13, "C": 2, "T": 5, "R": 4, "IP": 3, "MP": 3, "aP": 7, "A": 7, "a": 4,
                "M": 6, "AA": 13, "Aa": 10, "AM": 12, "aA": 10, "aa": 7, "aM": 24, "MA": 12,
                "Ma": 9, "MM": 11, "AAA": 19, "AAa": 16, "AAM": 18, "AaA": 16, "Aaa": 13,
                "AaM": 30, "AMA": 18, "AMa": 15, "AMM": 17, "aAA": 16, "aAa": 13, "aAM": 15,
                "aaA": 13, "aaa": 10, "aaM": 42, "aMA": 30, "aMa": 27, "aMM": 44, "MAA": 18,
                "MAa": 15, "MAM": 17, "MaA": 15, "Maa": 12, "MaM": 29, "MMA": 17, "MMa": 14,
                "MMM": 16},
    ALICE_WEAK: {"I": 20, "C": 2, "T": 7, "R": 4, "IP": 4, "MP": 6, "aP": 11, "A": 11, "a": 6,
                 "M": 11, "AA": 21, "Aa": 16, "AM": 21, "aA": 31, "aa": 26, "aM": 66, "MA": 21,
                 "Ma": 16, "MM": 20, "AAA": 31, "AAa": 26, "AAM": 31, "AaA": 41, "Aaa": 36,
                 "AaM": 76, "AMA": 31, "AMa": 26, "AMM": 30, "aAA": 41, "aAa": 36, "aAM": 41,
                 "aaA": 111, "aaa": 106, "aaM": 286, "aMA": 91, "aMa": 86, "aMM": 120,
                 "MAA": 31, "MAa": 26, "MAM": 31, "MaA": 41, "Maa": 36, "MaM": 75, "MMA": 30,
                 "MMa": 25, "MMM": 29},
}  # fmt: skip

TYPED_ERROR_OUTCOMES = {
    "MarkerMissing (non-atomic rename left neither name)",
    "WalCorruption (unsynced appends persisted out of order)",
}


def run_all(model: PersistenceModel) -> list[Run]:
    """Every workload under ``model`` (shared verdict cache)."""
    cache: dict[tuple[CrashState, Expect], Verdict] = {}
    return [run_workload(w, model, cache=cache) for w in ALL_WORKLOADS]


@pytest.fixture(scope="module")
def runs() -> dict[PersistenceModel, list[Run]]:
    return {model: run_all(model) for model in MODELS}


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.value)
def test_every_crash_state_recovers_old_or_new_and_keeps_acknowledged_writes(
    model: PersistenceModel,
    runs: dict[PersistenceModel, list[Run]],
    record_property: Callable[[str, object], None],
) -> None:
    """P6-F2, P6-S1, P6-A3: on every crash state of every workload, recovery yields
    exactly the old or the new marker, every synced record at its LSN, unsynced
    records whole or not at all, and idempotent, durable repairs."""
    model_runs = runs[model]
    violations = [v for run in model_runs for v in run.violations]
    assert not violations, "\n".join(violations[:10])
    counts = {run.workload: len(run.states) for run in model_runs}
    assert counts == PINNED_STATE_COUNTS[model]
    total = sum(counts.values())
    points = sum(run.crash_points for run in model_runs)
    judged = sum(sum(run.outcomes.values()) for run in model_runs)
    record_property(
        "durability",
        f"crash states [{model.value}]: {total} distinct over {len(model_runs)} workloads, "
        f"{points} crash points, {judged} (point, state) pairs judged, 0 violations",
    )


def test_journaled_model_never_needs_a_typed_error(
    runs: dict[PersistenceModel, list[Run]],
) -> None:
    """P6-F2: under journaled Linux the protocol always recovers a usable node --
    fail-closed errors appear only under the weaker model."""
    outcomes: Counter[str] = Counter()
    for run in runs[JOURNALED]:
        outcomes += run.outcomes
    assert not TYPED_ERROR_OUTCOMES & set(outcomes)
    assert outcomes["ok"] > 0 and outcomes["ok, torn tail cut"] > 0  # torn tails do occur


def test_alice_weak_model_is_weaker_and_fails_closed(
    runs: dict[PersistenceModel, list[Run]],
    record_property: Callable[[str, object], None],
) -> None:
    """P6-F2 (sometimes): the weak model really reaches the states the journaled one
    cannot -- a rename that left neither name, appends persisted out of order --
    and recovery answers them with a typed error, never a guess."""
    outcomes: Counter[str] = Counter()
    for run in runs[ALICE_WEAK]:
        outcomes += run.outcomes
    for outcome in TYPED_ERROR_OUTCOMES:
        assert outcomes[outcome] > 0, f"never reached: {outcome}"
    record_property(
        "durability",
        "alice-weak fail-closed (point, state) pairs: "
        + ", ".join(f"{o.split(' ')[0]} {outcomes[o]}" for o in sorted(TYPED_ERROR_OUTCOMES)),
    )


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.value)
def test_crash_states_include_nothing_kept_and_everything_kept(model: PersistenceModel) -> None:
    """The enumeration is not vacuous: the durable image and the volatile image
    are both among the crash states of an unsynced append and rename."""
    disk = _initialised_disk()
    disk.append("wal", encode_record(1, 1, b"x"))
    disk.write_file("other", b"yy")
    disk.rename("other", "renamed")
    states = disk.crash_states(model)
    assert disk.durable_state() in states
    assert disk.volatile_state() in states
    assert disk.durable_state() != disk.volatile_state()


def test_mutant_that_ignores_the_synced_end_cuts_an_acknowledged_write(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The companion of the synced-end checks: a WAL recovery that ignores what
    wal.synced says (as before it existed) treats a damaged acknowledged last
    record as a torn tail and cuts it -- the judge reports it."""
    import baton.wal

    real = baton.wal.read_synced_end
    monkeypatch.setattr(
        baton.wal, "read_synced_end", lambda disk, name: replace(real(disk, name), lsn=0, end=0)
    )
    run = run_workload("A", JOURNALED)
    assert any("bit flip in acknowledged LSN 1 was not refused" in v for v in run.violations)
