"""The proof for every cluster size: an inductive invariant over the node sort.

:mod:`baton.proofs.induction` proves the seven cluster properties (P6-A1,
A2, A3, S1, S2, F2, F3) for one N at a time. Here the same lemmas are stated
as universally quantified formulas over the uninterpreted sort ``Node`` of
:mod:`baton.spec.parametric`, and Z3 checks, once for all N:

1. *initiation*: every initial state satisfies every lemma;
2. *consecution*: every action, from a state satisfying the invariant, leads
   to a state satisfying each lemma (one query per action and lemma, so a
   failure names both);
3. *implication*: the invariant implies each property.

Every query is an unsatisfiability query; ``sat`` is a counterexample and
``unknown`` or a timeout is a failure, never a pass. Every premise (for
consecution: the invariant, the action's guard and the derived quantities of
both states) is checked satisfiable first, so nothing passes vacuously; an
action whose guard no invariant state enables is reported as such
(:data:`DISABLED_ACTIONS` says which and why). Every query is in the fragment
described in ``docs/parametric.rst`` (:func:`fragment_check`), where Z3's
answers are complete; :func:`ground_check` decides queries a second time,
instantiated over their finite Herbrand universe.

*Faithfulness*: :func:`cross_check` proves, at N = 2 and N = 3, that with a
``Node`` sort of exactly N elements the initial condition, every action, each
property and each lemma here are equivalent to those of
:mod:`baton.spec.cluster`, :mod:`baton.spec.properties` and
:mod:`baton.proofs.induction`.

The lemmas (names as in :mod:`baton.proofs.induction`, plus
``lcp-symmetric``, which the per-N model has by construction) and the derived
quantities ``top`` (the highest epoch) and ``top_rb`` (the highest epoch a
crash could roll the epochs back to) are documented in ``docs/parametric.rst``.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import z3
from baton.spec import cluster, properties
from baton.spec import parametric as pm
from baton.spec.cluster import MROLE, Config
from baton.spec.lifecycle import S as LC
from baton.spec.parametric import Node, PAction, PState, distinct_pairs, forall

from . import induction

QUERY_TIMEOUT_MS = 120_000
"""Per query, wall clock; a query that runs out of time fails its obligation (never
passes it). The slowest query takes about 0.4 CPU seconds; the margin is for loaded
machines (a verify run in CI shares its cores), where a 10 s limit once failed."""

SMALL_MODEL_RLIMIT = 5_000_000
"""Z3 resource units per attempt to shrink a counterexample (about a second)."""

DISABLED_ACTIONS: dict[str, str] = {
    "step_down": (
        "its guard needs a writable node that sees a higher epoch elsewhere, and the "
        "invariant (writer-top-epoch, P6-A3) says a writable node holds the highest epoch"
    ),
    "ambiguity_halt": (
        "its guard needs two nodes whose markers claim Primary at one epoch, and the "
        "invariant (one primary marker per epoch, P6-A3) excludes that: the authority-"
        "ambiguity halt (P6-A1) is defence in depth"
    ),
}
"""Actions no invariant state enables, with the reason; reported, not skipped silently."""


# --- Derived quantities --------------------------------------------------------


@dataclass(frozen=True)
class Derived:
    """The highest epoch ``top`` and highest rolled-back epoch ``top_rb`` of a state.

    Each is a fresh integer constant pinned by ``definition``: an upper bound
    of the node values, attained at a fresh witness node. They are functions
    of the state (every finite, non-empty node set has a maximum), so adding
    them changes no finite-N answer; they let "``x`` holds the highest epoch"
    be stated without a quantifier where it appears negatively (a ``forall``
    under a negation inside a ``forall`` would be an ``exists`` under a
    ``forall``, outside the fragment).
    """

    top: z3.ArithRef
    top_rb: z3.ArithRef
    definition: z3.BoolRef


def rolled_back_epoch(cfg: Config, s: PState, x: z3.ExprRef) -> z3.ArithRef:
    """The epoch node ``x`` would have if its in-flight marker write were lost."""
    rename_stage = cfg.marker_ops.index("rename") + 1
    return z3.If(
        z3.And(s.lc(x) == LC["AuthorityTransitioning"], s.mstage(x) >= rename_stage),
        s.pepoch(x),
        s.epoch(x),
    )


def _maximum(values: Callable[[z3.ExprRef], z3.ArithRef], top: z3.ArithRef, tag: str) -> z3.BoolRef:
    witness = pm.fresh_node(f"argmax.{tag}")
    return z3.And(forall(1, lambda x: values(x) <= top), values(witness) == top)


def derive(cfg: Config, s: PState, tag: str) -> Derived:
    top, top_rb = z3.Int(f"top@{tag}"), z3.Int(f"top_rb@{tag}")
    definition = z3.And(
        _maximum(s.epoch, top, f"epoch@{tag}"),
        _maximum(lambda x: rolled_back_epoch(cfg, s, x), top_rb, f"rb@{tag}"),
    )
    return Derived(top, top_rb, definition)


# --- The lemmas -------------------------------------------------------------------

Lemma = Callable[[Config, PState, Derived], z3.BoolRef]


def _lcp_bounds(cfg: Config, s: PState, d: Derived) -> z3.BoolRef:
    return z3.And(
        s.alen >= 0,
        forall(
            1,
            lambda x: z3.And(
                s.wlen(x) >= 0,
                s.lcp_ack(x) >= 0,
                s.lcp_ack(x) <= s.wlen(x),
                s.lcp_ack(x) <= s.alen,
            ),
        ),
        distinct_pairs(
            lambda x, y: z3.And(
                s.lcp(x, y) >= 0, s.lcp(x, y) <= s.wlen(x), s.lcp(x, y) <= s.wlen(y)
            )
        ),
    )


def _lcp_symmetric(cfg: Config, s: PState, d: Derived) -> z3.BoolRef:
    return distinct_pairs(lambda x, y: s.lcp(x, y) == s.lcp(y, x))


def _min(a: z3.ArithRef, b: z3.ArithRef) -> z3.ArithRef:
    return z3.If(a <= b, a, b)


def _lcp_ultrametric(cfg: Config, s: PState, d: Derived) -> z3.BoolRef:
    # Every triple of distinct logs among the nodes' WALs and the ghost log.
    def nodes3(x: z3.ExprRef, y: z3.ExprRef, z: z3.ExprRef) -> z3.BoolRef:
        return z3.Implies(
            z3.And(x != y, y != z, x != z),
            s.lcp(x, z) >= _min(s.lcp(x, y), s.lcp(y, z)),
        )

    return z3.And(
        forall(3, nodes3),
        # the ghost log in the middle, and at one end
        distinct_pairs(lambda x, z: s.lcp(x, z) >= _min(s.lcp_ack(x), s.lcp_ack(z))),
        distinct_pairs(lambda x, y: s.lcp_ack(x) >= _min(s.lcp(x, y), s.lcp_ack(y))),
    )


def _writer_shape(cfg: Config, s: PState, d: Derived) -> z3.BoolRef:
    return forall(
        1, lambda i: z3.Implies(s.active(i), z3.And(s.up(i), s.role(i) == MROLE["Primary"]))
    )


def _writer_top_epoch(cfg: Config, s: PState, d: Derived) -> z3.BoolRef:
    return forall(1, lambda i: z3.Implies(s.writable(i), s.holds_max_epoch(i)))


def _top_primary_holds_acked(cfg: Config, s: PState, d: Derived) -> z3.BoolRef:
    # For the real epochs and for those a crash could roll back to (a crash
    # mid-transition may bring the previous top primary back).
    return z3.And(
        forall(
            1,
            lambda i: z3.Implies(
                z3.And(s.role(i) == MROLE["Primary"], s.epoch(i) >= d.top),
                s.lcp_ack(i) == s.alen,
            ),
        ),
        forall(
            1,
            lambda i: z3.Implies(
                z3.And(s.role(i) == MROLE["Primary"], rolled_back_epoch(cfg, s, i) >= d.top_rb),
                s.lcp_ack(i) == s.alen,
            ),
        ),
    )


def _standby_holds_acked(cfg: Config, s: PState, d: Derived) -> z3.BoolRef:
    if cfg.mode != "sync":
        return z3.BoolVal(True)
    return s.lcp_ack(s.standby) == s.alen


def _one_attempt(cfg: Config, s: PState, d: Derived) -> z3.BoolRef:
    return distinct_pairs(lambda i, j: z3.Or(s.lc(i) == LC["Steady"], s.lc(j) == LC["Steady"]))


def _in_flight_shape(cfg: Config, s: PState, d: Derived) -> z3.BoolRef:
    ops = cfg.marker_ops
    rename_stage = ops.index("rename") + 1

    def shape(c: z3.ExprRef) -> z3.BoolRef:
        approved = s.lc(c) == LC["PromotionApproved"]
        transitioning = s.lc(c) == LC["AuthorityTransitioning"]
        return z3.And(
            z3.Implies(
                z3.Or(approved, transitioning),
                z3.And(
                    s.up(c),
                    s.lcp_ack(c) == s.alen,
                    forall(1, lambda j: z3.Not(s.active(j))),
                ),
            ),
            z3.Implies(approved, s.role(c) == MROLE["Replica"]),
            z3.Implies(
                transitioning,
                z3.And(
                    s.mstage(c) >= 0,
                    s.mstage(c) <= len(ops),
                    forall(1, lambda j: z3.Implies(j != c, s.epoch(j) < s.grant(c))),
                    s.pepoch(c) < s.grant(c),
                    z3.If(
                        s.mstage(c) >= rename_stage,
                        z3.And(s.role(c) == MROLE["Primary"], s.epoch(c) == s.grant(c)),
                        z3.And(s.role(c) == MROLE["Replica"], s.epoch(c) == s.pepoch(c)),
                    ),
                ),
            ),
        )

    return forall(1, shape)


def _no_write_in_flight(cfg: Config, s: PState, d: Derived) -> z3.BoolRef:
    return forall(
        1, lambda i: z3.Implies(s.lc(i) != LC["AuthorityTransitioning"], s.mstage(i) == 0)
    )


def _request_count(cfg: Config, s: PState, d: Derived) -> z3.BoolRef:
    return z3.And(
        forall(
            1,
            lambda i: z3.And(
                s.vcount(i) >= 0,
                z3.Implies(s.lc(i) == LC["PromotionRequested"], s.vcount(i) == 0),
            ),
        ),
        pm.no_implicit_retry(s),
    )


def _intact(cfg: Config, s: PState, d: Derived) -> z3.BoolRef:
    return z3.And(pm.recovery_exact(s), pm.history_extends(s))


LEMMAS: tuple[tuple[str, Lemma], ...] = (
    ("lcp-bounds", _lcp_bounds),
    ("lcp-symmetric", _lcp_symmetric),
    ("lcp-ultrametric", _lcp_ultrametric),
    ("writer-shape", _writer_shape),
    ("single-writer", lambda cfg, s, d: pm.single_writer(s)),
    ("writer-holds-acked", lambda cfg, s, d: pm.acked_preserved(s)),
    ("writer-top-epoch", _writer_top_epoch),
    ("top-primary-holds-acked", _top_primary_holds_acked),
    ("standby-holds-acked", _standby_holds_acked),
    ("one-primary-per-epoch", lambda cfg, s, d: pm.one_primary_per_epoch(s)),
    ("one-attempt", _one_attempt),
    ("in-flight-shape", _in_flight_shape),
    ("succeeded-writable", lambda cfg, s, d: pm.atomic_transfer(s)),
    ("no-write-in-flight", _no_write_in_flight),
    ("request-count", _request_count),
    ("intact", _intact),
)
LEMMA_NAMES: tuple[str, ...] = tuple(name for name, _ in LEMMAS)

LEMMA_SERVES: dict[str, tuple[str, ...]] = {
    "lcp-bounds": ("P6-S1",),
    "lcp-symmetric": ("P6-S1",),
    "lcp-ultrametric": ("P6-S1",),
    "writer-shape": ("P6-A1", "P6-A3"),
    "single-writer": ("P6-A1",),
    "writer-holds-acked": ("P6-S1",),
    "writer-top-epoch": ("P6-A3",),
    "top-primary-holds-acked": ("P6-S1",),
    "standby-holds-acked": ("P6-S1", "P6-S2"),
    "one-primary-per-epoch": ("P6-A3",),
    "one-attempt": ("P6-A1", "P6-A3"),
    "in-flight-shape": ("P6-A1", "P6-A3", "P6-S1"),
    "succeeded-writable": ("P6-A2",),
    "no-write-in-flight": ("P6-F2",),
    "request-count": ("P6-F3",),
    "intact": ("P6-F2", "P6-S2"),
}
"""The properties each lemma is there for (the docs' table is built from this)."""


def invariant(cfg: Config, s: PState, d: Derived) -> z3.BoolRef:
    return z3.And(*[lemma(cfg, s, d) for _, lemma in LEMMAS])


# --- The queries ----------------------------------------------------------------


@dataclass(frozen=True)
class Goal:
    """One unsatisfiability query on top of a group's premise: a lemma or property negated."""

    name: str
    negated: z3.BoolRef


@dataclass(frozen=True)
class QueryGroup:
    """A premise (which must be satisfiable) and the goals checked against it.

    ``kind`` is ``initiation`` (premise: an initial state), ``consecution``
    (premise: the invariant, one action's guard and the derived quantities of
    both states; goals: each lemma of the post-state) or ``implication``
    (premise: the invariant; goal: a property). The premise is exactly what
    each goal is checked against, so its satisfiability is what rules out a
    vacuous pass.
    """

    kind: str
    subject: str
    premise: tuple[z3.BoolRef, ...]
    goals: tuple[Goal, ...]
    pre: PState
    post: PState | None = None
    params: tuple[z3.ExprRef, ...] = ()


def initiation_group(cfg: Config) -> QueryGroup:
    s, _symbols = pm.fresh_state("init")
    d = derive(cfg, s, "init")
    first, second = pm.fresh_node("first"), pm.fresh_node("second")
    goals = tuple(Goal(name, z3.Not(lemma(cfg, s, d))) for name, lemma in LEMMAS)
    return QueryGroup(
        "initiation", "initial", (pm.initial(s, first, second), d.definition), goals, s
    )


def consecution_groups(cfg: Config) -> list[QueryGroup]:
    pre, _symbols = pm.fresh_state("pre")
    d = derive(cfg, pre, "pre")
    inv = invariant(cfg, pre, d)
    groups = []
    for act in pm.actions(cfg, pre, "step"):
        post_d = derive(cfg, act.post, f"post.{act.name}")
        goals = tuple(Goal(name, z3.Not(lemma(cfg, act.post, post_d))) for name, lemma in LEMMAS)
        # The step part of a property (P6-A3: epochs never go backwards).
        goals += tuple(
            Goal(f"{pid} {name}", z3.Not(holds(pre, act.post)))
            for pid, name, holds in pm.STEP_PROPERTIES
        )
        groups.append(
            QueryGroup(
                "consecution",
                act.name,
                (inv, d.definition, act.guard, post_d.definition),
                goals,
                pre,
                act.post,
                act.params,
            )
        )
    return groups


def implication_groups(cfg: Config) -> list[QueryGroup]:
    pre, _symbols = pm.fresh_state("pre")
    d = derive(cfg, pre, "pre")
    inv = invariant(cfg, pre, d)
    return [
        QueryGroup("implication", pid, (inv, d.definition), (Goal(pid, z3.Not(prop(pre))),), pre)
        for pid, prop in pm.PROPERTIES
    ]


@cache
def query_groups(cfg: Config) -> list[QueryGroup]:
    """Every query of the proof for ``cfg``, in report order."""
    return [initiation_group(cfg), *consecution_groups(cfg), *implication_groups(cfg)]


def action_names(cfg: Config) -> list[str]:
    s, _symbols = pm.fresh_state("names")
    return [a.name for a in pm.actions(cfg, s, "names")]


# --- Running them -------------------------------------------------------------------


@dataclass
class Check:
    """One answered query: what it established, in how long."""

    kind: str  # premise | initiation | consecution | implication | cross-check | fragment
    subject: str  # the action, property, lemma or "initial"
    goal: str | None
    ok: bool
    seconds: float
    detail: str = ""
    model: dict[str, Any] | None = None


@dataclass
class Result:
    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def seconds(self) -> float:
        return sum(c.seconds for c in self.checks)

    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]


def _solver(timeout_ms: int) -> z3.Solver:
    solver = z3.Solver()
    solver.set("timeout", timeout_ms)
    solver.set("mbqi", True)  # Z3's default, stated: the fragment's completeness rests on it
    return solver


def _answer(solver: z3.Solver) -> str:
    """``sat``, ``unsat``, or ``unknown (<reason>)`` -- a timeout is the last kind."""
    answer = solver.check()
    if answer == z3.unknown:
        return f"unknown ({solver.reason_unknown()})"
    return str(answer)


def describe_state(model: z3.ModelRef, s: PState) -> dict[str, Any]:
    """A state of a model: every field at every node of the model's universe."""
    universe = list(model.get_universe(Node) or [])
    name = {str(e): f"n{k}" for k, e in enumerate(universe)}

    def ev(x: z3.ExprRef) -> str:
        value = model.eval(x, model_completion=True)
        return name.get(str(value), str(value))

    nodes = {
        name[str(e)]: {field_name: ev(s.field(field_name)(e)) for field_name in pm.NODE_FIELDS}
        | {"lcp_ack": ev(s.lcp_ack(e))}
        for e in universe
    }
    lcp = {
        f"{name[str(a)]},{name[str(b)]}": ev(s.lcp(a, b))
        for a, b in itertools.combinations(universe, 2)
    }
    return {
        "nodes": nodes,
        "lcp": lcp,
        "alen": ev(s.alen),
        "standby": ev(s.standby),
        "broken": ev(s.broken),
    }


def _counterexample(model: z3.ModelRef, group: QueryGroup) -> dict[str, Any]:
    universe = list(model.get_universe(Node) or [])
    name = {str(e): f"n{k}" for k, e in enumerate(universe)}
    out: dict[str, Any] = {"pre": describe_state(model, group.pre)}
    if group.post is not None:
        out["post"] = describe_state(model, group.post)
        out["action"] = group.subject
        out["params"] = [
            name.get(str(model.eval(p, model_completion=True)), "?") for p in group.params
        ]
    return out


def _small_model(solver: z3.Solver, group: QueryGroup, timeout_ms: int) -> z3.ModelRef:
    """A counterexample with as few nodes and as small numbers as Z3 finds quickly.

    Only runs once a goal is already satisfiable (a failure), so it costs the
    passing proof nothing; falls back to the model at hand. Each attempt is
    bounded by Z3's resource limit and, as a safety net, by five seconds.
    """
    fallback = solver.model()
    ints = [name for name, sort in pm.NODE_FIELD_SORTS if sort == z3.IntSort()]
    s = group.pre

    def small(bound: int) -> z3.BoolRef:
        return z3.And(
            forall(
                1,
                lambda x: z3.And(
                    *[z3.And(s.field(n)(x) >= 0, s.field(n)(x) <= bound) for n in ints]
                ),
            ),
            forall(1, lambda x: z3.And(s.lcp_ack(x) >= 0, s.lcp_ack(x) <= bound)),
            s.alen >= 0,
            s.alen <= bound,
        )

    for size in range(1, 5):
        names = [pm.fresh_node("small") for _ in range(size)]
        universe = forall(1, lambda x, names=names: z3.Or(*[x == k for k in names]))
        for bound in (3, None):
            solver.push()
            solver.set("rlimit", SMALL_MODEL_RLIMIT)
            solver.set("timeout", min(timeout_ms, 5_000))
            solver.add(universe)
            if bound is not None:
                solver.add(small(bound))
            found = solver.check() == z3.sat
            model = solver.model() if found else None
            solver.pop()
            solver.set("rlimit", 0)
            solver.set("timeout", timeout_ms)
            if model is not None:
                return model
    return fallback


def run_group(
    group: QueryGroup,
    timeout_ms: int = QUERY_TIMEOUT_MS,
    deadline: float | None = None,
    stop_at_first: bool = False,
) -> Result:
    """Check the premise satisfiable, then each goal unsatisfiable against it.

    ``deadline`` (a ``time.perf_counter()`` value) bounds the whole group: a
    query never runs past it, and the checks it leaves undone fail.
    ``stop_at_first`` ends the group at its first failed goal.
    """
    result = Result()
    solver = _solver(timeout_ms)

    def within_budget(subject: str, goal: str | None) -> bool:
        if deadline is None:
            return True
        remaining_ms = int((deadline - time.perf_counter()) * 1000)
        if remaining_ms <= 0:
            result.checks.append(
                Check(group.kind, subject, goal, False, 0.0, "time budget of the obligation spent")
            )
            return False
        solver.set("timeout", min(timeout_ms, remaining_ms))
        return True

    solver.add(*group.premise)
    if not within_budget(group.subject, None):
        return result
    start = time.perf_counter()
    answer = _answer(solver)
    listed = group.kind == "consecution" and group.subject in DISABLED_ACTIONS
    if answer == "unsat":
        detail = (
            f"disabled in every invariant state: {DISABLED_ACTIONS[group.subject]}"
            if listed
            else "premise unsatisfiable: the check would hold vacuously"
        )
        result.checks.append(
            Check("premise", group.subject, None, listed, time.perf_counter() - start, detail)
        )
        return result
    ok = answer == "sat" and not listed
    detail = {
        True: "premise satisfiable",
        False: "listed as disabled, but enabled in some invariant state"
        if listed
        else f"premise: Z3 answered {answer}",
    }[ok]
    result.checks.append(
        Check("premise", group.subject, None, ok, time.perf_counter() - start, detail)
    )
    if answer != "sat":
        return result
    for goal in group.goals:
        if not within_budget(group.subject, goal.name):
            return result
        start = time.perf_counter()
        solver.push()
        solver.add(goal.negated)
        answer = _answer(solver)
        seconds = time.perf_counter() - start
        model = None
        if answer == "sat":
            model = _counterexample(_small_model(solver, group, timeout_ms), group)
        solver.pop()
        if answer == "unsat":
            detail = "proven"
        elif answer == "sat":
            detail = (
                f"action {group.subject} breaks lemma {goal.name}"
                if group.kind == "consecution"
                else f"{group.kind} fails for {goal.name}"
            )
        else:
            detail = f"Z3 answered {answer}: a failure, not a pass"
        result.checks.append(
            Check(group.kind, group.subject, goal.name, answer == "unsat", seconds, detail, model)
        )
        if stop_at_first and answer != "unsat":
            break
    return result


def prove(
    cfg: Config,
    timeout_ms: int = QUERY_TIMEOUT_MS,
    *,
    kinds: tuple[str, ...] = ("initiation", "consecution", "implication"),
    stop_at_first: bool = False,
    budget_s: float | None = None,
) -> Result:
    """Initiation, consecution of every action, implication of every property.

    ``kinds`` selects groups; ``stop_at_first`` ends at the first failed
    group; ``budget_s`` bounds the whole run (what is left undone fails).
    """
    deadline = None if budget_s is None else time.perf_counter() + budget_s
    result = Result()
    for group in query_groups(cfg):
        if group.kind not in kinds:
            continue
        part = run_group(group, timeout_ms, deadline, stop_at_first)
        result.checks += part.checks
        if stop_at_first and not part.passed:
            break
    return result


def check(
    cfg: Config,
    kind: str,
    subject: str = "initial",
    timeout_ms: int = QUERY_TIMEOUT_MS,
    budget_s: float | None = None,
    stop_at_first: bool = False,
) -> Result:
    """One group of the proof: the ``initiation``, one action's ``consecution``, or
    one property's ``implication``."""
    deadline = None if budget_s is None else time.perf_counter() + budget_s
    for group in query_groups(cfg):
        if group.kind == kind and group.subject == subject:
            return run_group(group, timeout_ms, deadline, stop_at_first)
    raise KeyError(f"no {kind} check for {subject!r} in {cfg.label()}")


def fragment_check(cfg: Config) -> Result:
    """Every query of the proof lies in the fragment (:func:`pm.fragment_violations`).

    A query is a conjunction of asserted formulas, and the fragment is closed
    under conjunction at the top level, so each distinct conjunct is checked once.
    """
    start = time.perf_counter()
    problems: list[str] = []
    checked: set[int] = set()
    queries = 0
    for group in query_groups(cfg):
        for goal in group.goals:
            queries += 1
            for part in (*group.premise, goal.negated):
                if part.get_id() in checked:
                    continue
                checked.add(part.get_id())
                found = pm.fragment_violations(part)
                problems += [f"{group.kind} {group.subject}/{goal.name}: {p}" for p in found[:2]]
    detail = (
        f"{queries} queries ({len(checked)} distinct conjuncts) inside the fragment"
        if not problems
        else "; ".join(problems[:5])
    )
    check = Check("fragment", cfg.label(), None, not problems, time.perf_counter() - start, detail)
    return Result([check])


# --- The completeness argument, executed ---------------------------------------


def _node_constants(formulas: list[z3.BoolRef]) -> list[z3.ExprRef]:
    """The uninterpreted ``Node`` constants of ``formulas``: their ground Node terms."""
    seen: set[int] = set()
    found: dict[int, z3.ExprRef] = {}
    todo: list[z3.ExprRef] = list(formulas)
    while todo:
        e = todo.pop()
        if e.get_id() in seen:
            continue
        seen.add(e.get_id())
        if z3.is_quantifier(e):
            todo.append(e.body())
            continue
        if z3.is_const(e) and e.sort() == Node and e.decl().kind() == z3.Z3_OP_UNINTERPRETED:
            found[e.get_id()] = e
        todo.extend(e.children())
    return [found[k] for k in sorted(found)]


def _instantiate(e: z3.ExprRef, universe: list[z3.ExprRef], memo: dict[int, bool]) -> z3.ExprRef:
    def quantified(x: z3.ExprRef) -> bool:
        key = x.get_id()
        if key not in memo:
            memo[key] = z3.is_quantifier(x) or any(quantified(c) for c in x.children())
        return memo[key]

    if not quantified(e):
        return e
    if z3.is_quantifier(e):
        if not e.is_forall():
            raise ValueError("an existential left after Skolemisation: outside the fragment")
        return z3.And(
            *[
                _instantiate(z3.substitute_vars(e.body(), *values), universe, memo)
                for values in itertools.product(universe, repeat=e.num_vars())
            ]
        )
    kids = [_instantiate(c, universe, memo) for c in e.children()]
    kind = e.decl().kind()
    if kind == z3.Z3_OP_AND:
        return z3.And(*kids)
    if kind == z3.Z3_OP_OR:
        return z3.Or(*kids)
    return e.decl()(*kids)


def ground(formulas: list[z3.BoolRef]) -> tuple[list[z3.BoolRef], int]:
    """The quantifier-free instantiation of a query over its finite Herbrand universe.

    Negation normal form with Skolemisation (Z3's ``nnf`` tactic) turns every
    existential into a fresh ``Node`` constant -- no functions, as the query is
    in the fragment -- and every universal is then replaced by its instances
    over all ``Node`` constants. By the argument in ``docs/parametric.rst``
    the result is satisfiable exactly when the query is. Returns the formulas
    and the size of the universe.
    """
    goal = z3.Goal()
    goal.add(*formulas)
    (normal,) = z3.Tactic("nnf")(goal)
    parts = list(normal)
    universe = _node_constants(parts)
    if not universe:  # Node is non-empty
        universe = [pm.fresh_node("some")]
    memo: dict[int, bool] = {}
    return [_instantiate(f, universe, memo) for f in parts], len(universe)


def ground_check(
    cfg: Config,
    kinds: tuple[str, ...] = ("consecution",),
    subjects: tuple[str, ...] = (),
    timeout_ms: int = QUERY_TIMEOUT_MS,
    goals: tuple[str, ...] = (),
) -> Result:
    """Decide the proof's queries again, ground, with Z3's quantifier-free engine.

    Independent of model-based quantifier instantiation: each goal's answer
    (and each premise's) must be the same as :func:`prove`'s. ``subjects``
    restricts to some actions or properties, ``goals`` to some lemmas or
    properties (all when empty).
    """
    result = Result()
    for group in query_groups(cfg):
        if group.kind not in kinds or (subjects and group.subject not in subjects):
            continue
        disabled = group.kind == "consecution" and group.subject in DISABLED_ACTIONS
        queries: list[tuple[str | None, list[z3.BoolRef], str]] = [
            (None, [], "unsat" if disabled else "sat"),
            *[(g.name, [g.negated], "unsat") for g in group.goals if not goals or g.name in goals],
        ]
        for name, extra, expect in queries:
            start = time.perf_counter()
            formulas, size = ground([*group.premise, *extra])
            solver = _solver(timeout_ms)
            solver.add(*formulas)
            answer = _answer(solver)
            result.checks.append(
                Check(
                    "ground",
                    group.subject,
                    name,
                    answer == expect,
                    time.perf_counter() - start,
                    f"{answer} over {size} ground nodes (expected {expect})",
                )
            )
    return result


# --- Faithfulness: the cross-check against the per-N model ----------------------


@dataclass(frozen=True)
class FiniteDomain:
    """A ``Node`` sort of exactly ``n`` elements, named ``node[0..n-1]``."""

    n: int
    nodes: tuple[z3.ExprRef, ...]
    axiom: z3.BoolRef

    def index_of(self, x: z3.ExprRef) -> z3.ArithRef:
        """The cluster model's integer index of node ``x``."""
        expr: z3.ArithRef = z3.IntVal(self.n - 1)
        for k in reversed(range(self.n - 1)):
            expr = z3.If(x == self.nodes[k], k, expr)
        return expr


def finite_domain(n: int) -> FiniteDomain:
    nodes = tuple(z3.Const(f"node[{k}]", Node) for k in range(n))
    axiom = z3.And(
        z3.Distinct(*nodes) if n > 1 else z3.BoolVal(True),
        forall(1, lambda x: z3.Or(*[x == k for k in nodes])),
    )
    return FiniteDomain(n, nodes, axiom)


def correspond(dom: FiniteDomain, s: PState, big: cluster.State) -> z3.BoolRef:
    """``s`` (over the N-element node sort) and the cluster model's ``big`` are the same state."""
    cs: list[z3.BoolRef] = []
    for name in pm.NODE_FIELDS:
        for i, node in enumerate(dom.nodes):
            cs.append(s.field(name)(node) == getattr(big, name)[i])
    for i, j in itertools.permutations(range(dom.n), 2):
        cs.append(s.lcp_pair(dom.nodes[i], dom.nodes[j]) == big.lcp(i, j))
    for i, node in enumerate(dom.nodes):
        cs.append(s.lcp_ack(node) == big.lcp(big.ack, i))
    cs += [
        s.alen == big.alen,
        s.broken == big.broken,
        dom.index_of(s.standby) == big.standby,
    ]
    return z3.And(*cs)


def _standby_in_range(big: cluster.State) -> z3.BoolRef:
    return z3.And(big.standby >= 0, big.standby < big.n)


def _group_instances(
    cfg: Config, big: cluster.State, big_t: cluster.State
) -> dict[str, list[cluster.Action]]:
    groups: dict[str, list[cluster.Action]] = {}
    for inst in cluster.actions(cfg, big, big_t, "x"):
        groups.setdefault(inst.name, []).append(inst)
    return groups


def _tie_choices(dom: FiniteDomain, act: PAction, inst: cluster.Action) -> z3.BoolRef:
    """Substitute the parametric action's choices for the instance's, sort for sort."""
    pairs = []
    for mine, theirs in zip(act.choices, inst.choices, strict=True):
        value = dom.index_of(mine) if mine.sort() == Node else mine
        pairs.append((theirs, value))
    return z3.substitute(inst.formula, *pairs) if pairs else inst.formula


def cross_check(cfg: Config, timeout_ms: int = QUERY_TIMEOUT_MS) -> Result:
    """At ``cfg.n`` nodes, this model and the cluster model are the same transition system.

    With ``Node`` of exactly ``cfg.n`` elements and the two states tied by
    :func:`correspond`, each check is an equivalence proven by one
    unsatisfiability query per direction: the initial condition (``first``
    = node 0, ``second`` = node 1, the cluster model's choice), every action
    (the cluster model's instances of that name against the parametric
    action with its node parameters existentially bound; their other choices
    identified), every property and every lemma. Cluster states outside the
    correspondence (a standby index out of range) are shown unreachable.
    """
    dom = finite_domain(cfg.n)
    s, _sym_s = pm.fresh_state("xs")
    t, _sym_t = pm.fresh_state("xt")
    big, big_t = cluster.fresh_state(cfg.n, "xs"), cluster.fresh_state(cfg.n, "xt")
    both = z3.And(dom.axiom, correspond(dom, s, big), correspond(dom, t, big_t))
    result = Result()
    label = f"N={cfg.n}"

    def equivalent(
        kind: str,
        subject: str,
        lhs: z3.BoolRef,
        rhs: z3.BoolRef,
        background: z3.BoolRef | None = None,
    ) -> None:
        start = time.perf_counter()
        problems = []
        for direction, a, b in (("parametric -> N", lhs, rhs), ("N -> parametric", rhs, lhs)):
            solver = _solver(timeout_ms)
            solver.add(both, a, z3.Not(b))
            if background is not None:
                solver.add(background)
            answer = _answer(solver)
            if answer != "unsat":
                problems.append(f"{direction}: Z3 answered {answer}")
        result.checks.append(
            Check(
                kind,
                f"{subject} ({label})",
                None,
                not problems,
                time.perf_counter() - start,
                "; ".join(problems) or "equivalent",
            )
        )

    # The reachable cluster states all correspond to some parametric state.
    start = time.perf_counter()
    solver = _solver(timeout_ms)
    solver.add(cluster.initial(cfg, big), z3.Not(_standby_in_range(big)))
    ok = _answer(solver) == "unsat"
    for inst in cluster.actions(cfg, big, big_t, "range"):
        solver = _solver(timeout_ms)
        solver.add(_standby_in_range(big), inst.formula, z3.Not(_standby_in_range(big_t)))
        ok = ok and _answer(solver) == "unsat"
    result.checks.append(
        Check("cross-check", f"standby in range ({label})", None, ok, time.perf_counter() - start)
    )

    equivalent(
        "cross-check",
        "initial",
        pm.initial(s, dom.nodes[0], dom.nodes[1]),
        cluster.initial(cfg, big),
    )
    groups = _group_instances(cfg, big, big_t)
    acts = pm.actions(cfg, s, "xa")
    names = [a.name for a in acts]
    if sorted(names) != sorted(groups):
        result.checks.append(
            Check(
                "cross-check",
                f"action names ({label})",
                None,
                False,
                0.0,
                f"parametric {sorted(names)} vs cluster {sorted(groups)}",
            )
        )
    for act in acts:
        # The node parameters range over the N elements: a disjunction over them.
        relation = pm.transition(s, t, act)
        mine = z3.Or(
            *[
                z3.substitute(relation, *zip(act.params, choice, strict=True))
                for choice in itertools.product(dom.nodes, repeat=len(act.params))
            ]
        )
        theirs = z3.Or(*[_tie_choices(dom, act, inst) for inst in groups.get(act.name, [])])
        equivalent("cross-check", f"action {act.name}", mine, theirs)
    by_id = {p.id: p for p in properties.PROPERTIES}
    for pid, prop in pm.PROPERTIES:
        equivalent("cross-check", f"property {pid}", prop(s), by_id[pid].holds(big))
    # The step properties (P6-A3 epochs never go backwards, P6-A1 one primary
    # followed per epoch), over both states.
    by_step = {(sp.id, sp.name): sp.holds for sp in properties.STEP_PROPERTIES}
    for pid, name, holds in pm.STEP_PROPERTIES:
        equivalent(
            "cross-check",
            f"step property {pid} {name}",
            holds(s, t),
            by_step[(pid, name)](big, big_t),
        )
    d = derive(cfg, s, "xs")
    per_n = dict(induction.LEMMAS)
    for name, lemma in LEMMAS:
        theirs = per_n[name](cfg, big) if name in per_n else z3.BoolVal(True)
        equivalent("cross-check", f"lemma {name}", lemma(cfg, s, d), theirs, d.definition)
    return result


# --- Obligations of ``baton verify`` --------------------------------------------

OBLIGATION_BUDGET_S = 600.0
"""Each obligation's total time budget; past it the undone checks fail."""

EXPECTED_CATCH: dict[str, tuple[str, str]] = {
    "allow_unknown_ack_bound": ("approve", "in-flight-shape"),
    "allow_behind_candidate": ("approve", "in-flight-shape"),
    "allow_divergent_history": ("approve", "in-flight-shape"),
    "force_overrides_active": ("approve", "in-flight-shape"),
    "rename_before_fsync": ("crash", "intact"),
    "skip_dir_fsync": ("complete", "no-write-in-flight"),
    "restart_keeps_authority": ("restart", "single-writer"),
    "reinstate_during_attempt": ("reinstate", "in-flight-shape"),
    "concurrent_attempts": ("request", "one-attempt"),
    "retry_after_denial": ("retry", "request-count"),
    "reuse_epoch": ("begin_transition", "in-flight-shape"),
    "ack_before_standby": ("ack", "standby-holds-acked"),
    "force_is_truthful": ("approve", "in-flight-shape"),
    "fenced_restart": ("restart", "single-writer"),
    "single_controller": ("reinstate", "in-flight-shape"),
    "unavailable_is_accurate": ("approve", "in-flight-shape"),
    # Switches the cluster model is gaining; mirrored in spec/parametric.py and
    # run as soon as spec/cluster.py knows them (see known_variants()).
    "ack_one_entry_early": ("ack", "standby-holds-acked"),
    "reinstate_without_top_epoch": ("reinstate", "writer-holds-acked"),
    "exact_async_ack_bound": ("approve", "in-flight-shape"),
    # An operator's abort accepted after the marker rename leaves a marker
    # write in flight outside AuthorityTransitioning.
    "abort_after_rename": ("abort", "no-write-in-flight"),
}
"""For each mutant and dropped assumption: the action and lemma where the all-N proof breaks.

The defence mutants (``cluster.DEFENCE_MUTANTS``, level "defence") are not listed:
each drops only a guard conjunct that the invariant implies (follow_ambiguous_primary:
the replica's check for a second primary of its epoch, excluded by one primary marker
per epoch, P6-A3), so the all-N proof rightly holds for them. They are caught by
bounded model checking with the assumption that guard defends against dropped
(``mutant.<name>`` in :mod:`baton.proofs.obligations`)."""


def known_variants() -> tuple[str, ...]:
    """The names in :data:`EXPECTED_CATCH` that spec/cluster.py defines, in that order."""
    known = set(cluster.MUTANT_NAMES) | set(cluster.ASSUMPTION_NAMES)
    return tuple(name for name in EXPECTED_CATCH if name in known)


QUICK_CATCH = ("restart_keeps_authority",)

REPORT_GROUP = "parametric"
"""The report group of these obligations (the proof for every N); names ``parametric.*``."""

# Result kinds (the report's ``kind``) of what these obligations establish.
KIND_EQUIVALENT = "proven-equivalent (N={n})"
KIND_FRAGMENT = "checked (decidable fragment)"
KIND_CAUGHT = "caught (counterexample to induction, all N)"


def variant(name: str) -> Config:
    """The configuration of a mutant or a dropped assumption (any N: the proof ignores it)."""
    mode = "sync" if name in ("ack_before_standby", "ack_one_entry_early") else "async"
    if name in cluster.ASSUMPTION_NAMES:
        return Config(mode=mode, dropped=frozenset([name]))
    return Config(mode=mode, mutant=name)


def build_obligations(quick: bool) -> list[Any]:
    """The obligations of the all-N proof, in report order (see :mod:`.obligations`).

    They are in the ``induction`` group of the report (names ``parametric.*``);
    a mutant's or a dropped assumption's obligation (``parametric.catch.*``,
    result ``caught``) covers the properties its broken lemma serves.
    """
    from .obligations import Obligation

    obs: list[Obligation] = []
    every = tuple(pid for pid, _ in pm.PROPERTIES)

    def add(
        name: str, group: str, props: tuple[str, ...], method: str, desc: str, **kw: Any
    ) -> None:
        params = {"runner": "parametric_obligation", **kw}
        obs.append(Obligation(name, group, props, method, desc, params))

    for mode in cluster.MODES:
        add(
            f"parametric.{mode}.initiation",
            REPORT_GROUP,
            every,
            "z3-all-N",
            "every N: initial states exist and satisfy each lemma",
            mode=mode,
            check="initiation",
        )
        add(
            f"parametric.{mode}.consecution",
            REPORT_GROUP,
            every,
            "z3-all-N",
            "every N: each action preserves each lemma (premises satisfiable)",
            mode=mode,
            check="consecution",
        )
        for pid in every:
            add(
                f"parametric.{mode}.implies.{pid}",
                REPORT_GROUP,
                (pid,),
                "z3-all-N",
                f"every N: the invariant implies {pid}",
                mode=mode,
                check="implication",
                property=pid,
            )
        add(
            f"parametric.{mode}.fragment",
            REPORT_GROUP,
            every,
            "syntactic",
            "every query is in the fragment where Z3's answers are complete",
            mode=mode,
            check="fragment",
        )
    for n in (2,) if quick else (2, 3):
        for mode in cluster.MODES:
            add(
                f"parametric.cross-check.N{n}.{mode}",
                REPORT_GROUP,
                every,
                "z3-equivalence",
                f"at N={n} the Node-sort model equals the cluster model "
                "(initial, actions, properties, lemmas)",
                n=n,
                mode=mode,
                check="cross-check",
            )
    for name in QUICK_CATCH if quick else known_variants():
        action, lemma = EXPECTED_CATCH[name]
        what = "dropping assumption" if name in cluster.ASSUMPTION_NAMES else "mutant"
        # In the induction group: what a catch yields is a counterexample to
        # induction, not a run that violates a property (BMC's mutants give those).
        add(
            f"parametric.catch.{name}",
            REPORT_GROUP,
            LEMMA_SERVES[lemma],
            "z3-all-N",
            f"the all-N proof fails with {what} '{name}': {action} breaks {lemma}",
            check="catch",
            variant=name,
        )
    return obs


def _summary(result: Result) -> str:
    premises = [c for c in result.checks if c.kind == "premise"]
    goals = [c for c in result.checks if c.kind != "premise"]
    disabled = [c.subject for c in premises if "disabled" in c.detail]
    parts = [f"{len(goals)} queries unsat"]
    if premises:
        parts.append(f"{len(premises) - len(disabled)} premises satisfiable")
    if disabled:
        parts.append(f"{', '.join(disabled)} disabled in every invariant state (reported)")
    slowest = max(goals, key=lambda c: c.seconds, default=None)
    if slowest is not None and len(goals) > 1:
        parts.append(f"slowest {slowest.subject}/{slowest.goal} {slowest.seconds:.2f}s")
    return "; ".join(parts)


def run_obligation(ob: Any) -> Any:
    """Run one obligation of :func:`build_obligations`; returns an ``Outcome``."""
    from .obligations import Outcome

    p = ob.params
    kind = str(p["check"])
    if kind == "catch":
        name = str(p["variant"])
        cfg = variant(name)
        action, lemma = EXPECTED_CATCH[name]
        first = check(cfg, "consecution", action, stop_at_first=True)
        if first.passed:  # not where expected: run the whole proof to say where
            first = prove(cfg, stop_at_first=True, budget_s=OBLIGATION_BUDGET_S)
        broken = first.failures()
        if not broken:
            return Outcome(False, "missed", f"the all-N proof holds for '{name}'")
        where = broken[0]
        caught = (where.subject, where.goal) == (action, lemma)
        detail = f"{where.detail}" + ("" if caught else f" (expected: {action} breaks {lemma})")
        return Outcome(
            caught,
            "caught" if caught else "missed",
            detail,
            where.model,
            kind=KIND_CAUGHT if caught else "missed",
        )
    cfg = Config(n=int(p.get("n", 2)), mode=str(p["mode"]))
    if kind == "fragment":
        result = fragment_check(cfg)
    elif kind == "cross-check":
        result = cross_check(cfg)
    elif kind == "implication":
        result = check(cfg, kind, str(p["property"]), budget_s=OBLIGATION_BUDGET_S)
    else:
        result = prove(cfg, kinds=(kind,), budget_s=OBLIGATION_BUDGET_S)
    if result.passed:
        detail = result.checks[0].detail if kind in ("fragment",) else _summary(result)
        if kind == "fragment":
            established = KIND_FRAGMENT
        elif kind == "cross-check":
            established = KIND_EQUIVALENT.format(n=cfg.n)
        else:
            from .obligations import KIND_ALL_N

            established = KIND_ALL_N
        return Outcome(True, "proven", detail, kind=established)
    bad = result.failures()[0]
    more = f" (+{len(result.failures()) - 1} more)" if len(result.failures()) > 1 else ""
    model = bad.model
    if model is not None and bad.kind == "consecution" and bad.goal in LEMMA_SERVES:
        model = {**model, "lemma": bad.goal, "serves": list(LEMMA_SERVES[bad.goal])}
    return Outcome(False, "failed", f"{bad.subject}: {bad.detail}{more}", model)
