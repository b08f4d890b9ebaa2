"""Print the normative model, computed from the Z3 spec (not a hand-written copy).

The lifecycle table is enumerated from the transition relation, the crash map
is evaluated per state, the validation checks are listed in the order the rule
applies them, and the properties come from the invariant catalogue.

Examples:
  baton spec                      # everything, as text
  baton spec --section lifecycle  # just the transition table
  baton spec --json               # for machines (standard output; --json FILE to a file)

exit status: 0 printed, 2 bad usage or an unwritable --json FILE, 3 internal error.
"""

from __future__ import annotations

import argparse
from typing import Any

from baton.output import STDOUT, add_output_args, emit_json

SECTIONS = ("lifecycle", "validation", "properties", "cluster")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="text (default), or json: the same as --json - (kept for existing scripts)",
    )
    parser.add_argument(
        "--section", choices=SECTIONS, action="append", help="only these sections (repeatable)"
    )
    add_output_args(parser, junit=False)


def collect(sections: tuple[str, ...] = SECTIONS) -> dict[str, Any]:
    """The model's tables as plain data, each derived from the Z3 spec."""
    from baton.spec import cluster, invariants, lifecycle, validation

    out: dict[str, Any] = {}
    if "lifecycle" in sections:
        out["lifecycle"] = {
            "states": list(lifecycle.STATE_NAMES),
            "events": list(lifecycle.EVENT_NAMES),
            "transitions": [
                {"from": a, "event": e, "to": b} for a, e, b in lifecycle.enumerate_transitions()
            ],
            "crash": {k: list(v) for k, v in lifecycle.crash_outcomes().items()},
            "recovery_state": lifecycle.RECOVERY_STATE,
        }
    if "validation" in sections:
        out["validation"] = {
            "fields": {name: list(values) for name, values in validation.FIELDS},
            "checks": [
                {
                    "order": i + 1,
                    "reason": ch.reason,
                    "invariant": ch.invariant,
                    "description": ch.description,
                }
                for i, ch in enumerate(validation.CHECKS)
            ],
            "allowed_invariants": list(validation.ALLOWED_INVARIANTS),
        }
    if "properties" in sections:
        out["properties"] = [
            {"id": inv.id, "title": inv.title, "statement": inv.statement}
            for inv in invariants.INVARIANTS
        ]
    if "cluster" in sections:
        out["cluster"] = {
            "assumptions": [
                {"name": a.name, "statement": a.statement, "guards": list(a.guards)}
                for a in cluster.ASSUMPTIONS
            ],
            "mutants": [
                {"name": m.name, "description": m.description, "breaks": list(m.breaks)}
                for m in cluster.MUTANTS
            ],
            "actions": cluster.action_names(cluster.Config(n=2, mode="sync")),
        }
    return out


def _named(ids: list[str]) -> str:
    """``P6-S1 (no acknowledged write lost), ...``: full IDs with their names."""
    from baton.spec.invariants import INVARIANTS

    titles = {inv.id: inv.title for inv in INVARIANTS}
    return ", ".join(f"{i} ({titles[i]})" if i in titles else i for i in ids)


def render_text(data: dict[str, Any]) -> str:
    lines: list[str] = []
    if "lifecycle" in data:
        lc = data["lifecycle"]
        lines.append("Promotion lifecycle (enumerated from the Z3 transition relation)")
        width = max(len(t["from"]) for t in lc["transitions"])
        ev_width = max(len(t["event"]) for t in lc["transitions"])
        for t in lc["transitions"]:
            lines.append(f"  {t['from']:<{width}}  --{t['event']:<{ev_width}}-->  {t['to']}")
        lines.append(
            f"  ({len(lc['transitions'])} transitions; every other (state, event) is forbidden)"
        )
        lines.append("")
        lines.append(f"Crash in each state (recovery re-enters {lc['recovery_state']})")
        for state, outs in lc["crash"].items():
            lines.append(f"  {state:<{width}}  authority: {' or '.join(outs)}")
        lines.append("")
    if "validation" in data:
        lines.append("Validation checks, in order (the first failing check is the reason)")
        for ch in data["validation"]["checks"]:
            lines.append(
                f"  {ch['order']:>2}. {ch['reason']:<38} {ch['invariant']:<7} {ch['description']}"
            )
        lines.append(
            "  otherwise: allowed (" + ", ".join(data["validation"]["allowed_invariants"]) + ")"
        )
        lines.append("")
    if "properties" in data:
        lines.append("Properties")
        for p in data["properties"]:
            lines.append(f"  {p['id']:<7} {p['title']}: {p['statement']}")
        lines.append("")
    if "cluster" in data:
        lines.append(
            "Environment assumptions (each can be dropped: baton verify --drop-assumption NAME)"
        )
        for a in data["cluster"]["assumptions"]:
            lines.append(f"  {a['name']}: {a['statement']}")
            lines.append(f"  {'':<4}guards {_named(a['guards'])}")
        lines.append("")
        lines.append("Mutants (each must be caught: baton verify --mutant NAME)")
        for m in data["cluster"]["mutants"]:
            lines.append(f"  {m['name']}: {m['description']}")
            lines.append(f"  {'':<4}breaks {_named(m['breaks'])}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def run(args: argparse.Namespace) -> int:
    sections = tuple(args.section) if args.section else SECTIONS
    data = collect(sections)
    destination = args.json
    if destination is None and args.format == "json":
        destination = STDOUT
    if destination is not None:
        emit_json(data, destination)
    if destination != STDOUT:
        print(render_text(data), end="")
    return 0
