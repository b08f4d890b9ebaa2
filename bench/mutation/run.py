"""Mutation testing of Baton's runtime, run on demand (not in CI).

Wraps mutmut 2.x (``pip install -e '.[mutation]'``), which mutates the target
file IN PLACE and restores it after every mutant; the editable install maps
impl/ to ``baton``, so the mutated file is what the tests import. Each module
is tested against a FAST test selection (below), with ``-x`` so the first
failing test kills the mutant.

Usage (from the repository root):

    CI=true .venv/bin/python bench/mutation/run.py validator lifecycle marker
    CI=true nice -n 10 .venv/bin/python bench/mutation/run.py --ast --jobs 2  # core, cluster, node
    .venv/bin/python bench/mutation/run.py --report          # table from cache
    .venv/bin/python bench/mutation/run.py --report --survivors

Kill rate = (killed + timeout) / (mutants - skipped); a timeout means the
mutant made the tests loop, which the suite detects. Results live in
``.mutmut-cache`` (SQLite, repository root; not committed). docs/mutation.md
holds the latest numbers and the survivor analysis.

The runtime core and the cluster shell use ``match`` statements,
which mutmut 2.x cannot parse: ``--ast`` tests them and the node with ast_run.py (beside
this file), which mutates Python's AST, tests every site on a private copy of
the package and keeps its verdicts in ast-results.json.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import ast_run  # the AST runner beside this file (core, cluster, node)

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".mutmut-cache"

# The durability suite, shared with the AST runner; a mutant it kills is killed by
# the README test command.
_DURABILITY = ast_run.DURABILITY

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
    # core, cluster, node: ast_run.py (mutmut 2.x cannot parse the match statements of
    # core and cluster; node is tested with them, against the same killers).
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
        "--ast",
        action="store_true",
        help="AST mutation of every site of core, cluster, node (or the modules named): "
        "for modules mutmut 2.x cannot parse (match statements); see ast_run.py",
    )
    parser.add_argument("--jobs", type=int, default=2, help="parallel mutants (--ast)")
    parser.add_argument("--fresh", action="store_true", help="ignore the recorded verdicts (--ast)")
    parser.add_argument(
        "--deep",
        action="store_true",
        help="also run verify's N=3 W=2 P=2 explorer searches on each survivor (--ast)",
    )
    parser.add_argument("--sample", type=int, metavar="K", help="only K sampled sites (--ast)")
    parser.add_argument("--seed", type=int, default=1, help="sample seed (--sample)")
    parser.add_argument(
        "--match", metavar="TEXT", help="only sites whose label contains TEXT (--ast)"
    )
    parser.add_argument(
        "--only-stage",
        metavar="NAME",
        help="only the killer stages whose name starts with NAME, e.g. 'explore' for "
        "baton verify's explorer alone (--ast; use a separate --results file)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        help="seconds per mutant (--ast; default 4x the unmutated killers' time + 60)",
    )
    parser.add_argument(
        "--results", type=Path, default=ast_run.RESULTS, help="verdicts file (--ast)"
    )
    args = parser.parse_args()
    if args.ast:
        names = args.modules or list(ast_run.MODULES)
        unknown = set(names) - set(ast_run.MODULES)
        if unknown:
            parser.error(f"--ast mutates {sorted(ast_run.MODULES)}, not {sorted(unknown)}")
        if args.jobs < 1:
            parser.error("--jobs must be at least 1")
        if args.report:
            return 1 if ast_run.report(names, ast_run.load_results(args.results)) else 0
        return ast_run.run(
            names,
            jobs=args.jobs,
            timeout=args.timeout,
            fresh=args.fresh,
            deep=args.deep,
            sample=args.sample,
            seed=args.seed,
            results_path=args.results,
            match=args.match,
            only_stage=args.only_stage,
        )
    unknown = set(args.modules) - set(MODULES)
    if unknown:
        parser.error(f"unknown modules {sorted(unknown)}; choose from {sorted(MODULES)}")
    if args.verify_survivors:
        verify_survivors(args.workdir)
        return 0
    if not args.report:
        for name in args.modules or list(MODULES):
            run_module(name, args.workdir)
    report(args.workdir / ".mutmut-cache" if args.workdir != REPO else args.cache, args.survivors)
    return 0


if __name__ == "__main__":
    sys.exit(main())
