"""The proof obligations of ``baton verify``: each a named, documented unit.

Every obligation names the property IDs it covers, its method, its parameters
and, when run, produces an :class:`Outcome`. Groups:

``lifecycle``
    the relation has exactly the 9 transitions; each named forbidden
    transition is unsatisfiable; timeout/retry never move (P6-F3);
    determinism (P6-D2); no terminal state; the crash map (P6-F2); every
    attempt passes a decision event (P6-O1).
``validation``
    soundness and completeness (P6-F1), totality and functionality (P6-D1),
    force never overrides Active (P6-A1a), each unknown denies with its own
    reason (P6-F1), MVCC (P6-S3), every reason reachable and mapped to one
    invariant (P6-O2).
``conformance``
    the generated ``impl/_table.py`` equals the spec; the runtime validator
    equals the spec's rule on the whole abstract domain.
``induction``
    the unbounded proof (:mod:`baton.proofs.induction`) for each N and mode.
``bmc``
    bounded model checking to the stated depth for each N and mode.
``companion``
    reachability witnesses: nothing above holds vacuously.
``mutant`` / ``assumption``
    each broken variant must be caught with a counterexample.

Obligations are plain data plus a function name, so that a pool of worker
processes can run them by name.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import z3
from baton.spec import cluster, lifecycle, properties, validation
from baton.spec.cluster import Config

# BMC depth for the correct model. From the initial state a promotion needs the
# old primary to stop being writable (1 step: crash), then request,
# begin_validation, approve, begin_transition, the 4 marker operations and
# complete (9 steps): the promotion completes at depth 10, and a crash after
# each marker operation k happens at depth 5 + k + 1 <= 10. So depth 10 covers
# one full promotion with a crash at every marker step.
BMC_DEPTH = 10
COMPANION_DEPTH = 12


@dataclass
class Outcome:
    """The result of one obligation."""

    passed: bool
    verdict: str  # proven | failed | reachable | unreachable | caught | missed | error
    detail: str = ""
    counterexample: dict[str, Any] | None = None
    seconds: float = 0.0


@dataclass(frozen=True)
class Obligation:
    name: str
    group: str
    properties: tuple[str, ...]
    method: str
    description: str
    params: dict[str, Any] = field(default_factory=dict)

    def verdict_fails_proof(self) -> bool:
        """A failure of this obligation is a property violation (not a missed mutant)."""
        return self.group not in ("mutant", "assumption", "companion") and bool(self.properties)

    @property
    def n(self) -> int | None:
        value = self.params.get("n")
        return int(value) if value is not None else None

    @property
    def depth(self) -> int | None:
        value = self.params.get("depth")
        return int(value) if value is not None else None


def _unsat(*constraints: z3.BoolRef) -> tuple[bool, z3.ModelRef | None]:
    solver = z3.Solver()
    solver.add(*constraints)
    result = solver.check()
    if result == z3.unknown:
        raise RuntimeError(f"Z3 returned unknown: {solver.reason_unknown()}")
    return result == z3.unsat, (solver.model() if result == z3.sat else None)


def _proven(ok: bool, detail: str = "", cx: dict[str, Any] | None = None) -> Outcome:
    return Outcome(ok, "proven" if ok else "failed", detail, cx)


# --- lifecycle ------------------------------------------------------------------

DESIGN_TRANSITIONS = frozenset(
    {
        ("Steady", "request", "PromotionRequested"),
        ("PromotionRequested", "begin_validation", "PromotionValidating"),
        ("PromotionRequested", "reject", "Steady"),
        ("PromotionValidating", "approve", "PromotionApproved"),
        ("PromotionValidating", "deny", "PromotionDenied"),
        ("PromotionApproved", "begin_transition", "AuthorityTransitioning"),
        ("AuthorityTransitioning", "complete", "PromotionSucceeded"),
        ("PromotionSucceeded", "acknowledge", "Steady"),
        ("PromotionDenied", "acknowledge", "Steady"),
    }
)


def lifecycle_exact_table(_: Obligation) -> Outcome:
    found = set(lifecycle.enumerate_transitions())
    extra, missing = found - DESIGN_TRANSITIONS, DESIGN_TRANSITIONS - found
    ok = not extra and not missing and len(found) == 9
    return _proven(ok, f"{len(found)} transitions; extra={sorted(extra)} missing={sorted(missing)}")


def lifecycle_forbidden(_: Obligation) -> Outcome:
    ev = z3.Const("ev", lifecycle.Event)
    allowed = []
    for src, dst in lifecycle.NAMED_FORBIDDEN:
        ok, model = _unsat(lifecycle.transition(lifecycle.S[src], ev, lifecycle.S[dst]))
        if not ok and model is not None:
            allowed.append(f"{src} --{model.eval(ev)}--> {dst}")
    return _proven(
        not allowed,
        f"{len(lifecycle.NAMED_FORBIDDEN)} named forbidden transitions; allowed: {allowed}",
    )


def lifecycle_no_timeout_retry(_: Obligation) -> Outcome:
    s, t = z3.Const("s", lifecycle.State), z3.Const("t", lifecycle.State)
    results = [_unsat(lifecycle.transition(s, lifecycle.E[e], t))[0] for e in ("timeout", "retry")]
    return _proven(all(results), "timeout and retry have no transition from any state")


def lifecycle_deterministic(_: Obligation) -> Outcome:
    s, e = z3.Const("s", lifecycle.State), z3.Const("e", lifecycle.Event)
    t1, t2 = z3.Const("t1", lifecycle.State), z3.Const("t2", lifecycle.State)
    ok, _m = _unsat(lifecycle.transition(s, e, t1), lifecycle.transition(s, e, t2), t1 != t2)
    return _proven(ok, "no (state, event) has two successors")


def _closure(start: str, edges: list[tuple[str, str, str]], forward: bool) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        cur = todo.pop()
        for a, _e, b in edges:
            src, dst = (a, b) if forward else (b, a)
            if src == cur and dst not in seen:
                seen.add(dst)
                todo.append(dst)
    return seen


def lifecycle_no_terminal(_: Obligation) -> Outcome:
    edges = lifecycle.enumerate_transitions()
    every = set(lifecycle.STATE_NAMES)
    fwd, back = _closure("Steady", edges, True), _closure("Steady", edges, False)
    ok = fwd == every and back == every
    return _proven(ok, f"unreachable: {sorted(every - fwd)}; cannot return: {sorted(every - back)}")


def lifecycle_crash_map(_: Obligation) -> Outcome:
    expected: dict[str, tuple[str, ...]] = {name: ("old",) for name in lifecycle.STATE_NAMES}
    expected["AuthorityTransitioning"] = ("old", "new")
    expected["PromotionSucceeded"] = ("new",)
    got = lifecycle.crash_outcomes()
    s = z3.Const("s", lifecycle.State)
    recovers, _m = _unsat(lifecycle.state_after_recovery(s) != lifecycle.S["Steady"])
    return _proven(got == expected and recovers, f"crash map {got}; recovery re-enters Steady")


def lifecycle_observable(_: Obligation) -> Outcome:
    # P6-O1: every attempt that returns to Steady passes a decision event:
    # reject (turned away), approve or deny. Remove those edges: Steady must
    # become unreachable from PromotionRequested.
    edges = [
        t for t in lifecycle.enumerate_transitions() if t[1] not in {"reject", "approve", "deny"}
    ]
    reach = _closure("PromotionRequested", edges, True)
    return _proven("Steady" not in reach, "every attempt passes reject, approve or deny")


# --- validation -------------------------------------------------------------------


def _validation_checks(ob: Obligation) -> tuple[validation.Check, ...]:
    mutant = ob.params.get("mutant")
    if mutant is None:
        return validation.CHECKS
    return cluster.checks_for(Config(n=2, mutant=str(mutant)))


def _context_dict(model: z3.ModelRef, ctx: validation.Context) -> dict[str, Any]:
    return {
        name: str(model.eval(getattr(ctx, name), model_completion=True))
        for name, _v in validation.FIELDS
    }


def validation_sound(ob: Obligation) -> Outcome:
    ctx = validation.fresh_context()
    allowed = validation.decide(ctx, _validation_checks(ob)) == validation.DECISION["allowed"]
    ok, model = _unsat(
        validation.well_formed(ctx), allowed, z3.Not(validation.safe_to_promote(ctx))
    )
    cx = None if model is None else {"context": _context_dict(model, ctx), "decision": "allowed"}
    return _proven(ok, "Allowed implies every safety precondition", cx)


def validation_complete(ob: Obligation) -> Outcome:
    ctx = validation.fresh_context()
    allowed = validation.decide(ctx, _validation_checks(ob)) == validation.DECISION["allowed"]
    ok, model = _unsat(
        validation.well_formed(ctx), validation.safe_to_promote(ctx), z3.Not(allowed)
    )
    cx = None if model is None else {"context": _context_dict(model, ctx)}
    return _proven(ok, "every precondition holding implies Allowed (no needless denial)", cx)


def validation_total(_: Obligation) -> Outcome:
    ctx = validation.fresh_context()
    d = validation.decide(ctx)
    other = z3.Const("other", validation.Decision)
    total, _m = _unsat(z3.Not(z3.Or(*[d == v for v in validation.DECISION.values()])))
    functional, _m2 = _unsat(d == other, d != other)
    points = len(list(validation.domain()))
    return _proven(total and functional, f"total and functional; {points} abstract points")


def validation_force_bounded(ob: Obligation) -> Outcome:
    ctx = validation.fresh_context()
    allowed = validation.decide(ctx, _validation_checks(ob)) == validation.DECISION["allowed"]
    ok, model = _unsat(ctx.primary_status == validation.PSTATUS["Active"], allowed)
    cx = None if model is None else {"context": _context_dict(model, ctx), "decision": "allowed"}
    return _proven(ok, "no context with the primary observed Active is allowed, forced or not", cx)


def validation_unknown_denies(_: Obligation) -> Outcome:
    ctx = validation.fresh_context()
    d = validation.decide(ctx)
    failures = []
    unknowns = {
        "primary_status_unknown": z3.And(
            ctx.primary_status == validation.PSTATUS["Unknown"], z3.Not(ctx.force)
        ),
        "ack_bound_unknown": ctx.position == validation.POSITION["Unknown"],
        "history_unknown": ctx.prefix == validation.PREFIX["Unknown"],
        "mvcc_unknown": ctx.mvcc == validation.MVCC["Unknown"],
    }
    for reason, condition in unknowns.items():
        # Whatever else holds, an unknown never yields Allowed ...
        ok, _m = _unsat(validation.well_formed(ctx), condition, d == validation.DECISION["allowed"])
        # ... and alone (everything else fine) it denies with its own reason.
        alone, _m2 = _unsat(
            validation.well_formed(ctx),
            condition,
            ctx.role == validation.ROLE["ReplicaActive"],
            z3.Or(
                ctx.primary_status == validation.PSTATUS["Unavailable"],
                condition if reason == "primary_status_unknown" else z3.BoolVal(False),
            ),
            z3.Or(
                ctx.position == validation.POSITION["Equal"],
                condition if reason == "ack_bound_unknown" else z3.BoolVal(False),
            ),
            z3.Or(
                ctx.prefix == validation.PREFIX["Compatible"],
                condition if reason == "history_unknown" else z3.BoolVal(False),
            ),
            z3.Or(
                ctx.mvcc == validation.MVCC["Preserved"],
                condition if reason == "mvcc_unknown" else z3.BoolVal(False),
            ),
            d != validation.DECISION[reason],
        )
        if not (ok and alone and validation.REASON_INVARIANT[reason] == "P6-F1"):
            failures.append(reason)
    return _proven(
        not failures, f"each unknown denies with its own P6-F1 reason; failing: {failures}"
    )


def validation_mvcc(_: Obligation) -> Outcome:
    ctx = validation.fresh_context()
    allowed = validation.decide(ctx) == validation.DECISION["allowed"]
    ok, _m = _unsat(allowed, ctx.mvcc != validation.MVCC["Preserved"])
    return _proven(ok, "Allowed only when MVCC visibility is Preserved")


def validation_reasons(_: Obligation) -> Outcome:
    ctx = validation.fresh_context()
    d = validation.decide(ctx)
    unreachable = []
    for name, const in validation.DECISION.items():
        ok, _m = _unsat(validation.well_formed(ctx), d == const)
        if ok:
            unreachable.append(name)
    from baton.spec import invariants

    unmapped = [
        r
        for r in validation.REASON_NAMES
        if validation.REASON_INVARIANT.get(r) not in invariants.BY_ID
    ]
    return Outcome(
        not unreachable and not unmapped,
        "reachable" if not unreachable and not unmapped else "unreachable",
        f"{len(validation.DECISION)} decisions; unreachable {unreachable}; unmapped {unmapped}",
    )


def validation_mutant(ob: Obligation) -> Outcome:
    sound = validation_sound(ob)
    force = validation_force_bounded(ob)
    caught = not sound.passed or not force.passed
    cx = sound.counterexample or force.counterexample
    detail = (
        "soundness fails" if not sound.passed else ("force bound fails" if not force.passed else "")
    )
    return Outcome(caught, "caught" if caught else "missed", detail, cx)


# --- conformance ----------------------------------------------------------------------


def conformance_table(_: Obligation) -> Outcome:
    try:
        table = importlib.import_module("baton._table")
    except ImportError as exc:
        return Outcome(False, "failed", f"impl/_table.py missing ({exc}); run 'baton generate'")
    spec = {(a, e): b for a, e, b in lifecycle.enumerate_transitions()}
    runtime = dict(getattr(table, "TRANSITIONS", {}))
    ok = runtime == spec
    return _proven(ok, f"{len(runtime)} runtime transitions vs {len(spec)} in the spec")


def conformance_validator(_: Obligation) -> Outcome:
    try:
        runtime = importlib.import_module("baton.validator")
        mismatches = runtime.conformance_mismatches()
    except (ImportError, AttributeError) as exc:
        return Outcome(False, "failed", f"runtime validator unavailable: {exc}")
    points = len(validation.decision_table())
    return _proven(
        not mismatches,
        f"{points} points compared; {len(mismatches)} mismatches {list(mismatches)[:3]}",
    )


# --- cluster: induction, bmc, companions, mutants ----------------------------------------


def _config(ob: Obligation) -> Config:
    dropped = ob.params.get("dropped")
    return Config(
        n=int(ob.params.get("n", 2)),
        mode=str(ob.params.get("mode", "async")),
        dropped=frozenset([dropped]) if dropped else frozenset(),
        mutant=ob.params.get("mutant"),
    )


def cluster_induction(ob: Obligation) -> Outcome:
    from . import induction

    result = induction.prove(_config(ob))
    if result.proven:
        return _proven(True, f"{len(induction.LEMMAS)} lemmas; {result.queries} queries")
    first = result.failures[0]
    return Outcome(
        False,
        "failed",
        f"{first.check} fails: action {first.action} breaks lemma {first.lemma}",
        {"model": first.model},
    )


def cluster_bmc(ob: Obligation) -> Outcome:
    cfg = _config(ob)
    depth = int(ob.params["depth"])
    unrolling = _unrolling(cfg, depth)
    last = unrolling.states[depth]
    model = unrolling.find(z3.Or(*[z3.Not(p.holds(last)) for p in properties.PROPERTIES]))
    if model is None:
        return _proven(
            True, f"no violation of {len(properties.PROPERTIES)} properties in <= {depth} steps"
        )
    trace = unrolling.trace(model, depth)
    return Outcome(False, "failed", "violation found", trace.to_dict())


@cache
def _unrolling(cfg: Config, depth: int) -> Any:
    from .bmc import Unrolling

    u = Unrolling(cfg, stutter=True)
    u.extend_to(depth)
    return u


def _witness(cfg: Config, depth: int, goal: z3.BoolRef, detail: str) -> Outcome:
    u = _unrolling(cfg, depth)
    model = u.find(goal)
    if model is None:
        return Outcome(False, "unreachable", f"no witness within {depth} steps: {detail}")
    trace = u.trace(model, depth)
    steps = " ".join(f"{s.action}{list(s.nodes)}" for s in trace.steps[1:])
    return Outcome(True, "reachable", f"{detail}: {steps}", trace.to_dict())


def companion_property(ob: Obligation) -> Outcome:
    cfg, depth = _config(ob), int(ob.params["depth"])
    prop = properties.get_property(str(ob.params["property"]))
    u = _unrolling(cfg, depth)
    return _witness(cfg, depth, prop.witness(u.states[depth]), prop.companion)


def _step_goal(
    cfg: Config,
    depth: int,
    name: str,
    pre: Callable[[cluster.State, int], z3.BoolRef],
    choice: Callable[[cluster.Action], z3.BoolRef] | None = None,
) -> z3.BoolRef:
    """Some step k <= depth executes action ``name`` on node c with ``pre(state_{k-1}, c)``."""
    u = _unrolling(cfg, depth)
    options = []
    for k in range(1, depth + 1):
        for idx, act in enumerate(u.step_actions[k - 1]):
            if act.name != name:
                continue
            cond = z3.And(u.labels[k - 1] == idx, pre(u.states[k - 1], act.nodes[0]))
            if choice is not None:
                cond = z3.And(cond, choice(act))
            options.append(cond)
    return z3.Or(*options)


def companion_crash_in_state(ob: Obligation) -> Outcome:
    cfg, depth = _config(ob), int(ob.params["depth"])
    state = str(ob.params["state"])
    goal = _step_goal(cfg, depth, "crash", lambda s, c: s.lc[c] == lifecycle.S[state])
    return _witness(cfg, depth, goal, f"a crash of the candidate in {state}")


def companion_recovery(ob: Obligation) -> Outcome:
    cfg, depth = _config(ob), int(ob.params["depth"])
    outcome = {"old": 0, "new": 1}[str(ob.params["authority"])]
    rename_stage = cfg.marker_ops.index("rename") + 1
    goal = _step_goal(
        cfg,
        depth,
        "crash",
        lambda s, c: z3.And(
            s.lc[c] == lifecycle.S["AuthorityTransitioning"], s.mstage[c] >= rename_stage
        ),
        lambda act: act.choices[0] == outcome,
    )
    return _witness(
        cfg,
        depth,
        goal,
        f"a crash after the marker rename recovers to the {ob.params['authority']} authority",
    )


def companion_denial(ob: Obligation) -> Outcome:
    cfg, depth = _config(ob), int(ob.params["depth"])
    reason = str(ob.params["reason"])
    u = _unrolling(cfg, depth)
    last = u.states[depth]
    goal = z3.Or(
        *[
            z3.And(
                last.lc[c] == lifecycle.S["PromotionDenied"],
                last.reason[c] == validation.DECISION[reason],
            )
            for c in range(cfg.n)
        ]
    )
    return _witness(cfg, depth, goal, f"a request denied with {reason}")


def cluster_counterexample(ob: Obligation) -> Outcome:
    from .counterexample import find_counterexample, render

    cfg = _config(ob)
    targets = ob.params.get("targets")
    cx = find_counterexample(cfg, targets=tuple(targets) if targets else None)
    if cx is None:
        return Outcome(False, "missed", "no counterexample within the search depth")
    data = cx.to_dict()
    data["rendered"] = render(cx)
    return Outcome(
        True,
        "caught",
        f"{len(cx.trace.steps) - 1}-step counterexample violates {', '.join(cx.violated)}",
        data,
    )


def parametric_obligation(ob: Obligation) -> Outcome:
    """The proof for every N over the node sort (baton.proofs.parametric)."""
    from . import parametric

    outcome: Outcome = parametric.run_obligation(ob)
    return outcome


def explore_model(ob: Obligation) -> Outcome:
    """Exhaustive explicit-state search of the runtime core (baton.proofs.explore).

    On every state the spec's property predicates; with ``refinement`` (the
    default) every core step must be a step of the spec's transition relation.
    ``expect`` "pass": the search must finish with no violation; "violation":
    the mutant must yield a counterexample (caught), else it is missed."""
    from baton.proofs import explore

    p = ob.params
    bounds = explore.Bounds(int(p["n"]), int(p["writes"]), int(p["promotions"]), str(p["mode"]))
    props = tuple(p.get("targets") or explore.PROPERTY_IDS)
    result = explore.explore(
        bounds,
        mutant=p.get("mutant"),
        properties=props,
        refinement=bool(p.get("refinement", True)),
        symmetry=bool(p.get("symmetry", True)),
        workers=int(p.get("workers", 1)),
    )
    counts = f"{result.states} states, {result.transitions} transitions, depth {result.max_depth}"
    cx = result.counterexample
    data = None if cx is None else explore.counterexample_json(cx)
    if p["expect"] == "pass":
        if cx is not None:
            return Outcome(False, "failed", explore.render(result), data)
        return _proven(result.passed, f"{bounds.label()}: {result.verdict}; {counts}")
    if cx is None:
        return Outcome(False, "missed", f"no counterexample within {bounds.label()}; {counts}")
    detail = f"{len(cx) - 1}-step counterexample violates {', '.join(cx.violated)}; {counts}"
    return Outcome(True, "caught", detail, data)


RUNNERS: dict[str, Callable[[Obligation], Outcome]] = {
    fn.__name__: fn
    for fn in (
        lifecycle_exact_table,
        lifecycle_forbidden,
        lifecycle_no_timeout_retry,
        lifecycle_deterministic,
        lifecycle_no_terminal,
        lifecycle_crash_map,
        lifecycle_observable,
        validation_sound,
        validation_complete,
        validation_total,
        validation_force_bounded,
        validation_unknown_denies,
        validation_mvcc,
        validation_reasons,
        validation_mutant,
        conformance_table,
        conformance_validator,
        cluster_induction,
        cluster_bmc,
        companion_property,
        companion_crash_in_state,
        companion_recovery,
        companion_denial,
        cluster_counterexample,
        explore_model,
        parametric_obligation,
    )
}

VALIDATOR_MUTANTS = (
    "allow_unknown_ack_bound",
    "allow_behind_candidate",
    "allow_divergent_history",
    "force_overrides_active",
)
# Cluster mutants whose counterexample is short enough (<= 9 steps at N = 2)
# for the sub-minute quick run; the full run checks every mutant.
QUICK_MUTANTS = (
    "force_overrides_active",
    "rename_before_fsync",
    "restart_keeps_authority",
    "retry_after_denial",
)
# Mutants also searched for one specific property, so that every cluster
# property has a mutant that breaks *it* (the first violation found is often
# another property's: here P6-S1 comes one step before P6-S2).
TARGETED = {
    "allow_behind_candidate": "P6-S2",
    "force_overrides_active": "P6-A1",
    "restart_keeps_authority": "P6-S1",
    "force_is_truthful": "P6-A1",
}
# Mutants and dropped assumptions that need two candidates besides the primary.
NEEDS_THREE = {"concurrent_attempts", "single_controller"}
# Roles Disabled/Uninitialized exist only in the validation domain, not the cluster;
# at the validation level, where every reason is shown reachable).
# Reasons whose cluster witness needs a halted or divergent replica: that takes
# two promotions in sync mode (over 20 steps), beyond the companion depth. They
# are shown reachable over the validation domain (validation.reasons) and by the
# runtime's tests; every other reason has a cluster witness here.
CLUSTER_DEEP_REASONS = frozenset({"candidate_halted", "history_divergent"})
CLUSTER_REASONS = tuple(
    r
    for r in validation.REASON_NAMES
    if r not in {"candidate_disabled", "candidate_uninitialized"} | CLUSTER_DEEP_REASONS
)


# Explorer bounds (nodes, writes, promotions, mode). The full run covers the
# models where the known planted core bugs show (a prefix comparison that always
# says Compatible: N=2 W=2 P=2 sync; no replica epoch fencing: N=3 W=1 P=1;
# acknowledge from AuthorityTransitioning: N=2 W=1 P=1).
EXPLORE_QUICK: tuple[tuple[int, int, int, str], ...] = ((2, 1, 1, "async"), (3, 0, 1, "async"))
EXPLORE_FULL: tuple[tuple[int, int, int, str], ...] = (
    (2, 1, 1, "async"),
    (2, 2, 2, "sync"),
    (3, 1, 1, "async"),
    (3, 2, 2, "async"),
    (3, 2, 2, "sync"),
    (4, 1, 1, "async"),
)


def build(
    quick: bool = False, ns: tuple[int, ...] = (2, 3, 4), depth: int = BMC_DEPTH
) -> list[Obligation]:
    """Every obligation of a verify run, in report order."""
    obs: list[Obligation] = []

    def add(
        name: str,
        group: str,
        props: tuple[str, ...],
        method: str,
        runner: str,
        desc: str,
        **params: Any,
    ) -> None:
        obs.append(Obligation(name, group, props, method, desc, {"runner": runner, **params}))

    add(
        "lifecycle.exact-table",
        "lifecycle",
        ("P6-D2",),
        "z3-enumeration",
        "lifecycle_exact_table",
        "the relation allows exactly the 9 DESIGN.md transitions",
    )
    add(
        "lifecycle.forbidden",
        "lifecycle",
        ("P6-F3",),
        "z3-unsat",
        "lifecycle_forbidden",
        "each named forbidden transition is unsatisfiable for every event",
    )
    add(
        "lifecycle.no-timeout-retry",
        "lifecycle",
        ("P6-F3",),
        "z3-unsat",
        "lifecycle_no_timeout_retry",
        "timeout and retry events never move the lifecycle",
    )
    add(
        "lifecycle.deterministic",
        "lifecycle",
        ("P6-D2",),
        "z3-unsat",
        "lifecycle_deterministic",
        "each (state, event) has at most one successor",
    )
    add(
        "lifecycle.no-terminal",
        "lifecycle",
        ("P6-F3",),
        "graph",
        "lifecycle_no_terminal",
        "every state is reachable from Steady and returns to it",
    )
    add(
        "lifecycle.crash-map",
        "lifecycle",
        ("P6-F2",),
        "z3-eval",
        "lifecycle_crash_map",
        "crash outcomes per state as in DESIGN.md; recovery re-enters Steady",
    )
    add(
        "lifecycle.observable",
        "lifecycle",
        ("P6-O1",),
        "graph",
        "lifecycle_observable",
        "every attempt passes a decision event before returning to Steady",
    )
    add(
        "validation.sound",
        "validation",
        ("P6-F1",),
        "z3-unsat",
        "validation_sound",
        "Allowed implies every safety precondition",
    )
    add(
        "validation.complete",
        "validation",
        ("P6-F1",),
        "z3-unsat",
        "validation_complete",
        "all preconditions hold implies Allowed",
    )
    add(
        "validation.total",
        "validation",
        ("P6-D1",),
        "z3-unsat",
        "validation_total",
        "the decision is total and functional over the domain",
    )
    add(
        "validation.force-bounded",
        "validation",
        ("P6-A1a",),
        "z3-unsat",
        "validation_force_bounded",
        "force never overrides a primary observed Active",
    )
    add(
        "validation.unknown-denies",
        "validation",
        ("P6-F1",),
        "z3-unsat",
        "validation_unknown_denies",
        "each unknown denies, with its own reason",
    )
    add(
        "validation.mvcc",
        "validation",
        ("P6-S3",),
        "z3-unsat",
        "validation_mvcc",
        "Allowed only when MVCC visibility is preserved",
    )
    add(
        "validation.reasons",
        "validation",
        ("P6-O2",),
        "z3-sat",
        "validation_reasons",
        "every decision is reachable and every reason maps to one invariant",
    )
    for mutant in VALIDATOR_MUTANTS:
        add(
            f"mutant.validator.{mutant}",
            "mutant",
            ("P6-F1", "P6-A1a"),
            "z3-sat",
            "validation_mutant",
            f"the validator variant '{mutant}' breaks soundness",
            mutant=mutant,
        )
    add(
        "conformance.table",
        "conformance",
        ("P6-D2",),
        "comparison",
        "conformance_table",
        "impl/_table.py equals the enumerated spec relation",
    )
    add(
        "conformance.validator",
        "conformance",
        ("P6-F1", "P6-D1"),
        "exhaustive",
        "conformance_validator",
        "the runtime validator equals the spec's rule on every abstract point",
    )

    cluster_props = tuple(p.id for p in properties.PROPERTIES)
    for n in ns:
        for mode in cluster.MODES:
            add(
                f"induction.N{n}.{mode}",
                "induction",
                cluster_props,
                "z3-induction",
                "cluster_induction",
                "inductive invariant: initiation, consecution per action, safety",
                n=n,
                mode=mode,
            )
    from .parametric import build_obligations as parametric_obligations

    obs += parametric_obligations(quick)
    bmc_ns = (2,) if quick else ns
    for n in bmc_ns:
        for mode in ("async",) if quick else cluster.MODES:
            add(
                f"bmc.N{n}.{mode}",
                "bmc",
                cluster_props,
                "z3-bmc",
                "cluster_bmc",
                f"no violation within {depth} steps",
                n=n,
                mode=mode,
                depth=depth,
            )

    cdepth = COMPANION_DEPTH
    for prop in properties.PROPERTIES:
        add(
            f"companion.{prop.id}",
            "companion",
            (prop.id,),
            "z3-witness",
            "companion_property",
            prop.companion,
            n=2,
            mode="async",
            depth=cdepth,
            property=prop.id,
        )
    if not quick:
        for state in lifecycle.STATE_NAMES:
            add(
                f"companion.crash-in.{state}",
                "companion",
                ("P6-F2",),
                "z3-witness",
                "companion_crash_in_state",
                f"a crash in {state} is reachable",
                n=2,
                mode="async",
                depth=cdepth,
                state=state,
            )
        for authority in ("old", "new"):
            add(
                f"companion.recovery-to-{authority}",
                "companion",
                ("P6-F2",),
                "z3-witness",
                "companion_recovery",
                f"recovery to the {authority} authority is reachable",
                n=2,
                mode="async",
                depth=cdepth,
                authority=authority,
            )
        for reason in CLUSTER_REASONS:
            add(
                f"companion.denial.{reason}",
                "companion",
                ("P6-O2",),
                "z3-witness",
                "companion_denial",
                f"a denial with {reason} is reachable",
                n=2,
                mode="async",
                depth=cdepth,
                reason=reason,
            )

    for m in cluster.MUTANTS:
        if m.level != "cluster":
            continue  # caught by its mutant.validator.* obligation above
        if quick and m.name not in QUICK_MUTANTS:
            continue
        n = 3 if m.name in NEEDS_THREE else 2
        mode = "sync" if m.name == "ack_before_standby" else "async"
        add(
            f"mutant.{m.name}",
            "mutant",
            m.breaks,
            "z3-bmc",
            "cluster_counterexample",
            m.description,
            n=n,
            mode=mode,
            mutant=m.name,
        )
        if m.name in TARGETED and not quick:
            pid = TARGETED[m.name]
            add(
                f"mutant.{m.name}.{pid}",
                "mutant",
                (pid,),
                "z3-bmc",
                "cluster_counterexample",
                f"{m.description} Searched for a violation of {pid} specifically.",
                n=n,
                mode=mode,
                mutant=m.name,
                targets=[pid],
            )
    for a in cluster.ASSUMPTIONS:
        if quick:
            break  # each takes tens of seconds; the full run checks them all
        n = 3 if a.name in NEEDS_THREE else 2
        add(
            f"assumption.{a.name}",
            "assumption",
            a.guards,
            "z3-bmc",
            "cluster_counterexample",
            f"dropping it admits a counterexample: {a.statement}",
            n=n,
            mode="async",
            dropped=a.name,
        )
        if a.name in TARGETED:
            pid = TARGETED[a.name]
            add(
                f"assumption.{a.name}.{pid}",
                "assumption",
                (pid,),
                "z3-bmc",
                "cluster_counterexample",
                f"dropping it admits a violation of {pid} specifically: {a.statement}",
                n=n,
                mode="async",
                dropped=a.name,
                targets=[pid],
            )
    # The explicit-state explorer over the runtime core itself (baton explore):
    # refinement on every step, the spec's properties on every state.
    for n, w, p, mode in EXPLORE_QUICK if quick else EXPLORE_FULL:
        add(
            f"explore.N{n}.W{w}.P{p}.{mode}",
            "explore",
            tuple(properties.PROPERTY_IDS),
            "explicit-state",
            "explore_model",
            f"every reachable state of the runtime core, <= {w} writes, <= {p} promotions: "
            "each step is a spec step, each state satisfies the spec's properties",
            n=n,
            writes=w,
            promotions=p,
            mode=mode,
            expect="pass",
            # The two N=3 W=2 P=2 searches dominate (the sync one ~3x the async
            # one): they search on every core, so that neither is left alone on
            # one core at the end of verify's pool; the small ones on one process.
            workers=0 if (n, w, p) == (3, 2, 2) else 1,
        )
    for name, n, p, target in (
        ("restart_keeps_authority", 2, 1, "P6-S1"),
        ("reinstate_during_attempt", 2, 1, "P6-S1"),
        ("concurrent_attempts", 3, 2, "P6-A3"),
        ("untruthful_force", 2, 1, "P6-A1"),
    ):
        add(
            f"mutant.explore.{name}",
            "mutant",
            (target,),
            "explicit-state",
            "explore_model",
            f"the runtime core variant '{name}' yields a counterexample to {target}",
            n=n,
            writes=0 if name == "concurrent_attempts" else 1,
            promotions=p,
            mode="async",
            mutant=name,
            targets=[target],
            refinement=False,
            expect="violation",
        )
    return obs


def run(ob: Obligation) -> Outcome:
    start = time.perf_counter()
    try:
        outcome = RUNNERS[str(ob.params["runner"])](ob)
    except Exception as exc:  # an obligation that crashes is a failure, reported, not hidden
        outcome = Outcome(False, "error", f"{type(exc).__name__}: {exc}")
    outcome.seconds = time.perf_counter() - start
    return outcome
