"""The fast reader's chunked path (many lines decoded and proved free of duplicate
keys at once) accepts and refuses exactly what the reference reader does, at the
right line, and keeps the order of events: a violation before a malformed line in
the same chunk is still reported first."""

from __future__ import annotations

import io
from typing import Any

import pytest
from baton import oracle
from baton import trace as t
from baton.errors import InputError

WRITES = 150  # 4 lines each: the trace spans several chunks


def _events(meta_every: int = 0) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = [t.header(["n0", "n1", "n2"], "async", "n0")]
    for lsn in range(1, WRITES + 1):
        write = t.write("n0", lsn, 1)
        if meta_every and lsn % meta_every == 0:
            # Colons in keys and strings, nested objects and lists: all legal, no duplicate.
            write["meta"] = {"at": "12:00:01", "k:v": [{"a:b": "c:d"}, 1.5, None], "n": {}}
        events += [
            write,
            t.replicate("n0", "n1", lsn, 1, sender_epoch=1),
            t.replicate("n0", "n2", lsn, 1, sender_epoch=1),
            t.ack("n0", lsn, 1),
        ]
    events.append(t.end(len(events)))
    return t.number(events)


def _lines(events: list[dict[str, Any]]) -> list[bytes]:
    return [line + b"\n" for line in t.dumps(events).encode("utf-8").splitlines()]


def _both(data: bytes) -> tuple[Any, Any]:
    """What the reference reader and the fast reader make of ``data``: the events as
    dicts, or the InputError's (line, field)."""

    def outcome(read: Any) -> Any:
        try:
            return [e if isinstance(e, dict) else e.to_dict() for _line, e in read()]
        except InputError as exc:
            return (exc.line, exc.field)

    return (
        outcome(lambda: t.read_events(io.BytesIO(data))),
        outcome(lambda: t.read_fast(io.BytesIO(data))),
    )


def test_a_long_trace_with_meta_reads_alike_and_conforms() -> None:
    data = b"".join(_lines(_events(meta_every=7)))
    strict, fast = _both(data)
    assert isinstance(strict, list) and fast == strict
    assert len(strict) > 2 * t.CHUNK_LINES
    assert oracle.check_stream(io.BytesIO(data)).status == "conforms"


@pytest.mark.parametrize(
    "line_no, bad",
    [
        # A repeated key among hundreds of clean lines (the first chunk and a later one).
        (2, lambda s: s.replace(b'"node":"n0"', b'"node":"n0","node":"n0"')),
        (t.CHUNK_LINES + 40, lambda s: s.replace(b'"lsn":', b'"lsn":1,"lsn":')),
        # Inside meta, on a line whose other strings hold colons.
        (t.CHUNK_LINES + 2, lambda s: s.replace(b'"n":{}', b'"n":{"x":1,"x":2}')),
        # An escape sequence sends the chunk line by line; a duplicate key behind it.
        (10, lambda s: s.replace(b'"at":"12:00:01"', b'"at":"\\u003a","at":"b"')),
    ],
)
def test_a_duplicate_key_is_refused_at_its_line(line_no: int, bad: Any) -> None:
    lines = _lines(_events(meta_every=1))
    lines[line_no - 1] = bad(lines[line_no - 1])
    assert lines[line_no - 1] != _lines(_events(meta_every=1))[line_no - 1]
    strict, fast = _both(b"".join(lines))
    assert strict == fast
    assert strict[0] == line_no


def test_an_escaped_colon_without_duplicate_is_accepted() -> None:
    lines = _lines(_events(meta_every=1))
    lines[10 - 1] = lines[10 - 1].replace(b'"12:00:01"', b'"12\\u003a00"')
    assert b"\\u003a" in lines[10 - 1]
    strict, fast = _both(b"".join(lines))
    assert isinstance(strict, list) and fast == strict


def test_a_violation_before_a_malformed_line_in_the_same_chunk_comes_first() -> None:
    lines = _lines(_events())
    gap, broken = 42, 50  # line 42 writes lsn 11 (lines 2, 6, 10, ... are writes)
    lines[gap - 1] = lines[gap - 1].replace(b'"lsn":11,', b'"lsn":12,')
    lines[broken - 1] = lines[broken - 1].replace(b'"epoch":', b'"epoch":1,"epoch":')
    result = oracle.check_stream(io.BytesIO(b"".join(lines)))
    assert result.status == "violation", oracle.render(result)
    assert result.violations[0].line == gap
    lines[gap - 1] = _lines(_events())[gap - 1]
    result = oracle.check_stream(io.BytesIO(b"".join(lines)))
    assert result.status == "malformed" and result.error is not None
    assert result.error.line == broken
