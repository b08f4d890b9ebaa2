"""Generate the docs pages that come from the code: run from ``docs/conf.py``.

Everything here writes reStructuredText into ``docs/_gen/`` before Sphinx
reads the sources, so the pages cannot drift from the spec: the lifecycle
diagram is drawn from ``baton.spec.lifecycle.enumerate_transitions()``, the
check order from ``baton.spec.validation.CHECKS``, the assumptions from
``baton.spec.cluster.ASSUMPTIONS``, the per-invariant pages from the catalogue
plus :mod:`invariant_map` and the published proof report, the CLI reference
from ``baton.cli.build_parser()`` and the trace format from
``impl/schemas/trace.schema.json``.

The published proof report is ``docs/_data/verify-full.json`` (the full run),
recorded with its model digest by ``python docs/_ext/baton_docs.py
--record-report``; the pages say STALE when the model changed since. Without
it, the committed quick report is published, labelled as the quick subset.

Run as a script it records the report:

    .venv/bin/python docs/_ext/baton_docs.py --record-report [--quick]
"""

from __future__ import annotations

import argparse
import html
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parents[1]
ROOT = DOCS.parent
GEN = DOCS / "_gen"
DATA = DOCS / "_data"


def _write(name: str, text: str) -> None:
    """Write a generated page only when it changed (keeps incremental builds quick)."""
    path = GEN / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def _title(text: str, char: str = "=") -> str:
    return f"{text}\n{char * len(text)}\n"


def _indent(text: str, n: int = 3) -> str:
    pad = " " * n
    return "\n".join(pad + line if line.strip() else "" for line in text.splitlines())


def _csv_cell(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _plain_text(text: str, limit: int) -> str:
    """Free text (e.g. an obligation's detail) shown as typed, at most ``limit``
    characters: inline markup characters are escaped, so a path such as
    ``marker_rename[1]`` cut after its underscore is not read as a reference."""
    if len(text) > limit:
        text = text[:limit].rsplit(" ", 1)[0] + " ..."
    return "".join("\\" + ch if ch in "\\*`|_" else ch for ch in text)


# --- Lifecycle diagram -------------------------------------------------------

# Presentation only: where each state is drawn. The edges come from the spec;
# a state missing here fails the build rather than being silently dropped.
_LAYOUT: dict[str, tuple[float, float]] = {
    "Steady": (120, 240),
    "PromotionRequested": (362, 60),
    "PromotionValidating": (762, 60),
    "PromotionApproved": (1010, 180),
    "AuthorityTransitioning": (1010, 350),
    "PromotionSucceeded": (580, 430),
    "PromotionDenied": (580, 240),
}
# Bend of an edge (pixels, perpendicular to the straight line) where a
# straight one would overlap another edge.
_BEND: dict[tuple[str, str], float] = {
    ("Steady", "PromotionRequested"): -30,
    ("PromotionRequested", "Steady"): -30,
}
_BOX_W, _BOX_H = 236.0, 52.0


def _clip(cx: float, cy: float, tx: float, ty: float) -> tuple[float, float]:
    """Where the ray from a box centre towards (tx, ty) leaves the box."""
    dx, dy = tx - cx, ty - cy
    if dx == 0 and dy == 0:
        return cx, cy
    scale = min(
        (_BOX_W / 2) / abs(dx) if dx else math.inf,
        (_BOX_H / 2) / abs(dy) if dy else math.inf,
    )
    return cx + dx * scale, cy + dy * scale


def lifecycle_svg(transitions: list[tuple[str, str, str]], states: tuple[str, ...]) -> str:
    """An SVG state diagram of the enumerated lifecycle relation."""
    missing = [s for s in states if s not in _LAYOUT]
    if missing:
        raise RuntimeError(f"docs/_ext/baton_docs.py: no diagram position for states {missing}")
    parts = [
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 -6 1142 482" '
        'role="img" aria-label="Promotion lifecycle state diagram" '
        'style="max-width:100%;height:auto;font-family:sans-serif">',
        "<defs><marker id='arrow' viewBox='0 0 10 10' refX='10' refY='5' "
        "markerWidth='8' markerHeight='8' orient='auto-start-reverse'>"
        "<path d='M0,0 L10,5 L0,10 z' fill='#333'/></marker></defs>",
    ]
    for src, event, dst in transitions:
        (x1, y1), (x2, y2) = _LAYOUT[src], _LAYOUT[dst]
        mx, my = (x1 + x2) / 2, (y1 + y2) / 2
        length = math.hypot(x2 - x1, y2 - y1) or 1.0
        bend = _BEND.get((src, dst), 0.0)
        # Control point: the midpoint pushed perpendicular to the edge.
        qx, qy = mx - (y2 - y1) / length * bend, my + (x2 - x1) / length * bend
        sx, sy = _clip(x1, y1, qx, qy)
        ex, ey = _clip(x2, y2, qx, qy)
        parts.append(
            f"<path d='M{sx:.1f},{sy:.1f} Q{qx:.1f},{qy:.1f} {ex:.1f},{ey:.1f}' "
            "fill='none' stroke='#333' stroke-width='1.6' marker-end='url(#arrow)'/>"
        )
        # The label sits on the curve's midpoint (t = 0.5 of the quadratic).
        lx, ly = (sx + 2 * qx + ex) / 4, (sy + 2 * qy + ey) / 4
        parts.append(
            f"<text x='{lx:.1f}' y='{ly - 6:.1f}' text-anchor='middle' font-size='20' "
            f"fill='#1a4d8f' paint-order='stroke' stroke='white' stroke-width='4'>"
            f"{html.escape(event)}</text>"
        )
    for state in states:
        x, y = _LAYOUT[state]
        fill = "#e8f1e4" if state == "Steady" else "#f4f4f8"
        parts.append(
            f"<rect x='{x - _BOX_W / 2:.1f}' y='{y - _BOX_H / 2:.1f}' width='{_BOX_W:.0f}' "
            f"height='{_BOX_H:.0f}' rx='12' fill='{fill}' stroke='#444' stroke-width='1.5'/>"
            f"<text x='{x:.1f}' y='{y + 5:.1f}' text-anchor='middle' font-size='17' "
            f"font-weight='bold'>{html.escape(state)}</text>"
        )
    parts.append("</svg>")
    return "\n".join(parts)


def gen_model(report: Report | None) -> None:
    from baton.spec import cluster, lifecycle, validation

    transitions = lifecycle.enumerate_transitions()
    svg = lifecycle_svg(transitions, lifecycle.STATE_NAMES)
    out = [
        ".. This file is generated by docs/_ext/baton_docs.py; do not edit.\n",
        ".. raw:: html\n",
        _indent(svg),
        "",
        f"The relation allows exactly these {len(transitions)} transitions "
        "(enumerated with Z3 when these docs were built):\n",
        ".. csv-table::",
        "   :header: from, event, to\n",
    ]
    out += [f"   ``{s}``, ``{e}``, ``{t}``" for s, e, t in transitions]
    out.append("")
    moving = {e for _, e, _ in transitions}
    idle = [e for e in lifecycle.EVENT_NAMES if e not in moving]
    out.append(
        "Events with no transition from any state: "
        + ", ".join(f"``{e}``" for e in idle)
        + " (P6-F3). Every other (state, event) pair is forbidden: the runtime raises "
        "a named error carrying the state and the event.\n"
    )
    crash = lifecycle.crash_outcomes()
    out += [
        "Crash outcomes per state (computed from "
        ":func:`baton.spec.lifecycle.authority_after_crash`; recovery re-enters "
        f"``{lifecycle.RECOVERY_STATE}``):\n",
        ".. csv-table::",
        "   :header: state, authority after a crash\n",
    ]
    out += [f"   ``{s}``, {' or '.join(crash[s])}" for s in lifecycle.STATE_NAMES]
    _write("lifecycle.rst", "\n".join(out) + "\n")
    _write(
        "lifecycle_diagram.rst",
        ".. This file is generated by docs/_ext/baton_docs.py; do not edit.\n\n"
        ".. raw:: html\n\n" + _indent(f"<div class='lifecycle-diagram'>{svg}</div>") + "\n",
    )

    checks = [
        ".. csv-table::",
        "   :header: order, reason, invariant, denies when\n",
    ]
    for i, ch in enumerate(validation.CHECKS, 1):
        checks.append(
            f"   {i}, ``{ch.reason}``, :doc:`/invariants/{ch.invariant}`, "
            f"{_csv_cell(ch.description)}"
        )
    checks.append("")
    checks.append(
        "If no check fails the decision is ``allowed``, explained by "
        + ", ".join(f":doc:`/invariants/{i}`" for i in validation.ALLOWED_INVARIANTS)
        + ".\n"
    )
    fields = [
        "",
        "The abstract input domain, field by field:\n",
        ".. csv-table::",
        "   :header: field, values\n",
    ]
    fields += [f"   ``{name}``, {_csv_cell(', '.join(vals))}" for name, vals in validation.FIELDS]
    _write("checks.rst", "\n".join(checks + fields) + "\n")

    _write("assumptions.rst", _assumptions_rst(cluster, report))
    mutants = [".. csv-table::", "   :header: mutant, caught at, breaks, what it changes\n"]
    for m in cluster.MUTANTS:
        breaks = ", ".join(f":doc:`/invariants/{b}`" for b in m.breaks)
        # Every cluster mutant is caught with a run of the cluster; the
        # validator's also by the validation rule's soundness proof.
        level = "cluster run" + (", validation rule" if m.level == "validation" else "")
        mutants.append(f"   ``{m.name}``, {level}, {_csv_cell(breaks)}, {_csv_cell(m.description)}")
    from baton.proofs.obligations import SPEC_MUTANTS

    for name, (_proof, pid, what) in SPEC_MUTANTS.items():
        model = "lifecycle" if name in ("ambiguous_deny", "silent_abandon") else "validation"
        mutants.append(
            f"   ``{name}``, {model} model + cluster run, :doc:`/invariants/{pid}`, "
            f"{_csv_cell(what)}"
        )
    _write("mutants.rst", "\n".join(mutants) + "\n")


def _counterexample_violates(text: str) -> list[str]:
    """The property IDs a rendered counterexample says it violates.

    Read from its first line that says ``violates``: ``...: 9 steps, violates
    P6-A3, P6-S1`` or, in the diff-style rendering, ``model: ...; 7 steps;
    violates P6-A3 Epoch fencing`` (IDs followed by their names).
    """
    import re

    for line in text.strip().splitlines()[:5]:
        match = re.search(r"\bviolates (.*)$", line)
        if match is not None:
            return re.findall(r"P6-[A-Z]+\d+[a-z]?", match.group(1))
    return []


def assumption_evidence(cluster: Any, report: Report | None) -> dict[str, dict[str, str]]:
    """For each assumption: property ID -> what shows dropping it breaks that property.

    The committed counterexample decides the first entry; a targeted obligation
    (``assumption.NAME.P6-XX``) caught in the published report adds others; a
    declared guard with neither is listed as declared only. So the pages never
    claim a guard that their own counterexample contradicts.
    """
    cx_dir = DATA / "counterexamples"
    rows = {row_name(r): r for r in (report.rows if report else [])}
    out: dict[str, dict[str, str]] = {}
    for a in cluster.ASSUMPTIONS:
        evidence: dict[str, str] = {}
        path = cx_dir / f"{a.name}.txt"
        if path.exists():
            for pid in _counterexample_violates(path.read_text(encoding="utf-8")):
                evidence[pid] = "the counterexample below violates it"
        for name, row in rows.items():
            prefix = f"assumption.{a.name}."
            if name.startswith(prefix) and row.get("passed"):
                pid = name[len(prefix) :]
                evidence.setdefault(
                    pid, f"targeted search :ref:`{name} <{_row_target(name)}>` finds a violation"
                )
        for pid in a.guards:
            evidence.setdefault(pid, "declared; no counterexample of its own is shown")
        out[a.name] = evidence
    return out


def _assumptions_rst(cluster: Any, report: Report | None) -> str:
    sys.path.insert(0, str(Path(__file__).parent))
    from gen_counterexamples import model_digest

    cx_dir = DATA / "counterexamples"
    stamp_path = cx_dir / "stamp.json"
    stamp = json.loads(stamp_path.read_text()) if stamp_path.exists() else {}
    out: list[str] = []
    if stamp.get("model_sha256") != model_digest():
        out += [
            ".. danger::",
            "   **STALE.** The model sources changed since these counterexamples were "
            "generated. Regenerate them with "
            "``.venv/bin/python docs/_ext/gen_counterexamples.py``.\n",
        ]
    evidence = assumption_evidence(cluster, report)
    for a in cluster.ASSUMPTIONS:
        out += [_title(f"``{a.name}``", "~"), a.statement, "", "Dropping it breaks:", ""]
        out += [f"* :doc:`/invariants/{pid}`: {why}" for pid, why in evidence[a.name].items()]
        out.append("")
        path = cx_dir / f"{a.name}.txt"
        if path.exists():
            out += [
                f"Dropped (``baton verify --drop-assumption {a.name}``), the bounded "
                "model checker finds:\n",
                ".. code-block:: text\n",
                _indent(path.read_text(encoding="utf-8").rstrip()),
                "",
            ]
        else:
            out += [
                ".. danger::",
                f"   No committed counterexample for ``{a.name}``: run "
                "``docs/_ext/gen_counterexamples.py``.\n",
            ]
    return "\n".join(out) + "\n"


# --- The published proof report ------------------------------------------------
#
# The verify JSON is read only through the accessors below (row_name,
# result_kind, ...), so a renamed field changes one function, not every page.

# What the report's results depend on: the model, the proofs, and the runtime
# code the conformance checks and the explorer run.
REPORT_SOURCES: tuple[str, ...] = (
    "spec",
    "proofs",
    "impl/core.py",
    "impl/validator.py",
    "impl/_table.py",
)


def report_digest() -> str:
    """SHA-256 over the sources a verify report depends on, in a fixed order."""
    import hashlib

    digest = hashlib.sha256()
    for rel in REPORT_SOURCES:
        path = ROOT / rel
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        for file in files:
            if file.exists() and "__pycache__" not in file.parts:
                digest.update(file.relative_to(ROOT).as_posix().encode())
                digest.update(file.read_bytes())
    return digest.hexdigest()


def row_name(row: dict[str, Any]) -> str:
    return str(row.get("name") or row.get("obligation") or "?")


def row_passed(row: dict[str, Any]) -> bool:
    if "passed" in row:
        return bool(row["passed"])
    return str(row.get("status", "")).lower() in ("ok", "passed", "pass")


def result_kind(row: dict[str, Any]) -> str:
    """What kind of result an obligation has: proven, caught, reachable, explored ..."""
    for key in ("result_kind", "kind", "result", "outcome"):
        value = row.get(key)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, dict) and isinstance(value.get("kind"), str):
            return str(value["kind"])
    return "passed" if row_passed(row) else "failed"


def _row_target(name: str) -> str:
    """The label of an obligation's row in the report table (an inline target)."""
    return name.lower()


class Report:
    """A verify report as published: its rows, what it is, whether it is current."""

    def __init__(self, data: dict[str, Any], label: str, source: str, stale: bool) -> None:
        self.data = data
        self.rows: list[dict[str, Any]] = [
            r for r in data.get("obligations", []) if isinstance(r, dict)
        ]
        self.label = label
        self.source = source
        self.stale = stale

    @property
    def mode(self) -> str:
        return str(self.data.get("mode", "?"))

    @property
    def passed(self) -> bool:
        return bool(self.data.get("passed")) and all(row_passed(r) for r in self.rows)

    def by_name(self) -> dict[str, dict[str, Any]]:
        return {row_name(r): r for r in self.rows}


def load_published_report() -> Report | None:
    """The full committed report if recorded, else the quick one; None if neither exists."""
    for stem, label in (("verify-full", "full"), ("verify-quick", "quick")):
        path = DATA / f"{stem}.json"
        meta_path = DATA / f"{stem}.meta.json"
        if not path.exists():
            continue
        data = json.loads(path.read_text(encoding="utf-8"))
        meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.exists() else {}
        recorded = meta.get("report_sha256")
        stale = recorded != report_digest()
        when = meta.get("generated", "at an unrecorded time")
        tree = meta.get("tree", "an unrecorded tree")
        source = f"``docs/_data/{stem}.json``, recorded {when} ({tree})"
        return Report(data, label, source, stale)
    return None


def record_report(quick: bool) -> int:
    """Run ``baton verify`` and commit its JSON with the digest the staleness check uses."""
    stem = "verify-quick" if quick else "verify-full"
    out = DATA / f"{stem}.json"
    baton = Path(sys.executable).with_name("baton")
    started = time.time()
    command = [str(baton), "verify", "--json", str(out), *(["--quick"] if quick else [])]
    proc = subprocess.run(command, check=False)
    if proc.returncode != 0:
        print(
            f"baton verify exited {proc.returncode}; the report was not recorded", file=sys.stderr
        )
        return proc.returncode
    tree = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    meta = {
        "generated": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started))
        + f" by ``baton verify{' --quick' if quick else ''} --json``",
        "tree": f"commit {tree}" if tree else "an unrecorded tree",
        "report_sha256": report_digest(),
    }
    (DATA / f"{stem}.meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    print(f"recorded {out.relative_to(ROOT)}")
    return 0


# --- Invariant pages ---------------------------------------------------------


def _ref(dotted: str) -> str:
    return f":py:obj:`{dotted}`"


def _test_label(ref: str) -> str:
    """The label of a test's section on its generated test page."""
    file_part, _, name = ref.partition("::")
    return f"test-{Path(file_part).stem}-{name}".lower().replace("_", "-")


def _test_ref(ref: str) -> str:
    return f":ref:`{ref} <{_test_label(ref)}>`"


def gen_test_pages(refs: set[str]) -> None:
    """One page per cited test file: its purpose and the source of each cited test."""
    by_file: dict[str, list[str]] = {}
    for ref in sorted(refs):
        file_part, _, name = ref.partition("::")
        by_file.setdefault(file_part, []).append(name)
    for file_part, names in by_file.items():
        path = ROOT / file_part
        import ast

        docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        page = [":orphan:\n", _title(f"``{file_part}``")]
        if docstring:
            page += ["::\n", _indent(docstring), ""]
        for name in names:
            page += [
                f".. _{_test_label(f'{file_part}::{name}')}:\n",
                _title(f"``{name}``", "-"),
                f".. literalinclude:: /../{file_part}",
                "   :language: python",
                f"   :pyobject: {name}",
                "",
            ]
        _write(f"../invariants/tests/{path.stem}.rst", "\n".join(page) + "\n")


def _result_summary(rows: list[dict[str, Any]]) -> str:
    counts: dict[str, int] = {}
    for row in rows:
        kind = result_kind(row) if row_passed(row) else f"FAILED ({result_kind(row)})"
        counts[kind] = counts.get(kind, 0) + 1
    return ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))


def _latest_result(inv_id: str, names: list[str], report: Report | None) -> list[str]:
    """The admonition at the top of an invariant page: its latest result kind."""
    if report is None:
        return [".. warning::", "   No verify report is recorded: no result to show.\n"]
    rows = [r for r in report.rows if row_name(r) in names or inv_id in r.get("properties", [])]
    if not rows:
        return [
            ".. note::",
            f"   The {report.label} report has no obligation for {inv_id}; see the tests below.\n",
        ]
    failed = [r for r in rows if not row_passed(r)]
    summary = _result_summary(rows)
    # The report's per-invariant section names the strongest result kind and the
    # assumptions it rests on (older reports have no such section).
    entry = report.data.get("invariants", {}).get(inv_id, {})
    strongest = entry.get("strongest_kind") if isinstance(entry, dict) else None
    if failed:
        headline = f"FAILED: {summary}"
    elif strongest:
        headline = str(strongest)
    else:
        headline = summary
    if report.stale:
        headline += " (stale report)"
    lines = [
        ".. danger::" if failed or report.stale else ".. tip::",
        f"   **Latest result: {headline}.** From {len(rows)} obligations of the "
        f"{report.label} report ({report.source}).",
    ]
    if strongest and not failed:
        rests_on = entry.get("assumptions") or []
        lines.append(
            "   Rests on: "
            + (", ".join(f"``{a}``" for a in rests_on) if rests_on else "no assumption")
            + f". All {len(rows)} results: {summary}."
        )
    if report.stale:
        lines.append(
            "   **STALE:** the model, proofs or checked runtime code changed since this "
            "report was recorded."
        )
    lines.append("   Each obligation below links to its row in :doc:`/proofs`.\n")
    return lines


def gen_invariants(report: Report | None) -> None:
    from baton.proofs import obligations
    from baton.spec import cluster
    from baton.spec.invariants import INVARIANTS

    sys.path.insert(0, str(Path(__file__).parent))
    from invariant_map import INVARIANT_MAP

    missing = [inv.id for inv in INVARIANTS if inv.id not in INVARIANT_MAP]
    if missing:
        raise RuntimeError(f"docs/_ext/invariant_map.py has no entry for {missing}")
    full = obligations.build(quick=False)
    quick_names = {ob.name for ob in obligations.build(quick=True)}
    rows = report.by_name() if report else {}
    evidence = assumption_evidence(cluster, report)
    index = [
        _title("Invariants"),
        "Every property Baton states, declared once in :mod:`baton.spec.invariants`. "
        "Each page shows its latest result, where the spec encodes it, which proof "
        "obligations prove it and how, where the runtime enforces it and which tests "
        "and mutants exercise it.\n",
        ".. toctree::",
        "   :hidden:\n",
    ]
    index += [f"   {inv.id}" for inv in INVARIANTS]
    index += ["", ".. csv-table::", "   :header: ID, title, latest result, statement\n"]
    for inv in INVARIANTS:
        inv_rows = [r for r in rows.values() if inv.id in r.get("properties", [])]
        latest = _result_summary(inv_rows) if inv_rows else "tests only"
        index.append(
            f"   :doc:`{inv.id}`, {_csv_cell(inv.title)}, {_csv_cell(latest)}, "
            f"{_csv_cell(inv.statement)}"
        )
    if report is not None:
        index += [
            "",
            f"Results from the {report.label} report ({report.source})"
            + (", **STALE**: the model changed since." if report.stale else "."),
        ]
    _write("../invariants/index.rst", "\n".join(index) + "\n")

    cited_tests: set[str] = set()
    for inv in INVARIANTS:
        entry = INVARIANT_MAP[inv.id]
        obs = [ob for ob in full if inv.id in ob.properties]
        mutants = [m for m in cluster.MUTANTS if inv.id in m.breaks]
        assumptions = [a for a in cluster.ASSUMPTIONS if inv.id in evidence[a.name]]
        page = [
            f".. _{inv.id}:\n",
            _title(f"{inv.id}: {inv.title}"),
            f".. epigraph::\n\n   {inv.statement}\n",
            *_latest_result(inv.id, [ob.name for ob in obs], report),
            _title("Where the spec states it", "-"),
            *[f"* {_ref(d)}" for d in entry.spec],
            "",
            _title("How it is proven", "-"),
            entry.proof,
            "",
        ]
        if obs:
            page += [
                f"{len(obs)} obligations of ``baton verify`` (``quick`` marks those in "
                "``--quick``; the result is the published report's):\n",
                ".. csv-table::",
                "   :header: obligation, N, quick, result, claim",
                "   :class: obligations",
                "   :widths: 30, 5, 8, 15, 42\n",
            ]
            for ob in obs:
                row = rows.get(ob.name)
                if row is None:
                    name_cell, result = f"``{ob.name}``", "not in the report"
                else:
                    name_cell = f":ref:`{ob.name} <{_row_target(ob.name)}>`"
                    result = (
                        result_kind(row) if row_passed(row) else f"**FAILED** ({result_kind(row)})"
                    )
                page.append(
                    f"   {_csv_cell(name_cell)}, {ob.n or ''}, "
                    f"{'yes' if ob.name in quick_names else ''}, {_csv_cell(result)}, "
                    f"{_csv_cell(ob.description)}"
                )
            page.append("")
        else:
            page += ["No ``baton verify`` obligation names this ID directly.\n"]
        page += [_title("Where the runtime enforces it", "-")]
        page += [f"* {_ref(d)}" for d in entry.runtime]
        page += ["", _title("Tests", "-")]
        page += [f"* {_test_ref(t)}" for t in entry.tests]
        cited_tests.update(entry.tests)
        page += ["", _title("Mutants and dropped assumptions that break it", "-")]
        from baton.proofs.obligations import SPEC_MUTANTS

        spec_mutants = [(n, what) for n, (_p, pid, what) in SPEC_MUTANTS.items() if pid == inv.id]
        if mutants or assumptions or spec_mutants:
            page += [f"* mutant ``{m.name}``: {m.description}" for m in mutants]
            page += [
                f"* spec mutant ``{n}`` (``mutant.spec.{n}``): {what}" for n, what in spec_mutants
            ]
            page += [
                f"* assumption ``{a.name}`` (:ref:`counterexample <assumptions>`; "
                f"{evidence[a.name][inv.id]}): {a.statement}"
                for a in assumptions
            ]
        else:
            page.append("None is declared for this ID.")
        _write(f"../invariants/{inv.id}.rst", "\n".join(page) + "\n")
    gen_test_pages(cited_tests)


# --- Proof report ------------------------------------------------------------


def fresh_quick_run() -> Report:
    """Run ``baton verify --quick --json`` now (CI builds the site with BATON_DOCS_VERIFY=1)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.json"
        baton = Path(sys.executable).with_name("baton")
        started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        proc = subprocess.run(
            [str(baton), "verify", "--quick", "--json", str(out)],
            capture_output=True,
            text=True,
            check=False,
        )
        data = json.loads(out.read_text()) if out.exists() else None
    if data is None:
        data = {"mode": "quick", "passed": False, "obligations": [], "error": proc.stderr[-2000:]}
    source = f"run by this docs build (``BATON_DOCS_VERIFY=1``), started {started}"
    return Report(data, "quick", source, stale=False)


def _report_table(report: Report, *, anchors: bool) -> list[str]:
    out = [
        ".. csv-table::",
        "   :header: obligation, properties, result, s, detail",
        "   :class: obligations",
        "   :widths: 30, 14, 11, 7, 38\n",
    ]
    for r in report.rows:
        name = row_name(r)
        name_cell = f"_`{name}`" if anchors else f"``{name}``"
        mark = result_kind(r) if row_passed(r) else f"**FAILED: {result_kind(r)}**"
        props = ", ".join(f":doc:`{p} </invariants/{p}>`" for p in r.get("properties", []))
        seconds = r.get("seconds")
        seconds_cell = f"{seconds:.2f}" if isinstance(seconds, int | float) else ""
        detail = _plain_text(str(r.get("detail", "")), 200)
        out.append(
            f"   {_csv_cell(name_cell)}, {_csv_cell(props)}, {_csv_cell(mark)}, "
            f"{seconds_cell}, {_csv_cell(detail)}"
        )
    return out


def _report_heading(report: Report) -> list[str]:
    failed = [r for r in report.rows if not row_passed(r)]
    what = (
        "the full run (every obligation)"
        if report.label == "full"
        else "the quick subset (``--quick``), not the full run"
    )
    out = [f"**This report is {what}:** {report.source}.", ""]
    if report.stale:
        out += [
            ".. danger::",
            "   **STALE.** The model, the proofs or the runtime code they check changed "
            "since this report was recorded: it may not describe this version. Record it "
            "again with ``.venv/bin/python docs/_ext/baton_docs.py --record-report``.\n",
        ]
    if report.passed and not failed:
        out += [".. note::", f"   PASSED: all {len(report.rows)} obligations hold.\n"]
    else:
        listed = ", ".join(f"``{row_name(r)}`` ({result_kind(r)})" for r in failed)
        out += [
            ".. danger::",
            f"   **VERIFY FAILED**: {len(failed)} of {len(report.rows)} obligations did not "
            "pass" + (f": {listed}" if listed else "") + ".\n",
        ]
        if report.data.get("error"):
            out += [".. code-block:: text\n", _indent(str(report.data["error"])), ""]
    if isinstance(report.data.get("wall_seconds"), int | float):
        machine = report.data.get("machine", {})
        out.append(
            f"Wall time {report.data['wall_seconds']:.0f} s on {machine.get('cpus', '?')} CPUs "
            f"(Python {machine.get('python', '?')}, {report.data.get('generator', '')}). "
            "Each row's name is a link target: the invariant pages point here.\n"
        )
    return out


def gen_proofs(published: Report | None, fresh: Report | None) -> None:
    """The proof report page: the published report, plus this build's quick run if any."""
    if published is None:
        _write("proof_report.rst", ".. danger::\n\n   No verify report is recorded.\n")
        return
    lines = _report_heading(published) + _report_table(published, anchors=True)
    if fresh is not None and fresh is not published:
        lines += [
            "",
            _title("This build's quick run", "-"),
            *_report_heading(fresh),
            *_report_table(fresh, anchors=False),
        ]
    _write("proof_report.rst", "\n".join(lines) + "\n")
    if fresh is not None and not fresh.passed:
        # A build that measured a failing verify must not publish as if all were well.
        raise SystemExit(
            "docs: baton verify --quick failed during the build (see _gen/proof_report.rst)"
        )


# --- CLI reference -----------------------------------------------------------


def gen_cli() -> None:
    from baton.cli import build_parser

    os.environ["COLUMNS"] = "90"
    parser = build_parser()
    out = [
        _title("Command line reference"),
        "Generated from ``baton.cli.build_parser()``.\n",
        ".. code-block:: text\n",
        _indent(parser.format_help().rstrip()),
        "",
    ]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out += [
                    _title(f"baton {name}", "-"),
                    ".. code-block:: text\n",
                    _indent(sub.format_help().rstrip()),
                    "",
                ]
    _write("../cli.rst", "\n".join(out) + "\n")


# --- Trace schema ------------------------------------------------------------


def gen_trace_schema() -> None:
    path = ROOT / "impl" / "schemas" / "trace.schema.json"
    if not path.exists():
        _write("trace_schema.rst", "The trace schema is not written yet.\n")
        return
    schema = json.loads(path.read_text(encoding="utf-8"))
    out = [f"From ``impl/schemas/trace.schema.json`` ({html.escape(schema.get('title', ''))}).\n"]
    if schema.get("description"):
        out += [schema["description"], ""]
    variants = schema.get("oneOf") or schema.get("anyOf") or []
    defs = schema.get("$defs") or schema.get("definitions") or {}

    def resolve(node: dict[str, Any]) -> dict[str, Any]:
        ref = node.get("$ref", "")
        if ref.startswith("#/"):
            target: Any = schema
            for part in ref[2:].split("/"):
                target = target[part]
            return dict(target)
        return node

    def type_of(prop: dict[str, Any]) -> str:
        prop = resolve(prop)
        if "const" in prop:
            return f"const {json.dumps(prop['const'])}"
        if "enum" in prop:
            return "one of " + ", ".join(json.dumps(v) for v in prop["enum"])
        t = prop.get("type", "")
        return " or ".join(t) if isinstance(t, list) else str(t or "object")

    kinds = [resolve(v) for v in variants] or [schema]
    for kind in kinds:
        props = kind.get("properties", {})
        kind_const = resolve(props.get("kind", {})).get("const") if "kind" in props else None
        heading = f"``{kind_const}``" if kind_const else kind.get("title", "event")
        out += [_title(heading, "~")]
        if kind.get("description"):
            out += [kind["description"], ""]
        required = set(kind.get("required", []))
        out += [".. csv-table::", "   :header: field, required, type, meaning\n"]
        for fname, prop in props.items():
            desc = resolve(prop).get("description", "") or prop.get("description", "")
            out.append(
                f"   ``{fname}``, {'yes' if fname in required else 'no'}, "
                f"{_csv_cell(type_of(prop))}, {_csv_cell(desc)}"
            )
        out.append("")
    if not variants and defs:
        out.append(f"Definitions: {', '.join(sorted(defs))}.")
    _write("trace_schema.rst", "\n".join(out) + "\n")


def _pages_in_toctrees() -> set[str]:
    """Every page some toctree of the site already lists (index.rst and the pages it
    includes in its toctrees): those need no place under "More"."""
    listed: set[str] = set()
    for source in DOCS.glob("*.rst"):
        in_toctree = False
        for line in source.read_text(encoding="utf-8").splitlines():
            if line.startswith(".. toctree::"):
                in_toctree = True
            elif in_toctree and line and not line.startswith(" "):
                in_toctree = False
            elif in_toctree and line.strip() and not line.strip().startswith(":"):
                listed.add(line.strip())
    return listed


def gen_extra_pages() -> None:
    """A toctree for Markdown pages no toctree lists yet (added by other engineers)."""
    listed = _pages_in_toctrees()
    extra = sorted(p.stem for p in DOCS.glob("*.md") if p.stem not in listed)
    lines = [".. toctree::", "   :maxdepth: 1", "   :caption: More", ""]
    _write(
        "extra_pages.rst", "\n".join(lines + [f"   {e}" for e in extra]) + "\n" if extra else "\n"
    )


def generate_all() -> None:
    GEN.mkdir(exist_ok=True)
    gen_extra_pages()
    fresh = fresh_quick_run() if os.environ.get("BATON_DOCS_VERIFY") == "1" else None
    published = load_published_report()
    if published is None or (published.label == "quick" and fresh is not None):
        published = fresh  # a quick run measured now beats a committed quick one
    gen_model(published)
    gen_invariants(published)
    gen_proofs(published, fresh)
    gen_cli()
    gen_trace_schema()
    gen_api()


# --- API reference -------------------------------------------------------------


def gen_api() -> None:
    """One autodoc section per module of the package, found on disk."""
    groups = (
        ("The spec: ``baton.spec``", "baton.spec", ROOT / "spec"),
        ("The proofs: ``baton.proofs``", "baton.proofs", ROOT / "proofs"),
        ("The runtime: ``baton``", "baton", ROOT / "impl"),
    )
    out = [
        _title("API reference"),
        "Generated with ``sphinx.ext.autodoc`` from the package's docstrings. The "
        "subcommand modules (``baton.commands.*``) are documented by their "
        "``--help`` text in :doc:`cli`.\n",
    ]
    for heading, package, folder in groups:
        out += [_title(heading, "-")]
        for path in sorted(folder.glob("*.py")):
            if path.name == "__init__.py":
                continue
            module = f"{package}.{path.stem}"
            out += [_title(f"``{module}``", "~"), f".. automodule:: {module}", ""]
    _write("../api.rst", "\n".join(out) + "\n")


# Docstrings written as plain text rather than reStructuredText (a grid of
# text, shell globs): shown verbatim instead of failing the -W build.
PLAIN_DOCSTRINGS: frozenset[str] = frozenset({"baton.scenario", "baton.vectors.generate"})


def plain_docstring(
    _app: Any, _what: str, name: str, _obj: Any, _options: Any, lines: list[str]
) -> None:
    """``autodoc-process-docstring`` hook: render PLAIN_DOCSTRINGS as literal blocks."""
    if name in PLAIN_DOCSTRINGS and lines:
        body = [("    " + line) if line.strip() else "" for line in lines]
        lines[:] = ["::", "", *body, ""]


if __name__ == "__main__":
    cli = argparse.ArgumentParser(description="Record the proof report the docs publish.")
    cli.add_argument("--record-report", action="store_true", required=True)
    cli.add_argument("--quick", action="store_true", help="record the quick subset instead")
    sys.exit(record_report(cli.parse_args().quick))
