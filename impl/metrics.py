"""Metrics a monitoring system can scrape, derived from a run's trace events.

Every metric here is a fold over trace events (:mod:`baton.trace`, format v1):
the same events give the same numbers, whether they come from a scenario
while ``baton run --metrics`` runs it, from any recorded trace (``baton check
--metrics``), or from a live ``baton node`` (``--metrics-port``). Nothing here
reads the runtime's state or influences a decision (P6-O1): a metric observes
exactly what an event already says, so a trace and its metrics cannot
disagree.

Time is the trace's logical clock, ``seq``: a state's duration is the number
of trace lines between the event that entered it and the event that left it.
A trace has no wall clock (runs are deterministic; a wall clock would make the
same run give different numbers), so no metric here is in seconds.

The text is produced by ``prometheus_client`` on a registry of its own (never
the process-wide default registry), in the OpenMetrics text format
(:meth:`RunMetrics.exposition`) or the Prometheus 0.0.4 text format. ``docs/metrics.md``
lists every metric with the invariant or event it observes; a test checks
that list against :data:`METRICS`.

Adding a metric for a new event kind is one row in :data:`COUNTED_EVENTS`; a
new lifecycle event that ends an attempt without success is one entry in
:data:`FAILED_BY_EVENT`. Every event kind, known or new, is also counted by
``baton_trace_events_total{kind}``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any

from baton import trace
from prometheus_client import CollectorRegistry, Counter, Enum, Gauge, Histogram
from prometheus_client import generate_latest as prometheus_text
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_text
from prometheus_client.registry import Collector

Event = Mapping[str, Any]

IN_FLIGHT: tuple[str, ...] = (
    "PromotionRequested",
    "PromotionValidating",
    "PromotionApproved",
    "AuthorityTransitioning",
)
"""Lifecycle states of an attempt that has not yet succeeded: a crash here forgets it."""

TIMED_STATES: tuple[str, ...] = tuple(s for s in trace.STATE_NAMES if s != "Steady")
"""States whose duration is observed. Steady is the resting state between attempts: its
length is the gap between requests, not part of a promotion."""

DURATION_BUCKETS: tuple[float, ...] = (1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, float("inf"))
"""Histogram buckets in trace lines. The reference runtime takes one line per lifecycle
step; other producers interleave data events, hence the long tail."""

FAILED_BY_EVENT: dict[str, str] = {
    # lifecycle event -> the outcome of an attempt that ended without success
    "deny": "denied",
    "reject": "rejected",
}
FAILED_OUTCOMES: tuple[str, ...] = ("rejected", "denied", "crashed", "aborted")
"""How an attempt ends without success: turned away before validation (a 'reject' line or
event), denied by the validator, forgotten by a crash of its candidate, or aborted by an
operator before the marker rename (an 'abort' line)."""

RECOVERY_OUTCOMES: dict[str, str] = {
    "Primary": "fenced_primary",
    "Replica": "replica",
    "Halted": "halted",
}
"""A restart's role, as read from the durable marker (P6-F2), named as its outcome: a
restarted primary admits no writes until reinstated (P6-A3)."""

CLUSTER_TARGET = "cluster"
"""The ``target`` label of the cluster-wide 'promotion disabled' switch (a 'disable' line
without a node)."""

NODE_ROLES: tuple[str, ...] = (*trace.MARKER_ROLES, "Down")
"""What a node is, as the trace shows it: its marker's role, or Down after a crash (the
marker is still on disk; the process is not running)."""


@dataclass(frozen=True)
class MetricDoc:
    """One metric as the docs list it: name (as exposed), type, labels, what it observes."""

    name: str
    type: str
    labels: tuple[str, ...]
    observes: str


@dataclass(frozen=True)
class CountedEvent:
    """A counter incremented once per event of ``kind`` (that ``applies``), by label values."""

    name: str
    help: str
    kind: str
    observes: str
    labels: tuple[tuple[str, Callable[[Event], str]], ...] = ()
    applies: Callable[[Event], bool] = lambda event: True
    initial_labels: tuple[tuple[str, ...], ...] = ()


def _field(name: str) -> Callable[[Event], str]:
    return lambda event: str(event[name])


def _lifecycle_event(name: str) -> Callable[[Event], bool]:
    return lambda event: event["event"] == name


COUNTED_EVENTS: tuple[CountedEvent, ...] = (
    CountedEvent(
        "baton_promotions_requested",
        "Promotion requests that arrived (each starts an attempt)",
        "request",
        "'request' lines: every attempt starts with one (P6-O1, P6-F3); forced ones are "
        "audited (P6-A1a)",
        labels=(("forced", lambda event: "true" if event["force"] else "false"),),
        initial_labels=(("false",), ("true",)),
    ),
    CountedEvent(
        "baton_promotions_approved",
        "Attempts the validator approved",
        "transition",
        "'transition' lines with event approve (P6-D1, P6-F1)",
        applies=_lifecycle_event("approve"),
    ),
    CountedEvent(
        "baton_promotions_denied",
        "Attempts the validator denied, by denial reason",
        "transition",
        "'transition' lines with event deny; the label is the spec's denial reason (P6-D1, P6-O2)",
        labels=(("reason", _field("reason")),),
        applies=_lifecycle_event("deny"),
        initial_labels=tuple((reason,) for reason in trace.REASON_NAMES),
    ),
    CountedEvent(
        "baton_promotions_succeeded",
        "Attempts whose marker became durable and whose candidate now admits writes",
        "transition",
        "'transition' lines with event complete, after the marker is durable (P6-A2, P6-F2)",
        applies=_lifecycle_event("complete"),
    ),
    CountedEvent(
        "baton_halts",
        "Nodes that halted replication, by reason",
        "halt",
        "'halt' lines (P6-S2 for history_divergence; a halted node is never promoted)",
        labels=(("reason", _field("reason")),),
        initial_labels=tuple((reason,) for reason in trace.HALT_REASONS),
    ),
    CountedEvent(
        "baton_crash_recoveries",
        "Node restarts from disk, by what recovery read from the durable marker",
        "restart",
        "'restart' lines: recovery reads only the durable marker (P6-F2); a primary comes back "
        "fenced (P6-A3)",
        labels=(("outcome", lambda event: RECOVERY_OUTCOMES[str(event["role"])]),),
        initial_labels=tuple((outcome,) for outcome in RECOVERY_OUTCOMES.values()),
    ),
    CountedEvent(
        "baton_reinstatements",
        "Restarted primaries holding the highest epoch that admit writes again",
        "reinstate",
        "'reinstate' lines (P6-A3)",
    ),
    CountedEvent(
        "baton_demotions",
        "Primaries that saw a higher epoch and gave up authority",
        "demote",
        "'demote' lines (P6-A3)",
    ),
    CountedEvent(
        "baton_promotions_aborted",
        "Attempts an operator aborted before the marker rename, by the state they were in",
        "abort",
        "'abort' lines: the attempt is forgotten as a crash forgets it; only before the "
        "rename (P6-F2)",
        labels=(("lifecycle_state", _field("from")),),
        initial_labels=(("PromotionApproved",), ("AuthorityTransitioning",)),
    ),
    CountedEvent(
        "baton_promotion_switch_changes",
        "Operator changes of the durable 'promotion disabled' switch, by target and new value",
        "disable",
        "'disable' lines: a node's switch, or the cluster's (target 'cluster'); audited with "
        "the operator",
        labels=(
            ("target", lambda event: str(event.get("node") or CLUSTER_TARGET)),
            ("disabled", lambda event: "true" if event["disabled"] else "false"),
        ),
    ),
    # A new event kind gets one row here. An ambiguity halt that is a 'halt' line with a
    # new reason is counted by baton_halts without any change (its labels come from
    # trace.HALT_REASONS).
)


class RunMetrics:
    """The metrics of one trace, updated event by event (:meth:`observe`).

    ``header`` is the trace's header line (its nodes, initial primary and epoch give
    every per-node gauge its starting value). ``own_clock``: number events by
    arrival instead of reading ``seq`` (a live node's events carry no seq; the
    workbench numbers them). ``only_node``: per-node gauges for that node alone
    (a live node knows its peers only as beliefs).
    """

    def __init__(
        self, header: Event, *, own_clock: bool = False, only_node: str | None = None
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._own_clock = own_clock
        self._only_node = only_node
        self._clock = 0
        r = self.registry
        self._counted: list[tuple[CountedEvent, Counter]] = []
        for spec in COUNTED_EVENTS:
            counter = Counter(spec.name, spec.help, [name for name, _ in spec.labels], registry=r)
            for values in spec.initial_labels:
                counter.labels(*values)
            self._counted.append((spec, counter))
        self._by_kind: dict[str, list[tuple[CountedEvent, Counter]]] = {}
        for spec, counter in self._counted:
            self._by_kind.setdefault(spec.kind, []).append((spec, counter))
        self.failed = Counter(
            "baton_promotions_failed",
            "Attempts that ended without success, by outcome",
            ["outcome"],
            registry=r,
        )
        for outcome in FAILED_OUTCOMES:
            self.failed.labels(outcome)
        self.crashes = Counter(
            "baton_crashes",
            "Node process crashes, by the lifecycle state the node's attempt was in",
            ["lifecycle_state"],
            registry=r,
        )
        self.events = Counter(
            "baton_trace_events", "Trace lines after the header, by kind", ["kind"], registry=r
        )
        self.state_duration = Histogram(
            "baton_lifecycle_state_duration_events",
            "Trace lines (the trace's logical clock, seq) a candidate spent in a lifecycle state",
            ["state"],
            buckets=DURATION_BUCKETS,
            unit="events",
            registry=r,
        )
        self.epoch = Gauge(
            "baton_authority_epoch",
            "A node's durable authority epoch, as the trace last recorded it",
            ["node"],
            registry=r,
        )
        self.role = Enum(
            "baton_node_role",
            "A node's role: its durable marker's, or Down after a crash",
            ["node"],
            states=list(NODE_ROLES),
            registry=r,
        )
        self.writable = Gauge(
            "baton_node_writable",
            "1 if the node admits writes (at most one node at a time, P6-A1)",
            ["node"],
            registry=r,
        )
        self.promotion_disabled = Gauge(
            "baton_promotion_disabled",
            "1 while the durable 'promotion disabled' switch of a node (or the cluster) is set",
            ["target"],
            registry=r,
        )
        self.lifecycle: dict[str, str] = {}
        self._entered: dict[str, int] = {}
        self._epochs: dict[str, int] = {}
        self._start(header)

    # --- the fold ---

    def _start(self, header: Event) -> None:
        nodes = [str(n) for n in header["nodes"]]
        primary = str(header["initial_primary"])
        epoch = int(header.get("epoch", 1))
        markers: Mapping[str, Any] = (header.get("initial") or {}).get("markers") or {}
        for node in nodes:
            default_role = "Primary" if node == primary else "Replica"
            marker = markers.get(node, {"role": default_role, "epoch": epoch})
            self._set_epoch(node, int(marker["epoch"]))
            self._set_role(node, str(marker["role"]))
            self._set_writable(node, node == primary)
            self.lifecycle[node] = "Steady"
            self._entered[node] = 0
            if self._gauged(node):
                self.promotion_disabled.labels(node).set(0)
        if self._only_node is None:
            self.promotion_disabled.labels(CLUSTER_TARGET).set(0)

    def observe(self, event: Event) -> None:
        """Fold one trace line (the header excepted) into the metrics."""
        kind = str(event["kind"])
        if kind == "header":
            return
        if self._own_clock:
            self._clock += 1
        else:
            self._clock = int(event["seq"])
        self.events.labels(kind).inc()
        for spec, counter in self._by_kind.get(kind, ()):
            if not spec.applies(event):
                continue
            if spec.labels:
                counter.labels(*(value(event) for _, value in spec.labels)).inc()
            else:
                counter.inc()
        handler = _HANDLERS.get(kind)
        if handler is not None:
            handler(self, event)

    def _gauged(self, node: str) -> bool:
        return self._only_node is None or node == self._only_node

    def _set_epoch(self, node: str, epoch: int) -> None:
        self._epochs[node] = epoch
        if self._gauged(node):
            self.epoch.labels(node).set(epoch)

    def _set_role(self, node: str, role: str) -> None:
        if self._gauged(node):
            self.role.labels(node).state(role)

    def _set_writable(self, node: str, writable: bool) -> None:
        if self._gauged(node):
            self.writable.labels(node).set(1 if writable else 0)

    def _leave(self, node: str) -> str:
        """The node's lifecycle state ends now: observe how long it lasted."""
        state = self.lifecycle.get(node, "Steady")
        if state in TIMED_STATES:
            self.state_duration.labels(state).observe(self._clock - self._entered.get(node, 0))
        return state

    def _transition(self, event: Event) -> None:
        node = str(event["node"])
        self._leave(node)
        self.lifecycle[node] = str(event["to"])
        self._entered[node] = self._clock
        lifecycle_event = str(event["event"])
        if lifecycle_event in FAILED_BY_EVENT:
            self.failed.labels(FAILED_BY_EVENT[lifecycle_event]).inc()
        if lifecycle_event == "complete":
            self._set_epoch(node, int(event["epoch"]))
            self._set_role(node, "Primary")
            self._set_writable(node, True)

    def _reject(self, event: Event) -> None:
        # A request refused before it entered the lifecycle (a duplicate, a down candidate).
        self.failed.labels("rejected").inc()

    def _crash(self, event: Event) -> None:
        node = str(event["node"])
        lost = self._leave(node)
        self.crashes.labels(lost).inc()
        if lost in IN_FLIGHT:
            self.failed.labels("crashed").inc()
        self.lifecycle[node] = "Steady"
        self._entered[node] = self._clock
        self._set_role(node, "Down")
        self._set_writable(node, False)

    def _abort(self, event: Event) -> None:
        # The attempt is forgotten, as a crash forgets it, but the node stays up.
        node = str(event["node"])
        self._leave(node)
        self.failed.labels("aborted").inc()
        self.lifecycle[node] = "Steady"
        self._entered[node] = self._clock

    def _disable(self, event: Event) -> None:
        node = event.get("node")
        target = CLUSTER_TARGET if node is None else str(node)
        if (target == CLUSTER_TARGET and self._only_node is None) or (
            target != CLUSTER_TARGET and self._gauged(target)
        ):
            self.promotion_disabled.labels(target).set(1 if event["disabled"] else 0)

    def _restart(self, event: Event) -> None:
        node = str(event["node"])
        self._set_epoch(node, int(event["epoch"]))
        self._set_role(node, str(event["role"]))
        self._set_writable(node, False)  # fenced until reinstated (P6-A3)

    def _marker(self, event: Event) -> None:
        node = str(event["node"])
        role = str(event["role"])
        self._set_epoch(node, int(event["epoch"]))
        self._set_role(node, role)
        if role != "Primary":
            self._set_writable(node, False)

    def _halt(self, event: Event) -> None:
        node = str(event["node"])
        self._set_role(node, "Halted")
        self._set_writable(node, False)

    def _reinstate(self, event: Event) -> None:
        node = str(event["node"])
        self._set_epoch(node, int(event["epoch"]))
        self._set_writable(node, True)

    def _demote(self, event: Event) -> None:
        node = str(event["node"])
        self._set_epoch(node, int(event["epoch"]))
        self._set_role(node, "Replica")
        self._set_writable(node, False)

    def _replicate(self, event: Event) -> None:
        # The receiver adopts the sender's epoch durably before it accepts the entry (P6-A3).
        sender_epoch = event.get("sender_epoch")
        receiver = str(event["to"])
        if sender_epoch is not None and int(sender_epoch) > self._epochs.get(receiver, 0):
            self._set_epoch(receiver, int(sender_epoch))

    # --- output ---

    @property
    def collector(self) -> WithoutCreated:
        """What to expose: the registry without its wall-clock ``_created`` samples."""
        return WithoutCreated(self.registry)

    def exposition(self, *, openmetrics: bool = True) -> bytes:
        """The metrics as text: OpenMetrics 1.0 (with ``# EOF``), or Prometheus 0.0.4."""
        if openmetrics:
            # prometheus_client's OpenMetrics writer has no type hints.
            text: bytes = openmetrics_text(self.collector)  # type: ignore[no-untyped-call]
            return text
        return prometheus_text(self.collector)


class NodeMetricsCollector(Collector):
    """What a live node serves: its metrics once it has them (after 'init'), else nothing."""

    def __init__(self, current: Callable[[], RunMetrics | None]) -> None:
        self._current = current

    def collect(self) -> Iterator[Metric]:
        metrics = self._current()
        if metrics is not None:
            yield from metrics.collector.collect()


class WithoutCreated(Collector):
    """A registry's metrics without the ``_created`` samples.

    prometheus_client stamps every counter and histogram with the wall-clock time it
    was made. The metrics here are on the trace's logical clock, and the same trace
    must give the same text, so those samples are left out (a scraper then takes the
    process start, which is what they would say anyway).
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterator[Metric]:
        for family in self._registry.collect():
            kept = Metric(family.name, family.documentation, family.type, family.unit)
            kept.samples = [s for s in family.samples if not s.name.endswith("_created")]
            yield kept


_HANDLERS: dict[str, Callable[[RunMetrics, Event], None]] = {
    "transition": RunMetrics._transition,
    "reject": RunMetrics._reject,
    "abort": RunMetrics._abort,
    "disable": RunMetrics._disable,
    "crash": RunMetrics._crash,
    "restart": RunMetrics._restart,
    "marker": RunMetrics._marker,
    "halt": RunMetrics._halt,
    "reinstate": RunMetrics._reinstate,
    "demote": RunMetrics._demote,
    "replicate": RunMetrics._replicate,
}
"""Event kinds that change a gauge, the histogram or the failure count (beyond counting)."""


METRICS: tuple[MetricDoc, ...] = (
    *(
        MetricDoc(
            f"{spec.name}_total", "counter", tuple(name for name, _ in spec.labels), spec.observes
        )
        for spec in COUNTED_EVENTS
    ),
    MetricDoc(
        "baton_promotions_failed_total",
        "counter",
        ("outcome",),
        "'transition' lines with event deny or reject, 'reject' lines, 'abort' lines, and a "
        "'crash' of a candidate whose attempt was in flight (P6-F2: a crash forgets the "
        "attempt; P6-F3: nothing retries it)",
    ),
    MetricDoc(
        "baton_crashes_total",
        "counter",
        ("lifecycle_state",),
        "'crash' lines; the label is the candidate's lifecycle state the crash ended (P6-F2)",
    ),
    MetricDoc("baton_trace_events_total", "counter", ("kind",), "every line after the header"),
    MetricDoc(
        "baton_lifecycle_state_duration_events",
        "histogram",
        ("state",),
        "'transition' lines (and a 'crash' or an 'abort', which end the state): the seq "
        "distance between entering and leaving a state of the spec's lifecycle (P6-D2)",
    ),
    MetricDoc(
        "baton_authority_epoch",
        "gauge",
        ("node",),
        "the header's epoch, then 'marker', 'restart', 'reinstate', 'demote', a 'complete' "
        "transition and a replicate's sender_epoch (P6-A3: epochs never go back)",
    ),
    MetricDoc(
        "baton_node_role",
        "stateset",
        ("node",),
        "the header's initial primary, then 'marker', 'complete', 'halt', 'crash' (Down), "
        "'restart' and 'demote' lines",
    ),
    MetricDoc(
        "baton_promotion_disabled",
        "gauge",
        ("target",),
        "'disable' lines: the switch's last value per node and for the cluster (target "
        "'cluster'); while either is set the validator sees the role Disabled and denies "
        "with candidate_disabled",
    ),
    MetricDoc(
        "baton_node_writable",
        "gauge",
        ("node",),
        "write authority: the initial primary, a 'complete' transition or a 'reinstate' give "
        "it; a crash, restart, halt, demotion or a non-Primary marker take it (P6-A1: the sum "
        "over nodes is at most 1)",
    ),
)
"""Every metric this module exposes (docs/metrics.md lists exactly these)."""


def from_events(events: Iterable[Event]) -> RunMetrics:
    """The metrics of a whole trace, given as its events (header first)."""
    iterator = iter(events)
    metrics = RunMetrics(next(iterator))
    for event in iterator:
        metrics.observe(event)
    return metrics


def from_trace(stream: IO[str] | IO[bytes], source: str = "<trace>") -> RunMetrics:
    """The metrics of a trace file, read and validated by the strict reader.

    Raises :class:`baton.errors.InputError` (line and field) on a malformed line."""
    return from_events(event for _, event in trace.read_events(stream, source))


class TraceTap:
    """A text stream that feeds every trace line written to it into :class:`RunMetrics`.

    ``baton run --metrics`` gives this to the runtime as its trace stream, so the
    metrics come from the very lines the trace holds (and from the earlier lines of
    a continued trace, ``kept``). Writes are passed on to ``inner`` when a trace
    file is kept as well.
    """

    def __init__(self, inner: Any = None, kept: str = "") -> None:
        self._inner = inner
        self._partial = ""
        self.metrics: RunMetrics | None = None
        if kept:
            self._feed(kept)

    def _feed(self, text: str) -> None:
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        for line in lines:
            if not line:
                continue
            event = json.loads(line)
            if self.metrics is None:
                self.metrics = RunMetrics(event)
            else:
                self.metrics.observe(event)

    def write(self, text: str) -> int:
        if self._inner is not None:
            self._inner.write(text)
        self._feed(text)
        return len(text)

    def flush(self) -> None:
        if self._inner is not None:
            self._inner.flush()

    def close(self) -> None:
        if self._inner is not None:
            self._inner.close()


def write_exposition(path: str, metrics: RunMetrics | None) -> None:
    """Write the OpenMetrics text to ``path`` ('-': standard output), in one go."""
    import sys

    from baton.storage import write_artifact

    text = metrics.exposition() if metrics is not None else b"# EOF\n"
    if path == "-":
        sys.stdout.buffer.write(text)
        sys.stdout.flush()
        return
    # An output a crash may simply make the user regenerate: not synced (baton.storage).
    write_artifact(path, text.decode("utf-8"))
