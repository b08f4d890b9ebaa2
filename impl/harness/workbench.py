"""One ``baton test`` run: node processes, a seeded network, clients, an operator, a nemesis.

The run is a loop over the workbench's own clock (ticks). In every tick, in
this order:

1. the nemesis injects the faults its seeded plan has for this tick (SIGKILL
   and restart from the same directory, SIGSTOP / SIGCONT, partitions);
2. the operator (a runbook) and the clients send their requests;
3. the network delivers the node-to-node messages due now, in the order
   they were scheduled;
4. every running node gets a ``tick`` and the workbench waits for its
   ``tick_ok``; what a node wrote before it is this tick's output, read in
   node order: replies, events for the trace, messages for the network.

Because every node answers the tick only after handling all earlier input,
each node's output in a tick depends only on its input, never on how fast
the machine is; faults land between ticks, on quiescent processes. So with
a deterministic node the same seed gives the same run, message for message
(docs/harness.md says exactly what is and is not deterministic).

Everything is recorded as one Baton trace: the nodes' own events, the
crashes the nemesis caused, and what the clients, the operator and the
nemesis did and saw (kinds ``client``, ``operator``, ``fault``).
"""

from __future__ import annotations

import queue
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from baton import trace
from baton.errors import InputError
from baton.harness import protocol
from baton.harness.network import Network, NetworkConfig
from baton.harness.process import EOF, NodeProcess

QUIESCE_TICKS = 25
"""The last ticks of a run inject no new faults: everything heals, resumes, restarts."""
CLIENT_TIMEOUT = 6
PROMOTE_TIMEOUT = 12
OPERATOR_PERIOD = 5
FINAL_READER = "final"
"""The client that reads every node's WAL just before the run ends."""
FORCED_SWITCHOVER = 0.12
"""Per operator decision with a healthy primary: the runbook's mistake of forcing a switchover."""


STOP = threading.Event()
"""Set by a signal handler (Ctrl-C, SIGTERM): the run stops at its next safe point.

Never raising from inside the handler keeps every process start and kill whole:
an exception in the middle of starting a process could leave it running."""


class Interrupted(Exception):
    """The run stopped because :data:`STOP` was set."""


class RunAborted(Exception):
    """The run could not go on (a node broke the protocol's barrier); carries why."""


@dataclass(frozen=True)
class RunConfig:
    argv: tuple[str, ...]
    run_dir: Path
    nodes: int = 3
    seed: int = 0
    ticks: int = 150
    clients: int = 2
    tick_timeout: float = 20.0
    max_messages: int = 100_000
    deadline: float | None = None
    network: NetworkConfig = field(default_factory=NetworkConfig)


@dataclass
class Window:
    """One planned fault: what, when, for how long."""

    what: str
    start: int
    duration: int
    nodes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Pending:
    """A client request in flight (answered late, it still counts as what it is)."""

    client: str
    op: str
    node: str
    invoked: int


@dataclass(frozen=True)
class OperatorRequest:
    """The operator's promotion request waiting for its outcome."""

    attempt: str
    node: str
    force: bool
    sent: int


@dataclass
class RunResult:
    """What a run left behind, for the judge and the report."""

    config: RunConfig
    events: list[dict[str, Any]]
    header: dict[str, Any]
    faults: Counter[str] = field(default_factory=Counter)
    promotions: Counter[str] = field(default_factory=Counter)
    network: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    stopped_early: str | None = None
    ticks_run: int = 0
    seconds: float = 0.0


def plan_faults(rng: random.Random, ticks: int) -> list[Window]:
    """The nemesis's seeded plan: one kill, one pause, one partition, up to two more."""
    kinds = ["kill", "pause", "partition"]
    kinds += [rng.choice(("kill", "pause", "partition")) for _ in range(rng.randint(0, 2))]
    rng.shuffle(kinds)
    windows: list[Window] = []
    cursor = 6
    for what in kinds:
        start = cursor + rng.randint(3, 10)
        duration = rng.randint(6, 18)
        if start + duration >= ticks - QUIESCE_TICKS:
            break
        windows.append(Window(what, start, duration))
        cursor = start + duration
    # Extras drawn early can fill the run before a required kind's turn: the last window of
    # a kind planned twice takes the missing kind (seeds whose plan was whole keep it). A run
    # too short for three windows (--ticks well below the default) may still lack one.
    for missing in ("kill", "pause", "partition"):
        if all(w.what != missing for w in windows):
            kinds_planned = [w.what for w in windows]
            spare = next((w for w in reversed(windows) if kinds_planned.count(w.what) > 1), None)
            if spare is not None:
                spare.what = missing
    return windows


LAST_WORDS_LIMIT = 200
"""Characters of a node's last stderr line quoted in a protocol problem."""


def last_log_line(path: Path) -> str:
    """The last non-blank line of a node's stderr log ("" if none or unreadable), shortened."""
    try:
        with open(path, "rb") as log:
            log.seek(0, 2)
            size = log.tell()
            log.seek(max(0, size - 4096))
            tail = log.read().decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [line.strip() for line in tail.splitlines() if line.strip()]
    if not lines:
        return ""
    last = lines[-1]
    return last if len(last) <= LAST_WORDS_LIMIT else last[: LAST_WORDS_LIMIT - 3] + "..."


class Workbench:
    """Runs one seed. Use :meth:`run`; it always stops every process it started."""

    def __init__(self, config: RunConfig) -> None:
        self.config = config
        self.names = [f"n{i}" for i in range(config.nodes)]
        seed = config.seed
        # One random stream per concern, so a change in one never shifts the others.
        self.rng_net = random.Random(f"{seed}:network")
        self.rng_nemesis = random.Random(f"{seed}:nemesis")
        self.rng_clients = random.Random(f"{seed}:clients")
        self.rng_operator = random.Random(f"{seed}:operator")
        self.network = Network(self.rng_net, config.network)
        self.procs: dict[str, NodeProcess | None] = {n: None for n in self.names}
        self.incarnation: dict[str, int] = dict.fromkeys(self.names, -1)
        self.node_dirs = {n: config.run_dir / "nodes" / n for n in self.names}
        self.log_dir = config.run_dir / "logs"
        self.held: dict[str, list[dict[str, Any]]] = {n: [] for n in self.names}
        self.events: list[dict[str, Any]] = []
        self.now = 0
        self.msg_id = 0
        self.messages = 0
        self.emits: list[set[str] | None] = []
        self.primary_hint: str | None = self.names[0]
        self.result_faults: Counter[str] = Counter()
        self.promotions: Counter[str] = Counter()
        self.problems: list[str] = []
        # clients
        self.client_names = [f"c{i}" for i in range(config.clients)]
        self.client_busy: dict[str, int | None] = dict.fromkeys(self.client_names)
        self.requests: dict[tuple[str, int], Pending] = {}
        # operator
        self.op_pending: OperatorRequest | None = None
        self.op_sent: dict[str, OperatorRequest] = {}
        self.op_answers: dict[str, dict[str, Any]] = {}
        self.op_round: set[int] = set()
        self.op_attempts = 0
        self.force_next: str | None = None
        self.plan = plan_faults(self.rng_nemesis, config.ticks)
        self.partitioned: list[str] = []

    # --- recording ---

    def record(self, event: dict[str, Any]) -> None:
        event = dict(event)
        meta = dict(event.get("meta", {}))
        meta["tick"] = self.now
        event["meta"] = meta
        self.events.append(event)

    def problem(self, text: str) -> None:
        self.problems.append(f"tick {self.now}: {text}")

    # --- processes ---

    def _next_id(self) -> int:
        self.msg_id += 1
        return self.msg_id

    def start(self, name: str) -> None:
        self.incarnation[name] += 1
        inc = self.incarnation[name]
        directory = self.node_dirs[name]
        directory.mkdir(parents=True, exist_ok=True)
        argv = [
            a.replace("{dir}", str(directory)).replace("{node}", name) for a in self.config.argv
        ]
        proc = NodeProcess(argv, name, inc, self.log_dir / f"{name}.stderr", None)
        self.procs[name] = proc
        msg_id = self._next_id()
        proc.send(
            {
                "src": protocol.HARNESS,
                "dest": name,
                "body": {
                    "type": "init",
                    "msg_id": msg_id,
                    "node_id": name,
                    "node_ids": self.names,
                    "initial_primary": self.names[0],
                    "mode": "async",
                    "data_dir": str(directory),
                    "incarnation": inc,
                    "protocol": protocol.VERSION,
                },
            }
        )
        self._await(proc, msg_id, "init_ok")

    def kill(self, name: str, why: str) -> None:
        proc = self.procs[name]
        if proc is None:
            return
        proc.kill()
        self.procs[name] = None
        self.held[name].clear()
        self.record(trace.fault("kill", [name], why))
        self._record_crash(name)
        self.result_faults["kill"] += 1
        if self.primary_hint == name:
            self.primary_hint = None

    def _record_crash(self, name: str) -> None:
        """The trace's crash event, when the nodes report their restarts (durability events):
        a crash the trace cannot see the node recover from would leave it down for good."""
        emits = self._emits()
        if emits is not None and "durability" in emits:
            self.record(trace.crash(name))

    def stop_all(self) -> None:
        """SIGKILL every process still running (also paused ones); idempotent."""
        for name, proc in self.procs.items():
            if proc is not None:
                proc.kill()
                self.procs[name] = None

    def _deliver(self, name: str, msg: dict[str, Any]) -> None:
        proc = self.procs[name]
        if proc is None:
            self.network.stats["dropped_dead"] += 1
            return
        if proc.paused:
            self.held[name].append(msg)  # in its socket buffer: read when it wakes
            return
        if not proc.send(msg):
            self.network.stats["dropped_dead"] += 1

    def _await(self, proc: NodeProcess, msg_id: int, reply: str) -> None:
        """Read ``proc``'s output until its answer to ``msg_id``; handle every line before it."""
        limit = time.monotonic() + self.config.tick_timeout
        while True:
            remaining = limit - time.monotonic()
            if remaining <= 0:
                raise RunAborted(
                    f"{proc.name} did not answer {reply.removesuffix('_ok')} within "
                    f"{self.config.tick_timeout:.0f} s (the protocol requires an answer to "
                    "every tick, after all earlier input; a node that does not flush its "
                    "standard output after every line looks like this)"
                )
            if STOP.is_set():
                raise Interrupted
            try:
                item = proc.lines.get(timeout=min(remaining, 0.2))
            except queue.Empty:
                continue
            if item is EOF:
                self._exited(proc)
                return
            if isinstance(item, tuple):
                self.problem(
                    f"{proc.name} wrote a line that is not JSON: {item[1]!r} (standard output "
                    "carries protocol messages only; log to standard error)"
                )
                continue
            body = item.get("body") if isinstance(item, dict) else None
            if (
                reply == "init_ok"
                and isinstance(body, dict)
                and body.get("type") == "error"
                and body.get("in_reply_to") == msg_id
            ):
                raise RunAborted(f"{proc.name} refused init: {body.get('text')}")
            if (
                isinstance(body, dict)
                and body.get("type") == reply
                and body.get("in_reply_to") != msg_id
            ):
                # The answer came, but not tied to its request: waiting out the timeout would
                # then end in "did not answer", which the node's author cannot square with a
                # log that shows the answer.
                request = reply.removesuffix("_ok")
                got = (
                    "without in_reply_to"
                    if "in_reply_to" not in body
                    else f"with in_reply_to {body['in_reply_to']!r}"
                )
                raise RunAborted(
                    f"{proc.name} answered {request} (msg_id {msg_id}) with {reply} {got}: "
                    f"a reply carries in_reply_to, the msg_id of the request it answers"
                )
            if (
                isinstance(body, dict)
                and body.get("type") == reply
                and body.get("in_reply_to") == msg_id
            ):
                if reply == "init_ok":
                    emits = body.get("emits")
                    if proc.incarnation == 0:
                        self.emits.append(
                            {e for e in emits if e in trace.FAMILIES}
                            if isinstance(emits, list)
                            else None
                        )
                return
            self._output(proc, item)

    def _exited(self, proc: NodeProcess) -> None:
        """The process ended by itself (not by the nemesis): a crash, recorded as one."""
        code = proc.popen.wait()
        proc.reap()
        self.procs[proc.name] = None
        self.record(trace.fault("exit", [proc.name], f"exit status {code}"))
        self._record_crash(proc.name)
        last = last_log_line(self.log_dir / f"{proc.name}.stderr")
        # Its last words usually say why (a mistyped --bin path, an import error), so a
        # reader need not open the log to find out.
        self.problem(
            f"{proc.name} exited by itself with status {code} "
            + (f"(its log ends: {last})" if last else "(see its log)")
        )

    # --- what nodes write ---

    def _output(self, proc: NodeProcess, msg: Any) -> None:
        try:
            protocol.check_message(msg)
        except protocol.ProtocolViolation as exc:
            self.problem(f"{proc.name} broke the protocol: {exc}")
            return
        if msg["src"] != proc.name:
            self.problem(f"{proc.name} wrote a message as {msg['src']!r}")
            return
        self.messages += 1
        dest, body = msg["dest"], msg["body"]
        if dest == protocol.HARNESS:
            if body["type"] == "event":
                self._node_event(proc.name, body["event"])
            elif body["type"] == "error":
                self.problem(f"{proc.name} reports an error: {body.get('text')}")
        elif dest in self.procs:
            self.network.send(msg, self.now, proc.incarnation, self.incarnation[dest])
        elif dest in self.client_busy or dest == FINAL_READER:
            self._client_answer(proc.name, msg)
        elif dest == protocol.OPERATOR:
            self._operator_answer(proc.name, body)
        else:
            self.problem(f"{proc.name} wrote to unknown address {dest!r}")

    def _node_event(self, name: str, event: Any) -> None:
        if not isinstance(event, dict) or event.get("kind") in (None, "header", "end"):
            self.problem(f"{name} reported something that is not a trace event: {event!r:.120}")
            return
        try:
            checked = trace.validate_event(
                name, 0, {**event, "seq": 0}, frozenset(self.names), None
            )
        except InputError as exc:
            # Name the event by its kind (and attempt), not by the validator's
            # "source:line" prefix: the event has no trace line yet, it was dropped.
            what = f"kind {event.get('kind')!r}"
            if isinstance(event.get("attempt"), str):
                what += f", attempt {event['attempt']!r}"
            field = f"field {exc.field!r}: " if exc.field is not None else ""
            self.problem(
                f"{name} reported a malformed trace event ({what}), dropped from the trace: "
                f"{field}{exc.reason}"
            )
            return
        except Exception as exc:  # anything else the validator trips on: still one line
            self.problem(f"{name} reported a malformed trace event, dropped from the trace: {exc}")
            return
        checked = dict(checked)
        del checked["seq"]
        self.record(checked)

    # --- clients ---

    def _client_step(self) -> None:
        t = self.now
        for c in self.client_names:
            busy = self.client_busy[c]
            if busy is not None:
                pending = self.requests.get((c, busy))
                if pending is not None and t - pending.invoked > CLIENT_TIMEOUT:
                    self.client_busy[c] = None  # the client moves on; a late answer still counts
                    if pending.node == self.primary_hint:
                        self.primary_hint = None
                else:
                    continue
            if t >= self.config.ticks - 3 or self.rng_clients.random() >= 0.6:
                continue
            op = "write" if self.rng_clients.random() < 0.75 else "read"
            if self.primary_hint is not None and self.rng_clients.random() < 0.85:
                node = self.primary_hint
            else:
                node = self.rng_clients.choice(self.names)
            self._client_send(c, op, node)

    def _client_send(self, client: str, op: str, node: str) -> None:
        msg_id = self._next_id()
        body: dict[str, Any] = {"type": op, "msg_id": msg_id}
        if op == "write":
            body["value"] = f"v{msg_id}"
        self.requests[(client, msg_id)] = Pending(client, op, node, self.now)
        if client in self.client_busy:
            self.client_busy[client] = msg_id
        self._deliver(node, {"src": client, "dest": node, "body": body})

    def _client_answer(self, node: str, msg: dict[str, Any]) -> None:
        body = msg["body"]
        key = (msg["dest"], body.get("in_reply_to"))
        pending = self.requests.pop(key, None)
        if pending is None:
            self.problem(f"{node} answered {msg['dest']} a request it never got")
            return
        if self.client_busy.get(pending.client) == key[1]:
            self.client_busy[pending.client] = None
        kind = body["type"]
        t = self.now
        if kind == "error":
            self.record(
                trace.client(
                    pending.client,
                    pending.op,
                    node,
                    "error",
                    pending.invoked,
                    t,
                    error=str(body.get("code")),
                )
            )
            if body.get("code") == "not_primary" and self.primary_hint == node:
                self.primary_hint = None
        elif kind == "write_ok" and pending.op == "write":
            self.record(
                trace.client(
                    pending.client,
                    "write",
                    node,
                    "ok",
                    pending.invoked,
                    t,
                    epoch=body["epoch"],
                    lsn=body["lsn"],
                )
            )
            self.primary_hint = node
        elif kind == "read_ok" and pending.op == "read":
            self.record(
                trace.client(
                    pending.client,
                    "read",
                    node,
                    "ok",
                    pending.invoked,
                    t,
                    epoch=body["epoch"],
                    writable=body["writable"],
                    result={"entries": body["entries"]},
                )
            )
            if body["writable"]:
                self.primary_hint = node
        else:
            self.problem(f"{node} answered a {pending.op} with {kind!r}")

    # --- operator (the runbook) ---

    def _operator_step(self) -> None:
        t = self.now
        pending = self.op_pending
        if pending is not None and t - pending.sent > PROMOTE_TIMEOUT:
            self.record(
                trace.operator_event("timeout", pending.node, pending.attempt, pending.force)
            )
            self.promotions["timeout"] += 1
            self.op_pending = None
        if t % OPERATOR_PERIOD == 0:
            self.op_answers = {}
            self.op_round = set()
            for n in self.names:
                msg_id = self._next_id()
                self.op_round.add(msg_id)
                self._deliver(
                    n,
                    {
                        "src": protocol.OPERATOR,
                        "dest": n,
                        "body": {"type": "status", "msg_id": msg_id},
                    },
                )
        elif (
            t % OPERATOR_PERIOD == 1 and self.op_pending is None and 5 <= t < self.config.ticks - 10
        ):
            self._operator_decide()

    def _operator_decide(self) -> None:
        answers = self.op_answers
        replicas = sorted(
            (n for n, s in answers.items() if s["role"] == "Replica"),
            key=lambda n: (-int(answers[n]["wal_end"]), n),
        )
        if not replicas:
            return
        healthy = any(s["writable"] for s in answers.values())
        if healthy:
            if self.rng_operator.random() >= FORCED_SWITCHOVER:
                return
            candidate = self.rng_operator.choice(replicas)
            force, reason = True, "switchover forced over a healthy primary (an operator error)"
        else:
            candidate = replicas[0]
            unreachable = len(answers) < len(self.names)
            force = self.force_next == candidate and unreachable
            reason = (
                "no node admits writes and the old primary does not answer me either: forcing"
                if force
                else "no node admits writes: promote the most up-to-date replica"
            )
        self.force_next = None
        self.op_attempts += 1
        attempt = f"op{self.op_attempts}"
        msg_id = self._next_id()
        self.op_pending = OperatorRequest(attempt, candidate, force, self.now)
        self.op_sent[attempt] = self.op_pending
        self.record(trace.operator_event("request", candidate, attempt, force, reason=reason))
        # "requests" counts every request and "forced requests" the forced ones among them:
        # counted apart, "denied 25, forced requests 2, requests 23" read as more denials
        # than requests.
        self.promotions["requests"] += 1
        if force:
            self.promotions["forced requests"] += 1
        self._deliver(
            candidate,
            {
                "src": protocol.OPERATOR,
                "dest": candidate,
                "body": {
                    "type": "promote",
                    "msg_id": msg_id,
                    "attempt": attempt,
                    "force": force,
                    "operator": "runbook",
                    "reason": reason,
                },
            },
        )

    def _operator_answer(self, node: str, body: dict[str, Any]) -> None:
        kind = body["type"]
        if kind == "status_ok" and body.get("in_reply_to") in self.op_round:
            self.op_answers[node] = body
            if body["writable"]:
                self.primary_hint = node
        elif kind == "promote_ok":
            sent = self.op_sent.get(str(body["attempt"]))
            force = sent.force if sent is not None else False
            self.record(
                trace.operator_event(
                    "outcome",
                    node,
                    body["attempt"],
                    force,
                    reason=str(body["reason"]),
                    outcome=body["outcome"],
                )
            )
            self.promotions[str(body["outcome"])] += 1
            if self.op_pending is not None and self.op_pending.attempt == body["attempt"]:
                self.op_pending = None
            if body["outcome"] == "succeeded":
                self.primary_hint = node
            elif body["reason"] == "primary_status_unknown":
                self.force_next = node

    # --- nemesis ---

    def _nemesis_step(self) -> None:
        t = self.now
        for w in self.plan:
            if t == w.start:
                self._fault_begin(w)
            elif t == w.start + w.duration:
                self._fault_end(w)
        if t == self.config.ticks - QUIESCE_TICKS:
            self._quiesce()

    def _target(self) -> str:
        if self.primary_hint is not None and self.rng_nemesis.random() < 0.6:
            return self.primary_hint
        return self.rng_nemesis.choice(self.names)

    def _fault_begin(self, w: Window) -> None:
        target = self._target()
        if w.what == "kill":
            w.nodes = (target,)
            self.kill(target, "SIGKILL by the nemesis")
        elif w.what == "pause":
            proc = self.procs[target]
            if proc is None or proc.paused:
                return
            w.nodes = (target,)
            proc.pause()
            self.record(trace.fault("pause", [target], "SIGSTOP"))
            self.result_faults["pause"] += 1
        else:
            side = {target}
            if self.config.nodes > 3 and self.rng_nemesis.random() < 0.5:
                side.add(self.rng_nemesis.choice([n for n in self.names if n != target]))
            w.nodes = tuple(sorted(side))
            self.network.partition(side, self.names)
            self.partitioned = list(w.nodes)
            self.record(trace.fault("partition", sorted(side), "cut from every other node"))
            self.result_faults["partition"] += 1

    def _fault_end(self, w: Window) -> None:
        if not w.nodes:
            return
        name = w.nodes[0]
        if w.what == "kill" and self.procs[name] is None:
            self._restart(name)
        elif w.what == "pause":
            self._resume(name)
        elif w.what == "partition" and self.partitioned:
            self.network.heal()
            self.partitioned = []
            self.record(trace.fault("heal", list(w.nodes), "every link restored"))

    def _restart(self, name: str) -> None:
        self.record(trace.fault("restart", [name], "a new process on the same directory"))
        self.result_faults["restart"] += 1
        self.start(name)

    def _resume(self, name: str) -> None:
        proc = self.procs[name]
        if proc is None or not proc.paused:
            return
        proc.resume()
        self.record(trace.fault("resume", [name], "SIGCONT"))
        held, self.held[name] = self.held[name], []
        for msg in held:
            proc.send(msg)

    def _quiesce(self) -> None:
        """The end of the run: heal, resume and restart everything, so the history settles."""
        if self.partitioned:
            self.network.heal()
            self.record(trace.fault("heal", self.partitioned, "quiesce"))
            self.partitioned = []
        for name in self.names:
            proc = self.procs[name]
            if proc is None:
                self._restart(name)
            elif proc.paused:
                self._resume(name)

    # --- the loop ---

    def run(self) -> RunResult:
        began = time.monotonic()
        result = RunResult(self.config, self.events, {})
        self.log_dir.mkdir(parents=True, exist_ok=True)
        try:
            for name in self.names:
                self.start(name)
            for t in range(1, self.config.ticks + 1):
                self.now = t
                if STOP.is_set():
                    raise Interrupted
                if self.config.deadline is not None and time.monotonic() > self.config.deadline:
                    result.stopped_early = f"time limit reached before tick {t}"
                    break
                if self.messages > self.config.max_messages:
                    result.stopped_early = f"message limit reached before tick {t}"
                    break
                self._nemesis_step()
                self._operator_step()
                self._client_step()
                if t == self.config.ticks - 2:
                    for name in self.names:  # final reads: what every node holds at the end
                        self._client_send(FINAL_READER, "read", name)
                for item in self.network.due(t):
                    dest = item.msg["dest"]
                    src = item.msg["src"]
                    if (
                        item.src_incarnation != self.incarnation[src]
                        or self.procs[src] is None
                        or item.dest_incarnation != self.incarnation[dest]
                    ):
                        self.network.stats["dropped_dead"] += 1
                        continue
                    self.network.stats["delivered"] += 1
                    self._deliver(dest, item.msg)
                self._barrier(t)
                result.ticks_run = t
            self._finish_clients()
        finally:
            self.stop_all()
        result.header = trace.header(
            self.names,
            "async",
            self.names[0],
            emits=self._emits(),
            producer=f"baton test (seed {self.config.seed}): {' '.join(self.config.argv)}",
        )
        result.faults = self.result_faults
        result.promotions = self.promotions
        result.network = self.network.stats
        result.problems = self.problems
        result.seconds = time.monotonic() - began
        return result

    def _emits(self) -> list[str] | None:
        if not self.emits or any(e is None for e in self.emits):
            return None
        common = set.intersection(*(e for e in self.emits if e is not None))
        return [f for f in trace.FAMILIES if f in common] or None

    def _barrier(self, t: int) -> None:
        waiting: list[tuple[NodeProcess, int]] = []
        for name in self.names:
            proc = self.procs[name]
            if proc is None or proc.paused:
                continue
            msg_id = self._next_id()
            proc.send(
                {
                    "src": protocol.HARNESS,
                    "dest": name,
                    "body": {"type": "tick", "msg_id": msg_id, "time": t},
                }
            )
            waiting.append((proc, msg_id))
        for proc, msg_id in waiting:
            if self.procs[proc.name] is proc:
                self._await(proc, msg_id, "tick_ok")

    def _finish_clients(self) -> None:
        for pending in self.requests.values():
            self.record(
                trace.client(pending.client, pending.op, pending.node, "timeout", pending.invoked)
            )
        self.requests.clear()
