"""Baton trace format v1: what a run records, and what ``baton check`` reads.

A trace is JSON Lines: one JSON object per line, UTF-8, each ending in a
newline. Every line has ``seq`` (an integer, strictly increasing) and
``kind``. The first line is the ``header``; an optional ``end`` line closes a
trace its producer finished writing. Every kind, every field and its meaning
is declared once, in :data:`KINDS`; the JSON Schema
(``impl/schemas/trace.schema.json``, printed by ``baton schema trace``), the
typed builders below and the streaming reader are all derived from that one
table, so they cannot drift apart.

The vocabulary is the spec's, one spelling everywhere (``baton schema
vocabulary`` publishes it as data): lifecycle states and events come from the
generated table, validation fields and decisions and invariant IDs are
restated here (the runtime must not import Z3 to write a trace) and the tests
check that they equal the spec's. Readers: :func:`read_events` (the strict
reference reader, dicts) and :class:`FastReader` (msgspec structs, the same
acceptance, several times faster; ``baton check`` uses it).

Producing a trace::

    from baton import trace
    with open("run.jsonl", "w") as out:
        w = trace.TraceWriter(out, nodes=["n1", "n2"], mode="async", initial_primary="n1")
        w.emit(trace.write("n1", lsn=1, epoch=1))
        w.emit(trace.ack("n1", lsn=1, epoch=1))
        w.close()

Reading one (streaming, constant memory): :func:`read_events` yields
``(line_number, event)`` pairs and raises :class:`baton.errors.InputError`
naming the line and the field on the first malformed line.
"""

from __future__ import annotations

import functools
import itertools
import json
import operator
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Annotated, Any, ClassVar, Literal, Union, cast

import msgspec
from baton import _table
from baton.errors import InputError

FORMAT = "baton-trace"
VERSION = 1
SUPPORTED_VERSIONS: tuple[int, ...] = (1,)
MAX_INT = 2**63 - 1
"""Every integer field (seq, lsn, epoch, ...) is at most this: a signed 64-bit integer."""

# --- the spec's vocabulary (tests check equality with baton.spec) ---------------------

# Lifecycle states and events come from the table generated from the spec, so
# the trace format cannot drift from it; the validation context is restated.
STATE_NAMES: tuple[str, ...] = _table.STATES
EVENT_NAMES: tuple[str, ...] = _table.EVENTS
CONTEXT_FIELDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("role", ("Disabled", "Uninitialized", "ReplicaActive", "PrimaryActive", "Halted")),
    ("halt_reason", ("none", "history_divergence", "wal_corruption", "operator_halt")),
    ("primary_status", ("Active", "Unavailable", "Unknown")),
    ("force", ("false", "true")),
    ("position", ("Behind", "Equal", "Ahead", "Unknown")),
    ("prefix", ("Compatible", "Divergent", "Unknown")),
    ("mvcc", ("Preserved", "Violated", "Unknown")),
)
"""The validation context, field by field (``baton.spec.validation.FIELDS``).

``force`` is written as a JSON boolean; the strings here are the spec's."""
NOT_APPLICABLE: dict[str, str] = {"mvcc": "NotApplicable"}
"""Context values a trace may record beyond the spec's domain: a system without MVCC
records mvcc NotApplicable, decided as Preserved (``baton schema vocabulary``)."""
TRACE_CONTEXT_FIELDS: tuple[tuple[str, tuple[str, ...]], ...] = tuple(
    (name, (*values, NOT_APPLICABLE[name]) if name in NOT_APPLICABLE else values)
    for name, values in CONTEXT_FIELDS
)
"""The values a trace line's context may hold: the spec's, plus :data:`NOT_APPLICABLE`."""
ALLOWED = "allowed"
REASON_NAMES: tuple[str, ...] = (
    "candidate_is_primary",
    "candidate_disabled",
    "candidate_uninitialized",
    "candidate_halted",
    "primary_active",
    "force_cannot_override_active_primary",
    "primary_status_unknown",
    "ack_bound_unknown",
    "candidate_behind_ack_bound",
    "history_unknown",
    "history_divergent",
    "mvcc_unknown",
    "mvcc_violated",
)
DECISION_NAMES: tuple[str, ...] = (ALLOWED, *REASON_NAMES)
INVARIANT_IDS: tuple[str, ...] = (
    "P6-A1",
    "P6-A1a",
    "P6-A2",
    "P6-A3",
    "P6-S1",
    "P6-S2",
    "P6-S3",
    "P6-F1",
    "P6-F2",
    "P6-F3",
    "P6-D1",
    "P6-D2",
    "P6-O1",
    "P6-O2",
)
MODES: tuple[str, ...] = ("async", "sync")
MARKER_ROLES: tuple[str, ...] = ("Primary", "Replica", "Halted")
"""What a node's durable authority marker says: it holds authority, follows, or halted."""
HALT_REASONS: tuple[str, ...] = (
    "history_divergence",
    "wal_corruption",
    "operator_halt",
    "authority_ambiguity",
)
"""Why a node halted. The first three are also the validation context's halt reasons;
``authority_ambiguity`` (P6-A1) is a node's reason only: it saw two primaries claim one
epoch. A halted candidate is denied whatever the reason (candidate_halted)."""

FAMILIES: tuple[str, ...] = ("lifecycle", "validation", "data", "durability", "authority")
"""Groups of kinds a producer may declare it emits (header ``emits``); see docs/oracle.md.

A trace whose header declares every family is *full*: a family with no event
then means nothing of that sort happened. Otherwise the oracle infers coverage
from the kinds present and reports the rules it could not check."""

# --- the declarative table ---------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """One field of one kind: its JSON type, whether it is required, what it means.

    ``type`` is one of: ``str``, ``int`` (non-negative), ``bool``, ``node`` (a
    name listed in the header), ``nodes`` (list of distinct names), ``enum``
    (one of ``choices``), ``enums`` (non-empty list of ``choices``),
    ``context`` (the validation context object), ``str?``/``int?`` (or null),
    ``object`` (free-form, ignored by the oracle).
    """

    name: str
    type: str
    description: str
    required: bool = True
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Kind:
    """One event kind: its family, its meaning, its fields in canonical order."""

    name: str
    family: str
    description: str
    fields: tuple[Field, ...]


def _node(desc: str = "the node this event happened on") -> Field:
    return Field("node", "node", desc)


_ATTEMPT = Field(
    "attempt",
    "str",
    "the promotion attempt this event belongs to: an ID the producer chose when the operator's "
    "request arrived; every event of one attempt carries the same ID, and a new request gets a "
    "new ID (P6-F3)",
)
_INVARIANTS = Field(
    "invariants",
    "enums",
    "the invariant IDs (baton.spec.invariants) that allowed or blocked this decision (P6-O2)",
    choices=INVARIANT_IDS,
)
_EXPLANATION = Field(
    "explanation", "str", "one sentence for the operator explaining the decision (P6-O2)"
)

KINDS: tuple[Kind, ...] = (
    Kind(
        "header",
        "meta",
        "First line of every trace: format, version and the cluster the run started from.",
        (
            Field("format", "enum", "always 'baton-trace'", choices=(FORMAT,)),
            Field("version", "int", "trace format version; this oracle reads version 1"),
            Field("nodes", "nodes", "every node of the cluster, by name; events name only these"),
            Field(
                "mode", "enum", "replication mode: acks wait for a sync standby or not", True, MODES
            ),
            Field("initial_primary", "node", "the node that admits writes when the trace starts"),
            Field("epoch", "int", "every node's durable epoch when the trace starts"),
            Field(
                "emits",
                "enums",
                "the families of kinds this producer records (lifecycle, validation, data, "
                "durability, authority); absent: inferred from the kinds present, and the "
                "verdict says which rules could not be checked",
                required=False,
                choices=FAMILIES,
            ),
            Field("producer", "str", "free text naming the program that wrote the trace", False),
            Field(
                "initial",
                "initial",
                "the cluster state the trace starts from, when it is not empty: 'wals' maps "
                "a node to its durable WAL as epoch runs [[epoch, last_lsn], ...] (entries "
                "after the previous run's last up to last_lsn were written in epoch; lsn "
                "from 1, last_lsn strictly increasing, epochs never decreasing); 'acked' is "
                "how many entries of the initial primary's WAL are acknowledged; 'markers' "
                "maps a node to its durable marker {role, epoch} (default: the initial "
                "primary Primary, every other node Replica, at 'epoch'). Absent: every WAL "
                "empty, nothing acknowledged",
                required=False,
            ),
        ),
    ),
    Kind(
        "request",
        "lifecycle",
        "An operator's explicit promotion request arrived (the attempt's start event, P6-O1). "
        "If it is accepted a transition with event 'request' follows; if not, a 'reject' line.",
        (
            _node("the candidate the operator asks to promote"),
            _ATTEMPT,
            Field(
                "force", "bool", "the operator asserts a primary of Unknown status is down (P6-A1a)"
            ),
            Field("operator", "str", "who asked (audited: every forced request is, P6-A1a)", False),
            Field("reason", "str", "the operator's stated reason, free text", False),
        ),
    ),
    Kind(
        "reject",
        "lifecycle",
        "A request turned away without entering the lifecycle: a duplicate while another "
        "attempt is in progress, or an unknown or down candidate. Nothing else changes.",
        (
            _node("the candidate named by the refused request"),
            _ATTEMPT,
            Field("reason", "str", "why the request was refused (e.g. duplicate_request)"),
        ),
    ),
    Kind(
        "transition",
        "lifecycle",
        "The candidate's promotion lifecycle moved: from --event--> to, as the spec's table "
        "(baton.spec.lifecycle) allows. Decisions (approve, deny) carry reason, invariants and "
        "explanation (P6-O2); begin_transition and complete carry the epoch granted (P6-A3).",
        (
            _node("the candidate whose lifecycle moved"),
            _ATTEMPT,
            Field("from", "enum", "lifecycle state before the event", choices=STATE_NAMES),
            Field("event", "enum", "lifecycle event", choices=EVENT_NAMES),
            Field("to", "enum", "lifecycle state after the event", choices=STATE_NAMES),
            Field(
                "reason",
                "enum",
                "approve/deny only: the decision ('allowed' or the denial reason)",
                False,
                DECISION_NAMES,
            ),
            Field(
                "invariants",
                "enums",
                "approve/deny only: invariant IDs that allowed or blocked it (P6-O2)",
                False,
                INVARIANT_IDS,
            ),
            Field("explanation", "str", "approve/deny only: one sentence (P6-O2)", False),
            Field(
                "epoch",
                "int",
                "begin_transition: the epoch granted (highest known + 1); complete: the epoch "
                "of the now-durable marker (P6-A3)",
                False,
            ),
        ),
    ),
    Kind(
        "validation",
        "validation",
        "The validator's result for an attempt: the context it decided on and its decision, "
        "which must equal the spec's decision for that context (P6-D1, P6-F1).",
        (
            _node("the candidate validated"),
            _ATTEMPT,
            Field(
                "context",
                "context",
                "the validation context, one value per field of baton.spec.validation.FIELDS "
                "(role, halt_reason, primary_status, force, position, prefix, mvcc)",
            ),
            Field("decision", "enum", "'allowed' or the denial reason", choices=DECISION_NAMES),
            _INVARIANTS,
            _EXPLANATION,
            Field("wal_end", "int", "the candidate's durable WAL end (entries)", False),
            Field(
                "ack_bound",
                "int?",
                "the proven upper bound on acknowledged writes, null when none is proven; "
                "with wal_end it must give context.position",
                False,
            ),
        ),
    ),
    Kind(
        "abort",
        "lifecycle",
        "An operator cancelled an approved or transitioning attempt before its marker rename: "
        "the attempt is forgotten, as a crash of the candidate forgets it, and the candidate's "
        "durable marker is unchanged. After the rename an abort is a violation (P6-F2): the new "
        "marker is visible and only completion or crash recovery decides the authority.",
        (
            _node("the candidate whose attempt was aborted"),
            _ATTEMPT,
            Field(
                "from",
                "enum",
                "the lifecycle state the attempt was in (PromotionApproved or "
                "AuthorityTransitioning)",
                choices=STATE_NAMES,
            ),
            Field(
                "marker_ops",
                "int",
                "how many of the marker write's file operations (write_temp, fsync_temp, "
                "rename, fsync_dir) were done; below 3 (the rename) for a legal abort",
            ),
            Field("operator", "str", "who aborted (audited)", False),
        ),
    ),
    Kind(
        "disable",
        "validation",
        "An operator set or cleared the durable 'promotion disabled' switch of one node, or, "
        "without 'node', of the whole cluster. While a candidate's switch or the cluster's "
        "is set, every validation of it must see the role Disabled and deny with "
        "candidate_disabled.",
        (
            Field(
                "node",
                "node",
                "the node whose switch changed; absent: the cluster-wide switch",
                False,
            ),
            Field("disabled", "bool", "true: promotion is disabled from now on; false: enabled"),
            Field("operator", "str", "who changed it (audited)", False),
            Field("reason", "str", "the operator's stated reason, free text", False),
        ),
    ),
    Kind(
        "marker",
        "durability",
        "A node's authority marker became DURABLE (after the directory fsync) saying role at "
        "epoch. A promotion's marker is role Primary at the granted epoch.",
        (
            _node("the node whose marker file this is"),
            Field("role", "enum", "what the marker says", choices=MARKER_ROLES),
            Field("epoch", "int", "the epoch the marker records"),
        ),
    ),
    Kind(
        "write",
        "data",
        "A client write is durable (fsynced) in the node's WAL at position lsn (1-based).",
        (
            _node("the primary that appended the entry"),
            Field(
                "lsn", "int", "WAL position of the entry, 1-based; entries are appended in order"
            ),
            Field("epoch", "int", "the epoch the entry was written in (the writer's epoch)"),
        ),
    ),
    Kind(
        "ack",
        "data",
        "The node acknowledged to clients every entry of its WAL up to lsn.",
        (
            _node("the primary that acknowledged"),
            Field("lsn", "int", "every entry up to and including this position is acknowledged"),
            Field("epoch", "int", "the acknowledging node's epoch"),
        ),
    ),
    Kind(
        "replicate",
        "data",
        "An entry was copied from one node's WAL and is durable in another's at the same lsn.",
        (
            Field("from", "node", "the sending node (a primary)"),
            Field("to", "node", "the receiving node (a replica)"),
            Field("lsn", "int", "WAL position of the entry"),
            Field("epoch", "int", "the epoch the entry was written in (its identity with lsn)"),
            Field(
                "sender_epoch",
                "int",
                "the sender's epoch, which the receiver adopts durably; a replica never accepts "
                "a lower-epoch primary (P6-A3)",
                False,
            ),
        ),
    ),
    Kind(
        "halt",
        "durability",
        "A node halted replication (durably): it neither writes nor can be promoted.",
        (_node(), Field("reason", "enum", "why it halted", choices=HALT_REASONS)),
    ),
    Kind(
        "crash",
        "durability",
        "The node's process died: volatile state (write authority, lifecycle) is lost.",
        (_node(),),
    ),
    Kind(
        "restart",
        "durability",
        "The node started again; role and epoch are what recovery read from its durable "
        "marker (P6-F2). A restart never grants write authority by itself.",
        (
            _node(),
            Field("role", "enum", "the marker role recovery read", choices=MARKER_ROLES),
            Field("epoch", "int", "the marker epoch recovery read"),
        ),
    ),
    Kind(
        "reinstate",
        "authority",
        "A restarted primary holding the highest epoch admits writes again (P6-A3).",
        (_node(), Field("epoch", "int", "the node's marker epoch")),
    ),
    Kind(
        "demote",
        "authority",
        "A primary that saw a higher epoch gave up authority: its marker now says Replica.",
        (_node(), Field("epoch", "int", "the node's own epoch, kept by the Replica marker")),
    ),
    Kind(
        "designate",
        "data",
        "Sync mode: the primary chose the standby whose durable WAL bounds acknowledgements.",
        (Field("primary", "node", "the primary"), Field("standby", "node", "the new standby")),
    ),
    Kind(
        "client",
        "harness",
        "What a client of the workbench ('baton test') observed: a write or read it sent to a "
        "node and the answer, at the workbench's clock. Not judged by the oracle rules; the "
        "workbench's black-box checks read these (P6-S1, P6-A1).",
        (
            Field("client", "str", "the client's address"),
            Field("op", "enum", "what the client asked", choices=("write", "read")),
            _node("the node the client asked"),
            Field(
                "outcome",
                "enum",
                "ok (answered), error (refused: nothing happened) or timeout (no answer in time: "
                "it may or may not have happened)",
                choices=("ok", "error", "timeout"),
            ),
            Field("invoked", "int", "the workbench tick the request was sent at"),
            Field("completed", "int", "the tick the answer arrived at", False),
            Field("epoch", "int", "write: the acknowledged entry's epoch; read: the node's", False),
            Field("lsn", "int", "write: the acknowledged entry's WAL position", False),
            Field("writable", "bool", "read: whether the node said it admits writes", False),
            Field("result", "object", "read: {'entries': [[epoch, lsn], ...]} as returned", False),
            Field("error", "str", "error: the node's error code", False),
        ),
    ),
    Kind(
        "fault",
        "harness",
        "A fault the workbench's nemesis injected (or a node process exiting by itself).",
        (
            Field(
                "what",
                "enum",
                "kill (SIGKILL), restart (a new process on the same directory), pause (SIGSTOP), "
                "resume (SIGCONT), partition, heal, exit (the process ended by itself)",
                choices=("kill", "restart", "pause", "resume", "partition", "heal", "exit"),
            ),
            Field("nodes", "nodes", "the nodes affected (partition: one side)"),
            Field("detail", "str", "free text", False),
        ),
    ),
    Kind(
        "operator",
        "harness",
        "What the workbench's operator (a runbook) asked for and was told: a promotion "
        "request, its outcome, or no answer in time.",
        (
            Field("what", "enum", "the step", choices=("request", "outcome", "timeout")),
            _node("the candidate"),
            _ATTEMPT,
            Field("force", "bool", "whether the request was forced"),
            Field("reason", "str", "request: the runbook step; outcome: the node's reason", False),
            Field(
                "outcome",
                "enum",
                "outcome: what the node answered",
                False,
                ("succeeded", "denied", "rejected"),
            ),
        ),
    ),
    Kind(
        "end",
        "meta",
        "Optional last line: the producer finished writing the trace (a trace without it may "
        "have been cut short).",
        (Field("events", "int", "number of lines before this one, header included"),),
    ),
)

BY_KIND: dict[str, Kind] = {k.name: k for k in KINDS}
_KEY_ORDER: dict[str, tuple[str, ...]] = {
    k.name: ("seq", "kind", *(f.name for f in k.fields), "meta") for k in KINDS
}
"""Per kind, the canonical key order (built once: every event is put in this order)."""
EVENT_KINDS: tuple[str, ...] = tuple(k.name for k in KINDS)
FAMILY_KINDS: dict[str, tuple[str, ...]] = {
    fam: tuple(k.name for k in KINDS if k.family == fam) for fam in FAMILIES
}
COMMON_FIELDS: tuple[Field, ...] = (
    Field("seq", "int", "position of the event in the trace, strictly increasing"),
    Field("kind", "enum", "the event kind", choices=EVENT_KINDS),
)
META_FIELD = Field(
    "meta",
    "object",
    "free-form producer data (times, ids), ignored by the oracle -- except a request's "
    "dropped_assumptions: the spec assumptions a demonstration relies on being false from "
    "that request on (baton check --allow-dropped)",
)

# --- builders: one typed function per kind ---------------------------------------------
# Each returns the event without ``seq``; TraceWriter.emit numbers it.


def _drop_none(kind: str, **fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {"kind": kind}
    event.update({k: v for k, v in fields.items() if v is not None})
    return event


def header(
    nodes: Sequence[str],
    mode: str,
    initial_primary: str,
    epoch: int = 1,
    emits: Sequence[str] | None = FAMILIES,
    producer: str | None = None,
    initial: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    return _drop_none(
        "header",
        format=FORMAT,
        version=VERSION,
        nodes=list(nodes),
        mode=mode,
        initial_primary=initial_primary,
        epoch=epoch,
        emits=list(emits) if emits is not None else None,
        producer=producer,
        initial=dict(initial) if initial is not None else None,
    )


def request(
    node: str, attempt: str, force: bool, operator: str | None = None, reason: str | None = None
) -> dict[str, Any]:
    return _drop_none(
        "request", node=node, attempt=attempt, force=force, operator=operator, reason=reason
    )


def reject(node: str, attempt: str, reason: str) -> dict[str, Any]:
    return _drop_none("reject", node=node, attempt=attempt, reason=reason)


def transition(
    node: str,
    attempt: str,
    from_state: str,
    event: str,
    to_state: str,
    *,
    reason: str | None = None,
    invariants: Sequence[str] | None = None,
    explanation: str | None = None,
    epoch: int | None = None,
) -> dict[str, Any]:
    out = _drop_none(
        "transition",
        node=node,
        attempt=attempt,
        reason=reason,
        invariants=list(invariants) if invariants is not None else None,
        explanation=explanation,
        epoch=epoch,
    )
    out.update({"from": from_state, "event": event, "to": to_state})
    return canonical(out)


def validation(
    node: str,
    attempt: str,
    context: Mapping[str, Any],
    decision: str,
    invariants: Sequence[str],
    explanation: str,
    wal_end: int | None = None,
    ack_bound: int | None = None,
    *,
    bound_recorded: bool = False,
) -> dict[str, Any]:
    """``bound_recorded``: write ``ack_bound`` even when it is None (no bound proven)."""
    out = _drop_none(
        "validation",
        node=node,
        attempt=attempt,
        context=dict(context),
        decision=decision,
        invariants=list(invariants),
        explanation=explanation,
        wal_end=wal_end,
    )
    if ack_bound is not None or bound_recorded:
        out["ack_bound"] = ack_bound
    return out


def context(
    role: str,
    primary_status: str,
    force: bool,
    position: str,
    prefix: str,
    mvcc: str,
    halt_reason: str = "none",
) -> dict[str, Any]:
    """A validation context object in the spec's field order."""
    return {
        "role": role,
        "halt_reason": halt_reason,
        "primary_status": primary_status,
        "force": force,
        "position": position,
        "prefix": prefix,
        "mvcc": mvcc,
    }


def abort(
    node: str, attempt: str, src: str, marker_ops: int, operator: str | None = None
) -> dict[str, Any]:
    out = _drop_none("abort", node=node, attempt=attempt, marker_ops=marker_ops, operator=operator)
    out["from"] = src
    return canonical(out)


def disable(
    node: str | None, disabled: bool, operator: str | None = None, reason: str | None = None
) -> dict[str, Any]:
    return _drop_none("disable", node=node, disabled=disabled, operator=operator, reason=reason)


def marker(node: str, role: str, epoch: int) -> dict[str, Any]:
    return _drop_none("marker", node=node, role=role, epoch=epoch)


def write(node: str, lsn: int, epoch: int) -> dict[str, Any]:
    return _drop_none("write", node=node, lsn=lsn, epoch=epoch)


def ack(node: str, lsn: int, epoch: int) -> dict[str, Any]:
    return _drop_none("ack", node=node, lsn=lsn, epoch=epoch)


def replicate(
    sender: str, receiver: str, lsn: int, epoch: int, sender_epoch: int | None = None
) -> dict[str, Any]:
    out = _drop_none("replicate", lsn=lsn, epoch=epoch, sender_epoch=sender_epoch)
    out.update({"from": sender, "to": receiver})
    return canonical(out)


def halt(node: str, reason: str) -> dict[str, Any]:
    return _drop_none("halt", node=node, reason=reason)


def crash(node: str) -> dict[str, Any]:
    return _drop_none("crash", node=node)


def restart(node: str, role: str, epoch: int) -> dict[str, Any]:
    return _drop_none("restart", node=node, role=role, epoch=epoch)


def reinstate(node: str, epoch: int) -> dict[str, Any]:
    return _drop_none("reinstate", node=node, epoch=epoch)


def demote(node: str, epoch: int) -> dict[str, Any]:
    return _drop_none("demote", node=node, epoch=epoch)


def designate(primary: str, standby: str) -> dict[str, Any]:
    return _drop_none("designate", primary=primary, standby=standby)


def client(
    client_id: str,
    op: str,
    node: str,
    outcome: str,
    invoked: int,
    completed: int | None = None,
    **observed: Any,
) -> dict[str, Any]:
    """A client observation; ``observed``: epoch, lsn, writable, result, error."""
    return _drop_none(
        "client",
        client=client_id,
        op=op,
        node=node,
        outcome=outcome,
        invoked=invoked,
        completed=completed,
        **observed,
    )


def fault(what: str, nodes: Sequence[str], detail: str | None = None) -> dict[str, Any]:
    return _drop_none("fault", what=what, nodes=list(nodes), detail=detail)


def operator_event(  # not ``operator``: that name is the stdlib module this file uses
    what: str,
    node: str,
    attempt: str,
    force: bool,
    reason: str | None = None,
    outcome: str | None = None,
) -> dict[str, Any]:
    return _drop_none(
        "operator",
        what=what,
        node=node,
        attempt=attempt,
        force=force,
        reason=reason,
        outcome=outcome,
    )


def end(events: int) -> dict[str, Any]:
    return _drop_none("end", events=events)


# --- canonical encoding and the writer ------------------------------------------------------


def canonical(event: Mapping[str, Any]) -> dict[str, Any]:
    """The event with keys in canonical order: seq, kind, the kind's fields, meta.

    Unknown kinds and fields are kept at the end in sorted order (so a buggy
    producer's line is still written deterministically and the reader names it).
    """
    order = _KEY_ORDER.get(str(event.get("kind")), ("seq", "kind", "meta"))
    out = {k: event[k] for k in order if k in event}
    if len(out) < len(event):
        for k in sorted(set(event) - set(out)):
            out[k] = event[k]
    if "context" in out and isinstance(out["context"], Mapping):
        ctx = out["context"]
        names = [name for name, _ in CONTEXT_FIELDS]
        ordered = {k: ctx[k] for k in names if k in ctx}
        ordered.update({k: ctx[k] for k in sorted(set(ctx) - set(names))})
        out["context"] = ordered
    return out


def encode(event: Mapping[str, Any]) -> str:
    """One trace line (without the newline): canonical key order, compact, UTF-8 text."""
    return json.dumps(canonical(event), separators=(",", ":"), ensure_ascii=False)


class TraceWriter:
    """Writes a trace as JSON Lines, numbering events; the header is written at once.

    Deterministic: the same events give the same bytes. ``flush_each`` flushes
    the stream after every line (use it when the producer may crash, so the
    trace holds every event emitted before the crash).
    """

    def __init__(
        self,
        stream: IO[str],
        nodes: Sequence[str],
        mode: str,
        initial_primary: str,
        epoch: int = 1,
        emits: Sequence[str] | None = FAMILIES,
        producer: str | None = None,
        flush_each: bool = False,
    ) -> None:
        self._stream = stream
        self._seq = 0
        self._flush_each = flush_each
        self._closed = False
        self.emit(header(nodes, mode, initial_primary, epoch, emits, producer))

    @property
    def count(self) -> int:
        """Lines written so far (header included)."""
        return self._seq

    def emit(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """Number ``event`` (the next seq) and write it; returns the written event."""
        if self._closed:
            raise ValueError("trace already closed with an 'end' line")
        numbered = dict(event)
        numbered["seq"] = self._seq
        self._seq += 1
        self._stream.write(encode(numbered) + "\n")
        if self._flush_each:
            self._stream.flush()
        return numbered

    def close(self) -> None:
        """Write the ``end`` line (the trace is complete) and flush."""
        if not self._closed:
            self.emit(end(self._seq))
            self._closed = True
            self._stream.flush()


def dumps(events: Iterable[Mapping[str, Any]]) -> str:
    """Events (already numbered, header first) as trace text."""
    return "".join(encode(e) + "\n" for e in events)


def number(events: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Give events seq 0, 1, 2, ... in order (for hand-built traces and tests)."""
    return [{**e, "seq": i} for i, e in enumerate(events)]


# --- reading: streaming, validating, naming line and field ------------------------------------

_CONTEXT_CHOICES: dict[str, frozenset[str]] = {
    name: frozenset(values) for name, values in TRACE_CONTEXT_FIELDS if name != "force"
}
_CHOICES: dict[tuple[str, str], frozenset[str]] = {
    (k.name, f.name): frozenset(f.choices) for k in KINDS for f in k.fields if f.choices
}


def _bad(source: str, line: int, fld: str | None, reason: str) -> InputError:
    return InputError(source, line, fld, reason)


def _short(value: Any) -> str:
    """A value for an error message, cut so a 5000-digit number stays one readable line."""
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:40]}... ({len(text)} characters)"


class _JsonProblem(ValueError):
    """Strict JSON: a value stdlib json would accept but a trace must not hold."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _JsonProblem(f"duplicate key {key!r} in one object")
        out[key] = value
    return out


def _reject_constant(name: str) -> Any:
    raise _JsonProblem(f"{name} is not a JSON number")


def _bounded_int(text: str) -> int:
    # Bounded before conversion: a 5000-digit literal would otherwise hit
    # Python's int-conversion limit (or cost quadratic time).
    digits = text.lstrip("-")
    if len(digits) > 20 or not -(2**63) <= (value := int(text)) < 2**64:
        raise _JsonProblem(f"integer out of range ({len(digits)} digits)")
    return value


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise _JsonProblem(f"number {text[:40]} is out of range")
    return value


def strict_loads(text: str | bytes) -> Any:
    """Parse one JSON value as a trace line must be: no duplicate keys, no NaN or
    Infinity, integers within 64 bits (the same limits as the fast reader)."""
    return json.loads(
        text,
        object_pairs_hook=_no_duplicates,
        parse_constant=_reject_constant,
        parse_int=_bounded_int,
        parse_float=_finite_float,
    )


def _check_field(
    source: str, line: int, kind: str, fld: Field, value: Any, nodes: frozenset[str]
) -> None:
    t = fld.type
    name = fld.name
    if t == "str":
        if not isinstance(value, str) or not value:
            raise _bad(source, line, name, f"expected a non-empty string, got {value!r}")
    elif t in ("int", "int?"):
        if value is None and t == "int?":
            return
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_INT:
            raise _bad(
                source, line, name, f"expected an integer from 0 to 2**63-1, got {_short(value)}"
            )
    elif t == "bool":
        if not isinstance(value, bool):
            raise _bad(source, line, name, f"expected true or false, got {value!r}")
    elif t == "node":
        if not isinstance(value, str) or not value:
            raise _bad(source, line, name, f"expected a node name, got {value!r}")
        if nodes and value not in nodes:
            raise _bad(
                source, line, name, f"unknown node {value!r} (header nodes: {sorted(nodes)})"
            )
    elif t == "nodes":
        if (
            not isinstance(value, list)
            or not value
            or not all(isinstance(v, str) and v for v in value)
            or len(set(value)) != len(value)
        ):
            raise _bad(source, line, name, f"expected a list of distinct node names, got {value!r}")
    elif t == "enum":
        if not isinstance(value, str) or value not in _CHOICES[(kind, name)]:
            raise _bad(
                source, line, name, f"{value!r} is not one of {sorted(_CHOICES[(kind, name)])}"
            )
    elif t == "enums":
        choices = _CHOICES[(kind, name)]
        if (
            not isinstance(value, list)
            or not value
            or not all(isinstance(v, str) and v in choices for v in value)
        ):
            raise _bad(source, line, name, f"expected a non-empty list of {sorted(choices)}")
    elif t == "context":
        _check_context(source, line, value)
    elif t == "initial":
        _check_initial(source, line, value, nodes)
    elif t == "object" and not isinstance(value, dict):
        raise _bad(source, line, name, "expected an object")


def _is_int(value: Any, low: int = 0) -> bool:
    return type(value) is int and low <= value <= MAX_INT


def _check_initial(source: str, line: int, value: Any, nodes: frozenset[str]) -> None:
    """The header's initial state: shape and node names (the header's own, once known)."""
    if not isinstance(value, dict):
        raise _bad(source, line, "initial", "expected an object")
    extra = set(value) - {"wals", "acked", "markers"}
    if extra:
        raise _bad(source, line, f"initial.{sorted(extra)[0]}", "unknown field")
    for key in ("wals", "markers"):
        part = value.get(key, {})
        if not isinstance(part, dict):
            raise _bad(source, line, f"initial.{key}", "expected an object keyed by node")
        for name in part:
            if nodes and name not in nodes:
                raise _bad(source, line, f"initial.{key}", f"unknown node {name!r}")
    for name, runs in value.get("wals", {}).items():
        where = f"initial.wals.{name}"
        if not isinstance(runs, list):
            raise _bad(source, line, where, "expected a list of [epoch, last_lsn] runs")
        last_lsn, last_epoch = 0, 0
        for run in runs:
            if not (
                isinstance(run, list)
                and len(run) == 2
                and _is_int(run[0], 1)
                and _is_int(run[1], 1)
                and run[1] > last_lsn
                and run[0] >= last_epoch
            ):
                raise _bad(
                    source,
                    line,
                    where,
                    f"bad run {_short(run)}: [epoch >= 1, last_lsn], last_lsn strictly "
                    "increasing, epochs never decreasing",
                )
            last_epoch, last_lsn = run
    for name, marker in value.get("markers", {}).items():
        if not (
            isinstance(marker, dict)
            and set(marker) == {"role", "epoch"}
            and marker["role"] in MARKER_ROLES
            and _is_int(marker["epoch"])
        ):
            raise _bad(source, line, f"initial.markers.{name}", "expected {role, epoch} (a marker)")
    if "acked" in value and not _is_int(value["acked"]):
        raise _bad(source, line, "initial.acked", "expected a non-negative integer")


def _check_context(source: str, line: int, value: Any) -> None:
    if not isinstance(value, dict):
        raise _bad(source, line, "context", "expected an object")
    for name, _values in CONTEXT_FIELDS:
        where = f"context.{name}"
        if name not in value:
            raise _bad(source, line, where, "missing field")
        v = value[name]
        if name == "force":
            if not isinstance(v, bool):
                raise _bad(source, line, where, f"expected true or false, got {v!r}")
        elif not isinstance(v, str) or v not in _CONTEXT_CHOICES[name]:
            raise _bad(source, line, where, f"{v!r} is not one of {sorted(_CONTEXT_CHOICES[name])}")
    extra = set(value) - {name for name, _ in CONTEXT_FIELDS}
    if extra:
        raise _bad(source, line, f"context.{sorted(extra)[0]}", "unknown field")
    if (value["role"] == "Halted") != (value["halt_reason"] != "none"):
        raise _bad(
            source,
            line,
            "context.halt_reason",
            "a halt reason is given exactly when the role is Halted (spec: well_formed)",
        )


_REQUIRED: dict[str, tuple[Field, ...]] = {
    k.name: tuple(f for f in k.fields if f.required) for k in KINDS
}
_ALLOWED_KEYS: dict[str, frozenset[str]] = {
    k.name: frozenset(["seq", "kind", "meta", *(f.name for f in k.fields)]) for k in KINDS
}
_REQUIRED_NAMES: dict[str, frozenset[str]] = {
    k: frozenset(["seq", "kind", *(f.name for f in fields)]) for k, fields in _REQUIRED.items()
}
_FIELD_LIST: dict[str, tuple[Field, ...]] = {k.name: k.fields for k in KINDS}


def validate_event(
    source: str, line: int, event: Any, nodes: frozenset[str], last_seq: int | None
) -> dict[str, Any]:
    """Check one parsed line against :data:`KINDS`; raise InputError naming the field."""
    if not isinstance(event, dict):
        raise _bad(source, line, None, "a trace line must be a JSON object")
    if "kind" not in event:
        raise _bad(source, line, "kind", "missing field")
    kind = event["kind"]
    if not isinstance(kind, str) or kind not in BY_KIND:
        raise _bad(
            source, line, "kind", f"unknown event kind {kind!r} (known: {', '.join(EVENT_KINDS)})"
        )
    if "seq" not in event:
        raise _bad(source, line, "seq", "missing field")
    seq = event["seq"]
    if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq <= MAX_INT:
        raise _bad(source, line, "seq", f"expected an integer from 0 to 2**63-1, got {_short(seq)}")
    if last_seq is not None and seq <= last_seq:
        raise _bad(source, line, "seq", f"seq {seq} does not increase (previous {last_seq})")
    if not event.keys() <= _ALLOWED_KEYS[kind]:
        for key in event:
            if key not in _ALLOWED_KEYS[kind]:
                raise _bad(source, line, key, f"unknown field for kind {kind!r}")
    if not _REQUIRED_NAMES[kind] <= event.keys():
        for fld in _REQUIRED[kind]:
            if fld.name not in event:
                raise _bad(source, line, fld.name, f"missing field (required for kind {kind!r})")
    for fld in _FIELD_LIST[kind]:
        name = fld.name
        if name not in event:
            continue
        value = event[name]
        # Fast paths for the hot fields (lsn, epoch, node): exact types, no call.
        if fld.type == "int" and type(value) is int and 0 <= value <= MAX_INT:
            continue
        if fld.type == "node" and type(value) is str and value in nodes:
            continue
        _check_field(source, line, kind, fld, value, nodes)
    if "meta" in event:
        _check_field(source, line, kind, META_FIELD, event["meta"], nodes)
    return event


class _ReadState:
    """What reading one line needs to know about the lines before it."""

    __slots__ = ("ended", "last_seq", "nodes", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.nodes: frozenset[str] = frozenset()
        self.last_seq: int | None = None
        self.ended = False


def _line_text(source: str, line_no: int, raw: str | bytes) -> str:
    if isinstance(raw, bytes):
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _bad(
                source, line_no, None, f"not UTF-8 text (byte {exc.start + 1} of the line)"
            ) from None
    return raw


def _read_line(st: _ReadState, line_no: int, raw: str | bytes) -> dict[str, Any]:
    """The reference reader for one line: strict JSON, then every rule of the format."""
    source = st.source
    full = _line_text(source, line_no, raw)
    text = full.rstrip("\n").rstrip("\r")
    if not text.strip():
        raise _bad(source, line_no, None, "empty line")
    if text.startswith("\ufeff"):
        # Some Windows editors and shells add one; JSON Lines text has none (RFC 8259 8.1).
        raise _bad(
            source, line_no, None, "starts with a byte-order mark (BOM): write UTF-8 without one"
        )
    try:
        event = strict_loads(text)
    except RecursionError:
        raise _bad(source, line_no, None, "not valid JSON: nested too deeply") from None
    except _JsonProblem as exc:
        raise _bad(source, line_no, None, f"not valid trace JSON: {exc}") from None
    except json.JSONDecodeError as exc:
        if not full.endswith("\n"):
            raise _bad(
                source, line_no, None, "truncated last line (no newline, not valid JSON)"
            ) from None
        raise _bad(source, line_no, None, f"not valid JSON: {exc.msg}") from None
    if st.ended:
        raise _bad(source, line_no, "kind", "a line after the 'end' line")
    if line_no == 1:
        if not isinstance(event, dict) or event.get("kind") != "header":
            raise _bad(source, 1, "kind", "the first line must be the header")
        version = event.get("version")
        if event.get("format") != FORMAT:
            raise _bad(source, 1, "format", f"expected {FORMAT!r}, got {event.get('format')!r}")
        if version not in SUPPORTED_VERSIONS or isinstance(version, bool):
            raise _bad(
                source,
                1,
                "version",
                f"unsupported trace version {_short(version)} (this oracle reads "
                f"{', '.join(map(str, SUPPORTED_VERSIONS))})",
            )
        validate_event(source, 1, event, frozenset(), None)
        st.nodes = frozenset(event["nodes"])
        if event["initial_primary"] not in st.nodes:
            raise _bad(source, 1, "initial_primary", "not one of the header's nodes")
        if "initial" in event:
            initial = event["initial"]
            _check_initial(source, 1, initial, st.nodes)
            runs = initial.get("wals", {}).get(event["initial_primary"], [])
            if initial.get("acked", 0) > (runs[-1][1] if runs else 0):
                raise _bad(source, 1, "initial.acked", "more than the initial primary's WAL holds")
    else:
        if isinstance(event, dict) and event.get("kind") == "header":
            raise _bad(source, line_no, "kind", "a second header")
        validate_event(source, line_no, event, st.nodes, st.last_seq)
        if event["kind"] == "end":
            st.ended = True
    st.last_seq = event["seq"]
    checked: dict[str, Any] = event
    return checked


def read_events(
    stream: IO[str] | IO[bytes], source: str = "<trace>"
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, event)`` for every line, validated; streaming.

    The reference reader (plain dicts, stdlib JSON made strict). Raises
    InputError (line and field) on: a line that is not UTF-8 or not JSON (a
    last line without its newline is reported as truncated), a duplicate key,
    NaN or Infinity, an integer outside 64 bits, a missing or mistyped field,
    an unknown kind or field, a node not in the header, a first line that is
    not a header, an unsupported format version, a second header, a line after
    ``end``, and an empty trace. :func:`read_fast` accepts exactly the same
    lines, faster.
    """
    st = _ReadState(source)
    line_no = 0
    for raw in stream:
        line_no += 1
        yield line_no, _read_line(st, line_no, raw)
    if line_no == 0:
        raise _bad(source, 1, None, "empty trace: no header")


# --- the fast reader: msgspec structs, decoded and type-checked in one pass --------------------
# msgspec decodes a line straight into a typed struct of its kind (a tagged
# union on "kind") and checks every type, enum, bound, required and unknown
# field in that one pass, in C. What a type cannot say is checked here: seq
# order, the 'end' line, a context's halt reason, and duplicate keys (msgspec
# keeps the last). Any line the fast path refuses -- or cannot prove free of
# duplicate keys -- is read again by the reference reader, which names the
# line and field exactly as it always has.


class Event(msgspec.Struct, kw_only=True, gc=False):
    """One decoded trace line (every kind is a subclass with its own fields).

    ``event["field"]`` and ``"field" in event`` work with the format's field
    names (``from`` included), so rules read like the format."""

    seq: int
    KIND: ClassVar[str]

    def __getitem__(self, key: str) -> Any:
        value = getattr(self, _ATTR.get(key, key), msgspec.UNSET)
        if value is msgspec.UNSET:
            raise KeyError(key)
        return value

    def __contains__(self, key: str) -> bool:
        return getattr(self, _ATTR.get(key, key), msgspec.UNSET) is not msgspec.UNSET

    def get(self, key: str, default: Any = None) -> Any:
        value = getattr(self, _ATTR.get(key, key), msgspec.UNSET)
        return default if value is msgspec.UNSET else value

    def to_dict(self) -> dict[str, Any]:
        """The line as the format writes it (canonical key order)."""
        data: dict[str, Any] = msgspec.to_builtins(self)
        data["kind"] = self.KIND
        return canonical(data)


class ContextBase(msgspec.Struct, gc=False):
    """The validation context as decoded (fields: :data:`CONTEXT_FIELDS`)."""

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = msgspec.to_builtins(self)
        return out


Context: type[ContextBase] = msgspec.defstruct(  # type: ignore[assignment]
    "Context",
    [(name, bool if name == "force" else Literal[values]) for name, values in TRACE_CONTEXT_FIELDS],
    bases=(ContextBase,),
    forbid_unknown_fields=True,
    gc=False,
)


_ATTR: dict[str, str] = {"from": "from_"}
# Types built at run time from the tables (and the header's node names).
_LITERAL: Any = Literal
_UNION: Any = Union
_INT = Annotated[int, msgspec.Meta(ge=0, le=MAX_INT)]
_STR = Annotated[str, msgspec.Meta(min_length=1)]


def _struct_type(kind: str, fld: Field, node_type: Any) -> Any:
    t = fld.type
    if t == "str":
        return _STR
    if t == "int":
        return _INT
    if t == "int?":
        return _INT | None
    if t == "bool":
        return bool
    if t == "node":
        return node_type
    if t == "nodes":
        return Annotated[list[_STR], msgspec.Meta(min_length=1)]
    if t == "enum":
        return _LITERAL[fld.choices]
    if t == "enums":
        return Annotated[list[_LITERAL[fld.choices]], msgspec.Meta(min_length=1)]
    if t == "context":
        return Context
    return dict[str, Any]


def _kind_struct(kind: Kind, node_type: Any) -> type[Event]:
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    for fld in (*kind.fields, META_FIELD):
        attr = _ATTR.get(fld.name, fld.name)
        typ = _struct_type(kind.name, fld, node_type)
        if fld.required and fld is not META_FIELD:
            fields.append((attr, typ))
        else:
            fields.append((attr, typ | msgspec.UnsetType, msgspec.UNSET))
    cls: type[Event] = msgspec.defstruct(  # type: ignore[assignment]
        f"{kind.name.title()}Event",
        fields,
        bases=(Event,),
        tag=kind.name,
        tag_field="kind",
        forbid_unknown_fields=True,
        kw_only=True,
        rename={a: n for n, a in _ATTR.items()},
        namespace={"KIND": kind.name},
        gc=False,
    )
    return cls


class _Kinds:
    """The struct of every non-header kind for one header's node names, and its decoder."""

    def __init__(self, nodes: Sequence[str]) -> None:
        node_type = _LITERAL[tuple(nodes)]
        self.by_kind = {k.name: _kind_struct(k, node_type) for k in KINDS if k.name != "header"}
        union = _UNION[tuple(self.by_kind.values())]
        self.decoder = msgspec.json.Decoder(union)
        # Per kind: the keys a line holds with every optional field present (meta
        # counted as one), and a getter of its optional fields (seq first, so the
        # getter always returns a tuple); each UNSET one is a key fewer.
        self.keys: dict[type[Event], tuple[int, Callable[[Any], tuple[Any, ...]]]] = {}
        for k in KINDS:
            if k.name == "header":
                continue
            cls = self.by_kind[k.name]
            required = [f for f in k.fields if f.required]
            optional = [_ATTR.get(f.name, f.name) for f in k.fields if not f.required]
            full = 2 + sum(1 + _nested_keys(f.type) for f in required) + len(optional) + 1
            self.keys[cls] = (full, operator.attrgetter("seq", *optional, "meta"))


def _nested_keys(field_type: str) -> int:
    return len(CONTEXT_FIELDS) if field_type == "context" else 0


def _count_keys(value: Any) -> int:
    if isinstance(value, dict):
        return len(value) + sum(_count_keys(v) for v in value.values())
    if isinstance(value, list):
        return sum(_count_keys(v) for v in value)
    if isinstance(value, ContextBase):
        return len(CONTEXT_FIELDS)
    return 0


def _string_colons(value: Any) -> int:
    """Colons inside the strings (keys included) of a decoded value."""
    if isinstance(value, str):
        return value.count(":")
    if isinstance(value, dict):
        return sum(k.count(":") + _string_colons(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return sum(_string_colons(v) for v in value)
    return 0  # numbers, booleans, null, UNSET; a context holds enum values (no colon)


def _no_duplicate_keys(kinds: _Kinds, raw: bytes, event: Any) -> bool:
    """Whether the line provably has no duplicate key, from its bytes alone.

    Every key of a JSON object is followed by exactly one colon (whitespace
    aside); every other colon is inside a string. With no escape sequence in
    the line, a decoded string holds exactly the colons its raw text holds. So
    if the line's colons equal the distinct keys decoded plus the colons in
    the decoded strings, no key can be repeated: a repeated key adds a colon
    (and its dropped value's strings only more). Otherwise the reference
    reader decides. (:class:`FastReader` makes the same proof for a whole chunk
    of lines at once, and inlines the common case line by line: no meta and no
    string holding a colon.)"""
    if b"\\" in raw:
        return False
    full, getter = kinds.keys[type(event)]
    values = getter(event)
    expected = full - values.count(msgspec.UNSET)
    meta = values[-1]
    if meta is not msgspec.UNSET:
        expected += _count_keys(meta)
    expected += _string_colons(msgspec.structs.astuple(event))
    return raw.count(b":") == expected


def _context_problem(ctx: Any) -> str | None:
    if (ctx.role == "Halted") != (ctx.halt_reason != "none"):
        return "a halt reason is given exactly when the role is Halted (spec: well_formed)"
    return None


def _msgspec_field(message: str) -> str | None:
    """The field a msgspec error names, in the format's spelling ('context.mvcc')."""
    if "- at `$." in message:
        path = message.rsplit("- at `$.", 1)[1].rstrip("`")
        return path.split("[", 1)[0]
    for marker in ("field `", "unknown field `"):
        if marker in message:
            return message.rsplit(marker, 1)[1].split("`", 1)[0]
    return None


CHUNK_LINES = 256
"""Lines :class:`FastReader` reads, decodes and proves free of duplicate keys at once."""
_ENCODER = msgspec.json.Encoder()


class FastReader:
    """Reads a trace into :class:`Event` structs: the header at once (``header``), then
    every further line by iterating; ``line`` is the number of the line last read.

    Accepts exactly the lines :func:`read_events` accepts and raises the same
    InputError for the others (the reference reader re-reads a refused line);
    several times faster. A text stream is read as its UTF-8 encoding."""

    def __init__(self, stream: IO[bytes] | IO[str], source: str = "<trace>") -> None:
        self.source = source
        self._state = _ReadState(source)
        lines = cast(Iterator[str | bytes], iter(stream))
        first = next(lines, None)
        if first is None:
            raise _bad(source, 1, None, "empty trace: no header")
        self.header: dict[str, Any] = _read_line(self._state, 1, first)
        # Bytes; a text stream's lines are encoded back (surrogates kept, then refused).
        self._lines: Iterator[bytes] = (
            cast(Iterator[bytes], lines)
            if isinstance(first, bytes)
            else (line.encode("utf-8", "surrogateescape") for line in cast(Iterator[str], lines))
        )
        self.kinds = _kinds_for(tuple(self.header["nodes"]))
        self._decode = self.kinds.decoder.decode
        self._encode = _ENCODER.encode
        self._validation = self.kinds.by_kind["validation"]
        self._end = self.kinds.by_kind["end"]
        self._special = {self._validation, self._end}
        self.line = 1
        self.event: Any = self.header
        self._last_seq: int = self.header["seq"]
        self._ended = False

    def pump(
        self, handlers: Mapping[type, Callable[[Any], None]], limit: int | None = None
    ) -> bool:
        """Read the next lines (all, or ``limit``), calling ``handlers[type(event)](event)``
        for each; while a handler runs, ``line`` and ``event`` are the current line's.

        The hot loop of ``baton check``: lines are read and decoded in chunks of
        :data:`CHUNK_LINES`, with no generator between reading and checking.
        Returns whether lines may remain (only when stopped at ``limit``)."""
        lines, remaining = self._lines, limit
        while remaining is None or remaining > 0:
            size = CHUNK_LINES if remaining is None else min(CHUNK_LINES, remaining)
            chunk = list(itertools.islice(lines, size))
            if chunk:
                if remaining is not None:
                    remaining -= len(chunk)
                if not self._pump_chunk(chunk, handlers):
                    self._pump_lines(chunk, handlers)
            if len(chunk) < size:
                return False
        return True

    def _pump_chunk(
        self, chunk: list[bytes], handlers: Mapping[type, Callable[[Any], None]]
    ) -> bool:
        """Check and handle a chunk of lines at once, if it provably has no duplicate key;
        False (nothing handled) when a line of it needs :meth:`_pump_lines`.

        Every line is decoded on its own (a line is one JSON value). The
        duplicate-key proof of :func:`_no_duplicate_keys` is made for the whole
        chunk: with no escape sequence in it, re-encoding the decoded events
        writes each distinct key once, with exactly the colons of the strings
        kept, so every line has at least as many colons as its re-encoding and
        exactly as many only if it repeats no key. Equal totals thus prove every
        line free of duplicates."""
        try:
            events = list(map(self._decode, chunk))
        except (msgspec.DecodeError, msgspec.ValidationError):
            return False
        blob = b"".join(chunk)
        if b"\\" in blob or blob.count(b":") != self._encode(events).count(b":"):
            return False
        st, special = self._state, self._special
        validation_cls, end_cls = self._validation, self._end
        last_seq, ended, line_no = self._last_seq, self._ended, self.line
        try:
            for raw, event in zip(chunk, events, strict=True):
                line_no += 1
                self.line = line_no
                cls = type(event)
                seq = event.seq
                if seq <= last_seq or ended or cls in special:
                    if (
                        seq <= last_seq
                        or ended
                        or (cls is validation_cls and _context_problem(event.context) is not None)
                    ):
                        st.last_seq, st.ended = last_seq, ended
                        _read_line(st, line_no, raw)  # raises if the line is bad; else fine
                    if cls is end_cls:
                        ended = True
                last_seq = seq
                self.event = event
                handlers[cls](event)
        finally:
            self._last_seq, self._ended = last_seq, ended
        return True

    def _pump_lines(
        self, chunk: list[bytes], handlers: Mapping[type, Callable[[Any], None]]
    ) -> None:
        """Check and handle lines one by one (a chunk :meth:`_pump_chunk` did not take)."""
        st, kinds, source = self._state, self.kinds, self.source
        decode = self._decode
        keys = kinds.keys
        unset = msgspec.UNSET
        # Kinds whose lines need a look beyond types: a context's halt reason, the end line.
        special = self._special
        last_seq, ended, line_no = self._last_seq, self._ended, self.line
        errors = (msgspec.DecodeError, msgspec.ValidationError)
        try:
            for raw in chunk:
                line_no += 1
                self.line = line_no
                try:
                    event = decode(raw)
                except errors as exc:
                    st.last_seq, st.ended = last_seq, ended
                    _read_line(st, line_no, raw)  # raises with the line and field
                    raise _bad(source, line_no, _msgspec_field(str(exc)), str(exc)) from None
                cls = type(event)
                full, getter = keys[cls]
                values = getter(event)  # (seq, the optional fields..., meta)
                # The duplicate-key proof of _no_duplicate_keys, inlined for lines without meta.
                if (
                    values[0] <= last_seq
                    or ended
                    or values[-1] is not unset
                    or raw.count(b":") != full - values.count(unset)
                    or cls in special
                ):
                    if (
                        event.seq <= last_seq
                        or ended
                        or not _no_duplicate_keys(kinds, raw, event)
                        or (
                            event.KIND == "validation"
                            and _context_problem(event.context) is not None
                        )
                    ):
                        st.last_seq, st.ended = last_seq, ended
                        _read_line(st, line_no, raw)  # raises if the line is bad; else fine
                    if event.KIND == "end":
                        ended = True
                last_seq = values[0]
                self.event = event
                handlers[cls](event)
        finally:
            self._last_seq, self._ended = last_seq, ended

    def __iter__(self) -> Iterator[Any]:
        """The events, one by one (in chunks of :meth:`pump`)."""
        buffer: list[Any] = []
        sink = _Every(buffer.append)
        more = True
        while more:
            more = self.pump(sink, 1024)
            yield from buffer
            buffer.clear()


class _Every(dict[type, Callable[[Any], None]]):
    """A handler table that sends every class to one function."""

    def __init__(self, fn: Callable[[Any], None]) -> None:
        super().__init__()
        self.fn = fn

    def __missing__(self, key: type) -> Callable[[Any], None]:
        self[key] = self.fn
        return self.fn


def read_fast(stream: IO[bytes] | IO[str], source: str = "<trace>") -> Iterator[tuple[int, Any]]:
    """Yield ``(line_number, event)``: the header as a dict, then :class:`Event` structs
    (a :class:`FastReader`, as pairs like :func:`read_events`)."""
    reader = FastReader(stream, source)
    yield 1, reader.header
    line = 1
    for event in reader:
        line += 1  # one event per line
        yield line, event


@functools.lru_cache(maxsize=16)
def _kinds_for(nodes: tuple[str, ...]) -> _Kinds:
    return _Kinds(nodes)


def event_classes(nodes: Sequence[str]) -> dict[str, type[Event]]:
    """The struct class of every non-header kind for a header's node names (the classes
    :class:`FastReader` decodes into; equal node names give the same classes)."""
    return dict(_kinds_for(tuple(nodes)).by_kind)


# --- JSON Schema, generated from KINDS ------------------------------------------------------


def _field_schema(kind: str, fld: Field) -> dict[str, Any]:
    t = fld.type
    s: dict[str, Any]
    if t == "str":
        s = {"type": "string", "minLength": 1}
    elif t == "int":
        s = {"type": "integer", "minimum": 0, "maximum": MAX_INT}
    elif t == "int?":
        s = {"type": ["integer", "null"], "minimum": 0, "maximum": MAX_INT}
    elif t == "bool":
        s = {"type": "boolean"}
    elif t == "node":
        s = {"$ref": "#/$defs/node"}
    elif t == "nodes":
        s = {"type": "array", "items": {"$ref": "#/$defs/node"}, "minItems": 1, "uniqueItems": True}
    elif t == "enum":
        s = {"enum": list(fld.choices)}
    elif t == "enums":
        s = {"type": "array", "items": {"enum": list(fld.choices)}, "minItems": 1}
    elif t == "context":
        s = {"$ref": "#/$defs/context"}
    elif t == "initial":
        s = _INITIAL_SCHEMA
    else:
        s = {"type": "object"}
    if kind == "header" and fld.name == "version":
        s = {"const": VERSION}
    return {**s, "description": fld.description}


_INITIAL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "wals": {
            "type": "object",
            "additionalProperties": {
                "type": "array",
                "items": {
                    "type": "array",
                    "prefixItems": [
                        {"type": "integer", "minimum": 1, "maximum": MAX_INT},
                        {"type": "integer", "minimum": 1, "maximum": MAX_INT},
                    ],
                    "minItems": 2,
                    "maxItems": 2,
                },
            },
        },
        "acked": {"type": "integer", "minimum": 0, "maximum": MAX_INT},
        "markers": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "properties": {
                    "role": {"enum": list(MARKER_ROLES)},
                    "epoch": {"type": "integer", "minimum": 0, "maximum": MAX_INT},
                },
                "required": ["role", "epoch"],
                "additionalProperties": False,
            },
        },
    },
    "additionalProperties": False,
}


def trace_schema() -> dict[str, Any]:
    """The JSON Schema of one trace line (draft 2020-12), generated from :data:`KINDS`."""
    one_of = []
    for k in KINDS:
        props: dict[str, Any] = {
            "seq": {
                "type": "integer",
                "minimum": 0,
                "maximum": MAX_INT,
                "description": COMMON_FIELDS[0].description,
            },
            "kind": {"const": k.name, "description": k.description},
        }
        for f in k.fields:
            props[f.name] = _field_schema(k.name, f)
        props["meta"] = {"type": "object", "description": META_FIELD.description}
        one_of.append(
            {
                "title": k.name,
                "description": f"[{k.family}] {k.description}",
                "type": "object",
                "properties": props,
                "required": ["seq", "kind", *(f.name for f in k.fields if f.required)],
                "additionalProperties": False,
            }
        )
    ctx_props: dict[str, Any] = {}
    for name, values in TRACE_CONTEXT_FIELDS:
        ctx_props[name] = {"type": "boolean"} if name == "force" else {"enum": list(values)}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://baton.invalid/schemas/trace.schema.json",
        "title": f"Baton trace line, format {FORMAT} version {VERSION}",
        "description": (
            "A Baton trace is JSON Lines: one object per line, the first a header, seq strictly "
            "increasing. This schema validates one line; cross-line rules (seq order, nodes "
            "named in the header, header first) are checked by 'baton check'. See docs/oracle.md."
        ),
        "x-format-version": VERSION,
        "$defs": {
            "node": {"type": "string", "minLength": 1, "description": "a node name"},
            "context": {
                "type": "object",
                "description": "the validation context (baton.spec.validation.FIELDS)",
                "properties": ctx_props,
                "required": [name for name, _ in CONTEXT_FIELDS],
                "additionalProperties": False,
            },
        },
        "oneOf": one_of,
    }
