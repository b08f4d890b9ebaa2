"""The protocol's vocabulary as one versioned JSON document (``baton schema vocabulary``).

Everything an outside implementation must spell the way the spec does, as
data: lifecycle states, events and transitions; the validation context, field
by field, with what each field records and its honest value when unknown; the
validation checks in their order, each with its exact condition (``force``
included), its denial reason and that reason's invariant; the invariants an
approval names; the values that mean "not applicable" for a system without
the feature (no MVCC); the invariant catalogue.

:func:`generate` derives the document from the spec (Z3 is asked, never
copied): each check's condition is computed by evaluating the check on every
point of the domain and is stated as a conjunction of allowed values per
field -- generation fails if a check is not exactly such a conjunction. The
shipped copy (``impl/schemas/vocabulary.json``, kept equal by the tests) is
what :func:`load` reads, so a reader needs no solver. :func:`decide` evaluates
a context against the shipped checks; the tests prove it equal to the spec's
decision on the whole domain, and ``baton check`` uses it.
"""

from __future__ import annotations

import itertools
import json
from functools import cache
from importlib import resources
from typing import Any

FORMAT = "baton-vocabulary"
VERSION = 1
FILE = "vocabulary.json"

NOT_APPLICABLE: dict[str, dict[str, str]] = {
    "mvcc": {
        "value": "NotApplicable",
        "decided_as": "Preserved",
        "meaning": "the system has no multi-version concurrency control, so there is no "
        "visibility of committed transactions to preserve; the spec's MVCC precondition "
        "holds vacuously. Record it only for a system without MVCC; a system with MVCC "
        "that cannot tell records Unknown.",
    },
}
"""Context values a trace may record beyond the spec's domain, and the spec value each
is decided as."""

FIELD_GUIDE: dict[str, dict[str, str]] = {
    "role": {
        "records": "the candidate's replication role as the validator read it from the "
        "candidate's own durable state (its authority marker): PrimaryActive if it admits "
        "writes, ReplicaActive if it replicates, Halted if replication halted, Disabled or "
        "Uninitialized if it has no replicated history",
        "honest": "the role the candidate's durable marker names; never a role inferred "
        "from the request",
        "derived": "checked against the trace: a writable candidate must be PrimaryActive, "
        "a halted one Halted",
    },
    "halt_reason": {
        "records": "why the candidate halted, exactly when role is Halted; 'none' otherwise",
        "honest": "the reason recorded when it halted",
        "derived": "taken as recorded (well-formedness checked)",
    },
    "primary_status": {
        "records": "what the validator knows of the old primary: Active if it observed it "
        "admitting writes, Unavailable if it established that no other node admits writes "
        "(crashed, fenced, demoted), Unknown if it cannot tell",
        "honest": "Unknown whenever the validator did not establish Active or Unavailable "
        "itself (a timeout is not Unavailable)",
        "derived": "checked against the trace: Unavailable while another node admits writes "
        "is a false fact (P6-A1)",
    },
    "force": {
        "records": "whether the operator's request for this attempt was forced; the "
        "validator copies it from the request, never sets it itself",
        "honest": "the request's force flag",
        "derived": "checked against the attempt's request line (P6-A1a)",
    },
    "position": {
        "records": "the candidate's durable WAL end (wal_end) compared with the proven upper "
        "bound on acknowledged writes (ack_bound): Behind, Equal, Ahead; Unknown when no "
        "bound is proven",
        "honest": "Unknown unless the bound is proven (e.g. the old primary's durable WAL end "
        "in async mode, the standby's in sync mode); record wal_end and ack_bound too",
        "derived": "with data events: wal_end must be the candidate's WAL end in the trace, "
        "ack_bound at least the acknowledged writes, and Equal/Ahead impossible when the "
        "candidate lacks acknowledged writes (P6-S1); wal_end and ack_bound must give the "
        "recorded position (P6-D1)",
    },
    "prefix": {
        "records": "whether the candidate's WAL agrees, entry by entry (position and epoch), "
        "with the committed history it is compared with: the old primary's WAL in async "
        "mode, the standby's in sync mode",
        "honest": "Unknown unless the validator compared entry epochs (comparing LSNs alone "
        "cannot see a divergent entry at the same position)",
        "derived": "with data events: the oracle tracks every WAL as epoch runs and compares "
        "the candidate with the acknowledged history and with the spec's source WAL; a "
        "false Compatible is P6-S2, a false Divergent P6-D1",
    },
    "mvcc": {
        "records": "whether promoting the candidate preserves MVCC visibility of committed "
        "transactions",
        "honest": "Unknown if not established; NotApplicable for a system without MVCC",
        "derived": "taken as recorded",
    },
}
"""What each context field records and how to record it honestly (docs/oracle.md)."""


def _condition(
    fails: Any, domain: list[tuple[Any, ...]], fields: list[tuple[str, tuple[Any, ...]]]
) -> dict[str, list[Any]]:
    """A check's failing set as {field: values}, exact on the (well-formed) domain.

    Starts from the values each field takes on the failing points, drops every
    field whose constraint the rest already imply, and fails unless the result
    describes the failing set exactly."""
    from baton.spec import validation

    failing = {p for p in domain if _holds(fails, p, validation)}
    cond: dict[int, list[Any]] = {}
    for i, (_name, values) in enumerate(fields):
        seen = [v for v in values if any(p[i] == v for p in failing)]
        if len(seen) < len({p[i] for p in domain}):
            cond[i] = seen

    def matches(c: dict[int, list[Any]]) -> set[tuple[Any, ...]]:
        return {p for p in domain if all(p[i] in vals for i, vals in c.items())}

    for i in reversed(list(cond)):  # later fields go first: role stays, halt_reason goes
        rest = {k: v for k, v in cond.items() if k != i}
        if matches(rest) == failing:
            cond = rest
    if matches(cond) != failing:
        raise ValueError("a validation check is not a conjunction of per-field values")
    return {fields[i][0]: vals for i, vals in sorted(cond.items())}


def _holds(fails: Any, point: tuple[Any, ...], validation: Any) -> bool:
    import z3

    return bool(z3.is_true(z3.simplify(fails(validation.concrete_context(point)))))


def generate() -> dict[str, Any]:
    """The vocabulary document, derived from the spec (imports Z3)."""
    from baton import trace
    from baton.spec import invariants, lifecycle, validation

    spec_fields = [
        (name, tuple(v == "true" for v in values) if name == "force" else values)
        for name, values in validation.FIELDS
    ]
    domain = list(validation.domain())
    checks = []
    for order, check in enumerate(validation.CHECKS, start=1):
        checks.append(
            {
                "order": order,
                "reason": check.reason,
                "invariant": check.invariant,
                "description": check.description,
                "when": _condition(check.fails, domain, spec_fields),
            }
        )
    fields = []
    for name, values in validation.FIELDS:
        entry: dict[str, Any] = {
            "name": name,
            "type": "boolean" if name == "force" else "string",
            "values": [v == "true" for v in values] if name == "force" else list(values),
            **FIELD_GUIDE[name],
        }
        if name in NOT_APPLICABLE:
            entry["not_applicable"] = NOT_APPLICABLE[name]
        fields.append(entry)
    return {
        "format": FORMAT,
        "version": VERSION,
        "description": "The Baton protocol's vocabulary, generated from the spec. Values are "
        "spelled exactly as here in traces, vectors and adapters.",
        "lifecycle": {
            "states": list(lifecycle.STATE_NAMES),
            "events": list(lifecycle.EVENT_NAMES),
            "initial_state": lifecycle.RECOVERY_STATE,
            "state_after_crash": lifecycle.RECOVERY_STATE,
            "transitions": [
                {"from": s, "event": e, "to": t} for s, e, t in lifecycle.enumerate_transitions()
            ],
            "note": "every (state, event) pair not listed is forbidden; timeout and retry "
            "have no transition at all (P6-F3)",
        },
        "validation": {
            "context_fields": fields,
            "well_formed": "halt_reason is not 'none' exactly when role is 'Halted'",
            "checks": checks,
            "check_semantics": "checks run in order; the first whose 'when' holds (every "
            "listed field has one of the listed values; unlisted fields any value) denies "
            "with its reason; if none holds, the decision is 'allowed'",
            "allowed": validation.ALLOWED,
            "allowed_invariants": list(validation.ALLOWED_INVARIANTS),
            "reasons": dict(validation.REASON_INVARIANT),
            "domain_size": len(domain),
        },
        "not_applicable": NOT_APPLICABLE,
        "trace": {
            "format": trace.FORMAT,
            "version": trace.VERSION,
            "kinds": [k.name for k in trace.KINDS],
            "families": list(trace.FAMILIES),
            "marker_roles": list(trace.MARKER_ROLES),
            "halt_reasons": list(trace.HALT_REASONS),
            "modes": list(trace.MODES),
        },
        "invariants": [
            {"id": inv.id, "title": inv.title, "statement": inv.statement}
            for inv in invariants.INVARIANTS
        ],
    }


@cache
def load() -> dict[str, Any]:
    """The shipped vocabulary (package data; no solver needed)."""
    text = resources.files("baton").joinpath("schemas", FILE).read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


Point = tuple[str, str, str, bool, str, str, str]


@cache
def _checks() -> tuple[tuple[str, tuple[tuple[int, frozenset[Any]], ...]], ...]:
    doc = load()["validation"]
    names = [f["name"] for f in doc["context_fields"]]
    return tuple(
        (
            check["reason"],
            tuple((names.index(n), frozenset(vals)) for n, vals in check["when"].items()),
        )
        for check in doc["checks"]
    )


def spec_value(field: str, value: Any) -> Any:
    """The spec value a recorded context value is decided as ('NotApplicable' -> 'Preserved')."""
    na = NOT_APPLICABLE.get(field)
    return na["decided_as"] if na is not None and value == na["value"] else value


@cache
def decide(point: Point) -> str:
    """The decision for one context point (values in the spec's field order), from the
    shipped checks: the first check that holds denies with its reason, else 'allowed'."""
    for reason, conds in _checks():
        if all(point[i] in vals for i, vals in conds):
            return reason
    allowed: str = load()["validation"]["allowed"]
    return allowed


def domain_points() -> list[Point]:
    """Every well-formed point, from the shipped document (for cross-checks)."""
    doc = load()["validation"]
    fields = {f["name"]: f["values"] for f in doc["context_fields"]}
    out: list[Point] = []
    for combo in itertools.product(*fields.values()):
        point: Point = combo
        if (point[0] == "Halted") == (point[1] != "none"):
            out.append(point)
    return out
