"""The promotion controller: one explicit request drives one attempt.

An operator's :class:`PromotionRequest` (candidate, ``force``, operator
identity, optional reason) is the only thing that starts an attempt, and the
controller drives it through the lifecycle with the pure core's actions:
``request -> begin_validation -> approve|deny``, and on approval at once
``begin_transition -> the marker's four file operations -> complete``. The
outcome is then the operator's to ``acknowledge``.

What the controller refuses, explicitly and without changing anything:

* an unknown candidate (UnknownNode), an ill-formed request -- no operator
  identity, a reason that is not text (InapplicableRequest, after the
  lifecycle's ``reject`` when the request was already recorded);
* a request while any attempt is in flight anywhere (DuplicateRequest; the
  attempt in flight is not disturbed -- serialised attempts, the spec's
  ``single_controller``). A demonstration may drop that assumption by name
  (``drop_assumptions={"single_controller"}``): a request then starts while
  other attempts are held in flight (``pause_after``), exactly the spec's
  request with the assumption dropped, and the trace records the request that
  relied on it. What it can lead to -- two grants of one epoch -- is what the
  runtime's authority-ambiguity halt answers (:mod:`baton.cluster`);
* a request for a node that is down (InapplicableRequest).

* a forced request over a primary marked uncertain while the runtime itself
  sees another node admitting writes (ForceContradicted, P6-A1a): the spec
  assumes ``force_is_truthful``, and the runtime does not let an operator's
  word override what it observes. A demonstration may drop that assumption,
  but only by naming it (``drop_assumptions={"force_is_truthful"}``); the
  trace then records the request that relied on the dropped assumption.

An approved attempt can be held before its transition or between two of the
marker's file operations (``PromotionRequest.pause_after``), for an operator
to look before the marker is written. A held attempt is then either continued
(:meth:`Controller.continue_attempt`: the same attempt, no new validation) or
aborted (:meth:`Controller.abort_attempt`): the abort forgets the attempt as a
crash of the candidate would, and is refused with
:class:`baton.errors.AbortAfterRename` once the marker rename happened (P6-F2,
P6-A3; the spec's ``abort`` and its mutant ``abort_after_rename``).

It never retries on its own (P6-F3): a denied attempt stays denied until the
operator acknowledges it and makes a new request; an attempt interrupted by a
crash is gone (recovery re-enters Steady) and nothing restarts it. Every
forced request is audited (P6-A1a) before anything else happens.

One controller at a time (``single_controller``): every operator action runs
under a lock shared by all controllers of one driver, so any number of threads
can call it and attempts are still serialised. (Across processes, the node
directories' OS locks, :mod:`baton.dirlock`, keep a second process out.)
Dropping the assumption lifts the serialisation of attempts, never the lock:
each step still runs whole.

A durable "promotion disabled" switch per node and for the whole cluster
(:meth:`Controller.disable_promotion`, :meth:`Controller.enable_promotion`)
is read at every validation: a candidate whose switch or the cluster's is set
is presented to the validator as the role Disabled and denied
(``candidate_disabled``).

Every operator action -- request (forced or not), acknowledge, reinstate,
continue, abort, disable, enable --
names its operator and is audited through :meth:`Driver.audit`, refused ones
included (an unknown candidate too).

The controller only decides which core action comes next; performing them
(disk, events) is the :class:`Driver`'s job, so it can run over real
directories (:mod:`baton.cluster`) or over the bare core in tests.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator, Sequence
from collections.abc import Set as AbstractSet
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from typing import Protocol

from baton import core, lifecycle
from baton.errors import (
    ActionNotEnabled,
    DuplicateRequest,
    ForceContradicted,
    InapplicableRequest,
    ProtocolError,
    UnknownNode,
)
from baton.validator import Verdict

# Assumptions of baton.spec.cluster.ASSUMPTIONS that a caller may drop, by name, to
# demonstrate what breaks. The others the runtime enforces unconditionally (the
# directory locks, the fenced restart) or cannot observe. Dropping single_controller
# drops the serialisation of attempts only: every step still runs whole under the
# controller lock, and reinstatement stays gated on no attempt in flight (a subset
# of what the spec allows without the assumption).
DROPPABLE_ASSUMPTIONS: tuple[str, ...] = ("force_is_truthful", "single_controller")


@dataclass(frozen=True)
class PromotionRequest:
    """An operator's explicit request to promote ``candidate`` (a node name)."""

    candidate: str
    operator: str
    force: bool = False
    reason: str | None = None
    # What the operator tells the validator beyond the cluster state.
    primary_uncertain: bool = False
    mvcc: str = "Preserved"
    # Hold an approved attempt after this step (one of PAUSE_POINTS), for the
    # operator to continue or abort it; None: run the transition at once.
    pause_after: str | None = None


PAUSE_POINTS: tuple[str, ...] = ("approve", "begin_transition", *core.MARKER_OPS)
"""Where an approved attempt can be held: after approval, after begin_transition, or
after any of the marker's file operations (abort is refused from the rename on)."""


@dataclass(frozen=True)
class OperatorAction:
    """One audited operator action: who did what to which node, and how it ended.

    ``action`` is ``request``, ``acknowledge``, ``reinstate``, ``continue``,
    ``abort``, ``disable`` or ``enable``; ``target`` is the node name as the
    operator gave it (possibly unknown; ``cluster`` for the cluster-wide switch);
    ``outcome`` is ``accepted``, ``refused`` (a ProtocolError; nothing changed)
    or ``failed`` (anything else, e.g. a disk fault), with ``detail`` the
    error's message.
    ``dropped_assumptions`` names what a demonstration relied on being false.
    """

    action: str
    operator: str
    target: str
    outcome: str
    force: bool = False
    reason: str | None = None
    detail: str | None = None
    dropped_assumptions: tuple[str, ...] = ()


@dataclass(frozen=True)
class AttemptResult:
    """How an attempt ended: the lifecycle state reached and the verdict, if any.

    ``interrupted`` names the node that crashed mid-attempt (a failpoint or a
    failed fsync); the attempt is then forgotten, never retried (P6-F3).
    """

    candidate: str
    state: str
    verdict: Verdict | None
    interrupted: str | None = None
    paused: bool = False


class Driver(Protocol):
    """What the controller needs from a cluster: its state, names, and a way to act."""

    @property
    def state(self) -> core.ClusterState: ...

    @property
    def names(self) -> Sequence[str]: ...

    def apply(self, action: core.Action) -> tuple[core.Effect, ...]:
        """Step the core and perform the effects; raise ProtocolError if refused."""

    def note_request(
        self, request: PromotionRequest, candidate: int, dropped: tuple[str, ...] = ()
    ) -> None:
        """Record the request's arrival (start event); audit it if forced (P6-A1a).

        ``dropped`` names the assumptions this request relies on being dropped.
        """

    def note_rejection(self, request: PromotionRequest, candidate: int, error: Exception) -> None:
        """Record that a request was refused before entering the lifecycle."""

    def audit(self, entry: OperatorAction) -> None:
        """Record one operator action and its outcome (refused ones included)."""

    def acting_for(self, operator: str) -> AbstractContextManager[None]:
        """While open, what the driver records is attributed to ``operator``."""

    def crashed(self, node: int) -> bool:
        """Whether ``node`` went down while the last action's effects were performed."""

    def promotion_disabled(self, node: int) -> bool:
        """Whether the durable promotion-disabled switch of ``node`` or of the cluster is set."""

    def set_promotion_disabled(
        self, node: int | None, disabled: bool, operator: str, reason: str | None
    ) -> None:
        """Set or clear the switch of ``node`` (None: the cluster's), durably, and record it."""


_LOCKS: weakref.WeakKeyDictionary[object, threading.RLock] = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def lock_for(driver: object) -> threading.RLock:
    """The one lock of ``driver``, shared by every controller over it (single_controller).

    A driver may take it too, so that steps it is asked for directly (a write,
    a crash) never interleave with a controller's.
    """
    with _LOCKS_GUARD:
        lock = _LOCKS.get(driver)
        if lock is None:
            lock = _LOCKS[driver] = threading.RLock()
        return lock


class Controller:
    """Serialises promotion attempts over one cluster and drives each to its end.

    ``drop_assumptions`` names spec assumptions the controller stops enforcing,
    for demonstrations only (see :data:`DROPPABLE_ASSUMPTIONS`).
    """

    def __init__(self, driver: Driver, *, drop_assumptions: AbstractSet[str] = frozenset()) -> None:
        unknown = sorted(set(drop_assumptions) - set(DROPPABLE_ASSUMPTIONS))
        if unknown:
            raise ValueError(
                f"cannot drop assumption(s) {', '.join(unknown)}: only "
                f"{', '.join(DROPPABLE_ASSUMPTIONS)} can be dropped (the runtime enforces or "
                "cannot observe the others)"
            )
        self.driver = driver
        self.drop_assumptions = frozenset(drop_assumptions)
        self._lock = lock_for(driver)

    def index_of(self, name: str) -> int:
        names = tuple(self.driver.names)
        if name not in names:
            raise UnknownNode(name, names)
        return names.index(name)

    @contextmanager
    def _operator_action(self, entry: OperatorAction) -> Iterator[list[OperatorAction]]:
        """Serialise the action, attribute what it records, audit how it ended.

        The body may replace the entry (e.g. to name a dropped assumption) by
        appending to the yielded list; a ProtocolError marks it refused.
        """
        with self._lock, self.driver.acting_for(entry.operator):
            final = [entry]
            try:
                yield final
            except ProtocolError as exc:
                self.driver.audit(_ended(final[-1], "refused", exc))
                raise
            except Exception as exc:  # a disk fault, a bug: still on the record
                self.driver.audit(_ended(final[-1], "failed", exc))
                raise
            self.driver.audit(final[-1])

    def request_promotion(self, req: PromotionRequest) -> AttemptResult:
        """Run one attempt for ``req``; raise a ProtocolError if it is refused.

        Refusals change nothing in the cluster. Approval is followed at once by
        the transition; the marker is durable before the node is writable.
        """
        entry = OperatorAction(
            "request", req.operator, req.candidate, "accepted", req.force, req.reason
        )
        with self._operator_action(entry) as final:
            c = self.index_of(req.candidate)  # an unknown node: refused, audited, no attempt
            # What the runtime observes, read once: the record and the attempt both use it.
            writers = self._contradicting_writers(req, c)
            concurrent = self._concurrent(c)
            dropped = self._relied_on_dropped(writers, concurrent)
            if dropped:
                final.append(replace(entry, dropped_assumptions=dropped))
            # Recorded (and, if forced, audited) first: the record exists even if the
            # request is then refused (P6-A1a, P6-O1).
            self.driver.note_request(req, c, dropped)
            return self._attempt(req, c, writers, concurrent)

    def _attempt(
        self, req: PromotionRequest, c: int, writers: tuple[int, ...], concurrent: bool
    ) -> AttemptResult:
        try:
            if writers and "force_is_truthful" not in self.drop_assumptions:
                names = tuple(self.driver.names[j] for j in writers)
                raise ForceContradicted(req.candidate, names)
            self.driver.apply(core.Request(c, req.force, concurrent))
        except DuplicateRequest as exc:
            # The core names nodes by index; the operator knows them by name.
            named = DuplicateRequest(
                req.candidate, self.driver.names[int(exc.in_progress)], exc.state
            )
            self.driver.note_rejection(req, c, named)
            raise named from None
        except ProtocolError as exc:
            self.driver.note_rejection(req, c, exc)
            raise
        problem = self._ill_formed(req)
        if problem is not None:
            # Recorded as an attempt, then turned away by the lifecycle's own event.
            self.driver.apply(core.Reject(c))
            raise InapplicableRequest(f"promotion request for {req.candidate!r}: {problem}")
        self.driver.apply(core.BeginValidation(c))
        obs = core.Observation(
            primary_uncertain=req.primary_uncertain,
            mvcc=req.mvcc,
            # The durable switch, read now: a disabled candidate is denied (Disabled role).
            candidate_disabled=self.driver.promotion_disabled(c),
        )
        effects = self.driver.apply(core.Decide(c, obs))
        # Exactly one validation result per decision (P6-O1); unpacking checks it.
        (verdict,) = [
            e.data["verdict"]
            for e in effects
            if isinstance(e, core.Emit) and e.kind == "validation"
        ]
        if not verdict.allowed:
            return AttemptResult(req.candidate, self.driver.state.nodes[c].lifecycle, verdict)
        return self._transition(req.candidate, c, verdict, req.pause_after)

    def _contradicting_writers(self, req: PromotionRequest, c: int) -> tuple[int, ...]:
        """Nodes the runtime sees admitting writes that a forced, uncertain request denies.

        The spec's own environment predicate decides (core.environment_allows on
        the decision this request would lead to), not a second copy of it here.
        """
        state = self.driver.state
        request = core.Request(c, req.force)
        if core.refusal(state, request) is not None:
            return ()  # the core refuses the request itself, with its own reason
        requested, _ = core.step(state, request)
        decision = core.Decide(c, core.Observation(primary_uncertain=req.primary_uncertain))
        if core.environment_allows(requested, decision):
            return ()
        return tuple(j for j in state.writable_nodes() if j != c)

    def _concurrent(self, c: int) -> bool:
        """Whether this request starts beside another node's attempt in flight, which
        only a dropped single_controller allows (the core's Request.concurrent)."""
        if "single_controller" not in self.drop_assumptions:
            return False
        return any(
            j != c and node.lifecycle != lifecycle.RECOVERY_STATE
            for j, node in enumerate(self.driver.state.nodes)
        )

    def _relied_on_dropped(self, writers: tuple[int, ...], concurrent: bool) -> tuple[str, ...]:
        """The dropped assumptions this request relies on: a force the runtime's view of
        writers contradicts, a start beside another attempt (``_concurrent`` is already
        False unless single_controller is dropped)."""
        relied: list[str] = []
        if "force_is_truthful" in self.drop_assumptions and writers:
            relied.append("force_is_truthful")
        if concurrent:
            relied.append("single_controller")
        return tuple(relied)

    def _transition(
        self, name: str, c: int, verdict: Verdict | None, pause_after: str | None = None
    ) -> AttemptResult:
        """Run the rest of an approved attempt: begin_transition, the marker's file
        operations not done yet, complete -- holding after ``pause_after`` if given."""
        node = self.driver.state.nodes[c]
        stage = node.volatile.marker_stage if node.volatile is not None else 0
        steps: list[tuple[str, core.Action]] = []
        if node.lifecycle == "PromotionApproved":
            if pause_after == "approve":
                return AttemptResult(name, node.lifecycle, verdict, paused=True)
            steps.append(("begin_transition", core.BeginTransition(c)))
        steps += [(op, core.MarkerOp(c, op)) for op in core.MARKER_OPS[stage:]]
        steps.append(("complete", core.Complete(c)))
        for label, action in steps:
            self.driver.apply(action)
            if self.driver.crashed(c):
                # The candidate died mid-transition: the attempt is gone. The durable
                # marker alone decides the authority (P6-F2); nothing retries (P6-F3).
                return AttemptResult(name, "Steady", verdict, interrupted=name)
            if label == pause_after:
                state = self.driver.state.nodes[c].lifecycle
                return AttemptResult(name, state, verdict, paused=True)
        return AttemptResult(name, self.driver.state.nodes[c].lifecycle, verdict)

    @staticmethod
    def _ill_formed(req: PromotionRequest) -> str | None:
        if not _has_identity(req.operator):
            return "no operator identity given"
        if req.reason is not None and not isinstance(req.reason, str):
            return "the reason must be text"
        if req.pause_after is not None and req.pause_after not in PAUSE_POINTS:
            return f"pause_after must be one of {', '.join(PAUSE_POINTS)}"
        return None

    def acknowledge(self, candidate: str, *, operator: str) -> None:
        """The operator acknowledges the attempt's outcome; its state returns to Steady."""
        entry = OperatorAction("acknowledge", operator, candidate, "accepted")
        with self._operator_action(entry):
            _require_identity("acknowledge", operator)
            self.driver.apply(core.Acknowledge(self.index_of(candidate)))

    def continue_attempt(
        self, candidate: str, *, operator: str, pause_after: str | None = None
    ) -> AttemptResult:
        """Carry a held attempt on from where it stopped (no new validation: the same
        attempt, approved once). Refused unless ``candidate``'s attempt is approved or
        transitioning."""
        entry = OperatorAction("continue", operator, candidate, "accepted")
        with self._operator_action(entry):
            _require_identity("continue", operator)
            c = self.index_of(candidate)
            node = self.driver.state.nodes[c]
            if node.lifecycle not in ("PromotionApproved", "AuthorityTransitioning"):
                raise ActionNotEnabled(
                    f"continue({candidate})",
                    f"{candidate} has no held attempt ({node.lifecycle})",
                )
            return self._transition(candidate, c, None, pause_after)

    def abort_attempt(self, candidate: str, *, operator: str) -> None:
        """Cancel ``candidate``'s approved or transitioning attempt before its marker
        rename: it is forgotten as a crash would forget it, the marker is untouched.
        Refused with AbortAfterRename once the rename happened (P6-F2, P6-A3)."""
        entry = OperatorAction("abort", operator, candidate, "accepted")
        with self._operator_action(entry):
            _require_identity("abort", operator)
            self.driver.apply(core.Abort(self.index_of(candidate)))

    def disable_promotion(
        self, node: str | None, *, operator: str, reason: str | None = None
    ) -> None:
        """Set the durable promotion-disabled switch of ``node`` (None: the whole
        cluster). Every later validation of an affected candidate sees the role
        Disabled and denies (candidate_disabled); an attempt already approved is
        not touched (abort it). Survives restarts; audited."""
        self._switch("disable", node, True, operator, reason)

    def enable_promotion(
        self, node: str | None, *, operator: str, reason: str | None = None
    ) -> None:
        """Clear the switch of ``node`` (None: the cluster's); audited."""
        self._switch("enable", node, False, operator, reason)

    def _switch(
        self, action: str, node: str | None, disabled: bool, operator: str, reason: str | None
    ) -> None:
        entry = OperatorAction(action, operator, node or "cluster", "accepted", reason=reason)
        with self._operator_action(entry):
            _require_identity(action, operator)
            index = None if node is None else self.index_of(node)
            self.driver.set_promotion_disabled(index, disabled, operator, reason)

    def reinstate(self, node: str, *, operator: str) -> None:
        """Let a fenced primary admit writes again (only when the core's gate holds)."""
        entry = OperatorAction("reinstate", operator, node, "accepted")
        with self._operator_action(entry):
            _require_identity("reinstate", operator)
            self.driver.apply(core.Reinstate(self.index_of(node)))


def _has_identity(operator: object) -> bool:
    return isinstance(operator, str) and bool(operator.strip())


def _require_identity(action: str, operator: str) -> None:
    if not _has_identity(operator):
        raise InapplicableRequest(f"{action} refused: no operator identity given")


def _ended(entry: OperatorAction, outcome: str, error: Exception) -> OperatorAction:
    return replace(entry, outcome=outcome, detail=f"{type(error).__name__}: {error}")


class CoreDriver:
    """A driver over the bare pure core: no disk, effects collected in ``log``.

    For tests, the explorer and the simulation: the same controller logic,
    with the core's state as the whole world.
    """

    def __init__(self, state: core.ClusterState) -> None:
        self._state = state
        self.log: list[core.Effect] = []
        self.requests: list[PromotionRequest] = []
        self.audits: list[PromotionRequest] = []
        self.rejections: list[tuple[PromotionRequest, Exception]] = []
        self.audit_log: list[OperatorAction] = []
        self.disabled: set[int | None] = set()  # promotion-disabled switches (None: cluster)

    @property
    def state(self) -> core.ClusterState:
        return self._state

    @property
    def names(self) -> Sequence[str]:
        return tuple(f"n{i}" for i in range(self._state.n))

    def apply(self, action: core.Action) -> tuple[core.Effect, ...]:
        self._state, effects = core.step(self._state, action)
        self.log.extend(effects)
        return effects

    def note_request(
        self, request: PromotionRequest, candidate: int, dropped: tuple[str, ...] = ()
    ) -> None:
        self.requests.append(request)
        if request.force:
            self.audits.append(request)

    def note_rejection(self, request: PromotionRequest, candidate: int, error: Exception) -> None:
        self.rejections.append((request, error))

    def audit(self, entry: OperatorAction) -> None:
        self.audit_log.append(entry)

    @contextmanager
    def acting_for(self, operator: str) -> Iterator[None]:
        yield

    def crashed(self, node: int) -> bool:
        return not self._state.nodes[node].up

    def promotion_disabled(self, node: int) -> bool:
        return node in self.disabled or None in self.disabled

    def set_promotion_disabled(
        self, node: int | None, disabled: bool, operator: str, reason: str | None
    ) -> None:
        if disabled:
            self.disabled.add(node)
        else:
            self.disabled.discard(node)
