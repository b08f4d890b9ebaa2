"""AST mutation testing of the runtime core, the cluster shell and the node (on demand).

mutmut 2.x parses with parso, which does not know ``match`` statements, and
``impl/core.py`` and ``impl/cluster.py`` are written with them. This runner
makes mutants from Python's own AST instead, tests *every* site, and keeps the
verdicts in a committed results file, so a rerun tests only what changed.

Mutation kinds (one per site): a comparison operator swapped with its
neighbour (``==``/``!=``, ``<``/``<=``, ``>``/``>=``, ``is``/``is not``,
``in``/``not in``), ``and``/``or`` swapped, ``not`` dropped, an integer
constant moved by one, ``True``/``False`` swapped, ``+``/``-`` swapped.

Killers, cheapest first; the first failure kills the mutant:

1. the module's unit tests (``pytest -x``), in the worker process;
2. ``baton verify``'s explorer at its smallest bounds (N=2 W=1 P=1, async
   and sync), called in the same process (``baton.proofs.explore``): every
   step of the mutated core must be a step of the spec, every state must
   satisfy the spec's properties;
3. the rest of ``baton verify``'s explorer bounds (``EXPLORE_FULL``) except
   the two N=3 W=2 P=2 searches (``--deep`` adds them);
4. the slower tests: stateful lockstep runs, the explorer's and simulator's
   tests, resume and durability suites.

A mutant whose bytecode equals the original's is *equivalent* mechanically
and is not run. Survivors are either listed in :data:`EQUIVALENT` with the
reason no test can tell them apart from the original, or they are gaps.

Each mutant runs on a private copy of the package (``impl/`` -> ``baton``,
``spec/``, ``proofs/``) that ``PYTHONPATH`` puts before the editable
install; the working tree is never written. Results are keyed by a
fingerprint of the site: the file, the enclosing function's qualified name
and AST (without line numbers), the mutated expression and the mutation. A
rerun reuses every verdict whose fingerprint is unchanged, except unexplained
survivors, which it tests again (new tests may kill them); ``--fresh``
ignores the results file. A reused verdict assumes the code outside the
enclosing function has not changed how the mutant behaves: rerun with
``--fresh`` before publishing numbers after large changes.

Usage (from the repository root; the tests need CI=true for their profile):

    CI=true nice -n 10 .venv/bin/python bench/mutation/run.py --ast --jobs 2
    .venv/bin/python bench/mutation/run.py --ast --report
"""

from __future__ import annotations

import ast
import contextlib
import datetime
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import types
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / "ast-results.json"
SELF = Path(__file__).resolve()

# A stage is (name, kind, argument): kind "pytest" runs test files with -x,
# kind "explore" runs the explorer at a list of bounds (n, writes, promotions, mode).
Stage = tuple[str, str, list[Any]]

_SMALL_BOUNDS: list[Any] = [[2, 1, 1, "async"], [2, 1, 1, "sync"]]
# The durability suite (fast: about 7 s in all) exercises the storage modules far
# beyond their unit tests; both runners (this one and run.py's mutmut modules) use it.
DURABILITY = [
    "tests/test_crash_recovery.py",
    "tests/test_io_errors.py",
    "tests/test_fsync_mutants.py",
    "tests/test_storage_boundary.py",
    "tests/test_crash_enumeration.py",
    "tests/test_kill.py",
]
_KILLS = ["tests/test_core_mutation_kills.py", "tests/test_mutation_kills.py"]


def _own_kills(name: str) -> list[str]:
    """The kill files' tests for module ``name`` (their names say which module), every
    other test of the unit files; the explorer test is stage 2's job, in-process."""
    return ["-k", f"not verify_explorer and ({name} or not mutation_kills)"]


# module -> (file mutated, killers cheapest first). "explore-verify" is filled in
# from baton.proofs.obligations.EXPLORE_FULL inside the worker (the bounds verify uses).
MODULES: dict[str, tuple[str, list[Stage]]] = {
    "core": (
        "impl/core.py",
        [
            (
                "unit",
                "pytest",
                [
                    "tests/test_runtime_core.py",
                    "tests/test_runtime_lifecycle.py",
                    "tests/test_controller.py",
                    "tests/test_node_runtime.py",
                    # abort, the disable switch and the ambiguity halt (defence in
                    # depth: no explored state reaches it, so only these tests can)
                    "tests/test_abort.py",
                    "tests/test_disable.py",
                    "tests/test_ambiguity.py",
                    # single_controller dropped: concurrent requests, the halt reached
                    "tests/test_dropped_assumptions.py",
                    *_KILLS,
                    *_own_kills("core"),
                ],
            ),
            ("explore N=2 W=1 P=1", "explore", _SMALL_BOUNDS),
            ("explore-verify", "explore", []),
            (
                "slow",
                "pytest",
                [
                    "tests/test_stateful_lockstep.py",
                    "tests/test_stateful_mutants.py",
                    "tests/test_explore.py",
                    "tests/test_simulate.py",
                ],
            ),
        ],
    ),
    "cluster": (
        "impl/cluster.py",
        [
            (
                "unit",
                "pytest",
                [
                    "tests/test_node_runtime.py",
                    "tests/test_controller.py",
                    "tests/test_abort.py",
                    "tests/test_disable.py",
                    "tests/test_hot_path.py",
                    # the runtime's own ambiguity halt (a demonstration reaches it)
                    "tests/test_ambiguity.py",
                    "tests/test_dropped_assumptions.py",
                    *_KILLS,
                    *_own_kills("cluster"),
                ],
            ),
            (
                "slow",
                "pytest",
                [
                    "tests/test_resume.py",  # reopening a cluster from its directories
                    "tests/test_single_controller.py",
                    *DURABILITY,
                    "tests/test_stateful_lockstep.py",
                    "tests/test_stateful_mutants.py",
                    "tests/test_simulate.py",
                ],
            ),
        ],
    ),
    "node": (
        "impl/node.py",
        [
            (
                "unit",
                "pytest",
                ["tests/test_node_runtime.py", *_KILLS, *_own_kills("node")],
            ),
            (
                "slow",
                "pytest",
                [
                    "tests/test_resume.py",
                    *DURABILITY,
                    "tests/test_stateful_lockstep.py",
                    "tests/test_simulate.py",
                    "tests/test_single_controller.py",
                ],
            ),
        ],
    ),
}

# Survivors no test can tell apart from the original, by (file, label) -- the label
# is the site's enclosing function, the expression and its mutant (see Site.label).
# Each reason is the argument; docs/mutation.md repeats them.
_CORE = "impl/core.py"
_CLUSTER = "impl/cluster.py"
_DOWN_NEVER_REACHES_THE_DETAIL = (
    "the detail check runs only after its gate saw the node up (refusal() and "
    "enabled_actions() are gate-then-detail), so the `else` branch for a down node "
    "is never taken"
)
_MEMO_MISS = (
    "a lookup in the memo of action groups that now always misses: the groups are "
    "rebuilt from the same arguments, equal to the memoised ones (only slower)"
)
_EFFECTS_BUILT_IN_ORDER = (
    "every step function builds its effects in phase order already (the effects "
    "contract test, test_core_mutation_kills, checks it on every step the explorer "
    "reaches at N=2 W=1 P=1)"
)

_PREFILTER_ONLY_LOOSENED = (
    "the loop is a prefilter that only skips the exact search below it (the first "
    "AmbiguityHalt of core.enabled_actions) when no two running "
    "nodes claim one epoch; the mutant makes it skip less, never more, so the same halt, "
    "or none, is found"
)

EQUIVALENT: dict[tuple[str, str], str] = {
    (
        _CORE,
        "Effect: `phase: ClassVar[int] = 0` -> `phase: ClassVar[int] = 1`",
    ): "the base class's default: every concrete effect class sets its own phase "
    "(pinned by test_effect_phases_say_durable_visible_observe)",
    (
        _CORE,
        "_crash_detail: `vol.marker_stage if vol is not None else 0` -> "
        "`vol.marker_stage if vol is not None else 1`",
    ): _DOWN_NEVER_REACHES_THE_DETAIL,
    (
        _CORE,
        "_marker_op_detail: `vol.marker_stage if vol is not None else 0` -> "
        "`vol.marker_stage if vol is not None else 1`",
    ): _DOWN_NEVER_REACHES_THE_DETAIL,
    (
        _CORE,
        "_complete_detail: `vol.marker_stage if vol is not None else 0` -> "
        "`vol.marker_stage if vol is not None else 1`",
    ): _DOWN_NEVER_REACHES_THE_DETAIL,
    (
        _CORE,
        "_candidate_groups: `found[0] is observations` -> `found[0] is not observations`",
    ): _MEMO_MISS,
    (_CORE, "_candidate_groups: `found[0]` -> `found[1]`"): _MEMO_MISS,
    (
        _CLUSTER,
        "_same_durable: `model.wal == disk.wal` -> `model.wal != disk.wal`",
    ): "the comparison after `model.marker_role == 'Torn'`, which is never true where "
    "it is asked: the states compared are the core's crash outcomes, and a crash never "
    "leaves a torn marker in the core (the marker's content is fsynced before its "
    "rename, so marker_crash_outcomes never contains 'torn'); a disk that reads as torn "
    "matches no outcome either way (DiskModelMismatch)",
    (
        _CLUSTER,
        "RuntimeCluster.__init__: `self._names[0]` -> `self._names[1]`",
    ): "the initial primary handed to the default recorder, which has no stream and "
    "so writes no trace header: the name is never used (a caller that wants a trace "
    "passes its own recorder)",
    (
        _CLUSTER,
        "RuntimeCluster._apply: `self._performing if self._performing is not None else 0` "
        "-> `self._performing if self._performing is not None else 1`",
    ): "a storage error comes from a node's disk operation, and _on(i) sets _performing "
    "before every one: the fallback is never taken",
    (
        _CORE,
        "observed_context: `cand.volatile.forced if cand.volatile is not None else False` -> "
        "`cand.volatile.forced if cand.volatile is not None else True`",
    ): "only Decide calls observed_context, and Decide's lifecycle gate requires the "
    "candidate up: the branch for a down candidate is never taken",
    (
        _CORE,
        "_abort_detail: `vol.marker_stage if vol is not None else 0` -> "
        "`vol.marker_stage if vol is not None else 1`",
    ): f"{_DOWN_NEVER_REACHES_THE_DETAIL}; and were it taken, the stage is only "
    "compared with the rename's (`stage >= RENAME_STAGE`, 3), which 0 and 1 are both "
    "below: the verdict is None either way",
    (
        _CORE,
        "_error_for: `vol.marker_stage if vol is not None else 0` -> "
        "`vol.marker_stage if vol is not None else 1`",
    ): "the branch is entered only when `_abort_gate` passed, and that gate refuses a "
    "node that is down (`vol is None`): the `else` is never taken (a down candidate's "
    "refusal is the gate's 'is down', an ActionNotEnabled, never AbortAfterRename)",
    (
        _CLUSTER,
        "RuntimeCluster.set_promotion_disabled: `sort_keys=True` -> `sort_keys=False`",
    ): "the record is the dict literal {'disabled', 'operator', 'reason'}, whose keys are "
    "written in sorted order already: json.dumps gives the same bytes with or without "
    "sort_keys (the switch file stays byte-deterministic either way)",
    (
        _CORE,
        "_step_crash: `node.volatile.marker_stage > 0` -> `node.volatile.marker_stage > 1`",
    ): "a crash after one marker operation (write_temp) may only leave the old marker "
    "(marker_crash_outcomes(1) == {'old'}), and before the rename the candidate's marker "
    "still is the Replica marker at its previous epoch (validation denies any other "
    "candidate and its epoch is frozen while it transitions): restoring it changes nothing",
    (
        _CORE,
        "_apply: `len(effects) > 1` -> `len(effects) >= 1`",
    ): "one effect is in phase order by itself: checking it returns the same tuple",
    (
        _CORE,
        "_apply: `len(effects) > 1` -> `len(effects) > 2`",
    ): f"{_EFFECTS_BUILT_IN_ORDER}: leaving two effects unchecked returns the same tuple",
    (
        _CORE,
        "_apply: `phases != sorted(phases)` -> `phases == sorted(phases)`",
    ): f"{_EFFECTS_BUILT_IN_ORDER}: the mutant sorts (stably) only lists already in "
    "order and never meets one that is not, so it returns the same tuple; the sort is a "
    "safety net",
    (
        _CLUSTER,
        "_first_ambiguity_halt: `node.volatile is not None and node.durable.marker_role == "
        "'Primary'` -> `node.volatile is not None or node.durable.marker_role == 'Primary'`",
    ): f"{_PREFILTER_ONLY_LOOSENED}: it counts more nodes as claims",
    (
        _CLUSTER,
        "_first_ambiguity_halt: `node.durable.epoch in claimed` -> "
        "`node.durable.epoch not in claimed`",
    ): f"{_PREFILTER_ONLY_LOOSENED}: it stops at the first claim",
}


# --- sites ---------------------------------------------------------------------------

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
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
}
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


@dataclass(frozen=True)
class Site:
    """One mutant: where it is and what it changes."""

    file: str
    index: int  # position of the mutated node in ast.walk order (this source only)
    line: int
    label: str  # "scope: `before` -> `after`" (unique within the file)
    fingerprint: str  # stable across line shifts; changes when the enclosing code does
    mutated_source: str
    bytecode_equal: bool


def _mutable(node: ast.AST) -> bool:
    if isinstance(node, ast.Compare):
        return type(node.ops[0]) in _SWAPS
    if isinstance(node, ast.BoolOp):
        return True
    if isinstance(node, ast.BinOp):
        return type(node.op) in (ast.Add, ast.Sub)
    if isinstance(node, ast.UnaryOp):
        return isinstance(node.op, ast.Not)
    if isinstance(node, ast.Constant):
        return type(node.value) in (int, bool) and hasattr(node, "lineno")
    return False


def _apply(node: ast.AST) -> None:
    """Mutate ``node`` in place (it is _mutable)."""
    if isinstance(node, ast.Compare):
        node.ops[0] = _SWAPS[type(node.ops[0])]()  # type: ignore[assignment]
    elif isinstance(node, (ast.BoolOp, ast.BinOp)):
        node.op = _SWAPS[type(node.op)]()  # type: ignore[assignment]
    elif isinstance(node, ast.UnaryOp):
        node.op = ast.UAdd()  # ``+x`` of a bool is its int: truthiness kept, ``not`` gone
    elif isinstance(node, ast.Constant):
        node.value = (not node.value) if type(node.value) is bool else node.value + 1


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}


def _code_key(code: types.CodeType) -> tuple[Any, ...]:
    """What a code object does, without its line numbers or file name."""
    consts = tuple(
        _code_key(c) if isinstance(c, types.CodeType) else (type(c).__name__, repr(c))
        for c in code.co_consts
    )
    return (code.co_code, consts, code.co_names, code.co_varnames, code.co_freevars)


def sites_of(file: str, source: str) -> list[Site]:
    """Every mutant of ``source`` (the text of ``file``), in ast.walk order."""
    tree = ast.parse(source)
    original = _code_key(compile(ast.unparse(tree), file, "exec"))
    parents = _parents(tree)
    sites: list[Site] = []
    seen: dict[str, int] = {}
    for index, node in enumerate(ast.walk(tree)):
        if not _mutable(node):
            continue
        # The expression shown: a constant with its parent (``x > 0``), else the node.
        shown = parents[node] if isinstance(node, ast.Constant) else node
        chain: list[str] = []
        scope: ast.AST = node
        scope_node: ast.AST | None = None
        while scope in parents:
            scope = parents[scope]
            if isinstance(scope, _SCOPES):
                chain.append(scope.name)
                if scope_node is None and not isinstance(scope, ast.ClassDef):
                    scope_node = scope
        if scope_node is None:  # module or class level: the statement that holds it
            scope_node = node
            while not isinstance(parents.get(scope_node), (ast.Module, ast.ClassDef)):
                scope_node = parents[scope_node]
        before = ast.unparse(shown)
        kind = type(node).__name__
        mutant_tree = ast.parse(source)
        mutant_node = next(n for k, n in enumerate(ast.walk(mutant_tree)) if k == index)
        _apply(mutant_node)
        mutant_parents = _parents(mutant_tree)
        after = ast.unparse(
            mutant_parents[mutant_node] if isinstance(node, ast.Constant) else mutant_node
        )
        mutated_source = ast.unparse(mutant_tree)
        label = f"{'.'.join(reversed(chain)) or '<module>'}: `{before}` -> `{after}`"
        seen[label] = seen.get(label, 0) + 1
        if seen[label] > 1:  # the same expression mutated the same way twice in one scope
            label += f" (#{seen[label]})"
        digest = hashlib.sha256(
            "\0".join((file, label, kind, ast.dump(scope_node))).encode()
        ).hexdigest()[:16]
        equal = _code_key(compile(mutated_source, file, "exec")) == original
        sites.append(
            Site(file, index, getattr(node, "lineno", 0), label, digest, mutated_source, equal)
        )
    return sites


# --- results -------------------------------------------------------------------------


def load_results(path: Path) -> dict[str, dict[str, Any]]:
    if not path.exists():
        return {}
    data: dict[str, Any] = json.loads(path.read_text())
    return dict(data.get("results", {}))


def save_results(path: Path, results: dict[str, dict[str, Any]]) -> None:
    ordered = dict(sorted(results.items(), key=lambda kv: (kv[1]["file"], kv[1]["line"])))
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"version": 1, "results": ordered}, indent=1) + "\n")
    tmp.replace(path)


def _commit() -> str:
    head = subprocess.run(
        ["git", "rev-parse", "--short=12", "HEAD"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "impl", "spec", "proofs"],
        cwd=REPO,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return head + ("+dirty" if dirty else "")


# --- running one mutant --------------------------------------------------------------


def _run_group(
    stages: Sequence[Stage], copy: Path, timeout: float, deep: bool
) -> tuple[str | None, str]:
    """Run ``stages`` in one worker process on the package at ``copy``.

    Returns (killer, detail): killer None when every stage passed."""
    env = dict(os.environ, CI="true", PYTHONPATH=str(copy), PYTHONHASHSEED="0")
    cmd = [sys.executable, str(SELF), "--worker", json.dumps([list(s) for s in stages])]
    if deep:
        cmd.append("--deep")
    proc = subprocess.Popen(
        cmd,
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # the tests start children: a timeout ends them all
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return "timeout", f"the killers ran longer than {timeout:.0f} s"
    verdict = [line for line in out.splitlines() if line.startswith("MUTATION-VERDICT ")]
    if proc.returncode == 0 and verdict:
        doc = json.loads(verdict[-1].split(" ", 1)[1])
        return doc["killer"], doc["detail"]
    return "crash", f"the worker process exited {proc.returncode}: {out[-300:]!r}"


def _groups(stages: Sequence[Stage]) -> list[list[Stage]]:
    """Stages that share one process: a new process for every pytest stage but the
    first (pytest runs once per process)."""
    groups: list[list[Stage]] = []
    for stage in stages:
        if not groups or stage[1] == "pytest":
            groups.append([stage])
        else:
            groups[-1].append(stage)
    return groups


def test_mutant(
    stages: Sequence[Stage], copy: Path, timeout: float, deep: bool
) -> tuple[str | None, str]:
    """Killer stage name and detail, or (None, "") if the mutant survives them all."""
    start = time.monotonic()
    for group in _groups(stages):
        left = timeout - (time.monotonic() - start)
        if left <= 0:
            return "timeout", f"the killers ran longer than {timeout:.0f} s"
        killer, detail = _run_group(group, copy, left, deep)
        if killer is not None:
            return killer, detail
    return None, ""


def worker_main(stages_json: str, deep: bool) -> int:
    """In the worker process: run the stages in order, print the verdict line."""
    import baton

    stages: list[Stage] = [(s[0], s[1], s[2]) for s in json.loads(stages_json)]
    expected = os.environ["PYTHONPATH"]
    if not str(Path(baton.__file__).resolve()).startswith(str(Path(expected).resolve())):
        print(f"baton imported from {baton.__file__}, not the mutant copy", file=sys.stderr)
        return 3
    killer: str | None = None
    detail = ""
    for name, kind, argument in stages:
        if kind == "pytest":
            killer, detail = _pytest_stage(argument)
        else:
            killer, detail = _explore_stage(argument or _verify_bounds(deep))
        if killer is not None:
            killer = f"{name}: {killer}"
            break
    sys.stdout.flush()
    print("MUTATION-VERDICT " + json.dumps({"killer": killer, "detail": detail}), flush=True)
    return 0


def _verify_bounds(deep: bool) -> list[Any]:
    from baton.proofs import obligations

    return [
        list(b)
        for b in obligations.EXPLORE_FULL
        if list(b) not in _SMALL_BOUNDS and (deep or b[:3] != (3, 2, 2))
    ]


def _pytest_stage(args: list[str]) -> tuple[str | None, str]:
    import pytest

    class _FirstFailure:
        nodeid: str | None = None

        def pytest_runtest_logreport(self, report: Any) -> None:
            if report.failed and self.nodeid is None:
                self.nodeid = report.nodeid

        def pytest_collectreport(self, report: Any) -> None:
            if report.failed and self.nodeid is None:
                self.nodeid = f"collecting {report.nodeid}"

    first = _FirstFailure()
    # A test file not written yet (the kills file) is left out, not a usage error.
    args = [a for a in args if not a.startswith("tests/") or (REPO / a).exists()]
    code = pytest.main(
        ["-x", "-q", "-p", "no:cacheprovider", "--no-header", *args],
        plugins=[first],
    )
    if code in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        return None, ""
    return first.nodeid or f"pytest exit {int(code)}", ""


def _explore_stage(bounds: list[Any]) -> tuple[str | None, str]:
    from baton.proofs import explore

    for n, w, p, mode in bounds:
        b = explore.Bounds(n, w, p, mode)
        try:
            result = explore.explore(b)
        except Exception as exc:  # a mutant that makes the core raise fails the obligation
            return f"explorer {b.label()}", f"raised {type(exc).__name__}: {exc}"
        if not result.passed:
            cx = result.counterexample
            what = ", ".join(cx.violated) if cx is not None else result.verdict
            steps = f"{len(cx) - 1}-step counterexample, " if cx is not None else ""
            return f"explorer {b.label()}", f"{steps}{what}"
    return None, ""


# --- the run -------------------------------------------------------------------------


def _copy_package(dest: Path) -> Path:
    """The working tree's impl/, spec/, proofs/ laid out as the installed package."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "impl", dest / "baton", ignore=ignore)
    shutil.copytree(REPO / "spec", dest / "baton" / "spec", ignore=ignore)
    shutil.copytree(REPO / "proofs", dest / "baton" / "proofs", ignore=ignore)
    return dest


@contextlib.contextmanager
def _mutated(copy: Path, file: str, source: str) -> Iterator[None]:
    """``file`` of the package copy replaced by ``source`` (and its stale bytecode gone:
    a swapped operator keeps the file's size, and mtime has one-second resolution)."""
    target = copy / "baton" / Path(file).relative_to("impl")
    original = target.read_text()

    def drop_bytecode() -> None:
        for pyc in (target.parent / "__pycache__").glob(f"{target.stem}.*.pyc"):
            pyc.unlink(missing_ok=True)

    target.write_text(source)
    drop_bytecode()
    try:
        yield
    finally:
        target.write_text(original)
        drop_bytecode()


def run(
    modules: Sequence[str],
    *,
    jobs: int,
    timeout: float | None,
    fresh: bool,
    deep: bool,
    sample: int | None,
    seed: int,
    results_path: Path,
    match: str | None = None,
    only_stage: str | None = None,
) -> int:
    """Test every site of ``modules`` not already decided; print the table. Exit status 1
    when an unexplained survivor remains, 0 otherwise."""
    started = time.monotonic()
    # --only-stage: measure one kind of killer alone (e.g. the explorer), in its own
    # results file; modules without such a stage are left out.
    stages_of = {
        name: [st for st in MODULES[name][1] if only_stage is None or st[0].startswith(only_stage)]
        for name in modules
    }
    modules = [name for name in modules if stages_of[name]]
    load_start = os.getloadavg()[0]
    results = {} if fresh else load_results(results_path)
    commit = _commit()
    today = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d")
    lock = threading.Lock()
    todo: list[tuple[str, Site]] = []
    current: dict[str, list[Site]] = {}
    reused = 0
    for name in modules:
        file = MODULES[name][0]
        sites = sites_of(file, (REPO / file).read_text())
        current[name] = sites
        keep = {s.fingerprint for s in sites}
        for key in [k for k, v in results.items() if v["file"] == file and k not in keep]:
            del results[key]  # a site that no longer exists
        chosen = sites
        if sample is not None:
            chosen = random.Random(seed).sample(sites, min(sample, len(sites)))
        if match is not None:
            chosen = [s for s in chosen if match in s.label]
        for site in chosen:
            old = results.get(site.fingerprint)
            if site.bytecode_equal:
                results[site.fingerprint] = _record(site, "equivalent", "identical bytecode", "")
                results[site.fingerprint].update(commit=commit, date=today, seconds=0.0)
                reused += 1
                continue
            # A listed equivalent is reused only once it has survived every killer.
            if old is not None and (
                old["verdict"] == "killed"
                or (old["verdict"] == "survived" and (file, site.label) in EQUIVALENT)
            ):
                old.update(line=site.line, label=site.label)
                reused += 1
                continue
            todo.append((name, site))
    print(
        f"== {', '.join(modules)}: {sum(len(v) for v in current.values())} sites; "
        f"{len(todo)} to test, {reused} decided before or by bytecode; {jobs} jobs; "
        f"load average {load_start:.1f}",
        flush=True,
    )
    if todo:
        with tempfile.TemporaryDirectory(prefix="baton-mutants-") as tmp:
            copies = [_copy_package(Path(tmp) / f"w{j}") for j in range(jobs)]
            budgets = _baselines(sorted({name for name, _ in todo}), stages_of, copies, deep)
            if budgets is None:
                return 2
            free = list(copies)
            spent: dict[str, float] = {}  # fingerprint -> seconds so far
            # Two passes: every mutant through its first process (the unit tests and
            # the explorer), then the survivors through the slower tests. The first
            # pass's survivors are known early, and a killed mutant never waits.
            for first_pass in (True, False):
                batch = (
                    todo
                    if first_pass
                    else [
                        (name, site)
                        for name, site in todo
                        if results[site.fingerprint]["verdict"] == "pending"
                    ]
                )
                counter = [0]

                def one(
                    item: tuple[str, Site],
                    first_pass: bool = first_pass,
                    batch_size: int = len(batch),
                    counter: list[int] = counter,
                ) -> None:
                    name, site = item
                    groups = _groups(stages_of[name])
                    chosen = groups[:1] if first_pass else groups[1:]
                    with lock:
                        copy = free.pop()
                    try:
                        limit = (timeout or budgets[name]) - spent.get(site.fingerprint, 0.0)
                        t0 = time.monotonic()
                        with _mutated(copy, site.file, site.mutated_source):
                            killer, detail = test_mutant(
                                [st for g in chosen for st in g], copy, limit, deep
                            )
                        seconds = spent.get(site.fingerprint, 0.0) + time.monotonic() - t0
                        spent[site.fingerprint] = seconds
                    finally:
                        with lock:
                            free.append(copy)
                    if killer is not None:
                        verdict = "killed"
                    else:
                        verdict = "pending" if first_pass and len(groups) > 1 else "survived"
                    record = _record(site, verdict, killer or "", detail)
                    record.update(commit=commit, date=today, seconds=round(seconds, 1))
                    with lock:
                        counter[0] += 1
                        results[site.fingerprint] = record
                        save_results(results_path, results)
                        shown = {
                            "killed": f"killed by {killer}",
                            "pending": "survives the first killers",
                            "survived": "SURVIVED",
                        }[verdict]
                        print(
                            f"[{'1' if first_pass else '2'}: {counter[0]}/{batch_size}] "
                            f"{site.file}:{site.line} {site.label[:90]}: {shown} "
                            f"({seconds:.0f} s)",
                            flush=True,
                        )

                with ThreadPoolExecutor(max_workers=jobs) as pool:
                    list(pool.map(one, batch))
    save_results(results_path, results)
    elapsed = time.monotonic() - started
    unexplained = report(modules, results, current)
    print(
        f"wall time {elapsed / 60:.1f} min with {jobs} jobs (load average "
        f"{load_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end)"
    )
    return 1 if unexplained else 0


def _record(site: Site, verdict: str, killer: str, detail: str) -> dict[str, Any]:
    return {
        "file": site.file,
        "line": site.line,
        "label": site.label,
        "verdict": verdict,
        "killer": killer,
        "detail": detail,
    }


def _baselines(
    names: Sequence[str],
    stages_of: dict[str, list[Stage]],
    copies: Sequence[Path],
    deep: bool,
) -> dict[str, float] | None:
    """Every module's killers must pass on the unmutated package; their time sets the
    per-mutant timeout (4x the baseline plus a minute, for a loaded machine). The
    modules' baselines run at once, one per package copy."""

    def baseline(k: int) -> tuple[str, str | None, str, float]:
        t0 = time.monotonic()
        killer, detail = test_mutant(stages_of[names[k]], copies[k % len(copies)], 1800, deep)
        return names[k], killer, detail, time.monotonic() - t0

    budgets: dict[str, float] = {}
    with ThreadPoolExecutor(max_workers=len(copies)) as pool:
        outcomes = list(pool.map(baseline, range(len(names))))
    for name, killer, detail, seconds in outcomes:
        if killer is not None:
            print(f"the unmutated package fails {name}'s killers: {killer} {detail}")
            return None
        budgets[name] = 4 * seconds + 60
        print(
            f"   baseline {name}: every killer passes in {seconds:.0f} s; "
            f"per-mutant timeout {budgets[name]:.0f} s",
            flush=True,
        )
    return budgets


def report(
    modules: Sequence[str],
    results: dict[str, dict[str, Any]],
    current: dict[str, list[Site]] | None = None,
) -> int:
    """Print the per-module table and every survivor; return the unexplained count."""
    if current is None:
        current = {n: sites_of(MODULES[n][0], (REPO / MODULES[n][0]).read_text()) for n in modules}
    print(
        f"{'module':<9}{'sites':>6}{'killed':>8}{'survived':>9}{'equivalent':>11}"
        f"{'untested':>9}{'kill rate':>10}{'non-equiv.':>11}"
    )
    unexplained = 0
    lines: list[str] = []
    killers: list[str] = []
    for name in modules:
        counts = dict.fromkeys(("killed", "survived", "equivalent", "untested"), 0)
        by_stage: dict[str, int] = {}
        for site in current[name]:
            rec = results.get(site.fingerprint)
            verdict = "untested" if rec is None or rec["verdict"] == "pending" else rec["verdict"]
            if verdict == "killed":
                stage = str(rec["killer"]).split(":")[0] if rec else ""
                by_stage[stage] = by_stage.get(stage, 0) + 1
            if verdict == "survived" and (site.file, site.label) in EQUIVALENT:
                verdict = "equivalent"
                lines.append(f"  equivalent {site.file}:{site.line} {site.label}")
            elif verdict == "survived":
                unexplained += 1
                lines.append(f"  SURVIVED   {site.file}:{site.line} {site.label}")
            counts[verdict] += 1
        tested = counts["killed"] + counts["survived"] + counts["equivalent"]
        rate = f"{100 * counts['killed'] / tested:.1f}%" if tested else "-"
        rest = tested - counts["equivalent"]
        rate_rest = f"{100 * counts['killed'] / rest:.1f}%" if rest else "-"
        print(
            f"{name:<9}{len(current[name]):>6}{counts['killed']:>8}{counts['survived']:>9}"
            f"{counts['equivalent']:>11}{counts['untested']:>9}{rate:>10}{rate_rest:>11}"
        )
        stages = ", ".join(f"{stage} {k}" for stage, k in by_stage.items())
        killers.append(f"  {name} killed by: {stages or '-'}")
    print("\n".join(killers + lines))
    files = {MODULES[name][0] for name in modules}
    labels = {(site.file, site.label) for name in modules for site in current[name]}
    for key in sorted(k for k in EQUIVALENT if k[0] in files and k not in labels):
        print(f"  listed as equivalent but no longer a site (remove it): {key[0]} {key[1]}")
    return unexplained


if __name__ == "__main__" and len(sys.argv) > 2 and sys.argv[1] == "--worker":
    sys.exit(worker_main(sys.argv[2], "--deep" in sys.argv[3:]))
