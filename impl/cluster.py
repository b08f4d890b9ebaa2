"""A runtime cluster: node directories on disk, driven by the pure core.

:class:`RuntimeCluster` holds the core's :class:`~baton.core.ClusterState`
and one :class:`~baton.node.Node` per directory. :meth:`RuntimeCluster.apply`
steps the core and performs the effects it returned, in their order (durable
first, visible after, observations last); the transport between nodes is this
in-process call. It is the :class:`~baton.controller.Driver` the controller
uses.

Crashes are decided by the disk, checked by the core. When a node dies
(:meth:`crash`, or an armed failpoint firing while one of its effects runs),
the shell reads the node's directory back and asks the core for the crash
outcome (old, new or torn marker) that yields exactly what is on disk -- from
the state before or after the interrupted step, or after the part of it that
is a spec step of its own (:func:`baton.core.partial_steps`: a replicate that
adopted the primary's epoch but did not take the entry). If no outcome the
spec allows explains the disk, that is a bug and :class:`DiskModelMismatch`
says so.
A restart reads the directory (:meth:`Node.recover`) and its result must
equal the core's durable state for that node, or again the mismatch is
reported: disk and model are cross-checked at every restart.

Authority ambiguity is answered by the runtime itself: after every step, and
when directories are reopened, a node that sees two running nodes claim
Primary at one epoch halts (the core's
:class:`~baton.core.AmbiguityHalt`, reason ``authority_ambiguity``, P6-A1),
see :meth:`RuntimeCluster._halt_on_ambiguity`. Only a state the assumptions
exclude enables it (a demonstration that drops ``single_controller``).

One process per node directory (``single_controller``): a cluster over real
directories holds each one under an exclusive OS lock
(:class:`baton.dirlock.DirectoryLock`) from the moment it opens it until
:meth:`RuntimeCluster.close` or the process's end; a second process is refused
with :class:`baton.errors.DirectoryLocked`, naming the directory and the holder.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from baton import core, failpoints, trace
from baton.controller import OperatorAction, PromotionRequest, lock_for
from baton.dirlock import DirectoryLock
from baton.errors import (
    BatonError,
    DuplicateRequest,
    ForceContradicted,
    InapplicableRequest,
    MarkerCorrupt,
    MarkerMissing,
    StorageError,
    UnknownNode,
)
from baton.events import Recorder
from baton.identity import TEMP_INFIX, remove_quietly, write_durably
from baton.marker import MARKER_FILE
from baton.node import Node
from baton.storage import Disk, PosixDisk

if TYPE_CHECKING:
    from baton.resume import PreviousTrace

# Sync mode: the designated standby, recorded durably by the primary that chose it
# ("<standby name> <primary's epoch>"), so a cluster reopened from disk bounds
# acknowledgements by the same standby.
STANDBY_FILE = "standby"
# The durable "promotion disabled" switch: in a node's directory (that node) or in
# the cluster's directory (every node). JSON {"disabled", "operator", "reason"},
# replaced atomically and durably (baton.identity.write_durably).
PROMOTION_SWITCH_FILE = "promotion_disabled"


def read_switch(disk: Disk) -> bool:
    """Whether the switch file in ``disk`` says disabled (no file: enabled).

    A file that is not the switch's JSON is refused (StorageError), not guessed."""
    data = disk.read(PROMOTION_SWITCH_FILE)
    if data is None:
        return False
    try:
        value = json.loads(data.decode("utf-8"))["disabled"]
    except (ValueError, KeyError, TypeError):
        value = None
    if not isinstance(value, bool):
        raise StorageError(PROMOTION_SWITCH_FILE, "not a promotion switch (JSON with 'disabled')")
    return value


MARKER_TEMP_PREFIX = f"{MARKER_FILE}{TEMP_INFIX}"


class DiskModelMismatch(BatonError):
    """What a node's directory holds is not what the core says it must hold (a bug)."""


class NodeCrashed(Exception):
    """Raised inside an effect when an armed failpoint kills the node performing it."""

    def __init__(self, node: int, failpoint: str) -> None:
        super().__init__(f"node {node} crashed at failpoint {failpoint}")
        self.node = node
        self.failpoint = failpoint


def _same_durable(model: core.Durable, disk: core.Durable) -> bool:
    """Equal, except that a torn marker's epoch cannot be read from the disk."""
    if disk.marker_role == "Torn":
        return model.marker_role == "Torn" and model.wal == disk.wal
    return model == disk


class RuntimeCluster:
    """N node directories and the core state that decides for them."""

    def __init__(
        self,
        disks: Sequence[Disk],
        mode: str,
        recorder: Recorder | None = None,
        *,
        create: bool = True,
        root: Disk | None = None,
    ) -> None:
        self._locks = _lock_directories(disks)
        # The cluster's own directory (holds the cluster-wide promotion switch), if any.
        self.cluster_disk = root
        # The lock every controller over this cluster shares (single_controller), looked
        # up once: apply() takes it on every step.
        self._step_lock = lock_for(self)
        self.nodes = [Node(f"n{i}", disk) for i, disk in enumerate(disks)]
        self._names = tuple(node.name for node in self.nodes)
        self._state = core.initial_state(len(disks), mode)
        self.recorder = recorder or Recorder(self._names, mode, self._names[0])
        self.say: Callable[[str], None] = self.recorder.say
        self._armed: dict[int, str] = {}
        self._performing: int | None = None
        self._crashed_during_last: set[int] = set()
        # What a crash does to a node's disk. Default: nothing (a process crash on a
        # real filesystem keeps the page cache). Tests pass e.g. a SimDisk crash that
        # keeps only some unsynced operations, to enumerate every crash state.
        self.disk_after_crash: Callable[[int, Disk], Disk] | None = None
        self.refused_to_start: list[tuple[str, str]] = []
        try:
            if create:
                for i, node in enumerate(self.nodes):
                    node.initialise(holder=self._names[0], epoch=1, token=f"{i}")
            else:
                self._state = self._read_directories(mode)
        except BaseException:
            self._release()  # a node that cannot be set up or read: let go of them all
            raise

    @classmethod
    def on_directories(
        cls, root: str | Path, n: int, mode: str, recorder: Recorder | None = None
    ) -> RuntimeCluster:
        """A fresh cluster in ``root/n0 .. root/n{N-1}`` on the real filesystem."""
        disks: list[Disk] = []
        for i in range(n):
            PosixDisk(root).makedirs(f"n{i}")
            disks.append(PosixDisk(Path(root) / f"n{i}"))
        PosixDisk(root).fsync_dir("")
        return cls(disks, mode, recorder, root=PosixDisk(root))

    @classmethod
    def reopen_directories(
        cls,
        root: str | Path,
        n: int,
        mode: str,
        recorder: Recorder | None = None,
        previous: PreviousTrace | None = None,
    ) -> RuntimeCluster:
        """Reopen ``root/n0 .. root/n{N-1}`` after the process that ran them died.

        Every node is recovered from its directory alone (:meth:`reopen`); with
        the dead run's trace (``previous``), the trace is first brought level
        with the disk (:func:`baton.resume.catch_up_events`), then records the
        crash of every node it had up and the restart of every node.
        """
        disks: list[Disk] = []
        for i in range(n):
            path = Path(root) / f"n{i}"
            if not path.is_dir():
                raise StorageError(os.fspath(path), "no node directory to reopen")
            disks.append(PosixDisk(path))
        extra = Path(root) / f"n{n}"
        if extra.exists():
            raise StorageError(
                os.fspath(extra), f"the cluster has more than the {n} nodes asked for"
            )
        return cls.reopen(disks, mode, recorder, previous, root=PosixDisk(root))

    @classmethod
    def reopen(
        cls,
        disks: Sequence[Disk],
        mode: str,
        recorder: Recorder | None = None,
        previous: PreviousTrace | None = None,
        *,
        root: Disk | None = None,
    ) -> RuntimeCluster:
        """A cluster over existing node directories, each recovered from disk alone."""
        cluster = cls(disks, mode, recorder, create=False, root=root)
        try:
            cluster._record_reopening(previous)
        except BaseException:
            cluster._release()  # nothing was recorded: the trace stays as it was
            raise
        # Directories can hold two Primary markers at one epoch (a run that dropped
        # single_controller died before its halt was durable): every running node
        # that sees them halts before the first step, not after it (P6-A1).
        with cluster._step_lock:
            cluster._halt_on_ambiguity()
        return cluster

    def _read_directories(self, mode: str) -> core.ClusterState:
        """The core state a whole restart derives from the directories, nothing else.

        Each node: marker, WAL (torn tail cut past the synced end; damage before it
        refused), halt file, adopted epoch -- up, Steady and fenced (a primary
        admits no writes until reinstated); a node whose marker is corrupt or
        missing stays down (it refuses to start, P6-F2). Cluster-level facts:
        the sync standby from the authority's ``standby`` file (else the default);
        the acknowledged history, which only clients knew, is taken at its upper
        bound -- everything the validator's own bound says may have been
        acknowledged (the authority's WAL; in sync mode, its prefix the standby
        holds) -- so nothing that was acknowledged is treated as free to lose.
        """
        nodes: list[core.NodeState] = []
        for node in self.nodes:
            try:
                found = node.recover()
            except (MarkerCorrupt, MarkerMissing) as exc:
                self.refused_to_start.append((node.name, str(exc)))
                nodes.append(core.NodeState(node.read_durable(), None))
                continue
            if not found.wal_report.clean:
                self.say(f"{node.name}: WAL recovery: {found.wal_report.describe()}")
            nodes.append(core.NodeState(found.durable, core.recover(found.durable)))
        state = core.ClusterState(mode=mode, nodes=tuple(nodes))
        standby = self._recorded_standby(state)
        authority = core.old_primary(state)
        acked: tuple[core.Entry, ...] = ()
        if authority is not None:
            acked = state.nodes[authority].durable.wal
            if mode == "sync" and standby != authority:
                held = state.nodes[standby].durable.wal
                common = 0
                while common < min(len(acked), len(held)) and acked[common] == held[common]:
                    common += 1
                acked = acked[:common]
        return core.ClusterState(mode=mode, nodes=tuple(nodes), standby=standby, acked=acked)

    def _recorded_standby(self, state: core.ClusterState) -> int:
        default = core.ClusterState(mode=state.mode, nodes=state.nodes).standby
        authority = core.old_primary(state)
        if authority is None:
            return default
        data = self.nodes[authority].disk.read(STANDBY_FILE)
        if data is None:
            return default
        name, _, epoch = data.decode("utf-8", "replace").strip().partition(" ")
        if name in self._names and epoch == str(state.nodes[authority].durable.epoch):
            return self._names.index(name)
        return default

    def _record_reopening(self, previous: PreviousTrace | None) -> None:
        from baton.resume import ResumeMismatch, catch_up_events

        state = self._state
        catch_up: list[dict[str, object]] = []
        crashed: list[str] = []
        if previous is not None:
            if tuple(previous.header["nodes"]) != self._names or previous.header["mode"] != (
                state.mode
            ):
                raise ResumeMismatch(
                    f"the trace is of nodes {', '.join(previous.header['nodes'])} in "
                    f"{previous.header['mode']} mode, not {', '.join(self._names)} in "
                    f"{state.mode} mode"
                )
            catch_up = catch_up_events(
                previous.nodes,
                previous.wal_epochs,
                self._names,
                [node.durable for node in state.nodes],
            )
            crashed = [name for name in self._names if previous.nodes[name].up]
        # The promotion switches are on disk: the trace learns the ones it does not
        # show (a fresh trace: every switch set; a continued one: those changed
        # by a step whose event the dead run did not record).
        recorded = previous.disabled if previous is not None else frozenset()
        for scope in (*self._names, None):
            on_disk = self._switch_on_disk(scope)
            if on_disk != (scope in recorded):
                catch_up.append(trace.disable(scope, on_disk))
        restarted = [
            (self._names[i], node.durable.marker_role, node.durable.epoch)
            for i, node in enumerate(state.nodes)
            if node.up
        ]
        self.recorder.resumed(catch_up, crashed, restarted, self.refused_to_start)

    # --- the Driver protocol ---

    @property
    def state(self) -> core.ClusterState:
        return self._state

    @property
    def names(self) -> Sequence[str]:
        return self._names

    def index_of(self, name: str) -> int:
        if name not in self._names:
            raise UnknownNode(name, self._names)
        return self._names.index(name)

    def note_request(
        self, request: PromotionRequest, candidate: int, dropped: tuple[str, ...] = ()
    ) -> None:
        self.recorder.request_arrived(
            candidate, request.force, request.operator, request.reason, dropped
        )

    def note_rejection(self, request: PromotionRequest, candidate: int, error: Exception) -> None:
        if isinstance(error, DuplicateRequest):
            code = "duplicate_request"
        elif isinstance(error, ForceContradicted):
            code = "force_contradicted"
        else:
            code = "inapplicable"
        self.recorder.request_refused(candidate, code, str(error))

    def audit(self, entry: OperatorAction) -> None:
        self.recorder.audit(entry)

    @contextmanager
    def acting_for(self, operator: str) -> Iterator[None]:
        previous, self.recorder.operator = self.recorder.operator, operator
        try:
            yield
        finally:
            self.recorder.operator = previous

    def crashed(self, node: int) -> bool:
        return node in self._crashed_during_last

    # --- the promotion-disabled switches ---

    def _switch_disk(self, scope: str | None) -> Disk:
        if scope is not None:
            return self.nodes[self.index_of(scope)].disk
        if self.cluster_disk is None:
            raise InapplicableRequest(
                "the cluster-wide promotion switch needs a cluster directory (this cluster "
                "was opened from node directories alone)"
            )
        return self.cluster_disk

    def _switch_on_disk(self, scope: str | None) -> bool:
        if scope is None and self.cluster_disk is None:
            return False
        return read_switch(self._switch_disk(scope))

    def promotion_disabled(self, node: int) -> bool:
        """The durable switches, read from disk now: the node's, then the cluster's."""
        return self._switch_on_disk(self._names[node]) or self._switch_on_disk(None)

    def set_promotion_disabled(
        self, node: int | None, disabled: bool, operator: str, reason: str | None
    ) -> None:
        """Write the switch durably (temp, fsync, rename, directory fsync), then record it."""
        scope = None if node is None else self._names[node]
        with self._step_lock:
            record = {"disabled": disabled, "operator": operator, "reason": reason}
            data = (json.dumps(record, sort_keys=True) + "\n").encode("utf-8")
            write_durably(self._switch_disk(scope), PROMOTION_SWITCH_FILE, data)
            self.recorder.switch_changed(scope, disabled, operator, reason)

    def apply(self, action: core.Action) -> tuple[core.Effect, ...]:
        """Step the core, perform its effects in order; a crash mid-way is resolved
        from the disk (see the module docstring). One step at a time: under the
        cluster's lock, which its controllers share (single_controller)."""
        with self._step_lock:
            return self._apply(action)

    def _apply(self, action: core.Action) -> tuple[core.Effect, ...]:
        self._crashed_during_last = set()
        before = self._state
        after, effects = core.step(before, action)
        done: list[core.Effect] = []
        try:
            for effect in effects:
                self._perform(effect, after)
                done.append(effect)
        except NodeCrashed as crash:
            self.recorder.record([e for e in done if not isinstance(e, core.Emit)])
            self.say(f"{self._names[crash.node]}: failpoint {crash.failpoint} fired")
            self._resolve_crash(crash.node, (after, *_partial_states(before, action), before))
            return tuple(done)
        except StorageError as fault:
            # A failed write or fsync is fatal for the node (fsyncgate): it crashes and
            # restarts from disk; nothing it was doing is acknowledged.
            node = self._performing if self._performing is not None else 0
            self.say(f"{self._names[node]}: disk fault ({fault}); the node stops")
            self._resolve_crash(node, (after, *_partial_states(before, action), before))
            return tuple(done)
        finally:
            self._performing = None
        if isinstance(action, core.Designate):
            self._record_standby(action, after)  # before the step counts as taken
        self._state = after
        self.recorder.record(effects)
        if not isinstance(action, core.AmbiguityHalt):
            self._halt_on_ambiguity()
        return effects

    def _halt_on_ambiguity(self) -> None:
        """Every node that now sees two running nodes claim Primary at one epoch halts
        (reason authority_ambiguity, P6-A1), one core step each.

        The core decides (its AmbiguityHalt guard is the spec's ambiguity_guard);
        this only asks it, in a fixed order -- by observing node, then claimant,
        then rival -- and again after every halt, since a halted claimant no longer
        claims. Two running Primary markers at one epoch are necessary for any
        halt, so a step that leaves none (every step under the assumptions: one
        primary per epoch, P6-A3) costs one pass over the nodes."""
        halt = _first_ambiguity_halt(self._state)
        if halt is None:
            return  # every step under the assumptions: one cheap pass, nothing copied
        crashed = set(self._crashed_during_last)
        while halt is not None:
            self._apply(halt)
            crashed |= self._crashed_during_last
            halt = _first_ambiguity_halt(self._state)
        self._crashed_during_last = crashed

    def _record_standby(self, action: core.Designate, after: core.ClusterState) -> None:
        """Sync mode: the primary records its standby durably (read back on reopen)."""
        epoch = after.nodes[action.primary].durable.epoch
        record = f"{self._names[action.standby]} {epoch}\n".encode()
        write_durably(self.nodes[action.primary].disk, STANDBY_FILE, record)

    def _perform(self, effect: core.Effect, after: core.ClusterState) -> None:
        match effect:
            case core.Emit() | core.Announce() | core.AckClients():
                pass  # visible / observed: the recorder reports them after the step
            case core.AppendWal(node=i, entry=entry):
                self._on(i).append(entry)
            case core.SyncWal(node=i):
                self._on(i).sync()
            case core.PersistMarker(node=i, role=role, epoch=epoch, halt_reason=halt):
                holder = self._holder_for(after, i)
                self._on(i).persist_marker(role, epoch, holder, halt)
            case core.MarkerFileOp(node=i, op=op, epoch=epoch):
                self._on(i).marker_op(op, epoch)
            case core.DiscardMarkerTemp(node=i):
                # An aborted attempt's temp file: never read as a marker; best effort
                # (recovery removes leftovers anyway).
                disk = self._on(i).disk
                for name in disk.listdir(""):
                    if name.startswith(MARKER_TEMP_PREFIX):
                        remove_quietly(disk, name)

    def _on(self, i: int) -> Node:
        self._performing = i
        return self.nodes[i]

    def _holder_for(self, s: core.ClusterState, i: int) -> str:
        """The authority a replica marker names: the primary with the highest epoch."""
        primary = core.old_primary(s)
        if primary is not None and primary != i:
            return self._names[primary]
        others = [j for j in range(s.n) if j != i]
        best = max(others, key=lambda j: s.nodes[j].durable.epoch)
        return self._names[best]

    # --- failures -------------------------------------------------------------------

    def arm(self, node: int, failpoint: str) -> None:
        """Crash ``node`` when it next reaches ``failpoint`` (in this process)."""
        if failpoint not in failpoints.FAILPOINTS:
            raise failpoints.FailpointError(
                f"unknown failpoint {failpoint!r} (known: {', '.join(failpoints.FAILPOINTS)})"
            )
        self._armed[node] = failpoint
        failpoints.install(self._failpoint_hit)

    def armed_failpoints(self) -> dict[str, str]:
        """Failpoints armed by :meth:`arm` that no step has reached yet (node -> name)."""
        return {self._names[i]: name for i, name in self._armed.items()}

    def _failpoint_hit(self, name: str) -> None:
        node = self._performing
        if node is not None and self._armed.get(node) == name:
            del self._armed[node]
            if not self._armed:
                failpoints.uninstall()
            raise NodeCrashed(node, name)

    def crash(self, i: int) -> None:
        """Kill node ``i`` now (between steps): its volatile state is gone."""
        with self._step_lock:
            self._crash(i)

    def _crash(self, i: int) -> None:
        if not self._state.nodes[i].up:
            self._state, _ = core.step(self._state, core.Crash(i))  # raises: already down
        self._resolve_crash(i, (self._state,))

    def _resolve_crash(self, i: int, bases: Sequence[core.ClusterState]) -> None:
        self.nodes[i].forget()
        if self.disk_after_crash is not None:
            self.nodes[i].disk = self.disk_after_crash(i, self.nodes[i].disk)
        on_disk = self.nodes[i].read_durable()
        for base in bases:
            for outcome in (None, "old", "new", "torn"):
                action = core.Crash(i, outcome)
                if core.refusal(base, action) is not None:
                    continue
                nxt, effects = core.step(base, action)
                if _same_durable(nxt.nodes[i].durable, on_disk):
                    self._state = nxt
                    self._crashed_during_last.add(i)
                    self.recorder.record(effects)
                    return
        raise DiskModelMismatch(
            f"{self._names[i]}: after the crash the disk holds {on_disk}, which no crash "
            f"outcome the spec allows explains"
        )

    def restart(self, i: int) -> None:
        """Start node ``i`` from its directory; recovery must agree with the core."""
        with self._step_lock:
            self._restart(i)

    def _restart(self, i: int) -> None:
        if self._state.nodes[i].up:
            core.step(self._state, core.Restart(i))  # raises ActionNotEnabled
        found = self.nodes[i].recover()  # MarkerCorrupt / WalCorruption: refuses to start
        if not found.wal_report.clean:
            self.say(f"{self._names[i]}: WAL recovery: {found.wal_report.describe()}")
        if found.removed_temp_files:
            self.say(f"{self._names[i]}: removed leftover temp files {found.removed_temp_files}")
        expected = self._state.nodes[i].durable
        if found.durable != expected:
            raise DiskModelMismatch(
                f"{self._names[i]}: recovery read {found.durable}, the core expects {expected}"
            )
        self._apply(core.Restart(i))

    def close(self) -> None:
        """Finish the trace and let go of the directories."""
        self.recorder.close()
        self._release()

    def _release(self) -> None:
        failpoints.uninstall()
        for lock in self._locks:
            lock.release()
        self._locks = []


def _first_ambiguity_halt(s: core.ClusterState) -> core.AmbiguityHalt | None:
    """The first AmbiguityHalt the core enables in ``s`` (node, claimant, rival order)."""
    claimed: set[int] = set()
    for node in s.nodes:  # on the step path: a second claim of one epoch, or nothing
        if node.volatile is not None and node.durable.marker_role == "Primary":
            if node.durable.epoch in claimed:
                break
            claimed.add(node.durable.epoch)
    else:
        return None
    # The core's own enumeration: its instances and guard are the spec's.
    for action in core.enabled_actions(s):
        if isinstance(action, core.AmbiguityHalt):
            return action
    return None


def _partial_states(before: core.ClusterState, action: core.Action) -> list[core.ClusterState]:
    """A crash between two of the step's durable writes can leave these states too.

    Computed only when a crash happens (the core is pure: the same answer as before
    the step), not on every step.
    """
    return [core.step(before, a)[0] for a in core.partial_steps(before, action)]


def _lock_directories(disks: Sequence[Disk]) -> list[DirectoryLock]:
    """Lock every real node directory, or none (DirectoryLocked names the holder)."""
    locks: list[DirectoryLock] = []
    try:
        for disk in disks:
            if isinstance(disk, PosixDisk):
                locks.append(DirectoryLock(disk.root).acquire())
    except BaseException:
        for lock in locks:
            lock.release()
        raise
    return locks
