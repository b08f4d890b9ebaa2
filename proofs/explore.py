"""Explicit-state exploration of the runtime core: every reachable state, checked.

Where :mod:`baton.proofs.bmc` and :mod:`baton.proofs.induction` reason about
the *spec* symbolically, this module runs the *runtime's* pure core
(:mod:`baton.core`) itself: starting from :func:`baton.core.initial_state`, it
applies every enabled action (crashes at every marker file operation and each
crash outcome included) breadth first, until no new state appears, and checks
the cluster properties P6-A1, P6-A2, P6-A3, P6-S1, P6-S2, P6-F2 and P6-F3 on
every state it reaches.

Bounds
======
The core's state space is infinite (WALs grow, epochs climb), so a run is
bounded by two counters kept *outside* the core, in the search state: at most
``writes`` client writes and at most ``promotions`` promotion requests per
run. Everything else (crashes, restarts, replication, acknowledgements, every
lifecycle step) is unbounded; with the two counters fixed the reachable set is
finite, and the search must exhaust it -- a run that stops at ``max_states``
is reported as *incomplete*, never as a pass (STYLE.md, pattern 9).

Speed levers
============
* **Compact keys.** A visited state is stored as a flat tuple of small values
  (:func:`state_key`), WALs as tuples of epochs (an entry's position is its
  index + 1, so the epoch identifies it), not as the nested dataclasses.
* **Symmetry reduction.** Nodes other than node 0 (the initial primary) are
  interchangeable: the core treats node ids only as names, and initially they
  are all replicas. The key sorts their per-node encodings (carrying the sync
  standby along), so states that differ only by a relabelling of replicas are
  explored once. Every property is invariant under relabelling, so the
  reduction loses no violation; shortest-path lengths are preserved too.
* **Candidate pruning.** :func:`enabled` proposes, from cheap per-node facts,
  a superset of the actions the core could enable and keeps those whose
  :func:`baton.core.refusal` is None; a test checks the result equals
  :func:`baton.core.enabled_actions` on every state of an exploration.

Counterexamples
===============
Each visited key remembers its BFS parent and the action that reached it;
the stored representative of a key is the very state that action produced,
so the chain of representatives is a real run of the core. A violation is
reported with the shortest such run (BFS), replayed step by step.

Mutants
=======
The core has no mutant hooks, so the broken variants live here, as wrappers of
its successor function (:data:`MUTANTS`): ``restart_keeps_authority``,
``reinstate_during_attempt`` and ``concurrent_attempts`` -- the unguarded
designs of the approval-to-marker gap (DESIGN.md). Each must yield a
counterexample; a mutant that yields none is a weak search.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import Any

from baton import core, lifecycle
from baton.core import (
    Ack,
    Acknowledge,
    Action,
    Adopt,
    BeginTransition,
    BeginValidation,
    ClusterState,
    Complete,
    Crash,
    Decide,
    Demote,
    Designate,
    Diverge,
    MarkerOp,
    NodeState,
    Reinstate,
    Reject,
    Replicate,
    Request,
    Restart,
    StepDown,
    Write,
)
from baton.errors import ProtocolError

PROPERTY_IDS: tuple[str, ...] = ("P6-A1", "P6-A2", "P6-A3", "P6-S1", "P6-S2", "P6-F2", "P6-F3")
"""The cluster properties checked on every state (baton.spec.properties.PROPERTY_IDS)."""


# --- fast property predicates -----------------------------------------------------
#
# Each mirrors one predicate of baton.spec.properties, evaluated on the core's
# state directly (the Z3 evaluation costs milliseconds per state; these cost
# microseconds). tests/test_explore_properties.py cross-checks them against
# baton.spec.concrete.violated_properties on explored and on random states.


def _is_prefix(a: tuple[core.Entry, ...], b: tuple[core.Entry, ...]) -> bool:
    return len(a) <= len(b) and b[: len(a)] == a


def violated(s: ClusterState) -> list[str]:
    """IDs of the properties ``s`` violates, in :data:`PROPERTY_IDS` order."""
    bad: list[str] = []
    nodes = s.nodes
    writable = [i for i, node in enumerate(nodes) if node.writable]
    # P6-A1: at most one node admits writes.
    if len(writable) > 1:
        bad.append("P6-A1")
    # P6-A2: a completed promotion's candidate is the one writable node.
    for c, node in enumerate(nodes):
        if node.lifecycle == "PromotionSucceeded" and writable != [c]:
            bad.append("P6-A2")
            break
    # P6-A3: writable nodes hold the highest epoch; one primary marker per epoch.
    top = max(node.durable.epoch for node in nodes)
    primary_epochs = [n.durable.epoch for n in nodes if n.durable.marker_role == "Primary"]
    if any(nodes[i].durable.epoch < top for i in writable) or len(set(primary_epochs)) < len(
        primary_epochs
    ):
        bad.append("P6-A3")
    # P6-S1: every acknowledged write is in the writable node's WAL.
    if any(not _is_prefix(s.acked, nodes[i].durable.wal) for i in writable):
        bad.append("P6-S1")
    # P6-S2: every acknowledgement extended the acknowledged history, and an
    # approved candidate holds all of it (spec.properties.history_extends).
    in_flight = ("PromotionApproved", "AuthorityTransitioning")
    if s.broken or any(
        node.lifecycle in in_flight and not _is_prefix(s.acked, node.durable.wal) for node in nodes
    ):
        bad.append("P6-S2")
    # P6-F2: no marker is left torn.
    if any(node.durable.marker_role == "Torn" for node in nodes):
        bad.append("P6-F2")
    # P6-F3: every validation follows its own explicit request.
    if any(node.record.validations > 1 for node in nodes):
        bad.append("P6-F3")
    return bad


# --- enumeration --------------------------------------------------------------------


def _candidates(s: ClusterState) -> Iterator[Action]:
    """A superset of the core's enabled actions, in the order of core.candidate_actions."""
    nodes = s.nodes
    n = len(nodes)
    for p in range(n):
        if nodes[p].writable:
            yield Write(p)
            yield Ack(p)
    for p in range(n):
        prim = nodes[p]
        if not prim.up or prim.durable.marker_role != "Primary":
            continue
        for r in range(n):
            rep = nodes[r]
            if (
                p != r
                and rep.up
                and rep.durable.marker_role == "Replica"
                and len(rep.durable.wal) < len(prim.durable.wal)
            ):
                yield Replicate(p, r)
                if rep.durable.epoch < prim.durable.epoch:
                    yield Adopt(p, r)
                yield Diverge(p, r)
    for i in range(n):
        node = nodes[i]
        vol = node.volatile
        if vol is None:
            if node.durable.marker_role != "Torn":
                yield Restart(i)
            continue
        if vol.marker_stage == 0:
            yield Crash(i, None)
        else:
            for outcome in ("old", "new", "torn"):
                yield Crash(i, outcome)
        if node.durable.marker_role == "Primary" and not vol.active:
            yield Reinstate(i)
            yield Demote(i)
        if vol.active:
            yield StepDown(i)
            if s.mode == "sync":
                for j in range(n):
                    if j != i:
                        yield Designate(i, j)
    for c in range(n):
        node = nodes[c]
        vol = node.volatile
        if vol is None:
            continue
        state = vol.lifecycle
        if state == "Steady":
            yield Request(c, False)
            yield Request(c, True)
        elif state == "PromotionRequested":
            yield Reject(c)
            yield BeginValidation(c)
        elif state == "PromotionValidating":
            for obs in core.DEFAULT_OBSERVATIONS:
                yield Decide(c, obs)
        elif state == "PromotionApproved":
            yield BeginTransition(c)
        elif state == "AuthorityTransitioning":
            if vol.marker_stage < len(core.MARKER_OPS):
                yield MarkerOp(c, core.MARKER_OPS[vol.marker_stage])
            else:
                yield Complete(c)
        else:
            yield Acknowledge(c)


def enabled(s: ClusterState, *, force_is_truthful: bool = True) -> tuple[Action, ...]:
    """The core's enabled actions in ``s`` (equal to core.enabled_actions, faster).

    The environment assumption ``force_is_truthful`` is applied as the core
    applies it (:func:`baton.core.environment_allows`)."""
    return tuple(
        a
        for a in _candidates(s)
        if core.refusal(s, a) is None and (not force_is_truthful or core.environment_allows(s, a))
    )


# --- mutants (wrappers of the core's successor function) ------------------------


Successor = tuple[Action, ClusterState, bool]
"""(action, next state, whether the mutant's broken rule produced it)."""


@dataclass(frozen=True)
class Mutant:
    """A broken variant of the runtime core, as a wrapper of its successor function."""

    name: str
    description: str
    breaks: tuple[str, ...]
    extra: Callable[[ClusterState], Iterator[tuple[Action, ClusterState]]] = field(
        default=lambda s: iter(())
    )
    after: Callable[[ClusterState, Action, ClusterState], ClusterState] = field(
        default=lambda s, a, t: t
    )
    untruthful_force: bool = False
    """Drop the force_is_truthful assumption (baton.core.environment_allows)."""


def _activate(node: NodeState) -> NodeState:
    assert node.volatile is not None
    return replace(node, volatile=replace(node.volatile, active=True))


def _restart_keeps_authority(s: ClusterState, action: Action, t: ClusterState) -> ClusterState:
    # The unfenced restart: a node recovering a primary marker writes at once.
    if isinstance(action, Restart) and t.nodes[action.node].durable.marker_role == "Primary":
        return t.with_node(action.node, _activate(t.nodes[action.node]))
    return t


def _reinstate_during_attempt(s: ClusterState) -> Iterator[tuple[Action, ClusterState]]:
    # The core's Reinstate guard minus "no attempt in flight".
    if s.in_flight() is None or s.writable_nodes():
        return
    top = s.max_epoch()
    for i, node in enumerate(s.nodes):
        if node.up and node.durable.marker_role == "Primary" and node.durable.epoch == top:
            yield Reinstate(i), s.with_node(i, _activate(node))


def _concurrent_attempts(s: ClusterState) -> Iterator[tuple[Action, ClusterState]]:
    # The core's Request guard minus "no other attempt in flight".
    if s.in_flight() is None:
        return
    for c, node in enumerate(s.nodes):
        if node.volatile is None or node.lifecycle != "Steady":
            continue
        for force in (False, True):
            requested = replace(
                node,
                volatile=replace(node.volatile, lifecycle="PromotionRequested", forced=force),
                record=replace(node.record, validations=0),
            )
            yield Request(c, force), s.with_node(c, requested)


MUTANTS: dict[str, Mutant] = {
    m.name: m
    for m in (
        Mutant(
            "restart_keeps_authority",
            "A restarted primary admits writes at once, without reinstatement.",
            ("P6-A1", "P6-S1"),
            after=_restart_keeps_authority,
        ),
        Mutant(
            "reinstate_during_attempt",
            "The controller reinstates a restarted primary while an attempt is in flight.",
            ("P6-S1", "P6-A1"),
            extra=_reinstate_during_attempt,
        ),
        Mutant(
            "concurrent_attempts",
            "Attempts for different candidates may run at once.",
            ("P6-A1", "P6-A3"),
            extra=_concurrent_attempts,
        ),
        Mutant(
            "untruthful_force",
            "Drops the force_is_truthful assumption: an operator forces a promotion "
            "over a primary of Unknown status that in fact still admits writes.",
            ("P6-A1", "P6-A2"),
            untruthful_force=True,
        ),
    )
}


def successors(s: ClusterState, mutant: Mutant | None = None) -> Iterator[Successor]:
    """Every (action, next state, mutated) of the core -- or of the mutant -- from ``s``."""
    truthful = mutant is None or not mutant.untruthful_force
    for action in _candidates(s):
        lying = not core.environment_allows(s, action)
        if truthful and lying:
            continue
        try:
            # core.step checks core.refusal itself: a refused candidate raises and
            # changes nothing, which is cheaper than asking refusal() twice.
            t, _effects = core.step(s, action)
        except ProtocolError:
            continue
        if mutant is not None:
            changed = mutant.after(s, action, t)
            yield action, changed, lying or changed is not t
        else:
            yield action, t, False
    if mutant is not None:
        for action, t in mutant.extra(s):
            yield action, t, True


# --- compact keys and symmetry ------------------------------------------------------

ROLE_CODE = {role: i for i, role in enumerate(core.MARKER_ROLES)}
LC_CODE = {state: i for i, state in enumerate(lifecycle.STATES)}

NodeKey = tuple[Any, ...]


def node_key(node: NodeState) -> NodeKey:
    """One node as a flat tuple: every field of the core's NodeState, WAL as epochs."""
    d, v, r = node.durable, node.volatile, node.record
    wal = tuple(epoch for epoch, _pos in d.wal)
    if v is None:
        return (
            ROLE_CODE[d.marker_role],
            d.epoch,
            wal,
            r.reason,
            r.grant,
            r.previous_epoch,
            r.validations,
        )
    return (
        ROLE_CODE[d.marker_role],
        d.epoch,
        wal,
        r.reason,
        r.grant,
        r.previous_epoch,
        r.validations,
        v.active,
        LC_CODE[v.lifecycle],
        v.forced,
        v.marker_stage,
    )


def state_key(s: ClusterState, symmetry: bool = True) -> tuple[Any, ...]:
    """The compact key of ``s``; with ``symmetry``, the same for every relabelling
    of nodes 1..n-1 (the sync standby is relabelled along)."""
    keys = [node_key(node) for node in s.nodes]
    acked = tuple(epoch for epoch, _pos in s.acked)
    if not symmetry or len(keys) <= 2:
        return (s.standby, acked, s.broken, *keys)
    sync = s.mode == "sync"
    # Sort replicas by (encoding, is-standby) so that ties never split the standby.
    order = sorted(range(1, len(keys)), key=lambda i: (keys[i], sync and i == s.standby))
    standby = s.standby
    if sync and standby != 0:
        standby = 1 + order.index(standby)
    return (standby, acked, s.broken, keys[0], *[keys[i] for i in order])


# --- the search ----------------------------------------------------------------------


@dataclass(frozen=True)
class Bounds:
    """One explored model: cluster size, mode and the two counters' limits."""

    nodes: int = 2
    writes: int = 1
    promotions: int = 1
    mode: str = "async"

    def __post_init__(self) -> None:
        if self.nodes < 2:
            raise ValueError("the explorer needs at least 2 nodes")
        if self.writes < 0 or self.promotions < 0:
            raise ValueError("bounds on writes and promotions must be >= 0")
        if self.mode not in core.MODES:
            raise ValueError(f"mode must be one of {core.MODES}, not {self.mode!r}")

    def label(self) -> str:
        return f"N={self.nodes} W={self.writes} P={self.promotions} {self.mode}"


@dataclass
class Step:
    """One step of a counterexample: the action, whether the mutant made it, the state."""

    action: str
    mutated: bool
    state: ClusterState


@dataclass
class Counterexample:
    """The shortest run of the explored model that reaches a violating state."""

    violated: list[str]
    steps: list[Step]

    def __len__(self) -> int:
        return len(self.steps)


@dataclass
class Result:
    """The outcome of one exploration."""

    bounds: Bounds
    symmetry: bool
    mutant: str | None
    states: int = 0
    transitions: int = 0
    max_depth: int = 0
    seconds: float = 0.0
    finished: bool = False
    max_states: int | None = None
    counterexample: Counterexample | None = None
    properties: tuple[str, ...] = PROPERTY_IDS

    @property
    def verdict(self) -> str:
        """``pass`` (finished, no violation), ``violation`` or ``incomplete``."""
        if self.counterexample is not None:
            return "violation"
        return "pass" if self.finished else "incomplete"

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"

    @property
    def states_per_second(self) -> float:
        return self.states / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        cx = self.counterexample
        return {
            "model": {
                "nodes": self.bounds.nodes,
                "writes": self.bounds.writes,
                "promotions": self.bounds.promotions,
                "mode": self.bounds.mode,
                "symmetry": self.symmetry,
                "mutant": self.mutant,
            },
            "verdict": self.verdict,
            "finished": self.finished,
            "states": self.states,
            "transitions": self.transitions,
            "max_depth": self.max_depth,
            "seconds": round(self.seconds, 3),
            "states_per_second": round(self.states_per_second, 1),
            "max_states": self.max_states,
            "properties": list(self.properties),
            "counterexample": None
            if cx is None
            else {
                "violated": cx.violated,
                "length": len(cx),
                "steps": [{"action": st.action, "mutated": st.mutated} for st in cx.steps],
            },
        }


Progress = Callable[[int, int, int, float], None]
"""progress(states, transitions, depth, seconds), called now and then."""

# Search state: the core state plus the two bound counters (writes, requests used).
_Node = tuple[ClusterState, int, int]


def explore(
    bounds: Bounds,
    *,
    symmetry: bool = True,
    mutant: str | None = None,
    max_states: int | None = None,
    properties: tuple[str, ...] = PROPERTY_IDS,
    progress: Progress | None = None,
    progress_every: int = 50_000,
    visit: Callable[[ClusterState], None] | None = None,
) -> Result:
    """Breadth-first search of every state reachable within ``bounds``.

    Stops at the first state violating one of ``properties`` (BFS: its run is
    a shortest one), when no new state remains (``finished``), or at
    ``max_states`` (not finished). ``visit`` sees every distinct state's
    representative once (tests use it to cross-check every explored state).
    """
    unknown = set(properties) - set(PROPERTY_IDS)
    if unknown or not properties:
        raise ValueError(f"properties must be among {PROPERTY_IDS}, not {sorted(unknown)}")
    checked = set(properties)

    def check(state: ClusterState) -> list[str]:
        return [pid for pid in violated(state) if pid in checked]

    mut: Mutant | None = None
    if mutant is not None:
        if mutant not in MUTANTS:
            raise ValueError(f"unknown mutant {mutant!r}; known: {', '.join(MUTANTS)}")
        mut = MUTANTS[mutant]
    result = Result(bounds, symmetry, mutant, max_states=max_states, properties=properties)
    start = time.perf_counter()
    s0 = core.initial_state(bounds.nodes, bounds.mode)
    key0 = (0, 0, state_key(s0, symmetry))
    # key -> (parent key, action, mutated); the initial state's parent is None.
    parents: dict[tuple[Any, ...], tuple[tuple[Any, ...] | None, Action | None, bool]] = {
        key0: (None, None, False)
    }
    queue: deque[tuple[_Node, tuple[Any, ...], int]] = deque([((s0, 0, 0), key0, 0)])
    transitions = 0
    max_depth = 0
    if visit is not None:
        visit(s0)
    bad = check(s0)
    violation_key: tuple[Any, ...] | None = key0 if bad else None
    next_report = progress_every
    while queue and violation_key is None:
        (s, writes, requests), _key, depth = queue.popleft()
        for action, t, mutated in successors(s, mut):
            w, p = writes, requests
            if isinstance(action, Write):
                if w >= bounds.writes:
                    continue
                w += 1
            elif isinstance(action, Request):
                if p >= bounds.promotions:
                    continue
                p += 1
            transitions += 1
            key = (w, p, state_key(t, symmetry))
            if key in parents:
                continue
            parents[key] = (_key, action, mutated)
            if depth + 1 > max_depth:
                max_depth = depth + 1
            if visit is not None:
                visit(t)
            bad = check(t)
            if bad:
                violation_key = key
                break
            if max_states is not None and len(parents) >= max_states:
                queue.clear()
                break
            queue.append(((t, w, p), key, depth + 1))
        if progress is not None and len(parents) >= next_report:
            next_report += progress_every
            progress(len(parents), transitions, depth, time.perf_counter() - start)
    result.states = len(parents)
    result.transitions = transitions
    result.max_depth = max_depth
    result.finished = violation_key is None and (max_states is None or len(parents) < max_states)
    if violation_key is not None:
        result.counterexample = _replay(s0, violation_key, parents, mut, bad)
    result.seconds = time.perf_counter() - start
    return result


def _replay(
    s0: ClusterState,
    key: tuple[Any, ...],
    parents: dict[tuple[Any, ...], tuple[tuple[Any, ...] | None, Action | None, bool]],
    mut: Mutant | None,
    bad: list[str],
) -> Counterexample:
    """Rebuild the run from the parent pointers, re-executing each step on the core."""
    chain: list[tuple[Action, bool]] = []
    cur: tuple[Any, ...] | None = key
    while cur is not None:
        parent, action, mutated = parents[cur]
        if action is not None:
            chain.append((action, mutated))
        cur = parent
    chain.reverse()
    steps = [Step("initial state", False, s0)]
    state = s0
    for action, mutated in chain:
        for a, t, m in successors(state, mut):
            if a == action and m == mutated:
                state = t
                break
        else:  # pragma: no cover - the parents map only records successors
            raise AssertionError(f"replay: {action.label()} is not a successor")
        steps.append(Step(label(action), mutated, state))
    if not set(bad) <= set(violated(state)):  # pragma: no cover - replay is deterministic
        raise AssertionError("replay did not reach the violating state")
    return Counterexample(bad, steps)


# --- rendering --------------------------------------------------------------------------


def label(action: Action) -> str:
    """A short readable name for an action (Decide shows only what was observed)."""
    if isinstance(action, Decide):
        status = "Unknown" if action.observation.primary_uncertain else "as observed"
        return f"decide(candidate={action.candidate}, primary status {status})"
    if isinstance(action, Crash) and action.outcome is None:
        return f"crash(node={action.node})"
    return action.label()


def describe_state(s: ClusterState) -> str:
    """One line per node: up/down, marker, epoch, WAL, lifecycle; plus the ack log."""
    lines = []
    for i, node in enumerate(s.nodes):
        d = node.durable
        wal = " ".join(f"{e}.{p}" for e, p in d.wal) or "-"
        if node.volatile is None:
            status = "down"
        else:
            status = "WRITABLE" if node.volatile.active else "up"
            status += f" {node.volatile.lifecycle}"
            if node.volatile.marker_stage:
                status += f" marker {node.volatile.marker_stage}/{len(core.MARKER_OPS)}"
        lines.append(f"    node {i}: {status}; marker {d.marker_role}@{d.epoch}; wal [{wal}]")
    acked = " ".join(f"{e}.{p}" for e, p in s.acked) or "-"
    lines.append(f"    acked [{acked}]" + ("; BROKEN history" if s.broken else ""))
    return "\n".join(lines)


def render(result: Result) -> str:
    """The human report: model, counts, verdict, and the counterexample if any."""
    r = result
    head = r.bounds.label() + ("" if r.symmetry else " no-symmetry")
    if r.mutant:
        head += f" mutant={r.mutant}"
    out = [
        f"explore {head}",
        f"  states {r.states}  transitions {r.transitions}  max depth {r.max_depth}  "
        f"{r.seconds:.2f} s  {r.states_per_second:,.0f} states/s",
    ]
    if r.verdict == "pass":
        out.append(f"  PASS: search finished; {', '.join(r.properties)} hold on every state")
    elif r.verdict == "incomplete":
        out.append(
            f"  INCOMPLETE: stopped at --max-states {r.max_states}; "
            "a search that did not finish is not a pass"
        )
    cx = r.counterexample
    if cx is not None:
        out.append(
            f"  VIOLATION of {', '.join(cx.violated)}: shortest counterexample, {len(cx) - 1} steps"
        )
        for k, st in enumerate(cx.steps):
            mark = "  [mutant]" if st.mutated else ""
            out.append(f"  {k:3d}. {st.action}{mark}")
        out.append("  final state:")
        out.append(describe_state(cx.steps[-1].state))
    return "\n".join(out)


# --- pinned regression data ------------------------------------------------------------


def load_manifest() -> dict[str, Any]:
    """proofs/explore_manifest.json: pinned bounds -> states and verdict (pattern 10)."""
    text = resources.files("baton.proofs").joinpath("explore_manifest.json").read_text()
    data: dict[str, Any] = json.loads(text)
    return data


def check_manifest_entry(entry: dict[str, Any]) -> tuple[bool, str, Result]:
    """Run one manifest model and compare with its pinned numbers."""
    bounds = Bounds(entry["nodes"], entry["writes"], entry["promotions"], entry["mode"])
    props = tuple(entry.get("properties", PROPERTY_IDS))
    result = explore(
        bounds, symmetry=entry["symmetry"], mutant=entry.get("mutant"), properties=props
    )
    problems = []
    if result.verdict != entry["verdict"]:
        problems.append(f"verdict {result.verdict} != pinned {entry['verdict']}")
    if "states" in entry and result.states != entry["states"]:
        problems.append(f"states {result.states} != pinned {entry['states']}")
    if "counterexample_steps" in entry:
        got = len(result.counterexample) - 1 if result.counterexample else None
        if got != entry["counterexample_steps"]:
            problems.append(f"counterexample steps {got} != pinned {entry['counterexample_steps']}")
    cx = result.counterexample
    if "violated" in entry and cx is not None and cx.violated != entry["violated"]:
        problems.append(f"violated {cx.violated} != {entry['violated']}")
    detail = "; ".join(problems) or (
        f"{result.states} states, verdict {result.verdict}"
        + (
            f", {len(result.counterexample) - 1}-step counterexample"
            if result.counterexample
            else ""
        )
    )
    return not problems, detail, result
