"""Generate the docs pages that come from the code: run from ``docs/conf.py``.

Everything here writes reStructuredText into ``docs/_gen/`` before Sphinx
reads the sources, so the pages cannot drift from the spec: the lifecycle
diagram is drawn from ``baton.spec.lifecycle.enumerate_transitions()``, the
check order from ``baton.spec.validation.CHECKS``, the assumptions from
``baton.spec.cluster.ASSUMPTIONS``, the per-invariant pages from the catalogue
plus :mod:`invariant_map`, the CLI reference from ``baton.cli.build_parser()``
and the trace format from ``impl/schemas/trace.schema.json``.
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
    "PromotionRequested": (390, 60),
    "PromotionValidating": (740, 60),
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
_BOX_W, _BOX_H = 220.0, 48.0


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
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1130 470" '
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
            f"<text x='{lx:.1f}' y='{ly - 6:.1f}' text-anchor='middle' font-size='17' "
            f"fill='#1a4d8f' paint-order='stroke' stroke='white' stroke-width='4'>"
            f"{html.escape(event)}</text>"
        )
    for state in states:
        x, y = _LAYOUT[state]
        fill = "#e8f1e4" if state == "Steady" else "#f4f4f8"
        parts.append(
            f"<rect x='{x - _BOX_W / 2:.1f}' y='{y - _BOX_H / 2:.1f}' width='{_BOX_W:.0f}' "
            f"height='{_BOX_H:.0f}' rx='12' fill='{fill}' stroke='#444' stroke-width='1.5'/>"
            f"<text x='{x:.1f}' y='{y + 5:.1f}' text-anchor='middle' font-size='15' "
            f"font-weight='bold'>{html.escape(state)}</text>"
        )
    parts.append("</svg>")
    return "\n".join(parts)


def gen_model() -> None:
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

    _write("assumptions.rst", _assumptions_rst(cluster))
    mutants = [".. csv-table::", "   :header: mutant, caught at, breaks, what it changes\n"]
    for m in cluster.MUTANTS:
        breaks = ", ".join(f":doc:`/invariants/{b}`" for b in m.breaks)
        mutants.append(
            f"   ``{m.name}``, {m.level}, {_csv_cell(breaks)}, {_csv_cell(m.description)}"
        )
    _write("mutants.rst", "\n".join(mutants) + "\n")


def _assumptions_rst(cluster: Any) -> str:
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
    for a in cluster.ASSUMPTIONS:
        guards = ", ".join(f":doc:`/invariants/{g}`" for g in a.guards)
        out += [_title(f"``{a.name}``", "~"), a.statement, "", f"Guards: {guards}.", ""]
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


# --- Invariant pages ---------------------------------------------------------


def _ref(dotted: str) -> str:
    return f":py:obj:`{dotted}`"


def _test_ref(ref: str) -> str:
    return f"``{ref}``"


def gen_invariants() -> None:
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
    index = [
        _title("Invariants"),
        "Every property Baton states, declared once in :mod:`baton.spec.invariants`. "
        "Each page says where the spec encodes it, which proof obligations prove it "
        "and how, where the runtime enforces it and which tests and mutants "
        "exercise it.\n",
        ".. toctree::",
        "   :hidden:\n",
    ]
    index += [f"   {inv.id}" for inv in INVARIANTS]
    index += ["", ".. csv-table::", "   :header: ID, title, statement\n"]
    for inv in INVARIANTS:
        index.append(f"   :doc:`{inv.id}`, {inv.title}, {_csv_cell(inv.statement)}")
    _write("../invariants/index.rst", "\n".join(index) + "\n")

    for inv in INVARIANTS:
        entry = INVARIANT_MAP[inv.id]
        obs = [ob for ob in full if inv.id in ob.properties]
        mutants = [m for m in cluster.MUTANTS if inv.id in m.breaks]
        assumptions = [a for a in cluster.ASSUMPTIONS if inv.id in a.guards]
        page = [
            f".. _{inv.id}:\n",
            _title(f"{inv.id}: {inv.title}"),
            f".. epigraph::\n\n   {inv.statement}\n",
            _title("Where the spec states it", "-"),
            *[f"* {_ref(d)}" for d in entry.spec],
            "",
            _title("How it is proven", "-"),
            entry.proof,
            "",
        ]
        if obs:
            page += [
                f"{len(obs)} obligations of ``baton verify`` (see :doc:`/proofs`; "
                "``quick`` marks those in ``--quick``):\n",
                ".. csv-table::",
                "   :header: obligation, method, N, depth, quick, claim\n",
            ]
            for ob in obs:
                page.append(
                    f"   ``{ob.name}``, {ob.method}, {ob.n or ''}, {ob.depth or ''}, "
                    f"{'yes' if ob.name in quick_names else ''}, {_csv_cell(ob.description)}"
                )
            page.append("")
        else:
            page += ["No ``baton verify`` obligation names this ID directly.\n"]
        page += [_title("Where the runtime enforces it", "-")]
        page += [f"* {_ref(d)}" for d in entry.runtime]
        page += ["", _title("Tests", "-")]
        page += [f"* {_test_ref(t)}" for t in entry.tests]
        page += ["", _title("Mutants and dropped assumptions that break it", "-")]
        if mutants or assumptions:
            page += [f"* mutant ``{m.name}``: {m.description}" for m in mutants]
            page += [
                f"* assumption ``{a.name}`` (:ref:`counterexample <assumptions>`): {a.statement}"
                for a in assumptions
            ]
        else:
            page.append("None is declared for this ID.")
        _write(f"../invariants/{inv.id}.rst", "\n".join(page) + "\n")


# --- Proof report ------------------------------------------------------------


def gen_proofs() -> None:
    """The proof report: a fresh quick run if asked for, else the committed one."""
    fresh = os.environ.get("BATON_DOCS_VERIFY") == "1"
    note: str
    if fresh:
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
            note = f"run by this docs build (``BATON_DOCS_VERIFY=1``), started {started}"
            if data is None:
                data = {
                    "mode": "quick",
                    "passed": False,
                    "obligations": [],
                    "error": proc.stderr[-2000:],
                }
    else:
        data = json.loads((DATA / "verify-quick.json").read_text(encoding="utf-8"))
        meta = json.loads((DATA / "verify-quick.meta.json").read_text(encoding="utf-8"))
        note = (
            f"committed report ``docs/_data/verify-quick.json``, produced "
            f"{meta['generated']} ({meta['tree']}); rebuild with ``BATON_DOCS_VERIFY=1`` "
            "for a fresh run"
        )
    rows = data.get("obligations", [])
    failed = [r for r in rows if not r.get("passed")]
    out_lines = [f"**Mode:** ``{data.get('mode')}`` -- {note}.", ""]
    if data.get("passed") and not failed:
        out_lines += [".. note::", f"   PASSED: all {len(rows)} obligations hold.\n"]
    else:
        out_lines += [
            ".. danger::",
            f"   **VERIFY FAILED**: {len(failed)} of {len(rows)} obligations did not pass"
            + (
                ": " + ", ".join(f"``{r['name']}`` ({r.get('result')})" for r in failed)
                if failed
                else ""
            )
            + ".\n",
        ]
        if data.get("error"):
            out_lines += [".. code-block:: text\n", _indent(data["error"]), ""]
    if "wall_seconds" in data:
        machine = data.get("machine", {})
        out_lines.append(
            f"Wall time {data['wall_seconds']:.0f} s on {machine.get('cpus', '?')} CPUs "
            f"(Python {machine.get('python', '?')}, {data.get('generator', '')}).\n"
        )
    out_lines += [
        ".. csv-table::",
        "   :header: obligation, properties, method, result, seconds, detail\n",
    ]
    for r in rows:
        mark = r.get("result", "") if r.get("passed") else f"**{r.get('result', '')}**"
        out_lines.append(
            f"   ``{r['name']}``, {_csv_cell(', '.join(r.get('properties', [])))}, "
            f"{r.get('method', '')}, {mark}, {r.get('seconds', 0):.2f}, "
            f"{_csv_cell(_plain_text(str(r.get('detail', '')), 200))}"
        )
    _write("proof_report.rst", "\n".join(out_lines) + "\n")
    if fresh and (failed or not data.get("passed")):
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


KNOWN_PAGES: frozenset[str] = frozenset(
    {"oracle", "runtime", "durability", "mutation", "explorer", "testing", "benchmarks"}
)


def gen_extra_pages() -> None:
    """A toctree for Markdown pages other engineers add beyond the known ones."""
    extra = sorted(p.stem for p in DOCS.glob("*.md") if p.stem not in KNOWN_PAGES)
    lines = [".. toctree::", "   :maxdepth: 1", "   :caption: More", ""]
    _write(
        "extra_pages.rst", "\n".join(lines + [f"   {e}" for e in extra]) + "\n" if extra else "\n"
    )


def generate_all() -> None:
    GEN.mkdir(exist_ok=True)
    gen_extra_pages()
    gen_model()
    gen_invariants()
    gen_proofs()
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
