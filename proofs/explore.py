"""Explicit-state exploration of the runtime core: every reachable step, checked against the spec.

Where :mod:`baton.proofs.bmc` and :mod:`baton.proofs.induction` reason about
the *spec* symbolically, this module runs the *runtime's* pure core
(:mod:`baton.core`) itself: starting from :func:`baton.core.initial_state`, it
takes every action the core enables (:func:`baton.core.successors`: every
crash point and outcome, every observation of a validation) breadth first,
until no new state appears, and asks the spec about everything it sees:

* the initial state must satisfy the spec's ``cluster.initial``;
* every transition must be a step of the spec's transition relation
  (``baton.spec.cluster.actions``) -- refinement, on the spec-level view of
  the two states (:func:`abstraction`, the same mapping as
  ``core.to_snapshot``);
* every state must satisfy the spec's property predicates
  (``baton.spec.properties``: P6-A1, P6-A2, P6-A3, P6-S1, P6-S2, P6-F2, P6-F3).

The spec's Z3 terms are compiled to Python once per configuration
(:mod:`baton.spec.compiled`); nothing here restates a rule.

Bounds
======
The core's state space is infinite (WALs grow, epochs climb), so a run is
bounded by two counters kept *outside* the core, in the search state: at most
``writes`` client writes and at most ``promotions`` promotion requests per
run. Everything else (crashes, restarts, replication, acknowledgements, every
lifecycle step) is unbounded; with the two counters fixed the reachable set is
finite, and the search must exhaust it -- a run that stops at ``max_states``
is reported as *incomplete*, never as a pass.

Reductions (each harmless; docs/explorer.md gives the argument)
================================================================
* **Symmetry.** Nodes other than node 0 (the initial primary) are
  interchangeable: the core treats node ids only as names, and initially they
  are all replicas. The key sorts their per-node encodings (carrying the sync
  standby along), so states that differ only by a relabelling of replicas are
  explored once. The spec's relation and properties are invariant under
  relabelling; shortest-path lengths are preserved.
* **Dead values.** The key leaves out values no guard reads before they are
  written again (:func:`dead_masked`).

Counterexamples
===============
Each visited key remembers its BFS parent and the action that reached it;
the stored representative of a key is the very state that action produced,
so the chain of representatives is a real run of the core. A violation, or
a step the spec cannot explain, is reported with the shortest such run
(BFS), replayed step by step, showing what each step changed.

Mutants
=======
The core has no mutant hooks, so the broken variants live here, as wrappers of
its successor function (:data:`MUTANTS`): ``restart_keeps_authority``,
``reinstate_during_attempt`` and ``concurrent_attempts`` -- the unguarded
designs of the gap between an approval and a durable marker -- and
``untruthful_force``. Each must yield a counterexample; a mutant that yields
none is a weak search.
"""

from __future__ import annotations

import json
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import Any

from baton import core, lifecycle
from baton.core import (
    Action,
    ClusterState,
    Crash,
    Decide,
    NodeState,
    Reinstate,
    Request,
    Restart,
    Write,
)
from baton.spec import cluster as spec_cluster
from baton.spec import compiled as spec_compiled
from baton.spec import properties as spec_properties
from baton.spec.cluster import Config
from baton.spec.compiled import Flat

PROPERTY_IDS: tuple[str, ...] = spec_properties.PROPERTY_IDS
"""The cluster properties checked on every state: baton.spec.properties' own."""

REFINEMENT = "refinement"
"""What a counterexample violates when a core step is no step of the spec."""


# --- the refinement mapping: core state -> the spec's concrete variables ------------


def spec_config(bounds: Bounds, mutant: Mutant | None = None) -> Config:
    """The spec configuration a core run of ``bounds`` refines (an untruthful-force
    run refines the spec without that assumption)."""
    dropped = (
        frozenset({"force_is_truthful"}) if mutant and mutant.untruthful_force else frozenset()
    )
    return Config(bounds.nodes, bounds.mode, dropped=dropped)


def violated(s: ClusterState) -> list[str]:
    """IDs of the spec's properties ``s`` violates, in :data:`PROPERTY_IDS` order
    (the spec's predicates, compiled: baton.spec.compiled)."""
    cfg = Config(s.n, s.mode)
    return spec_compiled.compiled(cfg).violated(abstraction(s))


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


def successors(
    s: ClusterState,
    mutant: Mutant | None = None,
    admit: Callable[[Action], bool] | None = None,
) -> Iterator[Successor]:
    """Every (action, next state, mutated) of the core -- or of the mutant -- from ``s``.

    The core enumerates its own enabled actions (baton.core.successors, every
    observation): the explorer prunes nothing but, through ``admit``, the
    writes and requests beyond its bounds."""
    truthful = mutant is None or not mutant.untruthful_force
    for action, t in core.successors(
        s, core.ALL_OBSERVATIONS, force_is_truthful=truthful, admit=admit
    ):
        if mutant is None:
            yield action, t, False
            continue
        lying = not truthful and not core.environment_allows(s, action)
        changed = mutant.after(s, action, t)
        yield action, changed, lying or changed is not t
    if mutant is not None:
        for action, t in mutant.extra(s):
            yield action, t, True


# --- one encoding: the visited-set key and the refinement mapping -----------------------
#
# A node is encoded once as a flat tuple: the spec's twelve per-node variables
# (baton.spec.cluster.NODE_FIELDS order, enumeration values as the spec's
# indexes, a down node with the values the spec's crash leaves) followed by its
# WAL as a tuple of epochs (an entry's position is its index + 1, so the epoch
# identifies it). The visited-set key is made of these codes; the spec-level
# abstraction (what the compiled spec reads) is their columns plus the
# acknowledged log's length, the standby, the broken flag and the longest
# common prefix of every pair of logs.

_CODES = spec_compiled.value_codes()
_ROLE, _LC, _REASON = _CODES["role"], _CODES["lifecycle"], _CODES["reason"]
_STEADY = _LC[lifecycle.RECOVERY_STATE]
_TRANSITIONING = _LC["AuthorityTransitioning"]
_ALLOWED = _REASON["allowed"]
_ROLES_BY_CODE = {code: role for role, code in _ROLE.items()}
_LCS_BY_CODE = {code: state for state, code in _LC.items()}
_REASONS_BY_CODE = {code: reason for reason, code in _REASON.items()}
_FIELDS = len(spec_cluster.NODE_FIELDS)

NodeKey = tuple[Any, ...]


def node_key(node: NodeState) -> NodeKey:
    """One node as a flat tuple: the spec's per-node variables, then the WAL as epochs.

    Lossless: every field of the core's NodeState is in it (decode_node)."""
    d, v, r = node.durable, node.volatile, node.record
    wal = tuple([epoch for epoch, _pos in d.wal])
    role, reason = _ROLE[d.marker_role], _REASON[r.reason]
    if v is None:
        return (
            0,
            role,
            d.epoch,
            0,
            len(wal),
            _STEADY,
            0,
            reason,
            r.grant,
            r.previous_epoch,
            0,
            r.validations,
            wal,
        )
    return (
        1,
        role,
        d.epoch,
        int(v.active),
        len(wal),
        _LC[v.lifecycle],
        int(v.forced),
        reason,
        r.grant,
        r.previous_epoch,
        v.marker_stage,
        r.validations,
        wal,
    )


def decode_node(key: NodeKey) -> NodeState:
    """The node a :func:`node_key` encodes."""
    up, role, epoch, active, _wlen, lc, forced, reason, grant, pepoch, stage, vcount, wal = key
    durable = core.Durable(
        _ROLES_BY_CODE[role], epoch, tuple((e, k + 1) for k, e in enumerate(wal))
    )
    record = core.AttemptRecord(_REASONS_BY_CODE[reason], grant, pepoch, vcount)
    volatile = core.Volatile(bool(active), _LCS_BY_CODE[lc], bool(forced), stage) if up else None
    return NodeState(durable, volatile, record)


def decode_state(key: tuple[Any, ...], mode: str) -> ClusterState:
    """The core state a :func:`state_key` encodes (with symmetry: the orbit's
    canonical member, itself a state of the orbit)."""
    standby, acked, broken, *nodes = key
    return ClusterState(
        mode=mode,
        nodes=tuple(decode_node(k) for k in nodes),
        standby=standby,
        acked=tuple((e, k + 1) for k, e in enumerate(acked)),
        broken=broken,
    )


def _lcp(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    if a == b:
        return len(a)
    k = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        k += 1
    return k


def dead_masked(code: NodeKey) -> NodeKey:
    """A node's code with its dead variables set to their initial values.

    Dead-variable reduction: ``reason`` (the last decision) is written by
    Decide and read by no guard, no step and no property, of the core or of the
    spec; ``grant`` and ``previous_epoch`` are read only by the marker write
    (MarkerOp, and Crash with marker operations done) while the node is
    AuthorityTransitioning, and BeginTransition, the only way into that state,
    writes both first. States that differ only in dead values have the same enabled actions
    and successors that differ only in dead values, so keying them together
    loses no run, no violation and no spec step (docs/explorer.md; tests check
    it on explored states)."""
    up, role, epoch, active, wlen, lc, forced, reason, grant, pepoch, stage, vcount, wal = code
    live = up and lc == _TRANSITIONING
    if reason == _ALLOWED and (live or (grant == 0 and pepoch == 0)):
        return code
    return (
        up,
        role,
        epoch,
        active,
        wlen,
        lc,
        forced,
        _ALLOWED,
        grant if live else 0,
        pepoch if live else 0,
        stage,
        vcount,
        wal,
    )


def _key(
    s: ClusterState, masked: list[NodeKey], acked: tuple[int, ...], symmetry: bool
) -> tuple[Any, ...]:
    if not symmetry or len(masked) <= 2:
        return (s.standby, acked, s.broken, *masked)
    sync = s.mode == "sync"
    standby = s.standby
    if len(masked) == 3:
        # Two replicas: order them by (encoding, is-standby), as the general case.
        a, b = masked[1], masked[2]
        if (a, sync and standby == 1) <= (b, sync and standby == 2):
            return (standby, acked, s.broken, masked[0], a, b)
        if sync and standby != 0:
            standby = 3 - standby
        return (standby, acked, s.broken, masked[0], b, a)
    # Sort replicas by (encoding, is-standby) so that ties never split the standby.
    order = sorted(range(1, len(masked)), key=lambda i: (masked[i], sync and i == standby))
    if sync and standby != 0:
        standby = 1 + order.index(standby)
    return (standby, acked, s.broken, masked[0], *[masked[i] for i in order])


_LCP_CACHE: dict[tuple[tuple[int, ...], tuple[int, ...]], int] = {}


def _lcp_cached(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    found = _LCP_CACHE.get((a, b))
    if found is None:
        found = _LCP_CACHE[(a, b)] = _lcp(a, b)
    return found


Encoding = tuple[tuple[Any, ...], Flat, list[NodeKey], list[NodeKey]]
"""(visited-set key, spec abstraction, node codes, node codes with dead values masked)."""


def encode(
    s: ClusterState,
    symmetry: bool = True,
    known: tuple[ClusterState, Encoding] | None = None,
) -> Encoding:
    """Key, abstraction and node codes of ``s``. ``known``: a state ``s`` was
    derived from, with its encoding; nodes ``s`` shares with it (the same
    objects: a step rebuilds only what it changes) keep their codes, and common
    prefixes of logs both share keep their length."""
    nodes = s.nodes
    n = len(nodes)
    if known is None:
        codes = [node_key(node) for node in nodes]
        masked = [dead_masked(c) for c in codes]
        reuse: list[bool] = [False] * (n + 1)
        old_flat: Flat = ()
    else:
        parent, (_k, old_flat, old_codes, old_masked) = known
        old_nodes = parent.nodes
        codes = list(old_codes)
        masked = list(old_masked)
        reuse = [True] * (n + 1)
        for i in range(n):
            if nodes[i] is not old_nodes[i]:
                codes[i] = code = node_key(nodes[i])
                masked[i] = dead_masked(code)
                reuse[i] = nodes[i].durable.wal is old_nodes[i].durable.wal
        reuse[n] = s.acked is parent.acked
    acked = tuple([epoch for epoch, _pos in s.acked])
    flat: tuple[int, ...] = ()
    for c in codes:
        flat += c[:_FIELDS]
    logs = [c[-1] for c in codes]
    logs.append(acked)
    base = _FIELDS * n + 3
    lcps: list[int] = []
    k = base
    for i in range(n + 1):
        for j in range(i + 1, n + 1):
            lcps.append(old_flat[k] if reuse[i] and reuse[j] else _lcp_cached(logs[i], logs[j]))
            k += 1
    flat = (*flat, len(acked), s.standby, int(s.broken), *lcps)
    return _key(s, masked, acked, symmetry), flat, codes, masked


def abstraction(s: ClusterState) -> Flat:
    """The spec's variables of ``s`` as a flat tuple (baton.spec.compiled.Layout):
    the refinement mapping, as ``compiled.flatten(core.to_snapshot(s))`` (tests
    check it on explored states) without building the snapshot."""
    return encode(s)[1]


def state_key(s: ClusterState, symmetry: bool = True) -> tuple[Any, ...]:
    """The compact key of ``s``; with ``symmetry``, the same for every relabelling
    of nodes 1..n-1 (the sync standby is relabelled along)."""
    return encode(s, symmetry)[0]


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
    """The shortest run of the explored model that reaches a violating state.

    ``violated`` names properties, or :data:`REFINEMENT` when the last step
    is a core step no action of the spec explains (``detail`` says which)."""

    violated: list[str]
    steps: list[Step]
    detail: str = ""

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
    refinement: bool = True
    workers: int = 1
    cpu_seconds: float = 0.0
    """CPU time of the search in this process (robust to a loaded machine; with
    workers > 1 it leaves out the workers' time)."""
    setup_seconds: float = 0.0
    """Of ``seconds``, the time to start the partitions (partitioned search)."""
    backend: str = "local"
    """``local`` (one process), ``processes`` (forked partitions) or ``ray``."""
    worker_peak_rss_mb: list[float] = field(default_factory=list)
    """Peak resident set size of each partition's process (partitioned search)."""
    worker_states: list[int] = field(default_factory=list)
    """States stored by each partition at the end (partitioned search)."""
    worker_cpu_seconds: list[float] = field(default_factory=list)
    """CPU time each partition spent searching (partitioned search)."""

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
            "checks": {"properties": list(self.properties), "refinement": self.refinement},
            "workers": self.workers,
            "backend": self.backend,
            "worker_peak_rss_mb": [round(mb, 1) for mb in self.worker_peak_rss_mb],
            "worker_states": self.worker_states,
            "worker_cpu_seconds": [round(cpu, 2) for cpu in self.worker_cpu_seconds],
            "verdict": self.verdict,
            "finished": self.finished,
            "states": self.states,
            "transitions": self.transitions,
            "max_depth": self.max_depth,
            "seconds": round(self.seconds, 3),
            "cpu_seconds": round(self.cpu_seconds, 3),
            "setup_seconds": round(self.setup_seconds, 3),
            "states_per_second": round(self.states_per_second, 1),
            "max_states": self.max_states,
            "properties": list(self.properties),
            "counterexample": None if cx is None else counterexample_json(cx),
        }


Progress = Callable[[int, int, int, float], None]
"""progress(states, transitions, depth, seconds), called now and then."""

# Search state: the core state plus the two bound counters (writes, requests used).
_Node = tuple[ClusterState, int, int]
_Parents = dict[tuple[Any, ...], tuple[tuple[Any, ...] | None, Action | None, bool]]


def _admit(writes: int, requests: int, bounds: Bounds) -> Callable[[Action], bool] | None:
    """The bounds as a filter on enabled actions (None: every action is within them)."""
    more_writes, more_requests = writes < bounds.writes, requests < bounds.promotions
    if more_writes and more_requests:
        return None
    return lambda a: (
        (more_writes or not isinstance(a, Write)) and (more_requests or not isinstance(a, Request))
    )


def _counters(action: Action, writes: int, requests: int) -> tuple[int, int]:
    """The bound counters after ``action``."""
    if isinstance(action, Write):
        return writes + 1, requests
    if isinstance(action, Request):
        return writes, requests + 1
    return writes, requests


def _unexplained(
    model: spec_compiled.CompiledModel, before: Flat, after: Flat, action: Action
) -> str:
    names = core.spec_action_names(action)
    changed = spec_compiled.changed_variables(model.layout.n, before, after)
    return (
        f"core step {label(action)} is no step of the spec: neither "
        f"{' nor '.join(names)} nor any other action of baton.spec.cluster takes the "
        f"state before to the state after (spec variables changed: {', '.join(changed) or 'none'})"
    )


def explore(
    bounds: Bounds,
    *,
    symmetry: bool = True,
    mutant: str | None = None,
    max_states: int | None = None,
    properties: tuple[str, ...] = PROPERTY_IDS,
    refinement: bool = True,
    progress: Progress | None = None,
    progress_every: int = 50_000,
    visit: Callable[[ClusterState], None] | None = None,
    workers: int = 1,
    ray: str | None = None,
) -> Result:
    """Breadth-first search of every state reachable within ``bounds``.

    On every state it evaluates the spec's property predicates ``properties``;
    with ``refinement`` it checks that every transition it takes is a step of
    the spec's transition relation (baton.spec.cluster.actions). Stops at the
    first violation (BFS: its run is a shortest one), when no new state
    remains (``finished``), or at ``max_states`` (not finished). ``visit``
    sees every distinct state's representative once.

    ``workers`` > 1 (0: one per CPU) runs the partitioned level-synchronous
    search (:mod:`baton.proofs.distributed`) on forked processes; ``ray`` (an
    address, ``auto``, or :data:`baton.proofs.ray_backend.LOCAL` to start a
    local Ray instance) runs it on Ray actors, ``workers`` of them (0: one per
    CPU of the cluster). Either counts the same states and transitions and
    finds a counterexample as short as this search's; ``max_states`` then
    stops after the level that reaches it. ``visit`` needs the sequential
    search.
    """
    if ray is not None and visit is not None:
        raise ValueError("visit needs the sequential search (the states stay on the workers)")
    if ray is not None or (workers != 1 and visit is None and max_states is None):
        from . import distributed

        spec = distributed.SearchSpec(bounds, symmetry, mutant, properties, refinement)
        if ray is not None:
            from . import ray_backend

            factory = ray_backend.ray_backend(ray, workers)
        else:
            factory = distributed.local_backend(workers or os.cpu_count() or 1)
        result = distributed.search(spec, factory, max_states=max_states, progress=progress)
        result.backend = "ray" if ray is not None else "processes"
        return result
    unknown = set(properties) - set(PROPERTY_IDS)
    if unknown or not properties:
        raise ValueError(f"properties must be among {PROPERTY_IDS}, not {sorted(unknown)}")
    checked = set(properties)
    mut = _mutant(mutant)
    model = spec_compiled.compiled(spec_config(bounds, mut))
    props = tuple(p.holds for p in model.properties if p.id in checked)
    prop_ids = [p.id for p in model.properties if p.id in checked]

    def check(flat: Flat) -> list[str]:
        for holds in props:
            if not holds(flat):
                return [pid for pid, h in zip(prop_ids, props, strict=True) if not h(flat)]
        return []

    result = Result(
        bounds,
        symmetry,
        mutant,
        max_states=max_states,
        properties=properties,
        refinement=refinement,
    )
    start = time.perf_counter()
    cpu_start = time.process_time()
    s0 = core.initial_state(bounds.nodes, bounds.mode)
    enc0 = encode(s0, symmetry)
    skey0, flat0 = enc0[0], enc0[1]
    key0 = (0, 0, skey0)
    # key -> (parent key, action, mutated); the initial state's parent is None.
    parents: _Parents = {key0: (None, None, False)}
    queue: deque[tuple[_Node, tuple[Any, ...], int, Encoding]] = deque()
    queue.append(((s0, 0, 0), key0, 0, enc0))
    transitions = 0
    max_depth = 0
    if visit is not None:
        visit(s0)
    bad = check(flat0)
    detail = ""
    if refinement and not model.initial(flat0):
        # The run must start where the spec's runs start (cluster.initial).
        bad = [REFINEMENT]
        detail = "the core's initial state is not an initial state of the spec (cluster.initial)"
    violation: tuple[tuple[Any, ...], Action | None, bool] | None = (
        (key0, None, False) if bad else None
    )
    next_report = progress_every
    explains = model.explains
    spec_names = core.spec_action_names
    while queue and violation is None:
        (s, writes, requests), skey, depth, enc_s = queue.popleft()
        flat_s = enc_s[1]
        admit = _admit(writes, requests, bounds)
        known = (s, enc_s)
        # Steps of s to the same spec-level state (the 24 observations of a
        # validation mostly decide alike) are one refinement question: ask once.
        explained: set[Flat] = set()
        for action, t, mutated in successors(s, mut, admit):
            transitions += 1
            enc_t = encode(t, symmetry, known)
            tkey, flat_t = enc_t[0], enc_t[1]
            if refinement and flat_t not in explained:
                if explains(flat_s, flat_t, spec_names(action)) is None:
                    bad = [REFINEMENT]
                    detail = _unexplained(model, flat_s, flat_t, action)
                    violation = (skey, action, mutated)
                    break
                explained.add(flat_t)
            counters = _counters(action, writes, requests)
            key = (*counters, tkey)
            if key in parents:
                continue
            parents[key] = (skey, action, mutated)
            if depth + 1 > max_depth:
                max_depth = depth + 1
            if visit is not None:
                visit(t)
            bad = check(flat_t)
            if bad:
                violation = (key, None, False)
                break
            if max_states is not None and len(parents) >= max_states:
                queue.clear()
                break
            queue.append(((t, *counters), key, depth + 1, enc_t))
        if progress is not None and len(parents) >= next_report:
            next_report += progress_every
            progress(len(parents), transitions, depth, time.perf_counter() - start)
    result.states = len(parents)
    result.transitions = transitions
    result.max_depth = max_depth
    result.finished = violation is None and (max_states is None or len(parents) < max_states)
    if violation is not None:
        key, last, last_mutated = violation
        result.counterexample = _replay(s0, key, parents, mut, last, last_mutated, bad, detail)
    result.seconds = time.perf_counter() - start
    result.cpu_seconds = time.process_time() - cpu_start
    return result


def counterexample_json(cx: Counterexample) -> dict[str, Any]:
    """A counterexample as data: what it violates and each step with what changed."""
    return {
        "violated": cx.violated,
        "detail": cx.detail,
        "length": len(cx) - 1,
        "steps": [
            {
                "action": st.action,
                "mutated": st.mutated,
                "changes": state_changes(prev.state, st.state),
            }
            for prev, st in zip(cx.steps, cx.steps[1:], strict=False)
        ],
    }


def _mutant(name: str | None) -> Mutant | None:
    if name is None:
        return None
    if name not in MUTANTS:
        raise ValueError(f"unknown mutant {name!r}; known: {', '.join(MUTANTS)}")
    return MUTANTS[name]


def _replay(
    s0: ClusterState,
    key: tuple[Any, ...],
    parents: _Parents,
    mut: Mutant | None,
    last: Action | None,
    last_mutated: bool,
    bad: list[str],
    detail: str,
) -> Counterexample:
    """Rebuild the run from the parent pointers, re-executing each step on the core
    (then ``last``, the unexplained step, when the violation is one)."""
    chain: list[tuple[Action, bool]] = []
    cur: tuple[Any, ...] | None = key
    while cur is not None:
        parent, action, mutated = parents[cur]
        if action is not None:
            chain.append((action, mutated))
        cur = parent
    chain.reverse()
    if last is not None:
        chain.append((last, last_mutated))
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
    if last is None and chain and not set(bad) <= set(violated(state)):  # pragma: no cover
        raise AssertionError("replay did not reach the violating state")
    return Counterexample(bad, steps, detail)


# --- rendering --------------------------------------------------------------------------


def label(action: Action) -> str:
    """A short readable name for an action, nodes named n0, n1, ..."""
    if isinstance(action, Decide):
        obs = action.observation
        seen = ["primary status Unknown" if obs.primary_uncertain else "primary status as observed"]
        if not obs.bound_known:
            seen.append("ack bound unknown")
        if not obs.prefix_known:
            seen.append("prefix unknown")
        if obs.mvcc != "Preserved":
            seen.append(f"MVCC {obs.mvcc}")
        return f"decide(n{action.candidate}; {', '.join(seen)})"
    if isinstance(action, Crash) and action.outcome is None:
        return f"crash(n{action.node})"
    args = []
    for k, v in action.__dict__.items():
        if k in core.NODE_FIELDS and isinstance(v, int):
            args.append(f"n{v}" if k in ("node", "candidate") else f"{k}=n{v}")
        else:
            args.append(f"{k}={v!r}")
    return f"{action.name}({', '.join(args)})"


def _wal_text(wal: tuple[core.Entry, ...]) -> str:
    return "[" + " ".join(f"{e}.{p}" for e, p in wal) + "]"


def _node_facts(node: NodeState) -> dict[str, str]:
    d, v, r = node.durable, node.volatile, node.record
    facts = {
        "process": "down" if v is None else ("writable" if v.active else "up"),
        "marker": f"{d.marker_role}@{d.epoch}",
        "wal": _wal_text(d.wal),
        "reason": r.reason,
        "grant": str(r.grant),
        "validations": str(r.validations),
    }
    if v is not None:
        facts["lifecycle"] = v.lifecycle
        facts["forced"] = str(v.forced)
        facts["marker stage"] = f"{v.marker_stage}/{len(core.MARKER_OPS)}"
    return facts


def state_changes(before: ClusterState, after: ClusterState) -> list[str]:
    """What changed from ``before`` to ``after``, one item per node or global fact."""
    out: list[str] = []
    for i, (a, b) in enumerate(zip(before.nodes, after.nodes, strict=True)):
        fa, fb = _node_facts(a), _node_facts(b)
        diffs = [
            f"{k} {fa.get(k, '-')} -> {fb.get(k, '-')}"
            for k in dict.fromkeys([*fa, *fb])
            # A process going down or up: its volatile facts appear or vanish with it.
            if k in fa and k in fb and fa[k] != fb[k]
        ]
        if diffs:
            out.append(f"n{i}: " + "; ".join(diffs))
    if before.acked != after.acked:
        out.append(f"acked {_wal_text(before.acked)} -> {_wal_text(after.acked)}")
    if before.broken != after.broken:
        out.append(f"acknowledged history broken: {after.broken}")
    if before.standby != after.standby:
        out.append(f"sync standby n{before.standby} -> n{after.standby}")
    return out


def describe_state(s: ClusterState) -> str:
    """One line per node: up/down, marker, epoch, WAL, lifecycle; plus the ack log."""
    lines = []
    for i, node in enumerate(s.nodes):
        d = node.durable
        if node.volatile is None:
            status = "down"
        else:
            status = "WRITABLE" if node.volatile.active else "up"
            status += f" {node.volatile.lifecycle}"
            if node.volatile.marker_stage:
                status += f" marker {node.volatile.marker_stage}/{len(core.MARKER_OPS)}"
        lines.append(
            f"    n{i}: {status}; marker {d.marker_role}@{d.epoch}; wal {_wal_text(d.wal)}"
        )
    lines.append(f"    acked {_wal_text(s.acked)}" + ("; BROKEN history" if s.broken else ""))
    if s.mode == "sync":
        lines.append(f"    sync standby n{s.standby}")
    return "\n".join(lines)


def render(result: Result) -> str:
    """The human report: model, counts, verdict, and the counterexample if any."""
    r = result
    head = r.bounds.label() + ("" if r.symmetry else " no-symmetry")
    if r.mutant:
        head += f" mutant={r.mutant}"
    checks = ", ".join(r.properties) + (" + refinement" if r.refinement else "")
    out = [
        f"explore {head}",
        f"  checks {checks}; {r.workers} worker{'s' if r.workers != 1 else ''}",
        f"  states {r.states}  transitions {r.transitions}  max depth {r.max_depth}  "
        f"{r.seconds:.2f} s  {r.states_per_second:,.0f} states/s",
    ]
    if r.worker_peak_rss_mb:
        out.append(
            f"  {r.backend} partitions: states "
            + " / ".join(f"{k:,}" for k in r.worker_states)
            + "; peak RSS MB "
            + " / ".join(f"{mb:.0f}" for mb in r.worker_peak_rss_mb)
        )
    if r.verdict == "pass":
        what = "every core step is a spec step; " if r.refinement else ""
        out.append(f"  PASS: search finished; {what}{', '.join(r.properties)} hold on every state")
    elif r.verdict == "incomplete":
        out.append(
            f"  INCOMPLETE: stopped at --max-states {r.max_states}; "
            "a search that did not finish is not a pass"
        )
    cx = r.counterexample
    if cx is not None:
        what = (
            "REFINEMENT FAILURE: a core step the spec cannot explain"
            if cx.violated == [REFINEMENT]
            else f"VIOLATION of {', '.join(cx.violated)}"
        )
        out.append(f"  {what}: shortest counterexample, {len(cx) - 1} steps")
        out.append("  initial state:")
        out.append(describe_state(cx.steps[0].state))
        for k, (prev, st) in enumerate(zip(cx.steps, cx.steps[1:], strict=False), start=1):
            mark = "  [mutant]" if st.mutated else ""
            out.append(f"  {k:3d}. {st.action}{mark}")
            for change in state_changes(prev.state, st.state):
                out.append(f"         {change}")
        if cx.detail:
            out.append(f"  {cx.detail}")
        out.append("  final state:")
        out.append(describe_state(cx.steps[-1].state))
    return "\n".join(out)


# --- pinned regression data ------------------------------------------------------------


def load_manifest() -> dict[str, Any]:
    """proofs/explore_manifest.json: pinned bounds -> states and verdict ."""
    text = resources.files("baton.proofs").joinpath("explore_manifest.json").read_text()
    data: dict[str, Any] = json.loads(text)
    return data


def check_manifest_entry(entry: dict[str, Any]) -> tuple[bool, str, Result]:
    """Run one manifest model and compare with its pinned numbers."""
    bounds = Bounds(entry["nodes"], entry["writes"], entry["promotions"], entry["mode"])
    props = tuple(entry.get("properties", PROPERTY_IDS))
    result = explore(
        bounds,
        symmetry=entry["symmetry"],
        mutant=entry.get("mutant"),
        properties=props,
        refinement=entry.get("refinement", True),
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
