"""The cluster protocol over an uninterpreted node sort: one model for every N.

:mod:`baton.spec.cluster` fixes the number of nodes ``N`` and unrolls every
per-node variable into ``N`` constants. This module states the *same*
protocol the way Ivy and mypyvy do, so that one proof covers every cluster
size:

* ``Node`` is an uninterpreted Z3 sort (:data:`Node`): nothing about its
  size is assumed, beyond two distinct nodes in the initial state;
* every per-node variable of the cluster model is a function of ``Node``
  (``up: Node -> Bool``, ``epoch: Node -> Int``, ...);
* the matrix of longest-common-prefix lengths is a binary function
  ``lcp: Node x Node -> Int`` (its diagonal is never read: ``lcp(x, x)`` is
  ``wlen(x)``, as in the cluster model), the common prefix of each node's WAL
  with the ghost log of acknowledged writes is ``lcp_ack: Node -> Int``, and
  the ghost log's own length is the integer ``alen``;
* WAL lengths and epochs are unbounded integers;
* each action chooses its node parameters existentially (fresh ``Node``
  constants) and its other choices (crash outcome, force flag, granted epoch,
  the observation) as fresh constants of the same sorts as the cluster
  model's.

A post-state is not a second set of function symbols constrained by frame
axioms: it is the pre-state with the action's updates substituted in
(``epoch'(x) = If(x == r, epoch(p), epoch(x))``), which is what lets a
consecution query stay in the fragment described in ``docs/parametric.rst``.
:func:`transition` turns the same updates into a relation between two states
of function symbols, for the cross-check against the cluster model.

No function here has ``Node`` as its range (only constants are of sort
``Node``), and every quantifier binds ``Node`` variables only; the module
never states ``exists`` inside ``forall``. :func:`fragment_violations` checks
that mechanically for any formula built from these pieces.

Every :class:`~baton.spec.cluster.Config` switch that changes the cluster
relation (mode, dropped assumptions, mutants) changes this one in the same
way; :mod:`baton.proofs.parametric` checks the two relations equal at N = 2
and N = 3 for each configuration.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import z3

from . import lifecycle, validation
from .cluster import MROLE, Config, MarkerRole, checks_for, crash_outcomes_by_stage
from .lifecycle import S as LC

Node = z3.DeclareSort("Node")
"""The uninterpreted sort of cluster nodes."""

NodeFn = Callable[[z3.ExprRef], z3.ExprRef]
PairFn = Callable[[z3.ExprRef, z3.ExprRef], z3.ExprRef]

# The per-node fields, in the order of baton.spec.cluster.NODE_FIELDS, with
# their sorts.
NODE_FIELD_SORTS: tuple[tuple[str, z3.SortRef], ...] = (
    ("up", z3.BoolSort()),
    ("role", MarkerRole),
    ("epoch", z3.IntSort()),
    ("active", z3.BoolSort()),
    ("wlen", z3.IntSort()),
    ("lc", lifecycle.State),
    ("forced", z3.BoolSort()),
    ("reason", validation.Decision),
    ("grant", z3.IntSort()),
    ("pepoch", z3.IntSort()),
    ("mstage", z3.IntSort()),
    ("vcount", z3.IntSort()),
)
NODE_FIELDS: tuple[str, ...] = tuple(name for name, _ in NODE_FIELD_SORTS)

_fresh_ids = itertools.count()


def fresh_node(name: str) -> z3.ExprRef:
    """A fresh ``Node`` constant (an existentially chosen node)."""
    return z3.Const(f"{name}!{next(_fresh_ids)}", Node)


def forall(arity: int, body: Callable[..., z3.BoolRef]) -> z3.BoolRef:
    """``forall x1..xk: Node. body(x1..xk)``, with variables that cannot clash."""
    xs = [fresh_node("x") for _ in range(arity)]
    return z3.ForAll(xs, body(*xs))


def exists(arity: int, body: Callable[..., z3.BoolRef]) -> z3.BoolRef:
    """``exists x1..xk: Node. body(x1..xk)``."""
    xs = [fresh_node("x") for _ in range(arity)]
    return z3.Exists(xs, body(*xs))


def distinct_pairs(body: Callable[[z3.ExprRef, z3.ExprRef], z3.BoolRef]) -> z3.BoolRef:
    """``forall x, y. x != y -> body(x, y)``: the per-N model's loops over pairs."""
    return forall(2, lambda x, y: z3.Implies(x != y, body(x, y)))


@dataclass(frozen=True)
class PState:
    """A cluster state over the node sort: per-node fields are functions of ``Node``.

    A field is a Python function from a ``Node`` term to a Z3 term, so that a
    pre-state (function symbols) and a post-state (updates substituted in)
    are the same type.
    """

    up: NodeFn
    role: NodeFn
    epoch: NodeFn
    active: NodeFn
    wlen: NodeFn
    lc: NodeFn
    forced: NodeFn
    reason: NodeFn
    grant: NodeFn
    pepoch: NodeFn
    mstage: NodeFn
    vcount: NodeFn
    lcp_pair: PairFn
    """``lcp`` off the diagonal; read through :meth:`lcp`."""
    lcp_ack: NodeFn
    alen: z3.ArithRef
    standby: z3.ExprRef
    broken: z3.BoolRef

    def field(self, name: str) -> NodeFn:
        fn: NodeFn = getattr(self, name)
        return fn

    def lcp(self, x: z3.ExprRef, y: z3.ExprRef) -> z3.ArithRef:
        """Longest common prefix of two WALs; a WAL's with itself is its length."""
        return z3.If(x == y, self.wlen(x), self.lcp_pair(x, y))

    def writable(self, x: z3.ExprRef) -> z3.BoolRef:
        return z3.And(self.up(x), self.active(x))

    def holds_max_epoch(self, x: z3.ExprRef) -> z3.BoolRef:
        return forall(1, lambda j: self.epoch(j) <= self.epoch(x))

    def higher_epoch_elsewhere(self, x: z3.ExprRef) -> z3.BoolRef:
        return exists(1, lambda j: z3.And(j != x, self.epoch(j) > self.epoch(x)))

    def all_steady(self) -> z3.BoolRef:
        return forall(1, lambda j: self.lc(j) == LC["Steady"])

    def other_writer(self, x: z3.ExprRef) -> z3.BoolRef:
        return exists(1, lambda j: z3.And(j != x, self.writable(j)))


@dataclass(frozen=True)
class Symbols:
    """The function symbols behind a pre-state (for models and the cross-check)."""

    node: dict[str, z3.FuncDeclRef]
    lcp_pair: z3.FuncDeclRef
    lcp_ack: z3.FuncDeclRef


def _apply(fn: z3.FuncDeclRef) -> NodeFn:
    return lambda x: fn(x)


def fresh_state(tag: str) -> tuple[PState, Symbols]:
    """A state of fresh function symbols named ``<field>@<tag>``."""
    node = {name: z3.Function(f"{name}@{tag}", Node, sort) for name, sort in NODE_FIELD_SORTS}
    lcp_pair = z3.Function(f"lcp@{tag}", Node, Node, z3.IntSort())
    lcp_ack = z3.Function(f"lcp_ack@{tag}", Node, z3.IntSort())
    state = PState(
        **{name: _apply(fn) for name, fn in node.items()},
        lcp_pair=lambda x, y: lcp_pair(x, y),
        lcp_ack=_apply(lcp_ack),
        alen=z3.Int(f"alen@{tag}"),
        standby=z3.Const(f"standby@{tag}", Node),
        broken=z3.Bool(f"broken@{tag}"),
    )
    return state, Symbols(node, lcp_pair, lcp_ack)


def initial(s: PState, first: z3.ExprRef, second: z3.ExprRef) -> z3.BoolRef:
    """``first`` is the writable primary at epoch 1, the others replicas; WALs empty.

    The cluster model's node 0 is ``first`` and its initial standby, node 1,
    is ``second``; the proof leaves both free (any two distinct nodes).
    """
    return z3.And(
        first != second,
        forall(
            1,
            lambda x: z3.And(
                s.up(x),
                s.role(x) == z3.If(x == first, MROLE["Primary"], MROLE["Replica"]),
                s.epoch(x) == 1,
                s.active(x) == (x == first),
                s.wlen(x) == 0,
                s.lc(x) == LC["Steady"],
                z3.Not(s.forced(x)),
                s.reason(x) == validation.DECISION[validation.ALLOWED],
                s.grant(x) == 0,
                s.pepoch(x) == 0,
                s.mstage(x) == 0,
                s.vcount(x) == 0,
                s.lcp_ack(x) == 0,
            ),
        ),
        distinct_pairs(lambda x, y: s.lcp_pair(x, y) == 0),
        s.alen == 0,
        s.standby == second,
        z3.Not(s.broken),
    )


# --- Actions -----------------------------------------------------------------


@dataclass(frozen=True)
class PAction:
    """One action: its node parameters, other choices, guard and post-state."""

    name: str
    params: tuple[z3.ExprRef, ...]
    choices: tuple[z3.ExprRef, ...]
    guard: z3.BoolRef
    post: PState


class _Update:
    """The post-state of an action as point updates of the pre-state."""

    def __init__(self, s: PState) -> None:
        self.s = s
        self.fields: dict[str, NodeFn] = {}
        self.lcp_pair: PairFn = s.lcp_pair
        self.lcp_ack: NodeFn = s.lcp_ack
        self.scalars: dict[str, z3.ExprRef] = {}

    def node(self, name: str, at: z3.ExprRef, value: z3.ExprRef | bool | int) -> None:
        """``name'(x) = value if x == at else name(x)`` (later updates win)."""
        before = self.fields.get(name, self.s.field(name))
        self.fields[name] = lambda x: z3.If(x == at, value, before(x))

    def build(self) -> PState:
        return replace(
            self.s,
            **self.fields,
            lcp_pair=self.lcp_pair,
            lcp_ack=self.lcp_ack,
            **self.scalars,
        )


def _min(a: z3.ArithRef, b: z3.ArithRef) -> z3.ArithRef:
    return z3.If(a <= b, a, b)


def observed_context(
    cfg: Config, s: PState, c: z3.ExprRef, tag: str
) -> tuple[validation.Context, z3.BoolRef, tuple[z3.ExprRef, ...]]:
    """What candidate ``c`` observes: :func:`baton.spec.cluster.observed_context` over Node.

    The observation's source of the acknowledged bound is a ``Node`` here (an
    index in ``0..N-1`` there).
    """
    status = z3.Const(f"obs.status@{tag}", validation.PrimaryStatus)
    known = z3.Bool(f"obs.bound_known@{tag}")
    prefix_known = z3.Bool(f"obs.prefix_known@{tag}")
    src = z3.Const(f"obs.src@{tag}", Node)
    mvcc = z3.Const(f"obs.mvcc@{tag}", validation.Mvcc)
    disabled = z3.Bool(f"obs.disabled@{tag}")  # the promotion-disabled switch
    cons: list[z3.BoolRef] = [
        z3.Implies(status == validation.PSTATUS["Active"], s.other_writer(c)),
    ]
    if cfg.assumes("unavailable_is_accurate"):
        cons.append(
            z3.Implies(status == validation.PSTATUS["Unavailable"], z3.Not(s.other_writer(c)))
        )
    if cfg.assumes("force_is_truthful"):
        cons.append(
            z3.Implies(
                z3.And(s.forced(c), status == validation.PSTATUS["Unknown"]),
                z3.Not(s.other_writer(c)),
            )
        )
    if cfg.mode == "sync":
        cons.append(src == s.standby)
    elif cfg.assumes("exact_async_ack_bound"):
        # The old primary: the primary-role node holding the highest epoch, its
        # durable WAL end read exactly (dropped: any node's WAL end).
        cons.append(
            z3.Implies(
                z3.Or(known, prefix_known),
                z3.And(s.role(src) == MROLE["Primary"], s.holds_max_epoch(src)),
            )
        )
    src_len, src_lcp, cand_len = s.wlen(src), s.lcp(c, src), s.wlen(c)
    position = z3.If(
        z3.Not(known),
        validation.POSITION["Unknown"],
        z3.If(
            cand_len < src_len,
            validation.POSITION["Behind"],
            z3.If(cand_len == src_len, validation.POSITION["Equal"], validation.POSITION["Ahead"]),
        ),
    )
    prefix = z3.If(
        z3.Not(prefix_known),
        validation.PREFIX["Unknown"],
        z3.If(
            src_lcp == _min(cand_len, src_len),
            validation.PREFIX["Compatible"],
            validation.PREFIX["Divergent"],
        ),
    )
    role = z3.If(
        disabled,
        validation.ROLE["Disabled"],
        z3.If(
            s.role(c) == MROLE["Primary"],
            validation.ROLE["PrimaryActive"],
            z3.If(
                s.role(c) == MROLE["Replica"],
                validation.ROLE["ReplicaActive"],
                validation.ROLE["Halted"],
            ),
        ),
    )
    halt = z3.If(
        z3.And(z3.Not(disabled), s.role(c) == MROLE["Halted"]),
        validation.HALT["history_divergence"],
        z3.If(
            z3.And(z3.Not(disabled), s.role(c) == MROLE["Torn"]),
            validation.HALT["wal_corruption"],
            validation.HALT["none"],
        ),
    )
    ctx = validation.Context(
        role=role,
        halt_reason=halt,
        primary_status=status,
        force=s.forced(c),
        position=position,
        prefix=prefix,
        mvcc=mvcc,
    )
    return ctx, z3.And(*cons), (status, known, prefix_known, src, mvcc, disabled)


def _replicated_lcp(
    s: PState, p: z3.ExprRef, r: z3.ExprRef, new_len: z3.ArithRef
) -> tuple[PairFn, NodeFn]:
    """``lcp`` after ``r`` takes one entry from ``p`` (``r`` becomes a prefix of ``p``)."""

    def pair(x: z3.ExprRef, y: z3.ExprRef) -> z3.ExprRef:
        return z3.If(
            x == r,
            z3.If(y == p, new_len, _min(s.lcp(p, y), new_len)),
            z3.If(y == r, z3.If(x == p, new_len, _min(s.lcp(p, x), new_len)), s.lcp_pair(x, y)),
        )

    def ack(x: z3.ExprRef) -> z3.ExprRef:
        return z3.If(x == r, _min(s.lcp_ack(p), new_len), s.lcp_ack(x))

    return pair, ack


def _unambiguous(s: PState, p: z3.ExprRef, r: z3.ExprRef) -> z3.BoolRef:
    """Replica ``r`` sees no running node but ``p`` claim Primary at ``p``'s epoch."""

    def other_claim(k: z3.ExprRef) -> z3.BoolRef:
        return z3.And(k != p, k != r, s.up(k), s.role(k) == MROLE["Primary"])

    return forall(1, lambda k: z3.Implies(other_claim(k), s.epoch(k) != s.epoch(p)))


def _replicate_family(cfg: Config, s: PState, tag: str) -> Iterator[PAction]:
    """replicate, adopt and diverge: a primary ``p`` serving a replica ``r``."""
    for name in ("replicate", "adopt", "diverge"):
        p, r = fresh_node(f"{name}.p@{tag}"), fresh_node(f"{name}.r@{tag}")
        base = z3.And(
            p != r,
            s.up(p),
            s.up(r),
            s.role(p) == MROLE["Primary"],
            s.role(r) == MROLE["Replica"],
            # Epoch fencing: a replica refuses a lower-epoch primary.
            s.epoch(r) <= s.epoch(p),
            s.lc(r) != LC["PromotionApproved"],
            s.lc(r) != LC["AuthorityTransitioning"],
            s.lc(p) != LC["AuthorityTransitioning"],
        )
        if not cfg.is_mutant("follow_ambiguous_primary"):
            # No running node but p claims Primary at p's epoch (else r halts, P6-A1).
            base = z3.And(base, _unambiguous(s, p, r))
        is_prefix = s.lcp(r, p) == s.wlen(r)
        behind = s.wlen(r) < s.wlen(p)
        up = _Update(s)
        if name == "diverge":
            up.node("role", r, MROLE["Halted"])
            # A replica that is no prefix halts at once, whatever the lengths (P6-S2).
            guard = z3.And(base, z3.Not(is_prefix))
        elif name == "adopt":
            # The epoch half of a replicate alone (a crash between the two writes).
            up.node("epoch", r, s.epoch(p))
            guard = z3.And(base, behind, is_prefix, s.epoch(r) < s.epoch(p))
        else:
            up.node("epoch", r, s.epoch(p))
            up.node("wlen", r, s.wlen(r) + 1)
            up.lcp_pair, up.lcp_ack = _replicated_lcp(s, p, r, s.wlen(r) + 1)
            guard = z3.And(base, behind, is_prefix)
        yield PAction(name, (p, r), (), guard, up.build())


def _ambiguity_halt(s: PState, tag: str) -> PAction:
    """ambiguity_halt, as baton.spec.cluster states it: node ``i`` sees ``j`` and
    ``k`` claim Primary at one epoch, not below its own, and halts (``k`` may be
    ``i`` itself, a primary; any other ``k`` must be running)."""
    i, j, k = (fresh_node(f"ambiguity_halt.{x}@{tag}") for x in "ijk")
    guard = z3.And(
        j != i,
        k != j,
        s.up(i),
        z3.Or(s.role(i) == MROLE["Replica"], s.role(i) == MROLE["Primary"]),
        s.lc(i) == LC["Steady"],
        s.up(j),
        s.role(j) == MROLE["Primary"],
        s.epoch(j) >= s.epoch(i),
        z3.Or(k == i, s.up(k)),
        s.role(k) == MROLE["Primary"],
        s.epoch(k) == s.epoch(j),
    )
    up = _Update(s)
    up.node("role", i, MROLE["Halted"])
    up.node("active", i, False)
    return PAction("ambiguity_halt", (i, j, k), (), guard, up.build())


def actions(cfg: Config, s: PState, tag: str) -> list[PAction]:
    """Every action from ``s``, in the order of :func:`baton.spec.cluster.action_names`."""
    ops = cfg.marker_ops
    stage_outcomes = crash_outcomes_by_stage(ops)
    rename_stage = ops.index("rename") + 1
    out: list[PAction] = []

    # write: append a fresh entry and fsync it (its lcp with every log is unchanged).
    p = fresh_node(f"write.p@{tag}")
    up = _Update(s)
    up.node("wlen", p, s.wlen(p) + 1)
    out.append(PAction("write", (p,), (), s.writable(p), up.build()))

    # ack: acknowledge everything durable in p's WAL.
    p = fresh_node(f"ack.p@{tag}")
    guard = s.writable(p)
    if cfg.mode == "sync" and not cfg.is_mutant("ack_before_standby"):
        # The standby holds p's whole WAL (the mutant: all but its last entry).
        holds = (
            s.lcp(p, s.standby) >= s.wlen(p) - 1
            if cfg.is_mutant("ack_one_entry_early")
            else s.lcp(p, s.standby) == s.wlen(p)
        )
        guard = z3.And(guard, s.standby != p, holds)
    up = _Update(s)
    up.scalars["alen"] = s.wlen(p)
    acker = p
    up.lcp_ack = lambda x: s.lcp(acker, x)
    up.scalars["broken"] = z3.Or(s.broken, s.lcp_ack(p) < s.alen)
    out.append(PAction("ack", (p,), (), guard, up.build()))

    out.extend(_replicate_family(cfg, s, tag))
    out.append(_ambiguity_halt(s, tag))

    # crash: volatile state is lost; a marker write in flight lands as the
    # persistence model allows (old / new / torn).
    i = fresh_node(f"crash.i@{tag}")
    outcome = z3.Int(f"crash.outcome@{tag}")  # 0 old, 1 new, 2 torn
    allowed = z3.Or(
        *[
            z3.And(
                s.mstage(i) == k,
                z3.Or(*[outcome == {"old": 0, "new": 1, "torn": 2}[o] for o in sorted(outs)]),
            )
            for k, outs in enumerate(stage_outcomes)
        ]
    )
    in_write = s.mstage(i) > 0
    up = _Update(s)
    up.node("up", i, False)
    up.node("active", i, False)
    up.node("lc", i, LC["Steady"])
    up.node("forced", i, False)
    up.node("mstage", i, 0)
    up.node(
        "role",
        i,
        z3.If(
            z3.Not(in_write),
            s.role(i),
            z3.If(
                outcome == 0,
                MROLE["Replica"],
                z3.If(outcome == 1, MROLE["Primary"], MROLE["Torn"]),
            ),
        ),
    )
    up.node(
        "epoch",
        i,
        z3.If(z3.And(in_write, outcome == 1), s.grant(i), z3.If(in_write, s.pepoch(i), s.epoch(i))),
    )
    out.append(PAction("crash", (i,), (outcome,), z3.And(s.up(i), allowed), up.build()))

    # restart: recovery reads the disk only; a torn marker refuses to start.
    i = fresh_node(f"restart.i@{tag}")
    resumes = cfg.is_mutant("restart_keeps_authority") or not cfg.assumes("fenced_restart")
    up = _Update(s)
    up.node("up", i, True)
    up.node("active", i, s.role(i) == MROLE["Primary"] if resumes else z3.BoolVal(False))
    guard = z3.And(z3.Not(s.up(i)), s.role(i) != MROLE["Torn"])
    out.append(PAction("restart", (i,), (), guard, up.build()))

    # reinstate: the controller lets a fenced primary admit writes again.
    i = fresh_node(f"reinstate.i@{tag}")
    in_flight_any = exists(
        1,
        lambda j: z3.Or(
            s.lc(j) == LC["PromotionApproved"], s.lc(j) == LC["AuthorityTransitioning"]
        ),
    )
    gate: list[z3.BoolRef] = [
        s.up(i),
        s.role(i) == MROLE["Primary"],
        z3.Not(s.active(i)),
        *([] if cfg.is_mutant("reinstate_without_top_epoch") else [s.holds_max_epoch(i)]),
        forall(1, lambda j: z3.Implies(j != i, z3.Not(s.active(j)))),
    ]
    if cfg.assumes("single_controller") and not cfg.is_mutant("reinstate_during_attempt"):
        gate.append(s.all_steady())
    elif cfg.is_mutant("reinstate_during_attempt"):
        gate.append(z3.Or(s.all_steady(), in_flight_any))
    up = _Update(s)
    up.node("active", i, True)
    out.append(PAction("reinstate", (i,), (), z3.And(*gate), up.build()))

    # demote: a fenced primary that sees a higher epoch rejoins as a replica.
    i = fresh_node(f"demote.i@{tag}")
    up = _Update(s)
    up.node("role", i, MROLE["Replica"])
    guard = z3.And(
        s.up(i),
        s.role(i) == MROLE["Primary"],
        z3.Not(s.active(i)),
        s.higher_epoch_elsewhere(i),
        s.lc(i) == LC["Steady"],
    )
    out.append(PAction("demote", (i,), (), guard, up.build()))

    # step_down: a writable node that sees a higher epoch gives up authority.
    i = fresh_node(f"step_down.i@{tag}")
    up = _Update(s)
    up.node("active", i, False)
    up.node("role", i, MROLE["Replica"])
    guard = z3.And(s.writable(i), s.higher_epoch_elsewhere(i))
    out.append(PAction("step_down", (i,), (), guard, up.build()))

    if cfg.mode == "sync":
        i, j = fresh_node(f"designate.i@{tag}"), fresh_node(f"designate.j@{tag}")
        up = _Update(s)
        up.scalars["standby"] = j
        guard = z3.And(
            i != j,
            s.writable(i),
            s.role(j) == MROLE["Replica"],
            s.lcp_ack(j) == s.alen,
        )
        out.append(PAction("designate", (i, j), (), guard, up.build()))

    out.extend(_lifecycle_actions(cfg, s, tag, rename_stage))
    return out


def _lifecycle_actions(cfg: Config, s: PState, tag: str, rename_stage: int) -> Iterator[PAction]:
    """Every lifecycle step of a promotion, for a candidate ``c``."""
    ops = cfg.marker_ops

    def candidate(name: str) -> z3.ExprRef:
        return fresh_node(f"{name}.c@{tag}")

    c = candidate("request")
    force = z3.Bool(f"req.force@{tag}")
    up = _Update(s)
    up.node("lc", c, LC["PromotionRequested"])
    up.node("forced", c, force)
    up.node("vcount", c, 0)
    guard = z3.And(s.up(c), s.lc(c) == LC["Steady"])
    if cfg.assumes("single_controller") and not cfg.is_mutant("concurrent_attempts"):
        guard = z3.And(guard, s.all_steady())
    yield PAction("request", (c,), (force,), guard, up.build())

    c = candidate("reject")
    up = _Update(s)
    up.node("lc", c, LC["Steady"])
    yield PAction(
        "reject", (c,), (), z3.And(s.up(c), s.lc(c) == LC["PromotionRequested"]), up.build()
    )

    c = candidate("begin_validation")
    up = _Update(s)
    up.node("lc", c, LC["PromotionValidating"])
    up.node("vcount", c, s.vcount(c) + 1)
    guard = z3.And(s.up(c), s.lc(c) == LC["PromotionRequested"])
    yield PAction("begin_validation", (c,), (), guard, up.build())

    for name, target in (("approve", "PromotionApproved"), ("deny", "PromotionDenied")):
        c = candidate(name)
        ctx, obs, choices = observed_context(cfg, s, c, f"{tag}.{name}")
        verdict = validation.decide(ctx, checks_for(cfg))
        is_allowed = verdict == validation.DECISION[validation.ALLOWED]
        validating = z3.And(s.up(c), s.lc(c) == LC["PromotionValidating"], obs)
        up = _Update(s)
        up.node("lc", c, LC[target])
        up.node("reason", c, verdict)
        decided = is_allowed if name == "approve" else z3.Not(is_allowed)
        yield PAction(name, (c,), choices, z3.And(validating, decided), up.build())

    # begin_transition: grant the highest known epoch + 1 (P6-A3).
    c = candidate("begin_transition")
    grant = z3.Int(f"grant.choice@{tag}")
    bump = 0 if cfg.is_mutant("reuse_epoch") else 1
    grant_ok = z3.And(
        forall(1, lambda j: grant >= s.epoch(j) + bump),
        exists(1, lambda j: grant == s.epoch(j) + bump),
    )
    up = _Update(s)
    up.node("lc", c, LC["AuthorityTransitioning"])
    up.node("grant", c, grant)
    up.node("pepoch", c, s.epoch(c))
    up.node("mstage", c, 0)
    guard = z3.And(s.up(c), s.lc(c) == LC["PromotionApproved"], grant_ok)
    yield PAction("begin_transition", (c,), (grant,), guard, up.build())

    # The marker write, one file operation per step; the rename makes it visible.
    for k, op in enumerate(ops):
        name = f"marker_{op}"
        c = candidate(name)
        up = _Update(s)
        up.node("mstage", c, k + 1)
        if k + 1 == rename_stage:
            up.node("role", c, MROLE["Primary"])
            up.node("epoch", c, s.grant(c))
        guard = z3.And(s.up(c), s.lc(c) == LC["AuthorityTransitioning"], s.mstage(c) == k)
        yield PAction(name, (c,), (), guard, up.build())

    c = candidate("complete")
    up = _Update(s)
    up.node("lc", c, LC["PromotionSucceeded"])
    up.node("active", c, True)
    if cfg.marker_durable_at_end:
        up.node("mstage", c, 0)
    guard = z3.And(s.up(c), s.lc(c) == LC["AuthorityTransitioning"], s.mstage(c) == len(ops))
    yield PAction("complete", (c,), (), guard, up.build())

    c = candidate("acknowledge")
    up = _Update(s)
    up.node("lc", c, LC["Steady"])
    guard = z3.And(
        s.up(c), z3.Or(s.lc(c) == LC["PromotionSucceeded"], s.lc(c) == LC["PromotionDenied"])
    )
    yield PAction("acknowledge", (c,), (), guard, up.build())

    yield _abort_action(cfg, s, candidate("abort"), rename_stage)

    if cfg.is_mutant("retry_after_denial"):
        c = candidate("retry")
        up = _Update(s)
        up.node("lc", c, LC["PromotionValidating"])
        up.node("vcount", c, s.vcount(c) + 1)
        guard = z3.And(s.up(c), s.lc(c) == LC["PromotionDenied"])
        yield PAction("retry", (c,), (), guard, up.build())


def _abort_action(cfg: Config, s: PState, c: z3.ExprRef, rename_stage: int) -> PAction:
    """abort, as baton.spec.cluster states it: forget an approved or transitioning
    attempt whose rename has not happened (the mutant: at any marker stage,
    leaving the marker stage as it is)."""
    after_rename = cfg.is_mutant("abort_after_rename")
    up = _Update(s)
    up.node("lc", c, LC["Steady"])
    up.node("forced", c, False)
    if not after_rename:
        up.node("mstage", c, 0)
    guard = z3.And(
        s.up(c),
        z3.Or(s.lc(c) == LC["PromotionApproved"], s.lc(c) == LC["AuthorityTransitioning"]),
    )
    if not after_rename:
        guard = z3.And(guard, s.mstage(c) < rename_stage)
    return PAction("abort", (c,), (), guard, up.build())


def transition(s: PState, t: PState, act: PAction) -> z3.BoolRef:
    """The action as a relation: its guard, and ``t`` equal to its post-state.

    ``t`` is usually a state of fresh function symbols; the ``lcp`` diagonal
    is left free (it is never read).
    """
    post = act.post
    eqs: list[z3.BoolRef] = [act.guard]
    for name in NODE_FIELDS:
        eqs.append(forall(1, lambda x, name=name: t.field(name)(x) == post.field(name)(x)))
    eqs.append(distinct_pairs(lambda x, y: t.lcp_pair(x, y) == post.lcp_pair(x, y)))
    eqs.append(forall(1, lambda x: t.lcp_ack(x) == post.lcp_ack(x)))
    eqs += [t.alen == post.alen, t.standby == post.standby, t.broken == post.broken]
    return z3.And(*eqs)


# --- Properties ----------------------------------------------------------------
# The predicates of baton.spec.properties, quantified over Node.


def single_writer(s: PState) -> z3.BoolRef:
    """P6-A1: at most one node admits writes."""
    return distinct_pairs(lambda i, j: z3.Not(z3.And(s.writable(i), s.writable(j))))


def atomic_transfer(s: PState) -> z3.BoolRef:
    """P6-A2: the node of a completed promotion is the one writable node."""
    return forall(
        1,
        lambda c: z3.Implies(
            s.lc(c) == LC["PromotionSucceeded"],
            z3.And(
                s.writable(c),
                forall(1, lambda j: z3.Implies(j != c, z3.Not(s.writable(j)))),
            ),
        ),
    )


def one_primary_per_epoch(s: PState) -> z3.BoolRef:
    """No two primary markers share an epoch (part of P6-A3)."""
    return distinct_pairs(
        lambda i, j: z3.Not(
            z3.And(
                s.role(i) == MROLE["Primary"],
                s.role(j) == MROLE["Primary"],
                s.epoch(i) == s.epoch(j),
            )
        )
    )


def epoch_fencing(s: PState) -> z3.BoolRef:
    """P6-A3: a writable node holds the highest epoch; one primary marker per epoch."""
    top = forall(1, lambda i: z3.Implies(s.writable(i), s.holds_max_epoch(i)))
    return z3.And(top, one_primary_per_epoch(s))


def acked_preserved(s: PState) -> z3.BoolRef:
    """P6-S1: every acknowledged write is in the WAL of the writable node."""
    return forall(1, lambda i: z3.Implies(s.writable(i), s.lcp_ack(i) == s.alen))


def history_extends(s: PState) -> z3.BoolRef:
    """P6-S2: every acknowledgement so far extended the acknowledged history, and a
    candidate approved for promotion (approved or transitioning) already holds all of it."""

    def in_flight(c: z3.ExprRef) -> z3.BoolRef:
        return z3.Or(s.lc(c) == LC["PromotionApproved"], s.lc(c) == LC["AuthorityTransitioning"])

    return z3.And(
        z3.Not(s.broken),
        forall(1, lambda c: z3.Implies(in_flight(c), s.lcp_ack(c) == s.alen)),
    )


def recovery_exact(s: PState) -> z3.BoolRef:
    """P6-F2: no marker is left torn."""
    return forall(1, lambda i: s.role(i) != MROLE["Torn"])


def no_implicit_retry(s: PState) -> z3.BoolRef:
    """P6-F3: every validation follows its own explicit request."""
    return forall(1, lambda i: s.vcount(i) <= 1)


def epoch_floor(s: PState, x: z3.ExprRef) -> z3.ArithRef:
    """The lowest epoch node ``x``'s marker can hold after a crash now.

    During a marker write the new epoch may be visible before it is durable,
    so a crash can bring back the previous one; otherwise it is the epoch.
    """
    return z3.If(s.lc(x) == LC["AuthorityTransitioning"], s.pepoch(x), s.epoch(x))


def epochs_monotonic(s: PState, t: PState) -> z3.BoolRef:
    """P6-A3 (steps): no step lowers any node's epoch floor -- epochs never go backwards."""
    return forall(1, lambda x: epoch_floor(t, x) >= epoch_floor(s, x))


def one_primary_followed(s: PState, t: PState) -> z3.BoolRef:
    """P6-A1 (steps): a running replica that takes an entry or an epoch does so at an
    epoch that at most one running node claims as Primary."""

    def follows(r: z3.ExprRef) -> z3.BoolRef:
        return z3.And(
            s.up(r),
            t.up(r),
            s.role(r) == MROLE["Replica"],
            t.role(r) == MROLE["Replica"],
            z3.Not(s.active(r)),
            z3.Or(t.wlen(r) > s.wlen(r), t.epoch(r) > s.epoch(r)),
        )

    def claims(x: z3.ExprRef, epoch: z3.ArithRef) -> z3.BoolRef:
        return z3.And(s.up(x), s.role(x) == MROLE["Primary"], s.epoch(x) == epoch)

    return forall(
        3,
        lambda r, p, q: z3.Not(
            z3.And(follows(r), p != q, claims(p, t.epoch(r)), claims(q, t.epoch(r)))
        ),
    )


STEP_PROPERTIES: tuple[tuple[str, str, Callable[[PState, PState], z3.BoolRef]], ...] = (
    ("P6-A3", "epochs-monotonic", epochs_monotonic),
    ("P6-A1", "one-primary-followed", one_primary_followed),
)
"""Claims about every step ``(s, t)``: checked for every action in consecution."""


PROPERTIES: tuple[tuple[str, Callable[[PState], z3.BoolRef]], ...] = (
    ("P6-A1", single_writer),
    ("P6-A2", atomic_transfer),
    ("P6-A3", epoch_fencing),
    ("P6-S1", acked_preserved),
    ("P6-S2", history_extends),
    ("P6-F2", recovery_exact),
    ("P6-F3", no_implicit_retry),
)
"""The seven cluster properties, in the order of :data:`baton.spec.properties.PROPERTIES`."""


# --- The fragment ----------------------------------------------------------------


def fragment_violations(formula: z3.BoolRef) -> list[str]:
    """Why ``formula`` (asserted, i.e. in positive position) is outside the fragment.

    The fragment: every bound variable is of sort ``Node``; no uninterpreted
    function of arity >= 1 has range ``Node``; and no quantifier that acts
    existentially (``exists`` in positive, ``forall`` in negative position)
    lies in the scope of one that acts universally. Skolemising such a
    formula introduces only ``Node`` *constants*, so its ground ``Node``
    terms are finitely many and instantiating every universal over them is
    complete (see ``docs/parametric.rst``). An empty list means inside.
    """
    problems: list[str] = []
    seen: set[tuple[int, int, bool]] = set()

    def visit(e: z3.ExprRef, polarity: int, under_forall: bool) -> None:
        key = (e.get_id(), polarity, under_forall)
        if key in seen:
            return
        seen.add(key)
        if z3.is_quantifier(e):
            q: z3.QuantifierRef = e
            for k in range(q.num_vars()):
                if q.var_sort(k) != Node:
                    problems.append(f"bound variable {q.var_name(k)} of sort {q.var_sort(k)}")
            acts_universal = polarity == 0 or (polarity > 0) == q.is_forall()
            acts_existential = polarity == 0 or (polarity > 0) != q.is_forall()
            if acts_existential and under_forall:
                problems.append(f"exists under forall: {str(q)[:120]}")
            visit(q.body(), polarity, under_forall or acts_universal)
            return
        if z3.is_app(e):
            decl = e.decl()
            kind = decl.kind()
            if kind == z3.Z3_OP_UNINTERPRETED and decl.arity() > 0 and decl.range() == Node:
                problems.append(f"function {decl.name()} into Node")
            children = e.children()
            if kind == z3.Z3_OP_NOT:
                visit(children[0], -polarity, under_forall)
            elif kind in (z3.Z3_OP_AND, z3.Z3_OP_OR):
                for ch in children:
                    visit(ch, polarity, under_forall)
            elif kind == z3.Z3_OP_IMPLIES:
                visit(children[0], -polarity, under_forall)
                visit(children[1], polarity, under_forall)
            elif kind == z3.Z3_OP_ITE:
                visit(children[0], 0, under_forall)
                visit(children[1], polarity, under_forall)
                visit(children[2], polarity, under_forall)
            else:
                # Equalities, arithmetic, applications: a quantifier below is
                # read in both polarities.
                for ch in children:
                    visit(ch, 0, under_forall)

    visit(formula, 1, False)
    return problems
