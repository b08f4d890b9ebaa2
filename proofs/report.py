"""Running the obligations and reporting on them.

Obligations run in worker processes (:mod:`baton.proofs.pool`: Z3 is
single-threaded, the workers use the other cores, each obligation has a
timeout, Ctrl-C stops them all) and are reported in a fixed order whatever
order they finish in. While they run, stderr shows which are in flight (a
live display on a terminal, one line per finished obligation otherwise); the
table, the assumptions and the summary go to stdout; ``--json`` writes the
machine-readable report (schema: ``baton schema report``, file
``impl/schemas/report.schema.json``) and ``--junit`` a JUnit XML file with one
test case per obligation.

Every row says what exactly was established -- its *result kind*
(``proven-unbounded (N=3)``, ``bounded (depth 10)``, ...), the properties by ID
and name, and the environment assumptions the result rests on. A failure is
labelled with the property its counterexample actually violates.

A run passes only if every obligation passed: every proof proven, every
companion reachable, every mutant and every dropped assumption caught.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any, TextIO

from baton import __version__
from baton.output import JUnitCase
from baton.output import console as output_console
from baton.spec import cluster, invariants, properties
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from .obligations import Obligation, Outcome, kind_base
from .pool import BuildArgs, Events, make_pool

REPORT_FORMAT = "baton-verify-report"
REPORT_VERSION = 1

# Per-obligation time limit (seconds) unless the caller gives one. Every
# obligation of the full run takes well under a minute on an idle 2-core
# machine; the limit is for hangs, with room for a loaded machine.
DEFAULT_TIMEOUT = 600.0

# Result kinds from strongest to weakest: what an invariant's summary reports
# is the strongest kind among the passed obligations that cover it.
KIND_STRENGTH: tuple[str, ...] = (
    "proven-all-N",
    "proven-unbounded",
    "proven",
    "exhaustive within bounds",
    "bounded",
)
CLUSTER_PROPERTY_IDS: frozenset[str] = frozenset(properties.PROPERTY_IDS)


def console(stream: TextIO | None = None) -> Console:
    """The shared console (colour only on a terminal, ``NO_COLOR`` honoured).

    A non-terminal gets a fixed width, so that a CI log does not depend on the
    width of whatever launched the job and the table stays aligned.
    """
    out = output_console(stream)
    if not out.is_terminal:
        out.width = 132
    return out


# --- running ----------------------------------------------------------------------


def run_all(
    obligations: list[Obligation],
    *,
    quick: bool,
    ns: tuple[int, ...],
    depth: int,
    jobs: int,
    events: Events | None = None,
    indices: list[int] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    ray: str | None = None,
) -> list[tuple[Obligation, Outcome]]:
    """Run the selected obligations (``indices`` into ``obligations``) in worker
    processes, or on Ray actors at address ``ray`` (baton.proofs.pool.RayPool)."""
    chosen = list(range(len(obligations))) if indices is None else indices
    # Longest first, so that the long searches do not start last on an idle pool.
    order = sorted(chosen, key=lambda i: _cost_hint(obligations[i]), reverse=True)
    pool = make_pool(
        obligations,
        BuildArgs(quick=quick, ns=ns, depth=depth),
        jobs=max(1, jobs),
        timeout=lambda ob: timeout,
        events=events or Events(),
        ray=ray,
    )
    results = pool.run(order)
    return [(obligations[i], results[i]) for i in chosen]


def _cost_hint(ob: Obligation) -> float:
    hint = ob.params.get("cost")
    if isinstance(hint, int | float):
        return float(hint)
    n = ob.n or 1
    weights = {
        "bmc": 40,
        "explore": 40,
        "mutant": 30,
        "assumption": 30,
        "induction": 10,
        "companion": 5,
        "parametric": 100,
    }
    return float(weights.get(ob.group, 1) * n * n)


class ProgressDisplay:
    """Which obligations are in flight, and which finished, on stderr.

    On a terminal: a live panel of the running obligations with their elapsed
    time, finished ones scrolling above it. Elsewhere (CI logs, pipes): one
    plain line per finished obligation, nothing that redraws.
    """

    def __init__(self, total: int, stream: TextIO | None = None) -> None:
        self.console = console(stream if stream is not None else sys.stderr)
        self.total = total
        self.done = 0
        self.start = time.monotonic()
        self.running: dict[int, tuple[Obligation, float]] = {}
        self.live: Live | None = None

    def __enter__(self) -> ProgressDisplay:
        if self.console.is_terminal:
            self.live = Live(
                self._panel(), console=self.console, refresh_per_second=4, transient=True
            )
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.__exit__(None, None, None)
            self.live = None

    def events(self) -> Events:
        return Events(started=self.started, finished=self.finished, tick=self.tick)

    def started(self, index: int, ob: Obligation) -> None:
        self.running[index] = (ob, time.monotonic())
        self.tick()

    def finished(self, index: int, ob: Obligation, outcome: Outcome) -> None:
        self.running.pop(index, None)
        self.done += 1
        mark = Text("ok  ", style="green") if outcome.passed else Text("FAIL", style="bold red")
        line = Text.assemble(
            f"[{self.done:>3}/{self.total}] ",
            mark,
            f" {ob.name}  ",
            (outcome.kind or outcome.verdict, "cyan"),
            f"  {outcome.seconds:.1f}s  (elapsed {time.monotonic() - self.start:.0f}s)",
        )
        self.console.print(line)
        self.tick()

    def tick(self) -> None:
        if self.live is not None:
            self.live.update(self._panel())

    def _panel(self) -> Group:
        now = time.monotonic()
        lines = [
            Text(
                f"{self.done}/{self.total} done, {len(self.running)} running, "
                f"{now - self.start:.0f}s elapsed",
                style="bold",
            )
        ]
        for ob, since in sorted(self.running.values(), key=lambda item: item[1]):
            lines.append(Text(f"  running  {ob.name}  {now - since:.0f}s", style="yellow"))
        return Group(*lines)


# --- rendering -------------------------------------------------------------------------


def property_cell(ids: Sequence[str]) -> str:
    """Properties by full name; the seven cluster properties together by their common name."""
    if set(ids) == CLUSTER_PROPERTY_IDS and len(ids) == len(CLUSTER_PROPERTY_IDS):
        return "the 7 cluster properties (P6-A1..P6-F3, listed below)"
    return "\n".join(invariants.full_name(p) for p in ids)


def assumptions_cell(ob: Obligation) -> str:
    rests_on = ob.assumptions
    if not rests_on:
        return "none"
    if len(rests_on) == len(cluster.ASSUMPTION_NAMES):
        return "all"
    missing = [a for a in cluster.ASSUMPTION_NAMES if a not in rests_on]
    return "all but " + ", ".join(missing)


def render_table(rows: list[tuple[Obligation, Outcome]], out: Console) -> None:
    table = Table(title="baton verify: proof obligations", show_lines=False, expand=False)
    table.add_column("obligation", overflow="fold", min_width=30)
    table.add_column("properties", overflow="fold")
    table.add_column("result kind", overflow="fold", min_width=24)
    table.add_column("ok", justify="center")
    table.add_column("rests on", overflow="fold")
    table.add_column("s", justify="right")
    for ob, outcome in rows:
        ok = Text("yes", style="green") if outcome.passed else Text("NO", style="bold red")
        props = property_cell(ob.properties)
        if outcome.violated and (not outcome.passed or ob.group in ("mutant", "assumption")):
            props += "\nviolates: " + ", ".join(outcome.violated)
        table.add_row(
            ob.name,
            props,
            outcome.kind or outcome.verdict,
            ok,
            assumptions_cell(ob),
            f"{outcome.seconds:.1f}",
        )
    out.print(table)


def render_legend(rows: list[tuple[Obligation, Outcome]], out: Console) -> None:
    """The cluster properties and the assumptions the results rest on, by name."""
    out.print()
    out.print(Text("The 7 cluster properties:", style="bold"))
    for prop in properties.PROPERTIES:
        out.print(f"  {invariants.full_name(prop.id)}: {prop.statement}")
    out.print()
    out.print(
        Text(
            "Assumptions the results rest on ('rests on' column; 'all' = every one):",
            style="bold",
        )
    )
    for a in cluster.ASSUMPTIONS:
        out.print(f"  {a.name}: {a.statement}")


def summary(rows: list[tuple[Obligation, Outcome]], wall: float) -> tuple[bool, list[Text]]:
    failed = [(ob, out) for ob, out in rows if not out.passed]
    groups: dict[str, list[bool]] = {}
    for ob, out in rows:
        groups.setdefault(ob.group, []).append(out.passed)
    parts = [f"{g}: {sum(v)}/{len(v)}" for g, v in groups.items()]
    lines = [Text(""), Text("Summary: " + "; ".join(parts) + f"; wall time {wall:.1f}s")]
    for ob, out in failed:
        label = failure_label(ob, out)
        lines.append(
            Text.assemble(
                ("FAILED ", "bold red"),
                f"{ob.name} [{out.kind or out.verdict}] {label}{out.detail}",
            )
        )
    ok = not failed
    lines.append(
        Text(
            "VERIFIED: every obligation proven, every companion reachable, every mutant caught.",
            style="bold green",
        )
        if ok
        else Text(f"NOT VERIFIED: {len(failed)} obligation(s) failed.", style="bold red")
    )
    return ok, lines


def failure_label(ob: Obligation, out: Outcome) -> str:
    """What a failure broke: the properties its counterexample violates, if it has one."""
    if out.violated and ob.verdict_fails_proof():
        return "violates " + ", ".join(invariants.full_name(p) for p in out.violated) + ": "
    return ""


# --- JSON and JUnit ------------------------------------------------------------------------


def strongest_kind(kinds: Sequence[str]) -> str | None:
    """The strongest of ``kinds`` by :data:`KIND_STRENGTH` (None if none is a proof kind).

    Unbounded proofs at several sizes are merged: ``proven-unbounded (N=2,3,4)``.
    """
    ranked = [k for k in kinds if kind_base(k) in KIND_STRENGTH]
    if not ranked:
        return None
    best = min(ranked, key=lambda k: KIND_STRENGTH.index(kind_base(k)))
    if kind_base(best) == "proven-unbounded":
        sizes = sorted(
            {
                int(k.split("N=")[1].rstrip(")"))
                for k in ranked
                if kind_base(k) == "proven-unbounded"
            }
        )
        return f"proven-unbounded (N={','.join(map(str, sizes))})"
    return best


def invariant_summary(rows: list[tuple[Obligation, Outcome]]) -> dict[str, Any]:
    """Per invariant ID: its name, the result kinds established, the strongest, the
    assumptions the proofs rest on, and the obligations (what the docs' pages show)."""
    out: dict[str, Any] = {}
    for inv in invariants.INVARIANTS:
        covering = [(ob, o) for ob, o in rows if inv.id in ob.properties]
        proofs = [(ob, o) for ob, o in covering if ob.group not in ("mutant", "assumption")]
        kinds = sorted({o.kind for ob, o in proofs if o.passed and ob.group != "companion"})
        rests_on = sorted(
            {a for ob, o in proofs if ob.group != "companion" for a in ob.assumptions}
        )
        caught_by = sorted(
            ob.name
            for ob, o in rows
            if ob.group in ("mutant", "assumption") and o.passed and inv.id in o.violated
        )
        out[inv.id] = {
            "name": invariants.full_name(inv.id),
            "passed": all(o.passed for _, o in covering) if covering else None,
            "strongest_kind": strongest_kind(kinds),
            "kinds": kinds,
            "assumptions": rests_on,
            "obligations": [ob.name for ob, _ in covering],
            "witnesses": [ob.name for ob, o in covering if ob.group == "companion" and o.passed],
            "counterexamples": caught_by,
        }
    return out


def to_json(rows: list[tuple[Obligation, Outcome]], *, quick: bool, wall: float) -> dict[str, Any]:
    ok = all(out.passed for _, out in rows)
    return {
        "format": REPORT_FORMAT,
        "version": REPORT_VERSION,
        "generator": f"baton {__version__}",
        "mode": "quick" if quick else "full",
        "passed": ok,
        "wall_seconds": round(wall, 3),
        "machine": {
            "platform": platform.platform(),
            "python": sys.version.split()[0],
            "cpus": os.cpu_count(),
        },
        "assumptions": [
            {"name": a.name, "statement": a.statement, "guards": list(a.guards)}
            for a in cluster.ASSUMPTIONS
        ],
        "invariants": invariant_summary(rows),
        "obligations": [
            {
                "name": ob.name,
                "group": ob.group,
                "properties": list(ob.properties),
                "property_names": [invariants.full_name(p) for p in ob.properties],
                "method": ob.method,
                "description": ob.description,
                "params": {k: v for k, v in ob.params.items() if k not in ("runner", "cost")},
                "passed": out.passed,
                "result": out.verdict,
                "kind": out.kind,
                "assumptions": list(ob.assumptions),
                "violated": list(out.violated),
                "detail": out.detail,
                "seconds": round(out.seconds, 3),
                "counterexample": out.counterexample,
                "violations": violations_of(ob, out),
            }
            for ob, out in rows
        ],
    }


def junit_cases(rows: list[tuple[Obligation, Outcome]]) -> list[JUnitCase]:
    """One JUnit test case per obligation; a failed one carries its kind and what it broke."""
    cases = []
    for ob, out in rows:
        props = ", ".join(invariants.full_name(p) for p in ob.properties)
        info = (
            f"result kind: {out.kind or out.verdict}\nproperties: {props}\n"
            f"assumptions: {', '.join(ob.assumptions) or 'none'}\n{out.detail}"
        )
        failure = None
        if not out.passed:
            failure = f"{out.kind or out.verdict}: {failure_label(ob, out)}{out.detail}\n{info}"
        cases.append(
            JUnitCase(
                name=ob.name,
                classname=f"baton.verify.{ob.group}",
                time=round(out.seconds, 3),
                failure=failure,
                output=info,
            )
        )
    return cases


def violations_of(ob: Obligation, out: Outcome) -> list[dict[str, Any]]:
    """The obligation's counterexample as records of the one verdict format.

    A caught mutant or dropped assumption contributes the violations its
    counterexample shows (that is what makes it *caught*); a failed proof
    contributes one violation per property its counterexample violates, or --
    with no counterexample -- one naming the obligation's first property.
    Witnesses contribute none.
    """
    from baton.verdict import make_violation

    from .counterexample import explain

    cx = out.counterexample or {}
    runner = ob.params.get("runner")
    if runner == "explore_model" and out.passed and cx.get("violated"):
        steps = list(cx.get("steps") or [])
        return [
            make_violation(
                ob.name,
                pid,
                f"the runtime-core variant reaches a state violating {pid} after "
                f"{len(steps)} steps: {' -> '.join(map(str, steps))}",
                step=len(steps),
                event={"action": steps[-1]} if steps else None,
            ).to_dict()
            for pid in cx["violated"]
        ]
    traced = cx.get("steps") and isinstance(cx["steps"][-1], dict) and "state" in cx["steps"][-1]
    if traced and (out.passed or ob.verdict_fails_proof()) and out.violated:
        last = cx["steps"][-1]
        return [
            make_violation(
                ob.name,
                pid,
                explain(pid, last["state"]),
                step=int(last["index"]),
                event={"action": last["action"], "nodes": last["nodes"]},
                state=last["state"],
            ).to_dict()
            for pid in out.violated
        ]
    if runner == "spec_mutant" and out.passed:
        return [
            make_violation(
                ob.name,
                pid,
                f"the variant breaks the proof of {pid}: {out.detail}",
                state={"context": cx.get("context") or {}},
            ).to_dict()
            for pid in out.violated
        ]
    if runner == "validation_mutant" and out.passed and cx.get("context"):
        return [
            make_violation(
                ob.name,
                pid,
                f"the variant allows a promotion whose preconditions fail: {out.detail}",
                state={"context": cx["context"]},
            ).to_dict()
            for pid in out.violated or ["P6-F1"]
        ]
    if not out.passed and ob.verdict_fails_proof():
        return [make_violation(ob.name, ob.properties[0], out.detail or out.verdict).to_dict()]
    return []


def outcome_dict(outcome: Outcome) -> dict[str, Any]:
    return asdict(outcome)
