"""The cluster spec compiled to Python: its own Z3 terms, evaluated fast.

:mod:`baton.spec.concrete` evaluates the spec on concrete states through Z3
(milliseconds per query). An exhaustive search of the runtime core checks
millions of steps, so this module translates the *same* Z3 terms --
every action formula of :func:`baton.spec.cluster.actions` and every
property predicate of :mod:`baton.spec.properties` -- mechanically into
Python functions, once per configuration. Nothing here restates a rule:
the translation walks the term graph (``And``, ``If``, ``==``, ``<=``, ``+``,
enumeration constants, ...) and refuses any term kind it does not know, so a
change of the spec changes the compiled evaluator with it. Tests compare the
two evaluators on explored and on random states.

Concrete states are flat tuples (:class:`Layout`): one slot per variable of
:class:`baton.spec.cluster.State`: node by node, each node's variables in
``NODE_FIELDS`` order, then ``alen``, ``standby``, ``broken`` and the ``lcp``
pairs in sorted order (:func:`layout_vars`); booleans as 0/1, enumeration
values as their index in the sort.

Free choice variables
=====================
Some actions carry existentially quantified choices (the crash outcome, the
forced flag of a request, the observation of a validation, the granted
epoch). A step is a step of the action when *some* choice satisfies the
formula. Booleans and enumeration sorts have finite domains and are
enumerated. An integer choice ``v`` may only occur in atoms ``v op e`` (``op``
one of ``= != < <= > >=``) with ``e`` free of choices; the truth of every such
atom depends only on where ``v`` lies relative to the finitely many values of
the ``e``, so the candidates ``e - 1, e, e + 1`` meet every region and the
enumeration is exact. Any other use of a choice is refused at compile time.
Choices are enumerated in nested loops, each conjunct tested at the
shallowest loop where all its choices are bound, so most candidates are cut
early.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from itertools import combinations
from typing import Any

import z3

from . import cluster, properties
from .cluster import Config, State
from .concrete import Snapshot, common_prefix

Flat = tuple[int, ...]
"""A concrete state: one int per variable (booleans as 0/1, enums as indexes)."""

StepCheck = Callable[[Flat, Flat], bool]
StateCheck = Callable[[Flat], bool]


class CompileError(ValueError):
    """The spec uses a term the compiler does not translate (never guessed)."""


# --- layout -------------------------------------------------------------------------


def _enum_index(value: z3.ExprRef) -> int:
    sort = value.sort()
    name = value.decl().name()
    for k in range(sort.num_constructors()):
        if sort.constructor(k).name() == name:
            return k
    raise CompileError(f"{name} is not a constructor of {sort}")  # pragma: no cover


@dataclass(frozen=True)
class Layout:
    """Where each variable of an ``n``-node state lives in a flat tuple."""

    n: int

    @property
    def size(self) -> int:
        return len(cluster.NODE_FIELDS) * self.n + 3 + (self.n + 1) * self.n // 2

    def slot(self, fieldname: str, i: int = 0) -> int:
        """Index of ``fieldname[i]`` (node fields), ``alen``/``standby``/``broken``,
        or ``lcp`` pair number ``i`` (pairs in sorted order)."""
        nf = len(cluster.NODE_FIELDS)
        if fieldname in cluster.NODE_FIELDS:
            return i * nf + cluster.NODE_FIELDS.index(fieldname)
        base = nf * self.n
        if fieldname == "lcp":
            return base + 3 + i
        return base + ("alen", "standby", "broken").index(fieldname)

    def pairs(self) -> list[tuple[int, int]]:
        """The lcp pairs in slot order (the ghost acknowledged log is number n)."""
        return list(combinations(range(self.n + 1), 2))


@cache
def value_codes() -> dict[str, dict[str, int]]:
    """Snapshot string values -> enum index, per node field with an enum sort."""
    from . import lifecycle, validation

    return {
        "role": {k: _enum_index(v) for k, v in cluster.MROLE.items()},
        "lifecycle": {k: _enum_index(v) for k, v in lifecycle.STATES.items()},
        "reason": {k: _enum_index(v) for k, v in validation.DECISION.items()},
    }


def flatten(snapshot: Snapshot) -> Flat:
    """The flat tuple of a concrete snapshot (what :func:`baton.spec.concrete.bind` fixes)."""
    codes = value_codes()
    nodes = snapshot.nodes
    columns: dict[str, list[int]] = {
        "up": [int(x.up) for x in nodes],
        "role": [codes["role"][x.role] for x in nodes],
        "epoch": [x.epoch for x in nodes],
        "active": [int(x.active) for x in nodes],
        "wlen": [len(x.wal) for x in nodes],
        "lc": [codes["lifecycle"][x.lifecycle] for x in nodes],
        "forced": [int(x.forced) for x in nodes],
        "reason": [codes["reason"][x.reason] for x in nodes],
        "grant": [x.grant for x in nodes],
        "pepoch": [x.pepoch for x in nodes],
        "mstage": [x.marker_stage for x in nodes],
        "vcount": [x.validations for x in nodes],
    }
    flat: list[int] = []
    for i in range(snapshot.n):
        flat += [columns[name][i] for name in cluster.NODE_FIELDS]
    flat += [len(snapshot.acked), snapshot.standby, int(snapshot.broken)]
    logs = snapshot.logs()
    flat += [common_prefix(logs[i], logs[j]) for i, j in Layout(snapshot.n).pairs()]
    return tuple(flat)


def describe_flat(n: int, flat: Flat) -> dict[str, int]:
    """``{variable name: value}`` of a flat state (for messages and debugging)."""
    s = cluster.fresh_state(n, "x")
    return {str(v).removesuffix("@x"): flat[k] for k, v in enumerate(layout_vars(s))}


def layout_vars(s: State) -> list[z3.ExprRef]:
    """The variables of ``s`` in flat-tuple order (see the module docstring)."""
    out: list[z3.ExprRef] = []
    for i in range(s.n):
        out += [getattr(s, name)[i] for name in cluster.NODE_FIELDS]
    out += [s.alen, s.standby, s.broken]
    out += [s.lcp_pairs[k] for k in sorted(s.lcp_pairs)]
    return out


# --- the term compiler -----------------------------------------------------------------

_BINARY = {
    z3.Z3_OP_LE: "<=",
    z3.Z3_OP_LT: "<",
    z3.Z3_OP_GE: ">=",
    z3.Z3_OP_GT: ">",
}
_FLIP = {"<=": ">=", "<": ">", ">=": "<=", ">": "<", "==": "==", "!=": "!="}


class _Compiler:
    """Translates Z3 terms over named variables into Python expressions."""

    def __init__(self, variables: dict[str, str]) -> None:
        self.variables = variables  # z3 constant name -> python expression (e.g. "S[3]")
        self.choices: dict[str, z3.ExprRef] = {}  # free constants met, by name

    def expr(self, e: z3.ExprRef) -> str:
        memo: dict[int, str] = {}
        return self._expr(e, memo)

    def _expr(self, e: z3.ExprRef, memo: dict[int, str]) -> str:
        key = e.get_id()
        if key in memo:
            return memo[key]
        out = self._translate(e, memo)
        memo[key] = out
        return out

    def _translate(self, e: z3.ExprRef, memo: dict[int, str]) -> str:
        kind = e.decl().kind()
        args = [self._expr(c, memo) for c in e.children()]
        if z3.is_int_value(e):
            return str(e.as_long())
        if kind == z3.Z3_OP_TRUE:
            return "True"
        if kind == z3.Z3_OP_FALSE:
            return "False"
        if kind == z3.Z3_OP_DT_CONSTRUCTOR and e.num_args() == 0:
            return str(_enum_index(e))
        if kind == z3.Z3_OP_UNINTERPRETED and e.num_args() == 0:
            name = e.decl().name()
            if name in self.variables:
                return self.variables[name]
            self.choices[name] = e
            return f"c_{_ident(name)}"
        if kind == z3.Z3_OP_AND:
            return "(" + " and ".join(args) + ")" if args else "True"
        if kind == z3.Z3_OP_OR:
            return "(" + " or ".join(args) + ")" if args else "False"
        if kind == z3.Z3_OP_NOT:
            return f"(not {args[0]})"
        if kind == z3.Z3_OP_IMPLIES:
            return f"((not {args[0]}) or {args[1]})"
        if kind == z3.Z3_OP_ITE:
            return f"({args[1]} if {args[0]} else {args[2]})"
        if kind in (z3.Z3_OP_EQ, z3.Z3_OP_IFF):
            return f"({args[0]} == {args[1]})"
        if kind == z3.Z3_OP_DISTINCT:
            if len(args) != 2:
                raise CompileError(f"distinct of {len(args)} terms")
            return f"({args[0]} != {args[1]})"
        if kind in _BINARY:
            return f"({args[0]} {_BINARY[kind]} {args[1]})"
        if kind == z3.Z3_OP_ADD:
            return "(" + " + ".join(args) + ")"
        if kind == z3.Z3_OP_SUB:
            return "(" + " - ".join(args) + ")"
        if kind == z3.Z3_OP_MUL:
            return "(" + " * ".join(args) + ")"
        if kind == z3.Z3_OP_UMINUS:
            return f"(-{args[0]})"
        raise CompileError(f"cannot compile {e.decl()} (kind {kind}): {str(e)[:80]}")


def _ident(name: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in name)


def _conjuncts(e: z3.ExprRef) -> list[z3.ExprRef]:
    """The top-level conjuncts of ``e`` (nested Ands flattened)."""
    if z3.is_and(e):
        out: list[z3.ExprRef] = []
        for c in e.children():
            out += _conjuncts(c)
        return out
    return [e]


def _free_constants(e: z3.ExprRef, known: set[str]) -> set[str]:
    """Names of the uninterpreted constants in ``e`` that are not in ``known``."""
    found: set[str] = set()
    seen: set[int] = set()
    todo = [e]
    while todo:
        cur = todo.pop()
        if cur.get_id() in seen:
            continue
        seen.add(cur.get_id())
        decl = cur.decl()
        if z3.is_const(cur) and decl.kind() == z3.Z3_OP_UNINTERPRETED and decl.name() not in known:
            found.add(decl.name())
        todo.extend(cur.children())
    return found


def _int_bounds(e: z3.ExprRef, name: str, compiler: _Compiler) -> list[str]:
    """The terms an integer choice ``name`` is compared with in ``e``.

    Raises CompileError when the choice occurs other than as one side of a
    comparison whose other side is free of choices."""
    terms: list[str] = []
    seen: set[int] = set()
    comparisons = (*_BINARY, z3.Z3_OP_EQ, z3.Z3_OP_DISTINCT)

    def is_choice(x: z3.ExprRef) -> bool:
        return bool(z3.is_const(x)) and x.decl().name() == name

    def walk(cur: z3.ExprRef) -> None:
        if cur.get_id() in seen:
            return
        seen.add(cur.get_id())
        kids = cur.children()
        if cur.decl().kind() in comparisons and len(kids) == 2:
            for mine, other in ((kids[0], kids[1]), (kids[1], kids[0])):
                if is_choice(mine):
                    if _free_constants(other, set(compiler.variables)):
                        raise CompileError(f"choice {name} compared with a term with choices")
                    terms.append(compiler.expr(other))
                    walk(other)
                    return
        if is_choice(cur):
            raise CompileError(f"integer choice {name} used outside a comparison")
        for k in kids:
            walk(k)

    walk(e)
    return terms


def _domain(choice: z3.ExprRef, formula: z3.ExprRef, compiler: _Compiler) -> str:
    """A Python expression for the candidate values of one choice (see module doc)."""
    sort = choice.sort()
    if sort == z3.BoolSort():
        return "(False, True)"
    if sort.kind() == z3.Z3_DATATYPE_SORT:
        return repr(tuple(range(sort.num_constructors())))
    if sort == z3.IntSort():
        terms = _int_bounds(formula, choice.decl().name(), compiler)
        if not terms:
            raise CompileError(f"integer choice {choice} is unconstrained")
        parts = ", ".join(f"{t} - 1, {t}, {t} + 1" for t in dict.fromkeys(terms))
        return f"sorted({{{parts}}})"
    raise CompileError(f"choice {choice} of sort {sort}")  # pragma: no cover


def _state_variables(s: State, slot: str) -> dict[str, str]:
    return {v.decl().name(): f"{slot}[{k}]" for k, v in enumerate(layout_vars(s))}


def compile_step(formula: z3.ExprRef, s: State, t: State, name: str) -> tuple[StepCheck, str]:
    """``formula`` over (s, t, choices) as ``f(S, T) -> bool``: is there a choice
    for which it holds? Returns the function and its source (for inspection)."""
    variables = {**_state_variables(s, "S"), **_state_variables(t, "T")}
    compiler = _Compiler(variables)
    conj = _conjuncts(formula)
    choice_names = sorted(_free_constants(formula, set(variables)))
    # Bind choices in the order they first occur: early conjuncts prune early.
    order: list[str] = []
    for c in conj:
        for ch in sorted(_free_constants(c, set(variables))):
            if ch not in order:
                order.append(ch)
    assert sorted(order) == choice_names
    depth_of = {ch: k + 1 for k, ch in enumerate(order)}
    levels: list[list[str]] = [[] for _ in range(len(order) + 1)]
    for c in conj:
        uses = _free_constants(c, set(variables))
        level = max((depth_of[u] for u in uses), default=0)
        levels[level].append(compiler.expr(c))
    lines = ["def check(S, T):"]
    indent = "    "
    for level, tests in enumerate(levels):
        if level > 0:
            ch = order[level - 1]
            choice = _choice_term(formula, ch)
            lines.append(f"{indent}for c_{_ident(ch)} in {_domain(choice, formula, compiler)}:")
            indent += "    "
        for test in tests:
            fail = "return False" if level == 0 else "continue"
            lines.append(f"{indent}if not {test}: {fail}")
    lines.append(f"{indent}return True")
    if order:
        lines.append("    return False")
    source = "\n".join(lines)
    namespace: dict[str, Any] = {}
    exec(compile(source, f"<spec action {name}>", "exec"), namespace)
    fn: StepCheck = namespace["check"]
    return fn, source


def _choice_term(formula: z3.ExprRef, name: str) -> z3.ExprRef:
    todo = [formula]
    seen: set[int] = set()
    while todo:
        cur = todo.pop()
        if cur.get_id() in seen:
            continue
        seen.add(cur.get_id())
        if z3.is_const(cur) and cur.decl().name() == name:
            return cur
        todo.extend(cur.children())
    raise KeyError(name)  # pragma: no cover


def compile_predicate(pred: z3.ExprRef, s: State, name: str) -> tuple[StateCheck, str]:
    """A choice-free state predicate as ``f(S) -> bool``."""
    compiler = _Compiler(_state_variables(s, "S"))
    lines = ["def check(S):"]
    for c in _conjuncts(pred):
        lines.append(f"    if not {compiler.expr(c)}: return False")
    lines.append("    return True")
    if compiler.choices:
        raise CompileError(f"predicate {name} has free constants {sorted(compiler.choices)}")
    source = "\n".join(lines)
    namespace: dict[str, Any] = {}
    exec(compile(source, f"<spec property {name}>", "exec"), namespace)
    fn: StateCheck = namespace["check"]
    return fn, source


# --- the compiled model -------------------------------------------------------------------


@dataclass(frozen=True)
class CompiledAction:
    """One action instance of the spec: ``name[nodes]`` and its compiled formula."""

    instance: str
    check: StepCheck
    source: str


@dataclass(frozen=True)
class CompiledProperty:
    """One property predicate of baton.spec.properties, compiled."""

    id: str
    holds: StateCheck
    source: str


class CompiledModel:
    """The transition relation and the properties of one configuration, compiled."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.layout = Layout(cfg.n)
        s, t = cluster.fresh_state(cfg.n, "before"), cluster.fresh_state(cfg.n, "after")
        self.actions: tuple[CompiledAction, ...] = tuple(
            CompiledAction(
                f"{act.name}{list(act.nodes)}", *compile_step(act.formula, s, t, act.name)
            )
            for act in cluster.actions(cfg, s, t, "step")
        )
        self.by_instance: dict[str, CompiledAction] = {a.instance: a for a in self.actions}
        self.initial, self.initial_source = compile_predicate(cluster.initial(cfg, s), s, "initial")
        """Whether a flat state is an initial state of the spec (``cluster.initial``)."""
        self.properties: tuple[CompiledProperty, ...] = tuple(
            CompiledProperty(p.id, *compile_predicate(p.holds(s), s, p.id))
            for p in properties.PROPERTIES
        )

    def explaining(self, before: Flat, after: Flat) -> list[str]:
        """Every action instance taking ``before`` to ``after`` (as
        :func:`baton.spec.concrete.explaining_actions`)."""
        return [a.instance for a in self.actions if a.check(before, after)]

    def explains(self, before: Flat, after: Flat, preferred: Sequence[str] = ()) -> str | None:
        """One action instance taking ``before`` to ``after``, or None when the
        step is not in the transition relation. ``preferred`` instances are
        tried first (an ordering only: every instance is tried before None)."""
        for name in preferred:
            act = self.by_instance.get(name)
            if act is not None and act.check(before, after):
                return name
        for act in self.actions:
            if act.check(before, after):
                return act.instance
        return None

    def violated(self, flat: Flat) -> list[str]:
        """IDs of the properties ``flat`` violates, in baton.spec.properties order."""
        return [p.id for p in self.properties if not p.holds(flat)]


@cache
def compiled(cfg: Config) -> CompiledModel:
    """The compiled model of ``cfg`` (built once per process)."""
    return CompiledModel(cfg)


def changed_variables(n: int, before: Flat, after: Flat) -> list[str]:
    """``name old->new`` for each spec variable that differs between two flat states."""
    a, b = describe_flat(n, before), describe_flat(n, after)
    return [f"{k} {a[k]}->{b[k]}" for k in a if a[k] != b[k]]


# --- successors: the spec's actions run forwards ---------------------------------------
#
# An explicit-state search of the spec needs the successors of a state, not a
# check of a given pair. Each action is a guard plus the variables it changes
# (cluster.Action.step), so it compiles to a generator: enumerate the choices
# as compile_step does, test the guard's conjuncts at the shallowest loop where
# their choices are bound, and build the post-state from the compiled updates.
# The candidate values of an integer choice (module docstring) reach every
# region of its comparisons, so every successor the formula allows is produced
# up to the value of a choice no update reads; the search that uses this
# re-checks nothing, and the compiled step checks (compile_step) agree with it
# by construction -- both translate the same terms.

Successors = Callable[[Flat], list[tuple[int, Flat, tuple[int, ...]]]]
"""``f(S)`` -> ``[(action index, T, choice values)]`` for every enabled action."""


@dataclass(frozen=True)
class SuccessorModel:
    """The spec's step relation of one configuration as a successor function."""

    cfg: Config
    instances: tuple[tuple[str, tuple[int, ...]], ...]
    """``(action name, nodes)`` per action index."""
    choice_names: tuple[tuple[str, ...], ...]
    """Per action index: the names of its declared choices (``act.choices``)."""
    choice_sorts: tuple[tuple[z3.SortRef, ...], ...]
    successors: Successors
    source: str


def _choice_value_text(sort: z3.SortRef, value: int) -> str:
    """A choice value as the traces write it (``str`` of the Z3 value)."""
    if sort == z3.BoolSort():
        return str(bool(value))
    if sort.kind() == z3.Z3_DATATYPE_SORT:
        return str(sort.constructor(value).name())
    return str(value)


def choice_texts(model: SuccessorModel, index: int, values: tuple[int, ...]) -> dict[str, str]:
    """The choices of one step by name, as ``{name: value}`` strings."""
    return {
        name: _choice_value_text(sort, value)
        for name, sort, value in zip(
            model.choice_names[index], model.choice_sorts[index], values, strict=True
        )
    }


def compile_successors(cfg: Config) -> SuccessorModel:
    """Every action of ``cfg`` compiled into one successor function."""
    s, t = cluster.fresh_state(cfg.n, "before"), cluster.fresh_state(cfg.n, "after")
    # Changed variables are named by key ("wlen[1]", "lcp[0,2]"); their slots
    # follow the flat layout (node by node), not cluster.variable_keys' order.
    slot = {str(v).removesuffix("@before"): k for k, v in enumerate(layout_vars(s))}
    variables = _state_variables(s, "S")
    lines = ["def successors(S):", "    out = []"]
    instances: list[tuple[str, tuple[int, ...]]] = []
    names: list[tuple[str, ...]] = []
    sorts: list[tuple[z3.SortRef, ...]] = []
    for index, act in enumerate(cluster.actions(cfg, s, t, "succ")):
        instances.append((act.name, act.nodes))
        declared = [c.decl().name() for c in act.choices]
        names.append(tuple(name.split("@")[0] for name in declared))
        sorts.append(tuple(c.sort() for c in act.choices))
        compiler = _Compiler(variables)
        guard_conj = _conjuncts(act.guard)
        updates = {slot[key]: value for key, value in act.step.changed.items()}
        known = set(variables)
        order: list[str] = []
        for c in guard_conj:
            for ch in sorted(_free_constants(c, known)):
                if ch not in order:
                    order.append(ch)
        for value in updates.values():
            for ch in sorted(_free_constants(value, known)):
                if ch not in order:
                    order.append(ch)
        for name in declared:  # a declared choice nothing reads still names the step
            if name not in order:
                order.append(name)
        depth_of = {ch: k + 1 for k, ch in enumerate(order)}
        levels: list[list[str]] = [[] for _ in range(len(order) + 1)]
        for c in guard_conj:
            uses = _free_constants(c, known)
            levels[max((depth_of[u] for u in uses), default=0)].append(compiler.expr(c))
        terms = {act.choices[k].decl().name(): act.choices[k] for k in range(len(act.choices))}
        indent = "    "
        lines.append(f"{indent}# {act.name}{list(act.nodes)}")
        # Each action in its own loop-free block: 'break' out of a one-pass loop
        # skips the rest of the action when a choice-free conjunct fails.
        lines.append(f"{indent}for _ in (0,):")
        indent += "    "
        for level, tests in enumerate(levels):
            if level > 0:
                ch = order[level - 1]
                used = [act.guard, *updates.values()]
                term = terms[ch] if ch in terms else _find_choice(used, ch)
                if term.sort() == z3.IntSort() and not _mentions(act.guard, ch):
                    raise CompileError(f"integer choice {ch} of {act.name} is unconstrained")
                domain = _domain(term, act.guard, compiler)
                lines.append(f"{indent}for c_{_ident(ch)} in {domain}:")
                indent += "    "
            for test in tests:
                fail = "break" if level == 0 else "continue"
                lines.append(f"{indent}if not {test}: {fail}")
        lines.append(f"{indent}T = list(S)")
        assigned = [(k, compiler.expr(v)) for k, v in sorted(updates.items())]
        # Every update reads the pre-state S: simultaneous assignment.
        for k, expr in assigned:
            lines.append(f"{indent}T[{k}] = {_as_int(expr)}")
        chosen = "".join(f"c_{_ident(n)}, " for n in declared)
        lines.append(f"{indent}out.append(({index}, tuple(T), ({chosen})))")
    lines.append("    return out")
    source = "\n".join(lines)
    namespace: dict[str, Any] = {}
    exec(compile(source, f"<spec successors {cfg.label()}>", "exec"), namespace)
    return SuccessorModel(
        cfg, tuple(instances), tuple(names), tuple(sorts), namespace["successors"], source
    )


def _find_choice(exprs: list[z3.ExprRef], name: str) -> z3.ExprRef:
    for e in exprs:
        if _mentions(e, name):
            return _choice_term(e, name)
    raise KeyError(name)  # pragma: no cover - the name was found in one of them


def _mentions(e: z3.ExprRef, name: str) -> bool:
    return name in _free_constants(e, set())


def _as_int(expr: str) -> str:
    """Booleans are stored as 0/1 in a flat state."""
    return f"int({expr})"


@cache
def successor_model(cfg: Config) -> SuccessorModel:
    """The successor function of ``cfg`` (compiled once per process)."""
    return compile_successors(cfg)
