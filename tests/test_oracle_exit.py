"""`baton check` as a CI step sees it: exit statuses that survive pipes and signals,
malformed input of every sort exiting 2 with its line, --json FILE, --junit FILE.

Each malformed case runs the real command in a subprocess (stdin as bytes), so
the test sees exactly what a pipeline sees: the status, one message naming the
line, and no traceback.
"""

from __future__ import annotations

import contextlib
import io
import json
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
from baton import cli, oracle, verdict

ROOT = Path(__file__).resolve().parent.parent
TRACES = ROOT / "examples" / "traces"
BATON = [sys.executable, "-m", "baton.cli"]


def _check(*argv: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*BATON, "check", *argv], input=stdin, capture_output=True, timeout=60, check=False
    )


GOOD = (TRACES / "good_failover.jsonl").read_bytes()
LINES = GOOD.splitlines(keepends=True)


def _with_line(n: int, text: bytes) -> bytes:
    """The good trace with line ``n`` (1-based) replaced."""
    return b"".join([*LINES[: n - 1], text, *LINES[n:]])


MALFORMED: dict[str, tuple[bytes, int]] = {
    "5000-digit integer": (
        _with_line(
            2, b'{"seq":1,"kind":"write","node":"n1","lsn":' + b"9" * 5000 + b',"epoch":1}\n'
        ),
        2,
    ),
    "integer above 2**63-1": (
        _with_line(
            2, b'{"seq":1,"kind":"write","node":"n1","lsn":9223372036854775808,"epoch":1}\n'
        ),
        2,
    ),
    "non-UTF-8 byte": (_with_line(9, LINES[8].replace(b'"alice"', b'"al\xffce"')), 9),
    "duplicate key": (
        _with_line(2, b'{"seq":1,"kind":"write","node":"n1","lsn":1,"lsn":1,"epoch":1}\n'),
        2,
    ),
    "duplicate key hidden by whitespace": (
        _with_line(2, b'{"seq":1,"kind":"write","node":"n1","lsn" :1,"lsn":1,"epoch":1}\n'),
        2,
    ),
    "duplicate key in meta": (
        _with_line(8, b'{"seq":7,"kind":"crash","node":"n1","meta":{"a":1,"a":2}}\n'),
        8,
    ),
    "NaN": (_with_line(8, b'{"seq":7,"kind":"crash","node":"n1","meta":{"t":NaN}}\n'), 8),
    "Infinity": (
        _with_line(8, b'{"seq":7,"kind":"crash","node":"n1","meta":{"t":-Infinity}}\n'),
        8,
    ),
    "float overflow": (
        _with_line(8, b'{"seq":7,"kind":"crash","node":"n1","meta":{"t":1e999}}\n'),
        8,
    ),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_input_exits_2_with_its_line_on_stdin_and_by_path(
    name: str, tmp_path: Path
) -> None:
    """Every malformed input: exit 2, its line named, no traceback -- from stdin and a file."""
    data, line = MALFORMED[name]
    proc = _check("-", stdin=data)
    out, err = proc.stdout.decode(), proc.stderr.decode()
    assert proc.returncode == 2, (name, out, err)
    assert f"line {line}" in out and "MALFORMED" in out, (name, out)
    assert "Traceback" not in out + err, err
    path = tmp_path / "t.jsonl"
    path.write_bytes(data)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert cli.main(["check", str(path)]) == 2
    assert f"line {line}" in buf.getvalue(), buf.getvalue()


def test_duplicate_keys_are_found_by_the_fast_reader_too() -> None:
    """The fast path accepts no line the reference reader refuses (a duplicate inside a
    string value is not a duplicate key, and is accepted by both)."""
    ok = _with_line(9, LINES[8].replace(b'"alice"', b'"al\\":ice"'))
    assert oracle.check_stream(io.BytesIO(ok)).status == "conforms"


def test_exit_status_survives_a_closed_stdout() -> None:
    """`baton check --all broken.jsonl | head -0`: the reader is gone, the status is still 1."""
    proc = subprocess.Popen(
        [*BATON, "check", "--all", str(TRACES / "broken_s1_lost_ack.jsonl")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # before the command writes anything
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 1
    assert "Traceback" not in err and "BrokenPipe" not in err


def test_require_full_changes_the_json_status(tmp_path: Path) -> None:
    """--require-full on a partial trace: status 'incomplete' in the JSON, exit 1."""
    out = tmp_path / "v.json"
    path = str(TRACES / "partial_lifecycle_only.jsonl")
    proc = _check(path, "--require-full", "--json", str(out))
    assert proc.returncode == 1
    data = json.loads(out.read_text("utf-8"))
    jsonschema.validate(data, verdict.verdict_schema())
    assert data["status"] == "incomplete" and data["coverage"]["not_checked"]
    proc = _check(path, "--json", "-")
    assert proc.returncode == 0 and json.loads(proc.stdout)["status"] == "conforms_partial"


def test_junit_has_one_case_per_rule(tmp_path: Path) -> None:
    """--junit FILE: one test case per oracle rule; the broken rule fails, the rest pass."""
    xml = tmp_path / "rules.xml"
    proc = _check(str(TRACES / "broken_s1_lost_ack.jsonl"), "--junit", str(xml))
    assert proc.returncode == 1
    cases = ET.parse(xml).getroot().iter("testcase")
    by_name = {c.get("name"): c for c in cases}
    assert set(by_name) == {f"{r.name} ({r.invariant})" for r in oracle.RULES}
    failed = {n for n, c in by_name.items() if c.find("failure") is not None}
    assert failed == {"acked_writes_preserved (P6-S1)"}


def test_junit_marks_rules_a_partial_trace_cannot_check_as_skipped(tmp_path: Path) -> None:
    xml = tmp_path / "rules.xml"
    assert _check(str(TRACES / "partial_lifecycle_only.jsonl"), "--junit", str(xml)).returncode == 0
    skipped = [c for c in ET.parse(xml).getroot().iter("testcase") if c.find("skipped") is not None]
    assert skipped and len(skipped) < len(oracle.RULES)


def test_output_path_is_checked_before_reading(tmp_path: Path) -> None:
    """A --json path in a missing directory: exit 2, one line, before the trace is read."""
    proc = _check("-", "--json", str(tmp_path / "no" / "v.json"), stdin=b"")
    assert proc.returncode == 2 and b"does not exist" in proc.stderr
    assert b"Traceback" not in proc.stderr


def _wait_blocked_reading(pid: int, timeout: float = 60.0) -> None:
    """Wait until the process sleeps in a pipe read (Linux /proc), i.e. is past start-up."""
    wchan = Path(f"/proc/{pid}/wchan")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if "pipe_read" in wchan.read_text():
                time.sleep(0.2)  # and still there: not a passing page-in
                if "pipe_read" in wchan.read_text():
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError("the process never blocked reading its input")


@pytest.mark.skipif(not Path("/proc/self/wchan").exists(), reason="needs Linux /proc")
def test_ctrl_c_exits_130_without_traceback() -> None:
    """Ctrl-C while reading a trace from a pipe that never ends: exit 130, no traceback."""
    proc = subprocess.Popen(
        [*BATON, "check", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None
    proc.stdin.write(LINES[0] + LINES[1])
    proc.stdin.flush()
    _wait_blocked_reading(proc.pid)  # started, header read, waiting for more
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 130, (out, err)
    assert b"Traceback" not in err and b"interrupted" in err
