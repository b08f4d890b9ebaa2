"""Scenario files: a cluster's story as data, parsed strictly.

A scenario is one JSON object::

    {
      "name": "clean_failover",
      "description": "what it shows",
      "steps": [
        {"do": "init", "nodes": 3, "mode": "async"},
        {"do": "write", "node": "n0", "count": 2},
        {"do": "replicate", "from": "n0", "to": "n1"},
        {"do": "crash", "node": "n0"},
        {"do": "request", "candidate": "n1", "operator": "alice"},
        {"do": "expect", "node": "n1", "role": "PrimaryActive", "epoch": 2}
      ]
    }

Nodes are named ``n0 .. n{N-1}``; ``n0`` starts as the primary at epoch 1.
The first step is ``init``. A demonstration may add a top-level
``"drop_assumptions"``, a list of ``force_is_truthful`` and
``single_controller`` (:data:`baton.controller.DROPPABLE_ASSUMPTIONS`), to stop
the runtime enforcing them (the trace records every request that relied on
one; ``baton check`` then needs ``--allow-dropped NAME``). A scenario written
to continue a run whose process died says ``"resumes": true``: ``baton run``
then refuses it without ``--resume``. Every
step may carry ``"expect_error": NAME`` (the step must be refused with that
error class, e.g. ``DuplicateRequest``; the name must be one of Baton's
errors, :func:`error_names`) and a ``"note"`` (printed). Step kinds and their
fields (``?`` = optional, default):

=============  ===========================================================
``init``       ``nodes`` (2..9), ``mode`` ("async" | "sync")
``write``      ``node``, ``count``? 1 (at most 10000), ``ack``? true
               (acknowledge at once)
``ack``        ``node``
``replicate``  ``from``, ``to``, ``count``? (default: every missing entry)
``designate``  ``primary``, ``standby`` (sync mode)
``crash``      ``node``, ``at``? a failpoint: armed now, the node crashes
               when a later step reaches it
``restart``    ``node``
``reinstate``  ``node``, ``operator``? "scenario"
``demote``     ``node``
``request``    ``candidate``, ``operator``, ``force``? false, ``reason``?,
               ``uncertain``? false (the old primary's status is Unknown),
               ``mvcc``? "Preserved", ``pause_after``? hold the approved
               attempt after ``approve``, ``begin_transition`` or a marker
               operation (``write_temp`` .. ``fsync_dir``)
``continue``   ``candidate``, ``operator``? "scenario", ``pause_after``?
               (carry a held attempt on; no new validation)
``abort``      ``candidate``, ``operator`` (cancel a held attempt before
               its marker rename; refused with ``AbortAfterRename`` after)
``disable``    ``node``? (absent: the whole cluster), ``operator``,
               ``reason``? (set the durable promotion-disabled switch)
``enable``     ``node``?, ``operator``, ``reason``? (clear it)
``acknowledge`` ``candidate``, ``operator``? "scenario"
``corrupt_marker`` ``node`` (flip one byte of its marker file)
``tear_wal``   ``node``, ``bytes``? 5, at most 65536 (garbage appended as
               a torn tail)
``expect``     ``node``? and any of ``role``, ``epoch``, ``writable``,
               ``wal_end``, ``lifecycle``, ``up``; or ``verdict`` (reason of
               the last decision); or ``acked`` (acknowledged writes)
=============  ===========================================================

Anything else -- an unknown kind, a missing, extra or duplicated field, a
value of the wrong type or out of range, an unknown node, an ``expect_error``
that names no Baton error -- is an :class:`baton.errors.InputError` naming the
file, the line of the step and the field (exit 2, no traceback).

Sizes are bounded before anything is built: the file (:data:`MAX_BYTES`), the
nesting depth (:data:`MAX_DEPTH`, checked before the JSON parser recurses), the
number of steps, every string's length and every integer's range. The same
table (:data:`STEP_KINDS`) generates the scenario JSON Schema
(:func:`scenario_schema`, shipped as ``impl/schemas/scenario.schema.json`` and
printed by ``baton schema scenario``): every file this parser accepts is valid
against it, and every structural error it reports the schema reports too.
"""

from __future__ import annotations

import json
import json.decoder
import json.scanner
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from baton.errors import InputError

MAX_BYTES = 1_000_000
"""The largest scenario file read (the examples are about 2 kB)."""
MAX_DEPTH = 8
"""Deepest nesting of arrays and objects; a scenario needs 3 (file, steps, step)."""
MAX_STEPS = 10_000
MAX_COUNT = 10_000
"""The most writes or shipments one step may ask for."""
MAX_TORN_BYTES = 65_536
"""The longest torn WAL tail ``tear_wal`` appends."""
MAX_NAME_LENGTH = 200
"""Identifiers: operator names, roles, verdict reasons, error names, failpoints."""
MAX_TEXT_LENGTH = 4_000
"""Free text: descriptions, notes, reasons."""
MAX_EPOCH = 2**31 - 1
MAX_LENGTH_VALUE = 10**9
"""Largest WAL end or acknowledged-write count an ``expect`` step may name."""


@dataclass(frozen=True)
class FieldSpec:
    """One field of a step kind: its JSON type(s), whether it is required, its bounds."""

    types: tuple[type, ...]
    required: bool = True
    minimum: int | None = None
    maximum: int | None = None
    max_length: int = MAX_NAME_LENGTH
    choices: tuple[str, ...] = ()
    description: str = ""


def _req(*types: type, **bounds: Any) -> FieldSpec:
    return FieldSpec(types, True, **bounds)


def _opt(*types: type, **bounds: Any) -> FieldSpec:
    return FieldSpec(types, False, **bounds)


NODE = "a node name, n0 .. n{N-1}"
MODES: tuple[str, ...] = ("async", "sync")
MVCC_VALUES: tuple[str, ...] = ("Preserved", "Violated", "Unknown")
PAUSE_POINTS: tuple[str, ...] = (
    "approve",
    "begin_transition",
    "write_temp",
    "fsync_temp",
    "rename",
    "fsync_dir",
)
"""Where a request's approved attempt may be held (baton.controller.PAUSE_POINTS)."""

STEP_KINDS: dict[str, dict[str, FieldSpec]] = {
    "init": {
        "nodes": _req(int, minimum=2, maximum=9, description="cluster size; n0 starts primary"),
        "mode": _opt(str, choices=MODES, description="replication mode (default async)"),
    },
    "write": {
        "node": _req(str, description=NODE),
        "count": _opt(int, minimum=1, maximum=MAX_COUNT, description="writes (default 1)"),
        "ack": _opt(bool, description="acknowledge each at once (default: in async mode)"),
    },
    "ack": {"node": _req(str, description=NODE)},
    "replicate": {
        "from": _req(str, description=NODE),
        "to": _req(str, description=NODE),
        "count": _opt(int, minimum=1, maximum=MAX_COUNT, description="default: every entry"),
    },
    "designate": {
        "primary": _req(str, description=NODE),
        "standby": _req(str, description=NODE),
    },
    "crash": {
        "node": _req(str, description=NODE),
        "at": _opt(str, description="a failpoint: the node crashes when it reaches it"),
    },
    "restart": {"node": _req(str, description=NODE)},
    "reinstate": {
        "node": _req(str, description=NODE),
        "operator": _opt(str, description='who reinstates (recorded; default "scenario")'),
    },
    "demote": {"node": _req(str, description=NODE)},
    "request": {
        "candidate": _req(str, description=NODE),
        "operator": _req(str, description="who asks (recorded with the request)"),
        "force": _opt(bool, description="override the safety checks (default false)"),
        "reason": _opt(str, max_length=MAX_TEXT_LENGTH, description="why (recorded)"),
        "uncertain": _opt(bool, description="the old primary's status is Unknown"),
        "mvcc": _opt(str, choices=MVCC_VALUES, description="default Preserved"),
        "pause_after": _opt(
            str,
            choices=PAUSE_POINTS,
            description="hold an approved attempt after this step (to continue or abort it)",
        ),
    },
    "continue": {
        "candidate": _req(str, description=NODE),
        "operator": _opt(str, description='who continues (recorded; default "scenario")'),
        "pause_after": _opt(str, choices=PAUSE_POINTS, description="hold again after this step"),
    },
    "abort": {
        "candidate": _req(str, description=NODE),
        "operator": _req(str, description="who aborts (audited)"),
    },
    "disable": {
        "node": _opt(str, description="a node name; absent: the whole cluster"),
        "operator": _req(str, description="who disables promotion (audited)"),
        "reason": _opt(str, max_length=MAX_TEXT_LENGTH, description="why (recorded)"),
    },
    "enable": {
        "node": _opt(str, description="a node name; absent: the whole cluster"),
        "operator": _req(str, description="who enables promotion again (audited)"),
        "reason": _opt(str, max_length=MAX_TEXT_LENGTH, description="why (recorded)"),
    },
    "acknowledge": {
        "candidate": _req(str, description=NODE),
        "operator": _opt(str, description='who acknowledges (recorded; default "scenario")'),
    },
    "corrupt_marker": {"node": _req(str, description=NODE)},
    "tear_wal": {
        "node": _req(str, description=NODE),
        "bytes": _opt(int, minimum=1, maximum=MAX_TORN_BYTES, description="default 5"),
    },
    "expect": {
        "node": _opt(str, description=NODE),
        "role": _opt(str),
        "epoch": _opt(int, minimum=0, maximum=MAX_EPOCH),
        "writable": _opt(bool),
        "wal_end": _opt(int, minimum=0, maximum=MAX_LENGTH_VALUE),
        "lifecycle": _opt(str),
        "up": _opt(bool),
        "verdict": _opt(str, description="reason of the last decision"),
        "acked": _opt(int, minimum=0, maximum=MAX_LENGTH_VALUE),
    },
}
COMMON_FIELDS: dict[str, FieldSpec] = {
    "do": _req(str),
    "expect_error": _opt(str, description="the error class the step must be refused with"),
    "note": _opt(str, max_length=MAX_TEXT_LENGTH, description="printed before the step"),
}
TOP_FIELDS: dict[str, FieldSpec] = {
    "name": _opt(str),
    "description": _opt(str, max_length=MAX_TEXT_LENGTH),
    "resumes": _opt(
        bool,
        description="written to continue a run whose process died: 'baton run' runs it "
        "only with --resume, on that run's --dir (default false)",
    ),
}
NODE_FIELDS: tuple[str, ...] = ("node", "from", "to", "candidate", "primary", "standby")
NODE_EXPECTATIONS: tuple[str, ...] = ("role", "epoch", "writable", "wal_end", "lifecycle", "up")


def error_names() -> tuple[str, ...]:
    """The names ``expect_error`` may use: every error a step can be refused with.

    Each is a subclass of :class:`baton.errors.BatonError` (a whole family, such
    as ``ProtocolError``, is allowed) or the failpoint error; ``BatonError``
    itself and Python's own classes (``Exception``) would match any refusal, so
    a scenario could not tell one refusal from another with them.
    """
    from baton import cluster, errors, failpoints  # noqa: F401  (defines subclasses)

    found: set[str] = {failpoints.FailpointError.__name__}
    todo: list[type[Exception]] = [errors.BatonError]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub.__name__ not in found:
                found.add(sub.__name__)
                todo.append(sub)
    return tuple(sorted(found))


@dataclass(frozen=True)
class Step:
    """One parsed step: its kind, its fields, where it is in the file."""

    kind: str
    fields: dict[str, Any]
    line: int
    index: int

    def get(self, name: str, default: Any = None) -> Any:
        return self.fields.get(name, default)

    @property
    def expect_error(self) -> str | None:
        value = self.fields.get("expect_error")
        return value if isinstance(value, str) else None


@dataclass(frozen=True)
class Scenario:
    """A parsed scenario: nodes, mode and the steps after ``init``."""

    name: str
    description: str
    nodes: tuple[str, ...]
    mode: str
    steps: tuple[Step, ...]
    source: str
    drop_assumptions: tuple[str, ...] = ()
    resumes: bool = False  # continues a killed run: only with 'baton run --resume'


def _step_lines(text: str) -> list[int]:
    """The 1-based line where each element of the top-level ``steps`` array starts."""
    match = re.search(r'"steps"\s*:\s*\[', text)
    if match is None:
        return []
    decoder = json.JSONDecoder()
    pos = match.end()
    lines: list[int] = []
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text) or text[pos] == "]":
            return lines
        lines.append(text.count("\n", 0, pos) + 1)
        try:
            _, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            return lines


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _check_depth(text: str, source: str) -> None:
    """Refuse nesting deeper than MAX_DEPTH before the (recursive) JSON parser sees it."""
    depth = 0
    in_string = False
    escaped = False
    for pos, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise InputError(
                    source,
                    _line_of(text, pos),
                    None,
                    f"nested more than {MAX_DEPTH} levels deep (a scenario needs 3)",
                )
        elif char in "]}":
            depth -= 1


class _DuplicateKey(Exception):
    def __init__(self, key: str, pos: int) -> None:
        super().__init__(key)
        self.key = key
        self.pos = pos


def _object_without_duplicates(
    s_and_end: tuple[str, int],
    strict: bool,
    scan_once: Callable[[str, int], tuple[Any, int]],
    object_hook: Any,
    object_pairs_hook: Any,
    memo: dict[str, str] | None = None,
) -> tuple[dict[str, Any], int]:
    """json's object parser, refusing a key that appears twice (JSON would keep the last)."""
    pairs, end = json.decoder.JSONObject(  # type: ignore[attr-defined]
        s_and_end, strict, scan_once, None, list, memo
    )
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise _DuplicateKey(key, s_and_end[1])
        seen.add(key)
    return dict(pairs), end


def _strict_decoder() -> json.JSONDecoder:
    decoder = json.JSONDecoder()
    setattr(decoder, "parse_object", _object_without_duplicates)  # noqa: B010 (untyped hook)
    # The C scanner ignores parse_object; the Python one honours it (and the
    # depth check above bounds its recursion).
    decoder.scan_once = json.scanner.py_make_scanner(decoder)  # type: ignore[attr-defined]
    return decoder


def _load_json(text: str, source: str) -> Any:
    if len(text) > MAX_BYTES:
        raise InputError(source, None, None, f"larger than {MAX_BYTES} bytes; not a scenario")
    _check_depth(text, source)
    try:
        return _strict_decoder().decode(text)
    except json.JSONDecodeError as exc:
        raise InputError(source, exc.lineno, None, f"not valid JSON: {exc.msg}") from None
    except ValueError as exc:
        # An integer literal of thousands of digits (Python refuses to convert it).
        raise InputError(source, None, None, f"not a usable JSON value: {exc}") from None
    except _DuplicateKey as exc:
        raise InputError(
            source,
            _line_of(text, exc.pos),
            exc.key,
            "appears twice in one object (JSON would silently keep the last)",
        ) from None


def _type_name(types: tuple[type, ...]) -> str:
    names = {int: "an integer", str: "a string", bool: "true or false"}
    return " or ".join(names.get(t, t.__name__) for t in types)


def _check_type(value: Any, spec: FieldSpec) -> bool:
    if isinstance(value, bool) and bool not in spec.types:
        return False  # JSON true is not an integer here
    return isinstance(value, spec.types)


def _check_value(value: Any, spec: FieldSpec) -> str | None:
    """Why ``value`` does not fit ``spec`` (None: it fits)."""
    if not _check_type(value, spec):
        return f"must be {_type_name(spec.types)}"
    if isinstance(value, bool):
        return None
    low, high = spec.minimum, spec.maximum
    if isinstance(value, int) and (
        (low is not None and value < low) or (high is not None and value > high)
    ):
        if low is not None and high is not None:
            return f"must be between {low} and {high}, not {value}"
        return f"must be at least {low}" if low is not None else f"must be at most {high}"
    if isinstance(value, str):
        if len(value) > spec.max_length:
            return f"longer than {spec.max_length} characters"
        if spec.choices and value not in spec.choices:
            options = " or ".join(repr(c) for c in spec.choices)
            return f"must be {options}, not {value!r}"
    return None


def parse(text: str, source: str = "<scenario>") -> Scenario:
    """Parse and check a scenario; raise InputError naming line and field."""
    data = _load_json(text, source)
    if not isinstance(data, dict):
        raise InputError(source, 1, None, "a scenario is a JSON object with a 'steps' list")
    unknown_top = set(data) - {*TOP_FIELDS, "steps", "drop_assumptions"}
    if unknown_top:
        raise InputError(source, 1, sorted(unknown_top)[0], "unknown top-level field")
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise InputError(source, 1, "steps", "must be a non-empty list of step objects")
    if len(raw_steps) > MAX_STEPS:
        raise InputError(source, 1, "steps", f"more than {MAX_STEPS} steps")
    for key, spec in TOP_FIELDS.items():
        if key in data:
            problem = _check_value(data[key], spec)
            if problem is not None:
                raise InputError(source, 1, key, problem)
    lines = _step_lines(text)
    steps: list[Step] = []
    for index, raw in enumerate(raw_steps):
        line = lines[index] if index < len(lines) else 1
        steps.append(_parse_step(raw, index, line, source))
    first = steps[0]
    if first.kind != "init":
        raise InputError(source, first.line, "do", "the first step must be 'init'")
    n = first.fields["nodes"]
    mode = first.get("mode", "async")
    dropped = _dropped_assumptions(data.get("drop_assumptions", []), source)
    names = tuple(f"n{i}" for i in range(n))
    known_errors = error_names()
    for step in steps[1:]:
        if step.kind == "init":
            raise InputError(source, step.line, "do", "'init' may appear only once, first")
        _check_step_values(step, names, known_errors, source)
    return Scenario(
        name=str(data.get("name", source)),
        description=str(data.get("description", "")),
        nodes=names,
        mode=mode,
        steps=tuple(steps[1:]),
        source=source,
        drop_assumptions=dropped,
        resumes=bool(data.get("resumes", False)),
    )


def _dropped_assumptions(value: Any, source: str) -> tuple[str, ...]:
    """A demonstration may drop a spec assumption, but only by naming it."""
    from baton.controller import DROPPABLE_ASSUMPTIONS

    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(source, 1, "drop_assumptions", "must be a list of assumption names")
    for name in value:
        if name not in DROPPABLE_ASSUMPTIONS:
            raise InputError(
                source,
                1,
                "drop_assumptions",
                f"{name!r} cannot be dropped (droppable: {', '.join(DROPPABLE_ASSUMPTIONS)})",
            )
    return tuple(value)


def _parse_step(raw: Any, index: int, line: int, source: str) -> Step:
    if not isinstance(raw, dict):
        raise InputError(source, line, None, f"step {index + 1} must be a JSON object")
    kind = raw.get("do")
    if not isinstance(kind, str):
        raise InputError(source, line, "do", "every step needs 'do' (the step kind)")
    if kind not in STEP_KINDS:
        known = ", ".join(STEP_KINDS)
        shown = kind if len(kind) <= MAX_NAME_LENGTH else kind[:MAX_NAME_LENGTH] + "..."
        raise InputError(source, line, "do", f"unknown step kind {shown!r} (known: {known})")
    allowed = {**STEP_KINDS[kind], **COMMON_FIELDS}
    for name, value in raw.items():
        if name not in allowed:
            shown = name if len(name) <= MAX_NAME_LENGTH else name[:MAX_NAME_LENGTH] + "..."
            raise InputError(source, line, shown, f"not a field of a '{kind}' step")
        problem = _check_value(value, allowed[name])
        if problem is not None:
            raise InputError(source, line, name, problem)
    for name, spec in allowed.items():
        if spec.required and name not in raw:
            raise InputError(source, line, name, f"required by a '{kind}' step")
    return Step(kind=kind, fields=dict(raw), line=line, index=index)


def _check_step_values(
    step: Step, names: tuple[str, ...], known_errors: tuple[str, ...], source: str
) -> None:
    for key in NODE_FIELDS:
        value = step.get(key)
        if value is not None and value not in names:
            raise InputError(
                source, step.line, key, f"unknown node {value!r} (known nodes: {', '.join(names)})"
            )
    expected = step.expect_error
    if expected is not None and expected not in known_errors:
        raise InputError(
            source,
            step.line,
            "expect_error",
            f"{expected!r} is not an error a step can be refused with "
            f"(known: {', '.join(known_errors)})",
        )
    if step.kind == "crash" and step.get("at") is not None:
        from baton.failpoints import FAILPOINTS

        if step.get("at") not in FAILPOINTS:
            raise InputError(
                source,
                step.line,
                "at",
                f"unknown failpoint {step.get('at')!r} (known: {', '.join(FAILPOINTS)})",
            )
    if step.kind == "expect":
        keys = set(step.fields) - set(COMMON_FIELDS)
        if not keys - {"node"}:
            raise InputError(source, step.line, None, "an 'expect' step must check something")
        node_checks = keys & set(NODE_EXPECTATIONS)
        if node_checks and "node" not in keys:
            field = sorted(node_checks)[0]
            raise InputError(source, step.line, field, "needs 'node' (whose state to check)")


def load(path: str) -> Scenario:
    """Read and parse a scenario file; an unreadable file is an InputError too."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise InputError(path, None, None, f"cannot read: {exc.strerror}") from None
    if len(data) > MAX_BYTES:
        raise InputError(path, None, None, f"larger than {MAX_BYTES} bytes; not a scenario")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(path, None, None, "not UTF-8 text") from None
    return parse(text, path)


# --- the JSON Schema ---------------------------------------------------------------------


def _field_schema(spec: FieldSpec) -> dict[str, Any]:
    kinds = {int: "integer", str: "string", bool: "boolean"}
    types = [kinds[t] for t in spec.types]
    out: dict[str, Any] = {"type": types[0] if len(types) == 1 else types}
    if spec.description:
        out["description"] = spec.description
    if str in spec.types:
        out["maxLength"] = spec.max_length
        if spec.choices:
            out["enum"] = list(spec.choices)
    if int in spec.types:
        if spec.minimum is not None:
            out["minimum"] = spec.minimum
        if spec.maximum is not None:
            out["maximum"] = spec.maximum
    return out


def scenario_schema() -> dict[str, Any]:
    """The JSON Schema of a scenario file, generated from :data:`STEP_KINDS`.

    Structure, types and bounds only: which nodes exist (from ``init``), which
    failpoints and error names are known, and the rules that join steps
    (``init`` first and once) are checked by the parser, which names the line.
    """
    step_variants: list[dict[str, Any]] = []
    for kind, fields in STEP_KINDS.items():
        properties = {name: _field_schema(spec) for name, spec in COMMON_FIELDS.items()}
        properties["do"] = {"const": kind}
        properties.update({name: _field_schema(spec) for name, spec in fields.items()})
        required = ["do", *(name for name, spec in fields.items() if spec.required)]
        step_variants.append(
            {
                "if": {"properties": {"do": {"const": kind}}, "required": ["do"]},
                "then": {
                    "properties": properties,
                    "required": required,
                    "additionalProperties": False,
                },
            }
        )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://baton.invalid/schemas/scenario.schema.json",
        "title": "Baton scenario (baton run SCENARIO)",
        "description": (
            "A cluster's story as data: 'init' first, then steps run against real node "
            "directories. Node names, failpoints, expect_error names and step order are "
            "checked by 'baton run', which names the line. See docs/runtime.md."
        ),
        "type": "object",
        "properties": {
            **{name: _field_schema(spec) for name, spec in TOP_FIELDS.items()},
            "drop_assumptions": {
                "type": "array",
                "items": {"type": "string"},
                "uniqueItems": True,
                "description": (
                    "spec assumptions the runtime stops enforcing, for a demonstration; "
                    "each must be droppable (baton.controller.DROPPABLE_ASSUMPTIONS)"
                ),
            },
            "steps": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_STEPS,
                "items": {"$ref": "#/$defs/step"},
            },
        },
        "required": ["steps"],
        "additionalProperties": False,
        "$defs": {
            "step": {
                "type": "object",
                "properties": {"do": {"enum": list(STEP_KINDS)}},
                "required": ["do"],
                "allOf": step_variants,
            }
        },
    }


# --- execution -------------------------------------------------------------------------


@dataclass
class Outcome:
    """How a run ended: ``failed`` names the first step that went unexpectedly."""

    steps_run: int
    failed: str | None = None
    acknowledged: int = 0


class StepFailed(Exception):
    """A step was refused unexpectedly, or an expectation did not hold."""


def execute(
    sc: Scenario,
    root: str,
    trace_stream: Any = None,
    say: Any = print,
    *,
    resume: bool = False,
    previous: Any = None,
) -> Outcome:
    """Run ``sc`` against real node directories under ``root`` (PosixDisk).

    With ``resume``, the directories already exist (their process died): they
    are reopened from disk, and ``previous`` -- the dead run's trace
    (:class:`baton.resume.PreviousTrace`), if any -- is continued.

    Prints every event and explanation through ``say``; writes the trace to
    ``trace_stream`` if given. Stops at the first unexpected refusal or failed
    expectation. Finally checks, from the disk, that every acknowledged write
    is in the WAL of the node holding authority (P6-S1).
    """
    from baton.cluster import RuntimeCluster
    from baton.controller import Controller
    from baton.events import Recorder, escape_text

    continuation = (previous.next_seq, previous.attempts) if previous is not None else None
    recorder = Recorder(sc.nodes, sc.mode, sc.nodes[0], trace_stream, say, continuation)
    if resume:
        # The node directories of a run whose process died: each is recovered from
        # disk alone, and ``previous`` (its trace) is continued (baton.resume).
        cluster = RuntimeCluster.reopen_directories(
            root, len(sc.nodes), sc.mode, recorder, previous
        )
    else:
        cluster = RuntimeCluster.on_directories(root, len(sc.nodes), sc.mode, recorder)
    controller = Controller(cluster, drop_assumptions=frozenset(sc.drop_assumptions))
    if sc.drop_assumptions:
        say(f"ASSUMPTIONS DROPPED for this run: {', '.join(sc.drop_assumptions)}")
    runner = _Runner(sc, cluster, controller, say)
    outcome = Outcome(steps_run=0)
    try:
        for step in sc.steps:
            say(f"--- step {step.index + 1} (line {step.line}): {_describe(step)}")
            if step.get("note"):
                say(f"    note: {escape_text(step.get('note'))}")
            try:
                runner.run(step)
            except StepFailed as exc:
                outcome.failed = f"{sc.source}:{step.line}: step {step.index + 1}: {exc}"
                say(escape_text(f"FAILED: {exc}"))
                return outcome
            outcome.steps_run += 1
        unreached = cluster.armed_failpoints()
        if unreached:
            outcome.failed = f"{sc.source}: armed failpoint(s) never reached: {unreached}"
            say(f"FAILED: armed failpoint(s) never reached: {unreached}")
            return outcome
        lost = runner.acknowledged_lost()
        outcome.acknowledged = len(cluster.state.acked)
        if lost:
            outcome.failed = f"{sc.source}: acknowledged writes lost: {lost}"
            say(f"FAILED: {lost}")
        else:
            say(
                f"ok: {outcome.steps_run} steps; {outcome.acknowledged} acknowledged write(s), "
                "none lost [P6-S1]"
            )
        return outcome
    finally:
        cluster.close()


def _describe(step: Step) -> str:
    from baton.events import escape_text

    # Field values are operator text: escaped, so a newline cannot forge a line.
    parts = [f"{k}={escape_text(v)}" for k, v in step.fields.items() if k not in ("do", "note")]
    return step.kind + (" " + " ".join(parts) if parts else "")


class _Runner:
    def __init__(self, sc: Scenario, cluster: Any, controller: Any, say: Any) -> None:
        self.sc = sc
        self.cluster = cluster
        self.controller = controller
        self.say = say
        self.last_verdict: str | None = None

    def idx(self, name: str) -> int:
        return self.sc.nodes.index(name)

    def run(self, step: Step) -> None:
        from baton.errors import BatonError
        from baton.failpoints import FailpointError

        expected = step.expect_error
        try:
            self._do(step)
        except (BatonError, FailpointError) as exc:
            names = {cls.__name__ for cls in type(exc).__mro__}
            if expected is not None and expected in names:
                from baton.events import escape_text

                self.say(escape_text(f"    refused as expected ({type(exc).__name__}): {exc}"))
                return
            raise StepFailed(f"refused: {type(exc).__name__}: {exc}") from None
        if expected is not None:
            raise StepFailed(f"expected the step to be refused with {expected}, but it succeeded")

    def _do(self, step: Step) -> None:
        from baton import core
        from baton.controller import PromotionRequest

        cl = self.cluster
        kind = step.kind
        if kind == "write":
            p = self.idx(step.get("node"))
            for _ in range(step.get("count", 1)):
                cl.apply(core.Write(p))
                if cl.crashed(p):
                    return
                if step.get("ack", self.sc.mode == "async"):
                    cl.apply(core.Ack(p))
        elif kind == "ack":
            cl.apply(core.Ack(self.idx(step.get("node"))))
        elif kind == "replicate":
            self._replicate(self.idx(step.get("from")), self.idx(step.get("to")), step.get("count"))
        elif kind == "designate":
            cl.apply(core.Designate(self.idx(step.get("primary")), self.idx(step.get("standby"))))
        elif kind == "crash":
            i = self.idx(step.get("node"))
            if step.get("at") is not None:
                cl.arm(i, step.get("at"))
                self.say(f"    {step.get('node')} will crash when it reaches {step.get('at')}")
            else:
                cl.crash(i)
        elif kind == "restart":
            cl.restart(self.idx(step.get("node")))
        elif kind == "reinstate":
            self.controller.reinstate(step.get("node"), operator=step.get("operator", "scenario"))
        elif kind == "demote":
            cl.apply(core.Demote(self.idx(step.get("node"))))
        elif kind == "request":
            req = PromotionRequest(
                candidate=step.get("candidate"),
                operator=step.get("operator"),
                force=step.get("force", False),
                reason=step.get("reason"),
                primary_uncertain=step.get("uncertain", False),
                mvcc=step.get("mvcc", "Preserved"),
                pause_after=step.get("pause_after"),
            )
            result = self.controller.request_promotion(req)
            if result.verdict is not None:
                self.last_verdict = result.verdict.reason
            self._say_result(result)
        elif kind == "continue":
            result = self.controller.continue_attempt(
                step.get("candidate"),
                operator=step.get("operator", "scenario"),
                pause_after=step.get("pause_after"),
            )
            self._say_result(result)
        elif kind == "abort":
            self.controller.abort_attempt(step.get("candidate"), operator=step.get("operator"))
            self.say(f"    attempt for {step.get('candidate')} aborted before the marker rename")
        elif kind in ("disable", "enable"):
            switch = (
                self.controller.disable_promotion
                if kind == "disable"
                else self.controller.enable_promotion
            )
            switch(step.get("node"), operator=step.get("operator"), reason=step.get("reason"))
        elif kind == "acknowledge":
            self.controller.acknowledge(
                step.get("candidate"), operator=step.get("operator", "scenario")
            )
        elif kind == "corrupt_marker":
            cl.nodes[self.idx(step.get("node"))].corrupt_marker()
            self.say(f"    flipped a byte of {step.get('node')}'s marker")
        elif kind == "tear_wal":
            i = self.idx(step.get("node"))
            if cl.state.nodes[i].up:
                raise StepFailed("tear_wal needs the node down (a torn tail is left by a crash)")
            cl.nodes[i].tear_wal(step.get("bytes", 5))
            self.say(f"    appended a torn partial record to {step.get('node')}'s WAL")
        elif kind == "expect":
            self._expect(step)

    def _say_result(self, result: Any) -> None:
        if result.interrupted:
            self.say(f"    attempt interrupted: {result.interrupted} crashed; not retried")
        elif result.paused:
            self.say(f"    attempt for {result.candidate} held in {result.state}")
        else:
            self.say(f"    attempt for {result.candidate} ended in {result.state}")

    def _replicate(self, p: int, r: int, count: int | None) -> None:
        from baton import core

        cl = self.cluster
        done = 0
        while count is None or done < count:
            st = cl.state
            behind = len(st.nodes[r].durable.wal) < len(st.nodes[p].durable.wal)
            if not behind and core.refusal(st, core.Diverge(p, r)) is not None:
                if not done:
                    self.say(f"    {self.sc.nodes[r]} already holds every entry")
                return
            if core.refusal(st, core.Replicate(p, r)) is None:
                cl.apply(core.Replicate(p, r))
                if cl.crashed(r) or cl.crashed(p):
                    return
                done += 1
            elif core.refusal(st, core.Diverge(p, r)) is None:
                cl.apply(core.Diverge(p, r))  # the replica halts: history_divergence (P6-S2)
                return
            else:
                cl.apply(core.Replicate(p, r))  # raises, naming why

    def _expect(self, step: Step) -> None:
        st = self.cluster.state
        problems: list[str] = []
        if step.get("verdict") is not None and step.get("verdict") != self.last_verdict:
            problems.append(f"verdict {step.get('verdict')!r}, found {self.last_verdict!r}")
        if step.get("acked") is not None and step.get("acked") != len(st.acked):
            problems.append(f"acked {step.get('acked')}, found {len(st.acked)}")
        if step.get("node") is not None:
            node = st.nodes[self.idx(step.get("node"))]
            from baton.node import replication_role

            found = {
                "role": replication_role(node).split("(")[0],
                "epoch": node.durable.epoch,
                "writable": node.writable,
                "wal_end": len(node.durable.wal),
                "lifecycle": node.lifecycle,
                "up": node.up,
            }
            for key, value in found.items():
                want = step.get(key)
                if want is not None and want != value:
                    problems.append(f"{step.get('node')}.{key} {want!r}, found {value!r}")
            if step.get("epoch") is not None and not problems and not node.up:
                pass
        if problems:
            raise StepFailed("expected " + "; ".join(problems))
        self.say("    as expected")

    def acknowledged_lost(self) -> str | None:
        """Read the authority's WAL from disk: every acknowledged write must be there."""
        st = self.cluster.state
        if not st.acked:
            return None
        holders = [i for i, n in enumerate(st.nodes) if n.writable]
        if not holders:
            from baton import core

            primary = core.old_primary(st)
            holders = [primary] if primary is not None else []
        for i in holders:
            on_disk = self.cluster.nodes[i].read_durable().wal
            if on_disk[: len(st.acked)] != st.acked:
                return f"{self.sc.nodes[i]}'s WAL on disk lacks acknowledged writes"
        return None
