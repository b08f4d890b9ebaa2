"""Evaluate the cluster model on *concrete* states.

This is how the runtime is checked against the spec step by step: a runtime
cluster is described as a :class:`Snapshot` (plain Python values, WALs as
sequences of entry identities), and this module

* evaluates every property predicate of :mod:`baton.spec.properties` on it
  (:func:`violated_properties`), and
* decides whether one snapshot can follow another by a single action of the
  transition relation of :mod:`baton.spec.cluster` (:func:`explaining_actions`).

Both go through Z3 -- the predicates are substituted with constants and
simplified; a step is a satisfiability query -- so what is checked is the spec
itself, not a re-implementation of it.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from functools import cache
from itertools import combinations

import z3

from . import cluster, lifecycle, properties, validation
from .cluster import MROLE, Config, State


@dataclass(frozen=True)
class NodeSnapshot:
    """One node's state, in the spec's vocabulary."""

    up: bool = True
    role: str = "Replica"  # Replica | Primary | Halted | Torn (marker as recovery reads it)
    epoch: int = 1
    active: bool = False
    wal: tuple[Hashable, ...] = ()
    lifecycle: str = "Steady"
    forced: bool = False
    reason: str = validation.ALLOWED
    grant: int = 0
    pepoch: int = 0
    marker_stage: int = 0
    validations: int = 0


@dataclass(frozen=True)
class Snapshot:
    """A whole cluster: nodes, the acknowledged history (ghost), sync standby."""

    nodes: tuple[NodeSnapshot, ...]
    acked: tuple[Hashable, ...] = ()
    standby: int = 1
    broken: bool = False
    extra: dict[str, int] = field(default_factory=dict, compare=False)

    @property
    def n(self) -> int:
        return len(self.nodes)

    def logs(self) -> list[tuple[Hashable, ...]]:
        return [node.wal for node in self.nodes] + [self.acked]


def common_prefix(a: Sequence[Hashable], b: Sequence[Hashable]) -> int:
    """Length of the longest common prefix of two logs."""
    k = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        k += 1
    return k


def bind(snapshot: Snapshot, s: State) -> z3.BoolRef:
    """Constraints fixing every variable of ``s`` to the snapshot's values."""
    cs: list[z3.BoolRef] = []
    for i, node in enumerate(snapshot.nodes):
        cs += [
            s.up[i] == node.up,
            s.role[i] == MROLE[node.role],
            s.epoch[i] == node.epoch,
            s.active[i] == node.active,
            s.wlen[i] == len(node.wal),
            s.lc[i] == lifecycle.STATES[node.lifecycle],
            s.forced[i] == node.forced,
            s.reason[i] == validation.DECISION[node.reason],
            s.grant[i] == node.grant,
            s.pepoch[i] == node.pepoch,
            s.mstage[i] == node.marker_stage,
            s.vcount[i] == node.validations,
        ]
    cs += [
        s.alen == len(snapshot.acked),
        s.standby == snapshot.standby,
        s.broken == snapshot.broken,
    ]
    logs = snapshot.logs()
    for i, j in combinations(range(snapshot.n + 1), 2):
        cs.append(s.lcp_pairs[(i, j)] == common_prefix(logs[i], logs[j]))
    return z3.And(*cs)


def _substitution(snapshot: Snapshot, s: State) -> list[tuple[z3.ExprRef, z3.ExprRef]]:
    pairs: list[tuple[z3.ExprRef, z3.ExprRef]] = []
    for eq in bind(snapshot, s).children():
        lhs, rhs = eq.children()
        pairs.append((lhs, rhs))
    return pairs


def violated_properties(
    snapshot: Snapshot, props: Sequence[properties.Property] = properties.PROPERTIES
) -> list[str]:
    """IDs of the properties the snapshot violates (empty when it satisfies all)."""
    s = cluster.fresh_state(snapshot.n, "concrete")
    subst = _substitution(snapshot, s)
    bad = []
    for prop in props:
        value = z3.simplify(z3.substitute(prop.holds(s), *subst))
        if not z3.is_true(value):
            bad.append(prop.id)
    return bad


@cache
def _relation(cfg: Config) -> tuple[State, State, tuple[cluster.Action, ...]]:
    """The step relation of ``cfg`` over two fresh states (built once per process)."""
    s, t = cluster.fresh_state(cfg.n, "before"), cluster.fresh_state(cfg.n, "after")
    return s, t, tuple(cluster.actions(cfg, s, t, "step"))


def explaining_actions(cfg: Config, before: Snapshot, after: Snapshot) -> list[str]:
    """Every action instance (``name[nodes]``) that takes ``before`` to ``after``.

    Empty means the step is not allowed by the spec's transition relation.
    """
    s, t, acts = _relation(cfg)
    solver = z3.Solver()
    solver.add(bind(before, s), bind(after, t))
    found = []
    for act in acts:
        solver.push()
        solver.add(act.formula)
        if solver.check() == z3.sat:
            found.append(f"{act.name}{list(act.nodes)}")
        solver.pop()
    return found
