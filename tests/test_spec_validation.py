"""Tests of the spec's validation rule (spec/validation.py).

Covers: the rule is total and functional over its domain (P6-D1); soundness
and completeness against the independent preconditions (P6-F1); unknown
denies with its own reason (P6-F1); force never overrides Active (P6-A1a);
every reason maps to exactly one invariant and is reachable (P6-O2).
"""

from __future__ import annotations

import z3
from baton.spec import invariants, validation
from baton.spec.validation import DECISION, fresh_context


def _unsat(*constraints: z3.BoolRef) -> bool:
    solver = z3.Solver()
    solver.add(*constraints)
    return bool(solver.check() == z3.unsat)


def test_sound_allowed_implies_every_precondition() -> None:
    """P6-F1 soundness: Allowed => safe_to_promote, over the whole symbolic domain."""
    ctx = fresh_context()
    allowed = validation.decide(ctx) == DECISION[validation.ALLOWED]
    assert _unsat(validation.well_formed(ctx), allowed, z3.Not(validation.safe_to_promote(ctx)))


def test_complete_no_needless_denial() -> None:
    """Every precondition holds => Allowed."""
    ctx = fresh_context()
    allowed = validation.decide(ctx) == DECISION[validation.ALLOWED]
    assert _unsat(validation.well_formed(ctx), validation.safe_to_promote(ctx), z3.Not(allowed))


def test_total_and_functional() -> None:
    """P6-D1: exactly one decision per context."""
    ctx = fresh_context()
    d = validation.decide(ctx)
    assert _unsat(z3.Not(z3.Or(*[d == v for v in DECISION.values()])))
    other = z3.Const("other", validation.Decision)
    assert _unsat(d == other, d != other)


def test_force_never_overrides_active_primary() -> None:
    """P6-A1a: with the primary observed Active, nothing is allowed, forced or not."""
    ctx = fresh_context()
    assert _unsat(
        ctx.primary_status == validation.PSTATUS["Active"],
        validation.decide(ctx) == DECISION[validation.ALLOWED],
    )


def test_unknown_fields_deny_with_their_own_reason() -> None:
    """P6-F1: each unknown, alone, denies with a reason that maps to P6-F1."""
    base = ("ReplicaActive", "none", "Unavailable", False, "Equal", "Compatible", "Preserved")
    assert validation.evaluate(base) == "allowed"
    cases = {
        2: ("Unknown", "primary_status_unknown"),
        4: ("Unknown", "ack_bound_unknown"),
        5: ("Unknown", "history_unknown"),
        6: ("Unknown", "mvcc_unknown"),
    }
    for index, (value, reason) in cases.items():
        point = list(base)
        point[index] = value
        assert validation.evaluate(tuple(point)) == reason  # type: ignore[arg-type]
        assert validation.REASON_INVARIANT[reason] == "P6-F1"


def test_every_reason_reachable_and_mapped_to_one_invariant() -> None:
    """P6-O2: each denial reason occurs somewhere in the domain and names a real invariant."""
    seen = set(validation.decision_table().values())
    assert seen == set(validation.DECISION_NAMES)
    for reason in validation.REASON_NAMES:
        assert validation.REASON_INVARIANT[reason] in invariants.BY_ID


def test_domain_size() -> None:
    """The abstract domain: 7 role values x 3 x 2 x 4 x 3 x 3 = 1512 points."""
    assert len(list(validation.domain())) == 1512


def test_mutant_check_list_breaks_soundness() -> None:
    """Dropping the ack-bound check makes soundness fail: the proof bites."""
    checks = tuple(c for c in validation.CHECKS if c.reason != "ack_bound_unknown")
    ctx = fresh_context()
    allowed = validation.decide(ctx, checks) == DECISION[validation.ALLOWED]
    assert not _unsat(validation.well_formed(ctx), allowed, z3.Not(validation.safe_to_promote(ctx)))
