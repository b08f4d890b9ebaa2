"""The CLI's one error path: each way a command can fail, with its message and exit status.

Exit statuses (baton.cli): 0 ok, 1 a check failed, 2 bad usage / input / OS
error (one line, no traceback, found before long work starts), 3 internal
error (a short report), 130 interrupted. Output paths are checked before the
command's work: each "up front" test replaces the work with a function that
fails the test if it is ever called.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest
from baton import cli
from baton.cli import main
from baton.commands import generate
from baton.errors import InputError
from cli_asserts import never, one_line_error

REPO = Path(__file__).resolve().parent.parent


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# --- bad usage: argparse and literal values -------------------------------------------


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["simulate", "--seeds", "abc"], "--seeds 'abc': seed 'abc' is not a whole number"),
        (["simulate", "--seeds", "1..x"], "last seed 'x' is not a whole number"),
        (["simulate", "--seeds", "5..2"], "the last seed is below the first"),
        (["simulate", "--seed", "-1"], "--seed -1 is negative"),
        (["simulate", "--nodes", "9"], "--nodes 9: the cluster size must be 3, 4 or 5"),
        (["simulate", "--steps", "0"], "--steps 0: must be at least 1"),
        (["simulate", "--seeds", "0..1", "--trace", "t.jsonl"], "--trace needs a single --seed"),
        (["simulate", "--json", "-", "--junit", "-"], "only one of --json, --junit"),
    ],
)
def test_bad_simulate_arguments_are_one_line_exit_2(
    argv: list[str],
    fragment: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("baton.commands.simulate.simulate", never)
    code, _, err = _run(argv, capsys)
    assert code == 2
    one_line_error(err, "simulate", fragment)


def test_argparse_rejects_a_non_integer_seed(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["simulate", "--seed", "abc"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "argument --seed: invalid int value: 'abc'" in err


# --- output paths, checked before the work ------------------------------------------


@pytest.mark.parametrize("option", ["--trace", "--json", "--junit"])
def test_simulate_output_into_a_missing_directory_is_exit_2_up_front(
    option: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("baton.commands.simulate.simulate", never)
    target = tmp_path / "missing" / "out"
    code, _, err = _run(["simulate", "--seed", "1", option, str(target)], capsys)
    assert code == 2
    one_line_error(err, "simulate", f"directory {tmp_path / 'missing'} does not exist")


def test_simulate_trace_inside_a_node_directory_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    node = tmp_path / "n0"
    node.mkdir()
    (node / "identity").write_bytes(b"id")
    (node / "marker").write_bytes(b"marker bytes")
    monkeypatch.setattr("baton.commands.simulate.simulate", never)
    code, _, err = _run(["simulate", "--trace", str(node / "marker")], capsys)
    assert code == 2
    one_line_error(err, "simulate", "refusing to write inside node directory")
    assert (node / "marker").read_bytes() == b"marker bytes"


def test_a_command_names_the_node_directories_its_outputs_must_avoid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hook a command uses (output_node_dirs) refuses even a node directory
    that holds no node yet -- what ``baton run --trace DIR/n0/...`` needs."""
    nodes = tmp_path / "nodes"
    nodes.mkdir()
    monkeypatch.setattr(
        "baton.commands.simulate.output_node_dirs", lambda _args: [nodes], raising=False
    )
    monkeypatch.setattr("baton.commands.simulate.simulate", never)
    code, _, err = _run(["simulate", "--trace", str(nodes / "t.jsonl")], capsys)
    assert code == 2
    one_line_error(err, "simulate", "refusing to write inside node directory")


def test_any_command_json_file_is_checked_before_it_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI checks --json FILE / --junit FILE of every command (here verify) first."""
    monkeypatch.setattr("baton.commands.verify.run", never)
    code, _, err = _run(["verify", "--quick", "--json", "/nonexistent/dir/r.json"], capsys)
    assert code == 2
    one_line_error(err, "verify", "directory /nonexistent/dir does not exist")


def test_spec_json_into_a_missing_directory_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("baton.commands.spec_cmd.collect", never)
    code, _, err = _run(["spec", "--json", str(tmp_path / "no" / "spec.json")], capsys)
    assert code == 2
    one_line_error(err, "spec", "does not exist")


def test_generate_output_into_a_missing_directory_is_exit_2_up_front(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(generate, "render", never)
    code, _, err = _run(["generate", "--output", str(tmp_path / "no" / "t.py")], capsys)
    assert code == 2
    one_line_error(err, "generate", "does not exist")


def test_generate_refuses_to_rewrite_an_installed_package(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """From a wheel the default target is site-packages/baton/_table.py: refused, way out named."""
    installed = tmp_path / "site-packages" / "baton"
    installed.mkdir(parents=True)
    (installed / "_table.py").write_text("# installed\n")
    monkeypatch.setattr(generate, "package_dir", lambda: installed)
    monkeypatch.setattr(generate, "render", never)
    code, _, err = _run(["generate"], capsys)
    assert code == 2
    one_line_error(err, "generate", "inside the installed baton package")
    assert "pip install -e ." in err
    assert "--check" in err
    assert (installed / "_table.py").read_text() == "# installed\n"
    # --output elsewhere is still allowed (the checkout test is what refused above).
    monkeypatch.setattr(generate, "render", lambda: "TABLE = 1\n")
    assert main(["generate", "--output", str(tmp_path / "t.py")]) == 0
    assert (tmp_path / "t.py").read_text() == "TABLE = 1\n"


def test_the_checkout_is_recognised() -> None:
    assert generate.is_checkout()
    assert generate.default_path() == REPO / "impl" / "_table.py"


# --- errors raised inside a command ---------------------------------------------------


def _command_raising(monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> None:
    def run(_args: argparse.Namespace) -> int:
        raise exc

    monkeypatch.setattr("baton.commands.spec_cmd.run", run)


def test_an_os_error_is_one_line_exit_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _command_raising(monkeypatch, PermissionError(13, "Permission denied", "/proc/baton"))
    code, _, err = _run(["spec"], capsys)
    assert code == 2
    one_line_error(err, "spec", "/proc/baton: Permission denied")


def test_a_bad_input_error_is_one_line_exit_2_even_with_a_newline(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _command_raising(monkeypatch, InputError("s.json", 3, "reason", "bad\nforged line"))
    code, _, err = _run(["spec"], capsys)
    assert code == 2
    one_line_error(err, "spec", "s.json:3: field 'reason': bad\\nforged line")


def test_an_internal_error_is_a_short_report_exit_3(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BATON_DEBUG", raising=False)
    _command_raising(monkeypatch, ZeroDivisionError("division by zero"))
    code, _, err = _run(["spec", "--section", "lifecycle"], capsys)
    assert code == 3
    assert err.startswith("baton spec: internal error: ZeroDivisionError: division by zero")
    assert "This is a bug in Baton" in err
    assert "the command: baton spec --section lifecycle" in err
    assert "BATON_DEBUG=1" in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) <= 8


def test_baton_debug_adds_the_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BATON_DEBUG", "1")
    _command_raising(monkeypatch, KeyError("boom"))
    code, _, err = _run(["spec"], capsys)
    assert code == 3
    assert "Traceback (most recent call last)" in err
    assert "KeyError: 'boom'" in err


def test_keyboard_interrupt_is_exit_130_and_kills_the_workers(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    killed: list[bool] = []
    monkeypatch.setattr(cli, "_kill_workers", lambda: killed.append(True))
    monkeypatch.setattr(sys, "unraisablehook", sys.unraisablehook)  # restored after the test
    _command_raising(monkeypatch, KeyboardInterrupt())
    code, _, err = _run(["spec"], capsys)
    assert code == 130
    assert err.strip() == "baton spec: interrupted"
    assert killed == [True]


def test_a_closed_pipe_is_not_an_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "_silence_broken_pipe", lambda: None)
    _command_raising(monkeypatch, BrokenPipeError(32, "Broken pipe"))
    code, _, err = _run(["spec"], capsys)
    assert code == 0
    assert err == ""


# --- end to end, as a user meets them -------------------------------------------------


def _baton(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "baton.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        timeout=60,
    )


def test_run_in_an_unusable_directory_is_one_line_exit_2(tmp_path: Path) -> None:
    out = _baton(
        "run", str(REPO / "examples" / "clean_failover.json"), "--dir", "/proc/baton", cwd=tmp_path
    )
    assert out.returncode == 2, out.stderr
    one_line_error(out.stderr, "run", "/proc/baton")


def test_help_states_every_exit_status() -> None:
    out = _baton("--help", cwd=REPO)
    text = " ".join(out.stdout.split())
    for status in (
        "0 success",
        "1 a check failed",
        "2 bad usage",
        "3 internal error",
        "130 interrupted",
    ):
        assert status in text, text


def test_run_trace_onto_a_node_file_is_refused_and_the_marker_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--trace D/n0/marker would overwrite a node's authority marker (P6-A1): refused."""
    nodes = tmp_path / "nodes"
    scenario = str(REPO / "examples" / "clean_failover.json")
    assert main(["run", scenario, "--dir", str(nodes), "--quiet"]) == 0
    marker = nodes / "n0" / "marker"
    before = marker.read_bytes()
    capsys.readouterr()
    code, _, err = _run(["run", scenario, "--dir", str(nodes), "--trace", str(marker)], capsys)
    assert code == 2
    one_line_error(err, "run", "node director")
    assert marker.read_bytes() == before
