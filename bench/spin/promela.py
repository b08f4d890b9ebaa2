"""Generate the Promela twin of the explorer's model (bench/spin).

The twin mirrors :mod:`baton.core` action for action, as the explorer runs it
(:mod:`baton.proofs.explore`): the same per-node variables (marker role and
epoch, WAL as epochs, up, active, lifecycle, forced, marker stage, last
decision's reason, grant, previous epoch, validations), the same global ones
(standby, acknowledged log, broken, and the two bound counters), the same
guards, the same validator order, the same environment assumption
(force_is_truthful) and the same seven properties, asserted after every step.
Each core action is one ``d_step``, so one SPIN transition is one core step.

Unrolled per node index by this generator so the model is plain Promela.
"""

# ruff: noqa: E501  (lines of generated Promela read best unbroken)
from __future__ import annotations

from collections.abc import Callable

from baton import core, lifecycle

LC = {name: i for i, name in enumerate(lifecycle.STATES)}
ROLE = {name: i for i, name in enumerate(core.MARKER_ROLES)}
REASONS = (
    "allowed",
    "candidate_is_primary",
    "candidate_halted",
    "primary_active",
    "force_cannot_override_active_primary",
    "primary_status_unknown",
    "ack_bound_unknown",
    "candidate_behind_ack_bound",
    "history_unknown",
    "history_divergent",
)


MUTANTS = ("restart_keeps_authority", "concurrent_attempts")
"""The explorer's mutants the twin also has (baton.proofs.explore.MUTANTS)."""


def generate(
    n: int, writes: int, promotions: int, mode: str = "async", mutant: str | None = None
) -> str:
    """The Promela model for N nodes, at most ``writes`` writes, ``promotions`` requests."""
    if mutant is not None and mutant not in MUTANTS:
        raise ValueError(f"the Promela twin has no mutant {mutant!r}")
    ws = max(writes, 1)  # array size (W = 0 still needs a declarable array)
    nodes = range(n)
    out: list[str] = []
    emit = out.append

    def wal(i: int | str, k: int) -> str:
        return f"wal[({i})*{ws}+{k}]"

    def prefix(
        a_len: str, a_at: Callable[[int], str], b_len: str, b_at: Callable[[int], str]
    ) -> str:
        """a is a prefix of b; a_at(k)/b_at(k) give the k-th entry expressions."""
        terms = [f"{a_len} <= {b_len}"]
        terms += [f"({a_len} <= {k} || {a_at(k)} == {b_at(k)})" for k in range(writes)]
        return "(" + " && ".join(terms) + ")"

    def node_prefix(a: int | str, b: int | str) -> str:
        return prefix(f"wlen[{a}]", lambda k: wal(a, k), f"wlen[{b}]", lambda k: wal(b, k))

    def acked_prefix_of(b: int | str) -> str:
        return prefix("alen", lambda k: f"acked[{k}]", f"wlen[{b}]", lambda k: wal(b, k))

    def writable(i: int) -> str:
        return f"(up[{i}] && act[{i}])"

    def holds_max(i: int) -> str:
        return "(" + " && ".join(f"epoch[{j}] <= epoch[{i}]" for j in nodes) + ")"

    def higher(i: int) -> str:
        return "(" + " || ".join(f"epoch[{j}] > epoch[{i}]" for j in nodes if j != i) + ")"

    def other_writable(c: int) -> str:
        return "(" + " || ".join(writable(j) for j in nodes if j != c) + ")"

    any_writable = "(" + " || ".join(writable(j) for j in nodes) + ")"
    in_flight = "(" + " || ".join(f"lc[{j}] != STEADY" for j in nodes) + ")"

    def invariant() -> str:
        parts = []
        # P6-A1: at most one writable node.
        parts.append("(" + " + ".join(f"(up[{i}] && act[{i}] -> 1 : 0)" for i in nodes) + ") <= 1")
        for c in nodes:
            # P6-A2: a completed promotion's candidate is the one writable node.
            others = " && ".join(f"!{writable(j)}" for j in nodes if j != c)
            parts.append(f"(lc[{c}] != SUCCEEDED || ({writable(c)} && {others}))")
            # P6-A3 (1): a writable node holds the highest epoch.
            parts.append(f"(!{writable(c)} || {holds_max(c)})")
            # P6-S1: every acknowledged write is in the writable node's WAL.
            parts.append(f"(!{writable(c)} || {acked_prefix_of(c)})")
            # P6-F2 / P6-F3.
            parts.append(f"role[{c}] != TORN && vc[{c}] <= 1")
        for i in nodes:
            for j in nodes:
                if i < j:  # P6-A3 (2): one primary marker per epoch.
                    parts.append(
                        f"!(role[{i}] == PRIMARY && role[{j}] == PRIMARY && epoch[{i}] == epoch[{j}])"
                    )
        parts.append("!broken")  # P6-S2
        return " && \\\n    ".join(parts)

    emit(f"/* Baton explorer twin: N={n} W={writes} P={promotions} {mode} {mutant or ''}. */")
    emit(f"#define N {n}")
    for name, code in ROLE.items():
        emit(f"#define {name.upper()} {code}")
    for name, code in LC.items():
        emit(f"#define {name.replace('Promotion', '').replace('Authority', '').upper()} {code}")
    for code, name in enumerate(REASONS):
        emit(f"#define R_{name.upper()} {code}")
    emit("")
    emit("byte up[N]; byte role[N]; byte epoch[N]; byte act[N]; byte lc[N];")
    emit("byte forced[N]; byte stage[N]; byte reason[N]; byte grant[N]; byte pep[N]; byte vc[N];")
    emit(f"byte wlen[N]; byte wal[{n * ws}];")
    emit(f"byte acked[{ws}]; byte alen; bool broken; byte standby; byte nw; byte np;")
    # Scratch for d_steps; reset to 0 before each step ends, so never part of a
    # stored state's distinguishing content (BFS forbids ``hidden``).
    emit("byte tmp; byte src;")
    emit("")
    emit(f"#define INV ( \\\n    {invariant()} )")
    emit("")
    emit("active proctype cluster() {")
    init = [f"up[{i}] = 1; epoch[{i}] = 1" for i in nodes]
    emit("  d_step { " + "; ".join(init) + "; role[0] = PRIMARY; act[0] = 1; standby = 1 };")
    emit("end:")
    emit("  do")

    def action(label: str, guard: str, body: list[str]) -> None:
        emit(f"  :: d_step {{ /* {label} */ {guard} ->")
        for line in body:
            emit(f"       {line}")
        emit("       assert(INV) }")

    for p in nodes:
        action(
            f"write({p})",
            f"{writable(p)} && nw < {writes}",
            [f"{wal(p, 'wlen[' + str(p) + ']')} = epoch[{p}]; wlen[{p}]++; nw++;"],
        )
        guard = writable(p)
        if mode == "sync":
            guard += f" && standby != {p} && " + prefix(
                f"wlen[{p}]", lambda k, p=p: wal(p, k), "wlen[standby]", lambda k: wal("standby", k)
            )
        body = [f"broken = broken || !{acked_prefix_of(p)};"]
        body += [f"acked[{k}] = {wal(p, k)};" for k in range(ws)]
        body += [f"alen = wlen[{p}];"]
        action(f"ack({p})", guard, body)
    for p in nodes:
        for r in nodes:
            if p == r:
                continue
            base = (
                f"up[{p}] && up[{r}] && role[{p}] == PRIMARY && role[{r}] == REPLICA && "
                f"epoch[{r}] <= epoch[{p}] && lc[{r}] != APPROVED && "
                f"lc[{r}] != TRANSITIONING && lc[{p}] != TRANSITIONING"
            )
            # Only a replica behind takes an entry; one that is no prefix halts
            # whatever the lengths (P6-S2).
            behind = f"wlen[{r}] < wlen[{p}]"
            action(
                f"replicate({p},{r})",
                f"{base} && {behind} && {node_prefix(r, p)}",
                [
                    f"{wal(r, f'wlen[{r}]')} = {wal(p, f'wlen[{r}]')}; wlen[{r}]++; epoch[{r}] = epoch[{p}];"
                ],
            )
            # adopt: a replicate's epoch half alone (a crash between its two writes).
            action(
                f"adopt({p},{r})",
                f"{base} && {behind} && {node_prefix(r, p)} && epoch[{r}] < epoch[{p}]",
                [f"epoch[{r}] = epoch[{p}];"],
            )
            action(f"diverge({p},{r})", f"{base} && !{node_prefix(r, p)}", [f"role[{r}] = HALTED;"])
    # The explorer's dead-variable reduction, done here by resetting dead values:
    # grant and previous epoch are live only while AuthorityTransitioning (so a
    # crash and complete reset them), and the last decision's reason is never
    # read (decide computes it into reason[c] and resets it at once).
    down = (
        "up[{i}] = 0; act[{i}] = 0; lc[{i}] = STEADY; forced[{i}] = 0; stage[{i}] = 0; "
        "grant[{i}] = 0; pep[{i}] = 0;"
    )
    for i in nodes:
        action(f"crash({i})", f"up[{i}] && stage[{i}] == 0", [down.format(i=i)])
        # Journaled-Linux outcomes (core.marker_crash_outcomes): old before the
        # directory fsync, new from the rename on; torn never (data fsynced first).
        action(
            f"crash({i},old)",
            f"up[{i}] && stage[{i}] >= 1 && stage[{i}] <= 3",
            [f"role[{i}] = REPLICA; epoch[{i}] = pep[{i}];", down.format(i=i)],
        )
        action(
            f"crash({i},new)",
            f"up[{i}] && stage[{i}] >= 3",
            [f"role[{i}] = PRIMARY; epoch[{i}] = grant[{i}];", down.format(i=i)],
        )
        restart = [f"up[{i}] = 1;"]
        if mutant == "restart_keeps_authority":
            restart.append(f"act[{i}] = (role[{i}] == PRIMARY -> 1 : 0);")
        action(f"restart({i})", f"!up[{i}] && role[{i}] != TORN", restart)
        action(
            f"reinstate({i})",
            f"up[{i}] && role[{i}] == PRIMARY && !act[{i}] && {holds_max(i)} && "
            f"!{any_writable} && !{in_flight}",
            [f"act[{i}] = 1;"],
        )
        action(
            f"demote({i})",
            f"up[{i}] && role[{i}] == PRIMARY && !act[{i}] && {higher(i)} && lc[{i}] == STEADY",
            [f"role[{i}] = REPLICA;"],
        )
        action(
            f"step_down({i})",
            f"{writable(i)} && {higher(i)}",
            [f"role[{i}] = REPLICA; act[{i}] = 0;"],
        )
        if mode == "sync":
            for j in nodes:
                if j != i:
                    action(
                        f"designate({i},{j})",
                        f"{writable(i)} && role[{j}] == REPLICA && {acked_prefix_of(j)}",
                        [f"standby = {j};"],
                    )
    for c in nodes:
        for force in (0, 1):
            free = f"lc[{c}] == STEADY" if mutant == "concurrent_attempts" else f"!{in_flight}"
            action(
                f"request({c},{force})",
                f"up[{c}] && {free} && np < {promotions}",
                [f"lc[{c}] = REQUESTED; forced[{c}] = {force}; vc[{c}] = 0; np++;"],
            )
        action(f"reject({c})", f"up[{c}] && lc[{c}] == REQUESTED", [f"lc[{c}] = STEADY;"])
        action(
            f"begin_validation({c})",
            f"up[{c}] && lc[{c}] == REQUESTED",
            [f"lc[{c}] = VALIDATING; vc[{c}]++;"],
        )
        for uncertain in (0, 1):
            guard = f"up[{c}] && lc[{c}] == VALIDATING"
            if uncertain:  # force_is_truthful: a forced Unknown never hides a writer
                guard += f" && !(forced[{c}] && {other_writable(c)})"
            status = (
                "UNKNOWN_ST" if uncertain else f"({other_writable(c)} -> ACTIVE_ST : UNAVAIL_ST)"
            )
            if mode == "sync":
                source = ["src = standby;"]
            else:  # the old primary: first primary-marker node holding the highest epoch
                source = ["src = 255;"]
                for j in reversed(nodes):
                    source.append(
                        f"if :: role[{j}] == PRIMARY && {holds_max(j)} -> src = {j} :: else -> skip fi;"
                    )
            body = [
                f"tmp = {status};",
                *source,
                "if",
                f":: role[{c}] == PRIMARY -> reason[{c}] = R_CANDIDATE_IS_PRIMARY",
                f":: role[{c}] == HALTED || role[{c}] == TORN -> reason[{c}] = R_CANDIDATE_HALTED",
                ":: else -> if",
                f"   :: tmp == ACTIVE_ST && !forced[{c}] -> reason[{c}] = R_PRIMARY_ACTIVE",
                f"   :: tmp == ACTIVE_ST && forced[{c}] -> reason[{c}] = R_FORCE_CANNOT_OVERRIDE_ACTIVE_PRIMARY",
                f"   :: tmp == UNKNOWN_ST && !forced[{c}] -> reason[{c}] = R_PRIMARY_STATUS_UNKNOWN",
                "   :: else -> if",
                f"      :: src == 255 -> reason[{c}] = R_ACK_BOUND_UNKNOWN",
                f"      :: src != 255 && wlen[{c}] < wlen[src] -> reason[{c}] = R_CANDIDATE_BEHIND_ACK_BOUND",
                f"      :: src != 255 && wlen[{c}] >= wlen[src] && !{node_prefix('src', c)} -> reason[{c}] = R_HISTORY_DIVERGENT",
                f"      :: else -> reason[{c}] = R_ALLOWED",
                "      fi",
                "   fi",
                "fi;",
                f"lc[{c}] = (reason[{c}] == R_ALLOWED -> APPROVED : DENIED);",
                f"tmp = 0; src = 0; reason[{c}] = R_ALLOWED;",
            ]
            action(f"decide({c},{'unknown' if uncertain else 'observed'})", guard, body)
        # The explorer's other observations (the bound or the prefix unknown, MVCC
        # violated or unknown) each deny, whatever the rest (the validator's
        # unknowns fail closed, P6-F1).
        action(
            f"decide({c},fact-unknown)", f"up[{c}] && lc[{c}] == VALIDATING", [f"lc[{c}] = DENIED;"]
        )
        grant = ["tmp = epoch[0];"] + [
            f"if :: epoch[{j}] > tmp -> tmp = epoch[{j}] :: else -> skip fi;" for j in nodes
        ]
        action(
            f"begin_transition({c})",
            f"up[{c}] && lc[{c}] == APPROVED",
            [
                *grant,
                f"lc[{c}] = TRANSITIONING; stage[{c}] = 0; grant[{c}] = tmp + 1; pep[{c}] = epoch[{c}]; tmp = 0;",
            ],
        )
        action(
            f"marker_op({c})",
            f"up[{c}] && lc[{c}] == TRANSITIONING && stage[{c}] < 4",
            [
                f"stage[{c}]++;",
                f"if :: stage[{c}] == 3 -> role[{c}] = PRIMARY; epoch[{c}] = grant[{c}] :: else -> skip fi;",
            ],
        )
        action(
            f"complete({c})",
            f"up[{c}] && lc[{c}] == TRANSITIONING && stage[{c}] == 4",
            [f"lc[{c}] = SUCCEEDED; act[{c}] = 1; stage[{c}] = 0; grant[{c}] = 0; pep[{c}] = 0;"],
        )
        action(
            f"acknowledge({c})",
            f"up[{c}] && (lc[{c}] == SUCCEEDED || lc[{c}] == DENIED)",
            [f"lc[{c}] = STEADY;"],
        )
    emit("  od")
    emit("}")
    text = "\n".join(out) + "\n"
    return text.replace(
        "#define N ",
        "#define ACTIVE_ST 0\n#define UNAVAIL_ST 1\n#define UNKNOWN_ST 2\n#define N ",
        1,
    )
