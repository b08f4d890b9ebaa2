"""Observability: turn the core's effects into trace events and operator lines.

Every lifecycle transition the core makes is an ``Emit`` effect; this module
writes each one as an event of the oracle's trace format v1
(:mod:`baton.trace`, built only with its typed builders) and as a line for
the operator: the state entered, the reason, the invariant IDs, the
explanation (P6-O1, P6-O2). Requests get an attempt ID when they arrive;
every event of the attempt carries it.

Operator actions are audited: every request, acknowledgement and
reinstatement, accepted or refused, is kept in :attr:`Recorder.audit_log`
(and in the trace: events recorded while an operator acts carry
``meta.operator``; the full audit log is the ``end`` line's ``meta.audit``).
Text an operator supplies (a reason, a name) is escaped in every line meant
for people (:func:`escape_text`), so a newline cannot forge an output line.

Observability never influences a decision: the recorder only reads effects
the core already returned, and nothing in :mod:`baton.core` or
:mod:`baton.controller` reads anything back from it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import IO, TYPE_CHECKING, Any

from baton import core, trace
from baton.validator import Allowed, ValidationContext, Verdict, ack_position

if TYPE_CHECKING:
    from baton.controller import OperatorAction

PRODUCER = "baton run (reference runtime)"


def _silent(line: str) -> None:
    """The default ``say``: nobody reads operator lines (see :meth:`Recorder.record`)."""


def escape_text(text: object) -> str:
    """Operator-supplied text made safe for one output line.

    Every character that is not printable (newline, carriage return, escape
    sequences, Unicode line separators) is shown as its backslash escape, so
    the text cannot end the line it is printed on or forge another.
    """
    return "".join(
        ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in str(text)
    )


def context_object(ctx: ValidationContext) -> dict[str, Any]:
    """The trace's validation context (spec vocabulary, positions abstracted)."""
    return trace.context(
        role=ctx.role,
        halt_reason=ctx.halt_reason or "none",
        primary_status=ctx.primary_status,
        force=ctx.force,
        position=ack_position(ctx.wal_end, ctx.ack_bound),
        prefix=ctx.prefix,
        mvcc=ctx.mvcc,
    )


def verdict_invariants(verdict: Verdict) -> tuple[str, ...]:
    return verdict.invariants if isinstance(verdict, Allowed) else (verdict.invariant,)


class ContinuedTrace:
    """Appends events to a trace a dead run left, carrying on its ``seq`` numbering."""

    def __init__(self, stream: IO[str], next_seq: int) -> None:
        self._stream = stream
        self._seq = next_seq

    @property
    def count(self) -> int:
        """Lines in the trace so far (header included)."""
        return self._seq

    def emit(self, event: dict[str, Any]) -> dict[str, Any]:
        numbered = dict(event)
        numbered["seq"] = self._seq
        self._seq += 1
        self._stream.write(trace.encode(numbered) + "\n")
        self._stream.flush()
        return numbered


class Recorder:
    """Writes trace events (optional) and operator lines for one cluster run."""

    def __init__(
        self,
        names: Sequence[str],
        mode: str,
        initial_primary: str,
        stream: IO[str] | None = None,
        say: Callable[[str], None] | None = None,
        continuation: tuple[int, int] | None = None,
    ) -> None:
        """``continuation``: (next seq, attempts so far) to continue a dead run's trace
        in ``stream`` (no header; seq and attempt IDs carry on)."""
        self.names = tuple(names)
        self.writer: trace.TraceWriter | ContinuedTrace | None = None
        if stream is not None and continuation is not None:
            self.writer = ContinuedTrace(stream, continuation[0])
        elif stream is not None:
            self.writer = trace.TraceWriter(
                stream, names, mode, initial_primary, producer=PRODUCER, flush_each=True
            )
        self._stream = stream
        self.say = say or _silent
        self._attempts = continuation[1] if continuation is not None else 0
        self._pending: dict[int, str] = {}  # candidate -> attempt id of the request arriving
        self._current: dict[int, str] = {}  # candidate -> attempt id in the lifecycle
        self._events: list[dict[str, Any]] = []
        # Effects recorded while no one reads the trace as it happens (no writer, no
        # operator lines): turned into events, in order and by the same code, when the
        # events are first read -- not on a step's path.
        self._deferred: list[tuple[Sequence[core.Effect], str | None]] = []
        self.audit_log: list[dict[str, Any]] = []
        # The operator whose action is being performed (set by the cluster while the
        # controller acts): the events it causes carry meta.operator.
        self.operator: str | None = None
        self._closed = False

    # --- writing ---

    @property
    def events(self) -> list[dict[str, Any]]:
        """Every trace event so far, in order (the list itself: a reader may clear it)."""
        self._catch_up()
        return self._events

    def _catch_up(self) -> None:
        """Turn deferred effects into events, each under the operator it was recorded with."""
        if not self._deferred:
            return
        deferred, self._deferred = self._deferred, []
        acting = self.operator
        try:
            for effects, operator in deferred:
                self.operator = operator
                self._record_now(effects)
        finally:
            self.operator = acting

    def _emit(self, event: dict[str, Any]) -> None:
        # Deferred effects come first, whichever method emits now. (A method that also
        # changes the attempt bookkeeping catches up before it does, as request_arrived.)
        self._catch_up()
        if self.operator is not None:
            event["meta"] = {**event.get("meta", {}), "operator": self.operator}
        self._events.append(event)
        if self.writer is not None:
            self.writer.emit(event)

    def close(self) -> None:
        """Finish the trace: the ``end`` line carries the whole audit log in its meta."""
        if self._closed:
            return
        self._catch_up()
        self._closed = True
        if self.writer is not None:
            end = trace.end(self.writer.count)
            if self.audit_log:
                end["meta"] = {"audit": self.audit_log}
            self.writer.emit(end)
        if self._stream is not None:
            self._stream.flush()

    # --- the audit log ---

    def audit(self, entry: OperatorAction) -> None:
        """Keep one operator action; say refused ones and dropped assumptions."""
        self._catch_up()
        record = {k: v for k, v in dataclasses.asdict(entry).items() if v not in (None, ())}
        self.audit_log.append(record)
        if entry.outcome != "accepted":
            self.say(
                escape_text(
                    f"AUDIT {entry.outcome} {entry.action} of {entry.target!r} by "
                    f"{entry.operator!r}: {entry.detail}"
                )
            )

    # --- a run resumed from its directories ---

    def resumed(
        self,
        catch_up: Sequence[dict[str, Any]],
        crashed: Sequence[str],
        restarted: Sequence[tuple[str, str, int]],
        refused: Sequence[tuple[str, str]],
    ) -> None:
        """The prologue of a resumed run: the interrupted step's events the disk shows,
        then every node the dead run had up crashes, and every node restarts from disk."""
        self._catch_up()
        for event in catch_up:
            self._emit(event)
            self.say(f"resume: the disk shows what the trace missed: {event['kind']} {event}")
        for name in crashed:
            self._emit(trace.crash(name))
            self.say(f"{name} CRASHED (the whole process died)")
        for name, role, epoch in restarted:
            self._emit(trace.restart(name, role, epoch))
            self.say(
                f"{name} restarted from disk: {role} at epoch {epoch} (fenced: admits no "
                "writes until reinstated)"
            )
        for name, why in refused:
            self.say(escape_text(f"{name} refuses to start: {why}"))

    # --- requests (before the core sees them) ---

    def request_arrived(
        self,
        candidate: int,
        force: bool,
        operator: str,
        reason: str | None,
        dropped: Sequence[str] = (),
    ) -> str:
        """A request's start event (P6-O1); forced requests are audited (P6-A1a).

        ``dropped`` names assumptions this request relies on being dropped (a
        demonstration): the event's ``meta.dropped_assumptions`` records them.
        """
        self._catch_up()
        self._attempts += 1
        attempt = f"a{self._attempts}"
        self._pending[candidate] = attempt
        event = trace.request(self.names[candidate], attempt, force, operator or None, reason)
        meta: dict[str, Any] = {}
        if force:
            meta["audit"] = {"operator": operator, "reason": reason, "force": True}
            self.say(
                escape_text(
                    f"AUDIT forced promotion request for {self.names[candidate]} by "
                    f"{operator!r} (reason: {reason or 'none given'}) [P6-A1a]"
                )
            )
        if dropped:
            meta["dropped_assumptions"] = list(dropped)
            self.say(
                f"ASSUMPTION DROPPED for this request: {', '.join(dropped)} -- the spec's "
                "guarantees that rest on it no longer hold"
            )
        if meta:
            event["meta"] = meta
        self._emit(event)
        return attempt

    def request_refused(self, candidate: int, reason: str, message: str) -> None:
        self._catch_up()
        attempt = self._pending.pop(candidate, f"a{self._attempts}")
        self._emit(trace.reject(self.names[candidate], attempt, reason))
        self.say(escape_text(f"refused: {message}"))

    # --- the promotion-disabled switches ---

    def switch_changed(
        self, node: str | None, disabled: bool, operator: str, reason: str | None
    ) -> None:
        """A durable switch was written (audited by the controller with its operator)."""
        self._emit(trace.disable(node, disabled, operator or None, reason))
        what = "DISABLED" if disabled else "enabled again"
        scope = node if node is not None else "every node (cluster-wide)"
        effect = " -- its validations see the role Disabled and deny" if disabled else ""
        self.say(
            escape_text(
                f"promotion {what} for {scope} by {operator!r} (reason: {reason or 'none given'})"
                f"{effect}"
            )
        )

    # --- effects of a core step ---

    def record(self, effects: Sequence[core.Effect]) -> None:
        """Turn a step's effects into events and lines (later, if no one reads them now)."""
        if self.writer is None and self.say is _silent:
            self._deferred.append((effects, self.operator))
            return
        self._catch_up()
        self._record_now(effects)

    def _record_now(self, effects: Sequence[core.Effect]) -> None:
        for effect in effects:
            if isinstance(effect, core.Emit):
                self._observe(effect)
            elif isinstance(effect, core.PersistMarker):
                role = effect.role
                node = self.names[effect.node]
                if role == "Halted":
                    continue  # written as a 'halt' event by the Emit that follows
                self._emit(trace.marker(node, role, effect.epoch))
                self.say(f"  marker of {node} durable: {role} at epoch {effect.epoch}")

    def _attempt(self, c: int) -> str:
        return self._current.get(c) or self._pending.get(c) or f"a{self._attempts}"

    def _observe(self, e: core.Emit) -> None:
        d = e.data
        n = self.names
        if e.kind == "transition":
            self._transition(d)
        elif e.kind == "validation":
            c = d["node"]
            ctx: ValidationContext = d["context"]
            verdict: Verdict = d["verdict"]
            self._emit(
                trace.validation(
                    n[c],
                    self._attempt(c),
                    context_object(ctx),
                    verdict.reason,
                    verdict_invariants(verdict),
                    verdict.explanation,
                    wal_end=ctx.wal_end,
                    ack_bound=ctx.ack_bound,
                    bound_recorded=True,
                )
            )
            self.say(
                f"validation of {n[c]}: end={ctx.wal_end} bound={ctx.ack_bound} "
                f"primary={ctx.primary_status} force={ctx.force} prefix={ctx.prefix} "
                f"mvcc={ctx.mvcc} -> {verdict.reason}"
            )
        elif e.kind == "marker":
            c = d["node"]
            self.say(f"  marker of {n[c]}: {d['op']} (epoch {d['epoch']})")
            if d["op"] == core.MARKER_OPS[-1]:
                self._emit(trace.marker(n[c], "Primary", d["epoch"]))
                self.say(f"  marker of {n[c]} durable: Primary at epoch {d['epoch']} [P6-F2]")
        elif e.kind == "write":
            epoch, lsn = d["entry"]
            self._emit(trace.write(n[d["node"]], lsn=lsn, epoch=epoch))
            self.say(f"write on {n[d['node']]}: lsn {lsn} (epoch {epoch}) durable")
        elif e.kind == "ack":
            self._emit(trace.ack(n[d["node"]], lsn=d["upto"], epoch=d["epoch"]))
            self.say(f"ack on {n[d['node']]}: every write up to lsn {d['upto']} acknowledged")
        elif e.kind == "replicate":
            epoch, lsn = d["entry"]
            self._emit(
                trace.replicate(n[d["from"]], n[d["to"]], lsn, epoch, sender_epoch=d["epoch"])
            )
            self.say(f"replicate {n[d['from']]} -> {n[d['to']]}: lsn {lsn}")
        elif e.kind == "halt":
            self._emit(trace.halt(n[d["node"]], d["reason"]))
            self.say(
                f"{n[d['node']]} HALTED: {d['reason']} -- {d['explanation']} [{d['invariant']}]"
            )
        elif e.kind == "crash":
            c = d["node"]
            self._current.pop(c, None)
            self._pending.pop(c, None)
            self._emit(trace.crash(n[c]))
            lost = f", attempt in {d['lifecycle']} forgotten" if d["lifecycle"] != "Steady" else ""
            self.say(f"{n[c]} CRASHED{lost}")
        elif e.kind == "restart":
            role = "Halted" if d["role"] == "Halted" else d["role"]
            self._emit(trace.restart(n[d["node"]], role, d["epoch"]))
            fenced = " (fenced: admits no writes until reinstated)" if d["fenced"] else ""
            self.say(f"{n[d['node']]} restarted from disk: {role} at epoch {d['epoch']}{fenced}")
        elif e.kind == "reinstate":
            self._emit(trace.reinstate(n[d["node"]], d["epoch"]))
            self.say(f"{n[d['node']]} reinstated at epoch {d['epoch']}: admits writes [P6-A3]")
        elif e.kind == "demote":
            self._emit(trace.demote(n[d["node"]], d["epoch"]))
            self.say(
                f"{n[d['node']]} saw epoch {d['seen_epoch']} > its {d['epoch']}: "
                f"rejoins as a replica [P6-A3]"
            )
        elif e.kind == "abort":
            c = d["node"]
            attempt = self._attempt(c)
            self._current.pop(c, None)
            self._emit(trace.abort(n[c], attempt, d["lifecycle"], d["marker_stage"], self.operator))
            self.say(
                f"{n[c]}: attempt {attempt} ABORTED by {self.operator or 'the operator'} in "
                f"{d['lifecycle']} after {d['marker_stage']} marker operation(s), before the "
                f"rename: forgotten, the marker still says epoch {d['epoch']} [P6-F2]"
            )
        elif e.kind == "designate":
            self._emit(trace.designate(n[d["primary"]], n[d["standby"]]))
            self.say(f"{n[d['primary']]} designates {n[d['standby']]} as sync standby")

    def _transition(self, d: Any) -> None:
        c = d["node"]
        if d["event"] == "request":
            self._current[c] = self._pending.pop(c, f"a{self._attempts}")
        attempt = self._attempt(c)
        verdict: Verdict | None = d.get("verdict")
        epoch = d.get("grant", d.get("epoch"))
        event = trace.transition(
            self.names[c],
            attempt,
            d["from"],
            d["event"],
            d["to"],
            reason=verdict.reason if verdict is not None else None,
            invariants=verdict_invariants(verdict) if verdict is not None else None,
            explanation=verdict.explanation if verdict is not None else None,
            epoch=epoch if d["event"] in ("begin_transition", "complete") else None,
        )
        self._emit(event)
        line = f"{self.names[c]}: {d['from']} --{d['event']}--> {d['to']}"
        if verdict is not None:
            line += f"  [{', '.join(verdict_invariants(verdict))}] {verdict.explanation}"
        if d["event"] == "begin_transition":
            line += f"  (granting epoch {d['grant']} = highest known + 1) [P6-A3]"
        elif d["event"] == "complete":
            line += f"  marker durable at epoch {d['epoch']}, now writable [P6-A2, P6-F2]"
        elif d["event"] == "request":
            line += "  (the only way an attempt starts) [P6-F3]"
        self.say(line)
        if d["to"] == "Steady":
            self._current.pop(c, None)
