"""Assertions shared by the command-line tests: how a refused command must look."""

from __future__ import annotations

from typing import NoReturn


def never(*_args: object, **_kwargs: object) -> NoReturn:
    """Stands in for a command's long work: a usage error must stop the command before it."""
    raise AssertionError("the command's work started before its arguments were refused")


def one_line_error(err: str, command: str, fragment: str) -> None:
    """``err`` is one line, ``baton COMMAND: error: ...`` containing ``fragment``, no traceback."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"baton {command}: error: "), err
    assert fragment in lines[0], err
    assert "Traceback" not in err
