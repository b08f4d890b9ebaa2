"""The README (and the docs' copy of its CI snippet) stays true to the CLI.

Covers: the README opens with the two commands; every ``baton`` command line
in the CI snippet parses with the real parser (so a renamed option breaks
this test, not a user's CI); the exit-status table lists exactly the statuses
``baton.cli`` returns; ``baton --help`` states the same ones.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from baton import cli

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
OVERVIEW = (ROOT / "docs" / "overview.rst").read_text(encoding="utf-8")


def _snippet_commands(text: str) -> list[str]:
    """The ``baton ...`` invocations of the YAML CI snippet in ``text``."""
    commands = []
    for line in text.splitlines():
        match = re.search(r"run: \.venv/bin/baton (.*)$", line)
        if match:
            commands.append(match.group(1).split("#")[0].strip())
    return commands


README_COMMANDS = _snippet_commands(README)


def test_readme_opens_with_the_two_commands() -> None:
    first_block = README.split("```sh\n", 1)[1].split("```", 1)[0].strip().splitlines()
    install_and_verify, run_tests = first_block
    assert "pip install -e '.[test,docs]'" in install_and_verify
    assert install_and_verify.endswith("&& .venv/bin/baton verify")
    assert run_tests == ".venv/bin/python -m pytest"


def test_the_docs_carry_the_same_ci_snippet() -> None:
    assert README_COMMANDS, "the README has no CI snippet"
    assert _snippet_commands(OVERVIEW) == README_COMMANDS


@pytest.mark.parametrize(
    "command",
    README_COMMANDS,
)
def test_every_ci_snippet_command_parses(command: str) -> None:
    args = cli.build_parser().parse_args(shlex.split(command))
    assert args.command == command.split()[0]
    if "--junit" in command:
        assert args.junit.startswith("reports/")


def test_exit_status_table_matches_the_cli() -> None:
    table = re.findall(r"^\| (\d+) \| ", README, flags=re.MULTILINE)
    statuses = {
        cli.EXIT_OK,
        cli.EXIT_FAILED,
        cli.EXIT_USAGE,
        cli.EXIT_INTERNAL,
        cli.EXIT_INTERRUPTED,
        cli.EXIT_TERMINATED,
    }
    assert sorted(int(s) for s in table) == sorted(statuses)
    for status in statuses:
        assert f" {status} " in cli.EXIT_STATUS_HELP or f" {status}," in cli.EXIT_STATUS_HELP
