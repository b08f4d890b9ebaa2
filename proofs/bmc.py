"""Bounded model checking of the cluster model with Z3.

The unrolling ``init(s0) and T(s0, s1) and ... and T(s_{k-1}, s_k)`` is built
incrementally; at every depth the solver is asked for a state violating a
property (a counterexample) or satisfying a companion (a witness). A
counterexample comes back as a :class:`Trace`: the action and node of every
step and every node's role, epoch, WAL and lifecycle state after it.

Each step also has a *stutter* option, so a witness found at depth ``k`` is
found again at every depth above it and "no violation up to depth ``k``" is
one solver call.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import z3
from baton.spec import cluster
from baton.spec.cluster import Config, State

Predicate = Callable[[State], z3.BoolRef]


@dataclass
class Step:
    """One step of a trace: the action taken and the state it led to."""

    index: int
    action: str
    nodes: tuple[int, ...]
    choices: dict[str, str]
    state: dict[str, Any]


@dataclass
class Trace:
    """A path through the model from the initial state."""

    config: Config
    steps: list[Step] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config.label(),
            "steps": [
                {
                    "index": st.index,
                    "action": st.action,
                    "nodes": list(st.nodes),
                    "choices": st.choices,
                    "state": st.state,
                }
                for st in self.steps
            ],
        }


class Unrolling:
    """An incremental BMC unrolling of one configuration."""

    def __init__(self, cfg: Config, stutter: bool = True, symmetry: bool = False) -> None:
        self.stutter = stutter
        self.symmetry = symmetry
        self.cfg = cfg
        self.solver = z3.Solver()
        self.states: list[State] = [cluster.fresh_state(cfg.n, "0")]
        self.labels: list[z3.ArithRef] = []
        self.step_actions: list[list[cluster.Action]] = []
        self._touched: list[dict[int, z3.BoolRef]] = []
        self.solver.add(cluster.initial(cfg, self.states[0]))

    @property
    def depth(self) -> int:
        return len(self.states) - 1

    def extend(self) -> None:
        k = len(self.states)
        s, t = self.states[-1], cluster.fresh_state(self.cfg.n, str(k))
        label = z3.Int(f"action@{k}")
        acts = list(cluster.actions(self.cfg, s, t, str(k)))
        # One step, stated functionally: the label picks an action whose guard
        # holds, and every variable is an if-then-else over the actions that
        # change it (else unchanged). Equivalent to the disjunction of the
        # actions' formulas, and far smaller: the frame is stated once.
        pre, post = s.all_vars(), t.all_vars()
        lowest = -1 if self.stutter else 0
        self.solver.add(label >= lowest, label < len(acts))
        changes: list[list[tuple[int, z3.ExprRef]]] = [[] for _ in post]
        keys = cluster.variable_keys(self.cfg.n)
        for idx, act in enumerate(acts):
            guard, updates = cluster.guard_and_updates(act, keys)
            self.solver.add(z3.Implies(label == idx, guard))
            for pos, value in updates.items():
                changes[pos].append((idx, value))
        for pos, var in enumerate(post):
            value = pre[pos]
            for idx, new in reversed(changes[pos]):
                value = z3.If(label == idx, new, value)
            self.solver.add(var == value)
        if self.symmetry:
            self._break_symmetry(label, acts)
        self.states.append(t)
        self.labels.append(label)
        self.step_actions.append(acts)

    def interchangeable(self) -> list[int]:
        """Nodes that are interchangeable in the initial state, in order.

        Node 0 starts as the primary; in sync mode node 1 starts as the standby.
        The remaining nodes start identical, and nothing in the model refers
        to a node by its number, so any permutation of them maps a path to a
        path (the standby variable is read only in sync mode).
        """
        first = 2 if self.cfg.mode == "sync" else 1
        return list(range(first, self.cfg.n))

    def _break_symmetry(self, label: z3.ArithRef, acts: list[cluster.Action]) -> None:
        """Interchangeable nodes are first acted on in increasing order.

        Sound and complete for goals that do not name a node (every property,
        every companion): any path can be renamed so that of two interchangeable
        nodes the lower-numbered one is acted on first -- until then both are
        in their identical initial state. Cuts the search by up to (N-1)!.
        """
        k = len(self.labels)
        nodes = self.interchangeable()
        touches: dict[int, z3.BoolRef] = {}
        for x in nodes:
            hits = [label == idx for idx, act in enumerate(acts) if x in act.nodes]
            touches[x] = z3.Or(*hits) if hits else z3.BoolVal(False)
        self._touched.append(touches)
        for a, b in pairwise(nodes):
            earlier_a = z3.Or(*[self._touched[j][a] for j in range(k + 1)])
            self.solver.add(z3.Implies(touches[b], earlier_a))

    def extend_to(self, depth: int) -> None:
        while self.depth < depth:
            self.extend()

    def find(self, goal: z3.BoolRef, *, one_shot: bool = False) -> z3.ModelRef | None:
        """A model of the unrolling in which ``goal`` holds, or None.

        ``one_shot``: solve in a fresh, non-incremental solver. Z3 then
        preprocesses the whole formula (the step equations are solved away),
        which is several times faster for a single deep query than the
        incremental solver that shares learnt facts between queries.
        """
        if one_shot:
            fresh = z3.Solver()
            fresh.add(*self.solver.assertions())
            fresh.add(goal)
            result = fresh.check()
            if result == z3.unknown:
                raise RuntimeError(f"Z3 returned unknown: {fresh.reason_unknown()}")
            return fresh.model() if result == z3.sat else None
        self.solver.push()
        self.solver.add(goal)
        try:
            result = self.solver.check()
            if result == z3.unknown:
                raise RuntimeError(f"Z3 returned unknown: {self.solver.reason_unknown()}")
            return self.solver.model() if result == z3.sat else None
        finally:
            self.solver.pop()

    def trace(self, model: z3.ModelRef, upto: int | None = None) -> Trace:
        upto = self.depth if upto is None else upto
        trace = Trace(self.cfg)
        trace.steps.append(Step(0, "init", (), {}, describe_state(model, self.states[0])))
        for k in range(1, upto + 1):
            idx = model.eval(self.labels[k - 1], model_completion=True).as_long()
            if idx == -1:
                continue
            act = self.step_actions[k - 1][idx]
            choices = {
                str(c).split("@")[0]: str(model.eval(c, model_completion=True)) for c in act.choices
            }
            trace.steps.append(
                Step(k, act.name, act.nodes, choices, describe_state(model, self.states[k]))
            )
        return trace


def describe_state(model: z3.ModelRef, s: State) -> dict[str, Any]:
    """The concrete values of a state under a model, for traces and reports."""

    def ev(x: z3.ExprRef) -> Any:
        v = model.eval(x, model_completion=True)
        if z3.is_int_value(v):
            return v.as_long()
        if z3.is_true(v):
            return True
        if z3.is_false(v):
            return False
        return str(v)

    nodes = []
    for i in range(s.n):
        nodes.append(
            {
                "node": i,
                "up": ev(s.up[i]),
                "role": ev(s.role[i]),
                "epoch": ev(s.epoch[i]),
                "writable": ev(z3.And(s.up[i], s.active[i])),
                "wal_len": ev(s.wlen[i]),
                "has_acked": ev(s.lcp(s.ack, i) == s.alen),
                "lifecycle": ev(s.lc[i]),
                "marker_stage": ev(s.mstage[i]),
            }
        )
    return {
        "nodes": nodes,
        "acked": ev(s.alen),
        "standby": ev(s.standby),
        "lcp": {f"{i},{j}": ev(v) for (i, j), v in sorted(s.lcp_pairs.items())},
    }


@dataclass
class BmcResult:
    """Outcome of a bounded check: no violation up to ``depth``, or a trace."""

    config: Config
    depth: int
    holds: bool
    seconds: float
    counterexample: Trace | None = None
    violated: str | None = None


def check_bounded(
    cfg: Config,
    props: dict[str, Predicate],
    depth: int,
    progress: Callable[[str], None] | None = None,
    unrolling: Unrolling | None = None,
) -> BmcResult:
    """Search for the shortest violation of any of ``props`` up to ``depth``.

    Checks depth by depth so the counterexample returned is a shortest one.
    """
    start = time.perf_counter()
    u = unrolling or Unrolling(cfg)
    for k in range(depth + 1):
        u.extend_to(k)
        s = u.states[k]
        bad = z3.Or(*[z3.Not(p(s)) for p in props.values()])
        model = u.find(bad)
        if progress:
            progress(f"{cfg.label()}: depth {k}/{depth}")
        if model is not None:
            violated = [
                pid
                for pid, p in props.items()
                if z3.is_false(model.eval(p(s), model_completion=True))
            ]
            return BmcResult(
                cfg, k, False, time.perf_counter() - start, u.trace(model, k), ",".join(violated)
            )
    return BmcResult(cfg, depth, True, time.perf_counter() - start)


def find_witness(
    cfg: Config, goal: Predicate, depth: int, unrolling: Unrolling | None = None
) -> Trace | None:
    """A shortest path (up to ``depth``) to a state satisfying ``goal``."""
    u = unrolling or Unrolling(cfg)
    u.extend_to(depth)
    # With stuttering, reaching the goal at any depth <= ``depth`` means reaching it at ``depth``.
    model = u.find(goal(u.states[depth]))
    return None if model is None else u.trace(model)
