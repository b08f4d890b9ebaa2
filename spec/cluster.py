"""The cluster transition system the safety proofs range over.

State
=====
``N`` nodes. Per node ``i``:

* ``up[i]`` -- the process is running.
* ``role[i]``, ``epoch[i]`` -- the *authority marker* as recovery would read
  it now (``Replica``, ``Primary``, ``Halted``; ``Torn`` is a marker that fails
  its checksum, so the node refuses to start).
* ``active[i]`` -- volatile: the node admits writes. *Writable* is
  ``up and active``.
* ``wlen[i]`` -- length of its durable WAL.
* ``lc[i]`` -- volatile lifecycle state of a promotion attempt *for* ``i``
  (the attempt runs on the candidate, so a crash of the candidate forgets it),
  with ``forced[i]``, ``reason[i]`` (the last decision), ``grant[i]`` (the
  epoch the attempt will grant), ``pepoch[i]`` (the candidate's epoch before
  the transition), ``mstage[i]`` (how many of the marker's file operations
  are done) and ``vcount[i]`` (ghost: validations since the last request).

Global: ``standby`` (the synchronous standby, sync mode) and the ghost log of
acknowledged writes (length ``alen``), plus ``broken`` (ghost: some
acknowledgement did not extend the acknowledged history).

WAL contents
============
Every write appends a *fresh* entry (unique by its epoch and position), so
the only facts the properties need about WAL contents are lengths and, for
every pair of logs, the length of their longest common prefix ``lcp``. The
acknowledged history is log number ``N`` (the ghost). Writes and replication
update ``lcp`` exactly: appending a fresh entry to ``p`` leaves every
``lcp(p, j)`` unchanged; replicating one entry from ``p`` to ``r`` (whose WAL
is a prefix of ``p``'s) makes ``r`` the prefix of ``p`` of length ``wlen[r]+1``,
so ``lcp(r, j) = min(lcp(p, j), wlen[r] + 1)``. This abstraction is exact for
the operations of the model, and it is quantifier-free, which is what lets
Z3 prove the inductive invariant for unbounded WALs and epochs.

Actions
=======
Client ``write`` (append and fsync) and ``ack`` on a writable primary (sync
mode: only once the standby holds the whole WAL); ``replicate`` the next
entry to a replica whose WAL is a prefix (replicas refuse a lower-epoch
primary and adopt the primary's epoch); ``adopt`` (the epoch half of such a
replicate alone: the runtime persists the adopted epoch before the entry, and
a crash between the two leaves exactly this); ``diverge`` (a replica that is
not a prefix halts); ``crash`` (volatile state lost; a marker write in flight lands
as old, new or -- in broken variants -- torn); ``restart``; ``reinstate`` (the
controller lets a restarted primary admit writes again); ``demote`` (a
primary that sees a higher epoch rejoins as a replica); ``step_down`` (a
writable node that sees a higher epoch gives up authority); ``designate`` (sync
mode: the primary picks a standby that holds the acknowledged history);
every lifecycle step of a promotion, with the marker write as separate file
operations (temp write, fsync, rename, directory fsync); and ``abort`` (an
operator cancels an approved or transitioning attempt whose marker rename has
not happened).

Abort is not a lifecycle event: the 9 transitions of
:mod:`baton.spec.lifecycle` are unchanged. It *forgets* the attempt exactly as a
crash of the candidate's volatile state does (``lc`` back to ``Steady``, no
marker stage), without the crash's loss of ``up`` and ``active``. Before the
rename nothing durable names the candidate (a crash there lands on the old
marker), so forgetting the attempt is the crash outcome ``old`` with the
process still running. After the rename it is not: the new marker is visible,
and only a crash outcome can say whether it is durable -- the mutant
``abort_after_rename`` shows the epoch going backwards (P6-A3).

The known hazard
================
Approval has no durable effect. Baton closes the two known
ways of losing acknowledged writes in the gap between approval and a durable
marker with two mechanisms, both in this model and both proven:

1. *Fenced restart + reinstatement under the controller lock.* A restarted
   primary admits no writes until the controller reinstates it, and the
   controller reinstates only when no attempt is in flight anywhere and the
   node holds the highest epoch.
2. *Serialised attempts.* One controller runs at most one attempt in the whole
   cluster; a request while any attempt is in flight is rejected.

The environment assumptions these rest on are named switches
(:data:`ASSUMPTIONS`); dropping one, or running a mutant
(:data:`MUTANTS`), lets the bounded model checker find the counterexample.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from itertools import combinations

import z3

from . import lifecycle, validation
from .lifecycle import S as LC

# --- Sorts -------------------------------------------------------------------

MARKER_ROLE_NAMES: tuple[str, ...] = ("Replica", "Primary", "Halted", "Torn")
MarkerRole, _MROLES = z3.EnumSort("MarkerRole", list(MARKER_ROLE_NAMES))
MROLE = dict(zip(MARKER_ROLE_NAMES, _MROLES, strict=True))

MODES: tuple[str, ...] = ("async", "sync")

# --- Assumptions and mutants ------------------------------------------------


@dataclass(frozen=True)
class Assumption:
    """An environment assumption the proofs rest on, which can be dropped."""

    name: str
    statement: str
    guards: tuple[str, ...]


ASSUMPTIONS: tuple[Assumption, ...] = (
    Assumption(
        "force_is_truthful",
        "When an operator forces a promotion over a primary of Unknown status, the "
        "primary really admits no writes (the operator's assertion is true).",
        ("P6-A1", "P6-A2"),
    ),
    Assumption(
        "fenced_restart",
        "A node restarted from a primary marker admits no writes until the controller "
        "reinstates it (the database process honours the fenced start).",
        ("P6-S1", "P6-A1"),
    ),
    Assumption(
        "single_controller",
        "Operators drive promotions through one controller, which runs at most one "
        "attempt in the cluster at a time and gates reinstatement on it.",
        ("P6-A1", "P6-S1", "P6-A3"),
    ),
    Assumption(
        "unavailable_is_accurate",
        "A primary is reported Unavailable only when it really admits no writes.",
        ("P6-A1",),
    ),
    Assumption(
        "exact_async_ack_bound",
        "In async mode the bound on acknowledged writes is the old primary's durable WAL "
        "end, read exactly -- from its disk even while it is down -- never from another "
        "node or from a stale report.",
        ("P6-S1", "P6-S2"),
    ),
)
ASSUMPTION_NAMES: tuple[str, ...] = tuple(a.name for a in ASSUMPTIONS)


@dataclass(frozen=True)
class Mutant:
    """A deliberately broken variant of the protocol; the proofs must catch it."""

    name: str
    description: str
    breaks: tuple[str, ...]
    # Where the proofs catch it: "cluster" (bounded model checking of the
    # cluster finds a path to a violation), "validation" (the rule's
    # soundness proof fails with a counterexample context) or "defence" (it
    # changes only a defence-in-depth guard that no state allowed by the
    # assumptions reaches: bounded model checking with the assumption that
    # excludes it dropped finds the path; see DEFENCE_MUTANTS).
    level: str = "cluster"


MUTANTS: tuple[Mutant, ...] = (
    Mutant(
        "allow_unknown_ack_bound",
        "The validator allows a promotion although no bound on acknowledged writes is "
        "proven (drops the ack_bound_unknown check).",
        ("P6-F1", "P6-S1"),
    ),
    Mutant(
        "allow_behind_candidate",
        "The validator allows a candidate whose WAL ends before the acknowledged bound.",
        ("P6-S1", "P6-S2"),
    ),
    Mutant(
        "allow_divergent_history",
        "The validator allows a candidate whose WAL diverges from the committed history. "
        "(A cluster path to a loss needs two promotions, over 24 steps; the validation "
        "soundness proof catches it directly.)",
        ("P6-F1", "P6-S2"),
        level="validation",
    ),
    Mutant(
        "force_overrides_active",
        "force overrides a primary observed Active.",
        ("P6-A1a", "P6-A3", "P6-A1", "P6-A2"),
    ),
    Mutant(
        "rename_before_fsync",
        "The marker's temp file is renamed into place before it is fsynced.",
        ("P6-F2",),
    ),
    Mutant(
        "skip_dir_fsync",
        "The marker write skips the directory fsync after the rename.",
        ("P6-S1",),
    ),
    Mutant(
        "restart_keeps_authority",
        "A restarted primary admits writes at once, without reinstatement.",
        ("P6-A3", "P6-S1"),
    ),
    Mutant(
        "reinstate_during_attempt",
        "The controller reinstates a restarted primary while an attempt is in flight.",
        ("P6-A3",),
    ),
    Mutant(
        "concurrent_attempts",
        "Attempts for different candidates may run at once.",
        ("P6-A3",),
    ),
    Mutant(
        "retry_after_denial",
        "A denied attempt is re-validated without a new request.",
        ("P6-F3",),
    ),
    Mutant(
        "reuse_epoch",
        "A promotion grants the highest known epoch instead of the highest + 1.",
        ("P6-A3",),
    ),
    Mutant(
        "ack_before_standby",
        "In sync mode, the primary acknowledges before the standby holds the write.",
        ("P6-S1",),
    ),
    Mutant(
        "ack_one_entry_early",
        "In sync mode, the primary acknowledges once the standby holds all but the last "
        "entry of its WAL (an off-by-one in the ack guard).",
        ("P6-S1",),
    ),
    Mutant(
        "reinstate_without_top_epoch",
        "The controller reinstates a restarted primary without checking that it holds "
        "the highest epoch.",
        ("P6-A3",),
    ),
    Mutant(
        "follow_ambiguous_primary",
        "A replica keeps following a primary whose epoch another running node also claims "
        "as Primary, instead of halting (authority_ambiguity): it takes entries or the epoch "
        "from either claimant. Unobservable with every assumption (one primary per epoch); "
        "caught with single_controller dropped.",
        ("P6-A1",),
        level="defence",
    ),
    Mutant(
        "abort_after_rename",
        "An operator's abort is accepted after the marker rename (and before the "
        "directory fsync): the attempt is forgotten while the new marker is visible but "
        "not durable, so the node serves the new epoch until a crash takes it back -- "
        "with writes acknowledged in between, the old primary is reinstated without them.",
        ("P6-A3", "P6-S1"),
    ),
)
MUTANT_NAMES: tuple[str, ...] = tuple(m.name for m in MUTANTS)
DEFENCE_MUTANTS: dict[str, str] = {"follow_ambiguous_primary": "single_controller"}
"""Mutants of level "defence", and the assumption whose absence makes them observable."""

# The marker's file operations in the order each variant performs them.
MARKER_OPS: dict[str, tuple[str, ...]] = {
    "correct": ("write_temp", "fsync_temp", "rename", "fsync_dir"),
    "rename_before_fsync": ("write_temp", "rename", "fsync_temp", "fsync_dir"),
    "skip_dir_fsync": ("write_temp", "fsync_temp", "rename"),
}


def crash_outcomes_by_stage(ops: Sequence[str]) -> list[frozenset[str]]:
    """What a crash after the first ``k`` marker operations may leave on disk.

    Under the journaled-Linux persistence model: before the rename the old
    marker stays; after the rename but before the directory fsync either the
    old or the new name may survive; if the new file's data was not fsynced
    before its name became durable, its content may be torn.
    """
    outcomes: list[frozenset[str]] = []
    for k in range(len(ops) + 1):
        done = ops[:k]
        if "rename" not in done:
            outcomes.append(frozenset({"old"}))
            continue
        renamed_at = done.index("rename")
        data_durable = "fsync_temp" in done
        name_durable = "fsync_dir" in done[renamed_at:]
        content = {"new"} if data_durable else {"new", "torn"}
        outcomes.append(frozenset(content if name_durable else content | {"old"}))
    return outcomes


@dataclass(frozen=True)
class Config:
    """One instance of the cluster model: size, mode, dropped assumptions, mutant."""

    n: int = 3
    mode: str = "async"
    dropped: frozenset[str] = field(default_factory=frozenset)
    mutant: str | None = None

    def __post_init__(self) -> None:
        if self.n < 2:
            raise ValueError("the cluster model needs at least 2 nodes")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {self.mode!r}")
        unknown = set(self.dropped) - set(ASSUMPTION_NAMES)
        if unknown:
            raise ValueError(f"unknown assumption(s): {', '.join(sorted(unknown))}")
        if self.mutant is not None and self.mutant not in MUTANT_NAMES:
            raise ValueError(f"unknown mutant {self.mutant!r}")

    def assumes(self, name: str) -> bool:
        return name not in self.dropped

    def is_mutant(self, name: str) -> bool:
        return self.mutant == name

    @property
    def marker_ops(self) -> tuple[str, ...]:
        return MARKER_OPS.get(self.mutant or "correct", MARKER_OPS["correct"])

    @property
    def marker_durable_at_end(self) -> bool:
        return "fsync_dir" in self.marker_ops

    def with_n(self, n: int) -> Config:
        return replace(self, n=n)

    def label(self) -> str:
        parts = [f"N={self.n}", self.mode]
        if self.dropped:
            parts.append("drop:" + ",".join(sorted(self.dropped)))
        if self.mutant:
            parts.append(f"mutant:{self.mutant}")
        return " ".join(parts)


# --- State --------------------------------------------------------------------

NODE_FIELDS: tuple[str, ...] = (
    "up",
    "role",
    "epoch",
    "active",
    "wlen",
    "lc",
    "forced",
    "reason",
    "grant",
    "pepoch",
    "mstage",
    "vcount",
)


@dataclass
class State:
    """A symbolic (or, with constants, concrete) cluster state."""

    n: int
    up: list[z3.BoolRef]
    role: list[z3.ExprRef]
    epoch: list[z3.ArithRef]
    active: list[z3.BoolRef]
    wlen: list[z3.ArithRef]
    lc: list[z3.ExprRef]
    forced: list[z3.BoolRef]
    reason: list[z3.ExprRef]
    grant: list[z3.ArithRef]
    pepoch: list[z3.ArithRef]
    mstage: list[z3.ArithRef]
    vcount: list[z3.ArithRef]
    alen: z3.ArithRef
    lcp_pairs: dict[tuple[int, int], z3.ArithRef]
    standby: z3.ArithRef
    broken: z3.BoolRef

    @property
    def ack(self) -> int:
        """Index of the ghost log of acknowledged writes."""
        return self.n

    def length(self, i: int) -> z3.ArithRef:
        return self.alen if i == self.n else self.wlen[i]

    def lcp(self, i: int, j: int) -> z3.ArithRef:
        if i == j:
            return self.length(i)
        return self.lcp_pairs[(min(i, j), max(i, j))]

    def all_vars(self) -> list[z3.ExprRef]:
        out: list[z3.ExprRef] = []
        for name in NODE_FIELDS:
            out.extend(getattr(self, name))
        out.extend([self.alen, self.standby, self.broken])
        out.extend(self.lcp_pairs[k] for k in sorted(self.lcp_pairs))
        return out


def fresh_state(n: int, tag: str) -> State:
    """A state of fresh Z3 constants named ``<field>[i]@<tag>``."""

    def per(name: str, mk: Callable[[str], z3.ExprRef]) -> list[z3.ExprRef]:
        return [mk(f"{name}[{i}]@{tag}") for i in range(n)]

    return State(
        n=n,
        up=per("up", z3.Bool),
        role=per("role", lambda s: z3.Const(s, MarkerRole)),
        epoch=per("epoch", z3.Int),
        active=per("active", z3.Bool),
        wlen=per("wlen", z3.Int),
        lc=per("lc", lambda s: z3.Const(s, lifecycle.State)),
        forced=per("forced", z3.Bool),
        reason=per("reason", lambda s: z3.Const(s, validation.Decision)),
        grant=per("grant", z3.Int),
        pepoch=per("pepoch", z3.Int),
        mstage=per("mstage", z3.Int),
        vcount=per("vcount", z3.Int),
        alen=z3.Int(f"alen@{tag}"),
        lcp_pairs={(i, j): z3.Int(f"lcp[{i},{j}]@{tag}") for i, j in combinations(range(n + 1), 2)},
        standby=z3.Int(f"standby@{tag}"),
        broken=z3.Bool(f"broken@{tag}"),
    )


def writable(s: State, i: int) -> z3.BoolRef:
    """Node ``i`` admits writes."""
    return z3.And(s.up[i], s.active[i])


def holds_max_epoch(s: State, i: int) -> z3.BoolRef:
    return z3.And(*[s.epoch[j] <= s.epoch[i] for j in range(s.n)])


def all_steady(s: State) -> z3.BoolRef:
    return z3.And(*[s.lc[j] == LC["Steady"] for j in range(s.n)])


def initial(cfg: Config, s: State) -> z3.BoolRef:
    """Node 0 is the writable primary at epoch 1; the others are replicas; WALs empty."""
    n = cfg.n
    cs: list[z3.BoolRef] = []
    for i in range(n):
        cs += [
            s.up[i],
            s.role[i] == (MROLE["Primary"] if i == 0 else MROLE["Replica"]),
            s.epoch[i] == 1,
            s.active[i] == (i == 0),
            s.wlen[i] == 0,
            s.lc[i] == LC["Steady"],
            z3.Not(s.forced[i]),
            s.reason[i] == validation.DECISION[validation.ALLOWED],
            s.grant[i] == 0,
            s.pepoch[i] == 0,
            s.mstage[i] == 0,
            s.vcount[i] == 0,
        ]
    cs += [s.alen == 0, s.standby == 1, z3.Not(s.broken)]
    cs += [v == 0 for v in s.lcp_pairs.values()]
    return z3.And(*cs)


# --- Actions -----------------------------------------------------------------


@dataclass(frozen=True)
class Action:
    """One action instance: a name, its node parameters and its step.

    ``step`` holds the guard and the variables the action changes; the full
    step formula (guard and a frame equation for every variable) is built on
    first use (:attr:`formula`), since bounded model checking needs only the
    guard and the changes.
    """

    name: str
    nodes: tuple[int, ...]
    step: _Step
    choices: tuple[z3.ExprRef, ...] = ()

    @cached_property
    def formula(self) -> z3.BoolRef:
        """``guard and t.v == value`` for every variable ``v`` (unchanged ones equal ``s.v``)."""
        return self.step.formula()

    @property
    def guard(self) -> z3.BoolRef:
        return self.step.guard


def variable_keys(n: int) -> list[str]:
    """The name of every state variable, in :meth:`State.all_vars` order."""
    keys = [f"{name}[{i}]" for name in NODE_FIELDS for i in range(n)]
    keys += ["alen", "standby", "broken"]
    keys += [f"lcp[{i},{j}]" for i, j in combinations(range(n + 1), 2)]
    return keys


class _Step:
    """Builds ``pre -> post`` steps where unmentioned variables stay unchanged."""

    def __init__(self, s: State, t: State) -> None:
        self.s, self.t = s, t
        self.changed: dict[str, z3.ExprRef] = {}
        self.guard: z3.BoolRef = z3.BoolVal(True)

    def set(self, key: str, value: z3.ExprRef) -> None:
        self.changed[key] = value

    def node(self, fieldname: str, i: int, value: z3.ExprRef | int | bool) -> None:
        self.set(f"{fieldname}[{i}]", _as_expr(value, getattr(self.s, fieldname)[i]))

    def lcp(self, i: int, j: int, value: z3.ExprRef) -> None:
        if i != j:
            self.set(f"lcp[{min(i, j)},{max(i, j)}]", value)

    def build(self, guard: z3.BoolRef) -> _Step:
        """Fix the guard; the step is complete."""
        self.guard = guard
        return self

    def formula(self) -> z3.BoolRef:
        s, t = self.s, self.t
        eqs: list[z3.BoolRef] = [self.guard]
        for fieldname in NODE_FIELDS:
            for i in range(s.n):
                key = f"{fieldname}[{i}]"
                new = getattr(t, fieldname)[i]
                eqs.append(new == self.changed.get(key, getattr(s, fieldname)[i]))
        for key, old, new in (
            ("alen", s.alen, t.alen),
            ("standby", s.standby, t.standby),
            ("broken", s.broken, t.broken),
        ):
            eqs.append(new == self.changed.get(key, old))
        for (i, j), old in s.lcp_pairs.items():
            eqs.append(t.lcp_pairs[(i, j)] == self.changed.get(f"lcp[{i},{j}]", old))
        return z3.And(*eqs)


def guard_and_updates(act: Action, keys: list[str]) -> tuple[z3.BoolRef, dict[int, z3.ExprRef]]:
    """An action's guard and the variables it changes, by position in ``keys``
    (:func:`variable_keys`). The bounded model checker states each step as one
    guarded update per variable instead of a disjunction of whole frames."""
    position = {key: k for k, key in enumerate(keys)}
    return act.guard, {position[key]: value for key, value in act.step.changed.items()}


def _as_expr(value: z3.ExprRef | int | bool, like: z3.ExprRef) -> z3.ExprRef:
    if isinstance(value, z3.ExprRef):
        return value
    if isinstance(value, bool):
        return z3.BoolVal(value)
    return z3.IntVal(value) if z3.is_int(like) else value


def _min(a: z3.ArithRef, b: z3.ArithRef) -> z3.ArithRef:
    return z3.If(a <= b, a, b)


def observed_context(
    cfg: Config, s: State, c: int, tag: str
) -> tuple[validation.Context, z3.BoolRef, tuple[z3.ExprRef, ...]]:
    """The validation context the candidate ``c`` observes in state ``s``.

    Observation is nondeterministic where the real world is: the primary's
    status may be reported Unknown; the acknowledged bound may be unknown; MVCC
    preservation is an external fact. Returns the context, the constraints
    tying the observation to the state (the environment assumptions among
    them), and the choice variables.
    """
    n = cfg.n
    status = z3.Const(f"obs.status@{tag}", validation.PrimaryStatus)
    known = z3.Bool(f"obs.bound_known@{tag}")
    # Prefix compatibility can be learnt from another source (timeline history)
    # than the acknowledged bound, so the two are known independently.
    prefix_known = z3.Bool(f"obs.prefix_known@{tag}")
    src = z3.Int(f"obs.src@{tag}")
    mvcc = z3.Const(f"obs.mvcc@{tag}", validation.Mvcc)
    # An operator's durable "promotion disabled" switch (the node's or the
    # cluster's), which the validator reads as the Disabled role. Any validation
    # may find it set: it only ever denies (candidate_disabled), so leaving it
    # free is sound for every property.
    disabled = z3.Bool(f"obs.disabled@{tag}")
    other_writer = z3.Or(*[writable(s, j) for j in range(n) if j != c])
    cons: list[z3.BoolRef] = []
    # Active is reported only for a real writer; a real writer is never Unavailable
    # (unless that assumption is dropped).
    cons.append(z3.Implies(status == validation.PSTATUS["Active"], other_writer))
    if cfg.assumes("unavailable_is_accurate"):
        cons.append(z3.Implies(status == validation.PSTATUS["Unavailable"], z3.Not(other_writer)))
    if cfg.assumes("force_is_truthful"):
        cons.append(
            z3.Implies(
                z3.And(s.forced[c], status == validation.PSTATUS["Unknown"]),
                z3.Not(other_writer),
            )
        )
    # Where the bound on acknowledged writes comes from: in sync mode the
    # standby's durable end; in async mode the old primary's durable WAL, that
    # is the primary-role node holding the highest epoch -- read exactly, which
    # is the assumption exact_async_ack_bound (dropped: any node's WAL end).
    if cfg.mode == "sync":
        cons.append(src == s.standby)
    elif cfg.assumes("exact_async_ack_bound"):
        is_old_primary = [
            z3.And(s.role[j] == MROLE["Primary"], holds_max_epoch(s, j)) for j in range(n)
        ]
        cons.append(
            z3.Implies(
                z3.Or(known, prefix_known),
                z3.Or(*[z3.And(src == j, is_old_primary[j]) for j in range(n)]),
            )
        )
    cons.append(z3.And(src >= 0, src < n))

    def pick(f: Callable[[int], z3.ExprRef]) -> z3.ExprRef:
        expr = f(n - 1)
        for j in reversed(range(n - 1)):
            expr = z3.If(src == j, f(j), expr)
        return expr

    src_len = pick(lambda j: s.wlen[j])
    src_lcp = pick(lambda j: s.lcp(c, j))
    cand_len = s.wlen[c]
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
            s.role[c] == MROLE["Primary"],
            validation.ROLE["PrimaryActive"],
            z3.If(
                s.role[c] == MROLE["Replica"],
                validation.ROLE["ReplicaActive"],
                validation.ROLE["Halted"],
            ),
        ),
    )
    halt = z3.If(
        z3.And(z3.Not(disabled), s.role[c] == MROLE["Halted"]),
        validation.HALT["history_divergence"],
        z3.If(
            z3.And(z3.Not(disabled), s.role[c] == MROLE["Torn"]),
            validation.HALT["wal_corruption"],
            validation.HALT["none"],
        ),
    )
    ctx = validation.Context(
        role=role,
        halt_reason=halt,
        primary_status=status,
        force=s.forced[c],
        position=position,
        prefix=prefix,
        mvcc=mvcc,
    )
    return ctx, z3.And(*cons), (status, known, prefix_known, src, mvcc, disabled)


def checks_for(cfg: Config) -> tuple[validation.Check, ...]:
    """The validator's checks as the variant has them."""
    drop = {
        "allow_unknown_ack_bound": {"ack_bound_unknown"},
        "allow_behind_candidate": {"candidate_behind_ack_bound"},
        "allow_divergent_history": {"history_divergent"},
        "force_overrides_active": {"force_cannot_override_active_primary"},
    }.get(cfg.mutant or "", set())
    return tuple(ch for ch in validation.CHECKS if ch.reason not in drop)


def actions(cfg: Config, s: State, t: State, tag: str) -> Iterator[Action]:
    """Every action instance from ``s`` to ``t``; the step relation is their disjunction."""
    n, A = cfg.n, cfg.n
    ops = cfg.marker_ops
    stage_outcomes = crash_outcomes_by_stage(ops)
    rename_stage = ops.index("rename") + 1
    in_flight_any = z3.Or(
        *[
            z3.Or(s.lc[j] == LC["PromotionApproved"], s.lc[j] == LC["AuthorityTransitioning"])
            for j in range(n)
        ]
    )

    for p in range(n):
        # write: append a fresh entry and fsync it (not yet acknowledged).
        st = _Step(s, t)
        st.node("wlen", p, s.wlen[p] + 1)
        yield Action("write", (p,), st.build(writable(s, p)))

        # ack: acknowledge everything durable in p's WAL.
        st = _Step(s, t)
        guard = writable(s, p)
        if cfg.mode == "sync" and not cfg.is_mutant("ack_before_standby"):
            # The standby holds p's whole WAL (the mutant: all but its last entry).
            early = cfg.is_mutant("ack_one_entry_early")
            holds = z3.Or(
                *[
                    z3.And(
                        s.standby == j,
                        # The standby holds p's whole WAL (the mutant: all but the last entry).
                        s.lcp(p, j) >= s.wlen[p] - 1 if early else s.lcp(p, j) == s.wlen[p],
                    )
                    for j in range(n)
                    if j != p
                ]
            )
            guard = z3.And(guard, holds)
        st.set("alen", s.wlen[p])
        for j in range(n):
            st.lcp(A, j, s.wlen[p] if j == p else s.lcp(p, j))
        st.set("broken", z3.Or(s.broken, s.lcp(A, p) < s.alen))
        yield Action("ack", (p,), st.build(guard))

    for p in range(n):
        for r in range(n):
            if p == r:
                continue
            base = z3.And(
                s.up[p],
                s.up[r],
                s.role[p] == MROLE["Primary"],
                s.role[r] == MROLE["Replica"],
                # Epoch fencing: a replica refuses a lower-epoch primary.
                s.epoch[r] <= s.epoch[p],
                # Approval freezes the candidate's WAL (what was validated is what
                # is promoted), and a candidate serves no WAL while its marker is
                # in flight (durable first, visible after).
                s.lc[r] != LC["PromotionApproved"],
                s.lc[r] != LC["AuthorityTransitioning"],
                s.lc[p] != LC["AuthorityTransitioning"],
            )
            if not cfg.is_mutant("follow_ambiguous_primary"):
                # A replica follows no primary whose epoch another running node also
                # claims: it halts instead (ambiguity_halt, P6-A1).
                base = z3.And(base, unambiguous(s, p, r))
            is_prefix = s.lcp(r, p) == s.wlen[r]
            # Only a replica behind the primary takes an entry; a replica that is
            # no prefix halts at once, whatever the lengths (P6-S2).
            behind = s.wlen[r] < s.wlen[p]
            st = _Step(s, t)
            new_len = s.wlen[r] + 1
            st.node("wlen", r, new_len)
            st.node("epoch", r, s.epoch[p])
            for j in range(n + 1):
                if j == r:
                    continue
                st.lcp(r, j, new_len if j == p else _min(s.lcp(p, j), new_len))
            yield Action("replicate", (p, r), st.build(z3.And(base, behind, is_prefix)))

            # adopt: the first half of a replicate that raises the replica's epoch.
            # The runtime makes the new epoch durable (its marker) before it appends
            # the entry (its WAL): two durable writes, so a crash between them leaves
            # the epoch adopted and the entry not taken -- this state.
            st = _Step(s, t)
            st.node("epoch", r, s.epoch[p])
            yield Action(
                "adopt", (p, r), st.build(z3.And(base, behind, is_prefix, s.epoch[r] < s.epoch[p]))
            )

            st = _Step(s, t)
            st.node("role", r, MROLE["Halted"])
            yield Action("diverge", (p, r), st.build(z3.And(base, z3.Not(is_prefix))))

    yield from _ambiguity_halts(s, t)

    for i in range(n):
        # crash: volatile state is lost; a marker write in flight lands as the
        # persistence model allows (old / new / torn).
        outcome = z3.Int(f"crash.outcome[{i}]@{tag}")  # 0 old, 1 new, 2 torn
        allowed = z3.Or(
            *[
                z3.And(
                    s.mstage[i] == k,
                    z3.Or(*[outcome == {"old": 0, "new": 1, "torn": 2}[o] for o in sorted(outs)]),
                )
                for k, outs in enumerate(stage_outcomes)
            ]
        )
        st = _Step(s, t)
        st.node("up", i, False)
        st.node("active", i, False)
        st.node("lc", i, LC["Steady"])
        st.node("forced", i, False)
        st.node("mstage", i, 0)
        in_write = s.mstage[i] > 0
        st.node(
            "role",
            i,
            z3.If(
                z3.Not(in_write),
                s.role[i],
                z3.If(
                    outcome == 0,
                    MROLE["Replica"],
                    z3.If(outcome == 1, MROLE["Primary"], MROLE["Torn"]),
                ),
            ),
        )
        st.node(
            "epoch",
            i,
            z3.If(
                z3.And(in_write, outcome == 1), s.grant[i], z3.If(in_write, s.pepoch[i], s.epoch[i])
            ),
        )
        yield Action("crash", (i,), st.build(z3.And(s.up[i], allowed)), (outcome,))

        # restart: recovery reads the disk only; a torn marker refuses to start.
        st = _Step(s, t)
        st.node("up", i, True)
        resumes = cfg.is_mutant("restart_keeps_authority") or not cfg.assumes("fenced_restart")
        st.node("active", i, s.role[i] == MROLE["Primary"] if resumes else False)
        yield Action("restart", (i,), st.build(z3.And(z3.Not(s.up[i]), s.role[i] != MROLE["Torn"])))

        # reinstate: the controller lets a fenced primary admit writes again.
        gate: list[z3.BoolRef] = [
            s.up[i],
            s.role[i] == MROLE["Primary"],
            z3.Not(s.active[i]),
            *([] if cfg.is_mutant("reinstate_without_top_epoch") else [holds_max_epoch(s, i)]),
            *[z3.Not(s.active[j]) for j in range(n) if j != i],
        ]
        if cfg.assumes("single_controller") and not cfg.is_mutant("reinstate_during_attempt"):
            gate.append(all_steady(s))
        elif cfg.is_mutant("reinstate_during_attempt"):
            gate.append(z3.Or(all_steady(s), in_flight_any))
        st = _Step(s, t)
        st.node("active", i, True)
        yield Action("reinstate", (i,), st.build(z3.And(*gate)))

        higher = z3.Or(*[s.epoch[j] > s.epoch[i] for j in range(n) if j != i])
        # demote: a fenced primary that sees a higher epoch rejoins as a replica.
        st = _Step(s, t)
        st.node("role", i, MROLE["Replica"])
        yield Action(
            "demote",
            (i,),
            st.build(
                z3.And(
                    s.up[i],
                    s.role[i] == MROLE["Primary"],
                    z3.Not(s.active[i]),
                    higher,
                    s.lc[i] == LC["Steady"],
                )
            ),
        )
        # step_down: a writable node that sees a higher epoch gives up authority.
        st = _Step(s, t)
        st.node("active", i, False)
        st.node("role", i, MROLE["Replica"])
        yield Action("step_down", (i,), st.build(z3.And(writable(s, i), higher)))

        if cfg.mode == "sync":
            for j in range(n):
                if j == i:
                    continue
                st = _Step(s, t)
                st.set("standby", z3.IntVal(j))
                yield Action(
                    "designate",
                    (i, j),
                    st.build(
                        z3.And(
                            writable(s, i),
                            s.role[j] == MROLE["Replica"],
                            s.lcp(A, j) == s.alen,
                        )
                    ),
                )

    # --- the promotion lifecycle, per candidate ---
    for c in range(n):
        force = z3.Bool(f"req.force[{c}]@{tag}")
        st = _Step(s, t)
        st.node("lc", c, LC["PromotionRequested"])
        st.node("forced", c, force)
        st.node("vcount", c, 0)
        req_guard = z3.And(s.up[c], s.lc[c] == LC["Steady"])
        if cfg.assumes("single_controller") and not cfg.is_mutant("concurrent_attempts"):
            req_guard = z3.And(req_guard, all_steady(s))
        yield Action("request", (c,), st.build(req_guard), (force,))

        st = _Step(s, t)
        st.node("lc", c, LC["Steady"])
        yield Action("reject", (c,), st.build(z3.And(s.up[c], s.lc[c] == LC["PromotionRequested"])))

        st = _Step(s, t)
        st.node("lc", c, LC["PromotionValidating"])
        st.node("vcount", c, s.vcount[c] + 1)
        yield Action(
            "begin_validation",
            (c,),
            st.build(z3.And(s.up[c], s.lc[c] == LC["PromotionRequested"])),
        )

        ctx, obs, choices = observed_context(cfg, s, c, f"{tag}.{c}")
        verdict = validation.decide(ctx, checks_for(cfg))
        is_allowed = verdict == validation.DECISION[validation.ALLOWED]
        validating = z3.And(s.up[c], s.lc[c] == LC["PromotionValidating"], obs)
        st = _Step(s, t)
        st.node("lc", c, LC["PromotionApproved"])
        st.node("reason", c, verdict)
        yield Action("approve", (c,), st.build(z3.And(validating, is_allowed)), choices)
        st = _Step(s, t)
        st.node("lc", c, LC["PromotionDenied"])
        st.node("reason", c, verdict)
        yield Action("deny", (c,), st.build(z3.And(validating, z3.Not(is_allowed))), choices)

        # begin_transition: grant the highest known epoch + 1 (P6-A3).
        grant = z3.Int(f"grant[{c}]@{tag}.choice")
        bump = 0 if cfg.is_mutant("reuse_epoch") else 1
        grant_ok = z3.And(
            *[grant >= s.epoch[j] + bump for j in range(n)],
            z3.Or(*[grant == s.epoch[j] + bump for j in range(n)]),
        )
        st = _Step(s, t)
        st.node("lc", c, LC["AuthorityTransitioning"])
        st.node("grant", c, grant)
        st.node("pepoch", c, s.epoch[c])
        st.node("mstage", c, 0)
        yield Action(
            "begin_transition",
            (c,),
            st.build(z3.And(s.up[c], s.lc[c] == LC["PromotionApproved"], grant_ok)),
            (grant,),
        )

        # The marker write, one file operation per step. The rename makes the
        # new marker visible; only the directory fsync makes it durable.
        for k, op in enumerate(ops):
            st = _Step(s, t)
            st.node("mstage", c, k + 1)
            if k + 1 == rename_stage:
                st.node("role", c, MROLE["Primary"])
                st.node("epoch", c, s.grant[c])
            yield Action(
                f"marker_{op}",
                (c,),
                st.build(
                    z3.And(s.up[c], s.lc[c] == LC["AuthorityTransitioning"], s.mstage[c] == k)
                ),
            )

        # complete: only once every marker operation is done; durable, then visible.
        st = _Step(s, t)
        st.node("lc", c, LC["PromotionSucceeded"])
        st.node("active", c, True)
        if cfg.marker_durable_at_end:
            st.node("mstage", c, 0)
        yield Action(
            "complete",
            (c,),
            st.build(
                z3.And(
                    s.up[c],
                    s.lc[c] == LC["AuthorityTransitioning"],
                    s.mstage[c] == len(ops),
                )
            ),
        )

        st = _Step(s, t)
        st.node("lc", c, LC["Steady"])
        yield Action(
            "acknowledge",
            (c,),
            st.build(
                z3.And(
                    s.up[c],
                    z3.Or(s.lc[c] == LC["PromotionSucceeded"], s.lc[c] == LC["PromotionDenied"]),
                )
            ),
        )

        yield from _abort_actions(cfg, s, t, c, rename_stage)

        if cfg.is_mutant("retry_after_denial"):
            st = _Step(s, t)
            st.node("lc", c, LC["PromotionValidating"])
            st.node("vcount", c, s.vcount[c] + 1)
            yield Action("retry", (c,), st.build(z3.And(s.up[c], s.lc[c] == LC["PromotionDenied"])))


def unambiguous(s: State, p: int, r: int) -> z3.BoolRef:
    """Replica ``r`` sees no running node but ``p`` claim Primary at ``p``'s epoch."""
    return z3.And(
        *[
            z3.Not(z3.And(s.up[k], s.role[k] == MROLE["Primary"], s.epoch[k] == s.epoch[p]))
            for k in range(s.n)
            if k not in (p, r)
        ]
    )


def ambiguity_guard(s: State, i: int, j: int, k: int) -> z3.BoolRef:
    """Node ``i`` sees nodes ``j`` and ``k`` claim Primary at one epoch, not below its own.

    ``i`` is running with a replica or primary marker and no attempt of its own
    in flight; ``j`` is another running node whose marker claims Primary at an
    epoch ``i`` cannot fence off (at least its own); ``k`` is a second claimant
    of that same epoch: ``i`` itself when it is a primary, else another running
    node. With one primary per epoch (P6-A3) no state satisfies this; the halt
    it enables is defence in depth for the P6-A1 single writer.
    """
    return z3.And(
        s.up[i],
        z3.Or(s.role[i] == MROLE["Replica"], s.role[i] == MROLE["Primary"]),
        s.lc[i] == LC["Steady"],
        s.up[j],
        s.role[j] == MROLE["Primary"],
        s.epoch[j] >= s.epoch[i],
        *([] if k == i else [s.up[k]]),
        s.role[k] == MROLE["Primary"],
        s.epoch[k] == s.epoch[j],
    )


def _ambiguity_halts(s: State, t: State) -> Iterator[Action]:
    """ambiguity_halt: a node that sees two primaries claim one epoch halts (P6-A1).

    It writes a Halted marker at its own epoch (reason ``authority_ambiguity``)
    and admits no writes: it can no longer tell which primary holds authority,
    so it follows neither. Parameters ``(i, j, k)``: the node that halts and the
    two claimants (``k`` may be ``i``); at N=2 only a primary can see the other
    node claim its own epoch.
    """
    n = s.n
    for i in range(n):
        for j in range(n):
            for k in range(n):
                if j in (i, k):
                    continue
                st = _Step(s, t)
                st.node("role", i, MROLE["Halted"])
                st.node("active", i, False)
                yield Action("ambiguity_halt", (i, j, k), st.build(ambiguity_guard(s, i, j, k)))


def _abort_actions(cfg: Config, s: State, t: State, c: int, rename_stage: int) -> Iterator[Action]:
    """abort: the operator cancels ``c``'s approved or transitioning attempt.

    Allowed only while no marker operation up to the rename is done (``mstage``
    below the rename's stage): the attempt is forgotten as a crash of the
    candidate's volatile state forgets it (``lc`` Steady, no marker stage, not
    forced), and the marker -- untouched, since the rename has not happened --
    keeps the old authority. The runtime discards the temp file. The mutant
    ``abort_after_rename`` accepts an abort at any marker stage and leaves the
    disk as it is (the marker stage stays: a crash may still land either way).
    """
    after_rename = cfg.is_mutant("abort_after_rename")
    st = _Step(s, t)
    st.node("lc", c, LC["Steady"])
    st.node("forced", c, False)
    if not after_rename:
        st.node("mstage", c, 0)
    guard = z3.And(
        s.up[c],
        z3.Or(s.lc[c] == LC["PromotionApproved"], s.lc[c] == LC["AuthorityTransitioning"]),
    )
    if not after_rename:
        guard = z3.And(guard, s.mstage[c] < rename_stage)
    yield Action("abort", (c,), st.build(guard))


def action_names(cfg: Config) -> list[str]:
    """The distinct action names of a configuration, in declaration order."""
    s, t = fresh_state(cfg.n, "a"), fresh_state(cfg.n, "b")
    seen: list[str] = []
    for act in actions(cfg, s, t, "names"):
        if act.name not in seen:
            seen.append(act.name)
    return seen
