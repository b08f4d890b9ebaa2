"""Finding, shrinking and explaining counterexamples of the cluster model.

A broken variant (a mutant, the model with an assumption dropped, or a bug an
outsider plants in the spec) must be *caught* with a concrete run: a path
from the initial state to a state (or a step) that violates a property. The
search is bounded model checking (:mod:`baton.proofs.bmc`) with two choices
that make deep runs affordable:

* depths are tried in a few jumps (:data:`DEPTHS`), each one query with
  stuttering allowed, so a violation at any depth up to it is found; each
  query is solved one-shot (non-incremental), which lets Z3 solve the step
  equations away first -- several times faster for one deep query;
* interchangeable nodes are first acted on in increasing order (symmetry
  breaking, :meth:`Unrolling._break_symmetry`), which cuts an N=3 search by
  about half.

The path is then shrunk by replaying it without single steps and pairs of
steps (a crash and its restart only go together) and keeping every removal
that still ends in a violation (a 1-minimal run), and each step the correct
model does not allow is marked: that is where the mutant or the dropped
assumption acts. :mod:`baton.proofs.render` shows the result to a reviewer,
:mod:`baton.proofs.itf` writes it in the Informal Trace Format.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import z3
import z3.z3 as z3_api
from baton.spec import cluster, properties
from baton.spec.cluster import Config, State

from .bmc import Step, Trace, Unrolling, describe_state

# The search depths, in jumps; every built-in mutant and dropped assumption
# has a counterexample within 16 steps, the planted off-by-one bugs within 14.
DEPTHS: tuple[int, ...] = (8, 12, 16, 20)
ENGINE = "bmc: one-shot Z3 queries at depths 8, 12, 16, 20 (stuttering), symmetry breaking"

ChoiceSteps = list[tuple[str, tuple[int, ...], dict[str, str]]]


@dataclass
class Counterexample:
    """A shrunk path that violates ``violated`` properties."""

    config: Config
    violated: list[str]
    trace: Trace
    seconds: float
    found_at_depth: int
    faulty_steps: list[int] = field(default_factory=list)
    # Which search found the run (ENGINE: bounded model checking; or the
    # explicit search of the compiled spec, baton.proofs.search).
    engine: str = ENGINE

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config.label(),
            "violated": self.violated,
            "length": len(self.trace.steps) - 1,
            "found_at_depth": self.found_at_depth,
            "faulty_steps": self.faulty_steps,
            "engine": self.engine,
            "steps": self.trace.to_dict()["steps"],
        }


def _selected(
    targets: tuple[str, ...] | None,
) -> tuple[list[properties.Property], list[properties.StepProperty]]:
    props = [p for p in properties.PROPERTIES if targets is None or p.id in targets]
    steps = [p for p in properties.STEP_PROPERTIES if targets is None or p.id in targets]
    return props, steps


class _Replayer:
    """Executes named action instances on concrete states through Z3."""

    def __init__(
        self,
        cfg: Config,
        props: list[properties.Property],
        step_props: list[properties.StepProperty],
    ) -> None:
        self.cfg = cfg
        self.s = cluster.fresh_state(cfg.n, "r0")
        self.t = cluster.fresh_state(cfg.n, "r1")
        self.by_key: dict[tuple[str, tuple[int, ...]], cluster.Action] = {
            (a.name, a.nodes): a for a in cluster.actions(cfg, self.s, self.t, "replay")
        }
        self.bad = z3.Or(
            *[z3.Not(p.holds(self.t)) for p in props],
            *[z3.Not(p.holds(self.s, self.t)) for p in step_props],
        )
        self.position = {key: k for k, key in enumerate(cluster.variable_keys(cfg.n))}

    def _step_by_evaluation(
        self,
        act: cluster.Action,
        values: list[z3.ExprRef],
        choices: dict[str, str],
        last: bool,
    ) -> list[z3.ExprRef] | bool | None:
        """The successor of ``values`` under ``act`` with its recorded choices, by
        substituting constants into the action's guard and updates and simplifying
        (no solver call): the post-state, None if the step is not allowed (or, for
        the last step, does not violate), or False when evaluation cannot decide."""
        fixed = _fix_choices(act, choices)
        if len(fixed) != len(act.choices):
            return False
        pairs = list(zip(self.s.all_vars(), values, strict=True))
        pairs += [(eq.arg(0), eq.arg(1)) for eq in fixed]
        subst = _Substitution(pairs)
        guard = z3.simplify(subst(act.guard))
        if z3.is_false(guard):
            return None
        if not z3.is_true(guard):
            return False
        new = list(values)
        for key, expr in act.step.changed.items():
            value = z3.simplify(subst(expr))
            constant = z3.is_int_value(value) or z3.is_true(value) or z3.is_false(value)
            enum = z3.is_const(value) and value.decl().kind() == z3.Z3_OP_DT_CONSTRUCTOR
            if not (constant or enum):
                return False
            new[self.position[key]] = value
        if last:
            post = list(zip(self.t.all_vars(), new, strict=True))
            verdict = z3.simplify(_Substitution(pairs[: len(values)] + post)(self.bad))
            if z3.is_false(verdict):
                return None
            if not z3.is_true(verdict):
                return False
        return new

    @cached_property
    def initial_values(self) -> list[z3.ExprRef]:
        return self.initial()

    def initial(self) -> list[z3.ExprRef]:
        solver = z3.Solver()
        solver.add(cluster.initial(self.cfg, self.s))
        if solver.check() != z3.sat:  # pragma: no cover - the initial state exists
            raise AssertionError("no initial state")
        model = solver.model()
        return [model.eval(v, model_completion=True) for v in self.s.all_vars()]

    def run(
        self, steps: ChoiceSteps, *, fixed: bool = True, must_violate: bool = True
    ) -> tuple[list[list[z3.ExprRef]], z3.ModelRef | None, list[dict[str, str]]] | None:
        """Replay ``steps``; if it ends in a violation (or ``must_violate`` is off),
        return the states, the last model and the environment's choices each step
        took. ``fixed``: keep the recorded choices; otherwise any the model allows."""
        values = self.initial_values
        states = [values]
        taken: list[dict[str, str]] = []
        model: z3.ModelRef | None = None
        for index, (name, nodes, choices) in enumerate(steps):
            act = self.by_key.get((name, nodes))
            if act is None:
                return None
            last = must_violate and index == len(steps) - 1
            if fixed:
                quick = self._step_by_evaluation(act, values, choices, last)
                if quick is None:
                    return None
                if quick is not False:
                    assert isinstance(quick, list)
                    values = quick
                    states.append(values)
                    taken.append(choices)
                    model = None
                    continue
            solver = z3.Solver()
            solver.add(*[v == x for v, x in zip(self.s.all_vars(), values, strict=True)])
            solver.add(act.formula)
            # Keep the environment's choices (observations, crash outcomes) of the
            # original path, so that replaying it takes the same branch.
            if fixed:
                solver.add(*_fix_choices(act, choices))
            if must_violate and index == len(steps) - 1:
                solver.add(self.bad)
            if solver.check() != z3.sat:
                return None
            model = solver.model()
            values = [model.eval(v, model_completion=True) for v in self.t.all_vars()]
            states.append(values)
            taken.append(
                {
                    str(var).split("@")[0]: str(model.eval(var, model_completion=True))
                    for var in act.choices
                }
                if not fixed
                else choices
            )
        if not steps:
            return None
        return states, model, taken


class _Substitution:
    """Simultaneous substitution of constants for variables, with the Z3 arrays built
    once: ``z3.substitute`` re-checks every pair's sorts on every call, which made
    it most of the cost of replaying a run."""

    def __init__(self, pairs: list[tuple[z3.ExprRef, z3.ExprRef]]) -> None:
        self.count = len(pairs)
        self.sources = (z3.Ast * self.count)()
        self.targets = (z3.Ast * self.count)()
        for k, (var, value) in enumerate(pairs):
            self.sources[k] = var.as_ast()
            self.targets[k] = value.as_ast()
        self.ctx = pairs[0][0].ctx if pairs else z3.main_ctx()

    def __call__(self, expr: z3.ExprRef) -> z3.ExprRef:
        ast = z3.Z3_substitute(
            self.ctx.ref(), expr.as_ast(), self.count, self.sources, self.targets
        )
        return z3_api._to_expr_ref(ast, self.ctx)  # what z3.substitute returns through


def _fix_choices(act: cluster.Action, choices: dict[str, str]) -> list[z3.BoolRef]:
    fixed: list[z3.BoolRef] = []
    for var in act.choices:
        value = choices.get(str(var).split("@")[0])
        if value is None:
            continue
        if z3.is_int(var):
            fixed.append(var == int(value))
        elif z3.is_bool(var):
            fixed.append(var == (value == "True"))
        else:
            sort = var.sort()
            for k in range(sort.num_constructors()):
                if sort.constructor(k).name() == value:
                    fixed.append(var == sort.constructor(k)())
    return fixed


def _violated_at(
    model: z3.ModelRef,
    pre: State | None,
    post: State,
    props: list[properties.Property],
    step_props: list[properties.StepProperty],
) -> list[str]:
    found = [p.id for p in props if z3.is_false(model.eval(p.holds(post), model_completion=True))]
    if pre is not None:
        for sp in step_props:
            broken = z3.is_false(model.eval(sp.holds(pre, post), model_completion=True))
            if broken and sp.id not in found:
                found.append(sp.id)
    return sorted(found)


def violation_goal(
    u: Unrolling,
    depth: int,
    props: list[properties.Property],
    step_props: list[properties.StepProperty],
) -> z3.BoolRef:
    """Some property fails in the state at ``depth`` or on some step up to it."""
    last = u.states[depth]
    bad = [z3.Not(p.holds(last)) for p in props]
    for k in range(1, depth + 1):
        bad += [z3.Not(sp.holds(u.states[k - 1], u.states[k])) for sp in step_props]
    return z3.Or(*bad)


def find_counterexample(
    cfg: Config,
    depths: tuple[int, ...] = DEPTHS,
    targets: tuple[str, ...] | None = None,
    *,
    symmetry: bool = True,
) -> Counterexample | None:
    """The first violation of a property (any, or one of ``targets``) within
    ``max(depths)`` steps, shrunk, with the faulty steps marked."""
    start = time.perf_counter()
    props, step_props = _selected(targets)
    unrolling = Unrolling(cfg, stutter=True, symmetry=symmetry)
    for depth in depths:
        unrolling.extend_to(depth)
        model = unrolling.find(violation_goal(unrolling, depth, props, step_props), one_shot=True)
        if model is None:
            continue
        raw = unrolling.trace(model, depth)
        # Cut the path at the first violating state or step.
        cut = len(raw.steps)
        for k in range(1, len(raw.steps)):
            index = raw.steps[k].index
            pre = unrolling.states[raw.steps[k - 1].index]
            post = unrolling.states[index]
            if _violated_at(model, pre, post, props, step_props):
                cut = k + 1
                break
        steps = [(st.action, st.nodes, st.choices) for st in raw.steps[1:cut]]
        trace, violated, values = _shrink(cfg, steps, props, step_props)
        faulty = faulty_steps(cfg, values)
        return Counterexample(cfg, violated, trace, time.perf_counter() - start, depth, faulty)
    return None


def explicit_engine(bounds: Any) -> str:
    return (
        "explicit: breadth-first search of the compiled spec "
        f"({bounds.label()}; node symmetry), a shortest run within those bounds"
    )


def from_run(run: Any) -> Counterexample:
    """A counterexample from a run of the explicit search (baton.proofs.search)."""
    from .search import describe_flat_state, faulty_flat_steps

    trace = Trace(run.config)
    trace.steps.append(Step(0, "init", (), {}, describe_flat_state(run.config.n, run.states[0])))
    for k, (name, nodes, choices) in enumerate(run.steps, start=1):
        trace.steps.append(
            Step(k, name, nodes, choices, describe_flat_state(run.config.n, run.states[k]))
        )
    return Counterexample(
        run.config,
        list(run.violated),
        trace,
        run.seconds,
        len(run.steps),
        faulty_flat_steps(run.config, run.states),
        explicit_engine(run.bounds),
    )


def find_run(
    cfg: Config,
    depths: tuple[int, ...] = DEPTHS,
    targets: tuple[str, ...] | None = None,
    *,
    explicit: bool = True,
    deep: bool = False,
) -> Counterexample | None:
    """A counterexample run of ``cfg``: the explicit search of the compiled spec
    first (fast, shortest within its bounds), then bounded model checking
    (no bound on WALs or epochs) when it finds nothing.

    The explicit search is skipped (``explicit`` off, or the spec uses a term
    the compiler does not translate) in favour of bounded model checking alone.
    ``deep``: the run is known to be long; start with the budgeted deep round.
    """
    start = time.perf_counter()
    if explicit:
        from baton.spec.compiled import CompileError

        from .search import DEEP_ROUND, DEFAULT_ROUNDS, search_rounds

        rounds = (DEEP_ROUND,) if deep else DEFAULT_ROUNDS
        try:
            run = search_rounds(cfg, targets, rounds)
        except CompileError:
            run = None
        if run is not None:
            found = from_run(run)
            found.seconds = time.perf_counter() - start
            return found
    cx = find_counterexample(cfg, depths, targets)
    if cx is not None:
        cx.seconds = time.perf_counter() - start
    return cx


def _shrink(
    cfg: Config,
    steps: ChoiceSteps,
    props: list[properties.Property],
    step_props: list[properties.StepProperty],
) -> tuple[Trace, list[str], list[list[z3.ExprRef]]]:
    replayer = _Replayer(cfg, props, step_props)
    current = list(steps)
    result = replayer.run(current)
    if result is None:  # pragma: no cover - the raw path is a real path by construction
        raise AssertionError("counterexample does not replay")
    # Remove steps while the rest still ends in a violation. A shorter path may need other
    # environment choices (a denial observed after a crash that is removed), so
    # a path that does not replay with the recorded choices is tried with free ones.
    changed = True
    while changed:
        changed = False
        # Contiguous blocks first (a crash, its restart and a reinstatement go
        # together), then single steps, then any pair.
        blocks = [
            tuple(range(a, a + width)) for width in (4, 3) for a in range(len(current) - width + 1)
        ]
        removals = (
            blocks
            + [(k,) for k in range(len(current))]
            + [(a, b) for a in range(len(current)) for b in range(a + 1, len(current))]
        )
        for drop in removals:
            candidate = [st for k, st in enumerate(current) if k not in drop]
            if not candidate:
                continue
            attempt = replayer.run(candidate)
            if attempt is None and len(drop) != 2:
                # Other environment choices may be needed; pairs are too many to retry.
                attempt = replayer.run(candidate, fixed=False)
            if attempt is not None:
                taken = attempt[2]
                current = [(n, ns, c) for (n, ns, _), c in zip(candidate, taken, strict=True)]
                result, changed = attempt, True
                break
    states, _model, _taken = result
    # Describe each state by binding the replayer's state variables to its values.
    trace = Trace(cfg)
    for index, values in enumerate(states):
        solver = z3.Solver()
        solver.add(*[v == x for v, x in zip(replayer.s.all_vars(), values, strict=True)])
        solver.check()
        described = describe_state(solver.model(), replayer.s)
        if index == 0:
            trace.steps.append(Step(0, "init", (), {}, described))
        else:
            name, nodes, choices = current[index - 1]
            trace.steps.append(Step(index, name, nodes, choices, described))
    final = z3.Solver()
    final.add(*[v == x for v, x in zip(replayer.s.all_vars(), states[-2], strict=True)])
    final.add(*[v == x for v, x in zip(replayer.t.all_vars(), states[-1], strict=True)])
    final.check()
    violated = _violated_at(final.model(), replayer.s, replayer.t, props, step_props)
    return trace, violated, states


def faulty_steps(cfg: Config, states: list[list[z3.ExprRef]]) -> list[int]:
    """The steps (1-based) the correct model does not allow: where the variant acts.

    A step is faulty when no action of the model without the mutant and with
    every assumption takes its pre-state to its post-state.
    """
    correct = replace(cfg, mutant=None, dropped=frozenset())
    s, t = cluster.fresh_state(cfg.n, "f0"), cluster.fresh_state(cfg.n, "f1")
    step = z3.Or(*[a.formula for a in cluster.actions(correct, s, t, "faulty")])
    solver = z3.Solver()
    solver.add(step)
    found = []
    for k in range(1, len(states)):
        solver.push()
        solver.add(*[v == x for v, x in zip(s.all_vars(), states[k - 1], strict=True)])
        solver.add(*[v == x for v, x in zip(t.all_vars(), states[k], strict=True)])
        if solver.check() == z3.unsat:
            found.append(k)
        solver.pop()
    return found


def _names(ids: list[int]) -> str:
    return ", ".join(f"n{i}" for i in ids) or "none"


def explain(prop_id: str, state: dict[str, Any]) -> str:
    """Why the final state violates ``prop_id``, in the model's terms."""
    nodes = state["nodes"]
    writers = [int(n["node"]) for n in nodes if n["writable"]]
    if prop_id == "P6-A1":
        return (
            f"{_names(writers)} are all writable at once: two writers can accept "
            "conflicting writes."
        )
    if prop_id == "P6-A2":
        done = [int(n["node"]) for n in nodes if n["lifecycle"] == "PromotionSucceeded"]
        return (
            f"{_names(done)} completed a promotion, yet the writable nodes are {_names(writers)}."
        )
    if prop_id == "P6-A3":
        epochs = ", ".join(f"n{n['node']} {n['role']} epoch {n['epoch']}" for n in nodes)
        return (
            "a writable node does not hold the highest epoch, two primary markers share an "
            f"epoch, or an epoch went backwards in the last step: {epochs}."
        )
    if prop_id == "P6-S1":
        missing = [int(n["node"]) for n in nodes if n["writable"] and not n["has_acked"]]
        return (
            f"{state['acked']} write(s) were acknowledged, but writable {_names(missing)} does not "
            "hold all of them: an acknowledged write is lost."
        )
    if prop_id == "P6-S2":
        behind = [
            int(n["node"])
            for n in nodes
            if n["lifecycle"] in ("PromotionApproved", "AuthorityTransitioning")
            and not n["has_acked"]
        ]
        if behind:
            return (
                f"{_names(behind)} is approved for promotion without the whole acknowledged "
                "history: the WAL that takes over would fork it."
            )
        return "an acknowledgement did not extend the acknowledged history: history diverged."
    if prop_id == "P6-F2":
        torn = [int(n["node"]) for n in nodes if n["role"] == "Torn"]
        return (
            f"the marker of {_names(torn)} is torn: recovery yields neither old nor new authority."
        )
    if prop_id == "P6-F3":
        return "a candidate was validated twice for one request: an implicit retry."
    if prop_id in properties.PROPERTY_IDS:
        return properties.get_property(prop_id).statement
    from baton.spec import invariants

    return invariants.BY_ID[prop_id].statement
