"""Scenario parsing (impl/scenario.py): bad input gets a specific error.

Covers: invalid JSON (its line), unknown step kinds, missing, extra and
mistyped fields, unknown node ids, a first step that is not init, and an
expect step that checks nothing -- each an InputError naming the file, the
line of the step and the field (exit status 2 through the CLI, tested in
test_scenarios_run.py).
"""

from __future__ import annotations

import json

import pytest
from baton.errors import InputError
from baton.scenario import parse

INIT = '{"do": "init", "nodes": 3}'


def scenario(*steps: str) -> str:
    return '{\n  "name": "t",\n  "steps": [\n    ' + ",\n    ".join(steps) + "\n  ]\n}\n"


def error_of(text: str) -> InputError:
    with pytest.raises(InputError) as info:
        parse(text, "s.json")
    return info.value


def test_valid_scenario_parses() -> None:
    sc = parse(scenario(INIT, '{"do": "write", "node": "n0", "count": 2}'), "s.json")
    assert sc.nodes == ("n0", "n1", "n2") and sc.mode == "async"
    assert sc.steps[0].kind == "write" and sc.steps[0].line == 5


def test_invalid_json_names_its_line() -> None:
    err = error_of('{\n  "steps": [\n    {"do": "init",, }\n  ]\n}')
    assert err.line == 3 and "not valid JSON" in str(err)


def test_unknown_step_kind() -> None:
    err = error_of(scenario(INIT, '{"do": "explode", "node": "n0"}'))
    assert (err.line, err.field) == (5, "do") and "unknown step kind 'explode'" in str(err)


def test_unknown_node_id_names_known_nodes() -> None:
    err = error_of(scenario(INIT, '{"do": "crash", "node": "n7"}'))
    assert (err.line, err.field) == (5, "node")
    assert "unknown node 'n7' (known nodes: n0, n1, n2)" in str(err)


def test_missing_required_field() -> None:
    err = error_of(scenario(INIT, '{"do": "request", "candidate": "n1"}'))
    assert (err.line, err.field) == (5, "operator") and "required" in str(err)


def test_extra_field_is_not_ignored() -> None:
    err = error_of(scenario(INIT, '{"do": "restart", "node": "n1", "forcefully": true}'))
    assert err.field == "forcefully"


def test_mistyped_field() -> None:
    err = error_of(scenario(INIT, '{"do": "write", "node": "n0", "count": "two"}'))
    assert err.field == "count" and "an integer" in str(err)
    err = error_of(scenario(INIT, '{"do": "write", "node": "n0", "count": true}'))
    assert err.field == "count"


def test_first_step_must_be_init() -> None:
    err = error_of(scenario('{"do": "write", "node": "n0"}'))
    assert (err.line, err.field) == (4, "do")


def test_node_count_bounds() -> None:
    assert error_of(scenario('{"do": "init", "nodes": 1}')).field == "nodes"


def test_expect_must_check_something() -> None:
    err = error_of(scenario(INIT, '{"do": "expect", "node": "n1"}'))
    assert "must check something" in str(err)


def test_not_an_object() -> None:
    assert "JSON object" in str(error_of(json.dumps([1, 2])))


def test_unknown_failpoint_is_malformed() -> None:
    err = error_of(scenario(INIT, '{"do": "crash", "node": "n1", "at": "marker.explode"}'))
    assert (err.line, err.field) == (5, "at") and "unknown failpoint" in str(err)
