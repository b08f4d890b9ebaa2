"""The storage boundary: all durable file access goes through ``baton.storage``.

Node state is written only through one narrow interface, so the crash tests
that drive that interface cover every durable write. The package source (``impl/``) is scanned with
``ast`` (comments and docstrings do not count):

* filesystem-mutating ``os`` calls (``os.fsync``, ``os.replace``,
  ``os.rename``, ``os.open``, ``os.write``, ``os.truncate``, ``os.remove`` ...)
  and ``shutil`` moves/copies appear nowhere but ``impl/storage.py``;
* write-mode ``open()`` / ``Path.open()``, ``write_text`` and ``write_bytes``
  appear only in ``impl/storage.py`` and in modules that write *artefacts the
  user asked for* (CLI reports, traces, test vectors) -- never node state. Those
  are the CLI commands (``impl/commands/``) and the pinned
  :data:`ARTIFACT_WRITERS`; a new writer fails this test until it is pinned
  with its reason (or uses :func:`baton.storage.write_artifact`).

Also here: the failpoint names used in the source are exactly the pinned
:data:`baton.failpoints.FAILPOINTS`.
"""

from __future__ import annotations

import ast
import pathlib

import pytest
from baton import failpoints

IMPL = pathlib.Path(__file__).resolve().parent.parent / "impl"
STORAGE = IMPL / "storage.py"

FORBIDDEN_OS_CALLS = frozenset(
    {
        "fsync",
        "fdatasync",
        "sync",
        "replace",
        "rename",
        "renames",
        "open",
        "write",
        "pwrite",
        "truncate",
        "ftruncate",
        "remove",
        "unlink",
        "rmdir",
        "mkdir",
        "makedirs",
    }
)
FORBIDDEN_SHUTIL_CALLS = frozenset({"move", "copy", "copy2", "copyfile", "copytree", "rmtree"})

LOCK_MODULES: dict[str, str] = {
    "dirlock.py": "opens the directory's lock file and takes its flock; it writes only the "
    "holder's pid and command into that file, never node state",
}
"""Modules allowed raw ``os`` file calls that are not node state, each with its reason."""

ARTIFACT_WRITERS: dict[str, str] = {
    "vectors.py": "writes the test-vector files and manifest that `baton vectors` was asked for",
    "harness/process.py": "a node process's standard error goes to its log file (baton test)",
}
"""Non-command modules allowed to open files for writing, each with its reason."""


def _modules() -> list[pathlib.Path]:
    return sorted(p for p in IMPL.rglob("*.py") if p != STORAGE)


def _rel(path: pathlib.Path) -> str:
    return path.relative_to(IMPL).as_posix()


def _is_write_mode(call: ast.Call, mode_index: int) -> bool:
    """Whether a call to open() passes a mode with w, a, x or + (unknown modes count)."""
    mode: ast.expr | None = None
    if len(call.args) > mode_index:
        mode = call.args[mode_index]
    for keyword in call.keywords:
        if keyword.arg == "mode":
            mode = keyword.value
    if mode is None:
        return False
    if isinstance(mode, ast.Constant) and isinstance(mode.value, str):
        return any(flag in mode.value for flag in "wax+")
    return True  # a computed mode: cannot prove it is read-only


def violations_in(source: str, filename: str) -> tuple[list[str], list[str]]:
    """(forbidden os/shutil calls, write-mode opens) in one module's source."""
    forbidden: list[str] = []
    writes: list[str] = []
    tree = ast.parse(source, filename=filename)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in ("os", "shutil"):
            names = {alias.name for alias in node.names}
            bad = names & (FORBIDDEN_OS_CALLS | FORBIDDEN_SHUTIL_CALLS)
            if bad:
                forbidden.append(
                    f"{filename}:{node.lineno} from {node.module} import {sorted(bad)}"
                )
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        where = f"{filename}:{node.lineno}"
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            if func.value.id == "os" and func.attr in FORBIDDEN_OS_CALLS:
                forbidden.append(f"{where} os.{func.attr}")
            if func.value.id == "shutil" and func.attr in FORBIDDEN_SHUTIL_CALLS:
                forbidden.append(f"{where} shutil.{func.attr}")
        if isinstance(func, ast.Name) and func.id == "open" and _is_write_mode(node, 1):
            writes.append(f"{where} open(..., write mode)")
        if isinstance(func, ast.Attribute):
            if func.attr in ("write_text", "write_bytes"):
                writes.append(f"{where} .{func.attr}()")
            # ``x.open(...)``: only Path-style calls whose mode is a literal
            # (``Wal.open(disk, name)`` and friends are not file opens).
            literal_mode = any(
                isinstance(a, ast.Constant) and isinstance(a.value, str)
                for a in [*node.args[:1], *(k.value for k in node.keywords if k.arg == "mode")]
            )
            if func.attr == "open" and literal_mode and _is_write_mode(node, 0):
                writes.append(f"{where} .open(write mode)")
    return forbidden, writes


def test_no_filesystem_mutation_outside_storage() -> None:
    """Os.fsync / os.replace / os.rename / os.open ... only in baton.storage (and the
    pinned directory lock, which touches no node state)."""
    found = []
    for path in _modules():
        if _rel(path) in LOCK_MODULES:
            continue
        forbidden, _ = violations_in(path.read_text(encoding="utf-8"), _rel(path))
        found += forbidden
    assert not found, "filesystem calls outside impl/storage.py:\n" + "\n".join(found)


def test_write_mode_open_only_in_storage_and_artifact_writers() -> None:
    """No write-mode open() for node state; only CLI/artefact writers may."""
    found = []
    for path in _modules():
        rel = _rel(path)
        if rel.startswith("commands/") or rel in ARTIFACT_WRITERS:
            continue
        _, writes = violations_in(path.read_text(encoding="utf-8"), rel)
        found += writes
    assert not found, (
        "write-mode file access outside impl/storage.py (use a Disk for node state, "
        "baton.storage.write_artifact for outputs, or pin the module in ARTIFACT_WRITERS):\n"
        + "\n".join(found)
    )


def test_artifact_allowlist_is_not_stale() -> None:
    """Every pinned artefact writer exists and still writes (else remove it)."""
    for name in ARTIFACT_WRITERS:
        path = IMPL / name
        assert path.exists(), f"ARTIFACT_WRITERS names a missing module {name}"
        _, writes = violations_in(path.read_text(encoding="utf-8"), name)
        assert writes, f"{name} no longer writes files: drop it from ARTIFACT_WRITERS"


@pytest.mark.parametrize(
    ("snippet", "kind"),
    [
        ("import os\nos.fsync(3)\n", "forbidden"),
        ("import os\nos.replace('a', 'b')\n", "forbidden"),
        ("import os\nos.rename('a', 'b')\n", "forbidden"),
        ("from os import fsync\n", "forbidden"),
        ("open('f', 'w')\n", "write"),
        ("open('f', mode='ab')\n", "write"),
        ("open('f', 'r+')\n", "write"),
        ("import pathlib\npathlib.Path('f').write_text('x')\n", "write"),
        ("import pathlib\npathlib.Path('f').open('w')\n", "write"),
    ],
)
def test_scanner_detects_each_forbidden_form(snippet: str, kind: str) -> None:
    """The scanner is not vacuous: each forbidden form in a snippet is reported."""
    forbidden, writes = violations_in(snippet, "snippet.py")
    assert forbidden if kind == "forbidden" else writes, snippet


def test_scanner_allows_reads() -> None:
    """Reading files is not flagged (the rule is about writes)."""
    forbidden, writes = violations_in("open('f')\nopen('f', 'rb')\n", "snippet.py")
    assert forbidden == [] and writes == []


def test_failpoint_names_in_source_are_the_pinned_list() -> None:
    """Every ``failpoints.hit(...)`` name is pinned, and every pinned name is
    used (literal names, or the marker write's ``marker.<step>`` loop over MARKER_STEPS)."""
    from baton.marker import MARKER_STEPS

    used: set[str] = {f"marker.{step}" for step in MARKER_STEPS}
    for path in [*_modules(), STORAGE]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "hit"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                used.add(str(node.args[0].value))
    assert used == set(failpoints.FAILPOINTS)
