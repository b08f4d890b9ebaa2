"""Unbounded proof: an inductive invariant of the cluster model, checked by Z3.

The safety properties are not inductive on their own (a state can satisfy them
and still step into a violation, e.g. an approved candidate that lacks the
acknowledged writes). They are strengthened with the lemmas below; the proof
consists of three checks, each an unsatisfiability query over *unbounded*
integers (WAL lengths, common-prefix lengths, epochs):

1. *initiation*: every initial state satisfies the invariant;
2. *consecution*: from any state satisfying it, every action leads to a state
   satisfying it (checked per action instance and per lemma, so a failure
   names both);
3. *safety*: the invariant implies every property of
   :mod:`baton.spec.properties`.

Together they prove the properties for every reachable state, after any number
of steps, writes and epochs. The lemmas (each named, each in the docs):

``lcp-bounds``
    ``0 <= lcp(i, j) <= min(len i, len j)`` for every pair of logs.
``lcp-ultrametric``
    ``lcp(i, k) >= min(lcp(i, j), lcp(j, k))``: common prefixes compose.
``writer-shape``
    a writable node is up and holds a primary marker.
``single-writer``
    at most one writable node (P6-A1).
``writer-holds-acked``
    the writable node's WAL contains the acknowledged history (P6-S1).
``writer-top-epoch``
    the writable node holds the highest epoch (P6-A3).
``top-primary-holds-acked``
    every primary marker at the highest epoch has the acknowledged history --
    what makes reinstatement and the async acknowledged bound safe.
``standby-holds-acked``
    (sync mode) the standby holds the acknowledged history.
``one-primary-per-epoch``
    no two primary markers share an epoch.
``one-attempt``
    at most one node's lifecycle is away from Steady (serialised attempts).
``in-flight-shape``
    an approved or transitioning candidate is up, has the acknowledged history,
    and no node is writable; before the rename its marker is still a replica's
    at its previous epoch, after it the marker is a primary's at the granted
    epoch; the grant is above every other node's epoch; the marker stage is in
    range.
``succeeded-writable``
    a succeeded candidate is writable (P6-A2).
``no-write-in-flight``
    outside a transition no marker write is in flight.
``request-count``
    a requested attempt has had no validation yet; ``vcount <= 1`` (P6-F3).
``intact``
    no marker is torn (P6-F2); no acknowledgement broke the history and every
    approved candidate holds it (P6-S2).

Consecution also checks the step property of P6-A3 (epochs never go
backwards) on every action. An action whose guard no invariant state
satisfies is reported in :attr:`InductionResult.disabled`: in the correct
model that is ``step_down`` alone -- a writable node that sees a higher epoch
-- because P6-A3 itself says a writable node holds the highest epoch. It is
defence in depth for environments that break the assumptions (its companion
is shown with ``unavailable_is_accurate`` dropped).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import combinations, permutations

import z3
from baton.spec import cluster, properties
from baton.spec.cluster import MROLE, Config, State, holds_max_epoch, writable
from baton.spec.lifecycle import S as LC

Lemma = tuple[str, Callable[[Config, State], z3.BoolRef]]


def _lcp_bounds(cfg: Config, s: State) -> z3.BoolRef:
    cs = [s.length(i) >= 0 for i in range(s.n + 1)]
    for i, j in combinations(range(s.n + 1), 2):
        v = s.lcp(i, j)
        cs += [v >= 0, v <= s.length(i), v <= s.length(j)]
    return z3.And(*cs)


def _lcp_ultrametric(cfg: Config, s: State) -> z3.BoolRef:
    cs = []
    for i, j, k in permutations(range(s.n + 1), 3):
        if i < k:
            a, b = s.lcp(i, j), s.lcp(j, k)
            cs.append(s.lcp(i, k) >= z3.If(a <= b, a, b))
    return z3.And(*cs)


def _writer_shape(cfg: Config, s: State) -> z3.BoolRef:
    return z3.And(
        *[
            z3.Implies(s.active[i], z3.And(s.up[i], s.role[i] == MROLE["Primary"]))
            for i in range(s.n)
        ]
    )


def _writer_holds_acked(cfg: Config, s: State) -> z3.BoolRef:
    return properties.acked_preserved(s)


def _writer_top_epoch(cfg: Config, s: State) -> z3.BoolRef:
    return z3.And(*[z3.Implies(writable(s, i), holds_max_epoch(s, i)) for i in range(s.n)])


def _rolled_back_epoch(cfg: Config, s: State, j: int) -> z3.ArithRef:
    """The epoch node ``j`` would have if its in-flight marker write were lost."""
    rename_stage = cfg.marker_ops.index("rename") + 1
    return z3.If(
        z3.And(s.lc[j] == LC["AuthorityTransitioning"], s.mstage[j] >= rename_stage),
        s.pepoch[j],
        s.epoch[j],
    )


def _top_primary_holds_acked(cfg: Config, s: State) -> z3.BoolRef:
    # Stated for the real epochs and for the epochs a crash could roll back to,
    # because a crash mid-transition may bring the previous top primary back.
    cs = []
    for i in range(s.n):
        views: list[list[z3.ArithRef]] = [
            list(s.epoch),
            [_rolled_back_epoch(cfg, s, j) for j in range(s.n)],
        ]
        for epochs in views:
            top = z3.And(*[epochs[j] <= epochs[i] for j in range(s.n)])
            cs.append(
                z3.Implies(z3.And(s.role[i] == MROLE["Primary"], top), s.lcp(s.ack, i) == s.alen)
            )
    return z3.And(*cs)


def _standby_holds_acked(cfg: Config, s: State) -> z3.BoolRef:
    if cfg.mode != "sync":
        return z3.BoolVal(True)
    return z3.And(
        s.standby >= 0,
        s.standby < s.n,
        *[z3.Implies(s.standby == j, s.lcp(s.ack, j) == s.alen) for j in range(s.n)],
    )


def _one_primary_per_epoch(cfg: Config, s: State) -> z3.BoolRef:
    return properties.one_primary_per_epoch(s)


def _one_attempt(cfg: Config, s: State) -> z3.BoolRef:
    return z3.And(
        *[
            z3.Or(s.lc[i] == LC["Steady"], s.lc[j] == LC["Steady"])
            for i, j in combinations(range(s.n), 2)
        ]
    )


def _in_flight_shape(cfg: Config, s: State) -> z3.BoolRef:
    ops = cfg.marker_ops
    rename_stage = ops.index("rename") + 1
    cs = []
    for c in range(s.n):
        approved = s.lc[c] == LC["PromotionApproved"]
        transitioning = s.lc[c] == LC["AuthorityTransitioning"]
        in_flight = z3.Or(approved, transitioning)
        cs += [
            z3.Implies(
                in_flight,
                z3.And(
                    s.up[c],
                    s.lcp(s.ack, c) == s.alen,
                    *[z3.Not(s.active[j]) for j in range(s.n)],
                ),
            ),
            z3.Implies(approved, s.role[c] == MROLE["Replica"]),
            z3.Implies(
                transitioning,
                z3.And(
                    s.mstage[c] >= 0,
                    s.mstage[c] <= len(ops),
                    *[s.epoch[j] < s.grant[c] for j in range(s.n) if j != c],
                    s.pepoch[c] < s.grant[c],
                    z3.If(
                        s.mstage[c] >= rename_stage,
                        z3.And(s.role[c] == MROLE["Primary"], s.epoch[c] == s.grant[c]),
                        z3.And(s.role[c] == MROLE["Replica"], s.epoch[c] == s.pepoch[c]),
                    ),
                ),
            ),
        ]
    return z3.And(*cs)


def _succeeded_writable(cfg: Config, s: State) -> z3.BoolRef:
    return properties.atomic_transfer(s)


def _no_write_in_flight(cfg: Config, s: State) -> z3.BoolRef:
    return z3.And(
        *[z3.Implies(s.lc[i] != LC["AuthorityTransitioning"], s.mstage[i] == 0) for i in range(s.n)]
    )


def _request_count(cfg: Config, s: State) -> z3.BoolRef:
    return z3.And(
        *[
            z3.And(
                s.vcount[i] >= 0,
                z3.Implies(s.lc[i] == LC["PromotionRequested"], s.vcount[i] == 0),
            )
            for i in range(s.n)
        ],
        properties.no_implicit_retry(s),
    )


def _intact(cfg: Config, s: State) -> z3.BoolRef:
    return z3.And(properties.recovery_exact(s), properties.history_extends(s))


LEMMAS: tuple[Lemma, ...] = (
    ("lcp-bounds", _lcp_bounds),
    ("lcp-ultrametric", _lcp_ultrametric),
    ("writer-shape", _writer_shape),
    ("single-writer", lambda cfg, s: properties.single_writer(s)),
    ("writer-holds-acked", _writer_holds_acked),
    ("writer-top-epoch", _writer_top_epoch),
    ("top-primary-holds-acked", _top_primary_holds_acked),
    ("standby-holds-acked", _standby_holds_acked),
    ("one-primary-per-epoch", _one_primary_per_epoch),
    ("one-attempt", _one_attempt),
    ("in-flight-shape", _in_flight_shape),
    ("succeeded-writable", _succeeded_writable),
    ("no-write-in-flight", _no_write_in_flight),
    ("request-count", _request_count),
    ("intact", _intact),
)
LEMMA_NAMES: tuple[str, ...] = tuple(name for name, _ in LEMMAS)


def invariant(cfg: Config, s: State) -> z3.BoolRef:
    """The conjunction of every lemma: the inductive invariant."""
    return z3.And(*[f(cfg, s) for _, f in LEMMAS])


@dataclass
class Failure:
    """Why a check of the induction failed: which step broke which lemma."""

    check: str
    action: str | None
    lemma: str
    model: str


@dataclass
class InductionResult:
    config: Config
    proven: bool
    seconds: float
    queries: int
    failures: list[Failure] = field(default_factory=list)
    # Action instances whose guard no invariant state satisfies: consecution
    # holds for them trivially. Reported, never skipped silently -- an action
    # disabled here is dead in every reachable state, so it is either a
    # defence-in-depth step (say why) or a modelling error.
    disabled: list[str] = field(default_factory=list)


def _unsat(solver: z3.Solver) -> bool:
    result = solver.check()
    if result == z3.unknown:
        raise RuntimeError(f"Z3 returned unknown: {solver.reason_unknown()}")
    return bool(result == z3.unsat)


def prove(cfg: Config, stop_at_first: bool = False) -> InductionResult:
    """Prove the properties for all reachable states by induction."""
    start = time.perf_counter()
    s, t = cluster.fresh_state(cfg.n, "pre"), cluster.fresh_state(cfg.n, "post")
    failures: list[Failure] = []
    queries = 0

    # 1. initiation
    for name, lemma in LEMMAS:
        solver = z3.Solver()
        solver.add(cluster.initial(cfg, s), z3.Not(lemma(cfg, s)))
        queries += 1
        if not _unsat(solver):
            failures.append(Failure("initiation", None, name, str(solver.model())))

    # 2. consecution, one action instance at a time; the step properties
    #    (epochs never go backwards, P6-A3) are checked on the same steps.
    inv_pre = invariant(cfg, s)
    post_lemmas = [(name, lemma(cfg, t)) for name, lemma in LEMMAS] + [
        (f"{sp.id} {sp.name}", sp.holds(s, t)) for sp in properties.STEP_PROPERTIES
    ]
    disabled: list[str] = []
    for act in cluster.actions(cfg, s, t, "ind"):
        solver = z3.Solver()
        solver.add(inv_pre, act.formula)
        queries += 1
        if _unsat(solver):
            disabled.append(f"{act.name}{list(act.nodes)}")
            continue
        for name, post in post_lemmas:
            solver.push()
            solver.add(z3.Not(post))
            queries += 1
            if not _unsat(solver):
                failures.append(
                    Failure(
                        "consecution",
                        f"{act.name}{list(act.nodes)}",
                        name,
                        _short_model(solver.model(), s, t),
                    )
                )
                if stop_at_first:
                    return InductionResult(
                        cfg, False, time.perf_counter() - start, queries, failures, disabled
                    )
            solver.pop()

    # 3. safety: the invariant implies every property
    for prop in properties.PROPERTIES:
        solver = z3.Solver()
        solver.add(inv_pre, z3.Not(prop.holds(s)))
        queries += 1
        if not _unsat(solver):
            failures.append(Failure("safety", None, prop.id, _short_model(solver.model(), s, t)))
    return InductionResult(
        cfg, not failures, time.perf_counter() - start, queries, failures, disabled
    )


def _short_model(model: z3.ModelRef, s: State, t: State) -> str:
    parts = []
    for label, st in (("pre", s), ("post", t)):
        vals = []
        for var in st.all_vars():
            vals.append(f"{str(var).split('@')[0]}={model.eval(var, model_completion=True)}")
        parts.append(f"{label}: " + " ".join(vals))
    return "\n".join(parts)
