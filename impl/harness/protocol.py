"""The node protocol, version 1: JSON lines between ``baton test`` and one node process.

Every message is one JSON object on one line (UTF-8, newline-terminated), in a
Maelstrom-style envelope: ``{"src": ..., "dest": ..., "body": {...}}``. The
body has a ``type`` and, on requests, a ``msg_id``; a reply carries
``in_reply_to`` (the request's ``msg_id``). A node reads messages on standard
input, writes messages on standard output and writes logs (free text) on
standard error. Addresses: nodes are ``n0`` .. ``n{N-1}``, clients ``c0``,
``c1`` ..., the operator ``operator``, the workbench itself ``harness``.

Every message type, its direction and its fields are declared once, in
:data:`MESSAGES`; the JSON Schema (``baton schema node-protocol``) and the
workbench's checks of what a node writes are derived from that table.

Time belongs to the workbench: it sends ``tick`` messages carrying its own
clock, and a node answers every tick with ``tick_ok`` after it has handled
everything it read before the tick. That answer is the barrier that makes a
run reproducible (docs/harness.md): a node that needs a timeout counts ticks.
Any body ``type`` not listed here is a node-to-node message of the
implementation's own, which the workbench routes through its simulated
network without reading it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from baton import trace

# One body field (name, type, meaning): the trace table's own Field; the protocol adds
# the type ``entries`` (a list of [epoch, lsn] pairs).
Field = trace.Field

PROTOCOL = "baton-node"
VERSION = 1

HARNESS = "harness"
OPERATOR = "operator"

ERROR_CODES: dict[str, str] = {
    "not_primary": "the node does not admit writes now (try another node)",
    "busy": "the node is already working on a request of this kind",
    "malformed": "the request is not well formed",
    "unsupported": "the node does not implement this request or mode",
    "refused": "the node refuses to start (e.g. a corrupt marker: it never guesses)",
}
OUTCOMES: tuple[str, ...] = ("succeeded", "denied", "rejected")
ROLES: tuple[str, ...] = ("Primary", "Replica", "Halted")


@dataclass(frozen=True)
class Message:
    """One body ``type``: who sends it to whom, and its fields."""

    type: str
    sender: str
    receiver: str
    description: str
    fields: tuple[Field, ...] = ()
    reply_to: str | None = None


_ENTRIES = Field(
    "entries",
    "entries",
    "the node's durable WAL as [epoch, lsn] pairs, in order (lsn 1, 2, ...): a write's "
    "identity is the position the node acknowledged it at",
)
_EPOCH = Field("epoch", "int", "the node's durable epoch (its authority marker)")
_WRITABLE = Field("writable", "bool", "whether the node admits writes now")

MESSAGES: tuple[Message, ...] = (
    Message(
        "init",
        HARNESS,
        "node",
        "First message to every process: who it is, who its peers are, where its data lives. "
        "The node takes its directory's exclusive lock, recovers from the directory alone "
        "(or initialises an empty one) and answers init_ok.",
        (
            Field("node_id", "str", "this node's address"),
            Field("node_ids", "nodes", "every node of the cluster, in order, this one included"),
            Field("initial_primary", "str", "the node that admits writes in a fresh cluster"),
            Field(
                "mode",
                "enum",
                "replication mode (baton test sends async; a node that cannot run the mode "
                "answers error 'unsupported', which stops the run)",
                choices=trace.MODES,
            ),
            Field("data_dir", "str", "this node's own data directory (exists; maybe empty)"),
            Field(
                "incarnation",
                "int",
                "0 for the first process of this node, +1 for every restart (a node above 0 "
                "reports a restart event with the role and epoch it recovered)",
            ),
            Field("protocol", "int", "the protocol version the workbench speaks (1)"),
        ),
    ),
    Message(
        "init_ok",
        "node",
        HARNESS,
        "The node is up.",
        (
            Field("protocol", "int", "the protocol version the node speaks (1)"),
            Field(
                "emits",
                "nodes",
                "the trace families this node reports as events (lifecycle, validation, data, "
                "durability, authority); absent: the oracle infers them",
                required=False,
            ),
        ),
        "init",
    ),
    Message(
        "tick",
        HARNESS,
        "node",
        "The workbench's clock advanced. Answer with tick_ok once every message read before "
        "this one is handled (and its replies and events written).",
        (Field("time", "int", "the workbench's clock, in ticks"),),
    ),
    Message("tick_ok", "node", HARNESS, "Barrier: all earlier input is handled.", (), "tick"),
    Message(
        "write",
        "client",
        "node",
        "A client write. Acknowledge it (write_ok) only once it is durable and will survive "
        "any promotion; otherwise answer an error (e.g. not_primary).",
        (
            Field(
                "value",
                "str",
                "the client's value (the workbench identifies writes by the "
                "[epoch, lsn] of the acknowledgement)",
            ),
        ),
    ),
    Message(
        "write_ok",
        "node",
        "client",
        "The write is acknowledged at this position.",
        (
            Field("epoch", "int", "the epoch the entry was written in"),
            Field("lsn", "int", "the entry's WAL position (1-based)"),
        ),
        "write",
    ),
    Message("read", "client", "node", "A client read of the node's whole WAL."),
    Message(
        "read_ok", "node", "client", "What the node holds.", (_ENTRIES, _EPOCH, _WRITABLE), "read"
    ),
    Message(
        "promote",
        OPERATOR,
        "node",
        "The operator's explicit promotion request for the receiving node. Each request is "
        "a new attempt; a node never retries one by itself.",
        (
            Field(
                "attempt",
                "str",
                "the attempt ID (unique in the run); every trace event of the attempt carries it",
            ),
            Field("force", "bool", "the operator asserts a primary of Unknown status is down"),
            Field("operator", "str", "who asks (audited)"),
            Field("reason", "str", "the runbook step, free text"),
        ),
    ),
    Message(
        "promote_ok",
        "node",
        OPERATOR,
        "The attempt's outcome: succeeded (the node now admits writes), denied (the "
        "validator's reason) or rejected (turned away before validation).",
        (
            Field("attempt", "str", "the request's attempt ID"),
            Field("outcome", "enum", "what happened", choices=OUTCOMES),
            Field("reason", "str", "'allowed' or the denial / rejection reason"),
            Field("epoch", "int", "the node's epoch after the attempt", required=False),
        ),
        "promote",
    ),
    Message("status", OPERATOR, "node", "A status probe."),
    Message(
        "status_ok",
        "node",
        OPERATOR,
        "The node's own view of itself.",
        (
            Field("role", "enum", "what the durable marker says", choices=ROLES),
            _EPOCH,
            _WRITABLE,
            Field("wal_end", "int", "the durable WAL's last position"),
            Field("lifecycle", "str", "the promotion lifecycle state (Steady when idle)"),
        ),
        "status",
    ),
    Message(
        "event",
        "node",
        HARNESS,
        "Something the node reports for the trace: one Baton trace event without seq "
        "(baton schema trace): lifecycle transitions, validations with their context, "
        "markers, writes, acknowledgements, replication, restarts, demotions. Each is "
        "reported by the node it happened on once it is true (a write after its fsync, a "
        "replicate by the receiver once the entry is durable there); the workbench writes "
        "header, seq, crash and end. A malformed event is dropped and reported as a "
        "protocol problem.",
        (Field("event", "object", "the trace event (kind and its fields)"),),
    ),
    Message(
        "error",
        "node",
        "any",
        "A request failed; nothing it asked for happened.",
        (
            Field(
                "code",
                "enum",
                "what went wrong: "
                + "; ".join(f"{code}: {meaning}" for code, meaning in ERROR_CODES.items()),
                choices=tuple(ERROR_CODES),
            ),
            Field("text", "str", "one line for a person"),
        ),
        "any request",
    ),
)
BY_TYPE: dict[str, Message] = {m.type: m for m in MESSAGES}
RESERVED: frozenset[str] = frozenset(BY_TYPE)


class ProtocolViolation(ValueError):
    """A node wrote something the protocol does not allow (named in the message)."""


def check_field(fld: Field, value: Any) -> str | None:
    """Why ``value`` is not a valid ``fld``, or None."""
    t = fld.type
    if t == "str":
        return None if isinstance(value, str) and value else "a non-empty string"
    if t == "int":
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
        return None if ok else "a non-negative integer"
    if t == "bool":
        return None if isinstance(value, bool) else "true or false"
    if t == "nodes":
        ok = isinstance(value, list) and all(isinstance(v, str) and v for v in value)
        return None if ok else "a list of node addresses"
    if t == "enum":
        return None if value in fld.choices else f"one of {list(fld.choices)}"
    if t == "entries":
        ok = isinstance(value, list) and all(
            isinstance(e, list)
            and len(e) == 2
            and all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in e)
            for e in value
        )
        return None if ok else "a list of [epoch, lsn] pairs"
    if t == "object":
        return None if isinstance(value, dict) else "an object"
    raise AssertionError(f"unknown field type {t}")


def check_message(msg: Any) -> dict[str, Any]:
    """Validate an envelope and, for the protocol's own types, its body fields."""
    if not isinstance(msg, dict):
        raise ProtocolViolation("a message must be a JSON object")
    for key in ("src", "dest"):
        if not isinstance(msg.get(key), str) or not msg[key]:
            raise ProtocolViolation(f"field {key!r}: expected a non-empty string")
    body = msg.get("body")
    if not isinstance(body, dict):
        raise ProtocolViolation("field 'body': expected an object")
    kind = body.get("type")
    if not isinstance(kind, str) or not kind:
        raise ProtocolViolation("field 'body.type': expected a non-empty string")
    for key in ("msg_id", "in_reply_to"):
        if key in body and (not isinstance(body[key], int) or isinstance(body[key], bool)):
            raise ProtocolViolation(f"field 'body.{key}': expected an integer")
    spec = BY_TYPE.get(kind)
    if spec is not None:
        if spec.reply_to is not None and "in_reply_to" not in body:
            raise ProtocolViolation(f"{kind}: field 'body.in_reply_to' is required on a reply")
        for fld in spec.fields:
            if fld.name not in body:
                if fld.required:
                    raise ProtocolViolation(f"{kind}: missing field 'body.{fld.name}'")
                continue
            why = check_field(fld, body[fld.name])
            if why is not None:
                raise ProtocolViolation(f"{kind}: field 'body.{fld.name}': expected {why}")
    return msg


def _field_schema(fld: Field) -> dict[str, Any]:
    s: dict[str, Any]
    if fld.type == "str":
        s = {"type": "string", "minLength": 1}
    elif fld.type == "int":
        s = {"type": "integer", "minimum": 0}
    elif fld.type == "bool":
        s = {"type": "boolean"}
    elif fld.type == "nodes":
        s = {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1}
    elif fld.type == "enum":
        s = {"enum": list(fld.choices)}
    elif fld.type == "entries":
        pair = {"type": "integer", "minimum": 0}
        s = {
            "type": "array",
            "items": {"type": "array", "prefixItems": [pair, pair], "minItems": 2, "maxItems": 2},
        }
    else:
        s = {"type": "object"}
    return {**s, "description": fld.description}


def protocol_schema() -> dict[str, Any]:
    """The JSON Schema of one protocol line (draft 2020-12), generated from MESSAGES."""
    bodies: list[dict[str, Any]] = []
    for m in MESSAGES:
        props: dict[str, Any] = {
            "type": {"const": m.type},
            "msg_id": {"type": "integer", "description": "the sender's id for this request"},
            "in_reply_to": {"type": "integer", "description": "the msg_id this answers"},
        }
        for f in m.fields:
            props[f.name] = _field_schema(f)
        required = ["type", *(f.name for f in m.fields if f.required)]
        if m.reply_to is not None:
            required.append("in_reply_to")
        bodies.append(
            {
                "title": m.type,
                "description": f"{m.sender} -> {m.receiver}: {m.description}",
                "type": "object",
                "properties": props,
                "required": required,
            }
        )
    bodies.append(
        {
            "title": "node-to-node",
            "description": (
                "Any other type: a message of the implementation's own between two nodes, "
                "routed by the workbench through its simulated network (delay, loss, "
                "duplication, partitions) and never read by it."
            ),
            "type": "object",
            "properties": {
                "type": {"type": "string", "not": {"enum": sorted(RESERVED)}},
                "msg_id": {"type": "integer"},
                "in_reply_to": {"type": "integer"},
            },
            "required": ["type"],
        }
    )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://baton.invalid/schemas/node-protocol.schema.json",
        "title": f"Baton node protocol ({PROTOCOL}) version {VERSION}: one line",
        "description": (
            "One JSON object per line: a node reads them on standard input and writes them on "
            "standard output; logs go to standard error. See docs/harness.md."
        ),
        "x-protocol-version": VERSION,
        "type": "object",
        "properties": {
            "src": {"type": "string", "minLength": 1, "description": "sender address"},
            "dest": {"type": "string", "minLength": 1, "description": "receiver address"},
            "body": {"oneOf": bodies},
        },
        "required": ["src", "dest", "body"],
    }
