"""A newcomer's first mistakes: each is one line on stderr and exit 2, never a traceback.

Found by following the README and the docs literally and then getting things
wrong on purpose: a stray word after a command, a bad ``BATON_FAILPOINT``, an
unbalanced quote in ``--bin``, a zero time limit, a worker count meant for a
cluster typed on a laptop, an empty ``--properties``. Each test replaces the
command's long work with a function that fails the test if it is ever called,
so the error is shown to come before any work starts.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from baton.cli import COMMANDS, build_parser, main
from baton.commands.parallelism import local_process_limit
from cli_asserts import never, one_line_error

REPO = Path(__file__).resolve().parent.parent


def _usage_exit(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run ``baton argv`` in-process; it must exit 2 (returned or raised by argparse)."""
    code: object
    try:
        code = main(argv)
    except SystemExit as exit_info:
        code = exit_info.code
    assert code == 2, capsys.readouterr()
    return capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "command", "stray"),
    [
        (["check", "run.jsonl", "extra.jsonl"], "check", "extra.jsonl"),
        (["simulate", "--jobs", "4"], "simulate", "--jobs 4"),
        (["explore", "--bogus"], "explore", "--bogus"),
    ],
)
def test_a_stray_argument_is_reported_by_the_command_given_it(
    argv: list[str], command: str, stray: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The error and its pointer to help name the subcommand, not bare 'baton'."""
    err = _usage_exit(argv, capsys)
    one_line_error(err, command, f"unrecognized arguments: {stray}")
    assert f"(see 'baton {command} --help')" in err


@pytest.mark.parametrize(
    ("argv", "spec", "fragment"),
    [
        # 'baton node' imports the failpoints while its parser is built.
        (["node", "--help"], "bogus", "unknown failpoint 'bogus'"),
        # 'baton run' imports them while it runs.
        (["run", "examples/clean_failover.json", "--dir", "{tmp}/d"], "wal.fsync:x", "integer"),
        (["run", "examples/clean_failover.json", "--dir", "{tmp}/d"], "wal.fsync:0", ">= 1"),
    ],
)
def test_a_bad_failpoint_variable_is_bad_input_not_a_bug(
    argv: list[str], spec: str, fragment: str, tmp_path: Path
) -> None:
    """BATON_FAILPOINT is read from the environment when the module loads (a
    subprocess, so this process's failpoints stay unarmed)."""
    command = [sys.executable, "-m", "baton.cli", *(a.format(tmp=tmp_path) for a in argv)]
    env = {**os.environ, "BATON_FAILPOINT": spec}
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    one_line_error(done.stderr, argv[0], f"BATON_FAILPOINT='{spec}': ")
    assert fragment in done.stderr
    assert not (tmp_path / "d").exists()  # refused before any node directory was made


def test_an_unbalanced_quote_in_bin_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("baton.harness.runner.run_seed", never)
    err = _usage_exit(["test", "--bin", "'python3 node.py", "--seed", "1"], capsys)
    one_line_error(err, "test", '--bin "\'python3 node.py": No closing quotation')


@pytest.mark.parametrize("limit", ["0", "-2"])
def test_a_time_limit_that_leaves_no_time_is_refused(
    limit: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """--time-limit 0 used to stop every seed at tick 0 and report it as a pass."""
    monkeypatch.setattr("baton.harness.runner.run_seed", never)
    err = _usage_exit(["test", "--bin", "baton node", "--seed", "1", "--time-limit", limit], capsys)
    one_line_error(err, "test", f"--time-limit {limit}: must be a positive number of seconds")


@pytest.mark.parametrize(
    ("argv", "command", "work"),
    [
        (["explore", "--workers"], "explore", "baton.proofs.explore.explore"),
        (["verify", "--quick", "--jobs"], "verify", "baton.proofs.report.run_all"),
    ],
)
def test_more_local_processes_than_the_machine_can_use_are_refused(
    argv: list[str],
    command: str,
    work: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """'--workers 999' once started 999 processes on a 2-core machine."""
    monkeypatch.setattr(work, never)
    too_many = local_process_limit() + 1
    err = _usage_exit([*argv, str(too_many)], capsys)
    one_line_error(err, command, f"{too_many}: at most {local_process_limit()} local processes")


def test_the_local_limit_still_admits_one_process_per_cpu() -> None:
    """The bound refuses typos, not the documented 'one per CPU' setting."""
    assert local_process_limit() >= (os.cpu_count() or 1)


def test_an_empty_property_list_is_refused_not_read_as_all(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("baton.proofs.explore.explore", never)
    err = _usage_exit(["explore", "--properties", ""], capsys)
    one_line_error(err, "explore", "--properties: unknown (none given)")


@pytest.fixture(scope="module")
def vector_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One vector set, written once, for every replay test below."""
    vectors = tmp_path_factory.mktemp("first-hour") / "vectors"
    assert main(["vectors", "--out", str(vectors)]) == 0
    return vectors


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize(
    ("command", "fragment"),
    [
        ("'python3 adapter.py", "No closing quotation"),
        ("/nonexistent/adapter", "program '/nonexistent/adapter' not found"),
        ("", "--command is empty"),
    ],
)
def test_replay_refuses_a_command_it_cannot_start_in_either_mode(
    stream: bool, command: str, fragment: str, vector_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unbalanced quote was a traceback; a missing program was, without --stream,
    one skipped vector per vector and exit 1 instead of one line and exit 2."""
    from baton import replay

    capsys.readouterr()
    argv = [str(vector_dir), "--family", "protocol", "--command", command]
    code = replay.main([*argv, "--stream"] if stream else argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("replay: error: "), err
    assert fragment in err


# --- the docs a newcomer follows: every command shown still parses, every table is current ---

# Pages a person wrote; the docs build also writes cli.rst and api.rst here, from the
# --help texts (checked below) and the docstrings.
_GENERATED_PAGES = {"cli.rst", "api.rst"}
_DOC_PAGES = [
    REPO / "README.md",
    *sorted(p for p in (REPO / "docs").glob("*.md") if p.name not in _GENERATED_PAGES),
    *sorted(p for p in (REPO / "docs").glob("*.rst") if p.name not in _GENERATED_PAGES),
    *sorted((REPO / "examples").rglob("README.md")),
]
# A command line in a code block: optional prompt, optional venv path, then 'baton <word>'.
_COMMAND_LINE = re.compile(r"^\s*(?:\$ )?(?:\.venv/bin/)?(baton [a-z].*)$")
# Where one shell command ends and the next (or a redirection or a comment) begins.
_SHELL_BREAK = re.compile(r"\s(?:&&|\|\||\||;|<|>|#)\s|\s#\s*|\s[<>]\s*\S+")


def _code_block_lines(page: Path) -> list[tuple[int, str]]:
    """Lines inside the page's code blocks (Markdown fences, reStructuredText directives)."""
    lines, inside, rst_indent = [], False, None
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
        if page.suffix == ".md":
            if line.lstrip().startswith("```"):
                inside = not inside
            elif inside:
                lines.append((number, line))
            continue
        if line.strip().startswith((".. code-block::", ".. code::")) or line.rstrip().endswith(
            "::"
        ):
            rst_indent = len(line) - len(line.lstrip())
            continue
        if rst_indent is not None and line.strip():
            if len(line) - len(line.lstrip()) <= rst_indent:
                rst_indent = None
            else:
                lines.append((number, line))
    return lines


def _documented_commands() -> list[tuple[str, list[str]]]:
    found = []
    for page in _DOC_PAGES:
        joined: list[tuple[int, str]] = []
        for number, line in _code_block_lines(page):
            if joined and joined[-1][1].endswith("\\"):  # a shell line continued
                joined[-1] = (joined[-1][0], joined[-1][1][:-1] + line.strip())
            else:
                joined.append((number, line))
        for number, line in joined:
            match = _COMMAND_LINE.match(line)
            if match is None:
                continue
            for part in re.split(r"\s(?:&&|\|)\s", match.group(1)):
                command = _SHELL_BREAK.split(f"{part} ")[0].strip()
                if command.startswith("baton ") and "<--" not in command:  # not an ASCII diagram
                    words = shlex.split(command)
                    found.append((f"{page.relative_to(REPO)}:{number}", words[1:]))
    return found


def test_every_command_the_docs_show_still_parses() -> None:
    """A renamed or removed option would leave a newcomer with an error on day one."""
    parser = build_parser()
    commands = _documented_commands()
    assert len(commands) >= 40, commands  # the finder still finds the docs' examples
    broken = []
    for where, argv in commands:
        stderr = io.StringIO()
        try:
            with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
                parser.parse_args(argv)
        except SystemExit as exit_info:
            if exit_info.code:
                broken.append(f"{where}: baton {shlex.join(argv)}: {stderr.getvalue().strip()}")
    assert not broken, "\n".join(broken)


def test_the_example_traces_table_lists_every_trace_with_its_verdict() -> None:
    """examples/traces/README.md once missed seven of the traces EXPECTED.json pins."""
    traces = REPO / "examples" / "traces"
    expected: dict[str, dict[str, object]] = json.loads((traces / "EXPECTED.json").read_text())
    assert set(expected) == {path.name for path in traces.glob("*.jsonl")}
    rows = {
        match.group(1): match.group(2).strip()
        for match in re.finditer(
            r"^\| `([^`]+\.jsonl)` \| (.+) \|$", (traces / "README.md").read_text(), re.M
        )
    }
    for name, verdict in expected.items():
        if verdict["status"] == "violation":
            want = (
                f"violation: {verdict['invariant']} (rule {verdict['rule']}) "
                f"at line {verdict['line']}"
            )
        elif verdict["status"] == "malformed":
            field = f", field {verdict['field']}" if verdict.get("field") else ""
            want = f"malformed: line {verdict['line']}{field}"
        else:
            want = str(verdict["status"])
        assert rows.get(name) == want, name
    assert set(rows) == set(expected)


def test_shown_rule_counts_match_the_oracle() -> None:
    """Sample output such as 'rules checked: 13/13' goes stale when a rule is added."""
    from baton.oracle import RULES

    shown = [
        (page.relative_to(REPO), match.group(0))
        for page in _DOC_PAGES
        for match in re.finditer(r"rules checked: \d+/(\d+)", page.read_text(encoding="utf-8"))
        if int(match.group(1)) != len(RULES)
    ]
    assert not shown, f"the oracle has {len(RULES)} rules: {shown}"


@pytest.mark.parametrize("option", ["--json", "--junit", "--metrics"])
def test_check_never_overwrites_a_trace_with_its_output(
    option: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """'baton check --json a.jsonl b.jsonl' reads like "check two traces as JSON"; it
    used to replace trace a.jsonl with b.jsonl's verdict."""
    good = REPO / "examples" / "traces" / "good_failover.jsonl"
    other = tmp_path / "a.jsonl"
    other.write_bytes(good.read_bytes())
    err = _usage_exit(["check", option, str(other), str(good)], capsys)
    one_line_error(err, "check", f"{option} {other}: that file is a Baton trace")
    assert f"baton check --json - {other}" in err
    assert other.read_bytes() == good.read_bytes()
    # The trace being checked itself, named as its own output.
    err = _usage_exit(["check", option, str(other), str(other)], capsys)
    one_line_error(err, "check", "that is the trace being checked")
    assert other.read_bytes() == good.read_bytes()


def test_check_still_overwrites_its_own_earlier_verdict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The guard refuses traces only: re-running into the same verdict file is normal."""
    good = REPO / "examples" / "traces" / "good_failover.jsonl"
    verdict = tmp_path / "verdict.json"
    for _ in range(2):
        assert main(["check", "--json", str(verdict), str(good)]) == 0
    assert json.loads(verdict.read_text())["status"] == "conforms"
    capsys.readouterr()


def _help_text(command: str) -> str:
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout), pytest.raises(SystemExit):
        main([command, "--help"])
    return stdout.getvalue()


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_help_teaches_with_examples_that_parse(command: str) -> None:
    """Each --help says what the command does, shows examples a reader can paste (they
    parse today) and names the exit statuses. A docstring's trailing backslash once
    joined two example lines into one run-on line in 'baton explore --help'."""
    text = _help_text(command)
    assert re.search(r"^examples:$", text, re.M | re.I), text
    assert re.search(r"^exit status:", text, re.M | re.I), text
    examples: list[str] = []
    for line in text.splitlines():
        if examples and examples[-1].endswith("\\"):
            examples[-1] = examples[-1][:-1] + line.strip()
        elif line.startswith("  baton "):
            examples.append(line.strip())
    assert examples, text
    parser = build_parser()
    for example in examples:
        # The command ends at a '#' or at a wide gap before its description.
        shown, _, described = example.partition("   ")
        shown = shown.split(" #")[0].strip()
        assert not described.lstrip().startswith("-"), f"a run-on example line: {example!r}"
        for part in re.split(r"\s(?:&&|\|)\s", shown):
            words = shlex.split(_SHELL_BREAK.split(f"{part} ")[0])
            if words[:1] != ["baton"]:
                continue  # the other half of a pipe: a producer, not a baton command
            with contextlib.redirect_stderr(io.StringIO()) as stderr:
                try:
                    parser.parse_args(words[1:])
                except SystemExit as exit_info:
                    assert not exit_info.code, f"{example!r}: {stderr.getvalue()}"


@pytest.mark.parametrize("option", ["--trace", "--metrics"])
def test_run_never_overwrites_its_own_scenario(
    option: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """'baton run s.json --dir d --trace s.json' used to replace the scenario with its trace."""
    scenario = tmp_path / "s.json"
    original = (REPO / "examples" / "clean_failover.json").read_bytes()
    scenario.write_bytes(original)
    err = _usage_exit(
        ["run", str(scenario), "--dir", str(tmp_path / "d"), option, str(scenario)], capsys
    )
    one_line_error(err, "run", f"{option} {scenario}: that is the scenario file")
    assert scenario.read_bytes() == original
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["run", str(REPO / "examples" / "clean_failover.json"), "--dir", "{file}"],
        ["test", "--bin", "baton node", "--seed", "1", "--dir", "{file}"],
    ],
)
def test_a_dir_that_is_a_file_says_so(
    argv: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """It said 'cannot create: File exists', which reads as if the directory were taken."""
    monkeypatch.setattr("baton.harness.runner.run_seed", never)
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine\n")
    err = _usage_exit([a.format(file=a_file) for a in argv], capsys)
    one_line_error(err, argv[0], f"--dir {a_file}: is a file, not a directory")
    assert a_file.read_text() == "mine\n"


def test_a_simulation_too_long_to_finish_is_refused(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """'--steps 99999999999' ran silently (a run prints only when it ends) for weeks."""
    from baton.commands.simulate import MAX_STEPS

    monkeypatch.setattr("baton.commands.simulate.simulate", never)
    err = _usage_exit(["simulate", "--seed", "1", "--steps", str(MAX_STEPS + 1)], capsys)
    one_line_error(err, "simulate", f"--steps {MAX_STEPS + 1}: at most {MAX_STEPS:,} ticks")


def test_a_trace_saved_with_a_byte_order_mark_is_told_what_to_change(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It said "Unexpected UTF-8 BOM (decode using utf-8-sig)": Python's advice, to a
    team that may not write Python. Still malformed (exit 2): the format is UTF-8 without one."""
    with_bom = tmp_path / "windows.jsonl"
    good = REPO / "examples" / "traces" / "good_failover.jsonl"
    with_bom.write_bytes(b"\xef\xbb\xbf" + good.read_bytes())
    assert main(["check", str(with_bom)]) == 2
    out = capsys.readouterr().out
    assert "line 1: starts with a byte-order mark (BOM): write UTF-8 without one" in out
    assert "utf-8-sig" not in out


def test_no_page_or_help_sends_a_reader_to_pypi_for_baton() -> None:
    """'baton' on PyPI is an unrelated project: 'pip install baton' or 'baton[ray]' would
    install it over this one. That includes the runtime's own --ray hint."""
    from baton.proofs.ray_backend import INSTALL_HINT

    from_pypi = re.compile(r"pip install (?:-U |--upgrade )?['\"]?baton\b")
    texts = {str(page.relative_to(REPO)): page.read_text(encoding="utf-8") for page in _DOC_PAGES}
    texts.update({f"baton {command} --help": _help_text(command) for command in COMMANDS})
    texts["the --ray install hint"] = INSTALL_HINT
    offenders = [where for where, text in texts.items() if from_pypi.search(text)]
    assert not offenders, offenders


def test_running_the_tour_twice_says_the_directory_holds_a_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's first command, repeated. The old hint '(or use --resume)' led to a
    resumed clean_failover that fails at its second step: --resume needs a scenario
    written to continue a killed run."""
    argv = ["run", str(REPO / "examples" / "clean_failover.json"), "--dir", str(tmp_path / "demo")]
    assert main([*argv, "--quiet"]) == 0
    capsys.readouterr()
    err = _usage_exit(argv, capsys)
    one_line_error(err, "run", f"--dir {tmp_path / 'demo'}: holds an earlier run")
    assert "with a scenario written for that" in err


def test_a_seed_cut_short_by_the_time_limit_says_so_on_its_line() -> None:
    """With --seeds and --time-limit the last seed read 'pass (0 ticks, 0.6 s)': a pass
    that tested nothing, with no word that it was stopped."""
    from baton.commands.test_cmd import _print_seed

    lines: list[str] = []
    summary = {
        "seed": 4,
        "status": "pass",
        "ticks": 0,
        "seconds": 0.6,
        "stopped_early": "time limit reached before tick 1",
        "faults": {},
        "promotions": {},
        "problems": [],
    }
    _print_seed(lines.append, summary, many=True)
    assert lines == [
        "seed 4: pass (0 ticks, 0.6 s; stopped early: time limit reached before tick 1)"
    ]
    lines.clear()
    _print_seed(lines.append, {**summary, "ticks": 150, "stopped_early": None}, many=True)
    assert lines == ["seed 4: pass (150 ticks, 0.6 s)"]


def test_every_repository_file_the_docs_name_exists() -> None:
    """A renamed example or test would leave a reader with 'No such file' at the first try."""
    named = re.compile(
        r"(?<![\w/.])((?:examples|docs|bench|tests|impl|spec|proofs)/[\w./-]+?"
        r"\.(?:py|md|rst|json|jsonl|js|mjs))\b"
    )
    missing = sorted(
        f"{page.relative_to(REPO)}: {match.group(1)}"
        for page in _DOC_PAGES
        for match in named.finditer(page.read_text(encoding="utf-8"))
        if not (REPO / match.group(1)).exists()
    )
    assert not missing, missing


@pytest.mark.parametrize("seconds", ["0", "-1", "nan"])
def test_verify_refuses_a_timeout_that_is_not_a_positive_number(
    seconds: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """'--timeout nan' was accepted: no comparison with NaN is true, so no limit applied."""
    monkeypatch.setattr("baton.proofs.report.run_all", never)
    err = _usage_exit(["verify", "--quick", "--timeout", seconds], capsys)
    one_line_error(err, "verify", "--timeout must be a positive number of seconds")


def test_the_explorer_page_shows_the_recorded_report_counts() -> None:
    """docs/explorer.md's table of verify's explore obligations had every transition
    count from an older explorer; the recorded full report is the reference."""
    report = json.loads((REPO / "docs" / "_data" / "verify-full.json").read_text())
    page = (REPO / "docs" / "explorer.md").read_text(encoding="utf-8")
    checked = 0
    for obligation in report["obligations"]:
        if not obligation["name"].startswith("explore."):
            continue
        counts = re.search(r"(\d+) states, (\d+) transitions, depth (\d+)", obligation["detail"])
        assert counts is not None, obligation["detail"]
        states, transitions, depth = (int(n) for n in counts.groups())
        row = re.search(rf"^\| `{re.escape(obligation['name'])}` \| (.+)$", page, re.M)
        assert row is not None, obligation["name"]
        cells = [cell.strip() for cell in row.group(1).split("|")]
        assert cells[0].split(" ")[0] == f"{states:,}", (obligation["name"], cells)
        assert cells[1] == f"{transitions:,}", (obligation["name"], cells)
        assert cells[2] == str(depth), (obligation["name"], cells)
        checked += 1
    assert checked >= 6


def test_a_node_that_dies_at_once_is_reported_with_its_last_words(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """'baton test --bin "python3 examples/nodes/minimal.py"' run from another directory:
    each node dies with python's "can't open file"; the report said only '(see its log)'."""
    dying = f"{sys.executable} -c 'import sys; sys.exit(\"adapter config missing\")'"
    argv = ["test", "--bin", dying, "--seed", "1", "--ticks", "40", "--dir", str(tmp_path)]
    assert main(argv) == 2  # a node that broke the protocol
    out = capsys.readouterr().out
    assert "n0 exited by itself with status 1 (its log ends: adapter config missing)" in out


def test_the_last_log_line_is_the_last_non_blank_one_and_short(tmp_path: Path) -> None:
    from baton.harness.workbench import LAST_WORDS_LIMIT, last_log_line

    log = tmp_path / "n0.stderr"
    assert last_log_line(log) == ""  # no log at all
    log.write_bytes(b"starting\nTraceback ...\nValueError: bad \xff config\n\n  \n")
    assert last_log_line(log) == "ValueError: bad \ufffd config"
    log.write_text("x" * 10_000 + "\n")
    assert len(last_log_line(log)) == LAST_WORDS_LIMIT


def test_a_scenario_written_for_resume_is_refused_without_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The shipped resume scenario run as a fresh run used to fail on its first
    expectation (exit 1), as if the runtime were wrong; it now says what it is for,
    and nothing is created under --dir."""
    resume = REPO / "examples" / "resume" / "continue_after_kill.json"
    err = _usage_exit(["run", str(resume), "--dir", str(tmp_path / "d")], capsys)
    one_line_error(err, "run", "continues a run whose process died")
    assert "--resume" in err
    assert not (tmp_path / "d").exists()


def test_resumes_must_be_a_boolean() -> None:
    from baton.errors import InputError
    from baton.scenario import parse

    with pytest.raises(InputError, match="resumes"):
        parse('{"resumes": "yes", "steps": [{"do": "init", "nodes": 3}]}')
    assert parse('{"resumes": true, "steps": [{"do": "init", "nodes": 3}]}').resumes
    assert not parse('{"steps": [{"do": "init", "nodes": 3}]}').resumes
