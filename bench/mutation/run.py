"""Mutation testing of Baton's runtime, run on demand (not in CI).

Wraps mutmut 2.x (``pip install -e '.[mutation]'``), which mutates the target
file IN PLACE and restores it after every mutant; the editable install maps
impl/ to ``baton``, so the mutated file is what the tests import. Each module
is tested against a FAST test selection (below), with ``-x`` so the first
failing test kills the mutant.

Usage (from the repository root):

    CI=true .venv/bin/python bench/mutation/run.py validator lifecycle marker
    .venv/bin/python bench/mutation/run.py --report          # table from cache
    .venv/bin/python bench/mutation/run.py --report --survivors

Kill rate = (killed + timeout) / (mutants - skipped); a timeout means the
mutant made the tests loop, which the suite detects. Results live in
``.mutmut-cache`` (SQLite, repository root; not committed). docs/mutation.md
holds the latest numbers and the survivor analysis.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".mutmut-cache"
PYTEST = ".venv/bin/python -m pytest -x -q -p no:cacheprovider"

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
            "tests/test_mutation_kills.py",
        ],
    ),
    "marker": (
        ["impl/marker.py"],
        ["tests/test_marker.py", "tests/test_fsync_mutants.py", "tests/test_mutation_kills.py"],
    ),
    "wal": (["impl/wal.py"], ["tests/test_wal.py", "tests/test_mutation_kills.py"]),
    "controller": (
        ["impl/controller.py"],
        ["tests/test_controller.py", "tests/test_mutation_kills.py"],
    ),
    "recovery": (
        ["impl/identity.py"],
        ["tests/test_crash_recovery.py", "tests/test_mutation_kills.py"],
    ),
}

STATUSES = ("ok_killed", "bad_timeout", "ok_suspicious", "bad_survived", "skipped", "untested")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_module(name: str) -> None:
    """Run mutmut on one module; refuse to leave a mutated file behind."""
    files, tests = MODULES[name]
    before = {f: _digest(REPO / f) for f in files}
    runner = f"{PYTEST} {' '.join(t for t in tests if (REPO / t).exists())}"
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
    # mutmut's exit status is a bitmask of outcomes (survivors are normal): ignore it.
    subprocess.run(cmd, cwd=REPO, env=env, check=False)
    for f, digest in before.items():
        if _digest(REPO / f) != digest:
            sys.exit(f"ERROR: {f} changed during the run; inspect `git diff {f}` NOW")


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help=f"subset of {sorted(MODULES)}")
    parser.add_argument("--report", action="store_true", help="only print the table")
    parser.add_argument("--cache", type=Path, default=CACHE, help="mutmut cache to report on")
    parser.add_argument("--survivors", action="store_true", help="list surviving mutants")
    args = parser.parse_args()
    unknown = set(args.modules) - set(MODULES)
    if unknown:
        parser.error(f"unknown modules {sorted(unknown)}; choose from {sorted(MODULES)}")
    if not args.report:
        for name in args.modules or list(MODULES):
            run_module(name)
    report(args.cache, args.survivors)
    return 0


if __name__ == "__main__":
    sys.exit(main())
