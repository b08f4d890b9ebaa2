"""Tests of the spec's lifecycle model (spec/lifecycle.py).

Covers: the relation has exactly the 9 allowed transitions (the design table),
each named forbidden transition is unsatisfiable, timeout/retry have no
transition (P6-F3), determinism (P6-D2), every state reachable from Steady and
reaching Steady (no terminal state), the crash map (P6-F2) and duplicate
request rejection.
"""

from __future__ import annotations

import z3
from baton.proofs.obligations import DESIGN_TRANSITIONS
from baton.spec import lifecycle
from baton.spec.lifecycle import EVENTS, STATES, State, transition

# The design table, written out independently of the spec's rules (once, in
# the proofs, which check the same equality in ``baton verify``).
DESIGN_TABLE = DESIGN_TRANSITIONS


def _sat(*constraints: z3.BoolRef) -> bool:
    solver = z3.Solver()
    solver.add(*constraints)
    return bool(solver.check() == z3.sat)


def test_exactly_the_nine_design_transitions() -> None:
    """The enumerated relation is exactly the design table: 9 transitions."""
    found = lifecycle.enumerate_transitions()
    assert len(found) == 9
    assert set(found) == DESIGN_TABLE


def test_every_triple_outside_the_table_is_unsatisfiable() -> None:
    """Every (state, event, target) not in the table is forbidden by the formula itself."""
    for s_name, s in STATES.items():
        for e_name, e in EVENTS.items():
            for t_name, t in STATES.items():
                expected = (s_name, e_name, t_name) in DESIGN_TABLE
                assert _sat(transition(s, e, t)) == expected, (s_name, e_name, t_name)


def test_named_forbidden_transitions_unsatisfiable_for_any_event() -> None:
    """The design's named forbidden transitions have no event at all that allows them."""
    ev = z3.Const("ev", lifecycle.Event)
    for src, dst in lifecycle.NAMED_FORBIDDEN:
        assert not _sat(transition(STATES[src], ev, STATES[dst])), (src, dst)


def test_timeout_and_retry_never_transition() -> None:
    """P6-F3: no timeout- or retry-driven transition exists from any state."""
    s, t = z3.Const("s", State), z3.Const("t", State)
    for name in ("timeout", "retry"):
        assert not _sat(transition(s, EVENTS[name], t))


def test_deterministic() -> None:
    """P6-D2: each (state, event) has at most one successor."""
    s, t1, t2 = z3.Const("s", State), z3.Const("t1", State), z3.Const("t2", State)
    e = z3.Const("e", lifecycle.Event)
    assert not _sat(transition(s, e, t1), transition(s, e, t2), t1 != t2)


def test_every_state_reachable_from_steady_and_reaches_steady() -> None:
    """No unreachable and no terminal state."""
    edges = lifecycle.enumerate_transitions()
    succ: dict[str, set[str]] = {}
    pred: dict[str, set[str]] = {}
    for a, _, b in edges:
        succ.setdefault(a, set()).add(b)
        pred.setdefault(b, set()).add(a)

    def closure(start: str, graph: dict[str, set[str]]) -> set[str]:
        seen, todo = {start}, [start]
        while todo:
            for nxt in graph.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    everything = set(lifecycle.STATE_NAMES)
    assert closure("Steady", succ) == everything
    assert closure("Steady", pred) == everything


def test_crash_map() -> None:
    """P6-F2: crash before the transition keeps the old authority; in it, the marker decides."""
    outcomes = lifecycle.crash_outcomes()
    for state in (
        "Steady",
        "PromotionRequested",
        "PromotionValidating",
        "PromotionApproved",
        "PromotionDenied",
    ):
        assert outcomes[state] == ("old",)
    assert outcomes["AuthorityTransitioning"] == ("old", "new")
    assert outcomes["PromotionSucceeded"] == ("new",)
    durable = z3.Bool("d")
    state = STATES["AuthorityTransitioning"]
    assert not _sat(durable, lifecycle.authority_after_crash(state, durable) != lifecycle.AUTH_NEW)
    assert not _sat(
        z3.Not(durable), lifecycle.authority_after_crash(state, durable) != lifecycle.AUTH_OLD
    )


def test_recovery_always_reenters_steady() -> None:
    s = z3.Const("s", State)
    assert not _sat(lifecycle.state_after_recovery(s) != STATES["Steady"])


def test_duplicate_request_rejected_without_disturbing_attempt() -> None:
    """A request in any non-Steady state has no transition, and the state is kept."""
    t = z3.Const("t", State)
    for name, s in STATES.items():
        if name == "Steady":
            continue
        assert not _sat(transition(s, EVENTS["request"], t))
        assert _sat(lifecycle.handles_duplicate_request(s, s))
        assert not _sat(lifecycle.handles_duplicate_request(s, t), t != s)


def test_changing_one_rule_is_detected() -> None:
    """A mutated rule set (deny goes to Steady) no longer matches the DESIGN table."""
    mutated = tuple(
        (ev, guard, "Steady" if ev == "deny" else dst) for ev, guard, dst in lifecycle.RULES
    )
    assert set(lifecycle.enumerate_transitions(mutated)) != DESIGN_TABLE
