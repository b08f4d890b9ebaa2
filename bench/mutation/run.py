"""Mutation testing of Baton's runtime, run on demand (not in CI).

Wraps mutmut 2.x (``pip install -e '.[mutation]'``), which mutates the target
file IN PLACE and restores it after every mutant; the editable install maps
impl/ to ``baton``, so the mutated file is what the tests import. Each module
is tested against a FAST test selection (below), with ``-x`` so the first
failing test kills the mutant.

Usage (from the repository root):

    CI=true .venv/bin/python bench/mutation/run.py validator lifecycle marker
    CI=true .venv/bin/python bench/mutation/run.py core --ast-sample 40   # core: see below
    .venv/bin/python bench/mutation/run.py --report          # table from cache
    .venv/bin/python bench/mutation/run.py --report --survivors

Kill rate = (killed + timeout) / (mutants - skipped); a timeout means the
mutant made the tests loop, which the suite detects. Results live in
``.mutmut-cache`` (SQLite, repository root; not committed). docs/mutation.md
holds the latest numbers and the survivor analysis.
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import shlex
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".mutmut-cache"

# The durability suite (fast: about 7 s in all) exercises the storage modules far
# beyond their unit tests; a mutant it kills is killed by the README test command.
_DURABILITY = [
    "tests/test_crash_recovery.py",
    "tests/test_io_errors.py",
    "tests/test_fsync_mutants.py",
    "tests/test_storage_boundary.py",
    "tests/test_crash_enumeration.py",
    "tests/test_kill.py",
]

# module -> (files mutated, fast test selection that exercises them)
MODULES: dict[str, tuple[list[str], list[str]]] = {
    "validator": (
        ["impl/validator.py"],
        ["tests/test_validator.py", "tests/test_vectors_replay.py", "tests/test_mutation_kills.py"],
    ),
    "lifecycle": (
        ["impl/lifecycle.py", "impl/_table.py"],
        [
            "tests/test_runtime_lifecycle.py",
            "tests/test_generate.py",
            # The core and the explorer are the table's users (frozen WAL, legality).
            "tests/test_runtime_core.py",
            "tests/test_explore.py",
            "tests/test_mutation_kills.py",
        ],
    ),
    "marker": (
        ["impl/marker.py"],
        ["tests/test_marker.py", *_DURABILITY, "tests/test_mutation_kills.py"],
    ),
    "wal": (["impl/wal.py"], ["tests/test_wal.py", *_DURABILITY, "tests/test_mutation_kills.py"]),
    "controller": (
        ["impl/controller.py"],
        ["tests/test_controller.py", "tests/test_mutation_kills.py"],
    ),
    "recovery": (
        ["impl/identity.py"],
        ["tests/test_wal.py", "tests/test_marker.py", *_DURABILITY, "tests/test_mutation_kills.py"],
    ),
    # The runtime core, and the shell around it. Killers: the core's tests, then
    # baton verify's explorer obligations (tests/test_mutation_kills.py,
    # test_core_killed_by_verify_explorer: every step checked against the spec,
    # every state against its properties), then the stateful lockstep runs.
    "core": (
        ["impl/core.py"],
        [
            "tests/test_runtime_core.py",
            "tests/test_mutation_kills.py",
            "tests/test_stateful_lockstep.py",
        ],
    ),
    "cluster": (
        ["impl/cluster.py"],
        [
            "tests/test_node_runtime.py",
            "tests/test_controller.py",  # the controller names nodes (index_of)
            "tests/test_stateful_lockstep.py",
            *_DURABILITY,
            "tests/test_mutation_kills.py",
        ],
    ),
    "node": (
        ["impl/node.py"],
        [
            "tests/test_node_runtime.py",
            "tests/test_stateful_lockstep.py",
            *_DURABILITY,
            "tests/test_mutation_kills.py",
        ],
    ),
}


def pytest_command(name: str, python: str = ".venv/bin/python") -> list[str]:
    """The pytest command that tests a mutant of module ``name`` (from the repository root).

    -x: the first failing test kills the mutant. tests/test_mutation_kills.py is
    shared: only this module's tests there are selected.
    """
    tests = [t for t in MODULES[name][1] if (REPO / t).exists()]
    return [
        python,
        "-m",
        "pytest",
        "-x",
        "-q",
        "-p",
        "no:cacheprovider",
        *tests,
        "-k",
        f"{name} or not mutation_kills",
    ]


STATUSES = ("ok_killed", "bad_timeout", "ok_suspicious", "bad_survived", "skipped", "untested")


def _untested(cache: Path) -> int | None:
    """Mutants not yet tested (None before mutmut has created its cache)."""
    if not cache.exists():
        return None
    try:
        with sqlite3.connect(cache, timeout=5) as db:
            row = db.execute("SELECT COUNT(*) FROM Mutant WHERE status = 'untested'").fetchone()
    except sqlite3.Error:
        return None
    return int(row[0])


def _has_children(pid: int) -> bool:
    """Whether ``pid`` has a live child other than multiprocessing's tracker."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid and b"resource_tracker" not in cmdline:
            return True
    return False


def run_module(name: str, workdir: Path = REPO, stall_seconds: float = 30.0) -> None:
    """Run mutmut on one module; refuse to leave a mutated file behind.

    mutmut 2.x can hang between mutants when it recycles its worker process
    (boxed/mutmut#183): the parent waits forever with no test running. A
    watchdog restarts it when the untested count has not moved for
    ``stall_seconds`` and no test process is alive; mutmut resumes from its
    cache. Whatever happens, each target file is restored byte for byte.
    """
    cache = workdir / ".mutmut-cache"
    files = MODULES[name][0]
    originals = {f: (REPO / f).read_bytes() for f in files}
    runner = shlex.join(pytest_command(name))
    env = dict(os.environ, CI="true")
    cmd = [
        str(REPO / ".venv/bin/mutmut"),
        "run",
        "--paths-to-mutate",
        ",".join(files),
        "--tests-dir",
        "tests",
        "--runner",
        runner,
        "--no-progress",
        "--simple-output",
    ]
    print(f"== {name}: {runner}", flush=True)
    try:
        for _attempt in range(20):
            # mutmut's exit status is a bitmask of outcomes (survivors are normal).
            proc = subprocess.Popen(cmd, cwd=workdir, env=env, start_new_session=True)
            last, last_change = _untested(cache), time.monotonic()
            while proc.poll() is None:
                time.sleep(5)
                now = _untested(cache)
                if now != last:
                    last, last_change = now, time.monotonic()
                elif time.monotonic() - last_change > stall_seconds and not _has_children(proc.pid):
                    print(f"   mutmut stalled at {now} untested; restarting", flush=True)
                    os.killpg(proc.pid, signal.SIGTERM)
                    proc.wait()
                    _restore(originals)
                    break
            else:
                return
    finally:
        _restore(originals)


def _restore(originals: dict[str, bytes]) -> None:
    for f, data in originals.items():
        path = REPO / f
        if path.read_bytes() != data:
            path.write_bytes(data)
            print(f"   restored {f} to its pre-run content", flush=True)
        # mutmut keeps a pristine copy beside the file while a mutant is applied.
        backup = path.with_name(path.name + ".bak")
        if backup.exists() and backup.read_bytes() == data:
            backup.unlink()


def report(cache: Path, show_survivors: bool) -> None:
    """Print the per-file table (and optionally each survivor's line)."""
    if not cache.exists():
        sys.exit(f"no {cache}: run some modules first")
    db = sqlite3.connect(cache)
    rows = db.execute(
        "SELECT s.filename, m.status, COUNT(*) FROM Mutant m "
        "JOIN Line l ON m.line = l.id JOIN SourceFile s ON l.sourcefile = s.id "
        "GROUP BY s.filename, m.status"
    ).fetchall()
    table: dict[str, dict[str, int]] = {}
    for filename, status, count in rows:
        table.setdefault(filename, dict.fromkeys(STATUSES, 0))[status] = count
    header = f"{'file':<22}{'mutants':>8}{'killed':>8}{'survived':>9}{'timeout':>8}"
    print(header + f"{'untested':>9}{'kill rate':>10}")
    for filename in sorted(table):
        c = table[filename]
        total = sum(c.values())
        detected = c["ok_killed"] + c["bad_timeout"] + c["ok_suspicious"]
        tested = total - c["skipped"] - c["untested"]
        rate = f"{100 * detected / tested:.1f}%" if tested else "-"
        print(
            f"{filename:<22}{total:>8}{c['ok_killed'] + c['ok_suspicious']:>8}"
            f"{c['bad_survived']:>9}{c['bad_timeout']:>8}{c['untested']:>9}{rate:>10}"
        )
    if show_survivors:
        survivors = db.execute(
            "SELECT m.id, s.filename, l.line_number, l.line FROM Mutant m "
            "JOIN Line l ON m.line = l.id JOIN SourceFile s ON l.sourcefile = s.id "
            "WHERE m.status = 'bad_survived' ORDER BY s.filename, l.line_number"
        ).fetchall()
        for mutant_id, filename, line_number, line in survivors:
            # mutmut stores 0-based line numbers
            print(f"#{mutant_id} {filename}:{line_number + 1}: {line.strip()}")
        print("see a diff with: .venv/bin/mutmut show <id>")


def _pristine_package(tmp: Path) -> Path:
    """HEAD's package laid out as installed (impl/ -> baton/, spec/ and proofs/ inside it)
    under ``tmp/pristine``: the untouched copy each mutant is applied to in turn."""
    pristine = tmp / "pristine"
    pristine.mkdir()
    archive = subprocess.run(
        ["git", "archive", "HEAD", "impl", "spec", "proofs"],
        cwd=REPO,
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(pristine)], input=archive, check=True)
    (pristine / "impl").rename(pristine / "baton")
    (pristine / "spec").rename(pristine / "baton" / "spec")
    (pristine / "proofs").rename(pristine / "baton" / "proofs")
    return pristine


def verify_survivors(workdir: Path) -> None:
    """Re-test each recorded survivor against a private copy of the package.

    Each survivor's diff (``mutmut show``) is applied to a copy of the committed
    ``impl/``, ``spec/`` and ``proofs/`` laid out as the ``baton`` package under a
    temporary directory, which PYTHONPATH puts before the editable install; the
    working tree is never touched. Killed survivors are marked killed in the
    cache, as a mutmut rerun would; do this while no mutmut run is active.
    Mutants a stalled run left untested are tested the same way.
    """
    import shutil
    import tempfile

    db = sqlite3.connect(workdir / ".mutmut-cache")
    survivors = db.execute(
        "SELECT m.id, s.filename, l.line_number FROM Mutant m "
        "JOIN Line l ON m.line = l.id JOIN SourceFile s ON l.sourcefile = s.id "
        "WHERE m.status IN ('bad_survived', 'untested') ORDER BY s.filename, l.line_number"
    ).fetchall()
    killed: list[int] = []
    module_of = {f: name for name, (files, _) in MODULES.items() for f in files}
    with tempfile.TemporaryDirectory() as tmp:
        pristine = _pristine_package(Path(tmp))
        for mutant_id, filename, line_number in survivors:
            diff = subprocess.run(
                [str(REPO / ".venv/bin/mutmut"), "show", str(mutant_id)],
                cwd=workdir,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            copy = Path(tmp) / "mutant"
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(pristine, copy)
            target = copy / "baton" / Path(filename).relative_to("impl")
            try:
                target.write_text(apply_unified_diff(target.read_text(), diff))
            except ValueError as exc:  # the source moved on since mutmut's run
                print(f"#{mutant_id} {filename}:{line_number + 1}: not applied ({exc})")
                continue
            name = module_of[filename]
            command = pytest_command(name, python=str(REPO / ".venv/bin/python"))
            env = dict(os.environ, CI="true", PYTHONPATH=str(copy))
            try:
                # A mutant that makes the tests loop is detected, as mutmut's timeout is.
                result = subprocess.run(
                    command, cwd=REPO, env=env, capture_output=True, check=False, timeout=120
                )
                detected = result.returncode != 0
                verdict = "KILLED now" if detected else "still survives"
            except subprocess.TimeoutExpired:
                detected, verdict = True, "KILLED now (the tests time out)"
            print(f"#{mutant_id} {filename}:{line_number + 1}: {verdict}", flush=True)
            if detected:
                killed.append(mutant_id)
                # Recorded at once, as mutmut's own rerun would (no run may be active),
                # so an interrupted verification keeps what it established.
                with db:
                    db.execute("UPDATE Mutant SET status = 'ok_killed' WHERE id = ?", (mutant_id,))
            else:
                with db:  # an untested mutant (left by a stalled run) is now tested
                    db.execute(
                        "UPDATE Mutant SET status = 'bad_survived' WHERE id = ?", (mutant_id,)
                    )
    print(f"{len(killed)} of {len(survivors)} survivors killed by the current tests")


def apply_unified_diff(source: str, diff: str) -> str:
    """Apply mutmut's one-file unified diff to ``source``.

    Not patch(1): mutmut pads a hunk at the end of a file with a context line
    the file does not have, which patch rejects. Hunks are applied by their
    line numbers, and every removed line is checked against the source.
    """
    lines = source.splitlines(keepends=True)
    out: list[str] = []
    pos = 0  # index into lines of the next line not yet copied
    for hunk in re.finditer(
        r"^@@ -(\d+)(?:,\d+)? \+\d+(?:,\d+)? @@\n((?:[ +-].*\n?)*)", diff, re.M
    ):
        start = int(hunk.group(1)) - 1
        out += lines[pos:start]
        pos = start
        for row in hunk.group(2).splitlines(keepends=True):
            tag, text = row[0], row[1:]
            if tag == "+":
                out.append(text if text.endswith("\n") else text + "\n")
                continue
            if pos >= len(lines):
                break  # mutmut's padding past the end of the file
            if lines[pos].rstrip("\n") != text.rstrip("\n"):
                raise ValueError(f"diff does not match line {pos + 1}: {text!r}")
            if tag == " ":
                out.append(lines[pos])
            pos += 1
    return "".join(out + lines[pos:])


# --- a sampled AST mutation run, for modules mutmut 2.x cannot parse ----------------
#
# mutmut 2.x parses with parso, which does not know ``match`` statements; the
# core (impl/core.py) and the cluster shell are written with them. This mode
# makes the same kinds of mutants from Python's own AST (comparison and boolean
# operators swapped, ``not`` dropped, integer constants moved by one, ``is`` /
# ``is not`` swapped), draws a reproducible sample, and tests each mutant on a
# private copy of the package, as --verify-survivors does.

_SWAPS: dict[type[ast.AST], type[ast.AST]] = {
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.And: ast.Or,
    ast.Or: ast.And,
}


def _mutation_sites(tree: ast.AST) -> list[tuple[int, str]]:
    """(index in ast.walk order, description) of every mutable node."""
    sites: list[tuple[int, str]] = []
    for k, node in enumerate(ast.walk(tree)):
        if isinstance(node, ast.Compare) and type(node.ops[0]) in _SWAPS:
            sites.append((k, f"line {node.lineno}: {type(node.ops[0]).__name__} swapped"))
        elif isinstance(node, ast.BoolOp):
            sites.append((k, f"line {node.lineno}: {type(node.op).__name__} swapped"))
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            sites.append((k, f"line {node.lineno}: not dropped"))
        elif isinstance(node, ast.Constant) and type(node.value) is int and hasattr(node, "lineno"):
            sites.append((k, f"line {node.lineno}: {node.value} -> {node.value + 1}"))
    return sites


def _mutate(source: str, site: int) -> str:
    tree = ast.parse(source)
    for k, node in enumerate(ast.walk(tree)):
        if k != site:
            continue
        if isinstance(node, ast.Compare):
            node.ops[0] = _SWAPS[type(node.ops[0])]()  # type: ignore[assignment]
        elif isinstance(node, ast.BoolOp):
            node.op = _SWAPS[type(node.op)]()  # type: ignore[assignment]
        elif isinstance(node, ast.UnaryOp):
            node.op = ast.UAdd()  # ``+x`` of a bool is its int: truthiness kept, ``not`` gone
        elif isinstance(node, ast.Constant):
            node.value = node.value + 1
        break
    return ast.unparse(tree)


def ast_sample(name: str, count: int, seed: int, timeout: int) -> None:
    """Test ``count`` sampled AST mutants of module ``name``; print each verdict and the rate."""
    import random
    import shutil
    import tempfile

    files = MODULES[name][0]
    sites = [
        (f, k, d) for f in files for k, d in _mutation_sites(ast.parse((REPO / f).read_text()))
    ]
    sample = random.Random(seed).sample(sites, min(count, len(sites)))
    print(
        f"== {name}: {len(sites)} mutation sites, testing a sample of {len(sample)} (seed {seed})"
    )
    killed = 0
    with tempfile.TemporaryDirectory() as tmp:
        pristine = _pristine_package(Path(tmp))
        for done, (filename, site, description) in enumerate(sample, 1):
            copy = Path(tmp) / "mutant"
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(pristine, copy)
            target = copy / "baton" / Path(filename).relative_to("impl")
            target.write_text(_mutate(target.read_text(), site))
            command = pytest_command(name, python=str(REPO / ".venv/bin/python"))
            env = dict(os.environ, CI="true", PYTHONPATH=str(copy))
            start = time.perf_counter()
            try:
                result = subprocess.run(
                    command, cwd=REPO, env=env, capture_output=True, check=False, timeout=timeout
                )
                detected = result.returncode != 0
                verdict = "killed" if detected else "SURVIVED"
            except subprocess.TimeoutExpired:
                detected, verdict = True, "killed (timeout)"
            killed += detected
            print(
                f"[{done}/{len(sample)}] {filename} {description}: {verdict} "
                f"({time.perf_counter() - start:.0f} s)",
                flush=True,
            )
    print(f"{killed} of {len(sample)} sampled mutants killed")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help=f"subset of {sorted(MODULES)}")
    parser.add_argument("--report", action="store_true", help="only print the table")
    parser.add_argument("--cache", type=Path, default=CACHE, help="mutmut cache to report on")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=REPO,
        help="run mutmut from here (a directory of symlinks to the repository's top level "
        "lets two modules with disjoint imports run at once, each with its own cache)",
    )
    parser.add_argument(
        "--verify-survivors",
        action="store_true",
        help="re-test recorded survivors against a private patched copy and record the "
        "kills in the cache (run it when no mutmut run is active)",
    )
    parser.add_argument("--survivors", action="store_true", help="list surviving mutants")
    parser.add_argument(
        "--ast-sample",
        type=int,
        metavar="K",
        help="test K sampled mutants made from Python's AST (for modules mutmut 2.x "
        "cannot parse, e.g. core: match statements); a private copy, never the tree",
    )
    parser.add_argument("--seed", type=int, default=1, help="sample seed (--ast-sample)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per mutant's tests")
    args = parser.parse_args()
    unknown = set(args.modules) - set(MODULES)
    if unknown:
        parser.error(f"unknown modules {sorted(unknown)}; choose from {sorted(MODULES)}")
    if args.verify_survivors:
        verify_survivors(args.workdir)
        return 0
    if args.ast_sample:
        for name in args.modules or ["core"]:
            ast_sample(name, args.ast_sample, args.seed, args.timeout)
        return 0
    if not args.report:
        for name in args.modules or list(MODULES):
            run_module(name, args.workdir)
    report(args.workdir / ".mutmut-cache" if args.workdir != REPO else args.cache, args.survivors)
    return 0


if __name__ == "__main__":
    sys.exit(main())
