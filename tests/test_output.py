"""baton.output: the --json/--junit convention, up-front path checks, the console."""

from __future__ import annotations

import argparse
import io
import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from baton.errors import UsageError
from baton.output import (
    JUnitCase,
    add_output_args,
    check_output_path,
    console,
    emit_json,
    write_junit,
)


def _parser(*, junit: bool) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    add_output_args(parser, junit=junit)
    return parser


def test_json_flag_alone_or_dash_means_stdout_and_absent_means_none() -> None:
    parser = _parser(junit=True)
    assert parser.parse_args([]).json is None
    assert parser.parse_args(["--json"]).json == "-"
    assert parser.parse_args(["--json", "-"]).json == "-"
    assert parser.parse_args(["--json", "r.json"]).json == "r.json"
    assert parser.parse_args(["--junit", "r.xml"]).junit == "r.xml"


def test_junit_flag_only_when_asked_for() -> None:
    with pytest.raises(SystemExit):
        _parser(junit=False).parse_args(["--junit", "r.xml"])


def test_emit_json_to_file_and_stdout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = {"ok": True, "names": ["P6-S1"]}
    emit_json(doc, tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text()) == doc
    emit_json(doc, "-")
    assert json.loads(capsys.readouterr().out) == doc
    emit_json(doc, None)
    assert capsys.readouterr().out == ""


def test_junit_xml_parses_with_the_right_counts(tmp_path: Path) -> None:
    cases = [
        JUnitCase("P6-S1 no acknowledged write loss", "baton.verify.induction", 1.25),
        JUnitCase("mutant skip_dir_fsync", "baton.verify.mutants", 0.5, failure="survived\nstep 3"),
        JUnitCase("bmc n=4", "baton.verify.bmc", 0.0, skipped="not in --quick"),
        JUnitCase("ctl \x01 <&> chars", "baton.verify.misc", 0.1, output="log line"),
    ]
    path = tmp_path / "r.xml"
    write_junit(path, "baton verify", cases)
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    suite = root.find("testsuite")
    assert suite is not None
    assert suite.get("name") == "baton verify"
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("4", "1", "1")
    assert float(suite.get("time", "0")) == pytest.approx(1.85)
    testcases = suite.findall("testcase")
    assert [tc.get("name") for tc in testcases][:3] == [c.name for c in cases[:3]]
    failure = testcases[1].find("failure")
    assert failure is not None
    assert failure.get("message") == "survived"
    assert failure.text == "survived\nstep 3"
    assert testcases[2].find("skipped") is not None
    assert testcases[0].find("failure") is None
    # The control character is replaced (XML 1.0 forbids it); markup characters round-trip.
    assert testcases[3].get("name") == "ctl \ufffd <&> chars"
    out = testcases[3].find("system-out")
    assert out is not None
    assert out.text == "log line"


def test_check_output_path_accepts_stdout_and_a_new_file(tmp_path: Path) -> None:
    check_output_path("-")
    check_output_path(tmp_path / "new.json")
    check_output_path(str(tmp_path / "new.json"))


@pytest.mark.parametrize(
    ("relative", "message"),
    [
        ("missing/r.json", "does not exist"),
        (".", "is a directory"),
        ("afile/r.json", "is not a directory"),
    ],
)
def test_check_output_path_refusals(tmp_path: Path, relative: str, message: str) -> None:
    (tmp_path / "afile").write_text("x")
    with pytest.raises(UsageError, match=message):
        check_output_path(tmp_path / relative)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_check_output_path_unwritable_directory(tmp_path: Path) -> None:
    locked = tmp_path / "ro"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(UsageError, match="permission denied"):
            check_output_path(locked / "r.json")
    finally:
        locked.chmod(0o700)


def test_check_output_path_refuses_named_and_detected_node_directories(tmp_path: Path) -> None:
    named = tmp_path / "named"
    named.mkdir()
    with pytest.raises(UsageError, match="inside node directory"):
        check_output_path(named / "t.jsonl", node_dirs=[named])
    # A directory that holds a node's identity and marker is detected without being named.
    node = tmp_path / "cluster" / "n0"
    node.mkdir(parents=True)
    (node / "identity").write_bytes(b"id")
    (node / "marker").write_bytes(b"m")
    with pytest.raises(UsageError, match="inside node directory"):
        check_output_path(node / "marker")
    check_output_path(tmp_path / "cluster" / "t.jsonl")


def test_console_colours_only_when_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    red = "\x1b[31m"
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TERM", raising=False)

    def render() -> str:
        stream = io.StringIO()
        console(stream).print("[red]FAILED[/red]")
        return stream.getvalue()

    # Not a terminal: plain text.
    assert render() == "FAILED\n"
    # Forced as if on a terminal: colour ...
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert red in render()
    # ... unless NO_COLOR is set, which wins.
    monkeypatch.setenv("NO_COLOR", "1")
    text = render()
    assert red not in text
    assert "FAILED" in text
