"""The conformance oracle: does a recorded run obey the spec? (``baton check``)

The checker reads a trace (:mod:`baton.trace`) as a stream and keeps only a
per-node summary -- up, writable, marker role and epoch, lifecycle state and
attempt, the WAL as *epoch runs* -- plus the acknowledged history, also as
epoch runs. A WAL's entry epochs never decrease along it, so a run list grows
only when a new epoch starts writing: memory is constant in the number of
writes, acks and replications, and grows only with the number of nodes and
epochs (promotions). No history of events is kept.

Decisions come from the spec, but never through a per-event solver call: the
lifecycle table is :mod:`baton._table` (generated from the Z3 relation by
``baton generate``; CI fails on drift) and the validation decision for a
context is evaluated by Z3 once per *distinct* context (at most 1512, the
whole domain) and memoised. The tests cross-check both against Z3 on the
whole domain.

Every rule is in :data:`RULES` with the invariant it enforces; each check
below cites the invariant ID. The verdict format is :mod:`baton.verdict`.

Demonstrations. A request event whose ``meta.dropped_assumptions`` names spec
assumptions (:data:`baton.spec.cluster.ASSUMPTIONS`) declares that the run
relied on them being false from then on. The trace is judged in full as any
other; a later violation of a property that a declared assumption guards
(``Assumption.guards``) is *excused* -- reported, not failing -- when the caller
allowed that assumption (``allowed_dropped``, ``baton check --allow-dropped``).
A declared assumption the caller did not allow fails the check. Rules marked
not excusable (the authority-ambiguity halt, the defence that must work exactly
when ``single_controller`` is dropped) and consistency checks (events from a
node that is down) are never excused. Excused violations do not stop the check;
the first :data:`MAX_EXCUSED_LISTED` are kept in full and the rest only counted,
so memory stays bounded on a long demonstration.
"""

from __future__ import annotations

import io
import json
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import IO, Any

from baton import _table, trace, vocabulary
from baton.errors import InputError
from baton.verdict import (
    DroppedAssumption,
    Excused,
    InputProblem,
    Verdict,
    Violation,
    make_violation,
)
from msgspec import UNSET

# --- rules -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """One oracle rule: the invariant it enforces and the families it needs."""

    name: str
    invariant: str
    needs: tuple[str, ...]
    description: str
    # Whether a declared, allowed dropped assumption that guards ``invariant`` may
    # excuse a violation of this rule (see the module docstring).
    excusable: bool = True


RULES: tuple[Rule, ...] = (
    Rule(
        "lifecycle_table",
        "P6-D2",
        ("lifecycle",),
        "every transition is in the spec's lifecycle table and starts from the state the "
        "previous one left (a forbidden step onto the authority path is reported as P6-F1, "
        "a timeout/retry step as P6-F3)",
    ),
    Rule(
        "no_implicit_retry",
        "P6-F3",
        ("lifecycle",),
        "nothing re-enters or continues an attempt without its own explicit request: no "
        "timeout/retry events, no reuse of a finished attempt, no validation twice per request, "
        "no attempt carried across a crash",
    ),
    Rule(
        "attempt_observable",
        "P6-O1",
        ("lifecycle", "validation"),
        "every attempt has its start (request line), its validation result and its decision; "
        "a trace ending before a requested attempt is decided fails",
    ),
    Rule(
        "decision_explained",
        "P6-O2",
        ("lifecycle", "validation"),
        "every decision (validation line, approve/deny transition) names its reason, the "
        "invariant of that reason and an explanation",
    ),
    Rule(
        "validation_decision",
        "P6-D1",
        ("validation",),
        "the recorded decision equals the spec's decision for the recorded context (allowing "
        "what the spec denies is P6-F1), positions agree with wal_end/ack_bound, and "
        "approve/deny follows the validation result",
    ),
    Rule(
        "force_bounded",
        "P6-A1a",
        ("lifecycle", "validation"),
        "force comes only from the operator's request, and every forced request names its "
        "operator (audited)",
    ),
    Rule(
        "validation_context",
        "P6-F1",
        ("lifecycle", "validation", "data", "durability", "authority"),
        "the recorded context describes the cluster the trace shows: wal_end is the candidate's "
        "durable WAL end, ack_bound bounds the acknowledged writes, a candidate whose promotion "
        "is disabled (its switch or the cluster's) is Disabled, a writable one PrimaryActive, "
        "a halted one Halted, and the old primary is not 'Unavailable' while "
        "another node admits writes (a decision on false facts is not proven safe)",
    ),
    Rule(
        "single_writer",
        "P6-A1",
        ("lifecycle", "data", "durability", "authority"),
        "at most one node holds write authority; only it writes and acknowledges",
    ),
    Rule(
        "atomic_transfer",
        "P6-A2",
        ("lifecycle", "durability"),
        "a promotion completes only after its marker is durable, and the old writer no longer "
        "admits writes when it does",
    ),
    Rule(
        "epoch_fencing",
        "P6-A3",
        ("lifecycle", "data", "durability"),
        "epochs never go backwards; a promotion grants an epoch above every known one; a writer "
        "holds the highest epoch and writes in it; replicas refuse lower-epoch primaries",
    ),
    Rule(
        "acked_writes_preserved",
        "P6-S1",
        ("lifecycle", "data"),
        "acknowledged entries are durable in the acknowledging WAL and in the WAL of every node "
        "that gains write authority",
    ),
    Rule(
        "prefix_history",
        "P6-S2",
        ("data",),
        "WALs grow by appending at their end, replication copies the sender's entry onto a "
        "prefix of the sender's WAL, and the acknowledged history only extends",
    ),
    Rule(
        "authority_ambiguity",
        "P6-A1",
        ("data", "durability"),
        "a node takes entries from one primary of an epoch only: once two nodes claiming Primary "
        "have both sent it entries at the same epoch, it must halt (reason authority_ambiguity) "
        "instead of following the second; and no node gains write authority at an epoch that "
        "another running node still claims as Primary (the nodes that see both halt first). "
        "Never excused: the halt is the defence for exactly the runs that drop "
        "single_controller (its spec step property one-primary-followed holds without it)",
        excusable=False,
    ),
    Rule(
        "abort_before_rename",
        "P6-F2",
        ("lifecycle",),
        "an operator's abort cancels only the candidate's own approved or transitioning "
        "attempt, and only before the marker rename: never once the marker is renamed or "
        "durable, when only completion or crash recovery may decide the authority",
    ),
    Rule(
        "crash_recovery",
        "P6-F2",
        ("durability",),
        "a restart reads exactly the last durable marker, or -- after a crash during the marker "
        "write -- exactly the old or the new one; events come only from nodes that are up",
    ),
)
RULE_BY_NAME: dict[str, Rule] = {r.name: r for r in RULES}

# --- the fast tables (from the spec) ---------------------------------------------------------

LIFECYCLE: dict[tuple[str, str], str] = _table.TRANSITIONS
RECOVERY_STATE: str = _table.RECOVERY_STATE
AUTHORITY_PATH: frozenset[str] = frozenset(
    {"PromotionApproved", "AuthorityTransitioning", "PromotionSucceeded"}
)
REFUSED_EVENTS: frozenset[str] = frozenset({"timeout", "retry"})
IN_FLIGHT: frozenset[str] = frozenset({"PromotionApproved", "AuthorityTransitioning"})
RENAME_OPS: int = 3
"""The marker operations up to and including the rename (write_temp, fsync_temp, rename)."""

ContextKey = tuple[str, str, str, bool, str, str, str]
MAX_EXCUSED_LISTED: int = 100
"""Excused violations kept in full in a verdict; later ones are counted in a note."""


def spec_decision(point: ContextKey) -> str:
    """The spec's decision for one context point (spec values, in the spec's field order).

    Evaluated from the shipped vocabulary's ordered checks (generated from the
    spec; the tests prove it equal to the Z3 decision on every point), so
    checking a trace needs no solver."""
    return vocabulary.decide(point)


@cache
def assumption_guards() -> dict[str, tuple[str, ...]]:
    """Each spec assumption and the properties it guards (baton.spec.cluster.ASSUMPTIONS):
    what a demonstration that drops it may break. Imported on first use only (the
    spec module loads Z3), i.e. for traces that declare dropped assumptions."""
    from baton.spec.cluster import ASSUMPTIONS

    return {a.name: a.guards for a in ASSUMPTIONS}


@cache
def reason_invariant() -> dict[str, str]:
    """Each denial reason's invariant, from the spec (P6-O2)."""
    return dict(vocabulary.load()["validation"]["reasons"])


@cache
def allowed_invariants() -> frozenset[str]:
    return frozenset(vocabulary.load()["validation"]["allowed_invariants"])


def context_key(ctx: Any) -> ContextKey:
    """The spec point a recorded context is decided as ('NotApplicable' as the spec value)."""
    return (
        ctx["role"],
        ctx["halt_reason"],
        ctx["primary_status"],
        bool(ctx["force"]),
        ctx["position"],
        ctx["prefix"],
        vocabulary.spec_value("mvcc", ctx["mvcc"]),
    )


def position_of(wal_end: int, ack_bound: int | None) -> str:
    """The abstraction the spec uses: the WAL end's order relative to the bound."""
    if ack_bound is None:
        return "Unknown"
    if wal_end < ack_bound:
        return "Behind"
    return "Equal" if wal_end == ack_bound else "Ahead"


# --- WALs as epoch runs ------------------------------------------------------------------------
# A WAL's entry epochs never decrease along it, so it is stored as runs: run i
# holds the entries up to ``lasts[i]`` (after the previous run's), all written
# in ``epochs[i]``. Lookups bisect the run ends; the common prefix of every
# pair of tracked WALs is kept up to date on each append or truncation, so no
# check ever walks the runs: the cost of an event does not grow with the
# number of epochs (failovers) so far.


class EpochRuns:
    """One WAL (or the acknowledged history) as epoch runs."""

    __slots__ = ("epochs", "lasts")

    def __init__(self) -> None:
        self.epochs: list[int] = []
        self.lasts: list[int] = []

    @property
    def length(self) -> int:
        return self.lasts[-1] if self.lasts else 0

    def epoch_at(self, lsn: int) -> int | None:
        """The epoch of the entry at ``lsn`` (1-based), or None if the WAL is shorter."""
        if lsn < 1 or not self.lasts or lsn > self.lasts[-1]:
            return None
        return self.epochs[bisect_left(self.lasts, lsn)]

    def append(self, epoch: int) -> None:
        if self.epochs and self.epochs[-1] == epoch:
            self.lasts[-1] += 1
        else:
            self.epochs.append(epoch)
            self.lasts.append(self.length + 1)

    def truncate(self, n: int) -> None:
        """Keep the first ``n`` entries."""
        if n >= self.length:
            return
        if n <= 0:
            self.epochs.clear()
            self.lasts.clear()
            return
        i = bisect_left(self.lasts, n)
        del self.epochs[i + 1 :], self.lasts[i + 1 :]
        self.lasts[i] = n

    def extend_from(self, other: EpochRuns, n: int) -> None:
        """Append ``other``'s entries after this WAL's end up to ``n`` (this is a prefix of it)."""
        start = self.length + 1
        if n < start:
            return
        i = bisect_left(other.lasts, start)
        while i < len(other.lasts):
            epoch, last = other.epochs[i], min(other.lasts[i], n)
            if self.epochs and self.epochs[-1] == epoch:
                self.lasts[-1] = last
            else:
                self.epochs.append(epoch)
                self.lasts.append(last)
            if last >= n:
                break
            i += 1

    def runs(self) -> Runs:
        return [[e, last] for e, last in zip(self.epochs, self.lasts, strict=True)]

    def text(self) -> str:
        return runs_text(self.runs())


class WalSet:
    """The tracked WALs (one per node, plus the acknowledged history) and, for every
    pair, the length of their common prefix, maintained incrementally.

    The hot paths (append, become_prefix) read the run lists directly: a WAL's
    lists are only ever changed in place, never replaced."""

    def __init__(self, count: int) -> None:
        self.wals = [EpochRuns() for _ in range(count)]
        self.common = [[0] * count for _ in range(count)]
        self.lasts = [w.lasts for w in self.wals]
        self.epochs = [w.epochs for w in self.wals]
        self.others = [tuple(j for j in range(count) if j != i) for i in range(count)]

    def append(self, i: int, epoch: int) -> None:
        epochs, lasts = self.epochs[i], self.lasts[i]
        old = lasts[-1] if lasts else 0
        new = old + 1
        if epochs and epochs[-1] == epoch:
            lasts[-1] = new
        else:
            epochs.append(epoch)
            lasts.append(new)
        row = self.common[i]
        row[i] = new
        for j in self.others[i]:
            # The pair's common prefix grows only if it covered all of wal i before,
            # and only if the other WAL holds the same entry at the new position.
            if row[j] == old:
                other = self.lasts[j]
                if other and other[-1] >= new and self.epochs[j][bisect_left(other, new)] == epoch:
                    row[j] = self.common[j][i] = new

    def set_runs(self, i: int, runs: Runs) -> None:
        """WAL ``i`` holds exactly ``runs`` (a declared initial state); one walk per pair."""
        wal = self.wals[i]
        wal.truncate(0)
        for epoch, last in runs:
            if wal.epochs and wal.epochs[-1] == epoch:
                wal.lasts[-1] = last
            else:
                wal.epochs.append(epoch)
                wal.lasts.append(last)
        for j in self.others[i]:
            self.common[i][j] = self.common[j][i] = _runs_common(wal, self.wals[j])
        self.common[i][i] = wal.length

    def truncate(self, i: int, n: int) -> None:
        self.wals[i].truncate(n)
        row = self.common[i]
        for j in range(len(row)):
            if row[j] > n:
                row[j] = self.common[j][i] = n

    def become_prefix(self, i: int, src: int, n: int) -> None:
        """WAL ``i`` becomes the first ``n`` entries of WAL ``src``."""
        wal, other = self.wals[i], self.wals[src]
        common = self.common
        if common[i][src] < min(wal.length, n):
            wal.truncate(0)  # diverged: rebuild (only after a violation was reported)
        wal.truncate(n)
        wal.extend_from(other, n)
        row, src_row = common[i], common[src]
        for j in self.others[i]:
            value = src_row[j]
            if value > n:
                value = n
            row[j] = common[j][i] = value
        row[i] = row[src] = common[src][i] = n


def _runs_common(a: EpochRuns, b: EpochRuns) -> int:
    """Length of the common prefix of two WALs, by one walk over their runs."""
    i = j = pos = 0
    while i < len(a.lasts) and j < len(b.lasts):
        if a.epochs[i] != b.epochs[j]:
            return pos
        pos = min(a.lasts[i], b.lasts[j])
        if a.lasts[i] == pos:
            i += 1
        if b.lasts[j] == pos:
            j += 1
    return pos


# Plain run lists, for rendering and the tests' list model.
Runs = list[list[int]]


def runs_len(runs: Runs) -> int:
    return runs[-1][1] if runs else 0


def runs_text(runs: Runs) -> str:
    if not runs:
        return "empty"
    parts, start = [], 1
    for epoch, last in runs:
        parts.append(f"{start}..{last}@e{epoch}" if last > start else f"{last}@e{epoch}")
        start = last + 1
    return " ".join(parts)


# --- checker state ----------------------------------------------------------------------------


@dataclass(slots=True)
class NodeSummary:
    """All the oracle remembers of one node."""

    name: str
    index: int  # of its WAL in the checker's WalSet
    lasts: list[int]  # that WAL's run ends and epochs (the same lists, for the hot paths)
    epochs: list[int]
    up: bool = True
    writable: bool = False
    role: str = "Replica"
    epoch: int = 1
    lifecycle: str = RECOVERY_STATE
    attempt: str | None = None
    forced: bool = False
    validated: str | None = None  # decision of this attempt's validation, once recorded
    grant: int | None = None
    marker_durable: bool = False
    last_finished: str | None = None
    recoverable: list[tuple[str, int | None]] = field(default_factory=list)
    crash_state: str = RECOVERY_STATE
    # The Primary-marker sender this node last took entries from, and that sender's
    # epoch: a second sender claiming the same epoch is an ambiguous authority (P6-A1).
    leader: str | None = None
    leader_epoch: int | None = None

    def as_state(self, wal: EpochRuns) -> dict[str, Any]:
        return {
            "up": self.up,
            "writable": self.writable,
            "marker": {"role": self.role, "epoch": self.epoch},
            "wal": {"length": wal.length, "runs": wal.text()},
            "lifecycle": self.lifecycle,
            "attempt": self.attempt,
        }


def _ignore(event: dict[str, Any]) -> None:
    """Kinds the oracle reads past: observations from outside the nodes."""


class _Line:
    """The current line and event (the checker reads them from this or from the reader)."""

    __slots__ = ("event", "line")

    def __init__(self, line: int, event: Any) -> None:
        self.line = line
        self.event = event


class _Stop(Exception):
    """First violation found and not --all."""


class Checker:
    """Feeds on validated trace events one at a time; collects violations."""

    def __init__(
        self,
        header: dict[str, Any],
        all_violations: bool = False,
        allowed_dropped: Iterable[str] = (),
    ) -> None:
        self.all = all_violations
        # Demonstrations: the assumptions the caller allows a trace to drop, those the
        # trace declares dropped (name -> the line and seq that first did), and the
        # violations excused by a declared and allowed one.
        self.allowed_dropped: frozenset[str] = frozenset(allowed_dropped)
        self.dropped: dict[str, tuple[int, int | None]] = {}
        self.excusing: dict[str, str] = {}  # invariant -> the allowed assumption guarding it
        self.excused: list[Excused] = []
        self.excused_unlisted = 0  # beyond MAX_EXCUSED_LISTED
        self.mode: str = header["mode"]
        self.node_names: tuple[str, ...] = tuple(header["nodes"])
        # One WAL per node, then the acknowledged history.
        self.wals = WalSet(len(header["nodes"]) + 1)
        self.acked_index = len(header["nodes"])
        self.nodes: dict[str, NodeSummary] = {}
        for i, name in enumerate(header["nodes"]):
            wal = self.wals.wals[i]
            node = NodeSummary(name, i, wal.lasts, wal.epochs, epoch=header["epoch"])
            if name == header["initial_primary"]:
                node.role, node.writable = "Primary", True
            self.nodes[name] = node
        self.max_epoch: int = header["epoch"]
        # The durable promotion-disabled switches the trace set: node names, and
        # None for the cluster-wide one.
        self.disabled: set[str | None] = set()
        self.standby: str | None = None  # sync mode: named by the last designate line
        self._initial_state(header)
        self.acked = self.wals.wals[self.acked_index]
        self.pending: dict[str, tuple[str, bool, int]] = {}  # attempt -> (node, force, line)
        self.violations: list[Violation] = []
        self.kinds_seen: set[str] = set()
        self.declared: tuple[str, ...] | None = (
            tuple(header["emits"]) if "emits" in header else None
        )
        self.declared_set: frozenset[str] | None = (
            frozenset(self.declared) if self.declared is not None else None
        )
        self.families_seen: set[str] = set()
        self.ended = False
        # What says the current line and event: a holder, or the reader while it reads.
        self._at: _Line | trace.FastReader = _Line(1, header)
        self.events = 1
        self.handlers: dict[str, Callable[[dict[str, Any]], None]] = {
            "request": self._request,
            "reject": self._reject,
            "transition": self._transition,
            "validation": self._validation,
            "abort": self._abort,
            "disable": self._disable,
            "marker": self._marker,
            "write": self._write,
            "ack": self._ack,
            "replicate": self._replicate,
            "halt": self._halt,
            "crash": self._crash,
            "restart": self._restart,
            "reinstate": self._reinstate,
            "demote": self._demote,
            "designate": self._designate,
            "end": self._end,
            # What the workbench ('baton test') observed from outside: judged by its own
            # black-box checks (baton.harness.checks), not by these rules.
            "client": _ignore,
            "fault": _ignore,
            "operator": _ignore,
        }

    # --- plumbing ---

    def _initial_state(self, header: dict[str, Any]) -> None:
        """Start from the header's declared state: WALs, markers, acknowledged writes."""
        initial = header.get("initial", {})
        for name, runs in initial.get("wals", {}).items():
            self.wals.set_runs(self.nodes[name].index, runs)
        for name, marker in initial.get("markers", {}).items():
            node = self.nodes[name]
            node.role, node.epoch = marker["role"], marker["epoch"]
            node.writable = False
        primary = self.nodes[header["initial_primary"]]
        primary.writable = primary.role == "Primary"
        if initial.get("acked", 0):
            self.wals.become_prefix(self.acked_index, primary.index, initial["acked"])
        self.max_epoch = max(
            [self.max_epoch, *(n.epoch for n in self.nodes.values())]
            + [e for w in self.wals.wals for e in w.epochs]
        )

    def wal(self, node: NodeSummary) -> EpochRuns:
        return self.wals.wals[node.index]

    def common(self, a: NodeSummary, b: NodeSummary) -> int:
        """Length of the common prefix of two nodes' WALs."""
        return self.wals.common[a.index][b.index]

    def common_acked(self, node: NodeSummary) -> int:
        """Length of the common prefix of a node's WAL and the acknowledged history."""
        return self.wals.common[node.index][self.acked_index]

    def state(self) -> dict[str, Any]:
        return {
            "nodes": {name: n.as_state(self.wal(n)) for name, n in self.nodes.items()},
            "writable": [name for name, n in self.nodes.items() if n.writable],
            "max_epoch": self.max_epoch,
            "acked": {"length": self.acked.length, "runs": self.acked.text()},
        }

    def covered(self, rule: str, needs: tuple[str, ...] | None = None) -> bool:
        """Whether the trace carries every family ``rule`` needs (declared, or seen so far).

        A rule is never judged on a trace that cannot show it: a lifecycle-only
        trace has no crash events, so it cannot be blamed for a second writer."""
        families = self.declared_set if self.declared_set is not None else self.families_seen
        return all(f in families for f in (needs or RULE_BY_NAME[rule].needs))

    def fail(
        self,
        rule: str,
        invariant: str,
        explanation: str,
        *,
        also: tuple[str, ...] = (),
        needs: tuple[str, ...] | None = None,
        excusable: bool = True,
    ) -> None:
        """Record a violation (state as it was before the event) and stop unless --all.

        ``also``: further invariants the violation breaks, shown beside the
        first (an unsafe approval is P6-F1 and the denial reason's own invariant).
        ``needs``: the families this particular check needs, when fewer than the rule's.
        A violation that a declared, allowed dropped assumption excuses is recorded
        as excused and does not stop the check; ``excusable=False`` for checks no
        assumption can excuse."""
        if not self.covered(rule, needs):
            return
        assumption = (
            self._excused_by(rule, invariant, also) if excusable and self.excusing else None
        )
        if assumption is not None and len(self.excused) >= MAX_EXCUSED_LISTED:
            self.excused_unlisted += 1
            return
        event = self.event
        violation = make_violation(
            rule,
            invariant,
            explanation,
            line=self.line,
            step=event.get("seq"),
            event=event.to_dict() if isinstance(event, trace.Event) else dict(event),
            state=self.state(),
            also=tuple(i for i in also if i != invariant),
        )
        if assumption is not None:
            line, step = self.dropped[assumption]
            self.excused.append(Excused(violation, assumption, line, step))
            return
        self.violations.append(violation)
        if not self.all:
            raise _Stop

    def _excused_by(self, rule: str, invariant: str, also: tuple[str, ...]) -> str | None:
        """The declared, allowed dropped assumption that guards every invariant the
        violation breaks (the spec's Assumption.guards), or None."""
        if not RULE_BY_NAME[rule].excusable:
            return None
        if not all(inv in self.excusing for inv in (invariant, *also)):
            return None
        return self.excusing[invariant]

    def _declare_dropped(self, e: Any) -> None:
        """An event's meta.dropped_assumptions: from here on the run relies on them
        being false (a demonstration); names must be the spec's."""
        meta = e.get("meta")
        names = meta.get("dropped_assumptions") if isinstance(meta, dict) else None
        if names is None:
            return
        guards = assumption_guards()
        if not isinstance(names, list) or not all(
            isinstance(n, str) and n in guards for n in names
        ):
            raise InputError(
                "trace",
                self.line,
                "meta.dropped_assumptions",
                "must be a list of the spec's assumption names "
                f"({', '.join(guards)}), not {json.dumps(names)}",
            )
        for name in names:
            if name in self.dropped:
                continue
            self.dropped[name] = (self.line, e.get("seq"))
            if name in self.allowed_dropped:
                for inv in guards[name]:
                    self.excusing.setdefault(inv, name)

    @property
    def line(self) -> int:
        """The number of the line being checked."""
        return self._at.line

    @property
    def event(self) -> Any:
        """The event being checked."""
        return self._at.event

    def _dispatch(self) -> dict[type, Callable[[Any], None]]:
        """Handlers by event class (a plain dict: the fastest lookup). Each class starts
        with a stand-in that records its kind and family, then installs the handler."""
        table: dict[type, Callable[[Any], None]] = {}
        for kind, cls in trace.event_classes(self.node_names).items():
            table[cls] = self._first_of_kind(table, cls, kind)
        return table

    def _first_of_kind(
        self, table: dict[type, Callable[[Any], None]], cls: type, kind: str
    ) -> Callable[[Any], None]:
        def first(event: Any) -> None:
            self.kinds_seen.add(kind)
            self.families_seen.add(trace.BY_KIND[kind].family)
            handler = table[cls] = self.handlers[kind]
            handler(event)

        return first

    def feed(self, line: int, event: Any) -> None:
        """One event (a decoded :class:`baton.trace.Event`) on the given line."""
        self.run(iter(((line, event),)))

    def run(self, events: Iterator[tuple[int, Any]]) -> None:
        """Every ``(line, event)`` pair of ``events`` in order."""
        at = self._at = _Line(self.line, self.event)
        handlers = self._dispatch()
        try:
            for line, event in events:
                at.line, at.event = line, event
                handlers[type(event)](event)
        finally:
            self.events = at.line

    def run_reader(self, reader: trace.FastReader) -> None:
        """Every event of ``reader``, in order: the reader calls the handlers itself."""
        self._at = reader
        try:
            reader.pump(self._dispatch())
        finally:
            self.events = reader.line
            self._at = _Line(reader.line, reader.event)

    def _up(self, name: str, rule: str, invariant: str, what: str) -> NodeSummary:
        node = self.nodes[name]
        if not node.up:
            # A trace that is not self-consistent: no assumption excuses it.
            self.fail(
                rule,
                invariant,
                f"{what} on node {name}, which is down (it crashed and has "
                "not restarted); a node that is down does nothing.",
                excusable=False,
            )
        return node

    def _single_writer(self, how: str) -> None:
        """Two writers in the same interval: always P6-A1, whatever step made the second.

        Knowing who is writable needs the lifecycle (promotions) and durability
        (crashes, markers that end authority) families, not the data family."""
        writers = [n.name for n in self.nodes.values() if n.writable]
        if len(writers) > 1:
            self.fail(
                "single_writer",
                "P6-A1",
                f"{how}: nodes {', '.join(writers)} now all admit writes. At most one node may "
                "hold write authority at any point; the one that had it must have crashed, "
                "stepped down or been demoted first.",
                needs=("lifecycle", "durability"),
            )

    # --- lifecycle ---

    def _request(self, e: Any) -> None:
        if "meta" in e:
            self._declare_dropped(e)
        attempt = e.attempt
        node = self.nodes[e.node]
        if attempt in self.pending or attempt in (node.attempt, node.last_finished):
            self.fail(
                "no_implicit_retry",
                "P6-F3",
                f"request reuses attempt ID {attempt!r}, which is already in use or finished. "
                "Each explicit request starts a new attempt with a new ID; re-running an "
                "attempt is a retry.",
            )
        if e.force and "operator" not in e:
            self.fail(
                "force_bounded",
                "P6-A1a",
                f"forced request {attempt!r} for {e.node} names no operator. Every forced "
                "request is audited: the operator asserting the old primary is down must be "
                "recorded.",
            )
        self.pending[attempt] = (e.node, e.force, self.line)

    def _reject(self, e: Any) -> None:
        if self.pending.pop(e.attempt, None) is None:
            node = self.nodes[e.node]
            if e.attempt == node.attempt:
                # Its request line was consumed by the attempt's 'request' transition: the
                # producer mixed the two ways out. Say which one applies.
                why = (
                    f"reject of attempt {e.attempt!r}, which already entered {e.node}'s "
                    f"lifecycle (now {node.lifecycle}). The reject kind is for a request "
                    "turned away before entering it; once in, a refusal is a transition "
                    "with event 'reject' (PromotionRequested -> Steady)."
                )
            else:
                why = (
                    f"reject of attempt {e.attempt!r}, which has no pending request line. "
                    "Every attempt starts with its request event."
                )
            self.fail("attempt_observable", "P6-O1", why)

    def _transition(self, e: Any) -> None:
        name, attempt, src, event, dst = e.node, e.attempt, e.from_, e.event, e.to
        node = self._up(name, "no_implicit_retry", "P6-F3", f"lifecycle event {event!r}")
        if event in REFUSED_EVENTS:
            self.fail(
                "no_implicit_retry",
                "P6-F3",
                f"a {event!r} transition {src} -> {dst} on {name}. The spec gives timeout and "
                "retry no transition at all: only an explicit new request may start an attempt.",
            )
        if src != node.lifecycle:
            if node.lifecycle == RECOVERY_STATE and event != "request":
                self.fail(
                    "no_implicit_retry",
                    "P6-F3",
                    f"{name} is in Steady (no attempt in progress, e.g. forgotten by a crash) but "
                    f"the trace continues from {src} with {event!r}. An attempt never survives a "
                    "crash or continues without a new explicit request.",
                )
            else:
                self.fail(
                    "lifecycle_table",
                    "P6-D2",
                    f"transition claims to start from {src}, but {name}'s lifecycle is in "
                    f"{node.lifecycle} after the previous events.",
                )
        expected = LIFECYCLE.get((src, event))
        if expected is None and event not in REFUSED_EVENTS:
            allowed = [ev for (s, ev) in LIFECYCLE if s == src]
            inv = "P6-F1" if dst in AUTHORITY_PATH else "P6-D2"
            self.fail(
                "lifecycle_table",
                inv,
                f"{src} --{event}--> {dst} is forbidden by the spec's lifecycle table "
                f"(from {src} only {', '.join(allowed) or 'nothing'} may happen)"
                + (
                    "; it moves onto the authority path without an approved validation."
                    if inv == "P6-F1"
                    else "."
                ),
            )
        elif expected is not None and expected != dst:
            self.fail(
                "lifecycle_table",
                "P6-D2",
                f"{src} --{event}--> must lead to {expected} (the spec's table), not {dst}.",
            )
        # Attempt bookkeeping.
        if event == "request":
            req = self.pending.pop(attempt, None)
            if req is None:
                self.fail(
                    "no_implicit_retry",
                    "P6-F3",
                    f"attempt {attempt!r} enters the lifecycle without an operator's request "
                    "(no request line for it). Only an explicit request starts an attempt; one "
                    "started without it is an implicit retry.",
                )
            elif req[0] != name:
                self.fail(
                    "attempt_observable",
                    "P6-O1",
                    f"attempt {attempt!r} was requested for {req[0]} but enters {name}'s "
                    "lifecycle.",
                )
            node.attempt, node.validated = attempt, None
            node.forced = bool(req[1]) if req is not None else False
            node.grant, node.marker_durable = None, False
        elif attempt != node.attempt:
            self.fail(
                "no_implicit_retry",
                "P6-F3",
                f"event of attempt {attempt!r} while {name}'s attempt in progress is "
                f"{node.attempt!r}. Events of an attempt carry its ID; an old attempt never "
                "resumes.",
            )
        if event in ("approve", "deny"):
            self._decision(e, node)
        elif event == "begin_transition":
            self._begin_transition(e, node)
        elif event == "complete":
            self._complete(e, node)
        node.lifecycle = dst
        if dst == RECOVERY_STATE:
            node.last_finished, node.attempt = node.attempt, None

    def _abort(self, e: Any) -> None:
        """An operator's abort: the attempt is forgotten as a crash forgets it (P6-F2)."""
        name, attempt, src = e.node, e.attempt, e.from_
        node = self._up(name, "abort_before_rename", "P6-F2", "an abort")
        if node.lifecycle not in IN_FLIGHT or src != node.lifecycle or attempt != node.attempt:
            self.fail(
                "abort_before_rename",
                "P6-F2",
                f"abort of attempt {attempt!r} from {src} on {name}, whose attempt is "
                f"{node.attempt!r} in {node.lifecycle}. Only an approved or transitioning "
                "attempt can be aborted, by its own ID and from the state it is in.",
            )
        elif node.marker_durable or e.marker_ops >= RENAME_OPS:
            done = "durable" if node.marker_durable else f"renamed ({e.marker_ops} operations)"
            self.fail(
                "abort_before_rename",
                "P6-F2",
                f"abort of {name}'s attempt {attempt!r} after its new marker was {done}. Once "
                "the marker is renamed the new authority is visible, and only completion or "
                "crash recovery may decide it; forgetting the attempt then can serve an epoch "
                "a crash takes back.",
            )
        if node.attempt is not None:
            node.last_finished = node.attempt
        node.lifecycle, node.attempt, node.validated = RECOVERY_STATE, None, None
        node.grant, node.marker_durable, node.forced = None, False, False

    def _disable(self, e: Any) -> None:
        """The operator's promotion-disabled switch (a node's, or the cluster's)."""
        scope = e.get("node")
        if e.disabled:
            self.disabled.add(scope)
        else:
            self.disabled.discard(scope)

    def promotion_disabled(self, name: str) -> bool:
        """Whether the trace has ``name``'s switch or the cluster's set."""
        return name in self.disabled or None in self.disabled

    def _decision(self, e: Any, node: NodeSummary) -> None:
        event = e.event
        if node.validated is None:
            self.fail(
                "attempt_observable",
                "P6-O1",
                f"{event} of attempt {e.attempt!r} without a validation result. Every attempt "
                "emits its validation result before its decision.",
            )
        missing = [f for f in ("reason", "invariants", "explanation") if f not in e]
        if missing:
            self.fail(
                "decision_explained",
                "P6-O2",
                f"decision {event!r} of attempt {e.attempt!r} lacks {', '.join(missing)}. Every "
                "decision is explained with the invariant that allowed or blocked it.",
            )
            return
        reason = e.reason
        self._explained(reason, e.invariants, f"decision {event!r}")
        if (event == "approve") != (reason == trace.ALLOWED):
            self.fail(
                "validation_decision",
                "P6-D1",
                f"{event} carries reason {reason!r}; approve goes with 'allowed' and deny with a "
                "denial reason.",
            )
        if node.validated is not None and reason != node.validated:
            inv = "P6-F1" if event == "approve" else "P6-D1"
            hidden = reason_invariant().get(node.validated, inv) if inv == "P6-F1" else inv
            self.fail(
                "validation_decision",
                inv,
                f"the decision {event} ({reason}) differs from the attempt's validation result "
                f"{node.validated!r}; the decision must follow the validator.",
                also=(hidden,),
            )

    def _explained(self, reason: str, invariants: list[str], what: str) -> None:
        if reason == trace.ALLOWED:
            if not allowed_invariants() & set(invariants):
                self.fail(
                    "decision_explained",
                    "P6-O2",
                    f"{what} 'allowed' names invariants {invariants}, none of the ones an approval "
                    f"proves ({', '.join(sorted(allowed_invariants()))}).",
                )
        else:
            want = reason_invariant()[reason]
            if want not in invariants:
                self.fail(
                    "decision_explained",
                    "P6-O2",
                    f"{what} {reason!r} names invariants {invariants}, not {want}, the invariant "
                    "the spec maps that reason to.",
                )

    def _begin_transition(self, e: Any, node: NodeSummary) -> None:
        grant = e.get("epoch")
        node.grant, node.marker_durable = grant, False
        if grant is not None and grant <= self.max_epoch:
            self.fail(
                "epoch_fencing",
                "P6-A3",
                f"{node.name} is granted epoch {grant}, but epoch {self.max_epoch} is already "
                "known. A promotion grants highest known epoch + 1, so the new authority "
                "fences every older one.",
            )

    def _complete(self, e: Any, node: NodeSummary) -> None:
        if not node.marker_durable:
            self.fail(
                "atomic_transfer",
                "P6-A2",
                f"{node.name} completes its promotion before its authority marker is durable "
                "(no durable Primary marker since begin_transition). Authority may become "
                "visible only after it is durable, or a crash could leave two authorities or "
                "none.",
            )
        if "epoch" in e and e.epoch != node.epoch:
            self.fail(
                "epoch_fencing",
                "P6-A3",
                f"complete reports epoch {e.epoch} but {node.name}'s durable marker holds "
                f"epoch {node.epoch}.",
            )
        self._gain_authority(node, f"{node.name} completed promotion")

    def _gain_authority(self, node: NodeSummary, how: str) -> None:
        common = self.common_acked(node)
        if common < self.acked.length:
            self.fail(
                "acked_writes_preserved",
                "P6-S1",
                f"{how}, but its WAL ({self.wal(node).text()}) does not hold every acknowledged "
                f"write ({self.acked.text()}): they agree only up to lsn {common}. Every "
                "acknowledged write must be in the WAL of the node that holds authority.",
            )
        rivals = [
            n.name
            for n in self.nodes.values()
            if n is not node and n.up and n.role == "Primary" and n.epoch == node.epoch
        ]
        if rivals:
            self.fail(
                "authority_ambiguity",
                "P6-A1",
                f"{how} at epoch {node.epoch} while {', '.join(rivals)}, running, still "
                f"claims Primary at epoch {node.epoch}. A node that sees two running nodes "
                "claim one epoch halts (authority_ambiguity) before either claimant acts as "
                "the authority.",
                needs=("lifecycle", "durability"),
            )
        node.writable = True
        self._single_writer(how)

    def _validation(self, e: Any) -> None:
        name, attempt = e.node, e.attempt
        node = self._up(name, "no_implicit_retry", "P6-F3", "a validation")
        again = node.attempt == attempt and node.validated is not None
        if again or node.attempt != attempt or node.lifecycle != "PromotionValidating":
            self.fail(
                "no_implicit_retry" if again else "attempt_observable",
                "P6-F3" if again else "P6-O1",
                f"validation of attempt {attempt!r} while {name} is in {node.lifecycle} "
                f"(attempt {node.attempt!r}); a validation belongs to its attempt, once, after "
                "begin_validation.",
            )
        ctx, decision = e.context, e.decision
        self._context_matches_trace(e, node)
        if "wal_end" in e and "ack_bound" in e:
            pos = position_of(e.wal_end, e.ack_bound)
            if pos != ctx["position"]:
                self.fail(
                    "validation_decision",
                    "P6-D1",
                    f"wal_end {e.wal_end} and ack_bound {e.ack_bound} give position {pos}, "
                    f"but the context records {ctx['position']}.",
                )
        if ctx["force"] and not node.forced and node.attempt == attempt:
            self.fail(
                "force_bounded",
                "P6-A1a",
                f"the validation of {attempt!r} uses force, but the operator's request was not "
                "forced. Only the operator's explicit request may assert force.",
            )
        want = spec_decision(context_key(ctx))
        if decision != want:
            unsafe = decision == trace.ALLOWED
            hidden = reason_invariant()[want] if unsafe else "P6-D1"
            self.fail(
                "validation_decision",
                "P6-F1" if unsafe else "P6-D1",
                f"the validator decided {decision!r} but the spec decides {want!r} for this "
                f"context ({json.dumps(ctx.to_dict(), sort_keys=False)})"
                + (
                    f": it allowed a promotion whose safety was not proven (fail closed); the "
                    f"spec's reason {want!r} guards {hidden}."
                    if unsafe
                    else ". The decision is a pure function of the context."
                ),
                also=(hidden,),
            )
        self._explained(decision, e.invariants, "validation decision")
        node.validated = decision

    def _source(self) -> NodeSummary | None:
        """The node whose durable WAL the spec compares the candidate with.

        Sync mode: the designated standby. Async mode: the node whose marker says
        Primary at the highest epoch any node holds (the old primary), as the
        spec's observed context defines it; None when there is none."""
        if self.mode == "sync":
            return self.nodes.get(self.standby) if self.standby is not None else None
        top = max(n.epoch for n in self.nodes.values())
        for n in self.nodes.values():
            if n.role == "Primary" and n.epoch == top:
                return n
        return None

    def _context_matches_trace(self, e: Any, node: NodeSummary) -> None:
        """Derive, then compare: the facts the trace proves against the recorded context.

        Every false fact is a violation at this line, named by the invariant it
        hides (a false Compatible hides a divergent history, P6-S2). ``Unknown``
        is always an honest value. Needs the data family: without the writes and
        replications the WALs are not known."""
        ctx = e.context
        cand_wal = self.wal(node)
        end = cand_wal.length
        acked = self.acked.length
        data = ("lifecycle", "validation", "data")
        problems: list[tuple[str, str, tuple[str, ...] | None]] = []
        if "wal_end" in e and e.wal_end != end:
            # The trace knows the WAL only from the node's own write/replicate events. A
            # smaller wal_end, typically after a restart, is the mark of entries reported
            # durable (and acknowledged) before they were fsynced: say so, it is the bug.
            shorter = (
                f" ({end} by {node.name}'s own write and replicate events; if its WAL really "
                f"is shorter, entries were reported durable before they were fsynced and a "
                f"crash lost them)"
                if e.wal_end < end
                else ""
            )
            problems.append(
                (
                    "P6-S1",
                    f"wal_end is {e.wal_end} but {node.name}'s durable WAL ends at {end}{shorter}",
                    data,
                )
            )
        bound = e.get("ack_bound")
        if bound is not None and bound < acked:
            problems.append(
                (
                    "P6-S1",
                    f"ack_bound {bound} is below the {acked} writes already acknowledged, so it "
                    "is no upper bound",
                    data,
                )
            )
        if ctx.position in ("Equal", "Ahead") and end < acked:
            problems.append(
                (
                    "P6-S1",
                    f"position {ctx.position} but {node.name}'s WAL ends at {end}, before the "
                    f"{acked} acknowledged writes",
                    data,
                )
            )
        source = self._source()
        if ctx.prefix != "Unknown":
            divergent_from = None
            if self.common_acked(node) < min(end, acked):
                divergent_from = f"the acknowledged history ({self.acked.text()})"
            elif source is not None and source is not node:
                src_wal = self.wal(source)
                if self.common(node, source) < min(end, src_wal.length):
                    divergent_from = f"{source.name}'s WAL ({src_wal.text()})"
            if ctx.prefix == "Compatible" and divergent_from is not None:
                problems.append(
                    (
                        "P6-S2",
                        f"prefix Compatible, but {node.name}'s WAL ({cand_wal.text()}) diverges "
                        f"from {divergent_from}",
                        data,
                    )
                )
            elif (
                ctx.prefix == "Divergent"
                and divergent_from is None
                and source is not None
                and source is not node
            ):
                problems.append(
                    (
                        "P6-D1",
                        f"prefix Divergent, but {node.name}'s WAL ({cand_wal.text()}) is "
                        f"compatible with {source.name}'s ({self.wal(source).text()}) and with "
                        "the acknowledged history",
                        data,
                    )
                )
        switched = self.promotion_disabled(node.name)
        if switched and ctx.role != "Disabled":
            problems.append(
                (
                    reason_invariant()["candidate_disabled"],
                    f"promotion of {node.name} is disabled (its switch or the cluster's), but "
                    f"the context says {ctx.role}, not Disabled",
                    ("validation",),
                )
            )
        elif switched:
            pass  # Disabled stands for whatever else the candidate is
        elif node.writable and ctx.role != "PrimaryActive":
            problems.append(
                ("P6-A1", f"{node.name} admits writes but the context says {ctx.role}", None)
            )
        if not switched and node.role == "Halted" and ctx.role != "Halted":
            problems.append(
                ("P6-S2", f"{node.name} is halted but the context says {ctx.role}", None)
            )
        writers = [n.name for n in self.nodes.values() if n.writable and n is not node]
        if writers and ctx.primary_status == "Unavailable":
            problems.append(
                ("P6-A1", f"the old primary is 'Unavailable' but {writers[0]} admits writes", None)
            )
        for invariant, problem, needs in problems:
            self.fail(
                "validation_context",
                invariant,
                f"the validation of {e.attempt!r} decided on a fact the trace contradicts: "
                f"{problem}. A decision on false facts is not proven safe.",
                also=("P6-F1",) if invariant != "P6-D1" else (),
                needs=needs,
            )

    # --- durability and authority ---

    def _marker(self, e: Any) -> None:
        name, role, epoch = e.node, e.role, e.epoch
        node = self._up(name, "crash_recovery", "P6-F2", "a marker write")
        if epoch < node.epoch:
            self.fail(
                "epoch_fencing",
                "P6-A3",
                f"{name}'s durable marker goes from epoch {node.epoch} back to {epoch}. Epochs "
                "never go backwards on disk.",
            )
        if role == "Primary" and (epoch != node.epoch or node.role != "Primary"):
            if node.lifecycle != "AuthorityTransitioning":
                self.fail(
                    "epoch_fencing",
                    "P6-A3",
                    f"{name} writes a Primary marker at epoch {epoch} outside a promotion (its "
                    f"lifecycle is {node.lifecycle}). Authority at a new epoch is granted only "
                    "by an approved promotion.",
                )
            elif node.grant is not None and epoch != node.grant:
                self.fail(
                    "epoch_fencing",
                    "P6-A3",
                    f"{name}'s marker records epoch {epoch}, not the epoch {node.grant} granted "
                    "at begin_transition.",
                )
            elif epoch <= self.max_epoch:
                # Granted above every known epoch at begin_transition, yet no longer above
                # them when the marker lands: another node claimed the epoch meanwhile
                # (two attempts at once). Each epoch has one primary marker.
                holders = [
                    f"{n.name} ({n.role}@{n.epoch})"
                    for n in self.nodes.values()
                    if n is not node and n.epoch >= epoch
                ]
                self.fail(
                    "epoch_fencing",
                    "P6-A3",
                    f"{name}'s new Primary marker has epoch {epoch}, not above the highest known "
                    f"epoch {self.max_epoch}"
                    + (
                        f": it was granted at begin_transition, and since then "
                        f"{', '.join(holders)} took epoch {epoch} or above. Each epoch has one "
                        "primary marker; a new authority's epoch is above every known one."
                        if node.grant is not None and holders
                        else "."
                    ),
                )
            node.marker_durable = node.lifecycle == "AuthorityTransitioning"
        if role != "Primary" and node.writable:
            node.writable = False  # a durable non-Primary marker ends authority
        node.role, node.epoch = role, epoch
        self.max_epoch = max(self.max_epoch, epoch)

    def _halt(self, e: Any) -> None:
        node = self._up(e.node, "crash_recovery", "P6-F2", "a halt")
        node.role, node.writable = "Halted", False

    def _crash(self, e: Any) -> None:
        node = self._up(e.node, "crash_recovery", "P6-F2", "a crash")
        node.recoverable = [(node.role, node.epoch)]
        if node.lifecycle == "AuthorityTransitioning" and not node.marker_durable:
            # The marker write was in flight: recovery may find the old or the new one (P6-F2).
            node.recoverable.append(("Primary", node.grant))
        node.crash_state = node.lifecycle
        node.up, node.writable = False, False
        if node.attempt is not None:
            node.last_finished = node.attempt
        node.lifecycle, node.attempt, node.validated = RECOVERY_STATE, None, None
        node.grant, node.marker_durable = None, False
        for attempt, (cand, _force, _line) in list(self.pending.items()):
            if cand == node.name:
                del self.pending[attempt]  # a request to a crashed node is forgotten with it

    def _restart(self, e: Any) -> None:
        name, role, epoch = e.node, e.role, e.epoch
        node = self.nodes[name]
        if node.up:
            self.fail(
                "crash_recovery",
                "P6-F2",
                f"{name} restarts without having crashed; recovery runs only after a crash.",
            )
        elif not any(
            r == role and (ep == epoch or (ep is None and epoch > self.max_epoch))
            for r, ep in node.recoverable
        ):
            options = " or ".join(
                f"{r}@{ep if ep is not None else '>' + str(self.max_epoch)}"
                for r, ep in node.recoverable
            )
            self.fail(
                "crash_recovery",
                "P6-F2",
                f"{name} recovered {role}@{epoch} from disk, but its durable marker allows "
                f"exactly {options} (crashed in {node.crash_state}). Recovery yields exactly the "
                "old or the new authority, decided by the durable marker; never a guess.",
            )
        node.up, node.writable = True, False
        node.role, node.epoch = role, epoch
        node.lifecycle, node.attempt = RECOVERY_STATE, None
        self.max_epoch = max(self.max_epoch, epoch)

    def _reinstate(self, e: Any) -> None:
        name, epoch = e.node, e.epoch
        node = self._up(name, "single_writer", "P6-A1", "a reinstatement")
        if node.role != "Primary" or epoch != node.epoch:
            self.fail(
                "epoch_fencing",
                "P6-A3",
                f"{name} is reinstated at epoch {epoch}, but its durable marker says "
                f"{node.role}@{node.epoch}; only a node whose marker names it Primary at that "
                "epoch may regain authority.",
            )
        if epoch < self.max_epoch:
            self.fail(
                "epoch_fencing",
                "P6-A3",
                f"{name} regains authority at epoch {epoch}, but epoch {self.max_epoch} exists. A "
                "deposed primary never regains authority: the writer holds the highest epoch.",
            )
        self._gain_authority(node, f"{name} was reinstated")

    def _demote(self, e: Any) -> None:
        name, epoch = e.node, e.epoch
        node = self._up(name, "crash_recovery", "P6-F2", "a demotion")
        if epoch < node.epoch:
            self.fail(
                "epoch_fencing",
                "P6-A3",
                f"{name} is demoted at epoch {epoch}, below its epoch {node.epoch}.",
            )
        node.role, node.epoch, node.writable = "Replica", max(epoch, node.epoch), False

    def _designate(self, e: Any) -> None:
        self._up(e.primary, "single_writer", "P6-A1", "a standby designation")
        self.standby = e.standby

    def _end(self, e: Any) -> None:
        if e.events != self.line - 1:
            self.fail(
                "attempt_observable",
                "P6-O1",
                f"the end line counts {e.events} lines before it, but the trace has "
                f"{self.line - 1}: lines were lost or added.",
            )
        self.ended = True

    # --- data ---

    def _writer_check(self, node: NodeSummary, what: str, epoch: int) -> None:
        if not node.writable:
            self.fail(
                "single_writer",
                "P6-A1",
                f"{what} by {node.name}, which does not hold write authority (writable now: "
                f"{', '.join(n.name for n in self.nodes.values() if n.writable) or 'none'}). "
                "Only the one authority writes and acknowledges.",
            )
        if epoch != node.epoch or epoch < self.max_epoch:
            self.fail(
                "epoch_fencing",
                "P6-A3",
                f"{what} by {node.name} in epoch {epoch}; its marker epoch is {node.epoch} and "
                f"the highest known epoch is {self.max_epoch}. A writer writes in its own epoch, "
                "and only the holder of the highest epoch writes.",
            )

    def _write(self, e: Any) -> None:
        node = self.nodes[e.node]
        # The common case, every check passing, in one test (the full checks follow).
        epoch = e.epoch
        if node.writable and node.up and epoch == node.epoch and epoch >= self.max_epoch:
            lasts = node.lasts
            old = lasts[-1] if lasts else 0
            lsn = e.lsn
            if lsn == old + 1:
                # WalSet.append, inlined for the second most frequent event.
                epochs = node.epochs
                if epochs and epochs[-1] == epoch:
                    lasts[-1] = lsn
                else:
                    epochs.append(epoch)
                    lasts.append(lsn)
                wals = self.wals
                i = node.index
                common = wals.common
                row = common[i]
                row[i] = lsn
                all_lasts, all_epochs = wals.lasts, wals.epochs
                for j in wals.others[i]:
                    if row[j] == old:
                        other = all_lasts[j]
                        if (
                            other
                            and other[-1] >= lsn
                            and all_epochs[j][bisect_left(other, lsn)] == epoch
                        ):
                            row[j] = common[j][i] = lsn
                return
        self._write_checked(e, node)

    def _write_checked(self, e: Any, node: NodeSummary) -> None:
        if not node.up:
            self._up(e.node, "single_writer", "P6-A1", "a write")
        lsn, epoch = e.lsn, e.epoch
        if not node.writable or epoch != node.epoch or epoch < self.max_epoch:
            self._writer_check(node, "a write", epoch)
        end = self.wals.wals[node.index].length
        if lsn != end + 1:
            self.fail(
                "prefix_history",
                "P6-S2",
                f"{node.name} writes lsn {lsn} but its WAL ends at {end}: a WAL grows only by "
                "appending at its end (no gap, overwrite or reordering).",
            )
            if lsn <= end:
                self.wals.truncate(node.index, lsn - 1)
        self.wals.append(node.index, epoch)

    def _ack(self, e: Any) -> None:
        node = self.nodes[e.node]
        # The common case (async, acknowledging entries that extend the acknowledged
        # history) in one test; the full checks follow.
        epoch, lsn = e.epoch, e.lsn
        if (
            node.writable
            and node.up
            and epoch == node.epoch
            and epoch >= self.max_epoch
            and self.mode == "async"
        ):
            wals = self.wals
            i, a = node.index, self.acked_index
            lasts = node.lasts
            acked = self.acked
            acked_lasts = acked.lasts
            acked_len = acked_lasts[-1] if acked_lasts else 0
            common = wals.common
            if acked_len <= lsn <= (lasts[-1] if lasts else 0) and common[i][a] >= acked_len:
                if lsn == acked_len:
                    return
                if len(acked_lasts) == len(lasts) and acked.epochs[-1] == node.epochs[-1]:
                    # The acknowledged history is a prefix of this WAL ending in its last
                    # run: it grows within that run. Its common prefixes follow the WAL's.
                    acked_lasts[-1] = lsn
                    row, node_row = common[a], common[i]
                    for j in wals.others[a]:
                        value = node_row[j] if node_row[j] < lsn else lsn
                        row[j] = common[j][a] = value
                    row[a] = lsn
                else:
                    wals.become_prefix(a, i, lsn)
                return
        self._ack_checked(e, node)

    def _ack_checked(self, e: Any, node: NodeSummary) -> None:
        if not node.up:
            self._up(e.node, "single_writer", "P6-A1", "an acknowledgement")
        lsn, epoch = e.lsn, e.epoch
        if not node.writable or epoch != node.epoch or epoch < self.max_epoch:
            self._writer_check(node, "an acknowledgement", epoch)
        wal = self.wals.wals[node.index]
        if lsn > wal.length:
            self.fail(
                "acked_writes_preserved",
                "P6-S1",
                f"{node.name} acknowledges up to lsn {lsn}, but only {wal.length} entries are "
                "durable in its WAL. An acknowledgement means the write is fsynced first.",
            )
            return
        if self.mode == "sync":
            self._sync_standby_holds(node, lsn)
        acked_len = self.acked.length
        common = self.wals.common[node.index][self.acked_index]
        if lsn >= acked_len:
            if common < acked_len:
                self.fail(
                    "prefix_history",
                    "P6-S2",
                    f"{node.name} acknowledges up to lsn {lsn} on a WAL ({wal.text()}) that "
                    f"does not extend the acknowledged history ({self.acked.text()}); they "
                    f"agree only up to lsn {common}. The acknowledged history only ever grows "
                    "by extension.",
                )
            if lsn > acked_len or common < acked_len:
                self.wals.become_prefix(self.acked_index, node.index, lsn)
        elif common < lsn:
            self.fail(
                "prefix_history",
                "P6-S2",
                f"{node.name} acknowledges up to lsn {lsn}, but its entries there differ from the "
                f"acknowledged history ({self.acked.text()}).",
            )

    def _sync_standby_holds(self, node: NodeSummary, lsn: int) -> None:
        """Sync mode: an acknowledgement waits until a standby holds the entries durably.

        The designated standby when the trace names one, else any other node."""
        holders = [
            n.name
            for n in self.nodes.values()
            if n is not node
            and (self.standby is None or n.name == self.standby)
            and self.common(n, node) >= lsn
        ]
        if not holders:
            who = f"the standby {self.standby}" if self.standby else "no other node"
            self.fail(
                "acked_writes_preserved",
                "P6-S1",
                f"sync mode: {node.name} acknowledges up to lsn {lsn} but {who} holds those "
                "entries durably. A synchronous acknowledgement waits for the standby, so that "
                "a failover to it loses nothing.",
            )

    def _replicate(self, e: Any) -> None:
        nodes = self.nodes
        src, dst = nodes[e.from_], nodes[e.to]
        # The common case (the next entry of a prefix, sender at the receiver's epoch)
        # in one test; the full checks follow.
        sender_epoch = e.sender_epoch
        if (
            src.up
            and dst.up
            and not dst.writable
            and (sender_epoch == dst.epoch or sender_epoch is UNSET)
            and dst.leader == src.name
        ):
            lsn, epoch = e.lsn, e.epoch
            d_lasts, s_lasts = dst.lasts, src.lasts
            end = d_lasts[-1] if d_lasts else 0
            common = self.wals.common
            d, s = dst.index, src.index
            d_row = common[d]
            if (
                lsn == end + 1
                and s_lasts
                and s_lasts[-1] >= lsn
                and src.epochs[bisect_left(s_lasts, lsn)] == epoch
                and d_row[s] >= end
            ):
                # WalSet.append, inlined for the most frequent event.
                d_epochs = dst.epochs
                if d_epochs and d_epochs[-1] == epoch:
                    d_lasts[-1] = lsn
                else:
                    d_epochs.append(epoch)
                    d_lasts.append(lsn)
                d_row[d] = lsn
                wals = self.wals
                all_lasts, all_epochs = wals.lasts, wals.epochs
                for j in wals.others[d]:
                    if d_row[j] == end:
                        # The sender holds the entry (tested above); any other WAL is looked up.
                        if j == s:
                            d_row[j] = common[j][d] = lsn
                            continue
                        other = all_lasts[j]
                        if (
                            other
                            and other[-1] >= lsn
                            and all_epochs[j][bisect_left(other, lsn)] == epoch
                        ):
                            d_row[j] = common[j][d] = lsn
                return
        self._replicate_checked(e, src, dst)

    def _replicate_checked(self, e: Any, src: NodeSummary, dst: NodeSummary) -> None:
        lsn, epoch = e.lsn, e.epoch
        if not (src.up and dst.up):
            for n in (src, dst):
                if not n.up:
                    self._up(n.name, "prefix_history", "P6-S2", "replication")
        sender_epoch = e.sender_epoch
        if sender_epoch is UNSET:
            sender_epoch = None
        self._follow(src, dst, sender_epoch)
        if sender_epoch is None:
            pass
        elif sender_epoch < dst.epoch:
            self.fail(
                "epoch_fencing",
                "P6-A3",
                f"{dst.name} (epoch {dst.epoch}) accepts an entry from {src.name} at epoch "
                f"{sender_epoch}. A replica refuses a lower-epoch primary.",
            )
        if dst.writable:
            self.fail(
                "single_writer",
                "P6-A1",
                f"{dst.name} receives replicated entries while it admits writes: two nodes act "
                "as primary.",
            )
        wals = self.wals
        src_wal, dst_wal = wals.wals[src.index], wals.wals[dst.index]
        if src_wal.epoch_at(lsn) != epoch:
            self.fail(
                "prefix_history",
                "P6-S2",
                f"{src.name} sends lsn {lsn}@e{epoch}, but its WAL ({src_wal.text()}) holds "
                "no such entry.",
            )
        end = dst_wal.length
        if lsn != end + 1:
            self.fail(
                "prefix_history",
                "P6-S2",
                f"{dst.name} receives lsn {lsn} but its WAL ends at {end}: replication appends "
                "the next entry, with no gap or overwrite.",
            )
        elif wals.common[dst.index][src.index] < end:
            self.fail(
                "prefix_history",
                "P6-S2",
                f"{dst.name}'s WAL ({dst_wal.text()}) is not a prefix of {src.name}'s "
                f"({src_wal.text()}); appending to it would hide a divergence (the replica "
                "must halt with history_divergence instead).",
            )
        if lsn <= end:
            wals.truncate(dst.index, lsn - 1)
        wals.append(dst.index, epoch)
        if sender_epoch is not None and sender_epoch > dst.epoch:
            dst.epoch = sender_epoch
            self.max_epoch = max(self.max_epoch, sender_epoch)

    def _follow(self, src: NodeSummary, dst: NodeSummary, sender_epoch: int | None) -> None:
        """``dst`` takes an entry from ``src``: it must not follow two primaries of one
        epoch (P6-A1; a node that sees them halts with reason authority_ambiguity)."""
        if src.role != "Primary":
            return
        epoch = sender_epoch if sender_epoch is not None else src.epoch
        if dst.leader is not None and dst.leader != src.name and dst.leader_epoch == epoch:
            self.fail(
                "authority_ambiguity",
                "P6-A1",
                f"{dst.name} takes an entry from {src.name} at epoch {epoch} after taking "
                f"entries from {dst.leader} at epoch {epoch}: two primaries claim one epoch, "
                "and a node that sees that halts (authority_ambiguity) instead of following "
                "either.",
            )
        dst.leader, dst.leader_epoch = src.name, epoch

    # --- the end ---

    def finish(self) -> list[str]:
        """End-of-trace checks (P6-O1); returns notes."""
        notes: list[str] = []
        self._at = _Line(self.line + 1, {"kind": "<end of trace>"})
        for attempt, (cand, _force, line) in self.pending.items():
            self.fail(
                "attempt_observable",
                "P6-O1",
                f"the trace ends with attempt {attempt!r} for {cand} requested (line {line}) but "
                "neither accepted nor rejected: it never got a decision.",
            )
        for node in self.nodes.values():
            if node.lifecycle in ("PromotionRequested", "PromotionValidating"):
                self.fail(
                    "attempt_observable",
                    "P6-O1",
                    f"the trace ends mid-attempt: {node.name}'s attempt {node.attempt!r} is in "
                    f"{node.lifecycle} and was never decided. Every attempt emits start, "
                    "validation result and decision.",
                )
            elif node.lifecycle != RECOVERY_STATE:
                notes.append(
                    f"attempt {node.attempt!r} of {node.name} is still open at the end "
                    f"({node.lifecycle}): decided, not yet acknowledged"
                )
        if not self.ended:
            notes.append("no 'end' line: the producer may have stopped before finishing")
        return notes

    def coverage(self) -> tuple[list[str], list[dict[str, str]]]:
        present = set(self.declared) if self.declared is not None else set(self.families_seen)
        checked, not_checked = [], []
        for rule in RULES:
            missing = [f for f in rule.needs if f not in present]
            if missing:
                how = "declared" if self.declared is not None else "present"
                not_checked.append(
                    {
                        "rule": f"{rule.name} ({rule.invariant})",
                        "why": f"no {', '.join(missing)} events {how} in the trace",
                    }
                )
            else:
                checked.append(f"{rule.name} ({rule.invariant})")
        return checked, not_checked


# --- entry points ---------------------------------------------------------------------------


def _verdict(subject: str, checker: Checker, notes: list[str], require_full: bool) -> Verdict:
    checked, not_checked = checker.coverage()
    dropped = [
        DroppedAssumption(name, line, step, name in checker.allowed_dropped)
        for name, (line, step) in checker.dropped.items()
    ]
    for d in dropped:
        if not d.allowed:
            # One clear message per assumption; the violations are listed as usual.
            notes = [
                f"the trace declares the assumption {d.name} dropped (line {d.line}): it is a "
                f"demonstration, not a conforming run; pass --allow-dropped {d.name} to judge "
                "it as one (violations of what the assumption guards are then excused)",
                *notes,
            ]
    if checker.excused_unlisted:
        notes = [
            *notes,
            f"{checker.excused_unlisted} more excused violation(s) not listed (the first "
            f"{MAX_EXCUSED_LISTED} are)",
        ]
    if checker.violations or any(not d.allowed for d in dropped):
        status = "violation"
    elif not_checked:
        status = "incomplete" if require_full else "conforms_partial"
    else:
        status = "conforms"
    return Verdict(
        subject,
        status,
        violations=checker.violations,
        events=checker.events,
        checked=checked,
        not_checked=not_checked,
        notes=notes,
        allowed_dropped=sorted(checker.allowed_dropped),
        dropped=dropped,
        excused=checker.excused,
    )


def _malformed(subject: str, checker: Checker | None, exc: InputError) -> Verdict:
    return Verdict(
        subject,
        "malformed",
        events=checker.events if checker is not None else 0,
        error=InputProblem(exc.reason, exc.line, exc.field),
    )


def check_lines(
    lines: Iterable[tuple[int, Any]],
    subject: str = "<trace>",
    all_violations: bool = False,
    require_full: bool = False,
    allowed_dropped: Iterable[str] = (),
) -> Verdict:
    """Check already-validated ``(line, event)`` pairs: the header dict, then
    :class:`baton.trace.Event` structs (as :func:`baton.trace.read_fast` yields them)."""
    it: Iterator[tuple[int, Any]] = iter(lines)
    checker: Checker | None = None
    try:
        for _line, event in it:
            checker = Checker(event, all_violations, allowed_dropped)
            break
        if checker is None:
            return Verdict(subject, "malformed", error=InputProblem("empty trace: no header", 1))
        try:
            checker.run(it)
            notes = checker.finish()
        except _Stop:
            notes = []
    except InputError as exc:
        return _malformed(subject, checker, exc)
    return _verdict(subject, checker, notes, require_full)


def check_stream(
    stream: IO[str] | IO[bytes],
    subject: str = "<trace>",
    all_violations: bool = False,
    require_full: bool = False,
    allowed_dropped: Iterable[str] = (),
) -> Verdict:
    """Check a trace read from a stream (binary preferred), line by line, in constant memory.

    ``allowed_dropped``: assumptions the trace may declare dropped (a demonstration);
    violations of what they guard are then excused, not failing."""
    checker: Checker | None = None
    try:
        reader = trace.FastReader(stream, subject)
        checker = Checker(reader.header, all_violations, allowed_dropped)
        try:
            checker.run_reader(reader)
            notes = checker.finish()
        except _Stop:
            notes = []
    except InputError as exc:
        return _malformed(subject, checker, exc)
    return _verdict(subject, checker, notes, require_full)


def check_events(
    events: Iterable[dict[str, Any]],
    subject: str = "<events>",
    all_violations: bool = False,
    allowed_dropped: Iterable[str] = (),
) -> Verdict:
    """Check in-memory events (numbered) by encoding them as a trace first (tests, replay)."""
    data = io.BytesIO(trace.dumps(events).encode("utf-8"))
    return check_stream(data, subject, all_violations, allowed_dropped=allowed_dropped)


def render(verdict: Verdict) -> str:
    """The human-readable verdict: one block per violation, then coverage and notes."""
    out: list[str] = []
    label = {
        "conforms": "CONFORMS",
        "conforms_partial": "CONFORMS (PARTIAL)",
        "incomplete": "INCOMPLETE (a full trace is required)",
        "violation": "VIOLATION",
        "malformed": "MALFORMED",
    }[verdict.status]
    if verdict.excused and verdict.status != "malformed":
        label += f", {len(verdict.excused)} EXCUSED"
    out.append(f"{verdict.subject}: {label} ({verdict.events} lines read)")
    for d in verdict.dropped:
        how = "allowed (--allow-dropped)" if d.allowed else "NOT ALLOWED"
        out.append(f"  ASSUMPTION DROPPED by the trace (line {d.line}): {d.name}, {how}")
    if verdict.error is not None:
        err = verdict.error
        where = f"line {err.line}" if err.line is not None else "input"
        if err.field is not None:
            where += f", field {err.field!r}"
        out.append(f"  {where}: {err.reason}")
    for v in verdict.violations:
        out.append("")
        where = f"line {v.line} (seq {v.step})" if v.step is not None else "at the end of the trace"
        out.append(f"  {where}: {v.headline} broken (rule {v.rule})")
        _render_details(out, v)
    for x in verdict.excused:
        v = x.violation
        out.append("")
        where = f"line {v.line} (seq {v.step})" if v.step is not None else "at the end of the trace"
        out.append(
            f"  EXCUSED, {where}: {v.headline} broken (rule {v.rule}) -- the assumption "
            f"{x.assumption}, declared dropped at line {x.line}, guards it"
        )
        _render_details(out, v)
    if verdict.status != "malformed":
        out.append("")
        out.append(f"  rules checked: {len(verdict.checked)}/{len(RULES)}")
        for nc in verdict.not_checked:
            out.append(f"  NOT checked: {nc['rule']}: {nc['why']}")
    if verdict.allowed_dropped and not verdict.dropped:
        out.append(
            f"  --allow-dropped {', '.join(verdict.allowed_dropped)}: the trace declares no "
            "dropped assumption; nothing was excused"
        )
    for note in verdict.notes:
        out.append(f"  note: {note}")
    return "\n".join(out)


def _render_details(out: list[str], v: Violation) -> None:
    """A violation's event, explanation and the state before it."""
    out.append(f"  event: {json.dumps(v.event, ensure_ascii=True)}")
    out.append(f"  why: {v.explanation}")
    out.append("  state before the event:")
    for name, node in v.state.get("nodes", {}).items():
        m = node["marker"]
        out.append(
            f"    {name}: {'up' if node['up'] else 'DOWN'}"
            f"{', WRITABLE' if node['writable'] else ''}, marker {m['role']}@{m['epoch']}, "
            f"wal {node['wal']['runs']}, lifecycle {node['lifecycle']}"
            + (f" (attempt {node['attempt']})" if node["attempt"] else "")
        )
    if v.state:
        out.append(
            f"    acknowledged: {v.state['acked']['runs']}; highest epoch {v.state['max_epoch']}"
        )
