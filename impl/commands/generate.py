"""Generate the files derived from the Z3 spec: the lifecycle table and the vocabulary.

impl/_table.py: the transition relation of ``baton.spec.lifecycle`` is
enumerated with Z3 (model enumeration with blocking clauses) and written as
plain data: the states, the events and a ``(state, event) -> next_state``
dict. The runtime decides lifecycle legality from that table only: no
hand-written copy of the relation exists to drift from it.

impl/schemas/vocabulary.json: the protocol's vocabulary as data (states,
events, validation checks with their conditions and explanations, reasons,
invariants), derived from the spec by baton.vocabulary; ``baton check`` and
``baton schema vocabulary`` read it. CI runs ``--check``: any drift between
either file and the spec fails.

Rewriting the table is a job for a source checkout (an editable install); an
installed package is never rewritten in place -- use --check or --output there.

Examples:
  baton generate            # rewrite both files from the spec (in a checkout)
  baton generate --check    # exit 1 with a unified diff if either file drifted
  baton generate --output /tmp/table.py   # the lifecycle table only, elsewhere

exit status: 0 written or already up to date, 1 drift (--check), 2 bad usage or an
unwritable output path (checked before the spec is enumerated), 3 internal
error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from collections.abc import Callable
from pathlib import Path

from baton.errors import UsageError
from baton.output import check_output_path

HEADER = '''\
"""The promotion lifecycle table: GENERATED, DO NOT EDIT.

Written by ``baton generate`` from the Z3 transition relation in
``baton.spec.lifecycle`` (enumerate_transitions). CI runs
``baton generate --check`` and fails on any difference. Data only: the
runtime's lifecycle machine (baton.lifecycle) decides legality from it.
"""
'''


def package_dir() -> Path:
    """The directory of the ``baton`` package: impl/ in a checkout, .../baton when installed."""
    return Path(__file__).resolve().parent.parent


def default_path() -> Path:
    """impl/_table.py next to this package (the source tree when installed editable)."""
    return package_dir() / "_table.py"


def is_checkout() -> bool:
    """Whether the package runs from a source checkout (impl/ beside pyproject.toml)."""
    pkg = package_dir()
    return pkg.name == "impl" and (pkg.parent / "pyproject.toml").is_file()


def refuse_installed_package(path: Path) -> None:
    """UsageError if ``path`` is inside an installed (non-checkout) baton package."""
    if is_checkout():
        return
    pkg = package_dir()
    target = path.resolve()
    if target == pkg or pkg in target.parents:
        raise UsageError(
            f"refusing to rewrite {target}: it is inside the installed baton package. "
            "'baton generate' regenerates impl/_table.py in a source checkout "
            "(git clone the repository, pip install -e ., then baton generate there); "
            "here, 'baton generate --check' compares the installed table with the spec "
            "and 'baton generate --output FILE' writes the table elsewhere"
        )


def _q(name: str) -> str:
    """A string literal in the quote style ruff format keeps (double quotes)."""
    return json.dumps(name)


def render() -> str:
    """The text of _table.py, computed from the spec."""
    from baton.spec import lifecycle

    triples = lifecycle.enumerate_transitions()
    lines = [HEADER, "from __future__ import annotations", ""]
    lines.append("STATES: tuple[str, ...] = (")
    lines += [f"    {_q(name)}," for name in lifecycle.STATE_NAMES]
    lines.append(")")
    lines.append("")
    lines.append("EVENTS: tuple[str, ...] = (")
    lines += [f"    {_q(name)}," for name in lifecycle.EVENT_NAMES]
    lines.append(")")
    lines.append("")
    lines.append("# (state, event) -> next state; every pair not listed is forbidden.")
    lines.append("TRANSITIONS: dict[tuple[str, str], str] = {")
    lines += [f"    ({_q(src)}, {_q(ev)}): {_q(dst)}," for src, ev, dst in triples]
    lines.append("}")
    lines.append("")
    lines.append(f"RECOVERY_STATE: str = {_q(lifecycle.RECOVERY_STATE)}")
    lines.append("")
    return "\n".join(lines)


def vocabulary_path() -> Path:
    """impl/schemas/vocabulary.json next to this package."""
    return package_dir() / "schemas" / "vocabulary.json"


def render_vocabulary() -> str:
    """The text of vocabulary.json, derived from the spec."""
    from baton import vocabulary

    return json.dumps(vocabulary.generate(), indent=2, ensure_ascii=False) + "\n"


def _on_disk(path: Path) -> str:
    """The file's text ('' if it does not exist yet)."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""


def drift(path: Path, expected: str | None = None) -> str:
    """A unified diff from the file on disk to the generated text ('' when equal)."""
    if expected is None:
        expected = render()
    actual = _on_disk(path)
    if actual == expected:
        return ""
    return "".join(
        difflib.unified_diff(
            actual.splitlines(keepends=True),
            expected.splitlines(keepends=True),
            fromfile=f"{path} (on disk)",
            tofile=f"{path} (generated from the spec)",
        )
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--check",
        action="store_true",
        help="do not write; exit 1 with a unified diff for each file that differs from the spec",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="write or check the lifecycle table at this path instead (the vocabulary is "
        "then left alone; default: impl/_table.py and impl/schemas/vocabulary.json)",
    )


def run(args: argparse.Namespace) -> int:
    # --output names one file: the table. Without it, both generated files.
    targets: list[tuple[Path, Callable[[], str]]] = [(args.output or default_path(), render)]
    if args.output is None:
        targets.append((vocabulary_path(), render_vocabulary))
    if not args.check:
        # Before the spec is enumerated: where the files would go must be writable.
        for path, _render in targets:
            refuse_installed_package(path)
            check_output_path(path)
    if args.check:
        drifted = 0
        for path, make in targets:
            diff = drift(path, make())
            if diff:
                drifted += 1
                print(f"baton generate --check: {path} differs from the spec:", file=sys.stderr)
                print(diff, end="", file=sys.stderr)
            else:
                print(f"{path}: up to date with the spec")
        if drifted:
            print("run 'baton generate' to regenerate it", file=sys.stderr)
            return 1
        return 0
    # Source code and data, not node state: written as artefacts (storage.write_artifact).
    from baton.storage import write_artifact

    for path, make in targets:
        text = make()
        if _on_disk(path) == text:
            print(f"{path}: already up to date with the spec (not rewritten)")
            continue
        write_artifact(path, text)
        print(f"wrote {path}")
    return 0
