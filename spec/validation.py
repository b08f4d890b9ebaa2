"""The validation rule: a pure, total, deterministic decision (P6-F1, P6-D1).

The input is a :data:`ValidationContext`, seven fields over finite domains.
Positions enter only through their order: the candidate's durable WAL end
compared with the *proven* upper bound on acknowledged writes
(``Behind``/``Equal``/``Ahead``), or ``Unknown`` when no bound is proven. The
decision depends on positions only through that comparison, so this finite
domain is an exact abstraction of the concrete one (the runtime validator
computes the relation from integers and is proven equal on every point).

The decision is ``Allowed`` or one denial reason. Checks run in the fixed
order of :data:`CHECKS`; the first that fails is the reason. Every reason maps
to exactly one invariant ID. Anything unknown denies with its own reason
(fail closed, P6-F1); ``force`` stands in only for a primary whose status is
*Unknown* and never for one observed *Active* (P6-A1a).

:func:`safe_to_promote` states the safety preconditions independently of the
check list; the proofs show ``decide(ctx) == Allowed`` exactly when they hold
(soundness and completeness).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache

import z3

# --- The input domain -------------------------------------------------------

ROLE_NAMES: tuple[str, ...] = (
    "Disabled",
    "Uninitialized",
    "ReplicaActive",
    "PrimaryActive",
    "Halted",
)
HALT_REASON_NAMES: tuple[str, ...] = (
    "none",
    "history_divergence",
    "wal_corruption",
    "operator_halt",
)
PRIMARY_STATUS_NAMES: tuple[str, ...] = ("Active", "Unavailable", "Unknown")
POSITION_NAMES: tuple[str, ...] = ("Behind", "Equal", "Ahead", "Unknown")
"""The candidate's durable WAL end relative to the proven acknowledged bound."""
PREFIX_NAMES: tuple[str, ...] = ("Compatible", "Divergent", "Unknown")
MVCC_NAMES: tuple[str, ...] = ("Preserved", "Violated", "Unknown")

Role, _ROLES = z3.EnumSort("CandidateRole", list(ROLE_NAMES))
HaltReason, _HALTS = z3.EnumSort("HaltReason", list(HALT_REASON_NAMES))
PrimaryStatus, _PSTATUS = z3.EnumSort("PrimaryStatus", list(PRIMARY_STATUS_NAMES))
Position, _POSITIONS = z3.EnumSort("AckPosition", list(POSITION_NAMES))
Prefix, _PREFIXES = z3.EnumSort("PrefixCompat", list(PREFIX_NAMES))
Mvcc, _MVCCS = z3.EnumSort("MvccVisibility", list(MVCC_NAMES))

ROLE = dict(zip(ROLE_NAMES, _ROLES, strict=True))
HALT = dict(zip(HALT_REASON_NAMES, _HALTS, strict=True))
PSTATUS = dict(zip(PRIMARY_STATUS_NAMES, _PSTATUS, strict=True))
POSITION = dict(zip(POSITION_NAMES, _POSITIONS, strict=True))
PREFIX = dict(zip(PREFIX_NAMES, _PREFIXES, strict=True))
MVCC = dict(zip(MVCC_NAMES, _MVCCS, strict=True))

FIELDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("role", ROLE_NAMES),
    ("halt_reason", HALT_REASON_NAMES),
    ("primary_status", PRIMARY_STATUS_NAMES),
    ("force", ("false", "true")),
    ("position", POSITION_NAMES),
    ("prefix", PREFIX_NAMES),
    ("mvcc", MVCC_NAMES),
)
"""The abstract input domain, field by field, in the order of :class:`Context`."""


@dataclass(frozen=True)
class Context:
    """A symbolic validation context: one Z3 term per field."""

    role: z3.ExprRef
    halt_reason: z3.ExprRef
    primary_status: z3.ExprRef
    force: z3.BoolRef
    position: z3.ExprRef
    prefix: z3.ExprRef
    mvcc: z3.ExprRef


def fresh_context(prefix: str = "ctx") -> Context:
    """A context of fresh Z3 constants (for proofs over the whole domain)."""
    return Context(
        role=z3.Const(f"{prefix}.role", Role),
        halt_reason=z3.Const(f"{prefix}.halt_reason", HaltReason),
        primary_status=z3.Const(f"{prefix}.primary_status", PrimaryStatus),
        force=z3.Bool(f"{prefix}.force"),
        position=z3.Const(f"{prefix}.position", Position),
        prefix=z3.Const(f"{prefix}.prefix", Prefix),
        mvcc=z3.Const(f"{prefix}.mvcc", Mvcc),
    )


def well_formed(ctx: Context) -> z3.BoolRef:
    """A halt reason is present exactly when the role is ``Halted``."""
    return (ctx.role == ROLE["Halted"]) == (ctx.halt_reason != HALT["none"])


# --- The ordered checks -----------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One check of the rule: when ``fails(ctx)`` holds, deny with ``reason``."""

    reason: str
    invariant: str
    description: str
    fails: Callable[[Context], z3.BoolRef]


CHECKS: tuple[Check, ...] = (
    Check(
        "candidate_is_primary",
        "P6-A1",
        "the candidate already admits writes; promoting it would not hand over authority",
        lambda c: c.role == ROLE["PrimaryActive"],
    ),
    Check(
        "candidate_disabled",
        "P6-S1",
        "the candidate is disabled (its replication or its promotion switched off): it may not "
        "hold the acknowledged history, and it is not promoted",
        lambda c: c.role == ROLE["Disabled"],
    ),
    Check(
        "candidate_uninitialized",
        "P6-S1",
        "the candidate was never initialised from the primary, so it holds no history",
        lambda c: c.role == ROLE["Uninitialized"],
    ),
    Check(
        "candidate_halted",
        "P6-S2",
        "the candidate's replication is halted (history divergence, corruption or operator)",
        lambda c: c.role == ROLE["Halted"],
    ),
    Check(
        "primary_active",
        "P6-A1",
        "the old primary is observed Active; a second writer would exist",
        lambda c: z3.And(c.primary_status == PSTATUS["Active"], z3.Not(c.force)),
    ),
    Check(
        "force_cannot_override_active_primary",
        "P6-A1a",
        "force was given but the old primary is observed Active; force never overrides that",
        lambda c: z3.And(c.primary_status == PSTATUS["Active"], c.force),
    ),
    Check(
        "primary_status_unknown",
        "P6-F1",
        "the old primary's status is Unknown and the operator did not force",
        lambda c: z3.And(c.primary_status == PSTATUS["Unknown"], z3.Not(c.force)),
    ),
    Check(
        "ack_bound_unknown",
        "P6-F1",
        "no upper bound on acknowledged writes is proven",
        lambda c: c.position == POSITION["Unknown"],
    ),
    Check(
        "candidate_behind_ack_bound",
        "P6-S1",
        "the candidate's durable WAL ends before the last acknowledged write",
        lambda c: c.position == POSITION["Behind"],
    ),
    Check(
        "history_unknown",
        "P6-F1",
        "it is unknown whether the candidate's WAL is a prefix of the committed history",
        lambda c: c.prefix == PREFIX["Unknown"],
    ),
    Check(
        "history_divergent",
        "P6-S2",
        "the candidate's WAL diverges from the committed history",
        lambda c: c.prefix == PREFIX["Divergent"],
    ),
    Check(
        "mvcc_unknown",
        "P6-F1",
        "MVCC visibility preservation is unknown",
        lambda c: c.mvcc == MVCC["Unknown"],
    ),
    Check(
        "mvcc_violated",
        "P6-S3",
        "promoting the candidate would violate MVCC visibility of committed transactions",
        lambda c: c.mvcc == MVCC["Violated"],
    ),
)

ALLOWED = "allowed"
ALLOWED_INVARIANTS: tuple[str, ...] = ("P6-A1", "P6-S1", "P6-S2", "P6-S3", "P6-F1")
"""An approval is explained by the invariants whose preconditions it proved."""

REASON_NAMES: tuple[str, ...] = tuple(ch.reason for ch in CHECKS)
DECISION_NAMES: tuple[str, ...] = (ALLOWED, *REASON_NAMES)

Decision, _DECISIONS = z3.EnumSort("Decision", list(DECISION_NAMES))
DECISION = dict(zip(DECISION_NAMES, _DECISIONS, strict=True))

REASON_INVARIANT: dict[str, str] = {ch.reason: ch.invariant for ch in CHECKS}
"""Every denial reason mapped to exactly one invariant ID (P6-O2)."""


def decide(ctx: Context, checks: tuple[Check, ...] = CHECKS) -> z3.ExprRef:
    """The decision as a Z3 term: the first failing check's reason, else ``allowed``.

    ``checks`` exists so mutants can be built from a modified check list.
    """
    result: z3.ExprRef = DECISION[ALLOWED]
    for check in reversed(checks):
        result = z3.If(check.fails(ctx), DECISION[check.reason], result)
    return result


def safe_to_promote(ctx: Context) -> z3.BoolRef:
    """The safety preconditions, stated independently of the check order.

    The candidate is an active replica; no other node is observed to admit
    writes (the old primary is Unavailable, or Unknown and the operator forced);
    a bound on acknowledged writes is proven and the candidate's WAL reaches it;
    its WAL is a prefix of the committed history; MVCC visibility is preserved.
    """
    return z3.And(
        ctx.role == ROLE["ReplicaActive"],
        z3.Or(
            ctx.primary_status == PSTATUS["Unavailable"],
            z3.And(ctx.primary_status == PSTATUS["Unknown"], ctx.force),
        ),
        z3.Or(ctx.position == POSITION["Equal"], ctx.position == POSITION["Ahead"]),
        ctx.prefix == PREFIX["Compatible"],
        ctx.mvcc == MVCC["Preserved"],
    )


# --- Concrete evaluation ------------------------------------------------------

ConcretePoint = tuple[str, str, str, bool, str, str, str]
"""A point of the abstract domain: field values in :data:`FIELDS` order."""


def concrete_context(point: ConcretePoint) -> Context:
    """The Z3 context of constants for one concrete point."""
    role, halt, status, force, position, prefix, mvcc = point
    return Context(
        role=ROLE[role],
        halt_reason=HALT[halt],
        primary_status=PSTATUS[status],
        force=z3.BoolVal(force),
        position=POSITION[position],
        prefix=PREFIX[prefix],
        mvcc=MVCC[mvcc],
    )


def domain() -> Iterator[ConcretePoint]:
    """Every well-formed point of the abstract domain, in a stable order."""
    for role in ROLE_NAMES:
        halts = HALT_REASON_NAMES[1:] if role == "Halted" else ("none",)
        for halt, status, force, position, prefix, mvcc in itertools.product(
            halts, PRIMARY_STATUS_NAMES, (False, True), POSITION_NAMES, PREFIX_NAMES, MVCC_NAMES
        ):
            yield (role, halt, status, force, position, prefix, mvcc)


def evaluate(point: ConcretePoint, checks: tuple[Check, ...] = CHECKS) -> str:
    """The spec's decision for one concrete point, computed by Z3 simplification."""
    return str(z3.simplify(decide(concrete_context(point), checks)))


@cache
def decision_table() -> dict[ConcretePoint, str]:
    """The spec's decision on every point of the domain (for generated fast checks)."""
    return {point: evaluate(point) for point in domain()}
