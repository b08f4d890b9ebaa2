"""The promotion lifecycle: 7 states, its events, the transition relation.

The relation :func:`transition` is the normative definition. It is written as
one rule per event (guard on the source state, the target state) rather than as
a list of triples, so that the table the runtime uses is *derived* from it by
enumeration (:func:`enumerate_transitions`), not copied.

Events ``timeout`` and ``retry`` are part of the event alphabet on purpose: an
environment may deliver them, and the relation gives them no transition at all
(P6-F3: no timeout- or retry-driven transition). ``crash`` is not a lifecycle
event; it is described by :func:`authority_after_crash` and recovery always
re-enters ``Steady``.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from functools import cache

import z3

STATE_NAMES: tuple[str, ...] = (
    "Steady",
    "PromotionRequested",
    "PromotionValidating",
    "PromotionApproved",
    "AuthorityTransitioning",
    "PromotionSucceeded",
    "PromotionDenied",
)

EVENT_NAMES: tuple[str, ...] = (
    "request",
    "begin_validation",
    "reject",
    "approve",
    "deny",
    "begin_transition",
    "complete",
    "acknowledge",
    # Inputs an environment may deliver that the protocol must refuse (P6-F3).
    "timeout",
    "retry",
)

State, _STATE_CONSTS = z3.EnumSort("LifecycleState", list(STATE_NAMES))
Event, _EVENT_CONSTS = z3.EnumSort("LifecycleEvent", list(EVENT_NAMES))

STATES: dict[str, z3.ExprRef] = dict(zip(STATE_NAMES, _STATE_CONSTS, strict=True))
EVENTS: dict[str, z3.ExprRef] = dict(zip(EVENT_NAMES, _EVENT_CONSTS, strict=True))

S = STATES
E = EVENTS

# One rule per event: (event, guard on the source state, target state).
# ``acknowledge`` is the only event with two source states.
Rule = tuple[str, Callable[[z3.ExprRef], z3.BoolRef], str]

RULES: tuple[Rule, ...] = (
    ("request", lambda s: s == S["Steady"], "PromotionRequested"),
    ("begin_validation", lambda s: s == S["PromotionRequested"], "PromotionValidating"),
    # An ill-formed or inapplicable request is turned away before validation.
    ("reject", lambda s: s == S["PromotionRequested"], "Steady"),
    ("approve", lambda s: s == S["PromotionValidating"], "PromotionApproved"),
    ("deny", lambda s: s == S["PromotionValidating"], "PromotionDenied"),
    ("begin_transition", lambda s: s == S["PromotionApproved"], "AuthorityTransitioning"),
    # ``complete`` fires only once the new authority marker is durable.
    ("complete", lambda s: s == S["AuthorityTransitioning"], "PromotionSucceeded"),
    (
        "acknowledge",
        lambda s: z3.Or(s == S["PromotionSucceeded"], s == S["PromotionDenied"]),
        "Steady",
    ),
)


def transition(
    source: z3.ExprRef, event: z3.ExprRef, target: z3.ExprRef, rules: tuple[Rule, ...] = RULES
) -> z3.BoolRef:
    """The lifecycle transition relation as a Z3 formula.

    ``transition(s, e, t)`` holds exactly when event ``e`` moves state ``s`` to
    ``t``. Anything the formula does not allow is forbidden (and the runtime
    raises a named error carrying state and event). ``rules`` exists so that
    mutants can be built from a modified rule set.
    """
    return z3.Or(
        *[z3.And(event == E[ev], guard(source), target == S[dst]) for ev, guard, dst in rules]
    )


def enumerate_transitions(rules: tuple[Rule, ...] = RULES) -> list[tuple[str, str, str]]:
    """Enumerate the relation with Z3: every ``(state, event, next_state)`` it allows.

    Model enumeration with blocking clauses; the result is sorted by the
    declaration order of states and events so that generated code is stable.
    """
    s, e, t = z3.Const("s", State), z3.Const("e", Event), z3.Const("t", State)
    solver = z3.Solver()
    solver.add(transition(s, e, t, rules))
    found: list[tuple[str, str, str]] = []
    while solver.check() == z3.sat:
        model = solver.model()
        triple = (
            str(model.eval(s, model_completion=True)),
            str(model.eval(e, model_completion=True)),
            str(model.eval(t, model_completion=True)),
        )
        found.append(triple)
        solver.add(z3.Or(s != STATES[triple[0]], e != EVENTS[triple[1]], t != STATES[triple[2]]))
    found.sort(key=lambda x: (STATE_NAMES.index(x[0]), EVENT_NAMES.index(x[1])))
    return found


@cache
def allowed_table() -> dict[tuple[str, str], str]:
    """The enumerated relation as a ``(state, event) -> next_state`` mapping."""
    table: dict[tuple[str, str], str] = {}
    for src, ev, dst in enumerate_transitions():
        if (src, ev) in table:  # pragma: no cover - excluded by the P6-D2 proof
            raise AssertionError(f"non-deterministic lifecycle at {src} --{ev}->")
        table[(src, ev)] = dst
    return table


# Forbidden transitions the design names explicitly; each must be unsatisfiable
# for every event (tests and the proofs check this).
NAMED_FORBIDDEN: tuple[tuple[str, str], ...] = (
    ("Steady", "AuthorityTransitioning"),
    ("PromotionRequested", "PromotionApproved"),
    ("PromotionValidating", "AuthorityTransitioning"),
    ("PromotionDenied", "AuthorityTransitioning"),
    ("PromotionDenied", "PromotionValidating"),
    ("PromotionDenied", "PromotionApproved"),
    ("Steady", "PromotionApproved"),
    ("Steady", "PromotionSucceeded"),
)


class Authority(Enum):
    """Which authority a crash leaves the cluster with (P6-F2)."""

    OLD = "old"
    NEW = "new"


Auth, (AUTH_OLD, AUTH_NEW) = z3.EnumSort("AuthorityOutcome", ["old", "new"])


def authority_after_crash(state: z3.ExprRef, marker_durable: z3.BoolRef) -> z3.ExprRef:
    """Authority after a crash of the candidate in ``state`` (P6-F2).

    Before the transition nothing durable happened: the old authority stays.
    In ``AuthorityTransitioning`` only the durable marker decides. Once
    ``PromotionSucceeded`` is reached the marker is durable by construction
    (``complete`` fires only then), so the new authority is kept.
    """
    return z3.If(
        state == S["PromotionSucceeded"],
        AUTH_NEW,
        z3.If(
            z3.And(state == S["AuthorityTransitioning"], marker_durable),
            AUTH_NEW,
            AUTH_OLD,
        ),
    )


RECOVERY_STATE = "Steady"
"""Recovery always re-enters ``Steady``: lifecycle state is volatile."""


def state_after_recovery(_state: z3.ExprRef) -> z3.ExprRef:
    """The lifecycle state after crash and recovery: always ``Steady``."""
    return S[RECOVERY_STATE]


def handles_duplicate_request(state: z3.ExprRef, next_state: z3.ExprRef) -> z3.BoolRef:
    """A request while an attempt is in progress is rejected without disturbing it.

    Holds when ``state`` is not ``Steady`` (so ``request`` has no transition)
    and the state after the rejection is unchanged.
    """
    return z3.And(state != S["Steady"], next_state == state)


def crash_outcomes() -> dict[str, tuple[str, ...]]:
    """For each state, the authorities a crash in it may leave, computed with Z3."""
    result: dict[str, tuple[str, ...]] = {}
    durable = z3.Bool("marker_durable")
    for name in STATE_NAMES:
        outcomes = []
        for auth_name, auth in (("old", AUTH_OLD), ("new", AUTH_NEW)):
            solver = z3.Solver()
            solver.add(authority_after_crash(STATES[name], durable) == auth)
            if solver.check() == z3.sat:
                outcomes.append(auth_name)
        result[name] = tuple(outcomes)
    return result
