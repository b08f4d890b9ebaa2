"""Breadth-first search of the cluster spec's own step relation, for counterexamples.

A broken variant of the spec (a mutant, a dropped assumption, a bug an
outsider plants) is caught with a run from the initial state to a violation.
Bounded model checking finds such runs, but its cost grows steeply with the
depth: a run of 20 steps at N=3 is one Z3 query of minutes. This module
searches the spec's *concrete* semantics instead: the action formulas of
:func:`baton.spec.cluster.actions`, compiled to a Python successor function
(:func:`baton.spec.compiled.successor_model` -- the spec's own terms, not a
restatement), explored breadth first from the initial state. Because the
search is breadth first, the run it returns is a shortest one within the
search bounds: no step can be left out (it needs no shrinking).

Bounds
======
The spec's WALs and epochs are unbounded, so the search is bounded: no WAL
(nor the acknowledged history) longer than ``max_wal`` entries and no epoch
above ``max_epoch``; optionally *path budgets* limit how often a run may take
an action (at most two crashes, ...), counted along the path and kept with
the state, so the search stays exhaustive within them. States beyond the
bounds are not expanded. Within the bounds the search is exhaustive up to
``max_states`` distinct states; a search that ends without a violation proves
nothing (the caller then falls back to bounded model checking, which has no
such bound). The rounds :data:`DEFAULT_ROUNDS` widen the bounds in turn.

Symmetry
========
Nothing in the step relation refers to a node by its number (only the initial
state does: node 0 is the primary, node 1 the first standby), so renaming the
nodes maps runs to runs. States are stored once per renaming class (the
smallest renamed flat tuple), which cuts the states of an N=3 search by up to
six. Each stored state keeps the concrete state that was actually reached, and
its successors are computed from that one, so the run returned is a concrete
path of the spec -- re-checked step by step before it is reported.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cache
from itertools import permutations
from operator import itemgetter
from typing import Any

from baton.spec import cluster, lifecycle, properties
from baton.spec.cluster import MARKER_ROLE_NAMES, Config
from baton.spec.compiled import (
    CompileError,
    Flat,
    Layout,
    StepCheck,
    choice_texts,
    compile_predicate,
    compile_step,
    successor_model,
)


@dataclass(frozen=True)
class SearchBounds:
    """Where the explicit search stops: WAL length, epoch, distinct states."""

    max_wal: int = 2
    max_epoch: int = 3
    max_states: int = 20_000
    # Per action name, the most steps of it a run may take (path budgets; an
    # action not named is not limited). Counted along the path, so they are
    # part of what the search distinguishes: within them it stays exhaustive.
    budgets: tuple[tuple[str, int], ...] = ()

    def label(self) -> str:
        limits = "".join(f", {name} <= {k}" for name, k in self.budgets)
        return f"WAL <= {self.max_wal}, epoch <= {self.max_epoch}{limits}"


# The rounds, each exhaustive within its bounds up to its state budget: one
# WAL entry and one promotion, then two promotions; then long runs (20 steps
# at N=3), which need path budgets: a run breaking a property rarely takes
# more than two crashes, one restart, two requests and two writes, and never
# needs a rejection, a denial or a lone epoch adoption to do so, while those
# steps, repeated, are most of the states of an unbudgeted search.
SHORT_ROUNDS: tuple[SearchBounds, ...] = (
    SearchBounds(max_wal=1, max_epoch=2),
    SearchBounds(max_wal=1, max_epoch=3),
)
DEEP_ROUND = SearchBounds(
    max_wal=1,
    max_epoch=2,
    max_states=150_000,
    budgets=(
        ("crash", 2),
        ("restart", 1),
        ("request", 2),
        ("write", 2),
        ("reject", 0),
        ("deny", 0),
        ("adopt", 0),
    ),
)
DEFAULT_ROUNDS: tuple[SearchBounds, ...] = (*SHORT_ROUNDS, DEEP_ROUND)


@dataclass
class Run:
    """A concrete run of the spec from the initial state to a violation."""

    config: Config
    states: list[Flat]
    steps: list[tuple[str, tuple[int, ...], dict[str, str]]]
    violated: list[str]
    explored: int
    seconds: float
    bounds: SearchBounds


@dataclass(frozen=True)
class _Checks:
    state: tuple[tuple[str, Any], ...]
    step: tuple[tuple[str, StepCheck], ...]


@cache
def _checks(cfg: Config, targets: tuple[str, ...] | None) -> _Checks:
    # Only the properties are compiled here (compiled(cfg) would also compile
    # every action's whole step formula, frame included: most of its cost).
    s, t = cluster.fresh_state(cfg.n, "before"), cluster.fresh_state(cfg.n, "after")
    state = tuple(
        (p.id, compile_predicate(p.holds(s), s, p.id)[0])
        for p in properties.PROPERTIES
        if targets is None or p.id in targets
    )
    step = tuple(
        (sp.id, compile_step(sp.holds(s, t), s, t, sp.name)[0])
        for sp in properties.STEP_PROPERTIES
        if targets is None or sp.id in targets
    )
    return _Checks(state, step)


def _renamings(cfg: Config) -> list[tuple[Any, dict[int, int] | None]]:
    """For each node permutation: a getter building the renamed flat tuple, and
    how the standby slot's value is renamed (sync mode only: async never reads it)."""
    n = cfg.n
    layout = Layout(n)
    nf = len(cluster.NODE_FIELDS)
    pairs = layout.pairs()
    pair_slot = {pair: layout.slot("lcp", k) for k, pair in enumerate(pairs)}
    out: list[tuple[Any, dict[int, int] | None]] = []
    for perm in permutations(range(n)):
        # Node i of the renamed state is node perm[i] of the original.
        src = [perm[i] * nf + f for i in range(n) for f in range(nf)]
        src += [layout.slot("alen"), layout.slot("standby"), layout.slot("broken")]
        rename = {**{k: perm[k] for k in range(n)}, n: n}
        for a, b in pairs:
            x, y = sorted((rename[a], rename[b]))
            src.append(pair_slot[(x, y)])
        inverse = {perm[i]: i for i in range(n)}
        standby = inverse if cfg.mode == "sync" else None
        out.append((itemgetter(*src), standby))
    return out


def _canonical_fn(cfg: Config, symmetry: bool) -> Any:
    if not symmetry:
        return lambda flat: flat
    renamings = _renamings(cfg)
    standby_slot = Layout(cfg.n).slot("standby")

    def canonical(flat: Flat) -> Flat:
        best: Flat | None = None
        for getter, standby in renamings:
            renamed: Flat = getter(flat)
            if standby is not None:
                value = standby.get(renamed[standby_slot], renamed[standby_slot])
                renamed = (*renamed[:standby_slot], value, *renamed[standby_slot + 1 :])
            if best is None or renamed < best:
                best = renamed
        assert best is not None
        return best

    return canonical


def _in_bounds(cfg: Config, bounds: SearchBounds) -> Any:
    """``ok(flat)``: within the WAL and epoch bounds (one compiled expression)."""
    layout = Layout(cfg.n)
    wal = [layout.slot("wlen", i) for i in range(cfg.n)] + [layout.slot("alen")]
    epochs = [layout.slot("epoch", i) for i in range(cfg.n)]
    epochs += [layout.slot("grant", i) for i in range(cfg.n)]
    tests = [f"S[{k}] <= {bounds.max_wal}" for k in wal]
    tests += [f"S[{k}] <= {bounds.max_epoch}" for k in epochs]
    namespace: dict[str, Any] = {}
    exec(f"def ok(S):\n    return {' and '.join(tests)}", namespace)
    return namespace["ok"]


def initial_flat(cfg: Config) -> Flat:
    """The spec's initial state of ``cfg`` as a flat tuple (checked against
    :func:`baton.spec.cluster.initial`)."""
    from baton.spec.compiled import flatten
    from baton.spec.concrete import NodeSnapshot, Snapshot

    nodes = tuple(
        NodeSnapshot(role="Primary" if i == 0 else "Replica", active=i == 0) for i in range(cfg.n)
    )
    flat = flatten(Snapshot(nodes))
    s = cluster.fresh_state(cfg.n, "before")
    initial, _src = compile_predicate(cluster.initial(cfg, s), s, "initial")
    if not initial(flat):
        # The spec's initial state changed shape (say, a planted bug in it): the
        # explicit search does not guess it; bounded model checking takes over.
        raise CompileError("the flat initial state is not the spec's initial state")
    return flat


def search(
    cfg: Config,
    targets: Sequence[str] | None = None,
    bounds: SearchBounds = DEFAULT_ROUNDS[0],
    *,
    symmetry: bool = True,
    goal: tuple[str, Any] | None = None,
    steps_only: bool = False,
) -> Run | None:
    """A shortest run (within ``bounds``) from the initial state to a violation of a
    property (any, or one of ``targets``); None if there is none within the bounds.

    ``steps_only``: look for a violated step property alone (a defence mutant is
    judged with an assumption dropped, where state properties sharing the step
    property's ID may break first, by the dropped assumption, not the mutant).

    ``goal``: ``(label, f)`` -- search instead for a state where ``f(flat)``
    holds (the run's ``violated`` is then ``[label]``); ``f`` must not depend
    on node numbers when ``symmetry`` is on."""
    start = time.perf_counter()
    model = successor_model(cfg)
    checks = _checks(cfg, tuple(targets) if targets is not None else None)
    canonical = _canonical_fn(cfg, symmetry)
    in_bounds = _in_bounds(cfg, bounds)
    init = initial_flat(cfg)
    # Path budgets: the counts of the budgeted actions so far follow the state.
    names = [name for name, _k in bounds.budgets]
    limits = tuple(k for _name, k in bounds.budgets)
    counter_of = [names.index(name) if name in names else -1 for name, _nodes in model.instances]
    if names:
        plain = canonical
        width = len(init)

        def canonical(flat: Flat) -> Flat:
            renamed: Flat = plain(flat[:width])
            return renamed + flat[width:]

        init = init + (0,) * len(names)
    # canonical state -> (parent canonical, action index, choice values, concrete state)
    seen: dict[Flat, tuple[Flat | None, int, tuple[int, ...], Flat]] = {
        canonical(init): (None, -1, (), init)
    }
    bad_state = [] if steps_only else [(pid, holds) for pid, holds in checks.state]
    bad_step = list(checks.step)
    if goal is not None:
        label, reached = goal
        bad_state = [(label, lambda flat: not reached(flat))]
        bad_step = []
    queue: deque[Flat] = deque([canonical(init)])
    found: tuple[Flat, list[str]] | None = None
    violated0 = [pid for pid, holds in bad_state if not holds(init)]
    if violated0:
        found = (canonical(init), violated0)
    successors = model.successors
    # Concrete states already generated: most successors are, and recognising
    # them needs no renaming.
    generated: set[Flat] = {init}
    while queue and found is None and len(seen) < bounds.max_states:
        key = queue.popleft()
        pre = seen[key][3]
        if names:
            width = len(pre) - len(names)
            used = pre[width:]
            expanded = []
            for index, post, chosen in successors(pre[:width]):
                c = counter_of[index]
                if c < 0:
                    expanded.append((index, post + used, chosen))
                elif used[c] < limits[c]:
                    more = (*used[:c], used[c] + 1, *used[c + 1 :])
                    expanded.append((index, post + more, chosen))
        else:
            expanded = successors(pre)
        for index, post, chosen in expanded:
            broken_step = [pid for pid, ok in bad_step if not ok(pre, post)]
            if post in generated and not broken_step:
                continue
            if not in_bounds(post):
                continue
            generated.add(post)
            ckey = canonical(post)
            if ckey in seen and not broken_step:
                continue
            broken_state = {pid for pid, holds in bad_state if not holds(post)}
            violated = sorted(broken_state | set(broken_step))
            if violated:
                if ckey in seen:
                    # The same class was reached before without a violation (a step
                    # property): record this step as the last one of the run.
                    ckey = (*ckey, -1)
                seen[ckey] = (key, index, chosen, post)
                found = (ckey, violated)
                break
            seen[ckey] = (key, index, chosen, post)
            queue.append(ckey)
    if found is None:
        return None
    end, violated = found
    path: list[tuple[int, tuple[int, ...], Flat]] = []
    cur: Flat | None = end
    while cur is not None:
        parent, index, chosen, concrete = seen[cur]
        path.append((index, chosen, concrete))
        cur = parent
    path.reverse()
    width = len(path[0][2]) - len(names)
    states = [concrete[:width] for _i, _c, concrete in path]
    steps = [
        (*model.instances[index], choice_texts(model, index, chosen))
        for index, chosen, _concrete in path[1:]
    ]
    run = Run(cfg, states, steps, violated, len(seen), time.perf_counter() - start, bounds)
    _recheck(run)
    return run


def _recheck(run: Run) -> None:
    """Every step of the run is a step of the spec (the compiled check of the
    action's whole formula, an independent translation of the same terms), and
    the last state or step violates what the run says."""
    cfg = run.config
    s, t = cluster.fresh_state(cfg.n, "before"), cluster.fresh_state(cfg.n, "after")
    used = {(name, nodes) for name, nodes, _choices in run.steps}
    checks = {
        (act.name, act.nodes): compile_step(act.formula, s, t, act.name)[0]
        for act in cluster.actions(cfg, s, t, "recheck")
        if (act.name, act.nodes) in used
    }
    for k, (name, nodes, _choices) in enumerate(run.steps):
        if not checks[(name, nodes)](run.states[k], run.states[k + 1]):  # pragma: no cover
            raise AssertionError(f"step {k + 1} ({name}{list(nodes)}) is not a step of the spec")


def search_rounds(
    cfg: Config,
    targets: Sequence[str] | None = None,
    rounds: Sequence[SearchBounds] = DEFAULT_ROUNDS,
    *,
    symmetry: bool = True,
) -> Run | None:
    """:func:`search` with widening bounds: the first run found."""
    for bounds in rounds:
        run = search(cfg, targets, bounds, symmetry=symmetry)
        if run is not None:
            return run
    return None


def correct_allows(cfg: Config, before: Flat, after: Flat) -> bool:
    """Whether the correct model (no mutant, every assumption) has the step."""
    correct = successor_model(replace(cfg, mutant=None, dropped=frozenset()))
    return any(post == after for _index, post, _chosen in correct.successors(before))


def faulty_flat_steps(cfg: Config, states: Sequence[Flat]) -> list[int]:
    """The steps (1-based) the correct model does not allow: where the variant acts."""
    return [k for k in range(1, len(states)) if not correct_allows(cfg, states[k - 1], states[k])]


def describe_flat_state(n: int, flat: Flat) -> dict[str, Any]:
    """A flat state as :func:`baton.proofs.bmc.describe_state` describes a model's state."""
    layout = Layout(n)

    def get(name: str, i: int = 0) -> int:
        return flat[layout.slot(name, i)]

    lcp = {pair: flat[layout.slot("lcp", k)] for k, pair in enumerate(layout.pairs())}
    alen = get("alen")
    nodes = []
    for i in range(n):
        nodes.append(
            {
                "node": i,
                "up": bool(get("up", i)),
                "role": MARKER_ROLE_NAMES[get("role", i)],
                "epoch": get("epoch", i),
                "writable": bool(get("up", i) and get("active", i)),
                "wal_len": get("wlen", i),
                "has_acked": lcp[(i, n)] == alen,
                "lifecycle": lifecycle.STATE_NAMES[get("lc", i)],
                "marker_stage": get("mstage", i),
            }
        )
    return {
        "nodes": nodes,
        "acked": alen,
        "standby": get("standby"),
        "lcp": {f"{i},{j}": v for (i, j), v in sorted(lcp.items())},
    }
