"""The safety properties as Z3 predicates, each with its reachability companion.

A property is an ``always`` claim over every reachable cluster state. A proof
of it counts only if its *companion* -- a ``sometimes`` claim that the good
path the property is about is reachable -- has a witness, so that no property
holds vacuously (a proof of an ``always`` claim over an empty set of runs proves nothing).

Most properties are claims about single states (:data:`PROPERTIES`). One
part of P6-A3 -- epochs never go backwards -- is a claim about every *step*
and is stated over pairs of states (:data:`STEP_PROPERTIES`); the proofs check
it on every transition.

Properties about the validation rule (P6-F1, P6-D1, P6-A1a, P6-S3) and the
lifecycle (P6-D2, P6-F3, P6-O1, P6-O2) are stated over those models in
:mod:`baton.spec.validation` and :mod:`baton.spec.lifecycle`; their proof
obligations live in :mod:`baton.proofs.obligations`. Here are the cluster-state
predicates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import combinations

import z3

from .cluster import MROLE, State, holds_max_epoch, writable
from .lifecycle import S as LC


@dataclass(frozen=True)
class Property:
    """An ``always`` predicate over cluster states, with its companion."""

    id: str
    statement: str
    holds: Callable[[State], z3.BoolRef]
    companion: str
    witness: Callable[[State], z3.BoolRef]


def single_writer(s: State) -> z3.BoolRef:
    """P6-A1: at most one node admits writes."""
    return z3.And(
        *[z3.Not(z3.And(writable(s, i), writable(s, j))) for i, j in combinations(range(s.n), 2)]
    )


def atomic_transfer(s: State) -> z3.BoolRef:
    """P6-A2: the node of a completed promotion is the one writable node."""
    return z3.And(
        *[
            z3.Implies(
                s.lc[c] == LC["PromotionSucceeded"],
                z3.And(writable(s, c), *[z3.Not(writable(s, j)) for j in range(s.n) if j != c]),
            )
            for c in range(s.n)
        ]
    )


def one_primary_per_epoch(s: State) -> z3.BoolRef:
    """No two primary markers share an epoch (part of P6-A3)."""
    return z3.And(
        *[
            z3.Not(
                z3.And(
                    s.role[i] == MROLE["Primary"],
                    s.role[j] == MROLE["Primary"],
                    s.epoch[i] == s.epoch[j],
                )
            )
            for i, j in combinations(range(s.n), 2)
        ]
    )


def epoch_fencing(s: State) -> z3.BoolRef:
    """P6-A3: a writable node holds the highest epoch; one primary marker per epoch."""
    top = [z3.Implies(writable(s, i), holds_max_epoch(s, i)) for i in range(s.n)]
    return z3.And(*top, one_primary_per_epoch(s))


def acked_preserved(s: State) -> z3.BoolRef:
    """P6-S1: every acknowledged write is in the WAL of the writable node."""
    return z3.And(*[z3.Implies(writable(s, i), s.lcp(s.ack, i) == s.alen) for i in range(s.n)])


def in_flight(s: State, c: int) -> z3.BoolRef:
    """An approved attempt for ``c`` is on its way to making ``c`` the primary."""
    return z3.Or(s.lc[c] == LC["PromotionApproved"], s.lc[c] == LC["AuthorityTransitioning"])


def history_extends(s: State) -> z3.BoolRef:
    """P6-S2: the acknowledged history only grows by extension.

    Every acknowledgement so far extended it (the ghost ``broken`` is unset),
    and a candidate approved for promotion already holds all of it, so the
    WAL that takes over continues the history instead of forking it. The
    second half is not implied by P6-S1, which speaks of writable nodes only:
    an approved candidate is not writable until its promotion completes.
    """
    continues = [z3.Implies(in_flight(s, c), s.lcp(s.ack, c) == s.alen) for c in range(s.n)]
    return z3.And(z3.Not(s.broken), *continues)


def epoch_floor(s: State, i: int) -> z3.ArithRef:
    """The lowest epoch node ``i``'s marker can hold after a crash now.

    During a marker write the new epoch may be visible before it is durable,
    so a crash can bring back the previous one; otherwise it is the epoch.
    """
    return z3.If(s.lc[i] == LC["AuthorityTransitioning"], s.pepoch[i], s.epoch[i])


def epochs_monotonic(s: State, t: State) -> z3.BoolRef:
    """P6-A3 (steps): no step lowers any node's epoch floor: epochs never go backwards."""
    return z3.And(*[epoch_floor(t, i) >= epoch_floor(s, i) for i in range(s.n)])


def one_primary_followed(s: State, t: State) -> z3.BoolRef:
    """P6-A1 (steps): a running replica that takes an entry or an epoch does so at an epoch
    that at most one running node claims as Primary (seeing two, it halts:
    authority_ambiguity). Every step of the model keeps it from *any* state, by the
    replication guard alone; the mutant follow_ambiguous_primary breaks it."""
    out = []
    for r in range(s.n):
        follows = z3.And(
            s.up[r],
            t.up[r],
            s.role[r] == MROLE["Replica"],
            t.role[r] == MROLE["Replica"],
            z3.Not(s.active[r]),
            z3.Or(t.wlen[r] > s.wlen[r], t.epoch[r] > s.epoch[r]),
        )
        for p, q in combinations(range(s.n), 2):
            claimed = [
                z3.And(s.up[x], s.role[x] == MROLE["Primary"], s.epoch[x] == t.epoch[r])
                for x in (p, q)
            ]
            out.append(z3.Not(z3.And(follows, *claimed)))
    return z3.And(*out)


def recovery_exact(s: State) -> z3.BoolRef:
    """P6-F2: no marker is left torn; recovery yields exactly the old or the new authority."""
    return z3.And(*[s.role[i] != MROLE["Torn"] for i in range(s.n)])


def no_implicit_retry(s: State) -> z3.BoolRef:
    """P6-F3: every validation follows its own explicit request."""
    return z3.And(*[s.vcount[i] <= 1 for i in range(s.n)])


def some_succeeded(s: State) -> z3.BoolRef:
    return z3.Or(*[s.lc[c] == LC["PromotionSucceeded"] for c in range(s.n)])


def promoted_with_acked_writes(s: State) -> z3.BoolRef:
    return z3.And(some_succeeded(s), s.alen >= 1)


PROPERTIES: tuple[Property, ...] = (
    Property(
        "P6-A1",
        "At most one node admits writes at any time.",
        single_writer,
        "a promotion completes and the new primary is writable",
        some_succeeded,
    ),
    Property(
        "P6-A2",
        "A completed promotion leaves exactly its candidate writable.",
        atomic_transfer,
        "a promotion completes",
        some_succeeded,
    ),
    Property(
        "P6-A3",
        "A writable node holds the highest epoch, each epoch has one primary marker, and "
        "epochs never go backwards (checked on every step).",
        epoch_fencing,
        "a second epoch is granted",
        lambda s: z3.Or(*[s.epoch[i] >= 2 for i in range(s.n)]),
    ),
    Property(
        "P6-S1",
        "Every acknowledged write is in the writable node's WAL.",
        acked_preserved,
        "a promotion completes after writes were acknowledged",
        promoted_with_acked_writes,
    ),
    Property(
        "P6-S2",
        "Acknowledgements only ever extend the acknowledged history, and a candidate "
        "approved for promotion holds all of it.",
        history_extends,
        "the new primary acknowledges a write after a promotion",
        lambda s: z3.Or(
            *[
                z3.And(writable(s, i), s.epoch[i] >= 2, s.alen >= 1, s.lcp(s.ack, i) == s.wlen[i])
                for i in range(s.n)
            ]
        ),
    ),
    Property(
        "P6-F2",
        "No marker is torn: recovery yields exactly the old or the new authority.",
        recovery_exact,
        "a crash lands after the marker rename and the node recovers",
        lambda s: z3.Or(
            *[
                z3.And(z3.Not(s.up[i]), s.role[i] == MROLE["Primary"], s.epoch[i] >= 2)
                for i in range(s.n)
            ]
        ),
    ),
    Property(
        "P6-F3",
        "Every validation follows its own explicit request.",
        no_implicit_retry,
        "a request is denied",
        lambda s: z3.Or(*[s.lc[c] == LC["PromotionDenied"] for c in range(s.n)]),
    ),
)

PROPERTY_IDS: tuple[str, ...] = tuple(p.id for p in PROPERTIES)


@dataclass(frozen=True)
class StepProperty:
    """An ``always`` predicate over steps ``(s, t)``: part of a property's claim.

    Its companion is the state property's with the same ID (the steps it
    constrains are the ones that companion's witness takes).
    """

    id: str
    name: str
    statement: str
    holds: Callable[[State, State], z3.BoolRef]


STEP_PROPERTIES: tuple[StepProperty, ...] = (
    StepProperty(
        "P6-A3",
        "epochs-monotonic",
        "Epochs never go backwards: no step lowers the epoch a node's marker can hold "
        "after a crash.",
        epochs_monotonic,
    ),
    StepProperty(
        "P6-A1",
        "one-primary-followed",
        "A replica follows one primary per epoch: it takes no entry and no epoch while two "
        "running nodes claim Primary at that epoch (it halts instead: authority_ambiguity).",
        one_primary_followed,
    ),
)


def get_property(pid: str) -> Property:
    for prop in PROPERTIES:
        if prop.id == pid:
            return prop
    raise KeyError(f"no cluster property {pid!r}")


def all_properties(s: State) -> z3.BoolRef:
    return z3.And(*[p.holds(s) for p in PROPERTIES])
