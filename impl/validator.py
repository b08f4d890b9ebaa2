"""The promotion validator, written to be read: one check per invariant.

Given what the controller observed about the cluster (a
:class:`ValidationContext`), :func:`validate` returns :class:`Allowed` or
:class:`Denied` with the reason, the invariant ID it protects and a sentence
for the operator. The checks run in exactly the order of the spec
(``baton.spec.validation.CHECKS``); the first failing one is the reason.
Anything unknown denies with its own reason (fail closed, P6-F1); ``force``
stands in only for a primary of *Unknown* status, never for one observed
*Active* (P6-A1a). The function is pure and total (P6-D1): no clock, no I/O,
no randomness; the same context always gives the same verdict.

Why the concrete domain is finite
=================================
Every field but two ranges over a small finite set: the role (5), the halt
reason (4, present exactly when Halted), the old primary's status (3),
``force`` (2), prefix compatibility (3) and MVCC preservation (3). The two
unbounded fields are integers: the candidate's durable WAL end and the proven
upper bound on acknowledged writes (or None). The rule reads them in exactly
one place, :func:`ack_position`, and only through their order -- ``end <
bound``, ``end == bound``, ``end > bound`` -- or the bound's absence. So two
contexts whose integers stand in the same order relation get the same verdict,
and the integers can be replaced by that relation (Behind, Equal, Ahead,
Unknown) without losing or adding a behaviour: the abstraction is exact. The
abstract domain then has (4 roles x 1 + 1 role x 3 halt reasons) x 3 x 2 x 4 x
3 x 3 = 7 x 216 = 1512 points, and :func:`conformance_mismatches` compares
this validator with the Z3 rule on every one of them, with several integer
representatives per order relation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# The vocabulary is the spec's (one set of names everywhere), restated here so that the
# runtime does not import Z3 at decision time.
ROLES: tuple[str, ...] = ("Disabled", "Uninitialized", "ReplicaActive", "PrimaryActive", "Halted")
HALT_REASONS: tuple[str, ...] = ("history_divergence", "wal_corruption", "operator_halt")
PRIMARY_STATUSES: tuple[str, ...] = ("Active", "Unavailable", "Unknown")
PREFIXES: tuple[str, ...] = ("Compatible", "Divergent", "Unknown")
MVCCS: tuple[str, ...] = ("Preserved", "Violated", "Unknown")

ALLOWED = "allowed"
ALLOWED_INVARIANTS: tuple[str, ...] = ("P6-A1", "P6-S1", "P6-S2", "P6-S3", "P6-F1")


@dataclass(frozen=True)
class ValidationContext:
    """What the controller observed, with positions as integers.

    ``wal_end`` is the candidate's durable WAL end (number of entries);
    ``ack_bound`` a proven upper bound on acknowledged writes, or None when no
    bound is proven. ``halt_reason`` is set exactly when ``role`` is Halted.
    """

    role: str
    primary_status: str
    force: bool
    wal_end: int
    ack_bound: int | None
    prefix: str
    mvcc: str = "Preserved"
    halt_reason: str | None = None

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"unknown role {self.role!r}")
        if (self.role == "Halted") != (self.halt_reason is not None):
            raise ValueError("halt_reason is required exactly when the role is Halted")
        if self.halt_reason is not None and self.halt_reason not in HALT_REASONS:
            raise ValueError(f"unknown halt reason {self.halt_reason!r}")
        if self.primary_status not in PRIMARY_STATUSES:
            raise ValueError(f"unknown primary status {self.primary_status!r}")
        if self.prefix not in PREFIXES:
            raise ValueError(f"unknown prefix compatibility {self.prefix!r}")
        if self.mvcc not in MVCCS:
            raise ValueError(f"unknown MVCC visibility {self.mvcc!r}")


@dataclass(frozen=True)
class Allowed:
    """Every safety precondition is proven."""

    invariants: tuple[str, ...] = ALLOWED_INVARIANTS
    explanation: str = (
        "allowed: the candidate is an active replica, no other node is observed to admit "
        "writes, its WAL reaches the proven acknowledged bound, its history is a prefix of "
        "the committed history and MVCC visibility is preserved (P6-A1, P6-S1, P6-S2, "
        "P6-S3, P6-F1)"
    )

    @property
    def reason(self) -> str:
        return ALLOWED

    @property
    def allowed(self) -> Literal[True]:
        return True


@dataclass(frozen=True)
class Denied:
    """The first failing check: its reason, the invariant it protects, a sentence."""

    reason: str
    invariant: str
    explanation: str

    @property
    def allowed(self) -> Literal[False]:
        return False


Verdict = Allowed | Denied


def ack_position(wal_end: int, ack_bound: int | None) -> str:
    """The only place positions are read: their order relation, or Unknown."""
    if ack_bound is None:
        return "Unknown"
    if wal_end < ack_bound:
        return "Behind"
    if wal_end == ack_bound:
        return "Equal"
    return "Ahead"


def validate(ctx: ValidationContext) -> Verdict:
    """Decide a promotion; checks in the spec's order, the first failure is the reason."""
    # P6-A1: a candidate that already admits writes would not hand authority over.
    if ctx.role == "PrimaryActive":
        return Denied(
            "candidate_is_primary", "P6-A1", "the candidate already admits writes (P6-A1)"
        )
    # P6-S1: a disabled node (replication or promotion switched off) is not promoted.
    if ctx.role == "Disabled":
        return Denied(
            "candidate_disabled",
            "P6-S1",
            "the candidate is disabled: replication or promotion switched off (P6-S1)",
        )
    # P6-S1: a node never initialised from the primary holds no history at all.
    if ctx.role == "Uninitialized":
        return Denied(
            "candidate_uninitialized",
            "P6-S1",
            "the candidate was never initialised from the primary (P6-S1)",
        )
    # P6-S2: a halted replica's history is not trusted to continue the committed one.
    if ctx.role == "Halted":
        return Denied(
            "candidate_halted",
            "P6-S2",
            f"the candidate's replication is halted ({ctx.halt_reason}) (P6-S2)",
        )
    # P6-A1: the old primary is observed admitting writes; a second writer would exist.
    if ctx.primary_status == "Active" and not ctx.force:
        return Denied("primary_active", "P6-A1", "the old primary is observed Active (P6-A1)")
    # P6-A1a: force never overrides a primary observed Active.
    if ctx.primary_status == "Active" and ctx.force:
        return Denied(
            "force_cannot_override_active_primary",
            "P6-A1a",
            "force was given but the old primary is observed Active; force never "
            "overrides that (P6-A1a)",
        )
    # P6-F1: an Unknown primary denies unless the operator asserts it is down (force).
    if ctx.primary_status == "Unknown" and not ctx.force:
        return Denied(
            "primary_status_unknown",
            "P6-F1",
            "the old primary's status is Unknown and the request was not forced (P6-F1)",
        )
    position = ack_position(ctx.wal_end, ctx.ack_bound)
    # P6-F1: without a proven bound on acknowledged writes nothing is proven.
    if position == "Unknown":
        return Denied(
            "ack_bound_unknown", "P6-F1", "no upper bound on acknowledged writes is proven (P6-F1)"
        )
    # P6-S1: the candidate must hold every acknowledged write.
    if position == "Behind":
        return Denied(
            "candidate_behind_ack_bound",
            "P6-S1",
            f"the candidate's durable WAL ends at {ctx.wal_end}, before the acknowledged "
            f"bound {ctx.ack_bound} (P6-S1)",
        )
    # P6-F1: prefix compatibility must be known ...
    if ctx.prefix == "Unknown":
        return Denied(
            "history_unknown",
            "P6-F1",
            "it is unknown whether the candidate's WAL is a prefix of the committed "
            "history (P6-F1)",
        )
    # P6-S2: ... and hold.
    if ctx.prefix == "Divergent":
        return Denied(
            "history_divergent",
            "P6-S2",
            "the candidate's WAL diverges from the committed history (P6-S2)",
        )
    # P6-F1: MVCC preservation must be known ...
    if ctx.mvcc == "Unknown":
        return Denied("mvcc_unknown", "P6-F1", "MVCC visibility preservation is unknown (P6-F1)")
    # P6-S3: ... and hold.
    if ctx.mvcc == "Violated":
        return Denied(
            "mvcc_violated",
            "P6-S3",
            "promoting the candidate would violate MVCC visibility (P6-S3)",
        )
    return Allowed()


# --- Conformance with the spec (called by the tests and the proofs) -----------

# Integer representatives of each order relation: (wal_end, ack_bound).
POSITION_REPRESENTATIVES: dict[str, tuple[tuple[int, int | None], ...]] = {
    "Behind": ((0, 1), (4, 9), (0, 2**40)),
    "Equal": ((0, 0), (7, 7), (2**40, 2**40)),
    "Ahead": ((1, 0), (9, 4), (2**40, 3)),
    "Unknown": ((0, None), (5, None)),
}


def context_for_point(
    point: tuple[str, str, str, bool, str, str, str], wal_end: int, ack_bound: int | None
) -> ValidationContext:
    """The concrete context of one abstract point, with the given integers."""
    role, halt, status, force, _position, prefix, mvcc = point
    return ValidationContext(
        role=role,
        halt_reason=None if halt == "none" else halt,
        primary_status=status,
        force=force,
        wal_end=wal_end,
        ack_bound=ack_bound,
        prefix=prefix,
        mvcc=mvcc,
    )


def conformance_mismatches() -> list[str]:
    """Compare :func:`validate` with the spec's rule on the whole abstract domain.

    For every one of the spec's points (``baton.spec.validation.domain()``) and
    every integer representative of its position, the decision must equal the
    spec's (``decision_table()``, evaluated by Z3) and a denial must name the
    spec's invariant for that reason. Returns one line per mismatch; empty
    means equal on the whole domain. Imports the spec (Z3) lazily: this is a
    check, never used at decision time.
    """
    from baton.spec import validation as spec

    table = spec.decision_table()
    mismatches: list[str] = []
    # The equivalence argument needs each representative to be in its relation.
    for relation, representatives in POSITION_REPRESENTATIVES.items():
        for wal_end, bound in representatives:
            actual = ack_position(wal_end, bound)
            if actual != relation:
                mismatches.append(
                    f"representative end={wal_end} bound={bound} is {actual}, not {relation}"
                )
    for point, expected in table.items():
        for wal_end, bound in POSITION_REPRESENTATIVES[point[4]]:
            verdict = validate(context_for_point(point, wal_end, bound))
            if verdict.reason != expected:
                mismatches.append(
                    f"{point} end={wal_end} bound={bound}: runtime {verdict.reason}, "
                    f"spec {expected}"
                )
            elif (
                isinstance(verdict, Denied) and verdict.invariant != spec.REASON_INVARIANT[expected]
            ):
                mismatches.append(
                    f"{point}: runtime invariant {verdict.invariant}, spec "
                    f"{spec.REASON_INVARIANT[expected]}"
                )
    if len(table) != 1512:
        mismatches.append(f"the spec's domain has {len(table)} points, expected 1512")
    return mismatches
