"""Runs of the cluster for the lifecycle and validation spec mutants.

The mutants of the lifecycle relation (``ambiguous_deny``, ``silent_abandon``)
and of the validation rule (``decision_reads_clock``, ``unexplained_denial``,
``ignore_mvcc_violation``) break a property of those finite models (P6-D2,
O1, D1, O2, S3); their proof fails with a *context*: a lifecycle state and
event, or a validation context. A reviewer also needs to see that the context
is reachable: a run of the cluster from the initial state to a state where
the mutated rule acts, and that step.

Each mutant names the candidate's lifecycle state where its rule differs and
a condition on what the candidate observes there (Z3 terms over the state and
the observation's choice variables, :func:`baton.spec.cluster.observed_context`).
The run to such a state is found by the breadth-first search of the compiled
spec (:mod:`baton.proofs.search`, the correct model -- these mutants change
nothing before their own step, so it is a shortest run); the last step is the
mutated rule applied to it, with the observation a Z3 model of the condition
picks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import z3
from baton.spec import cluster, lifecycle, validation
from baton.spec.cluster import Config, State
from baton.spec.compiled import Flat, Layout, compile_step, layout_vars

from .search import SearchBounds, correct_allows, describe_flat_state, search

# What a condition returns: the formula over the state and the observation's
# choices, the named choices to show, and per mutated outcome the decision term.
Condition = Callable[
    [Config, State, int], tuple[z3.BoolRef, dict[str, z3.ExprRef], dict[str, z3.ExprRef]]
]


def _observation(
    cfg: Config, s: State, c: int, checks: tuple[validation.Check, ...]
) -> tuple[validation.Context, z3.BoolRef, dict[str, z3.ExprRef], z3.ExprRef]:
    ctx, constraints, choices = cluster.observed_context(cfg, s, c, f"lift.{c}")
    named = {str(ch).split("@")[0]: ch for ch in choices}
    return ctx, constraints, named, validation.decide(ctx, checks)


def _clock(cfg: Config, s: State, c: int) -> Any:
    from .obligations import _checks_reading

    ctx, obs, named, _d = _observation(cfg, s, c, validation.CHECKS)
    first = validation.decide(ctx, _checks_reading("first", "decision_reads_clock"))
    second = validation.decide(ctx, _checks_reading("second", "decision_reads_clock"))
    allowed = validation.DECISION[validation.ALLOWED]
    # Allowed the first time, denied the second: the run shows the approval.
    condition = z3.And(obs, first == allowed, second != allowed)
    return condition, named, {"first": first, "second": second}


def _deny_enabled(cfg: Config, s: State, c: int) -> Any:
    _ctx, obs, named, d = _observation(cfg, s, c, validation.CHECKS)
    return z3.And(obs, d != validation.DECISION[validation.ALLOWED]), named, {"spec": d}


def _validating(cfg: Config, s: State, c: int) -> Any:
    return z3.BoolVal(True), {}, {}


def _unexplained(cfg: Config, s: State, c: int) -> Any:
    _ctx, obs, named, d = _observation(cfg, s, c, validation.CHECKS)
    return z3.And(obs, d == validation.DECISION["history_unknown"]), named, {"spec": d}


def _mvcc_ignored(cfg: Config, s: State, c: int) -> Any:
    checks = tuple(ch for ch in validation.CHECKS if ch.reason != "mvcc_violated")
    ctx, obs, named, d = _observation(cfg, s, c, checks)
    allowed = d == validation.DECISION[validation.ALLOWED]
    return z3.And(obs, allowed, ctx.mvcc != validation.MVCC["Preserved"]), named, {"mutant": d}


@dataclass(frozen=True)
class Lift:
    """Where a spec mutant's rule acts in the cluster, and what it does there."""

    property: str
    source: str  # the candidate's lifecycle state before the mutated step
    action: str  # the lifecycle event of that step
    target: str  # the candidate's lifecycle state after it, under the mutant
    condition: Condition
    why: str


LIFTS: dict[str, Lift] = {
    "ambiguous_deny": Lift(
        "P6-D2",
        "PromotionValidating",
        "deny",
        "Steady",
        _deny_enabled,
        "the candidate is denied, and the same event also has the mutant's second "
        "successor, Steady: two successors for one (state, event)",
    ),
    "silent_abandon": Lift(
        "P6-O1",
        "PromotionValidating",
        "acknowledge",
        "Steady",
        _validating,
        "the attempt returns to Steady by acknowledge while under validation: no "
        "reject, approve or deny was ever observable for it",
    ),
    "decision_reads_clock": Lift(
        "P6-D1",
        "PromotionValidating",
        "approve",
        "PromotionApproved",
        _clock,
        "the same observed context is decided twice, differently (the clock decides): "
        "the decision is not a function of the context",
    ),
    "unexplained_denial": Lift(
        "P6-O2",
        "PromotionValidating",
        "deny",
        "PromotionDenied",
        _unexplained,
        "the candidate is denied with history_unknown, which under the mutant names no "
        "invariant: a refusal without an explanation",
    ),
    "ignore_mvcc_violation": Lift(
        "P6-S3",
        "PromotionValidating",
        "approve",
        "PromotionApproved",
        _mvcc_ignored,
        "the candidate is approved although the observed MVCC visibility is not preserved",
    ),
}

# Where the runs are searched: two nodes, async mode, one entry, one promotion.
LIFT_CONFIG = Config(n=2, mode="async")
LIFT_BOUNDS = SearchBounds(max_wal=1, max_epoch=2, max_states=20_000)


def lifted_run(mutant: str, cfg: Config = LIFT_CONFIG) -> dict[str, Any] | None:
    """The run (counterexample dictionary, as :class:`baton.proofs.counterexample.
    Counterexample` writes it) that reaches ``mutant``'s context and takes its
    step; None if no such state lies within the search bounds."""
    lift = LIFTS[mutant]
    s, t = cluster.fresh_state(cfg.n, "before"), cluster.fresh_state(cfg.n, "after")
    layout = Layout(cfg.n)
    goals = []
    for c in range(cfg.n):
        formula, _named, _terms = lift.condition(cfg, s, c)
        at = z3.And(s.up[c], s.lc[c] == lifecycle.STATES[lift.source], formula)
        goals.append(compile_step(at, s, t, f"{mutant} context")[0])

    def reached(flat: Flat) -> bool:
        return any(goal(flat, flat) for goal in goals)

    run = search(cfg, bounds=LIFT_BOUNDS, goal=(lift.property, reached))
    if run is None:
        return None
    pre = run.states[-1]
    c = next(c for c in range(cfg.n) if goals[c](pre, pre))
    # The mutated step: an observation satisfying the condition (a Z3 model) and
    # the candidate's new lifecycle state and decision.
    formula, named, terms = lift.condition(cfg, s, c)
    solver = z3.Solver()
    solver.add(*[v == _value(v, x) for v, x in zip(layout_vars(s), pre, strict=True)], formula)
    if solver.check() != z3.sat:  # pragma: no cover - the search found the state by it
        raise AssertionError(f"{mutant}: the context found does not satisfy its condition")
    model = solver.model()
    choices = {k: str(model.eval(v, model_completion=True)) for k, v in named.items()}
    decisions = {k: str(model.eval(v, model_completion=True)) for k, v in terms.items()}
    post = list(pre)
    post[layout.slot("lc", c)] = lifecycle.STATE_NAMES.index(lift.target)
    if lift.action in ("approve", "deny") and decisions:
        decided = decisions.get("mutant") or decisions.get("first") or decisions["spec"]
        post[layout.slot("reason", c)] = validation.DECISION_NAMES.index(decided)
    steps = [
        {
            "index": 0,
            "action": "init",
            "nodes": [],
            "choices": {},
            "state": describe_flat_state(cfg.n, run.states[0]),
        }
    ]
    for k, (name, nodes, chosen) in enumerate(run.steps, start=1):
        steps.append(
            {
                "index": k,
                "action": name,
                "nodes": list(nodes),
                "choices": chosen,
                "state": describe_flat_state(cfg.n, run.states[k]),
            }
        )
    last = len(run.steps) + 1
    steps.append(
        {
            "index": last,
            "action": lift.action,
            "nodes": [c],
            "choices": {**choices, **{f"decision.{k}": v for k, v in decisions.items()}},
            "state": describe_flat_state(cfg.n, tuple(post)),
        }
    )
    # The mutated step is faulty when the correct model has no such step (a
    # clock-read decision can be one the correct rule also makes: not faulty).
    faulty = [] if correct_allows(cfg, pre, tuple(post)) else [last]
    return {
        "config": f"{cfg.label()} mutant:{mutant}",
        "violated": [lift.property],
        "length": last,
        "found_at_depth": last,
        "faulty_steps": faulty,
        "engine": (
            "explicit: breadth-first search of the compiled spec to the mutant's context "
            f"({LIFT_BOUNDS.label()}), then the mutated step"
        ),
        "why": {lift.property: lift.why},
        "steps": steps,
    }


def _value(var: z3.ExprRef, value: int) -> z3.ExprRef:
    sort = var.sort()
    if sort == z3.BoolSort():
        return z3.BoolVal(bool(value))
    if sort.kind() == z3.Z3_DATATYPE_SORT:
        return sort.constructor(value)()
    return z3.IntVal(value)
