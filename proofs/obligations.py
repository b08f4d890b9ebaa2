"""The proof obligations of ``baton verify``: each a named, documented unit.

Every obligation names the property IDs it covers, its method, its parameters
and, when run, produces an :class:`Outcome`. Groups:

``lifecycle``
    the relation has exactly the 9 transitions; each named forbidden
    transition is unsatisfiable; timeout/retry never move (P6-F3);
    determinism (P6-D2); no terminal state; the crash map (P6-F2); every
    attempt passes a decision event (P6-O1).
``validation``
    soundness and completeness (P6-F1), one decision per context (P6-D1),
    force never overrides Active (P6-A1a), each unknown denies with its own
    reason (P6-F1), MVCC (P6-S3), every reason reachable and mapped to one
    invariant (P6-O2).
``conformance``
    the generated ``impl/_table.py`` equals the spec; the runtime validator
    equals the spec's rule on the whole abstract domain.
``induction``
    the unbounded proof (:mod:`baton.proofs.induction`) for each N and mode;
    when it fails, a concrete run that breaks a property is searched and
    reported (:func:`trace_for_failed_proof`).
``parametric``
    the proof for every cluster size (its own module), result kind
    ``proven-all-N``.
``bmc``
    bounded model checking to the stated depth for N = 2, 3 and each mode.
``companion``
    reachability witnesses: every property's companion and every action, in
    both modes and at every N (``companion.coverage.*``), the lifecycle and
    validation witnesses of P6-D1, D2, O1, O2 and S3, and crash, recovery and
    denial witnesses: nothing above holds vacuously.
``mutant`` / ``assumption``
    each broken variant must be caught with a counterexample: a run of the
    cluster model, or a context of the lifecycle or validation model
    (``mutant.spec.*``, ``mutant.validator.*``).

Every outcome carries its result kind (what exactly was established) and,
for a counterexample, the properties it actually violates. Obligations are
plain data plus a function name, so that a pool of worker processes can run
them by name.
"""

from __future__ import annotations

import importlib
import multiprocessing
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
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
DEFAULT_NS: tuple[int, ...] = (2, 3, 4)


# --- result kinds -------------------------------------------------------------------
#
# "proven" alone hides what was established. Every outcome carries a *kind*
# saying exactly what: a proof for every cluster size, an unbounded proof for
# one size, a bounded search, an exhaustive search within explicit bounds, a
# proof over a finite domain, a reachability witness or a counterexample.

KIND_ALL_N = "proven-all-N"
KIND_FINITE = "proven (finite domain)"
KIND_FINITE_WITNESS = "witness (finite domain)"
KIND_CONTEXT_COUNTEREXAMPLE = "counterexample (model context)"
KIND_NOT_INDUCTIVE = "not inductive"
KIND_MISSED = "missed"
KIND_ERROR = "error"
KIND_TIMEOUT = "timeout"


def kind_unbounded(n: int) -> str:
    return f"proven-unbounded (N={n})"


def kind_bounded(depth: int) -> str:
    return f"bounded (depth {depth})"


def kind_exhaustive(writes: int, promotions: int) -> str:
    return f"exhaustive within bounds (W={writes}, P={promotions})"


def kind_witness(steps: int) -> str:
    return f"witness ({steps} steps)"


def kind_counterexample(steps: int) -> str:
    return f"counterexample ({steps} steps)"


def kind_violated(steps: int) -> str:
    return f"violated ({steps} steps)"


def kind_no_witness(depth: int) -> str:
    return f"no witness (depth {depth})"


def kind_base(kind: str) -> str:
    """The kind without its parameters: ``"bounded (depth 10)"`` -> ``"bounded"``."""
    return kind.split(" (")[0]


@dataclass
class Outcome:
    """The result of one obligation."""

    passed: bool
    verdict: str  # proven | failed | reachable | unreachable | caught | missed | error | timeout
    detail: str = ""
    counterexample: dict[str, Any] | None = None
    seconds: float = 0.0
    # What exactly was established (see the KIND_* names); filled in by run()
    # from the obligation when the runner leaves it empty.
    kind: str = ""
    # The properties a counterexample found actually violates (not the ones the
    # obligation is about): what a failed or caught result is labelled with.
    violated: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Obligation:
    name: str
    group: str
    properties: tuple[str, ...]
    method: str
    description: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def assumptions(self) -> tuple[str, ...]:
        """The environment assumptions a result of this obligation rests on.

        Every obligation over the cluster model (or the runtime core, which
        refines it) assumes the named switches of :data:`cluster.ASSUMPTIONS`
        it does not drop; the lifecycle and validation proofs are over finite
        domains and assume nothing about the environment.
        """
        cluster_groups = ("induction", "parametric", "bmc", "companion", "explore")
        if self.group not in (*cluster_groups, "mutant", "assumption"):
            return ()
        runner = str(self.params.get("runner"))
        over_cluster = (
            runner
            in ("cluster_induction", "cluster_bmc", "cluster_counterexample", "explore_model")
            or runner.startswith(("companion", "parametric"))
            or self.group == "parametric"
        )
        if not over_cluster:
            return ()
        dropped = {str(self.params["dropped"])} if self.params.get("dropped") else set()
        if self.params.get("mutant") == "untruthful_force":  # the explorer's environment variant
            dropped.add("force_is_truthful")
        return tuple(a for a in cluster.ASSUMPTION_NAMES if a not in dropped)

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


# Spec-level mutants of the lifecycle and validation models: each breaks one of
# P6-D1, D2, O1, O2, S3, and the proof of that property must fail on it.
LIFECYCLE_MUTANT_RULES: dict[str, tuple[lifecycle.Rule, ...]] = {
    # P6-D2: deny may also end the attempt at once -- two successors for one event.
    "ambiguous_deny": (
        *lifecycle.RULES,
        ("deny", lambda st: st == lifecycle.S["PromotionValidating"], "Steady"),
    ),
    # P6-O1: an attempt under validation can be closed without any decision event.
    "silent_abandon": (
        *lifecycle.RULES,
        ("acknowledge", lambda st: st == lifecycle.S["PromotionValidating"], "Steady"),
    ),
}


def _rules(ob: Obligation) -> tuple[lifecycle.Rule, ...]:
    mutant = ob.params.get("mutant")
    return (
        LIFECYCLE_MUTANT_RULES[str(mutant)] if mutant in LIFECYCLE_MUTANT_RULES else lifecycle.RULES
    )


def lifecycle_deterministic(ob: Obligation) -> Outcome:
    rules = _rules(ob)
    s, e = z3.Const("s", lifecycle.State), z3.Const("e", lifecycle.Event)
    t1, t2 = z3.Const("t1", lifecycle.State), z3.Const("t2", lifecycle.State)
    ok, model = _unsat(
        lifecycle.transition(s, e, t1, rules), lifecycle.transition(s, e, t2, rules), t1 != t2
    )
    cx = None
    if model is not None:
        cx = {
            "context": {
                name: str(model.eval(v, model_completion=True))
                for name, v in (("state", s), ("event", e), ("successor", t1), ("other", t2))
            }
        }
    return _proven(ok, "no (state, event) has two successors", cx)


def lifecycle_events_used(_: Obligation) -> Outcome:
    """Companion of P6-D2: every protocol event moves some state (the relation is not empty)."""
    used = {e for _s, e, _t in lifecycle.enumerate_transitions()}
    protocol = [e for e in lifecycle.EVENT_NAMES if e not in ("timeout", "retry")]
    unused = [e for e in protocol if e not in used]
    return Outcome(
        not unused,
        "reachable" if not unused else "unreachable",
        f"{len(protocol) - len(unused)} of {len(protocol)} protocol events move some state; "
        f"unused: {unused}",
    )


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


DECISION_EVENTS = frozenset({"reject", "approve", "deny"})


def lifecycle_observable(ob: Obligation) -> Outcome:
    # P6-O1: every attempt that returns to Steady passes a decision event:
    # reject (turned away), approve or deny. Remove those edges: Steady must
    # become unreachable from PromotionRequested.
    edges = [t for t in lifecycle.enumerate_transitions(_rules(ob)) if t[1] not in DECISION_EVENTS]
    reach = _closure("PromotionRequested", edges, True)
    silent = sorted(f"{a} --{e}--> {b}" for a, e, b in edges if b == "Steady" and a in reach)
    cx = {"context": {"undecided paths back to Steady": "; ".join(silent)}} if silent else None
    return _proven("Steady" not in reach, "every attempt passes reject, approve or deny", cx)


def lifecycle_decisions_reachable(_: Obligation) -> Outcome:
    """Companion of P6-O1: each decision event is taken by some attempt."""
    edges = lifecycle.enumerate_transitions()
    reach = _closure("PromotionRequested", edges, True)
    taken = sorted({e for a, e, _b in edges if a in reach and e in DECISION_EVENTS})
    ok = taken == sorted(DECISION_EVENTS)
    return Outcome(
        ok, "reachable" if ok else "unreachable", f"decision events taken by attempts: {taken}"
    )


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


def _checks_reading(tag: str, mutant: str | None) -> tuple[validation.Check, ...]:
    """The checks; the mutant ``decision_reads_clock`` adds one that reads an input
    outside the context (a fresh constant per evaluation, like a clock)."""
    if mutant != "decision_reads_clock":
        return validation.CHECKS
    clock = z3.Bool(f"clock_expired@{tag}")
    late = validation.Check(
        "mvcc_unknown", "P6-F1", "the check gave up when a timer expired", lambda c: clock
    )
    return (*validation.CHECKS[:-1], late, validation.CHECKS[-1])


def validation_total(ob: Obligation) -> Outcome:
    """P6-D1: one decision per context -- two evaluations of the rule on the same
    context (with independent copies of anything outside it) never differ."""
    mutant = ob.params.get("mutant")
    ctx = validation.fresh_context()
    first = validation.decide(ctx, _checks_reading("first", mutant))
    second = validation.decide(ctx, _checks_reading("second", mutant))
    functional, model = _unsat(validation.well_formed(ctx), first != second)
    points = len(list(validation.domain()))
    cx = None
    if model is not None:
        cx = {
            "context": _context_dict(model, ctx),
            "decisions": [str(model.eval(first)), str(model.eval(second))],
        }
    return _proven(functional, f"one decision per context; {points} abstract points", cx)


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


def validation_mvcc(ob: Obligation) -> Outcome:
    ctx = validation.fresh_context()
    checks = validation.CHECKS
    if ob.params.get("mutant") == "ignore_mvcc_violation":
        checks = tuple(ch for ch in checks if ch.reason != "mvcc_violated")
    allowed = validation.decide(ctx, checks) == validation.DECISION["allowed"]
    ok, model = _unsat(allowed, ctx.mvcc != validation.MVCC["Preserved"])
    cx = None if model is None else {"context": _context_dict(model, ctx), "decision": "allowed"}
    return _proven(ok, "Allowed only when MVCC visibility is Preserved", cx)


def validation_mvcc_denial(_: Obligation) -> Outcome:
    """Companion of P6-S3: a context fine but for MVCC visibility is denied for it."""
    ctx = validation.fresh_context()
    d = validation.decide(ctx)
    ok, model = _unsat(
        validation.safe_to_promote(
            validation.Context(**{**ctx.__dict__, "mvcc": validation.MVCC["Preserved"]})
        ),
        ctx.mvcc == validation.MVCC["Violated"],
        d == validation.DECISION["mvcc_violated"],
    )
    found = not ok
    cx = (
        None
        if model is None
        else {"context": _context_dict(model, ctx), "decision": "mvcc_violated"}
    )
    return Outcome(
        found,
        "reachable" if found else "unreachable",
        "a candidate fine in every other respect is denied with mvcc_violated",
        cx,
    )


def validation_force_used(_: Obligation) -> Outcome:
    """Companion of P6-A1a: force is not dead -- a forced request over a primary of
    Unknown status is allowed, and the same context unforced is denied."""
    ctx = validation.fresh_context()
    unforced = validation.Context(**{**ctx.__dict__, "force": z3.BoolVal(False)})
    ok, model = _unsat(
        validation.well_formed(ctx),
        ctx.force,
        ctx.primary_status == validation.PSTATUS["Unknown"],
        validation.decide(ctx) == validation.DECISION[validation.ALLOWED],
        validation.decide(unforced) != validation.DECISION[validation.ALLOWED],
    )
    found = not ok
    cx = None if model is None else {"context": _context_dict(model, ctx), "decision": "allowed"}
    return Outcome(
        found,
        "reachable" if found else "unreachable",
        "a forced request over an Unknown primary is allowed where the unforced one is denied",
        cx,
    )


def validation_reasons(ob: Obligation) -> Outcome:
    ctx = validation.fresh_context()
    d = validation.decide(ctx)
    reason_invariant = dict(validation.REASON_INVARIANT)
    if ob.params.get("mutant") == "unexplained_denial":
        # P6-O2 mutant: one denial names no invariant (an explanation-free refusal).
        reason_invariant["history_unknown"] = ""
    unreachable = []
    for name, const in validation.DECISION.items():
        ok, _m = _unsat(validation.well_formed(ctx), d == const)
        if ok:
            unreachable.append(name)
    from baton.spec import invariants

    unmapped = [
        r for r in validation.REASON_NAMES if reason_invariant.get(r) not in invariants.BY_ID
    ]
    return Outcome(
        not unreachable and not unmapped,
        "reachable" if not unreachable and not unmapped else "unreachable",
        f"{len(validation.DECISION)} decisions; unreachable {unreachable}; unmapped {unmapped}",
    )


SPEC_MUTANTS: dict[str, tuple[str, str, str]] = {
    # name: (the proof it must break, the property, what it changes)
    "decision_reads_clock": (
        "validation_total",
        "P6-D1",
        "a validation check reads a timer outside the validation context",
    ),
    "ambiguous_deny": (
        "lifecycle_deterministic",
        "P6-D2",
        "deny may also return the attempt straight to Steady: two successors for one event",
    ),
    "silent_abandon": (
        "lifecycle_observable",
        "P6-O1",
        "an attempt under validation can be closed by acknowledge, with no decision event",
    ),
    "unexplained_denial": (
        "validation_reasons",
        "P6-O2",
        "the denial history_unknown names no invariant",
    ),
    "ignore_mvcc_violation": (
        "validation_mvcc",
        "P6-S3",
        "the validator drops the mvcc_violated check",
    ),
}


def spec_mutant(ob: Obligation) -> Outcome:
    """A lifecycle/validation mutant is caught when the proof of its property fails
    on it; the context of that failure is then shown reachable by a run of the
    cluster that ends in the mutated step (baton.proofs.spec_runs)."""
    from .render import render_text
    from .spec_runs import lifted_run

    name = str(ob.params["mutant"])
    proof, pid, _what = SPEC_MUTANTS[name]
    result = RUNNERS[proof](ob)
    caught = not result.passed
    context = result.counterexample or {"context": {"proof": proof, "detail": result.detail}}
    if not caught:
        return Outcome(False, "missed", f"{proof} holds: {result.detail}", kind=KIND_MISSED)
    run = lifted_run(name)
    if run is None:
        return Outcome(
            True,
            "caught",
            f"{proof} fails: {result.detail}; no cluster run reaches the context within "
            "the search bounds",
            context,
            kind=KIND_CONTEXT_COUNTEREXAMPLE,
            violated=[pid],
        )
    run["context"] = context.get("context", context)
    run["rendered"] = render_text(run, title=f"{ob.name}: {ob.description}")
    return Outcome(
        True,
        "caught",
        f"{proof} fails: {result.detail}; a {run['length']}-step cluster run reaches the "
        f"context and takes the mutated step",
        run,
        kind=kind_counterexample(int(run["length"])),
        violated=[pid],
    )


def validation_mutant(ob: Obligation) -> Outcome:
    sound = validation_sound(ob)
    force = validation_force_bounded(ob)
    caught = not sound.passed or not force.passed
    cx = sound.counterexample or force.counterexample
    detail = (
        "soundness fails" if not sound.passed else ("force bound fails" if not force.passed else "")
    )
    # Unsound: it allows a promotion some precondition forbids (P6-F1); a broken
    # force bound lets force override an Active primary (P6-A1a).
    violated = (["P6-F1"] if not sound.passed else []) + (["P6-A1a"] if not force.passed else [])
    return Outcome(caught, "caught" if caught else "missed", detail, cx, violated=violated)


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


# Cluster sizes whose concrete runs are searched when an inductive proof fails:
# a run at N=2 or 3 breaks the claim for every N, and larger sizes are slow.
TRACE_SEARCH_NS: tuple[int, ...] = (2, 3)


def trace_for_failed_proof(cfg: Config) -> tuple[Outcome | None, str]:
    """A concrete run violating a property of ``cfg``, for a proof that failed.

    A failed induction step alone is a counterexample *to induction* -- a state
    that may be unreachable. A reviewer needs the run that breaks the property,
    so the model is searched (bounded model checking, deepening to 20 steps)
    at the smallest cluster sizes first.
    """
    from .counterexample import find_run
    from .render import render_text

    for n in TRACE_SEARCH_NS:
        if n > cfg.n:
            break
        cx = find_run(cfg.with_n(n))
        if cx is not None:
            data = cx.to_dict()
            data["rendered"] = render_text(data)
            steps = len(cx.trace.steps) - 1
            detail = (
                f"a {steps}-step run at N={n} violates {', '.join(cx.violated)} "
                f"(found at depth {cx.found_at_depth})"
            )
            return Outcome(False, "failed", detail, data, violated=list(cx.violated)), ""
    searched = ", ".join(f"N={n}" for n in TRACE_SEARCH_NS if n <= cfg.n)
    return None, f"no concrete run within 20 steps at {searched}"


def cluster_induction(ob: Obligation) -> Outcome:
    from . import induction

    cfg = _config(ob)
    result = induction.prove(cfg)
    # A skipped (disabled) action is a reported result, never silent.
    skipped = (
        f"; disabled in every invariant state (unreachable): {', '.join(result.disabled)}"
        if result.disabled
        else ""
    )
    # An action disabled in every invariant state is dead in every reachable
    # state: acceptable only for a declared defence-in-depth action (with its
    # companion shown in the model with an assumption dropped); any other is a
    # vacuous corner -- a modelling error the proof would otherwise hide.
    declared = {name for name, mode in DEFENCE_IN_DEPTH if mode == cfg.mode}
    dead = sorted({d.split("[")[0] for d in result.disabled} - declared)
    if result.proven and dead:
        return Outcome(
            False,
            "failed",
            f"vacuous: {', '.join(dead)} enabled in no invariant state and not declared "
            f"defence in depth{skipped}",
            {"disabled_actions": result.disabled},
        )
    if result.proven:
        return Outcome(
            True,
            "proven",
            f"{len(induction.LEMMAS)} lemmas; {result.queries} queries{skipped}",
            {"disabled_actions": result.disabled} if result.disabled else None,
        )
    first = result.failures[0]
    why = f"{first.check} fails: action {first.action} breaks lemma {first.lemma}"
    traced, searched = trace_for_failed_proof(cfg)
    if traced is not None:
        traced.detail = f"{traced.detail}; the proof: {why}"
        return traced
    return Outcome(
        False,
        "failed",
        f"{why}; {searched} (the lemma may be too weak, or the run longer)",
        {"model": first.model},
    )


def cluster_bmc(ob: Obligation) -> Outcome:
    """No violation of any property (states and steps) within ``depth`` steps; else the run."""
    from .counterexample import find_counterexample
    from .render import render_text

    cfg = _config(ob)
    depth = int(ob.params["depth"])
    cx = find_counterexample(cfg, depths=(depth,))
    if cx is None:
        count = len(properties.PROPERTIES) + len(properties.STEP_PROPERTIES)
        return _proven(
            True, f"no violation of {count} state and step properties in <= {depth} steps"
        )
    data = cx.to_dict()
    data["rendered"] = render_text(data)
    steps = len(cx.trace.steps) - 1
    return Outcome(
        False,
        "failed",
        f"a {steps}-step run violates {', '.join(cx.violated)}",
        data,
        violated=list(cx.violated),
    )


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


# --- operator abort (a forgotten attempt; see baton.spec.cluster) ----------------------


def companion_abort(ob: Obligation) -> Outcome:
    """An operator's abort is taken from ``state`` after ``stage`` marker operations."""
    cfg, depth = _config(ob), int(ob.params["depth"])
    state, stage = str(ob.params["state"]), int(ob.params["stage"])
    goal = _step_goal(
        cfg,
        depth,
        "abort",
        lambda s, c: z3.And(s.lc[c] == lifecycle.S[state], s.mstage[c] == stage),
    )
    return _witness(cfg, depth, goal, f"an abort in {state} after {stage} marker operation(s)")


ABORT_MEMBERS: tuple[dict[str, Any], ...] = (
    {"runner": "companion_abort", "state": "PromotionApproved", "stage": 0},
    {"runner": "companion_abort", "state": "AuthorityTransitioning", "stage": 0},
    # The last stage before the rename: the temp file is written and fsynced.
    {"runner": "companion_abort", "state": "AuthorityTransitioning", "stage": 2},
)
"""Where an abort is allowed (P6-A1, P6-S1 hold across it): from approval to the rename."""


def add_abort_obligations(add: Callable[..., None], quick: bool) -> None:
    """The abort's companion group (the mutant ``abort_after_rename`` is a cluster
    mutant like the others)."""
    if quick:
        return
    add(
        "companion.abort",
        "companion",
        ("P6-A1", "P6-S1"),
        "z3-witness",
        "companion_group",
        "an operator's abort is reachable from approval and from each marker stage "
        "before the rename",
        n=2,
        mode="async",
        depth=COMPANION_DEPTH,
        members=[{**m, "label": f"{m['state']}@{m['stage']}"} for m in ABORT_MEMBERS],
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


def companion_group(ob: Obligation) -> Outcome:
    """Several witnesses over one unrolling, built by this obligation alone.

    Witness searches share an unrolling; as separate obligations their times
    depended on which one happened to build it in its worker. As one
    obligation the cost is the same every run."""
    _unrolling.cache_clear()
    base = {k: v for k, v in ob.params.items() if k not in ("members", "runner")}
    found: dict[str, Any] = {}
    missing = []
    for member in ob.params["members"]:
        params = {**base, **member}
        sub = Obligation(ob.name, ob.group, ob.properties, ob.method, "", params)
        result = RUNNERS[str(member["runner"])](sub)
        label = str(member["label"])
        if result.passed and result.counterexample:
            found[label] = len(result.counterexample["steps"]) - 1
        else:
            missing.append(label)
    longest = max(found.values(), default=0)
    detail = ", ".join(f"{label}: {steps} steps" for label, steps in found.items())
    if missing:
        detail += f"; NO WITNESS within {ob.depth} steps: {', '.join(missing)}"
    ok = not missing
    return Outcome(
        ok,
        "reachable" if ok else "unreachable",
        detail,
        {"witnesses": found},
        kind=f"witness (each of {len(found)}, <= {longest} steps)"
        if ok
        else kind_no_witness(ob.depth or 0),
    )


# Actions that no state of the full model (every assumption holding) enables,
# and why; each one's companion is shown in the model with one assumption
# dropped, so the action is not dead code, only defence in depth.
DEFENCE_IN_DEPTH: dict[tuple[str, str], tuple[str, str]] = {
    ("step_down", "async"): (
        "unavailable_is_accurate",
        "a writable node holds the highest epoch (P6-A3), so it never sees a higher one",
    ),
    ("step_down", "sync"): (
        "unavailable_is_accurate",
        "a writable node holds the highest epoch (P6-A3), so it never sees a higher one",
    ),
    ("diverge", "async"): (
        "exact_async_ack_bound",
        "in async mode a candidate must hold the old primary's whole durable WAL, so no "
        "two WALs ever fork",
    ),
    ("ambiguity_halt", "async"): (
        "single_controller",
        "each epoch has one primary marker (P6-A3), so no node sees two claim one epoch",
    ),
    ("ambiguity_halt", "sync"): (
        "single_controller",
        "each epoch has one primary marker (P6-A3), so no node sees two claim one epoch",
    ),
}
COVERAGE_DEPTH = 16
# Defence-in-depth actions whose witness (with the assumption dropped) needs a
# larger cluster or a longer path than the N=2 search: (N, depth). Two primaries
# of one epoch take two concurrent attempts, for two candidates besides the
# primary, so the authority-ambiguity halt is first seen at N=3.
DEFENCE_IN_DEPTH_SIZE: dict[str, tuple[int, int]] = {"ambiguity_halt": (3, 18)}


def _action_goal(u: Any, name: str) -> z3.BoolRef:
    options = [
        u.labels[k] == idx
        for k in range(len(u.labels))
        for idx, act in enumerate(u.step_actions[k])
        if act.name == name
    ]
    return z3.Or(*options) if options else z3.BoolVal(False)


def _shows(u: Any, model: z3.ModelRef, goal: tuple[str, str]) -> int | None:
    """The first depth at which the path of ``model`` shows ``goal``, if it does."""
    kind, name = goal
    for k in range(1, u.depth + 1):
        if kind == "action":
            idx = model.eval(u.labels[k - 1], model_completion=True).as_long()
            if idx >= 0 and u.step_actions[k - 1][idx].name == name:
                return k
        else:
            witness = properties.get_property(name).witness(u.states[k])
            if z3.is_true(model.eval(witness, model_completion=True)):
                return k
    return None


@cache
def _replayer(cfg: Config) -> Any:
    from .counterexample import _Replayer

    return _Replayer(cfg, [], [])


Path = list[tuple[str, tuple[int, ...], dict[str, str]]]


def _lift_all(cfg: Config, goals: dict[tuple[str, str], Path]) -> list[tuple[str, str]]:
    """The goals whose N=2 witness path does *not* replay at ``cfg.n`` (extra nodes
    idle) and show the goal there. A path that is a prefix of one already
    replayed is not replayed again: every prefix of a path is a path."""
    replayer = _replayer(cfg)
    replayed: list[tuple[Path, list[list[z3.ExprRef]]]] = []
    failed = []
    for goal, path in sorted(goals.items(), key=lambda item: -len(item[1])):
        states = next(
            (st[: len(path) + 1] for full, st in replayed if full[: len(path)] == path), None
        )
        if states is None:
            result = replayer.run(path, must_violate=False)
            if result is None:
                failed.append(goal)
                continue
            states = result[0]
            replayed.append((path, states))
        if goal[0] == "action":
            continue
        solver = z3.Solver()
        solver.add(*[v == x for v, x in zip(replayer.s.all_vars(), states[-1], strict=True)])
        solver.add(properties.get_property(goal[1]).witness(replayer.s))
        if solver.check() != z3.sat:
            failed.append(goal)
    return failed


def companion_coverage(ob: Obligation) -> Outcome:
    """Every property's companion and every action has a witness, in this mode, at every N.

    Witnesses are searched at N=2 (bounded model checking, one incremental
    unrolling): each path found credits every goal it shows, so a few queries
    cover everything. Each path is then replayed through the spec at the
    larger sizes with the extra nodes idle; a witness that does not lift is
    searched at that size directly.
    """
    from .bmc import Unrolling

    mode = str(ob.params["mode"])
    ns = tuple(int(n) for n in ob.params["ns"])
    depth = int(ob.params.get("depth", COVERAGE_DEPTH))
    base = Config(n=2, mode=mode)
    goals: list[tuple[str, str]] = [("property", p.id) for p in properties.PROPERTIES]
    goals += [("action", a) for a in cluster.action_names(base)]
    u = Unrolling(base, stutter=True)
    u.extend_to(depth)
    paths: dict[tuple[str, str], Path] = {}
    dropped_for: dict[tuple[str, str], str] = {}
    witness_n: dict[tuple[str, str], int] = {}
    missing: list[str] = []

    def record(unrolling: Any, model: z3.ModelRef, pending: list[tuple[str, str]]) -> None:
        trace = unrolling.trace(model)
        for g in list(pending):
            at = _shows(unrolling, model, g)
            if at is None:
                continue
            steps = [st for st in trace.steps[1:] if st.index <= at]
            paths[g] = [(st.action, st.nodes, st.choices) for st in steps]
            pending.remove(g)

    pending = list(goals)
    while pending:
        goal = pending[0]
        target = (
            _action_goal(u, goal[1])
            if goal[0] == "action"
            else z3.Or(
                *[
                    properties.get_property(goal[1]).witness(u.states[k])
                    for k in range(1, depth + 1)
                ]
            )
        )
        model = u.find(target, one_shot=True)
        if model is not None:
            record(u, model, pending)
            continue
        pending.remove(goal)
        fallback = DEFENCE_IN_DEPTH.get((goal[1], mode)) if goal[0] == "action" else None
        if fallback is None:
            missing.append(f"{goal[1]} (no witness within {depth} steps)")
            continue
        weak_n, weak_depth = DEFENCE_IN_DEPTH_SIZE.get(goal[1], (2, depth))
        weak = Unrolling(replace(base, n=weak_n, dropped=frozenset({fallback[0]})), stutter=True)
        weak.extend_to(weak_depth)
        model = weak.find(_action_goal(weak, goal[1]), one_shot=True)
        if model is None:
            missing.append(f"{goal[1]} (no witness even with {fallback[0]} dropped)")
            continue
        rest = [goal]
        record(weak, model, rest)
        dropped_for[goal] = fallback[0]
        witness_n[goal] = weak_n
    not_lifted: list[str] = []
    for n in ns:
        groups: dict[frozenset[str], dict[tuple[str, str], Path]] = {}
        for goal, path in paths.items():
            # A witness found at N replays at every larger size (extra nodes idle).
            if witness_n.get(goal, 2) >= n:
                continue
            dropped = frozenset({dropped_for[goal]}) if goal in dropped_for else frozenset()
            groups.setdefault(dropped, {})[goal] = path
        for dropped, group in groups.items():
            cfg = Config(n=n, mode=mode, dropped=dropped)
            for goal in _lift_all(cfg, group):
                # The small witness does not carry over: search at this size.
                wide = Unrolling(cfg, stutter=True, symmetry=True)
                wide.extend_to(depth)
                target = (
                    _action_goal(wide, goal[1])
                    if goal[0] == "action"
                    else properties.get_property(goal[1]).witness(wide.states[depth])
                )
                if wide.find(target, one_shot=True) is None:
                    not_lifted.append(f"{goal[1]} at N={n}")
    witnesses = {
        f"{kind} {name}": {
            "steps": len(path),
            "path": [f"{a}({', '.join(f'n{i}' for i in nodes)})" for a, nodes, _ in path],
            **({"dropped": dropped_for[(kind, name)]} if (kind, name) in dropped_for else {}),
            **({"n": witness_n[(kind, name)]} if (kind, name) in witness_n else {}),
        }
        for (kind, name), path in paths.items()
    }
    notes = [
        f"{g[1]} is unreachable with every assumption ({DEFENCE_IN_DEPTH[(g[1], mode)][1]}); "
        f"witness with {d} dropped" + (f" at N={witness_n[g]}" if witness_n.get(g, 2) != 2 else "")
        for g, d in dropped_for.items()
    ]
    ok = not missing and not not_lifted
    sizes = ",".join(str(n) for n in ns)
    detail = (
        f"{len(paths)} of {len(goals)} goals ({len(properties.PROPERTIES)} companions, "
        f"{len(goals) - len(properties.PROPERTIES)} actions) witnessed at N={sizes}"
    )
    if notes:
        detail += "; " + "; ".join(notes)
    if missing or not_lifted:
        detail += "; MISSING: " + ", ".join(missing + not_lifted)
    longest = max((len(p) for p in paths.values()), default=0)
    return Outcome(
        ok,
        "reachable" if ok else "unreachable",
        detail,
        {"witnesses": witnesses},
        kind=f"witness (every companion and action, N={sizes}, <= {longest} steps)"
        if ok
        else kind_no_witness(depth),
    )


def cluster_counterexample(ob: Obligation) -> Outcome:
    """The variant must yield a run from the initial state to a violation: the
    explicit search of the compiled spec first (a shortest run within small
    bounds), bounded model checking when that finds none (``explicit`` off:
    bounded model checking only, for runs known to lie beyond those bounds)."""
    from .counterexample import DEPTHS, find_run
    from .render import render_text

    cfg = _config(ob)
    targets = ob.params.get("targets")
    depths = tuple(int(d) for d in ob.params.get("depths") or DEPTHS)
    cx = find_run(
        cfg,
        depths=depths,
        targets=tuple(targets) if targets else None,
        explicit=bool(ob.params.get("explicit", True)),
        deep=bool(ob.params.get("deep", False)),
    )
    if cx is None:
        return Outcome(False, "missed", f"no counterexample within {max(depths)} steps")
    data = cx.to_dict()
    data["rendered"] = render_text(data, title=f"{ob.name}: {ob.description}")
    engine = "explicit search" if cx.engine.startswith("explicit") else "bmc"
    return Outcome(
        True,
        "caught",
        f"{len(cx.trace.steps) - 1}-step counterexample violates {', '.join(cx.violated)} "
        f"({engine})",
        data,
        violated=list(cx.violated),
    )


# --- defence-in-depth mutants (see baton.spec.cluster.DEFENCE_MUTANTS) ---------------


def _step_property(name: str) -> properties.StepProperty:
    return next(sp for sp in properties.STEP_PROPERTIES if sp.name == name)


def defence_mutant(ob: Obligation) -> Outcome:
    """A mutant of a guard no state allowed by the assumptions reaches.

    With every assumption it is unobservable (the all-N invariant implies the
    guard it drops), so it is judged with the assumption that excludes the
    guard's situation dropped: there (1) every step of the correct model keeps
    the step property from any state -- its guard alone ensures it -- and (2)
    the mutant has a run to a step that breaks it. Only (2) and (1) together
    say the guard, not the dropped assumption, is what the property rests on.
    """
    from .bmc import Unrolling
    from .counterexample import Counterexample, _shrink, _violated_at, faulty_steps, from_run
    from .render import render_text
    from .search import DEEP_ROUND, search

    name = str(ob.params["mutant"])
    sp = _step_property(str(ob.params["step"]))
    n, mode, depth = int(ob.params["n"]), str(ob.params["mode"]), int(ob.params["depth"])
    correct = Config(n=n, mode=mode, dropped=frozenset({str(ob.params["dropped"])}))
    s, t = cluster.fresh_state(n, "dm0"), cluster.fresh_state(n, "dm1")
    broken_by = []
    for act in cluster.actions(correct, s, t, "dm"):
        solver = z3.Solver()
        solver.add(act.formula, z3.Not(sp.holds(s, t)))
        if solver.check() != z3.unsat:
            broken_by.append(f"{act.name}{list(act.nodes)}")
    if broken_by:
        return Outcome(
            False,
            "failed",
            f"the correct model ({correct.label()}) breaks {sp.id} {sp.name} itself: "
            + ", ".join(broken_by[:5]),
        )
    cfg = replace(correct, mutant=name)
    start = time.perf_counter()
    # The explicit search of the compiled spec first (its budgeted deep round finds
    # the ~21-step run in seconds, shortest within its bounds), looking at the step
    # property alone: with the assumption dropped, the state property of the same ID
    # breaks too, by the dropped assumption rather than by the mutant. Bounded
    # model checking, which has no WAL or epoch bound, if it finds nothing.
    run = search(cfg, (sp.id,), DEEP_ROUND, steps_only=True)
    if run is not None:
        cx = from_run(run)
        cx.seconds = time.perf_counter() - start
        trace, violated = cx.trace, list(run.violated)
    else:
        u = Unrolling(cfg, stutter=True, symmetry=True)
        u.extend_to(depth)
        goal = z3.Or(*[z3.Not(sp.holds(u.states[k], u.states[k + 1])) for k in range(depth)])
        model = u.find(goal, one_shot=True)
        if model is None:
            return Outcome(
                False, "missed", f"no run of {cfg.label()} breaks {sp.name} in {depth} steps"
            )
        raw = u.trace(model, depth)
        cut = len(raw.steps)
        for k in range(1, len(raw.steps)):
            pre, post = u.states[raw.steps[k - 1].index], u.states[raw.steps[k].index]
            if _violated_at(model, pre, post, [], [sp]):
                cut = k + 1
                break
        steps = [(st.action, st.nodes, st.choices) for st in raw.steps[1:cut]]
        trace, violated, values = _shrink(cfg, steps, [], [sp])
        cx = Counterexample(
            cfg, violated, trace, time.perf_counter() - start, depth, faulty_steps(cfg, values)
        )
    data = cx.to_dict()
    last = trace.steps[-1]
    data["why"] = {
        sp.id: f"{sp.name}: the last step ({last.action} "
        f"{', '.join(f'n{i}' for i in last.nodes)}) is a replica following a primary while "
        f"two running nodes claim Primary at that epoch. {sp.statement}"
    }
    data["rendered"] = render_text(data, title=f"{ob.name}: {ob.description}")
    return Outcome(
        True,
        "caught",
        f"{len(trace.steps) - 1}-step counterexample ({cfg.label()}) violates "
        f"{sp.id} {sp.name}; every step of the correct model with "
        f"{ob.params['dropped']} dropped keeps it",
        data,
        violated=list(violated),
    )


DEFENCE_SEARCH: dict[str, tuple[str, int, int]] = {
    # mutant: (step property, N, depth). Two primaries of one epoch need two
    # concurrent attempts (two candidates); the follower is the old primary,
    # restarted and demoted (runs of 22-23 steps).
    "follow_ambiguous_primary": ("one-primary-followed", 3, 24),
}


def add_defence_obligations(add: Callable[..., None], quick: bool) -> None:
    """One obligation per defence mutant (the full run only: a run of about 21 steps at N=3)."""
    if quick:
        return
    for m in cluster.MUTANTS:
        if m.level != "defence":
            continue
        step, n, depth = DEFENCE_SEARCH[m.name]
        add(
            f"mutant.{m.name}",
            "mutant",
            m.breaks,
            SEARCH_METHOD,
            "defence_mutant",
            m.description,
            n=n,
            mode="async",
            depth=depth,
            mutant=m.name,
            dropped=cluster.DEFENCE_MUTANTS[m.name],
            step=step,
            cost=300,
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
    workers = int(p.get("workers", 1))
    if multiprocessing.current_process().daemon:
        # Inside verify's worker pool (daemonic processes may not start children):
        # one process here; the pool already runs obligations on every core.
        workers = 1
    result = explore.explore(
        bounds,
        mutant=p.get("mutant"),
        properties=props,
        refinement=bool(p.get("refinement", True)),
        symmetry=bool(p.get("symmetry", True)),
        workers=workers,
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
        spec_mutant,
        lifecycle_events_used,
        lifecycle_decisions_reachable,
        validation_mvcc_denial,
        validation_force_used,
        conformance_table,
        conformance_validator,
        cluster_induction,
        cluster_bmc,
        companion_property,
        companion_crash_in_state,
        companion_recovery,
        companion_denial,
        companion_abort,
        defence_mutant,
        companion_coverage,
        companion_group,
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
    # 10 steps, found in a few seconds: the operator abort's mutant.
    "abort_after_rename",
)
# Mutants also searched for one specific property, so that every cluster
# property has a mutant that breaks *it* (the first violation found is often
# another property's: a second writer breaks P6-A3 a step before P6-A1).
TARGETED: dict[str, tuple[str, ...]] = {
    "force_overrides_active": ("P6-A1", "P6-A2"),
    "restart_keeps_authority": ("P6-S1",),
    "force_is_truthful": ("P6-A1",),
    # Two attempts at once (or a reinstatement during one) break one epoch's authority.
    "single_controller": ("P6-A3",),
    # The abort's epoch rollback becomes a lost acknowledged write (15 steps).
    "abort_after_rename": ("P6-S1",),
}
# Mutants and dropped assumptions that need two candidates besides the primary.
NEEDS_THREE = {"concurrent_attempts", "single_controller"}
# Mutants of the sync mode's acknowledgement rule.
SYNC_MUTANTS = {"ack_before_standby", "ack_one_entry_early"}
# Search depths for the variants whose runs are long: their first jump is the
# depth that holds their run, so one query finds it (a bound, not a result:
# the search still reports whatever it finds, shrunk).
DEEP_SEARCH: dict[str, tuple[int, ...]] = {
    "concurrent_attempts": (16, 20),
    "single_controller": (12, 16, 20),
    "skip_dir_fsync": (12, 16, 20),
    "reinstate_without_top_epoch": (12, 16, 20),
}
# Variants whose run is long (15 steps and more at N=3): their explicit search
# starts with the budgeted deep round (baton.proofs.search.DEEP_ROUND) instead
# of spending the short rounds' state budgets first.
DEEP_RUNS = frozenset({"concurrent_attempts", "allow_divergent_history"})
# The method of a counterexample search: the explicit search of the compiled
# spec, falling back to bounded model checking (baton.proofs.counterexample.find_run).
SEARCH_METHOD = "explicit-state+z3-bmc"
# Where a variant's run is searched when variant_config's rule does not fit:
# a divergent history needs a standby (sync mode) and a third node to hold it.
RUN_CONFIG: dict[str, tuple[int, str]] = {"allow_divergent_history": (3, "sync")}


def _search_params(name: str) -> dict[str, Any]:
    return {"deep": True} if name in DEEP_RUNS else {}


def variant_config(name: str, kind: str) -> tuple[int, str]:
    """Cluster size and mode in which a mutant or dropped assumption is searched."""
    if name in RUN_CONFIG:
        return RUN_CONFIG[name]
    n = 3 if name in NEEDS_THREE else 2
    return n, "sync" if name in SYNC_MUTANTS else "async"


# The role Uninitialized exists only in the validation domain, not the cluster (it
# is shown reachable at the validation level, where every reason is). Disabled is
# the operator's promotion-disabled switch, a free observation of the cluster model.
# Reasons whose cluster witness needs a halted or divergent replica: that takes
# two promotions in sync mode (over 20 steps), beyond the companion depth. They
# are shown reachable over the validation domain (validation.reasons) and by the
# runtime's tests; every other reason has a cluster witness here.
CLUSTER_DEEP_REASONS = frozenset({"candidate_halted", "history_divergent"})
CLUSTER_REASONS = tuple(
    r
    for r in validation.REASON_NAMES
    if r not in {"candidate_uninitialized"} | CLUSTER_DEEP_REASONS
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
        "the relation allows exactly the 9 transitions of the design table",
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
        "crash outcomes per state as the design states them; recovery re-enters Steady",
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
    # Bounded model checking cross-checks the induction at the sizes where it is
    # cheap; N=4 is covered by the unbounded proof (and the all-N proof).
    bmc_ns = (2,) if quick else tuple(n for n in ns if n <= 3)
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
    for mode in ("async",) if quick else cluster.MODES:
        cover_ns = (2,) if quick else ns
        add(
            f"companion.coverage.{mode}",
            "companion",
            cluster_props,
            "z3-witness",
            "companion_coverage",
            "every property's companion and every action has a witness run "
            f"({mode}, N={','.join(map(str, cover_ns))})",
            mode=mode,
            ns=list(cover_ns),
            depth=COVERAGE_DEPTH,
            cost=400,
        )
    lifecycle_witnesses = (
        (
            "lifecycle.events-used",
            "P6-D2",
            "lifecycle_events_used",
            "every protocol event moves some state",
        ),
        (
            "lifecycle.decisions-taken",
            "P6-O1",
            "lifecycle_decisions_reachable",
            "each decision event (reject, approve, deny) is taken by some attempt",
        ),
        (
            "validation.mvcc-denial",
            "P6-S3",
            "validation_mvcc_denial",
            "a candidate fine but for MVCC visibility is denied with mvcc_violated",
        ),
    )
    for name, pid, runner, desc in lifecycle_witnesses:
        add(f"companion.{name}", "companion", (pid,), "z3-sat", runner, desc)
    add(
        "companion.validation.decisions",
        "companion",
        ("P6-D1", "P6-O2", "P6-F1"),
        "z3-sat",
        "validation_reasons",
        "every decision value is produced by some context (the rule is not constant): "
        "allowed and every denial reason",
    )
    add(
        "companion.validation.force-used",
        "companion",
        ("P6-A1a",),
        "z3-sat",
        "validation_force_used",
        "a forced request over a primary of Unknown status is allowed (force is not dead)",
    )
    if not quick:
        groups: tuple[tuple[str, str, str, list[dict[str, Any]]], ...] = (
            (
                "companion.crash-in",
                "P6-F2",
                "a crash of the candidate is reachable in every lifecycle state",
                [
                    {"runner": "companion_crash_in_state", "state": state, "label": state}
                    for state in lifecycle.STATE_NAMES
                ],
            ),
            (
                "companion.recovery",
                "P6-F2",
                "a crash after the marker rename recovers to the old and to the new authority",
                [
                    {"runner": "companion_recovery", "authority": a, "label": f"to {a}"}
                    for a in ("old", "new")
                ],
            ),
            (
                "companion.denial",
                "P6-O2",
                "a denial with each reason the cluster can produce is reachable",
                [{"runner": "companion_denial", "reason": r, "label": r} for r in CLUSTER_REASONS],
            ),
        )
        for name, pid, desc, members in groups:
            add(
                name,
                "companion",
                (pid,),
                "z3-witness",
                "companion_group",
                desc,
                n=2,
                mode="async",
                depth=cdepth,
                members=members,
            )

    add_abort_obligations(add, quick)
    add_defence_obligations(add, quick)

    for name, (proof, pid, what) in SPEC_MUTANTS.items():
        add(
            f"mutant.spec.{name}",
            "mutant",
            (pid,),
            "z3-sat",
            "spec_mutant",
            f"{what}: the proof of {pid} ({proof}) must fail",
            mutant=name,
        )
    for m in cluster.MUTANTS:
        # Every cluster mutant, and the validation-level ones (also caught by
        # their mutant.validator.* obligation above) with a run of the cluster.
        if quick and m.name not in QUICK_MUTANTS:
            continue
        if m.level == "defence":
            continue  # unobservable with every assumption: add_defence_obligations judges it
        n, mode = variant_config(m.name, "mutant")
        depths = list(DEEP_SEARCH.get(m.name, ()))
        if depths:
            params_extra: dict[str, Any] = {"depths": depths, "cost": 300}
        else:
            params_extra = {}
        add(
            f"mutant.{m.name}",
            "mutant",
            m.breaks,
            SEARCH_METHOD,
            "cluster_counterexample",
            m.description,
            n=n,
            mode=mode,
            mutant=m.name,
            **params_extra,
            **_search_params(m.name),
        )
        for pid in TARGETED.get(m.name, ()) if not quick else ():
            add(
                f"mutant.{m.name}.{pid}",
                "mutant",
                (pid,),
                SEARCH_METHOD,
                "cluster_counterexample",
                f"{m.description} Searched for a violation of {pid} specifically.",
                n=n,
                mode=mode,
                mutant=m.name,
                targets=[pid],
                **_search_params(m.name),
            )
    for a in cluster.ASSUMPTIONS:
        if quick:
            break  # the full run checks them all
        n, mode = variant_config(a.name, "assumption")
        depths = list(DEEP_SEARCH.get(a.name, ()))
        add(
            f"assumption.{a.name}",
            "assumption",
            a.guards,
            SEARCH_METHOD,
            "cluster_counterexample",
            f"dropping it admits a counterexample: {a.statement}",
            n=n,
            mode=mode,
            dropped=a.name,
            **({"depths": depths} if depths else {}),
        )
        for pid in TARGETED.get(a.name, ()):
            add(
                f"assumption.{a.name}.{pid}",
                "assumption",
                (pid,),
                SEARCH_METHOD,
                "cluster_counterexample",
                f"dropping it admits a violation of {pid} specifically: {a.statement}",
                n=n,
                mode=mode,
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


def _steps_of(cx: dict[str, Any] | None) -> int | None:
    if not cx:
        return None
    if isinstance(cx.get("length"), int):
        return int(cx["length"])
    steps = cx.get("steps")
    if isinstance(steps, list):
        # Cluster traces start with the initial state; the explorer's lists only actions.
        first = steps[0] if steps else None
        is_state_list = isinstance(first, dict) and first.get("action") == "init"
        return len(steps) - 1 if is_state_list else len(steps)
    return None


def default_kind(ob: Obligation, outcome: Outcome) -> str:
    """The result kind of an outcome whose runner did not set one."""
    steps = _steps_of(outcome.counterexample)
    if outcome.verdict == "error":
        return KIND_ERROR
    if outcome.verdict == "timeout":
        return KIND_TIMEOUT
    p = ob.params
    if not outcome.passed:
        if ob.group == "companion":
            return kind_no_witness(ob.depth or 0)
        if ob.group in ("mutant", "assumption"):
            return KIND_MISSED
        if steps is not None:
            return kind_violated(steps)
        return KIND_NOT_INDUCTIVE if ob.group == "induction" else "failed"
    if ob.group == "induction":
        return kind_unbounded(ob.n or 0)
    if ob.group == "bmc":
        return kind_bounded(ob.depth or 0)
    if ob.group == "companion":
        return kind_witness(steps) if steps is not None else KIND_FINITE_WITNESS
    if ob.group in ("mutant", "assumption"):
        if p.get("runner") == "validation_mutant":
            return KIND_CONTEXT_COUNTEREXAMPLE
        return kind_counterexample(steps or 0)
    if ob.group == "explore":
        return kind_exhaustive(int(p.get("writes", 0)), int(p.get("promotions", 0)))
    return KIND_FINITE


def _default_violated(ob: Obligation, outcome: Outcome) -> list[str]:
    cx = outcome.counterexample or {}
    found = cx.get("violated")
    if isinstance(found, list):
        return [str(v) for v in found]
    return []


# Z3's random seeds, fixed in every solver of every process (they are Z3's
# defaults today; fixed here so that no other setting or version changes them).
Z3_SEEDS: dict[str, int] = {"smt.random_seed": 0, "sat.random_seed": 0}


@cache
def warm_up() -> float:
    """Pay a process's one-time costs before its first obligation is timed.

    A worker runs several obligations; the first one used to carry the
    imports of the proof modules and Z3's first solver, so its time depended
    on where the pool happened to put it. Returns the seconds spent.
    """
    start = time.perf_counter()
    z3.set_param(**Z3_SEEDS)
    for module in (
        "baton.proofs.bmc",
        "baton.proofs.counterexample",
        "baton.proofs.induction",
        "baton.proofs.parametric",
        "baton.proofs.render",
        "baton.proofs.search",
        "baton.spec.compiled",
    ):
        importlib.import_module(module)
    solver = z3.Solver()
    solver.add(z3.Int("warm_up") > 0)
    solver.check()
    return time.perf_counter() - start


def run(ob: Obligation) -> Outcome:
    warm_up()
    start = time.perf_counter()
    try:
        outcome = RUNNERS[str(ob.params["runner"])](ob)
    except Exception as exc:  # an obligation that crashes is a failure, reported, not hidden
        outcome = Outcome(False, "error", f"{type(exc).__name__}: {exc}")
    outcome.seconds = time.perf_counter() - start
    if not outcome.kind:
        outcome.kind = default_kind(ob, outcome)
    if not outcome.violated:
        outcome.violated = _default_violated(ob, outcome)
    return outcome
