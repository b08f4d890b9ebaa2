"""One verdict format for every checker Baton runs (version 1).

``baton check --json`` prints a :class:`Verdict`; the test vectors state
their expected outcomes in it; ``baton verify --json`` reports its
counterexamples as :class:`Violation` records. The JSON Schema is
``impl/schemas/verdict.schema.json`` (``baton schema verdict``).

A violation names the *rule* that caught it (a stable name from
:data:`baton.oracle.RULES`, or the proof obligation's name), the *invariant*
ID it breaks (``baton.spec.invariants``), where it happened (trace ``line``
and ``step`` -- the event's ``seq``, or the BMC step), the offending
``event``, a one-paragraph ``explanation`` and the relevant ``state``.

Helper for other checkers::

    from baton.verdict import make_violation, Verdict
    v = make_violation("bmc", "P6-S1", "acknowledged write lost", step=11, state={...})
    print(Verdict(subject="verify", status="violation", violations=[v]).to_json())
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

FORMAT = "baton-verdict"
VERSION = 1

STATUSES: tuple[str, ...] = (
    "conforms",
    "conforms_partial",
    "incomplete",
    "violation",
    "malformed",
)
"""``conforms``: every rule checked, none broken. ``conforms_partial``: nothing broken,
but some rules could not be checked (listed in coverage). ``incomplete``: the same, when
a full trace was required (``--require-full``), so it fails. ``violation``: a rule broke.
``malformed``: the input could not be read (error names line and field)."""

EXIT_CODES: dict[str, int] = {
    "conforms": 0,
    "conforms_partial": 0,
    "incomplete": 1,
    "violation": 1,
    "malformed": 2,
}


@dataclass(frozen=True)
class Violation:
    """One broken rule: which, where, what, why, and the state around it."""

    rule: str
    invariant: str
    explanation: str
    line: int | None = None
    step: int | None = None
    event: dict[str, Any] | None = None
    state: dict[str, Any] = field(default_factory=dict)
    also: tuple[str, ...] = ()
    """Further invariants broken by the same step, e.g. an approval the spec denies breaks
    fail-closed (P6-F1) and the invariant of the spec's denial reason (P6-A1a for force
    over an active primary)."""

    @property
    def headline(self) -> str:
        """The invariants broken, first the rule's own: 'P6-F1 and P6-A1a'."""
        return " and ".join((self.invariant, *self.also))

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "invariant": self.invariant,
            "also": list(self.also),
            "line": self.line,
            "step": self.step,
            "event": self.event,
            "explanation": self.explanation,
            "state": self.state,
        }


def make_violation(
    rule: str,
    invariant: str,
    explanation: str,
    *,
    line: int | None = None,
    step: int | None = None,
    event: dict[str, Any] | None = None,
    state: dict[str, Any] | None = None,
    also: tuple[str, ...] = (),
) -> Violation:
    """Build a :class:`Violation` (the one constructor other checkers should call)."""
    return Violation(rule, invariant, explanation, line, step, event, dict(state or {}), also)


@dataclass(frozen=True)
class Excused:
    """A violation that a demonstration's declared, dropped assumption accounts for.

    ``assumption`` guards the violated property (baton.spec.cluster.ASSUMPTIONS);
    ``line``/``step`` locate the event that declared it dropped. It does not fail
    the check: the caller allowed the assumption (``baton check --allow-dropped``)."""

    violation: Violation
    assumption: str
    line: int | None = None
    step: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.violation.to_dict(),
            "excused_by": {"assumption": self.assumption, "line": self.line, "step": self.step},
        }


@dataclass(frozen=True)
class DroppedAssumption:
    """An assumption a trace declares dropped (meta.dropped_assumptions of an event),
    first at ``line``; ``allowed`` whether the caller allowed it."""

    name: str
    line: int | None = None
    step: int | None = None
    allowed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "line": self.line, "step": self.step, "allowed": self.allowed}


@dataclass(frozen=True)
class InputProblem:
    """Why the input could not be read: line and field when known."""

    reason: str
    line: int | None = None
    field: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "reason": self.reason}


@dataclass
class Verdict:
    """The outcome of one check: status, violations, coverage and notes."""

    subject: str
    status: str
    violations: list[Violation] = field(default_factory=list)
    events: int = 0
    checked: list[str] = field(default_factory=list)
    not_checked: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: InputProblem | None = None
    # Demonstrations (a trace that declares dropped assumptions): what the caller
    # allowed, what the trace declared, and the violations that excused.
    allowed_dropped: list[str] = field(default_factory=list)
    dropped: list[DroppedAssumption] = field(default_factory=list)
    excused: list[Excused] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]

    @property
    def dropped_not_allowed(self) -> list[DroppedAssumption]:
        """Assumptions the trace declares dropped that the caller did not allow:
        each fails the check (status violation)."""
        return [d for d in self.dropped if not d.allowed]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "subject": self.subject,
            "status": self.status,
            "events": self.events,
            "coverage": {"checked": list(self.checked), "not_checked": list(self.not_checked)},
            "violations": [v.to_dict() for v in self.violations],
            "notes": list(self.notes),
            "error": self.error.to_dict() if self.error is not None else None,
            # Only for a demonstration or an explicit allowance: other verdicts keep
            # exactly the version-1 fields they always had.
            **(
                {
                    "assumptions": {
                        "allowed": list(self.allowed_dropped),
                        "declared": [d.to_dict() for d in self.dropped],
                    },
                    "excused": [x.to_dict() for x in self.excused],
                }
                if self.allowed_dropped or self.dropped or self.excused
                else {}
            ),
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)


def verdict_schema() -> dict[str, Any]:
    """The JSON Schema of a verdict (draft 2020-12)."""
    nullable_int = {"type": ["integer", "null"], "minimum": 0}
    violation: dict[str, Any] = {
        "type": "object",
        "description": "One broken rule.",
        "properties": {
            "rule": {
                "type": "string",
                "description": "the rule (oracle rule or proof) that caught it",
            },
            "invariant": {
                "type": "string",
                "pattern": "^P6-[A-Z][0-9]+[a-z]?$",
                "description": "the invariant ID broken (baton.spec.invariants)",
            },
            "also": {
                "type": "array",
                "items": {"type": "string", "pattern": "^P6-[A-Z][0-9]+[a-z]?$"},
                "description": "further invariants the same step breaks (e.g. the denial "
                "reason's own invariant beside P6-F1); may be empty. Added in version 1 as an "
                "optional field: readers of older verdicts treat it as empty",
            },
            "line": {**nullable_int, "description": "1-based trace line, null when not a trace"},
            "step": {**nullable_int, "description": "the event's seq, or the model-checking step"},
            "event": {
                "type": ["object", "null"],
                "description": "the offending event as read (trace line or action)",
            },
            "explanation": {"type": "string", "minLength": 1, "description": "one paragraph"},
            "state": {"type": "object", "description": "the relevant state before the event"},
        },
        "required": ["rule", "invariant", "line", "step", "event", "explanation", "state"],
        "additionalProperties": False,
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://baton.invalid/schemas/verdict.schema.json",
        "title": f"Baton verdict, format {FORMAT} version {VERSION}",
        "description": (
            "The outcome of 'baton check' on a trace, of a test vector's expected result, or of "
            "'baton verify'. Exit status follows status: conforms and conforms_partial 0, "
            "incomplete (a partial trace under --require-full) and violation 1, malformed 2."
        ),
        "type": "object",
        "properties": {
            "format": {"const": FORMAT},
            "version": {"const": VERSION},
            "subject": {
                "type": "string",
                "description": "what was checked (a path, '-', 'verify')",
            },
            "status": {"enum": list(STATUSES), "description": "see baton.verdict.STATUSES"},
            "events": {"type": "integer", "minimum": 0, "description": "lines/steps read"},
            "coverage": {
                "type": "object",
                "properties": {
                    "checked": {"type": "array", "items": {"type": "string"}},
                    "not_checked": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {"rule": {"type": "string"}, "why": {"type": "string"}},
                            "required": ["rule", "why"],
                        },
                    },
                },
                "required": ["checked", "not_checked"],
                "description": "which rules could be checked on this input, and why not the others",
            },
            "violations": {"type": "array", "items": violation},
            "notes": {"type": "array", "items": {"type": "string"}},
            "error": {
                "type": ["object", "null"],
                "description": "malformed input: where and why",
                "properties": {
                    "line": nullable_int,
                    "field": {"type": ["string", "null"]},
                    "reason": {"type": "string"},
                },
            },
            "assumptions": {
                "type": "object",
                "description": "present when the trace declares dropped assumptions (a "
                "demonstration, meta.dropped_assumptions) or the caller allowed some "
                "(baton check --allow-dropped); added in version 1 as an optional field",
                "properties": {
                    "allowed": {"type": "array", "items": {"type": "string"}},
                    "declared": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "name": {"type": "string"},
                                "line": nullable_int,
                                "step": nullable_int,
                                "allowed": {"type": "boolean"},
                            },
                            "required": ["name", "line", "step", "allowed"],
                            "additionalProperties": False,
                        },
                    },
                },
                "required": ["allowed", "declared"],
                "additionalProperties": False,
            },
            "excused": {
                "type": "array",
                "description": "violations of properties that a declared and allowed dropped "
                "assumption guards (baton.spec.cluster.ASSUMPTIONS): reported, not failing; "
                "present with 'assumptions'",
                "items": {
                    "type": "object",
                    "properties": {
                        **violation["properties"],
                        "excused_by": {
                            "type": "object",
                            "properties": {
                                "assumption": {"type": "string"},
                                "line": nullable_int,
                                "step": nullable_int,
                            },
                            "required": ["assumption", "line", "step"],
                            "additionalProperties": False,
                        },
                    },
                    "required": [*violation["required"], "excused_by"],
                    "additionalProperties": False,
                },
            },
        },
        "required": [
            "format",
            "version",
            "subject",
            "status",
            "events",
            "coverage",
            "violations",
            "notes",
            "error",
        ],
        "additionalProperties": False,
        "$defs": {"violation": violation},
    }
