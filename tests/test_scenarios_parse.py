"""Scenario parsing (impl/scenario.py): bad input gets a specific error.

Covers: invalid JSON (its line), unknown step kinds, missing, extra,
duplicated and mistyped fields, values out of range, unknown node ids and
error names, a first step that is not init, an expect step that checks
nothing, and hostile sizes (deep nesting, huge files, huge numbers) -- each an
InputError naming the file, the line of the step and the field (exit status 2
through the CLI). The shipped JSON Schema is the one the parser's table
generates, and it agrees with the parser.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from baton import scenario as scenario_module
from baton.cli import main
from baton.errors import InputError
from baton.scenario import (
    MAX_BYTES,
    MAX_STEPS,
    MAX_TEXT_LENGTH,
    MAX_TORN_BYTES,
    STEP_KINDS,
    error_names,
    parse,
    scenario_schema,
)
from hypothesis import given
from hypothesis import strategies as st

REPO = Path(__file__).resolve().parent.parent
SHIPPED_SCHEMA = REPO / "impl" / "schemas" / "scenario.schema.json"
EXAMPLES = sorted((REPO / "examples").glob("*.json"))

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


# --- duplicated keys, error names, bounds ---------------------------------------------


def test_duplicate_key_is_refused_with_its_line() -> None:
    err = error_of(scenario(INIT, '{"do": "write", "node": "n0", "node": "n1"}'))
    assert (err.line, err.field) == (5, "node") and "appears twice" in str(err)


def test_duplicate_top_level_key_is_refused() -> None:
    err = error_of('{"name": "a", "name": "b", "steps": [' + INIT + "]}")
    assert err.field == "name"


def test_expect_error_names_a_real_error_class() -> None:
    err = error_of(scenario(INIT, '{"do": "restart", "node": "n1", "expect_error": "Exception"}'))
    assert (err.line, err.field) == (5, "expect_error")
    assert "'Exception' is not an error a step can be refused with" in str(err)
    assert "DuplicateRequest" in str(err)
    for name in ("DuplicateRequest", "ProtocolError", "MarkerCorrupt", "FailpointError"):
        step = f'{{"do": "restart", "node": "n1", "expect_error": "{name}"}}'
        assert parse(scenario(INIT, step), "s.json").steps[0].expect_error == name


def test_error_names_are_baton_errors_only() -> None:
    names = error_names()
    assert "Exception" not in names and "BatonError" not in names
    assert {"IllegalTransition", "ActionNotEnabled", "StorageError"} <= set(names)


@pytest.mark.parametrize(
    ("step", "field", "fragment"),
    [
        ('{"do": "tear_wal", "node": "n0", "bytes": 1000000000000}', "bytes", "between 1 and"),
        ('{"do": "tear_wal", "node": "n0", "bytes": 0}', "bytes", "between 1 and"),
        ('{"do": "write", "node": "n0", "count": 99999999}', "count", "between 1 and 10000"),
        ('{"do": "expect", "node": "n0", "epoch": -1}', "epoch", "between 0 and"),
        (
            '{"do": "request", "candidate": "n1", "operator": "o", "mvcc": "Maybe"}',
            "mvcc",
            "must be",
        ),
        (
            '{"do": "restart", "node": "n1", "note": "' + "x" * (MAX_TEXT_LENGTH + 1) + '"}',
            "note",
            "longer than",
        ),
    ],
)
def test_values_out_of_range(step: str, field: str, fragment: str) -> None:
    err = error_of(scenario(INIT, step))
    assert (err.line, err.field) == (5, field) and fragment in str(err)


def test_tear_wal_at_its_bound_is_accepted() -> None:
    step = f'{{"do": "tear_wal", "node": "n0", "bytes": {MAX_TORN_BYTES}}}'
    assert parse(scenario(INIT, step), "s.json").steps[0].get("bytes") == MAX_TORN_BYTES


def test_deep_nesting_is_refused_before_the_parser_recurses() -> None:
    err = error_of('{"steps": ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert "nested more than" in str(err) and err.line == 1


def test_a_huge_file_is_refused_unread() -> None:
    err = error_of(" " * (MAX_BYTES + 1))
    assert "larger than" in str(err)


def test_a_number_with_thousands_of_digits_is_input_error() -> None:
    err = error_of(scenario(INIT, '{"do": "write", "node": "n0", "count": ' + "9" * 5000 + "}"))
    assert "not a usable JSON value" in str(err)


def test_too_many_steps() -> None:
    steps = [INIT] + ['{"do": "restart", "node": "n1"}'] * MAX_STEPS
    err = error_of(scenario(*steps))
    assert err.field == "steps" and "more than" in str(err)


@pytest.mark.parametrize(
    "text",
    [
        '{"steps": ' + "[" * 100_000 + "]" * 100_000 + "}",
        scenario(INIT, '{"do": "tear_wal", "node": "n0", "bytes": 1000000000000}'),
        scenario(INIT, '{"do": "write", "node": "n0", "node": "n1"}'),
    ],
    ids=["deep", "tear_wal-bytes", "duplicate-key"],
)
def test_baton_run_reports_hostile_files_in_one_line_exit_2(
    text: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "s.json"
    path.write_text(text)
    assert main(["run", str(path), "--dir", str(tmp_path / "nodes")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "nodes").exists()  # refused before any node directory is made


# --- the JSON Schema --------------------------------------------------------------------


def test_shipped_schema_is_generated_and_valid() -> None:
    generated = scenario_schema()
    jsonschema.Draft202012Validator.check_schema(generated)
    assert json.loads(SHIPPED_SCHEMA.read_text()) == generated, (
        "impl/schemas/scenario.schema.json is out of date; regenerate it with: "
        ".venv/bin/python -c 'import json; from baton.scenario import scenario_schema; "
        "print(json.dumps(scenario_schema(), indent=2))' > impl/schemas/scenario.schema.json"
    )


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_examples_parse_and_match_the_schema(example: Path) -> None:
    parse(example.read_text(), str(example))
    jsonschema.validate(json.loads(example.read_text()), scenario_schema())


@pytest.mark.parametrize(
    "step",
    [
        '{"do": "explode", "node": "n0"}',
        '{"do": "request", "candidate": "n1"}',
        '{"do": "restart", "node": "n1", "forcefully": true}',
        '{"do": "write", "node": "n0", "count": "two"}',
        '{"do": "write", "node": "n0", "count": true}',
        '{"do": "tear_wal", "node": "n0", "bytes": 1000000000000}',
        '{"do": "init", "nodes": 1}',
    ],
)
def test_schema_rejects_what_the_parser_rejects_structurally(step: str) -> None:
    text = scenario(INIT, step)
    error_of(text)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(json.loads(text), scenario_schema())


_VALUES: dict[type, Any] = {
    int: st.integers(min_value=-3, max_value=2**31 + 3) | st.sampled_from([1, 2, 5]),
    str: st.sampled_from(["n0", "n1", "n2", "async", "sync", "Preserved", "x"]),
    bool: st.booleans(),
}


@st.composite
def _steps(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from([k for k in STEP_KINDS if k not in ("init", "expect")]))
    step: dict[str, Any] = {"do": kind}
    for name, spec in STEP_KINDS[kind].items():
        if name == "at":
            continue  # failpoint names: a parser-only check
        if spec.required or draw(st.booleans()):
            field_type = draw(st.sampled_from([*spec.types, int, str, bool]))
            step[name] = draw(_VALUES[field_type])
    return step


@given(st.lists(_steps(), min_size=1, max_size=4))
def test_every_scenario_the_parser_accepts_is_schema_valid(steps: list[dict[str, Any]]) -> None:
    doc = {"steps": [{"do": "init", "nodes": 3}, *steps]}
    try:
        parse(json.dumps(doc, indent=1), "gen.json")
    except InputError:
        return
    jsonschema.validate(doc, scenario_schema())


def test_schema_command_prints_the_scenario_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", "scenario"]) == 0
    assert json.loads(capsys.readouterr().out) == scenario_module.scenario_schema()
