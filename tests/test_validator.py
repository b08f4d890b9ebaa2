"""The runtime validator (impl/validator.py) against the spec's rule.

Covers: equality with the Z3 rule on the whole 1512-point abstract domain with
several integer representatives per position (P6-F1, P6-D1); agreement with a
deliberately naive second validator on random concrete contexts (hypothesis);
every denial names the spec's invariant (P6-O2); force never overrides an
Active primary (P6-A1a); the checks appear in the spec's order.
"""

from __future__ import annotations

import inspect

from baton import validator
from baton.spec import validation as spec
from baton.validator import ValidationContext, validate
from hypothesis import given
from hypothesis import strategies as st


def test_equal_to_the_spec_on_the_whole_domain() -> None:
    """P6-F1/P6-D1: no point of the 1512-point domain decides differently."""
    assert len(spec.decision_table()) == 1512
    assert validator.conformance_mismatches() == []


def test_checks_are_written_in_the_spec_order() -> None:
    """The source names the reasons in exactly CHECKS order (readers can compare)."""
    source = inspect.getsource(validator.validate)
    positions = [source.index(f'"{check.reason}"') for check in spec.CHECKS]
    assert positions == sorted(positions)


def naive_validate(ctx: ValidationContext) -> str:
    """A deliberately naive second validator: the safety conditions as one
    conjunction, then the first failing reason found by brute-force ordering."""
    position = (
        "Unknown" if ctx.ack_bound is None else ("Behind" if ctx.wal_end < ctx.ack_bound else "OK")
    )
    failures = {
        "candidate_is_primary": ctx.role == "PrimaryActive",
        "candidate_disabled": ctx.role == "Disabled",
        "candidate_uninitialized": ctx.role == "Uninitialized",
        "candidate_halted": ctx.role == "Halted",
        "primary_active": ctx.primary_status == "Active" and not ctx.force,
        "force_cannot_override_active_primary": ctx.primary_status == "Active" and ctx.force,
        "primary_status_unknown": ctx.primary_status == "Unknown" and not ctx.force,
        "ack_bound_unknown": position == "Unknown",
        "candidate_behind_ack_bound": position == "Behind",
        "history_unknown": ctx.prefix == "Unknown",
        "history_divergent": ctx.prefix == "Divergent",
        "mvcc_unknown": ctx.mvcc == "Unknown",
        "mvcc_violated": ctx.mvcc == "Violated",
    }
    order = [
        "candidate_is_primary", "candidate_disabled", "candidate_uninitialized",
        "candidate_halted", "primary_active", "force_cannot_override_active_primary",
        "primary_status_unknown", "ack_bound_unknown", "candidate_behind_ack_bound",
        "history_unknown", "history_divergent", "mvcc_unknown", "mvcc_violated",
    ]  # fmt: skip
    for reason in order:
        if failures[reason]:
            return reason
    return "allowed"


@st.composite
def contexts(draw: st.DrawFn) -> ValidationContext:
    role = draw(st.sampled_from(validator.ROLES))
    halt = draw(st.sampled_from(validator.HALT_REASONS)) if role == "Halted" else None
    return ValidationContext(
        role=role,
        halt_reason=halt,
        primary_status=draw(st.sampled_from(validator.PRIMARY_STATUSES)),
        force=draw(st.booleans()),
        wal_end=draw(st.integers(0, 2**64)),
        ack_bound=draw(st.none() | st.integers(0, 2**64)),
        prefix=draw(st.sampled_from(validator.PREFIXES)),
        mvcc=draw(st.sampled_from(validator.MVCCS)),
    )


@given(contexts())
def test_agrees_with_the_naive_validator(ctx: ValidationContext) -> None:
    """P6-D1: two independently written validators decide alike."""
    verdict = validate(ctx)
    assert verdict.reason == naive_validate(ctx)
    assert validate(ctx) == verdict  # pure: the same context, the same verdict


@given(contexts())
def test_every_denial_names_its_invariant(ctx: ValidationContext) -> None:
    """P6-O2: a denial carries the spec's invariant and mentions it in its sentence."""
    verdict = validate(ctx)
    if isinstance(verdict, validator.Denied):
        assert verdict.invariant == spec.REASON_INVARIANT[verdict.reason]
        assert verdict.invariant in verdict.explanation
    else:
        assert verdict.invariants == spec.ALLOWED_INVARIANTS


def test_force_never_overrides_an_active_primary() -> None:
    """P6-A1a: force with an Active primary is denied with its own reason."""
    ctx = ValidationContext("ReplicaActive", "Active", True, 5, 5, "Compatible")
    verdict = validate(ctx)
    assert isinstance(verdict, validator.Denied)
    assert (verdict.reason, verdict.invariant) == ("force_cannot_override_active_primary", "P6-A1a")


def test_force_stands_in_for_unknown_only() -> None:
    """P6-A1a: an Unknown primary with force is allowed when everything else holds."""
    assert validate(ValidationContext("ReplicaActive", "Unknown", True, 5, 5, "Compatible")).allowed
    assert not validate(
        ValidationContext("ReplicaActive", "Unknown", False, 5, 5, "Compatible")
    ).allowed
