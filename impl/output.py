"""Machine and human output shared by every ``baton`` command.

One convention for machine output on every command: ``--json [FILE]`` writes
the command's JSON document to FILE, or to standard output when FILE is ``-``
or omitted; ``--junit FILE`` writes JUnit XML, one test case per obligation,
rule or seed, which CI systems display natively. Output paths are checked
before any long work starts (:func:`check_output_path`), so a typo in a path
costs a second, not a whole run, and a path inside a node directory is refused
(writing there could overwrite a node's marker, its durable authority record).

Human output goes through :func:`console`: a rich Console that colours only a
terminal and honours ``NO_COLOR`` (https://no-color.org) and ``FORCE_COLOR``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from baton.errors import UsageError

if TYPE_CHECKING:
    from rich.console import Console

__all__ = [
    "STDOUT",
    "JUnitCase",
    "add_output_args",
    "check_output_path",
    "console",
    "create_directory",
    "emit_json",
    "write_junit",
]

STDOUT = "-"
"""The output path that means standard output."""

# A node directory holds both of these files (baton.identity.IDENTITY_FILE,
# baton.marker.MARKER_FILE); spelled out here so this module imports nothing heavy.
_NODE_DIR_FILES = ("identity", "marker")


def add_output_args(parser: argparse.ArgumentParser, *, junit: bool) -> None:
    """Add ``--json [FILE]`` and, when ``junit`` is true, ``--junit FILE``.

    ``args.json`` is None (not asked for), ``"-"`` (standard output: the flag
    given alone or with ``-``) or a path; ``args.junit`` is None or a path.
    """
    parser.add_argument(
        "--json",
        nargs="?",
        const=STDOUT,
        default=None,
        metavar="FILE",
        help="write the JSON result to FILE ('-' or no FILE: standard output)",
    )
    if junit:
        parser.add_argument(
            "--junit",
            default=None,
            metavar="FILE",
            help="write JUnit XML to FILE for CI systems ('-': standard output)",
        )


def _node_dir_holding(directory: Path) -> Path | None:
    """The nearest of ``directory`` and its ancestors that holds a Baton node, if any."""
    for candidate in (directory, *directory.parents):
        if all((candidate / name).is_file() for name in _NODE_DIR_FILES):
            return candidate
    return None


def _is_within(path: Path, directory: Path) -> bool:
    return path == directory or directory in path.parents


def check_output_path(
    path: str | os.PathLike[str], *, node_dirs: Iterable[str | os.PathLike[str]] = ()
) -> None:
    """Refuse, with one line, an output path that cannot or must not be written.

    Checked up front, before a command's long work: the parent directory exists,
    is a directory and is writable; the path is not a directory; and it is not
    inside a node directory -- one of ``node_dirs``, or any directory that holds
    a node's identity and marker -- because a trace written over ``n0/marker``
    would destroy that node's durable authority record. ``-`` (standard output)
    is always accepted. Raises :class:`baton.errors.UsageError`.
    """
    if os.fspath(path) == STDOUT:
        return
    target = Path(os.path.abspath(os.fspath(path)))
    # Named node directories first: the most specific reason, true even before
    # the directories exist (a run that has not yet created them).
    resolved = target.resolve()
    for node_dir in node_dirs:
        node_root = Path(os.fspath(node_dir)).resolve()
        if _is_within(resolved, node_root):
            raise UsageError(
                f"{path}: refusing to write inside node directory {node_root} "
                "(it holds a node's durable state); choose a path outside it"
            )
    if target.is_dir():
        raise UsageError(f"{path}: is a directory; give a file name")
    parent = target.parent
    if not parent.exists():
        raise UsageError(f"{path}: directory {parent} does not exist")
    if not parent.is_dir():
        raise UsageError(f"{path}: {parent} is not a directory")
    holder = _node_dir_holding(resolved.parent)
    if holder is not None:
        raise UsageError(
            f"{path}: refusing to write inside node directory {holder} "
            "(it holds a node's identity and marker); choose a path outside it"
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"{path}: cannot write in directory {parent} (permission denied)")
    if target.exists() and not os.access(target, os.W_OK):
        raise UsageError(f"{path}: file exists and is not writable")


def create_directory(path: Path, named: str) -> None:
    """Create the directory a command keeps its runs in (``named``, e.g. ``--dir D``,
    heads the message), with its parents; a file in the way, or a directory that cannot
    be created, is one line (:class:`baton.errors.UsageError`)."""
    if path.exists() and not path.is_dir():
        raise UsageError(f"{named}: is a file, not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{named}: cannot create: {exc.strerror or exc}") from None


def _write_text(dest: str | os.PathLike[str], text: str) -> None:
    if os.fspath(dest) == STDOUT:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    from baton.storage import write_artifact

    try:
        write_artifact(dest, text)
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise UsageError(f"{os.fspath(dest)}: cannot write: {reason}") from exc


def emit_json(doc: Any, dest: str | os.PathLike[str] | None) -> None:
    """Write ``doc`` as indented JSON to ``dest`` (``-``: standard output; None: nothing)."""
    if dest is None:
        return
    _write_text(dest, json.dumps(doc, indent=2, ensure_ascii=False) + "\n")


@dataclass(frozen=True)
class JUnitCase:
    """One JUnit test case: an obligation, a conformance rule or a simulation seed.

    ``time`` is in seconds. ``failure`` (the reason it failed; its first line
    becomes the message, the whole text the body) and ``skipped`` (why it did
    not run) are None for a passing case. ``output`` goes to ``system-out``.
    """

    name: str
    classname: str
    time: float
    failure: str | None = None
    skipped: str | None = None
    output: str | None = None


# XML 1.0 forbids most control characters even when escaped; CI parsers reject them.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_text(text: str) -> str:
    return _XML_ILLEGAL.sub("\ufffd", text)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def junit_document(suite: str, cases: Sequence[JUnitCase]) -> str:
    """The JUnit XML for one suite of ``cases`` (the layout Jenkins, GitLab and GitHub read)."""
    failures = sum(1 for c in cases if c.failure is not None)
    skipped = sum(1 for c in cases if c.failure is None and c.skipped is not None)
    total_time = sum(c.time for c in cases)
    counts = {
        "name": _xml_text(suite),
        "tests": str(len(cases)),
        "failures": str(failures),
        "errors": "0",
        "skipped": str(skipped),
        "time": f"{total_time:.3f}",
    }
    root = ET.Element("testsuites", counts)
    suite_el = ET.SubElement(root, "testsuite", counts)
    for case in cases:
        case_el = ET.SubElement(
            suite_el,
            "testcase",
            {
                "name": _xml_text(case.name),
                "classname": _xml_text(case.classname),
                "time": f"{case.time:.3f}",
            },
        )
        if case.failure is not None:
            failure_el = ET.SubElement(
                case_el, "failure", {"message": _xml_text(_first_line(case.failure))}
            )
            failure_el.text = _xml_text(case.failure)
        elif case.skipped is not None:
            ET.SubElement(case_el, "skipped", {"message": _xml_text(case.skipped)})
        if case.output:
            ET.SubElement(case_el, "system-out").text = _xml_text(case.output)
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"


def write_junit(path: str | os.PathLike[str], suite: str, cases: Sequence[JUnitCase]) -> None:
    """Write ``cases`` as one JUnit test suite named ``suite`` to ``path`` (``-``: stdout)."""
    _write_text(path, junit_document(suite, cases))


def console(stream: IO[str] | None = None) -> Console:
    """A rich Console for human output on ``stream`` (default: standard output).

    Colour and highlighting appear only on a terminal; ``NO_COLOR`` (any
    non-empty value) turns colour off even there, ``FORCE_COLOR`` turns it on
    in a pipe. Automatic highlighting and emoji codes are off and lines are
    never wrapped (soft wrap: a replay command or a sha256 stays on one line
    for logs and for copying; tables still fit the width), so text is
    printed as given; pass operator-supplied text as ``rich.text.Text`` (or
    through ``rich.markup.escape``) so that brackets in it are not read as markup.
    """
    from rich.console import Console

    no_color = os.environ.get("NO_COLOR", "") != ""
    return Console(
        file=stream if stream is not None else sys.stdout,
        no_color=no_color,
        highlight=False,
        emoji=False,
        soft_wrap=True,
    )
