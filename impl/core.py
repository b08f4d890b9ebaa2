"""The pure decision core of a Baton cluster: ``step(state, action) -> (state, effects)``.

Everything Baton decides is decided here, as a pure function of an immutable
cluster state and one action; the core never touches a disk, a clock or a
random number. The same core is driven by the real
node shell (:mod:`baton.cluster`), by hypothesis tests, by the explorer and by
the simulation, so:

* the whole cluster state (:class:`ClusterState`) is a frozen, hashable value;
* the action set is enumerable: :func:`enabled_actions` lists every action
  instance whose guard holds, and :func:`refusal` says, for any action, why it
  is not enabled (or None when it is);
* durable and volatile state are different types (:class:`Durable`,
  :class:`Volatile`); a crash drops the volatile part and :func:`recover` is the
  only way back from the durable part.

The model this mirrors, action for action, is ``baton.spec.cluster`` (read its
docstring): a durable authority marker per node (role and epoch), a durable
WAL of epoch-tagged entries, a volatile ``active`` flag (admits writes) and the
volatile lifecycle state of the attempt for which the node is the candidate.
The two mechanisms that close the approval-to-marker gap are enforced here:
a restarted primary comes up *fenced* and only :class:`Reinstate` (allowed only
when no attempt is in flight, no node is writable and the node holds the
highest epoch) lets it write again; and attempts are *serialised*: a request
while any attempt is in flight is refused with DuplicateRequest.
:func:`to_snapshot` maps a state to the spec's concrete snapshot so that every
step can be cross-checked against the Z3 transition relation.

Effects are returned in the order the shell must perform them, and every
effect class states its rule: durable effects first, visible effects after,
observations last. Observation never feeds back into a decision.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from baton import lifecycle
from baton.errors import (
    AbortAfterRename,
    ActionNotEnabled,
    DuplicateRequest,
    IllegalTransition,
    InapplicableRequest,
    MarkerCorrupt,
    ProtocolError,
)
from baton.validator import MVCCS, ValidationContext, Verdict, validate

_T = TypeVar("_T")


def _but(obj: _T, **changes: Any) -> _T:
    """``dataclasses.replace`` for the core's frozen value classes, minus its
    per-call introspection: the explorer takes millions of steps. Copies the
    instance dictionary and overrides ``changes``, which must name fields."""
    new = object.__new__(type(obj))
    merged = new.__dict__
    merged.update(obj.__dict__)
    merged.update(changes)
    # The instance dictionary holds exactly the fields, so a misspelt name shows
    # as one key more (checked after the fact: this runs on every step).
    if len(merged) != len(obj.__dict__):
        fields = type(obj).__dataclass_fields__  # type: ignore[attr-defined]
        raise TypeError(
            f"{type(obj).__name__} has no field {sorted(changes.keys() - fields.keys())}"
        )
    return new


# --- vocabulary (the spec's) -------------------------------------------------------

MARKER_ROLES: tuple[str, ...] = ("Replica", "Primary", "Halted", "Torn")
MODES: tuple[str, ...] = ("async", "sync")
MARKER_OPS: tuple[str, ...] = ("write_temp", "fsync_temp", "rename", "fsync_dir")
"""The marker write as four file operations, in this order (P6-F2)."""
RENAME_STAGE: int = MARKER_OPS.index("rename") + 1

Entry = tuple[int, int]
"""A WAL entry's identity: (epoch it was written in, position 1..n).

Unique because each epoch has one primary marker (P6-A3) and a primary
appends at its own end."""


def marker_crash_outcomes(stage: int, ops: tuple[str, ...] = MARKER_OPS) -> frozenset[str]:
    """What a crash after the first ``stage`` marker operations may leave on disk.

    Journaled-Linux model, as ``baton.spec.cluster.crash_outcomes_by_stage``
    (tests check they agree): before the rename the old marker stays; after
    the rename and before the directory fsync the old or the new name may
    survive; new content not fsynced before its name became durable may be torn.
    """
    done = ops[:stage]
    if "rename" not in done:
        return frozenset({"old"})
    renamed_at = done.index("rename")
    content = {"new"} if "fsync_temp" in done else {"new", "torn"}
    if "fsync_dir" in done[renamed_at:]:
        return frozenset(content)
    return frozenset(content | {"old"})


# --- state ----------------------------------------------------------------------


@dataclass(frozen=True)
class Durable:
    """What survives a crash: the authority marker as recovery reads it, and the WAL.

    ``marker_role`` is Primary iff the marker names this node as holder;
    Halted records a replica that stopped on divergent history; Torn is a
    marker that fails its checksum (the node refuses to start, P6-F2).
    """

    marker_role: str
    epoch: int
    wal: tuple[Entry, ...] = ()


@dataclass(frozen=True)
class Volatile:
    """What a crash loses: the process's in-memory state.

    ``active``: the node admits writes. ``lifecycle``: the state of the
    attempt for which this node is the candidate. ``marker_stage``: how many of
    the marker's file operations this process has done (0 when none in flight).
    """

    active: bool = False
    lifecycle: str = lifecycle.RECOVERY_STATE
    forced: bool = False
    marker_stage: int = 0


@dataclass(frozen=True)
class AttemptRecord:
    """Bookkeeping of the node's last attempt, kept across crashes as the spec does.

    ``grant``/``previous_epoch`` are read only while the attempt is in
    AuthorityTransitioning (which a crash ends), ``reason`` is the last
    decision (observation only) and ``validations`` counts validations since
    the last request (ghost, for P6-F3). No decision reads them otherwise.
    """

    reason: str = "allowed"
    grant: int = 0
    previous_epoch: int = 0
    validations: int = 0


@dataclass(frozen=True)
class NodeState:
    """One node: up or down, its durable part, its volatile part (None when down)."""

    durable: Durable
    volatile: Volatile | None
    record: AttemptRecord = AttemptRecord()

    @property
    def up(self) -> bool:
        return self.volatile is not None

    @property
    def writable(self) -> bool:
        return self.volatile is not None and self.volatile.active

    @property
    def lifecycle(self) -> str:
        """The candidate-side lifecycle state (Steady while down: it was forgotten)."""
        return self.volatile.lifecycle if self.volatile is not None else lifecycle.RECOVERY_STATE


@dataclass(frozen=True)
class ClusterState:
    """The whole cluster as one hashable value.

    ``acked`` is the ghost log of acknowledged writes (what clients were
    told), ``broken`` a ghost flag set when an acknowledgement did not extend
    it (P6-S2), ``standby`` the synchronous standby's index (sync mode).
    """

    mode: str
    nodes: tuple[NodeState, ...]
    standby: int = 1
    acked: tuple[Entry, ...] = ()
    broken: bool = False

    @property
    def n(self) -> int:
        return len(self.nodes)

    def node(self, i: int) -> NodeState:
        return self.nodes[i]

    def with_node(self, i: int, node: NodeState) -> ClusterState:
        nodes = list(self.nodes)
        nodes[i] = node
        return _but(self, nodes=tuple(nodes))

    def max_epoch(self) -> int:
        return max(node.durable.epoch for node in self.nodes)

    def in_flight(self) -> int | None:
        """The candidate of the attempt in progress anywhere (not Steady), if any."""
        for i, node in enumerate(self.nodes):
            if node.lifecycle != lifecycle.RECOVERY_STATE:
                return i
        return None

    def writable_nodes(self) -> tuple[int, ...]:
        return tuple(i for i, node in enumerate(self.nodes) if node.writable)


def initial_state(n: int, mode: str = "async") -> ClusterState:
    """Node 0 is the writable primary at epoch 1, the others replicas; WALs empty."""
    if n < 2:
        raise ValueError("a cluster needs at least 2 nodes")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    nodes = tuple(
        NodeState(
            durable=Durable("Primary" if i == 0 else "Replica", 1),
            volatile=Volatile(active=(i == 0)),
        )
        for i in range(n)
    )
    return ClusterState(mode=mode, nodes=nodes)


def recover(durable: Durable) -> Volatile:
    """The only way back from a crash: the volatile state a restart derives from disk.

    Recovery re-enters Steady (the attempt is forgotten) and comes up fenced:
    even a primary marker does not make the node writable until the
    controller reinstates it (mechanism 1, the ``fenced_restart`` assumption).
    A torn marker refuses to start (P6-F2): never a guess.
    """
    if durable.marker_role == "Torn":
        raise MarkerCorrupt("marker", "the authority marker fails its checksum; refusing to start")
    return Volatile(active=False, lifecycle=lifecycle.RECOVERY_STATE)


# --- actions ---------------------------------------------------------------------


@dataclass(frozen=True)
class Observation:
    """What the environment tells the validator beyond the cluster state.

    ``primary_uncertain``: the operator's view of the old primary is marked
    uncertain (status Unknown). ``bound_known``/``prefix_known``: whether the
    acknowledged bound and prefix compatibility could be established.
    ``mvcc``: MVCC visibility preservation, an external input.
    ``candidate_disabled``: the operator's durable "promotion disabled" switch
    (the candidate's or the cluster's) is set; the validator then sees the role
    Disabled (spec: the observation ``obs.disabled``).
    """

    primary_uncertain: bool = False
    bound_known: bool = True
    prefix_known: bool = True
    mvcc: str = "Preserved"
    candidate_disabled: bool = False


@dataclass(frozen=True)
class Action:
    """Base of every action; ``name`` is the spec's action name."""

    name: ClassVar[str] = "action"

    def label(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items())
        return f"{self.name}({args})"


@dataclass(frozen=True)
class Write(Action):
    """A client write on a writable primary: append a fresh entry and fsync it."""

    name: ClassVar[str] = "write"
    node: int


@dataclass(frozen=True)
class Ack(Action):
    """Acknowledge everything durable in the primary's WAL (sync: standby holds it)."""

    name: ClassVar[str] = "ack"
    node: int


@dataclass(frozen=True)
class Replicate(Action):
    """Ship the primary's next entry to a replica whose WAL is a prefix of it."""

    name: ClassVar[str] = "replicate"
    primary: int
    replica: int


@dataclass(frozen=True)
class Adopt(Action):
    """The epoch half of a Replicate that raises the replica's epoch, alone.

    Replicate persists the adopted epoch (marker) before the entry (WAL); a
    crash between the two durable writes leaves this step's state. The
    explorer takes it as a step of its own, so that crash state is explored.
    """

    name: ClassVar[str] = "adopt"
    primary: int
    replica: int


@dataclass(frozen=True)
class Diverge(Action):
    """A replica whose WAL is not a prefix of the primary's halts (history_divergence)."""

    name: ClassVar[str] = "diverge"
    primary: int
    replica: int


@dataclass(frozen=True)
class AmbiguityHalt(Action):
    """``node`` sees ``primary`` and ``rival`` claim Primary at one epoch and halts.

    Reason ``authority_ambiguity`` (P6-A1): the epoch no longer names one
    authority, so the node follows neither claimant and admits no writes.
    ``rival`` is ``node`` itself when ``node`` is a primary of that epoch. With
    one primary per epoch (P6-A3) no reachable state enables it; it is the
    runtime's answer to a state the assumptions exclude (two controllers
    granting one epoch, a directory copied from a primary's).
    """

    name: ClassVar[str] = "ambiguity_halt"
    node: int
    primary: int
    rival: int


@dataclass(frozen=True)
class Crash(Action):
    """The process dies; ``outcome`` is how a marker write in flight lands (old/new/torn)."""

    name: ClassVar[str] = "crash"
    node: int
    outcome: str | None = None


@dataclass(frozen=True)
class Restart(Action):
    """The process starts again from its durable state (fenced)."""

    name: ClassVar[str] = "restart"
    node: int


@dataclass(frozen=True)
class Reinstate(Action):
    """The controller lets a fenced primary admit writes again."""

    name: ClassVar[str] = "reinstate"
    node: int


@dataclass(frozen=True)
class Demote(Action):
    """A fenced primary that sees a higher epoch rejoins as a replica."""

    name: ClassVar[str] = "demote"
    node: int


@dataclass(frozen=True)
class StepDown(Action):
    """A writable node that sees a higher epoch gives up authority."""

    name: ClassVar[str] = "step_down"
    node: int


@dataclass(frozen=True)
class Designate(Action):
    """Sync mode: the primary picks a standby that holds the acknowledged history."""

    name: ClassVar[str] = "designate"
    primary: int
    standby: int


@dataclass(frozen=True)
class Request(Action):
    """An operator's explicit promotion request for ``candidate``."""

    name: ClassVar[str] = "request"
    candidate: int
    force: bool = False
    # Only with the spec's single_controller assumption dropped (a demonstration,
    # baton.controller): the request may start while other attempts are in flight.
    # Never enumerated (candidate_actions): the explorer keeps every assumption.
    concurrent: bool = False


@dataclass(frozen=True)
class Reject(Action):
    """The request is ill-formed or inapplicable: back to Steady before validation."""

    name: ClassVar[str] = "reject"
    candidate: int


@dataclass(frozen=True)
class BeginValidation(Action):
    """Start validating the requested promotion."""

    name: ClassVar[str] = "begin_validation"
    candidate: int


@dataclass(frozen=True)
class Decide(Action):
    """Validate the observed context: fires ``approve`` or ``deny`` per the verdict."""

    name: ClassVar[str] = "decide"
    candidate: int
    observation: Observation = Observation()


@dataclass(frozen=True)
class BeginTransition(Action):
    """Grant epoch = highest known + 1 and start writing the marker (P6-A3)."""

    name: ClassVar[str] = "begin_transition"
    candidate: int


@dataclass(frozen=True)
class MarkerOp(Action):
    """One file operation of the marker write (``write_temp`` ... ``fsync_dir``)."""

    name: ClassVar[str] = "marker_op"
    candidate: int
    op: str


@dataclass(frozen=True)
class Complete(Action):
    """The marker is durable: the candidate becomes writable (durable first, visible after)."""

    name: ClassVar[str] = "complete"
    candidate: int


@dataclass(frozen=True)
class Acknowledge(Action):
    """The operator acknowledges the outcome (succeeded or denied): back to Steady."""

    name: ClassVar[str] = "acknowledge"
    candidate: int


@dataclass(frozen=True)
class Abort(Action):
    """The operator cancels ``candidate``'s approved or transitioning attempt.

    Allowed only before the marker rename: nothing durable names the candidate
    yet, so the attempt is forgotten exactly as a crash of the candidate's
    volatile state forgets it (back to Steady, no marker stage), with the
    process still running, and the temp file, if any, is discarded. Not a
    lifecycle event: the lifecycle table stays the spec's. After the rename it
    is refused (:class:`baton.errors.AbortAfterRename`; P6-F2, P6-A3).
    """

    name: ClassVar[str] = "abort"
    candidate: int


ACTION_TYPES: tuple[type[Action], ...] = (
    Write,
    Ack,
    Replicate,
    Adopt,
    Diverge,
    AmbiguityHalt,
    Crash,
    Restart,
    Reinstate,
    Demote,
    StepDown,
    Designate,
    Request,
    Reject,
    BeginValidation,
    Decide,
    BeginTransition,
    MarkerOp,
    Complete,
    Acknowledge,
    Abort,
)


# --- effects ------------------------------------------------------------------------


@dataclass(frozen=True)
class Effect:
    """Base of every effect. ``phase`` orders them: 0 durable, 1 visible, 2 observe.

    Rule: the shell performs effects in the order given,
    and the core emits every durable effect of a step before any visible one,
    and observations last. A visible effect must never be performed if a
    durable effect before it failed.
    """

    phase: ClassVar[int] = 0


@dataclass(frozen=True)
class AppendWal(Effect):
    """DURABLE: append ``entry`` to ``node``'s WAL. Must be followed by SyncWal before
    anything that depends on it is made visible."""

    phase: ClassVar[int] = 0
    node: int
    entry: Entry


@dataclass(frozen=True)
class SyncWal(Effect):
    """DURABLE: fsync ``node``'s WAL. Nothing is acknowledged before it returns."""

    phase: ClassVar[int] = 0
    node: int


@dataclass(frozen=True)
class PersistMarker(Effect):
    """DURABLE: write ``node``'s marker atomically (temp, fsync, rename, dir fsync).

    Used where the spec changes a marker in one step (a replica adopting an
    epoch, a demotion, a halt). Must be durable before the node acts on it."""

    phase: ClassVar[int] = 0
    node: int
    role: str
    epoch: int
    halt_reason: str | None = None


@dataclass(frozen=True)
class MarkerFileOp(Effect):
    """DURABLE: one file operation of a promotion's marker write (P6-F2).

    The four operations are separate effects so a crash can land between them;
    only after ``fsync_dir`` is the new marker durable, and only then may
    Complete make the node writable."""

    phase: ClassVar[int] = 0
    node: int
    op: str
    role: str
    epoch: int


@dataclass(frozen=True)
class DiscardMarkerTemp(Effect):
    """DURABLE (best effort): remove ``node``'s marker temp file of an aborted attempt.

    The temp file is never read as a marker (recovery removes leftovers), so a
    crash before or during the removal changes no authority."""

    phase: ClassVar[int] = 0
    node: int


@dataclass(frozen=True)
class Announce(Effect):
    """VISIBLE: tell the world ``node`` now admits writes (or no longer does).

    Performed only after every durable effect of the step succeeded."""

    phase: ClassVar[int] = 1
    node: int
    writable: bool


@dataclass(frozen=True)
class AckClients(Effect):
    """VISIBLE: writes up to ``upto`` on ``node`` are acknowledged to clients.

    Only after their entries are fsynced (and, in sync mode, held by the standby)."""

    phase: ClassVar[int] = 1
    node: int
    upto: int


@dataclass(frozen=True)
class Emit(Effect):
    """OBSERVE: an event for the trace (kind + fields). Never read by a decision."""

    phase: ClassVar[int] = 2
    kind: str
    data: Mapping[str, Any] = field(default_factory=dict)


# --- guards ---------------------------------------------------------------------------


def _holds_max_epoch(s: ClusterState, i: int) -> bool:
    return all(node.durable.epoch <= s.nodes[i].durable.epoch for node in s.nodes)


def _higher_epoch_seen(s: ClusterState, i: int) -> bool:
    mine = s.nodes[i].durable.epoch
    return any(node.durable.epoch > mine for j, node in enumerate(s.nodes) if j != i)


def _common_prefix(a: tuple[Entry, ...], b: tuple[Entry, ...]) -> int:
    k = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        k += 1
    return k


def _is_prefix(a: tuple[Entry, ...], b: tuple[Entry, ...]) -> bool:
    return len(a) <= len(b) and b[: len(a)] == a


def _replication_base(s: ClusterState, p: int, r: int) -> str | None:
    """The common guard of replicate/diverge, or why it fails."""
    if p == r:
        return "a node does not replicate to itself"
    prim, rep = s.nodes[p], s.nodes[r]
    if not (prim.up and rep.up):
        return "both nodes must be up"
    if prim.durable.marker_role != "Primary":
        return f"n{p} holds no primary marker"
    if rep.durable.marker_role != "Replica":
        return f"n{r} is not a replica (marker {rep.durable.marker_role})"
    if rep.durable.epoch > prim.durable.epoch:
        # Epoch fencing (P6-A3): a replica refuses a lower-epoch primary.
        return f"replica epoch {rep.durable.epoch} > primary epoch {prim.durable.epoch} (P6-A3)"
    if rep.lifecycle in lifecycle.IN_FLIGHT_STATES:
        # Approval freezes the candidate's WAL: what was validated is what is promoted.
        return f"n{r} is an approved candidate ({rep.lifecycle}); its WAL is frozen"
    if prim.lifecycle == "AuthorityTransitioning":
        return f"n{p} is writing its marker; it serves no WAL until durable"
    epoch = prim.durable.epoch
    for k, other in enumerate(s.nodes):
        if (
            k != p
            and k != r
            and other.up
            and other.durable.marker_role == "Primary"
            and other.durable.epoch == epoch
        ):
            # Two primaries claim one epoch: the replica follows neither; it halts
            # (AmbiguityHalt, P6-A1). Unreachable with one primary per epoch (P6-A3).
            return f"n{k} also claims Primary at epoch {epoch}: authority ambiguity (P6-A1)"
    return None


_ILLEGAL: dict[tuple[str, str], str] = {
    (state, event): f"event {event!r} is illegal in state {state}"
    for state in lifecycle.STATES
    for event in lifecycle.EVENTS
}
"""Why a lifecycle event is refused in a state, formatted once (enumeration asks often)."""


NODE_FIELDS: tuple[str, ...] = ("node", "primary", "replica", "standby", "candidate", "rival")
"""The action fields that name a node (by index)."""


# Each action type's guard is split in two: a *gate*, the part that reads only
# the action's node fields (so every instance of the type for the same nodes
# shares it), and a *detail*, the rest. refusal() is gate-then-detail, and
# enabled_actions() evaluates each gate once per group of instances: the same
# functions, so the fast enumeration is exact by construction.

Check = Callable[[ClusterState, Any], str | None]


def _none(s: ClusterState, a: Any) -> str | None:
    return None


def _writable_gate(s: ClusterState, a: Write | Ack) -> str | None:
    return None if s.nodes[a.node].writable else f"n{a.node} does not admit writes"


def _ack_detail(s: ClusterState, a: Ack) -> str | None:
    if s.mode == "sync":
        p, sb = a.node, s.standby
        if sb == p or not _is_prefix(s.nodes[p].durable.wal, s.nodes[sb].durable.wal):
            return f"sync mode: the standby (n{sb}) does not hold n{p}'s WAL"
    return None


def _replication_gate(s: ClusterState, a: Replicate | Adopt | Diverge) -> str | None:
    return _replication_base(s, a.primary, a.replica)


def _replicate_detail(s: ClusterState, a: Replicate | Adopt) -> str | None:
    p, r = a.primary, a.replica
    rep_wal, prim_wal = s.nodes[r].durable.wal, s.nodes[p].durable.wal
    if not _is_prefix(rep_wal, prim_wal):
        return f"n{r}'s WAL is not a prefix of n{p}'s (history divergence)"
    if len(rep_wal) >= len(prim_wal):
        return f"n{r} already holds every entry of n{p}"
    return None


def _adopt_detail(s: ClusterState, a: Adopt) -> str | None:
    why = _replicate_detail(s, a)
    if why is None and s.nodes[a.replica].durable.epoch == s.nodes[a.primary].durable.epoch:
        return f"n{a.replica} already holds n{a.primary}'s epoch {s.nodes[a.primary].durable.epoch}"
    return why


def _diverge_detail(s: ClusterState, a: Diverge) -> str | None:
    # P6-S2: a replica whose history differs from the primary's at any position
    # (or holds entries beyond the primary's end) is divergent, whatever the two
    # lengths: it halts at once.
    if _is_prefix(s.nodes[a.replica].durable.wal, s.nodes[a.primary].durable.wal):
        return f"n{a.replica}'s WAL is a prefix of n{a.primary}'s: no divergence"
    return None


def _ambiguity_gate(s: ClusterState, a: AmbiguityHalt) -> str | None:
    """The observer's half of the ambiguity halt's guard (spec: ambiguity_guard)."""
    node = s.nodes[a.node]
    if not node.up:
        return f"n{a.node} is down"
    if node.durable.marker_role not in ("Replica", "Primary"):
        return f"n{a.node} holds a {node.durable.marker_role} marker"
    if node.lifecycle != lifecycle.RECOVERY_STATE:
        return f"n{a.node} has an attempt in progress ({node.lifecycle})"
    return None


def ambiguity_detail(s: ClusterState, a: AmbiguityHalt) -> str | None:
    """The claimants' half: ``primary`` and ``rival`` claim Primary at one epoch, not
    below ``node``'s own (P6-A1, P6-A3)."""
    i, j, k = a.node, a.primary, a.rival
    if j in (i, k):
        return "the two claimants are distinct nodes other than the observer's first"
    claimant, rival = s.nodes[j], s.nodes[k]
    if not claimant.up or (k != i and not rival.up):
        return "the node sees only running claimants"
    if claimant.durable.marker_role != "Primary" or rival.durable.marker_role != "Primary":
        return f"n{j} and n{k} do not both claim Primary"
    if claimant.durable.epoch != rival.durable.epoch:
        return f"n{j} and n{k} claim different epochs: they are ordered"
    if claimant.durable.epoch < s.nodes[i].durable.epoch:
        return f"epoch {claimant.durable.epoch} is below n{i}'s: fencing refuses both (P6-A3)"
    return None


def _up_gate(s: ClusterState, a: Crash) -> str | None:
    return None if s.nodes[a.node].up else f"n{a.node} is already down"


def _crash_detail(s: ClusterState, a: Crash) -> str | None:
    vol = s.nodes[a.node].volatile
    stage = vol.marker_stage if vol is not None else 0
    if stage == 0:
        return None if a.outcome is None else "no marker write is in flight"
    allowed = marker_crash_outcomes(stage)
    if a.outcome not in allowed:
        return f"after {stage} marker operation(s) a crash leaves {sorted(allowed)}"
    return None


def _restart(s: ClusterState, a: Restart) -> str | None:
    i = a.node
    if s.nodes[i].up:
        return f"n{i} is already up"
    if s.nodes[i].durable.marker_role == "Torn":
        return f"n{i}'s marker is torn: it refuses to start (P6-F2)"
    return None


def _reinstate(s: ClusterState, a: Reinstate) -> str | None:
    i = a.node
    node = s.nodes[i]
    if not node.up or node.durable.marker_role != "Primary":
        return f"n{i} is not an up primary"
    if node.writable:
        return f"n{i} already admits writes"
    if not _holds_max_epoch(s, i):
        return f"n{i} does not hold the highest epoch (P6-A3)"
    if s.writable_nodes():
        return f"node {s.writable_nodes()[0]} admits writes (P6-A1)"
    busy = s.in_flight()
    if busy is not None:
        return f"an attempt for n{busy} is in flight ({s.nodes[busy].lifecycle})"
    return None


def _demote(s: ClusterState, a: Demote) -> str | None:
    i = a.node
    node = s.nodes[i]
    if not node.up or node.durable.marker_role != "Primary" or node.writable:
        return f"n{i} is not a fenced primary"
    if not _higher_epoch_seen(s, i):
        return f"no node holds an epoch higher than n{i}'s"
    if node.lifecycle != "Steady":
        return f"n{i} is a candidate ({node.lifecycle})"
    return None


def _step_down(s: ClusterState, a: StepDown) -> str | None:
    i = a.node
    if not s.nodes[i].writable:
        return f"n{i} does not admit writes"
    if not _higher_epoch_seen(s, i):
        return f"no node holds an epoch higher than n{i}'s"
    return None


def _designate_gate(s: ClusterState, a: Designate) -> str | None:
    if s.mode != "sync":
        return "designate exists in sync mode only"
    if not s.nodes[a.primary].writable:
        return f"n{a.primary} does not admit writes"
    return None


def _designate_detail(s: ClusterState, a: Designate) -> str | None:
    p, j = a.primary, a.standby
    if p == j:
        return "a primary is not its own standby"
    if s.nodes[j].durable.marker_role != "Replica":
        return f"n{j} is not a replica"
    if not _is_prefix(s.acked, s.nodes[j].durable.wal):
        return f"n{j} does not hold the acknowledged history"
    return None


def _request_gate(s: ClusterState, a: Request) -> str | None:
    c = a.candidate
    if not s.nodes[c].up:
        return f"n{c} is down"
    busy = s.in_flight()
    if busy is not None and a.concurrent:
        busy = c if s.nodes[c].lifecycle != lifecycle.RECOVERY_STATE else None
    if busy is not None:
        # Serialised attempts (mechanism 2, single_controller; dropped: the candidate's own).
        return f"an attempt for n{busy} is in progress ({s.nodes[busy].lifecycle})"
    return None


def _lifecycle_gate(event: str) -> Check:
    def gate(s: ClusterState, a: Any) -> str | None:
        vol = s.nodes[a.candidate].volatile
        if vol is None:
            return f"n{a.candidate} is down"
        if (vol.lifecycle, event) in lifecycle.TRANSITIONS:
            return None
        return _ILLEGAL[(vol.lifecycle, event)]

    return gate


def _marker_op_detail(s: ClusterState, a: MarkerOp) -> str | None:
    if a.op not in MARKER_OPS:
        return f"unknown marker operation {a.op!r}"
    vol = s.nodes[a.candidate].volatile
    stage = vol.marker_stage if vol is not None else 0
    if stage >= len(MARKER_OPS) or MARKER_OPS[stage] != a.op:
        return f"marker operation {a.op!r} out of order (done {stage})"
    return None


def _complete_detail(s: ClusterState, a: Complete) -> str | None:
    vol = s.nodes[a.candidate].volatile
    stage = vol.marker_stage if vol is not None else 0
    if stage != len(MARKER_OPS):
        return f"the marker is not durable yet ({stage}/{len(MARKER_OPS)} operations)"
    return None


def _abort_gate(s: ClusterState, a: Abort) -> str | None:
    vol = s.nodes[a.candidate].volatile
    if vol is None:
        return f"n{a.candidate} is down"
    if vol.lifecycle not in lifecycle.IN_FLIGHT_STATES:
        return f"n{a.candidate} has no approved attempt to abort ({vol.lifecycle})"
    return None


def _abort_detail(s: ClusterState, a: Abort) -> str | None:
    vol = s.nodes[a.candidate].volatile
    stage = vol.marker_stage if vol is not None else 0
    if stage >= RENAME_STAGE:
        # P6-F2, P6-A3: the new marker is visible; forgetting the attempt now would
        # serve an epoch that a crash before the directory fsync can take back.
        return f"the marker rename of n{a.candidate} has happened ({stage}/{len(MARKER_OPS)})"
    return None


GUARDS: dict[type[Action], tuple[Check, Check]] = {
    Write: (_writable_gate, _none),
    Ack: (_writable_gate, _ack_detail),
    Replicate: (_replication_gate, _replicate_detail),
    Adopt: (_replication_gate, _adopt_detail),
    Diverge: (_replication_gate, _diverge_detail),
    AmbiguityHalt: (_ambiguity_gate, ambiguity_detail),
    Crash: (_up_gate, _crash_detail),
    Restart: (_restart, _none),
    Reinstate: (_reinstate, _none),
    Demote: (_demote, _none),
    StepDown: (_step_down, _none),
    Designate: (_designate_gate, _designate_detail),
    Request: (_request_gate, _none),
    Reject: (_lifecycle_gate("reject"), _none),
    BeginValidation: (_lifecycle_gate("begin_validation"), _none),
    Decide: (_lifecycle_gate("approve"), _none),
    BeginTransition: (_lifecycle_gate("begin_transition"), _none),
    MarkerOp: (_lifecycle_gate("complete"), _marker_op_detail),
    Complete: (_lifecycle_gate("complete"), _complete_detail),
    Acknowledge: (_lifecycle_gate("acknowledge"), _none),
    Abort: (_abort_gate, _abort_detail),
}
"""Per action type: (gate, detail). The gate reads only the action's node fields."""

_NODE_FIELDS_OF: dict[type[Action], tuple[str, ...]] = {
    kind: tuple(key for key in NODE_FIELDS if key in kind.__dataclass_fields__) for kind in GUARDS
}
"""Per action type, its fields that name a node (refusal checks each index)."""


def refusal(s: ClusterState, action: Action) -> str | None:
    """Why ``action`` is not enabled in ``s``, or None when it is. Pure."""
    kind = type(action)
    guards = GUARDS.get(kind)
    if guards is None:
        return f"unknown action {action!r}"
    n = len(s.nodes)
    for key in _NODE_FIELDS_OF[kind]:
        i = getattr(action, key)
        if isinstance(i, int) and not 0 <= i < n:
            return f"unknown node index {i}"
    gate, detail = guards
    why = gate(s, action)
    return why if why is not None else detail(s, action)


def _error_for(s: ClusterState, action: Action, why: str) -> ProtocolError:
    """The named error a refused action raises (nothing changes)."""
    if isinstance(action, Request) and s.nodes[action.candidate].up:
        busy = action.candidate if action.concurrent else s.in_flight()
        if busy is not None:
            return DuplicateRequest(str(action.candidate), str(busy), s.nodes[busy].lifecycle)
    if isinstance(action, Request):
        return InapplicableRequest(f"promotion request for node {action.candidate}: {why}")
    if isinstance(action, Abort) and _abort_gate(s, action) is None:
        vol = s.nodes[action.candidate].volatile
        stage = vol.marker_stage if vol is not None else 0
        return AbortAfterRename(f"n{action.candidate}", stage, len(MARKER_OPS))
    event = {
        Reject: "reject",
        BeginValidation: "begin_validation",
        Decide: "approve",
        BeginTransition: "begin_transition",
        Complete: "complete",
        Acknowledge: "acknowledge",
    }.get(type(action))
    if event is not None:
        c = getattr(action, "candidate")  # noqa: B009 - every lifecycle action has one
        node = s.nodes[c]
        if node.up and not lifecycle.is_allowed(node.lifecycle, event):
            return IllegalTransition(node.lifecycle, event)
    return ActionNotEnabled(action.label(), why)


# --- the validation context, observed from the cluster ---------------------------------


def old_primary(s: ClusterState) -> int | None:
    """The node whose durable WAL bounds acknowledged writes in async mode.

    The primary-marker node holding the highest epoch (spec: observed_context)."""
    for i, node in enumerate(s.nodes):
        if node.durable.marker_role == "Primary" and _holds_max_epoch(s, i):
            return i
    return None


_VALIDATION_ROLE: dict[str, tuple[str, str | None]] = {
    "Primary": ("PrimaryActive", None),
    "Replica": ("ReplicaActive", None),
    "Halted": ("Halted", "history_divergence"),
    "Torn": ("Halted", "wal_corruption"),
}
"""The validator's role (and halt reason) for each marker role recovery reads."""


def observed_context(s: ClusterState, c: int, obs: Observation) -> ValidationContext:
    """The validation context candidate ``c`` observes, as spec.cluster.observed_context.

    Old primary status: Active if another node admits writes, Unavailable if
    none does, Unknown when the operator's view is marked uncertain. Ack
    bound: sync mode, the standby's durable WAL end; async mode, the old
    primary's durable WAL end (unknown if there is none). Position and prefix
    compare the candidate's durable WAL with that source.
    """
    cand = s.nodes[c]
    others_writable = any(node.writable for j, node in enumerate(s.nodes) if j != c)
    status = "Active" if others_writable else "Unavailable"
    if obs.primary_uncertain:
        status = "Unknown"
    source = s.standby if s.mode == "sync" else old_primary(s)
    src_wal = s.nodes[source].durable.wal if source is not None else None
    bound = len(src_wal) if (src_wal is not None and obs.bound_known) else None
    if src_wal is None or not obs.prefix_known:
        prefix = "Unknown"
    else:
        cand_wal = cand.durable.wal
        compatible = _common_prefix(cand_wal, src_wal) == min(len(cand_wal), len(src_wal))
        prefix = "Compatible" if compatible else "Divergent"
    role, halt = _VALIDATION_ROLE[cand.durable.marker_role]
    if obs.candidate_disabled:
        role, halt = "Disabled", None  # the switch is read first: it only ever denies
    return ValidationContext(
        role=role,
        halt_reason=halt,
        primary_status=status,
        force=cand.volatile.forced if cand.volatile is not None else False,
        wal_end=len(cand.durable.wal),
        ack_bound=bound,
        prefix=prefix,
        mvcc=obs.mvcc,
    )


# --- step -------------------------------------------------------------------------------


def _transition_event(c: int, src: str, event: str, dst: str, **data: Any) -> Emit:
    return Emit("transition", {"node": c, "from": src, "event": event, "to": dst, **data})


def _set_lc(
    node: NodeState, state: str, record: AttemptRecord | None = None, **changes: Any
) -> NodeState:
    """``node`` with its lifecycle at ``state`` (and volatile ``changes``), and its
    attempt record replaced by ``record`` if given: one copy of the node."""
    assert node.volatile is not None
    volatile = _but(node.volatile, lifecycle=state, **changes)
    if record is None:
        return _but(node, volatile=volatile)
    return _but(node, volatile=volatile, record=record)


def _adopt(s: ClusterState, p: int, r: int) -> tuple[ClusterState, list[Effect]]:
    """Replica ``r`` takes primary ``p``'s epoch, durably (its marker)."""
    new_epoch = s.nodes[p].durable.epoch
    rep = s.nodes[r]
    t = s.with_node(r, _but(rep, durable=_but(rep.durable, epoch=new_epoch)))
    return t, [PersistMarker(r, "Replica", new_epoch)]


def step(s: ClusterState, action: Action) -> tuple[ClusterState, tuple[Effect, ...]]:
    """Apply one action. Refused actions raise a ProtocolError and change nothing.

    Returns the next state and the effects, ordered: durable, visible, observe.
    """
    why = refusal(s, action)
    if why is not None:
        raise _error_for(s, action, why)
    return _apply(s, action)


def _step_write(s: ClusterState, a: Write) -> tuple[ClusterState, list[Effect]]:
    p = a.node
    node = s.nodes[p]
    entry: Entry = (node.durable.epoch, len(node.durable.wal) + 1)
    t = s.with_node(p, _but(node, durable=_but(node.durable, wal=(*node.durable.wal, entry))))
    return t, [AppendWal(p, entry), SyncWal(p), Emit("write", {"node": p, "entry": entry})]


def _step_ack(s: ClusterState, a: Ack) -> tuple[ClusterState, list[Effect]]:
    p = a.node
    wal = s.nodes[p].durable.wal
    extends = _is_prefix(s.acked, wal)
    t = _but(s, acked=wal, broken=s.broken or not extends)
    return t, [
        AckClients(p, len(wal)),
        Emit("ack", {"node": p, "upto": len(wal), "epoch": s.nodes[p].durable.epoch}),
    ]


def _step_replicate(s: ClusterState, a: Replicate) -> tuple[ClusterState, list[Effect]]:
    p, r = a.primary, a.replica
    entry = s.nodes[p].durable.wal[len(s.nodes[r].durable.wal)]
    new_epoch = s.nodes[p].durable.epoch
    t, effects = s, list[Effect]()
    if new_epoch != s.nodes[r].durable.epoch:
        # The replica adopts the primary's epoch, durably, before taking its
        # entries: Adopt's step is this step's first part (partial_steps).
        t, effects = _adopt(s, p, r)
    rep = t.nodes[r]
    t = t.with_node(r, _but(rep, durable=_but(rep.durable, wal=(*rep.durable.wal, entry))))
    effects += [
        AppendWal(r, entry),
        SyncWal(r),
        Emit("replicate", {"from": p, "to": r, "entry": entry, "epoch": new_epoch}),
    ]
    return t, effects


def _step_adopt(s: ClusterState, a: Adopt) -> tuple[ClusterState, list[Effect]]:
    return _adopt(s, a.primary, a.replica)


def _halt_effects(
    i: int, own_epoch: int, reason: str, invariant: str, why: str, **extra: Any
) -> list[Effect]:
    """A halt's effects: the durable halt record at the node's own epoch, then its event."""
    event = {"node": i, "reason": reason, "invariant": invariant, "explanation": why, **extra}
    return [PersistMarker(i, "Halted", own_epoch, reason), Emit("halt", event)]


def _step_diverge(s: ClusterState, a: Diverge) -> tuple[ClusterState, list[Effect]]:
    p, r = a.primary, a.replica
    rep = s.nodes[r]
    t = s.with_node(r, _but(rep, durable=_but(rep.durable, marker_role="Halted")))
    why = f"n{r}'s WAL is not a prefix of primary n{p}'s"
    return t, _halt_effects(r, rep.durable.epoch, "history_divergence", "P6-S2", why)


def _relinquished(s: ClusterState, i: int, role: str) -> ClusterState:
    """``s`` with node ``i`` giving up authority: its marker takes ``role`` (Halted
    or Replica) and it admits no writes (an ambiguity halt, a demotion)."""
    node = s.nodes[i]
    assert node.volatile is not None
    durable = _but(node.durable, marker_role=role)
    return s.with_node(i, _but(node, durable=durable, volatile=_but(node.volatile, active=False)))


def _step_ambiguity_halt(s: ClusterState, a: AmbiguityHalt) -> tuple[ClusterState, list[Effect]]:
    i, j, k = a.node, a.primary, a.rival
    node = s.nodes[i]
    t = _relinquished(s, i, "Halted")
    epoch = s.nodes[j].durable.epoch
    why = f"n{j} and n{k} both claim Primary at epoch {epoch}"
    return t, _halt_effects(
        i, node.durable.epoch, "authority_ambiguity", "P6-A1", why, claimants=[j, k], epoch=epoch
    )


def _step_crash(s: ClusterState, a: Crash) -> tuple[ClusterState, list[Effect]]:
    i, outcome = a.node, a.outcome
    node = s.nodes[i]
    assert node.volatile is not None
    durable = node.durable
    if node.volatile.marker_stage > 0:
        rec = node.record
        if outcome == "new":
            durable = _but(durable, marker_role="Primary", epoch=rec.grant)
        elif outcome == "old":
            durable = _but(durable, marker_role="Replica", epoch=rec.previous_epoch)
        else:
            durable = _but(durable, marker_role="Torn", epoch=rec.previous_epoch)
    t = s.with_node(i, _but(node, durable=durable, volatile=None))
    event = {
        "node": i,
        "lifecycle": node.volatile.lifecycle,
        "marker_stage": node.volatile.marker_stage,
        "outcome": outcome,
    }
    return t, [Emit("crash", event)]


def _step_restart(s: ClusterState, a: Restart) -> tuple[ClusterState, list[Effect]]:
    i = a.node
    node = s.nodes[i]
    t = s.with_node(i, _but(node, volatile=recover(node.durable)))
    event = {
        "node": i,
        "role": node.durable.marker_role,
        "epoch": node.durable.epoch,
        "fenced": node.durable.marker_role == "Primary",
    }
    return t, [Emit("restart", event)]


def _step_reinstate(s: ClusterState, a: Reinstate) -> tuple[ClusterState, list[Effect]]:
    i = a.node
    node = s.nodes[i]
    assert node.volatile is not None
    t = s.with_node(i, _but(node, volatile=_but(node.volatile, active=True)))
    return t, [Announce(i, True), Emit("reinstate", {"node": i, "epoch": node.durable.epoch})]


def _step_demote(s: ClusterState, a: Demote | StepDown) -> tuple[ClusterState, list[Effect]]:
    """demote (a fenced primary) and step_down (a writable one): both rejoin as replicas."""
    i = a.node
    node = s.nodes[i]
    t = _relinquished(s, i, "Replica")
    effects: list[Effect] = [PersistMarker(i, "Replica", node.durable.epoch)]
    if isinstance(a, StepDown):
        effects.append(Announce(i, False))
    effects.append(
        Emit("demote", {"node": i, "epoch": node.durable.epoch, "seen_epoch": s.max_epoch()})
    )
    return t, effects


def _step_designate(s: ClusterState, a: Designate) -> tuple[ClusterState, list[Effect]]:
    t = _but(s, standby=a.standby)
    return t, [Emit("designate", {"primary": a.primary, "standby": a.standby})]


def _step_request(s: ClusterState, a: Request) -> tuple[ClusterState, list[Effect]]:
    c, force = a.candidate, a.force
    node = s.nodes[c]
    t = s.with_node(
        c,
        _set_lc(node, "PromotionRequested", record=_but(node.record, validations=0), forced=force),
    )
    return t, [_transition_event(c, "Steady", "request", "PromotionRequested", force=force)]


def _step_reject(s: ClusterState, a: Reject) -> tuple[ClusterState, list[Effect]]:
    c = a.candidate
    t = s.with_node(c, _set_lc(s.nodes[c], "Steady"))
    return t, [_transition_event(c, "PromotionRequested", "reject", "Steady")]


def _step_begin_validation(
    s: ClusterState, a: BeginValidation
) -> tuple[ClusterState, list[Effect]]:
    c = a.candidate
    node = s.nodes[c]
    t = s.with_node(
        c,
        _set_lc(
            node,
            "PromotionValidating",
            record=_but(node.record, validations=node.record.validations + 1),
        ),
    )
    event = _transition_event(c, "PromotionRequested", "begin_validation", "PromotionValidating")
    return t, [event]


def _step_decide(s: ClusterState, a: Decide) -> tuple[ClusterState, list[Effect]]:
    c = a.candidate
    node = s.nodes[c]
    ctx = observed_context(s, c, a.observation)
    verdict: Verdict = validate(ctx)
    event = "approve" if verdict.allowed else "deny"
    dst = lifecycle.next_state(node.lifecycle, event)
    t = s.with_node(
        c,
        _set_lc(node, dst, record=_but(node.record, reason=verdict.reason)),
    )
    return t, [
        Emit("validation", {"node": c, "context": ctx, "verdict": verdict}),
        _transition_event(c, node.lifecycle, event, dst, verdict=verdict),
    ]


def _step_begin_transition(
    s: ClusterState, a: BeginTransition
) -> tuple[ClusterState, list[Effect]]:
    c = a.candidate
    node = s.nodes[c]
    grant = s.max_epoch() + 1  # P6-A3: highest known epoch + 1
    t = s.with_node(
        c,
        _set_lc(
            node,
            "AuthorityTransitioning",
            record=_but(node.record, grant=grant, previous_epoch=node.durable.epoch),
            marker_stage=0,
        ),
    )
    event = _transition_event(
        c,
        "PromotionApproved",
        "begin_transition",
        "AuthorityTransitioning",
        grant=grant,
        previous_epoch=node.durable.epoch,
    )
    return t, [event]


def _step_marker_op(s: ClusterState, a: MarkerOp) -> tuple[ClusterState, list[Effect]]:
    c, op = a.candidate, a.op
    node = s.nodes[c]
    assert node.volatile is not None
    stage = node.volatile.marker_stage + 1
    durable = node.durable
    if stage == RENAME_STAGE:
        # The rename makes the new marker what recovery would read (not yet durable).
        durable = _but(durable, marker_role="Primary", epoch=node.record.grant)
    t = s.with_node(
        c, _but(node, durable=durable, volatile=_but(node.volatile, marker_stage=stage))
    )
    return t, [
        MarkerFileOp(c, op, "Primary", node.record.grant),
        Emit("marker", {"node": c, "op": op, "epoch": node.record.grant}),
    ]


def _step_complete(s: ClusterState, a: Complete) -> tuple[ClusterState, list[Effect]]:
    c = a.candidate
    node = s.nodes[c]
    t = s.with_node(c, _set_lc(node, "PromotionSucceeded", active=True, marker_stage=0))
    event = _transition_event(
        c,
        "AuthorityTransitioning",
        "complete",
        "PromotionSucceeded",
        epoch=node.durable.epoch,
    )
    return t, [Announce(c, True), event]


def _step_acknowledge(s: ClusterState, a: Acknowledge) -> tuple[ClusterState, list[Effect]]:
    c = a.candidate
    node = s.nodes[c]
    t = s.with_node(c, _set_lc(node, "Steady"))
    return t, [_transition_event(c, node.lifecycle, "acknowledge", "Steady")]


def _step_abort(s: ClusterState, a: Abort) -> tuple[ClusterState, list[Effect]]:
    c = a.candidate
    node = s.nodes[c]
    assert node.volatile is not None
    stage = node.volatile.marker_stage
    # Forgotten as a crash forgets it (spec: abort), the process still up;
    # the marker is untouched (the rename has not happened).
    t = s.with_node(c, _set_lc(node, lifecycle.RECOVERY_STATE, forced=False, marker_stage=0))
    effects: list[Effect] = [DiscardMarkerTemp(c)] if stage > 0 else []
    event = {
        "node": c,
        "lifecycle": node.volatile.lifecycle,
        "marker_stage": stage,
        "epoch": node.durable.epoch,
    }
    effects.append(Emit("abort", event))
    return t, effects


StepFunction = Callable[[ClusterState, Any], tuple[ClusterState, list[Effect]]]

STEPS: dict[type[Action], StepFunction] = {
    Write: _step_write,
    Ack: _step_ack,
    Replicate: _step_replicate,
    Adopt: _step_adopt,
    Diverge: _step_diverge,
    AmbiguityHalt: _step_ambiguity_halt,
    Crash: _step_crash,
    Restart: _step_restart,
    Reinstate: _step_reinstate,
    Demote: _step_demote,
    StepDown: _step_demote,
    Designate: _step_designate,
    Request: _step_request,
    Reject: _step_reject,
    BeginValidation: _step_begin_validation,
    Decide: _step_decide,
    BeginTransition: _step_begin_transition,
    MarkerOp: _step_marker_op,
    Complete: _step_complete,
    Acknowledge: _step_acknowledge,
    Abort: _step_abort,
}
"""Per action type, its step (the same keys as GUARDS: refusal decides first)."""


def _apply(s: ClusterState, action: Action) -> tuple[ClusterState, tuple[Effect, ...]]:
    """The step of an enabled action (the caller checked refusal() is None)."""
    t, effects = STEPS[type(action)](s, action)
    if len(effects) > 1:
        # Durable, visible, observe (Effect.phase): each step builds its effects in
        # that order; the stable sort is the safety net for a step that does not.
        phases = [e.phase for e in effects]
        if phases != sorted(phases):
            effects.sort(key=lambda e: e.phase)
    return t, tuple(effects)


# --- enumeration ---------------------------------------------------------------------------

ALL_OBSERVATIONS: tuple[Observation, ...] = tuple(
    Observation(uncertain, bound_known, prefix_known, mvcc)
    for uncertain in (False, True)
    for bound_known in (True, False)
    for prefix_known in (True, False)
    for mvcc in MVCCS
)
"""Every observation the environment can make: the primary's status certain or
Unknown, the acknowledged bound and the prefix known or not, each MVCC fact --
with the promotion-disabled switch clear. A set switch only turns a decision
into the denial candidate_disabled (the spec's ``obs.disabled``); the explorer
leaves it out, and tests/test_disable.py checks such steps against the spec."""

DEFAULT_OBSERVATIONS: tuple[Observation, ...] = (
    Observation(),
    Observation(primary_uncertain=True),
)
"""The observations :func:`enabled_actions` tries by default: the primary's status
as observed or Unknown, everything else known (so that random runs reach
approvals). The explorer passes :data:`ALL_OBSERVATIONS`."""


Group = tuple[Check, Action, tuple[tuple[Check, Action], ...], bool]
"""(gate, an instance to evaluate it on, ((detail, instance), ...), whether the
environment assumptions may exclude an instance): instances of one action
type, or of types sharing one gate, with the same node fields."""

_GROUPS: dict[tuple[int, str, int], tuple[tuple[Observation, ...], tuple[Group, ...]]] = {}


def _candidate_groups(
    n: int, mode: str, observations: tuple[Observation, ...]
) -> tuple[Group, ...]:
    """Every action instance of the model for this cluster size, grouped by gate.

    Built once per (size, mode, observations): actions are immutable values.
    Looked up by the identity of ``observations`` (hashing 24 observations per
    call would cost more than the lookup saves); the entry keeps the tuple
    alive, so an identity is never reused while its entry exists."""
    found = _GROUPS.get((n, mode, id(observations)))
    if found is not None and found[0] is observations:
        return found[1]
    groups = _build_groups(n, mode, observations)
    _GROUPS[(n, mode, id(observations))] = (observations, groups)
    return groups


def _build_groups(n: int, mode: str, observations: tuple[Observation, ...]) -> tuple[Group, ...]:
    groups: list[list[Action]] = []
    for p in range(n):
        groups += [[Write(p)], [Ack(p)]]
    for p in range(n):
        for r in range(n):
            if p != r:
                # All three share the gate _replication_base(p, r).
                groups.append([Replicate(p, r), Adopt(p, r), Diverge(p, r)])
    for i in range(n):
        # One gate (the observer's) for every pair of claimants.
        groups.append(
            [AmbiguityHalt(i, j, k) for j in range(n) for k in range(n) if j != i and k != j]
        )
    for i in range(n):
        groups.append([Crash(i, None), *(Crash(i, o) for o in ("old", "new", "torn"))])
        groups += [[Restart(i)], [Reinstate(i)], [Demote(i)], [StepDown(i)]]
        if mode == "sync":
            groups.append([Designate(i, j) for j in range(n) if j != i])
    for c in range(n):
        groups += [[Request(c, False), Request(c, True)], [Reject(c)], [BeginValidation(c)]]
        groups.append([Decide(c, obs) for obs in observations])
        groups.append([BeginTransition(c)])
        groups.append([MarkerOp(c, op) for op in MARKER_OPS])
        groups += [[Complete(c)], [Acknowledge(c)], [Abort(c)]]
    out: list[Group] = []
    for members in groups:
        gate = GUARDS[type(members[0])][0]
        assert all(GUARDS[type(a)][0] is gate for a in members)
        details = tuple((GUARDS[type(a)][1], a) for a in members)
        out.append((gate, members[0], details, isinstance(members[0], Decide)))
    return tuple(out)


def candidate_actions(
    s: ClusterState, observations: tuple[Observation, ...] = DEFAULT_OBSERVATIONS
) -> Iterator[Action]:
    """Every action instance of the model for this cluster size (enabled or not)."""
    for _gate, _first, members, _env in _candidate_groups(s.n, s.mode, observations):
        for _detail, action in members:
            yield action


def environment_allows(s: ClusterState, action: Action) -> bool:
    """Whether the environment assumptions of the spec admit ``action`` in ``s``.

    Not a protocol guard (the runtime cannot know the truth): the named
    assumption ``force_is_truthful`` of baton.spec.cluster says an operator
    forces over a primary of Unknown status only when no other node really
    admits writes. A forced Decide with an uncertain view while another node
    is writable is the environment lying; it is excluded unless the caller
    drops the assumption (then P6-A1 can fail, as the spec's counterexample shows).
    """
    if isinstance(action, Decide) and action.observation.primary_uncertain:
        node = s.nodes[action.candidate]
        forced = node.volatile is not None and node.volatile.forced
        others = [j for j in s.writable_nodes() if j != action.candidate]
        return not (forced and others)
    return True


def partial_steps(s: ClusterState, action: Action) -> tuple[Action, ...]:
    """Spec steps whose durable effects are a proper prefix of ``action``'s.

    A crash inside ``action`` (a failpoint or a disk fault between two of its
    durable writes) can leave the state after one of these instead of the
    state before or after ``action``: Replicate persists an adopted epoch
    before it appends the entry (its step begins with Adopt's), so it can stop
    after Adopt.
    """
    if isinstance(action, Replicate):
        adopt = Adopt(action.primary, action.replica)
        if refusal(s, adopt) is None:
            return (adopt,)
    return ()


def enabled_actions(
    s: ClusterState,
    observations: tuple[Observation, ...] = DEFAULT_OBSERVATIONS,
    *,
    force_is_truthful: bool = True,
) -> tuple[Action, ...]:
    """Every action whose guard holds in ``s`` (and, unless dropped, that the
    environment assumptions admit), in the order of :func:`candidate_actions`.

    Exactly ``[a for a in candidate_actions(s) if refusal(s, a) is None]``:
    refusal() is gate-then-detail, and the gate, which reads only node fields
    shared by a whole group, is evaluated once per group."""
    out: list[Action] = []
    for gate, first, members, env in _candidate_groups(s.n, s.mode, observations):
        if gate(s, first) is not None:
            continue
        for detail, action in members:
            if detail is not _none and detail(s, action) is not None:
                continue
            # environment_allows() admits every action but a Decide (env groups).
            if env and force_is_truthful and not environment_allows(s, action):
                continue
            out.append(action)
    return tuple(out)


def successors(
    s: ClusterState,
    observations: tuple[Observation, ...] = DEFAULT_OBSERVATIONS,
    *,
    force_is_truthful: bool = True,
    admit: Callable[[Action], bool] | None = None,
) -> Iterator[tuple[Action, ClusterState]]:
    """``(action, next state)`` for every enabled action: what :func:`step` does
    for each of :func:`enabled_actions` (refusal is not evaluated twice).
    ``admit``, if given, skips the enabled actions it rejects before stepping
    (an explorer's bounds on writes and requests)."""
    for action in enabled_actions(s, observations, force_is_truthful=force_is_truthful):
        if admit is None or admit(action):
            yield action, _apply(s, action)[0]


# --- mapping to the spec ------------------------------------------------------------------


def to_snapshot(s: ClusterState) -> Any:
    """The spec's concrete snapshot of ``s`` (baton.spec.concrete.Snapshot).

    Imports the spec lazily: this is for cross-checking (tests, proofs,
    explorer), never for deciding. Down nodes map to the values the spec's
    crash leaves: inactive, Steady, not forced, no marker stage.
    """
    from baton.spec.concrete import NodeSnapshot, Snapshot

    nodes = []
    for node in s.nodes:
        vol = node.volatile or Volatile()
        nodes.append(
            NodeSnapshot(
                up=node.up,
                role=node.durable.marker_role,
                epoch=node.durable.epoch,
                active=vol.active,
                wal=node.durable.wal,
                lifecycle=vol.lifecycle,
                forced=vol.forced,
                reason=node.record.reason,
                grant=node.record.grant,
                pepoch=node.record.previous_epoch,
                marker_stage=vol.marker_stage,
                validations=node.record.validations,
            )
        )
    return Snapshot(nodes=tuple(nodes), acked=s.acked, standby=s.standby, broken=s.broken)


def spec_action_names(action: Action) -> tuple[str, ...]:
    """The spec action instances (``name[nodes]``, as ``explaining_actions`` prints
    them) that ``action`` may correspond to: Decide is the spec's approve or deny."""
    match action:
        case MarkerOp(candidate=c, op=op):
            return (f"marker_{op}[{c}]",)
        case (
            Replicate(primary=p, replica=r)
            | Adopt(primary=p, replica=r)
            | Diverge(primary=p, replica=r)
        ):
            return (f"{action.name}[{p}, {r}]",)
        case Designate(primary=p, standby=j):
            return (f"designate[{p}, {j}]",)
        case AmbiguityHalt(node=i, primary=j, rival=k):
            return (f"ambiguity_halt[{i}, {j}, {k}]",)
        case Decide(candidate=c):
            return (f"approve[{c}]", f"deny[{c}]")
        case Request(candidate=c) | Reject(candidate=c) | BeginValidation(candidate=c):
            return (f"{action.name}[{c}]",)
        case BeginTransition(candidate=c) | Complete(candidate=c) | Acknowledge(candidate=c):
            return (f"{action.name}[{c}]",)
        case Abort(candidate=c):
            return (f"abort[{c}]",)
    i = getattr(action, "node")  # noqa: B009 - every remaining action names one node
    return (f"{action.name}[{i}]",)
