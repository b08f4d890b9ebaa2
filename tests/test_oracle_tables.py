"""The oracle's fast tables, cross-checked against the Z3 spec on the whole domain.

The oracle never calls a solver: it reads the lifecycle table from
baton._table and decides each validation context from the ordered checks of the
shipped vocabulary (baton.oracle.spec_decision, baton.vocabulary.decide). Here
both are checked against
the spec with the *solver*: every (state, event, next) triple is satisfiable
in the Z3 relation exactly when the table lists it (P6-D2), and every point of
the 1512-point validation domain gets exactly the oracle's decision (P6-D1),
with the reason's invariant the oracle expects in explanations (P6-O2).
"""

from __future__ import annotations

import z3
from baton import oracle
from baton.spec import lifecycle, validation


def test_lifecycle_table_equals_the_z3_relation() -> None:
    """P6-D2: baton._table (used by the oracle) == the Z3 transition relation, triple by triple."""
    solver = z3.Solver()
    for src in lifecycle.STATE_NAMES:
        for event in lifecycle.EVENT_NAMES:
            for dst in lifecycle.STATE_NAMES:
                solver.push()
                solver.add(
                    lifecycle.transition(
                        lifecycle.STATES[src], lifecycle.EVENTS[event], lifecycle.STATES[dst]
                    )
                )
                in_spec = solver.check() == z3.sat
                solver.pop()
                assert in_spec == (oracle.LIFECYCLE.get((src, event)) == dst), (src, event, dst)


def test_validation_decisions_equal_the_solver_on_the_whole_domain() -> None:
    """P6-D1/P6-F1: the oracle's decision for every domain point is the one Z3 proves."""
    ctx = validation.fresh_context("o")
    decision = validation.decide(ctx)
    solver = z3.Solver()
    points = list(validation.domain())
    assert len(points) == 1512
    for point in points:
        want = oracle.spec_decision(point)
        solver.push()
        concrete = validation.concrete_context(point)
        for name in (
            "role",
            "halt_reason",
            "primary_status",
            "force",
            "position",
            "prefix",
            "mvcc",
        ):
            solver.add(getattr(ctx, name) == getattr(concrete, name))
        # The decision is forced: its negation is unsatisfiable.
        solver.add(decision != validation.DECISION[want])
        assert solver.check() == z3.unsat, point
        solver.pop()


def test_reason_invariants_come_from_the_spec() -> None:
    """P6-O2: the invariant the oracle expects for each reason is the spec's mapping."""
    assert oracle.reason_invariant() == validation.REASON_INVARIANT
    assert oracle.allowed_invariants() == frozenset(validation.ALLOWED_INVARIANTS)
    assert set(oracle.reason_invariant()) == set(validation.REASON_NAMES)


def test_position_abstraction_matches_the_runtime_validator() -> None:
    """P6-D1: the oracle's wal_end/ack_bound -> position is the validator's abstraction."""
    from baton.validator import ack_position

    for end in range(4):
        for bound in (None, 0, 1, 2, 3):
            assert oracle.position_of(end, bound) == ack_position(end, bound)
