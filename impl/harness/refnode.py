"""``baton node``: the reference runtime as one OS process per node.

The process speaks the node protocol (:mod:`baton.harness.protocol`) and
decides nothing itself: every decision is a step of the pure core
(:func:`baton.core.step`) on a *local view*, a :class:`~baton.core.ClusterState`
in which only this node's own entry is authoritative. The other entries are
this node's latest beliefs about its peers, learnt only from their messages:

* a primary's ``replicate`` message carries its marker, epoch, writability and
  WAL; the receiver updates its belief of the sender and then takes the
  core's own steps (Replicate, which adopts the epoch first; Diverge; Demote;
  StepDown) exactly as far as the core enables them on that view;
* a promotion request first *probes* every peer (``probe`` / ``probe_ok``,
  routed through the workbench's network). Peers that answer are entered in
  the view as they described themselves; a peer that stays silent for
  ``PROBE_TICKS`` ticks is entered as down, and the validator is told the old
  primary's status is uncertain *and* that no bound on acknowledged writes is
  proven (a silent peer may hold a newer epoch with acknowledged writes).
  So a partitioned or paused primary is Unknown to the candidate, and force
  can stand in for its status but never for the missing bound (fail closed,
  P6-F1). Then Request, BeginValidation, Decide and, if approved,
  BeginTransition, the four marker operations and Complete are core steps,
  taken in one go; the node acknowledges the outcome itself when it answers
  the operator (the answer is the acknowledgement).

Attempts are serialised cluster-wide the way the core serialises them on a
whole-cluster state: a node that is gathering facts for a request answers
probes as busy, and a candidate whose view shows a peer in an attempt is
refused (DuplicateRequest) -- of two concurrent candidates at least one sees
the other. A node never regains write authority after a restart (it comes up
fenced, :func:`baton.core.recover`, and this process has no reinstate); the
way back to a writable cluster is a promotion.

Durable effects go through :class:`baton.node.Node` on the node's directory,
which is locked for the life of the process (:class:`baton.dirlock.DirectoryLock`).
Trace events are the runtime's own (:class:`baton.events.Recorder`), sent to
the workbench as ``event`` messages. With ``metrics`` (``baton node
--metrics-port``), the same events are also folded into this node's metrics
(:class:`baton.metrics.RunMetrics`), served on loopback by :func:`serve`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

from baton import core, trace
from baton.dirlock import DirectoryLock
from baton.errors import BatonError, ProtocolError, UsageError
from baton.events import Recorder
from baton.harness import protocol
from baton.identity import IDENTITY_FILE
from baton.metrics import NodeMetricsCollector, RunMetrics
from baton.node import Node
from baton.storage import PosixDisk
from prometheus_client import start_http_server

METRICS_ADDRESS = "127.0.0.1"
"""The only address ``--metrics-port`` binds: the metrics are for this host's scraper."""
PROBE_TICKS = 8
"""How many ticks a candidate waits for its peers' answers before it decides without them."""
HEARTBEAT_TICKS = 1
"""A node holding a primary marker sends its state to every peer this often (in ticks)."""

Send = Callable[[dict[str, Any]], None]


@dataclass
class Probe:
    """A promotion request waiting for its peers' answers (volatile: a crash forgets it)."""

    attempt: str
    force: bool
    operator: str
    reason: str
    reply_to: tuple[str, int | None]
    round: str
    deadline: int
    answers: dict[int, dict[str, Any]] = field(default_factory=dict)


def _entries(wal: tuple[core.Entry, ...]) -> list[list[int]]:
    return [[epoch, lsn] for epoch, lsn in wal]


def _wal(value: Any) -> tuple[core.Entry, ...]:
    return tuple((int(e), int(p)) for e, p in value)


class ReferenceNode:
    """One node's process state: its directory, its local view, its pending request."""

    def __init__(self, send: Send, data_dir: str | None = None, metrics: bool = False) -> None:
        self.send = send
        self.fixed_dir = data_dir
        self.with_metrics = metrics
        self.metrics: RunMetrics | None = None
        self.lock: DirectoryLock | None = None
        self.me = -1
        self.names: tuple[str, ...] = ()
        self.view: core.ClusterState | None = None
        self.node: Node | None = None
        self.recorder: Recorder | None = None
        self.incarnation = 0
        self.now = 0
        self.next_id = 0
        self.rounds = 0
        self.probe: Probe | None = None
        self.attempt_ids: dict[str, str] = {}

    # --- plumbing ---

    @property
    def name(self) -> str:
        return self.names[self.me]

    def _send(self, dest: str, body: dict[str, Any]) -> None:
        self.next_id += 1
        self.send({"src": self.name, "dest": dest, "body": {"msg_id": self.next_id, **body}})

    def _reply(self, msg: dict[str, Any], body: dict[str, Any]) -> None:
        self._send(msg["src"], {**body, "in_reply_to": msg["body"].get("msg_id")})

    def _error(self, msg: dict[str, Any], code: str, text: str) -> None:
        self._reply(msg, {"type": "error", "code": code, "text": text})

    @property
    def state(self) -> core.ClusterState:
        assert self.view is not None, "init comes first"
        return self.view

    @property
    def mine(self) -> core.NodeState:
        return self.state.nodes[self.me]

    def _flush_events(self) -> None:
        assert self.recorder is not None
        for event in self.recorder.events:
            if "attempt" in event:
                event["attempt"] = self.attempt_ids.get(event["attempt"], event["attempt"])
            if self.metrics is not None:
                self.metrics.observe(event)
            self._send(protocol.HARNESS, {"type": "event", "event": event})
        self.recorder.events.clear()

    def apply(self, action: core.Action) -> tuple[core.Effect, ...]:
        """One core step on the local view; perform this node's durable effects in order."""
        assert self.node is not None and self.recorder is not None
        after, effects = core.step(self.state, action)
        for effect in effects:
            match effect:
                case core.AppendWal(node=i, entry=entry):
                    self._own(i)
                    self.node.append(entry)
                case core.SyncWal(node=i):
                    self._own(i)
                    self.node.sync()
                case core.PersistMarker(node=i, role=role, epoch=epoch, halt_reason=halt):
                    self._own(i)
                    self.node.persist_marker(role, epoch, self._holder(after), halt)
                case core.MarkerFileOp(node=i, op=op, epoch=epoch):
                    self._own(i)
                    self.node.marker_op(op, epoch)
        self.view = after
        self.recorder.record(effects)
        return effects

    def _own(self, i: int) -> None:
        if i != self.me:  # the core only ever asks a node to write its own directory
            raise AssertionError(f"{self.name} asked to perform n{i}'s durable effect")

    def _holder(self, s: core.ClusterState) -> str:
        """The authority a replica marker names: the primary with the highest epoch it knows."""
        primary = core.old_primary(s)
        if primary is not None and primary != self.me:
            return self.names[primary]
        others = [j for j in range(s.n) if j != self.me]
        return self.names[max(others, key=lambda j: s.nodes[j].durable.epoch)]

    def _believe(self, j: int, durable: core.Durable, volatile: core.Volatile | None) -> None:
        """Replace the belief about peer ``j`` (never this node's own entry)."""
        assert j != self.me
        old = self.state.nodes[j]
        self.view = self.state.with_node(j, replace(old, durable=durable, volatile=volatile))

    # --- messages ---

    def handle(self, msg: dict[str, Any]) -> None:
        body = msg["body"]
        kind = body["type"]
        if kind == "init":
            self._init(msg)
            return
        if self.view is None:
            self._error(msg, "malformed", "the first message must be init")
            return
        handler = {
            "tick": self._tick,
            "write": self._write,
            "read": self._read,
            "status": self._status,
            "promote": self._promote,
            "probe": self._probe,
            "probe_ok": self._probe_ok,
            "replicate": self._replicate,
        }.get(kind)
        if handler is None:
            self._error(msg, "unsupported", f"unknown message type {kind!r}")
            return
        handler(msg)
        self._flush_events()

    def _init(self, msg: dict[str, Any]) -> None:
        body = msg["body"]
        names = tuple(body["node_ids"])
        me = names.index(body["node_id"])
        mode = body["mode"]
        if mode != "async":
            self._reply_raw(msg, body["node_id"], "unsupported", "this node runs async mode only")
            return
        self.names, self.me = names, me
        self.incarnation = int(body.get("incarnation", 0))
        data_dir = self.fixed_dir or body["data_dir"]
        Path(data_dir).mkdir(parents=True, exist_ok=True)
        self.lock = DirectoryLock(data_dir).acquire()  # held until the process ends
        disk = PosixDisk(data_dir)
        self.node = Node(self.name, disk)
        initial = names.index(body["initial_primary"])
        self.recorder = Recorder(names, mode, names[initial])
        if self.with_metrics:
            # Events carry no seq here (the workbench numbers them): the node counts its
            # own; gauges only for this node (its peers are beliefs, docs/metrics.md).
            header = trace.header(names, mode, names[initial])
            self.metrics = RunMetrics(header, own_clock=True, only_node=self.name)
        fresh = core.initial_state(len(names), mode)
        if initial != 0:  # the core numbers the initial primary 0; rename by swapping roles
            nodes = list(fresh.nodes)
            nodes[0], nodes[initial] = nodes[initial], nodes[0]
            fresh = replace(fresh, nodes=tuple(nodes))
        if not disk.exists(IDENTITY_FILE):
            self.node.initialise(holder=names[initial], epoch=1, token=f"{me}")
            self.view = fresh
        else:
            found = self.node.recover()  # refuses a corrupt marker or WAL: never a guess
            if not found.wal_report.clean:
                print(f"{self.name}: WAL recovery: {found.wal_report.describe()}", file=sys.stderr)
            # Peers are unknown until they speak; this node is down until Restart.
            unknown = tuple(
                replace(n, volatile=None) if j != me else core.NodeState(found.durable, None)
                for j, n in enumerate(fresh.nodes)
            )
            self.view = replace(fresh, nodes=unknown)
            self.apply(core.Restart(me))
        self._reply(
            msg, {"type": "init_ok", "protocol": protocol.VERSION, "emits": list(trace.FAMILIES)}
        )
        self._flush_events()

    def _reply_raw(self, msg: dict[str, Any], src: str, code: str, text: str) -> None:
        self.send(
            {
                "src": src,
                "dest": msg["src"],
                "body": {
                    "type": "error",
                    "code": code,
                    "text": text,
                    "in_reply_to": msg["body"].get("msg_id"),
                },
            }
        )

    def _tick(self, msg: dict[str, Any]) -> None:
        self.now = int(msg["body"]["time"])
        if self.probe is not None and self.now >= self.probe.deadline:
            self._decide()
        mine = self.mine
        if mine.durable.marker_role == "Primary" and self.now % HEARTBEAT_TICKS == 0:
            beat = {
                "type": "replicate",
                "epoch": mine.durable.epoch,
                "writable": mine.writable,
                "entries": _entries(mine.durable.wal),
            }
            for j, peer in enumerate(self.names):
                if j != self.me:
                    self._send(peer, beat)
        self._flush_events()
        self._reply(msg, {"type": "tick_ok"})

    def _write(self, msg: dict[str, Any]) -> None:
        if not self.mine.writable:
            self._error(msg, "not_primary", f"{self.name} does not admit writes")
            return
        self.apply(core.Write(self.me))
        self.apply(core.Ack(self.me))  # async mode: durable locally is acknowledged
        epoch, lsn = self.mine.durable.wal[-1]
        self._reply(msg, {"type": "write_ok", "epoch": epoch, "lsn": lsn})

    def _read(self, msg: dict[str, Any]) -> None:
        mine = self.mine
        self._reply(
            msg,
            {
                "type": "read_ok",
                "entries": _entries(mine.durable.wal),
                "epoch": mine.durable.epoch,
                "writable": mine.writable,
            },
        )

    def _self_report(self) -> dict[str, Any]:
        mine = self.mine
        return {
            "role": mine.durable.marker_role,
            "epoch": mine.durable.epoch,
            "writable": mine.writable,
            "wal_end": len(mine.durable.wal),
            "lifecycle": mine.lifecycle,
        }

    def _status(self, msg: dict[str, Any]) -> None:
        self._reply(msg, {"type": "status_ok", **self._self_report()})

    # --- replication ---

    def _replicate(self, msg: dict[str, Any]) -> None:
        body = msg["body"]
        p = self.names.index(msg["src"])
        durable = core.Durable("Primary", int(body["epoch"]), _wal(body["entries"]))
        self._believe(p, durable, core.Volatile(active=bool(body["writable"])))
        if core.refusal(self.state, core.StepDown(self.me)) is None:
            self.apply(core.StepDown(self.me))
        if core.refusal(self.state, core.Demote(self.me)) is None:
            self.apply(core.Demote(self.me))
        for _ in range(len(durable.wal) + 1):
            if core.refusal(self.state, core.Replicate(p, self.me)) is None:
                self.apply(core.Replicate(p, self.me))
            elif core.refusal(self.state, core.Diverge(p, self.me)) is None:
                self.apply(core.Diverge(p, self.me))
                break
            else:
                break

    # --- promotion ---

    def _promote(self, msg: dict[str, Any]) -> None:
        body = msg["body"]
        attempt = str(body["attempt"])
        if self.probe is not None:
            # A second request while this node gathers facts for one: refused, recorded.
            self._start_attempt(attempt, bool(body["force"]), body)
            assert self.recorder is not None
            self.recorder.request_refused(self.me, "duplicate_request", "already gathering facts")
            self._reply(msg, self._outcome(attempt, "rejected", "duplicate_request"))
            return
        self.rounds += 1
        self.probe = Probe(
            attempt=attempt,
            force=bool(body["force"]),
            operator=str(body["operator"]),
            reason=str(body["reason"]),
            reply_to=(msg["src"], body.get("msg_id")),
            round=f"{self.incarnation}.{self.rounds}",
            deadline=self.now + PROBE_TICKS,
        )
        for j, peer in enumerate(self.names):
            if j != self.me:
                self._send(peer, {"type": "probe", "round": self.probe.round})

    def _probe(self, msg: dict[str, Any]) -> None:
        mine = self.mine
        self._reply(
            msg,
            {
                "type": "probe_ok",
                "round": msg["body"]["round"],
                **self._self_report(),
                "entries": _entries(mine.durable.wal),
                "busy": self.probe is not None,
            },
        )

    def _probe_ok(self, msg: dict[str, Any]) -> None:
        body = msg["body"]
        if self.probe is None or body.get("round") != self.probe.round:
            return  # an answer to a round this process no longer waits for
        self.probe.answers[self.names.index(msg["src"])] = body
        if len(self.probe.answers) == len(self.names) - 1:
            self._decide()

    def _start_attempt(self, attempt: str, force: bool, body: dict[str, Any]) -> None:
        assert self.recorder is not None
        local = self.recorder.request_arrived(
            self.me, force, str(body.get("operator", "")), body.get("reason")
        )
        self.attempt_ids[local] = attempt

    def _decide(self) -> None:
        """Every peer answered, or the deadline passed: the core decides on the view."""
        probe, self.probe = self.probe, None
        assert probe is not None
        silent = False
        for j in range(len(self.names)):
            if j == self.me:
                continue
            answer = probe.answers.get(j)
            belief = self.state.nodes[j]
            if answer is None:
                silent = True
                self._believe(j, belief.durable, None)
                continue
            role = str(answer["role"])
            durable = core.Durable(role, int(answer["epoch"]), _wal(answer["entries"]))
            lifecycle = "PromotionRequested" if answer.get("busy") else str(answer["lifecycle"])
            volatile = core.Volatile(active=bool(answer["writable"]), lifecycle=lifecycle)
            self._believe(j, durable, volatile)
        self._start_attempt(
            probe.attempt, probe.force, {"operator": probe.operator, "reason": probe.reason}
        )
        assert self.recorder is not None
        request = core.Request(self.me, probe.force)
        why = core.refusal(self.state, request)
        if why is not None:
            code = "duplicate_request" if self.state.in_flight() is not None else "inapplicable"
            self.recorder.request_refused(self.me, code, why)
            self._answer(probe, self._outcome(probe.attempt, "rejected", code))
            return
        self.apply(request)
        self.apply(core.BeginValidation(self.me))
        # A silent peer: its status is uncertain and, as it may hold a newer epoch with
        # acknowledged writes, no bound on acknowledged writes is proven (P6-F1). Nor is
        # one while a peer admits writes: it may acknowledge more after it answered.
        writing = any(n.writable for j, n in enumerate(self.state.nodes) if j != self.me)
        observation = core.Observation(
            primary_uncertain=silent, bound_known=not (silent or writing)
        )
        self.apply(core.Decide(self.me, observation))
        if self.mine.lifecycle == "PromotionApproved":
            self.apply(core.BeginTransition(self.me))
            for op in core.MARKER_OPS:
                self.apply(core.MarkerOp(self.me, op))
            self.apply(core.Complete(self.me))
        succeeded = self.mine.lifecycle == "PromotionSucceeded"
        reason = self.mine.record.reason
        self.apply(core.Acknowledge(self.me))
        outcome = "succeeded" if succeeded else "denied"
        self._answer(probe, self._outcome(probe.attempt, outcome, reason))

    def _outcome(self, attempt: str, outcome: str, reason: str) -> dict[str, Any]:
        return {
            "type": "promote_ok",
            "attempt": attempt,
            "outcome": outcome,
            "reason": reason,
            "epoch": self.mine.durable.epoch,
        }

    def _answer(self, probe: Probe, body: dict[str, Any]) -> None:
        dest, msg_id = probe.reply_to
        self._send(dest, {**body, "in_reply_to": msg_id})


def serve(
    stdin: IO[str], stdout: IO[str], data_dir: str | None = None, metrics_port: int | None = None
) -> int:
    """Read protocol lines until end of input; one JSON line out per message sent.

    ``metrics_port``: also serve this node's metrics over HTTP on 127.0.0.1 (0: a free
    port, printed on standard error) until this function returns. Raises
    :class:`baton.errors.UsageError` when the port cannot be bound.
    """

    def send(msg: dict[str, Any]) -> None:
        stdout.write(json.dumps(msg, separators=(",", ":")) + "\n")

    node = ReferenceNode(send, data_dir, metrics=metrics_port is not None)
    if metrics_port is None:
        return _serve_lines(node, stdin, stdout)
    # Loopback only, never another interface; the server thread is a daemon and is
    # shut down here, so it stops with the node.
    try:
        server, _ = start_http_server(
            metrics_port, addr=METRICS_ADDRESS, registry=NodeMetricsCollector(lambda: node.metrics)
        )
    except OSError as exc:
        raise UsageError(
            f"--metrics-port {metrics_port}: cannot serve on {METRICS_ADDRESS}: "
            f"{exc.strerror or exc}"
        ) from None
    try:
        host, port = server.server_address[:2]
        print(f"baton node: metrics on http://{host!s}:{port}/metrics", file=sys.stderr, flush=True)
        return _serve_lines(node, stdin, stdout)
    finally:
        server.shutdown()
        server.server_close()


def _serve_lines(node: ReferenceNode, stdin: IO[str], stdout: IO[str]) -> int:
    for raw in stdin:
        line = raw.strip()
        if not line:
            continue
        try:
            msg = protocol.check_message(json.loads(line))
        except (ValueError, protocol.ProtocolViolation) as exc:
            print(f"baton node: ignoring a malformed line: {exc}", file=sys.stderr)
            continue
        try:
            node.handle(msg)
        except ProtocolError as exc:  # a refused core step: nothing changed
            print(f"{node.name if node.names else 'node'}: refused: {exc}", file=sys.stderr)
        except BatonError as exc:
            # Storage failures and refusals to start end the process (fail closed).
            print(f"baton node: {exc}", file=sys.stderr)
            stdout.flush()
            return 2
        stdout.flush()
    return 0
