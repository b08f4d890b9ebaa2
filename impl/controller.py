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
  attempt in flight is not disturbed -- serialised attempts);
* a request for a node that is down (InapplicableRequest).

It never retries on its own (P6-F3): a denied attempt stays denied until the
operator acknowledges it and makes a new request; an attempt interrupted by a
crash is gone (recovery re-enters Steady) and nothing restarts it. Every
forced request is audited (P6-A1a) before anything else happens.

The controller only decides which core action comes next; performing them
(disk, events) is the :class:`Driver`'s job, so it can run over real
directories (:mod:`baton.cluster`) or over the bare core in tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from baton import core
from baton.errors import DuplicateRequest, InapplicableRequest, ProtocolError, UnknownNode
from baton.validator import Verdict


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


class Driver(Protocol):
    """What the controller needs from a cluster: its state, names, and a way to act."""

    @property
    def state(self) -> core.ClusterState: ...

    @property
    def names(self) -> Sequence[str]: ...

    def apply(self, action: core.Action) -> tuple[core.Effect, ...]:
        """Step the core and perform the effects; raise ProtocolError if refused."""

    def note_request(self, request: PromotionRequest, candidate: int) -> None:
        """Record the request's arrival (start event); audit it if forced (P6-A1a)."""

    def note_rejection(self, request: PromotionRequest, candidate: int, error: Exception) -> None:
        """Record that a request was refused before entering the lifecycle."""

    def crashed(self, node: int) -> bool:
        """Whether ``node`` went down while the last action's effects were performed."""


class Controller:
    """Serialises promotion attempts over one cluster and drives each to its end."""

    def __init__(self, driver: Driver) -> None:
        self.driver = driver

    def index_of(self, name: str) -> int:
        names = tuple(self.driver.names)
        if name not in names:
            raise UnknownNode(name, names)
        return names.index(name)

    def request_promotion(self, req: PromotionRequest) -> AttemptResult:
        """Run one attempt for ``req``; raise a ProtocolError if it is refused.

        Refusals change nothing in the cluster. Approval is followed at once by
        the transition; the marker is durable before the node is writable.
        """
        c = self.index_of(req.candidate)  # an unknown node is no request at all
        # Recorded (and, if forced, audited) first: the record exists even if the
        # request is then refused (P6-A1a, P6-O1).
        self.driver.note_request(req, c)
        try:
            self.driver.apply(core.Request(c, req.force))
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
        obs = core.Observation(primary_uncertain=req.primary_uncertain, mvcc=req.mvcc)
        effects = self.driver.apply(core.Decide(c, obs))
        # Exactly one validation result per decision (P6-O1); unpacking checks it.
        (verdict,) = [
            e.data["verdict"]
            for e in effects
            if isinstance(e, core.Emit) and e.kind == "validation"
        ]
        if not verdict.allowed:
            return AttemptResult(req.candidate, self.driver.state.nodes[c].lifecycle, verdict)
        return self._transition(req.candidate, c, verdict)

    def _transition(self, name: str, c: int, verdict: Verdict) -> AttemptResult:
        steps: list[core.Action] = [core.BeginTransition(c)]
        steps += [core.MarkerOp(c, op) for op in core.MARKER_OPS]
        steps.append(core.Complete(c))
        for action in steps:
            self.driver.apply(action)
            if self.driver.crashed(c):
                # The candidate died mid-transition: the attempt is gone. The durable
                # marker alone decides the authority (P6-F2); nothing retries (P6-F3).
                return AttemptResult(name, "Steady", verdict, interrupted=name)
        return AttemptResult(name, self.driver.state.nodes[c].lifecycle, verdict)

    @staticmethod
    def _ill_formed(req: PromotionRequest) -> str | None:
        if not req.operator or not req.operator.strip():
            return "no operator identity given"
        if req.reason is not None and not isinstance(req.reason, str):
            return "the reason must be text"
        return None

    def acknowledge(self, candidate: str) -> None:
        """The operator acknowledges the attempt's outcome; its state returns to Steady."""
        self.driver.apply(core.Acknowledge(self.index_of(candidate)))

    def reinstate(self, node: str) -> None:
        """Let a fenced primary admit writes again (only when the core's gate holds)."""
        self.driver.apply(core.Reinstate(self.index_of(node)))


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

    def note_request(self, request: PromotionRequest, candidate: int) -> None:
        self.requests.append(request)
        if request.force:
            self.audits.append(request)

    def note_rejection(self, request: PromotionRequest, candidate: int, error: Exception) -> None:
        self.rejections.append((request, error))

    def crashed(self, node: int) -> bool:
        return not self._state.nodes[node].up
