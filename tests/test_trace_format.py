"""Trace format v1 (baton.trace) and verdict format v1 (baton.verdict).

Covers: the trace vocabulary is the spec's (lifecycle states and events,
validation fields and decisions, invariant IDs); the shipped JSON Schemas
equal the generated ones and accept what the builders write; the writer is
deterministic; the reader rejects every kind of malformed line naming its line
and field (errors are part of the interface); the fast reader accepts exactly
what the reference reader accepts.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from baton import trace as t
from baton import verdict
from baton.errors import InputError
from baton.spec import invariants, lifecycle, validation

SCHEMAS = Path(__file__).resolve().parent.parent / "impl" / "schemas"


def _sample_events() -> list[dict[str, Any]]:
    """One event of every kind, built with the typed builders."""
    ctx = t.context("ReplicaActive", "Unavailable", False, "Equal", "Compatible", "Preserved")
    return t.number(
        [
            t.header(["n1", "n2"], "async", "n1"),
            t.request("n2", "a1", True, operator="alice", reason="n1 down"),
            t.reject("n2", "a0", "duplicate_request"),
            t.transition("n2", "a1", "Steady", "request", "PromotionRequested"),
            t.validation("n2", "a1", ctx, "allowed", ["P6-F1"], "ok", 2, None, bound_recorded=True),
            t.marker("n2", "Primary", 2),
            t.write("n1", 1, 1),
            t.ack("n1", 1, 1),
            t.replicate("n1", "n2", 1, 1, sender_epoch=1),
            t.halt("n2", "history_divergence"),
            t.crash("n1"),
            t.restart("n1", "Primary", 1),
            t.reinstate("n1", 1),
            t.demote("n1", 1),
            t.designate("n1", "n2"),
            t.end(15),
        ]
    )


def test_vocabulary_is_the_specs() -> None:
    """The restated vocabulary equals the spec's, name for name and in order."""
    assert t.STATE_NAMES == lifecycle.STATE_NAMES
    assert t.EVENT_NAMES == lifecycle.EVENT_NAMES
    assert tuple((n, v) for n, v in t.CONTEXT_FIELDS) == validation.FIELDS
    assert t.DECISION_NAMES == validation.DECISION_NAMES
    assert tuple(inv.id for inv in invariants.INVARIANTS) == t.INVARIANT_IDS


def test_every_kind_has_a_builder_and_validates() -> None:
    """Each kind's builder output passes both the reader and the JSON Schema."""
    harness_kinds = [  # written by 'baton test' (baton.harness)
        t.client("c0", "write", "n1", "ok", 3, 3, epoch=1, lsn=1),
        t.fault("kill", ["n1"], "SIGKILL"),
        t.operator_event("request", "n2", "op1", False, reason="runbook"),
        # An operator's abort before the rename (lifecycle family).
        t.abort("n2", "a1", "AuthorityTransitioning", 2, operator="alice"),
        # The promotion-disabled switch: a node's, then the cluster's (validation family).
        t.disable("n2", True, "alice", "maintenance"),
        t.disable(None, False, "bob"),
    ]
    sample = _sample_events()
    events = t.number([*sample[:-1], *harness_kinds, sample[-1]])
    assert {e["kind"] for e in events} == set(t.EVENT_KINDS)
    schema = t.trace_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    text = t.dumps(events)
    read = list(t.read_events(io.StringIO(text), "sample"))
    assert [e for _, e in read] == [json.loads(line) for line in text.splitlines()]
    for line in text.splitlines():
        jsonschema.validate(json.loads(line), schema)


@pytest.mark.parametrize(
    ("name", "generated"),
    [
        ("trace.schema.json", t.trace_schema),
        ("verdict.schema.json", verdict.verdict_schema),
    ],
)
def test_shipped_schema_is_generated(name: str, generated: Any) -> None:
    """impl/schemas/*.json are exactly what the tables generate (no drift)."""
    assert json.loads((SCHEMAS / name).read_text("utf-8")) == generated()


def test_vectors_schema_is_generated() -> None:
    """The shipped vectors schema equals the generated one."""
    from baton import vectors

    assert json.loads((SCHEMAS / "vectors.schema.json").read_text("utf-8")) == (
        vectors.vectors_schema()
    )


def test_writer_is_deterministic_and_canonical() -> None:
    """Same events -> same bytes; keys in canonical order whatever order they came in."""
    outs = []
    for _ in range(2):
        buf = io.StringIO()
        w = t.TraceWriter(buf, ["n1", "n2"], "sync", "n1")
        w.emit({"epoch": 1, "lsn": 1, "node": "n1", "kind": "write"})
        w.emit(t.ack("n1", 1, 1))
        w.close()
        outs.append(buf.getvalue())
    assert outs[0] == outs[1]
    lines = outs[0].splitlines()
    assert lines[1] == '{"seq":1,"kind":"write","node":"n1","lsn":1,"epoch":1}'
    assert json.loads(lines[-1]) == {"seq": 3, "kind": "end", "events": 3}


def _good_text() -> str:
    return t.dumps(_sample_events())


@pytest.mark.parametrize(
    ("mutate", "line", "field"),
    [
        (lambda s: s.replace('"seq":3,', '"seq":3 ', 1), 4, None),
        (lambda s: s.replace('"kind":"crash"', '"kind":"boom"'), 11, "kind"),
        (lambda s: s.replace('"version":1', '"version":2'), 1, "version"),
        (lambda s: s.replace('"format":"baton-trace"', '"format":"other"'), 1, "format"),
        (lambda s: s.replace(',"lsn":1,"epoch":1}', ',"epoch":1}', 1), 7, "lsn"),
        (lambda s: s.replace('"lsn":1,', '"lsn":-1,', 1), 7, "lsn"),
        (lambda s: s.replace('"lsn":1,', '"lsn":true,', 1), 7, "lsn"),
        (lambda s: s.replace('"node":"n1","lsn"', '"node":"n7","lsn"', 1), 7, "node"),
        (lambda s: s.replace('"force":true', '"force":"yes"', 1), 2, "force"),
        (lambda s: s.replace('"from":"Steady"', '"from":"Idle"'), 4, "from"),
        (lambda s: s.replace('"mvcc":"Preserved"', '"mvcc":"fine"'), 5, "context.mvcc"),
        (
            lambda s: s.replace('"halt_reason":"none"', '"halt_reason":"wal_corruption"'),
            5,
            "context.halt_reason",
        ),
        (lambda s: s.replace('"decision":"allowed"', '"decision":"maybe"'), 5, "decision"),
        (lambda s: s.replace('"invariants":["P6-F1"]', '"invariants":["P9-X"]'), 5, "invariants"),
        (lambda s: s.replace('"seq":5,', '"seq":2,', 1), 6, "seq"),
        (lambda s: s.replace('{"seq":6,', '{"seq":6,"colour":"red",', 1), 7, "colour"),
        (lambda s: s.rstrip("\n")[:-3], 16, None),
        (lambda s: s + "\n", 17, None),
        (
            lambda s: s.replace('"kind":"end","events":15', '"kind":"header","events":15'),
            16,
            "kind",
        ),
        (lambda s: s + '{"seq":99,"kind":"crash","node":"n1"}\n', 17, "kind"),
        (lambda s: s.split("\n", 1)[1], 1, "kind"),
        (lambda s: "", 1, None),
        (lambda s: s.replace('{"seq":6,', '[{"seq":6,', 1), 7, None),
    ],
)
def test_malformed_line_is_named(mutate: Any, line: int, field: str | None) -> None:
    """Each malformed input raises InputError with the exact line and field."""
    with pytest.raises(InputError) as err:
        list(t.read_events(io.StringIO(mutate(_good_text())), "x.jsonl"))
    assert (err.value.line, err.value.field) == (line, field), str(err.value)
    assert str(err.value).startswith(f"x.jsonl:{line}")


def test_truncated_last_line_says_truncated() -> None:
    """A last line cut mid-write is reported as truncated, not merely 'not JSON'."""
    text = _good_text().rstrip("\n")[:-5]
    with pytest.raises(InputError, match="truncated last line"):
        list(t.read_events(io.StringIO(text), "x"))


def test_last_line_without_newline_but_complete_is_accepted() -> None:
    """A complete final object lacking only its newline is read (it cannot be torn JSON)."""
    assert len(list(t.read_events(io.StringIO(_good_text().rstrip("\n")), "x"))) == 16


def test_verdict_round_trips_through_its_schema() -> None:
    """make_violation/Verdict output validates against verdict.schema.json."""
    v = verdict.make_violation("bmc", "P6-S1", "lost", step=11, state={"acked": 3})
    out = verdict.Verdict("verify", "violation", [v], events=11)
    data = json.loads(out.to_json())
    jsonschema.validate(data, verdict.verdict_schema())
    assert data["violations"][0]["invariant"] == "P6-S1"
    assert out.exit_code == 1


MUTANT_VALUES: tuple[Any, ...] = (
    None, True, False, 0, 1, -1, 2.5, "", "n1", "Steady", "allowed", "P6-A1", [], ["P6-A1"],
    ["x"], {}, {"role": "Halted"}, "Primary", "async", "baton-trace",
)  # fmt: skip


def test_reader_and_schema_agree_on_every_single_field_mutation() -> None:
    """Per line, the streaming reader accepts exactly what the JSON Schema accepts
    (cross-line rules -- seq order, header nodes -- aside)."""
    schema = t.trace_schema()
    # One validator per kind (its oneOf branch): the same verdict, 16 times faster.
    by_kind = {
        branch["title"]: jsonschema.Draft202012Validator({"$defs": schema["$defs"], **branch})
        for branch in schema["oneOf"]
    }
    checked = 0
    for event in _sample_events()[1:]:
        validator = by_kind[event["kind"]]
        keys = [*event, "meta", "extra"]
        for key in keys:
            for value in MUTANT_VALUES:
                mutated = {**event, key: value}
                if key == "kind":
                    continue  # an unknown kind is covered by the malformed-line tests
                schema_ok = validator.is_valid(mutated)
                try:
                    t.validate_event("m", 1, mutated, frozenset(), None)
                    reader_ok = True
                except InputError:
                    reader_ok = False
                assert reader_ok == schema_ok, (key, value, event["kind"])
                checked += 1
    assert checked > 1000


def test_example_and_runtime_traces_fit_the_schema() -> None:
    """Every line of the committed example traces that the reader accepts fits the schema."""
    validator = jsonschema.Draft202012Validator(t.trace_schema())
    traces = Path(__file__).resolve().parent.parent / "examples" / "traces"
    for path in sorted(traces.glob("good_*.jsonl")) + sorted(traces.glob("broken_*.jsonl")):
        for line in path.read_text("utf-8").splitlines():
            assert validator.is_valid(json.loads(line)), (path.name, line)


def _read_all(reader: Any, text: bytes) -> tuple[bool, int | None, str | None]:
    try:
        list(reader(io.BytesIO(text), "m"))
    except InputError as exc:
        return False, exc.line, exc.field
    return True, None, None


def test_fast_reader_accepts_exactly_what_the_reference_reader_accepts() -> None:
    """read_fast (msgspec structs) and read_events (strict stdlib JSON) agree on every
    single-field mutation of every kind, naming the same line and field when they refuse."""
    events = _sample_events()
    head = (t.encode(events[0]) + "\n").encode()
    checked = 0
    for event in events[1:]:
        if event["kind"] == "end":
            continue
        for key in [*event, "meta", "extra"]:
            if key in ("kind", "seq"):
                continue
            for value in MUTANT_VALUES:
                line = json.dumps({**event, key: value, "seq": 1}).encode() + b"\n"
                fast = _read_all(t.read_fast, head + line)
                ref = _read_all(t.read_events, head + line)
                assert fast == ref, (key, value, event["kind"], fast, ref)
                checked += 1
    assert checked > 1000
