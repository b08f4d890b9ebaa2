"""Ray as a transport: the same counts, verdicts and counterexample lengths as one machine.

One local Ray instance (two CPUs, loopback only, no dashboard) serves the
whole module and is shut down at its end. Ray is an optional extra; the
tests that need it are skipped, saying so, when it is not installed. The
tests of the partition encoding and of Ray being optional run either way.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from baton import cli
from baton.proofs import distributed, ray_backend
from baton.proofs import explore as ex


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[ModuleType]:
    try:
        import importlib.util

        if importlib.util.find_spec("ray") is None:
            raise ImportError
    except ImportError:
        pytest.skip("Ray is not installed (pip install -e '.[ray]')")
    os.environ.setdefault(ray_backend.LOOPBACK_ONLY, "0")  # before ray is imported
    import ray

    ray.init(
        num_cpus=2,
        include_dashboard=False,
        logging_level=logging.ERROR,
        log_to_driver=False,
    )
    try:
        yield ray
    finally:
        ray.shutdown()


# --- the partitioned search on Ray actors vs the sequential search ------------------------


def test_ray_search_counts_what_the_sequential_search_counts(ray_cluster: ModuleType) -> None:
    """Async (N=3: symmetry at work), through the API."""
    bounds = ex.Bounds(3, 0, 1, "async")
    local = ex.explore(bounds)
    on_ray = ex.explore(bounds, workers=2, ray=ray_backend.LOCAL)
    assert (on_ray.states, on_ray.transitions, on_ray.max_depth, on_ray.verdict) == (
        local.states,
        local.transitions,
        local.max_depth,
        local.verdict,
    )
    assert local.passed and on_ray.backend == "ray" and on_ray.workers == 2
    # Every state is stored by exactly one partition, and both hold some.
    assert sum(on_ray.worker_states) == local.states and min(on_ray.worker_states) > 0
    assert len(on_ray.worker_peak_rss_mb) == 2 and min(on_ray.worker_peak_rss_mb) > 0


def test_explore_cli_on_ray_counts_what_the_local_cli_counts(
    ray_cluster: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Sync, through the command: the same JSON counts, and memory per worker shown."""
    model = ["--nodes", "3", "--writes", "0", "--promotions", "1", "--mode", "sync", "--quiet"]
    docs = []
    for extra in ([], ["--ray"]):
        out = tmp_path / f"explore{len(docs)}.json"
        assert cli.main(["explore", *model, "--json", str(out), *extra]) == 0
        docs.append(json.loads(out.read_text()))
    local, on_ray = docs
    for field in ("states", "transitions", "max_depth", "verdict"):
        assert on_ray[field] == local[field]
    assert on_ray["backend"] == "ray" and len(on_ray["worker_peak_rss_mb"]) == 2
    assert sum(on_ray["worker_states"]) == local["states"]
    out_text = capsys.readouterr().out
    assert "2 workers" in out_text and "ray partitions: states" in out_text
    assert "peak RSS MB" in out_text


@pytest.mark.parametrize(
    ("bounds", "mutant", "properties", "refinement"),
    [
        # caught by refinement: a step the spec cannot explain
        (ex.Bounds(2, 1, 1), "restart_keeps_authority", ex.PROPERTY_IDS, True),
        # caught by properties alone (9 steps), the chain crossing partitions
        (ex.Bounds(2, 1, 1), "restart_keeps_authority", ex.PROPERTY_IDS, False),
    ],
)
def test_ray_counterexample_is_as_short_as_the_sequential_one(
    ray_cluster: ModuleType,
    bounds: ex.Bounds,
    mutant: str,
    properties: tuple[str, ...],
    refinement: bool,
) -> None:
    local = ex.explore(bounds, mutant=mutant, properties=properties, refinement=refinement)
    on_ray = ex.explore(
        bounds,
        mutant=mutant,
        properties=properties,
        refinement=refinement,
        workers=2,
        ray=ray_backend.LOCAL,
    )
    assert local.counterexample is not None and on_ray.counterexample is not None
    assert on_ray.verdict == local.verdict == "violation"
    assert on_ray.counterexample.violated == local.counterexample.violated
    assert len(on_ray.counterexample) == len(local.counterexample) > 2
    # The reconstructed run is a real run of the (mutated) core, step by step.
    steps = on_ray.counterexample.steps
    mut = ex.MUTANTS[mutant]
    for before, after in itertools.pairwise(steps):
        assert any(
            ex.label(a) == after.action and t == after.state
            for a, t, _m in ex.successors(before.state, mut)
        )
    if not refinement:
        assert set(on_ray.counterexample.violated) <= set(ex.violated(steps[-1].state))


# --- independent jobs: obligations and seeds -----------------------------------------------


def _verify_json(tmp: Path, ray: bool) -> dict[str, Any]:
    out = tmp / ("ray.json" if ray else "local.json")
    argv = ["verify", "--quick", "--json", str(out)]
    for prefix in ("lifecycle.exact", "mutant.validator.allow_unknown", "explore.N2"):
        argv += ["--only", prefix]
    assert cli.main([*argv, *(["--ray"] if ray else [])]) == 0
    data: dict[str, Any] = json.loads(out.read_text())
    return data


def test_verify_on_ray_reaches_the_local_verdicts(
    ray_cluster: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A proof, a mutant that must be caught, an exhaustive search: the same
    obligations, results and kinds (P6-* properties included) as a local run."""
    local, on_ray = _verify_json(tmp_path, False), _verify_json(tmp_path, True)

    def verdicts(doc: dict[str, Any]) -> list[tuple[Any, ...]]:
        return [(o["name"], o["passed"], o["kind"], o["result"]) for o in doc["obligations"]]

    assert verdicts(on_ray) == verdicts(local) and len(verdicts(local)) == 3
    assert on_ray["passed"] and "Ray actor(s)" in capsys.readouterr().err


def test_simulate_on_ray_gives_the_local_report_and_replay_commands(
    ray_cluster: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Seeds of a broken runtime: the same JSON (in seed order, trace hashes
    included) and each failing seed with its local replay command."""
    argv = ["simulate", "--seeds", "0..30", "--mutant", "restart_keeps_authority"]
    docs = []
    for extra in ([], ["--ray"]):
        out = tmp_path / f"sim{len(docs)}.json"
        assert cli.main([*argv, "--json", str(out), *extra]) == 1
        doc = json.loads(out.read_text())
        for record in doc["seeds"]:
            record.pop("seconds")
        docs.append(doc)
    local, on_ray = docs
    assert on_ray == local and 0 < local["failed"] < local["runs"]
    err = capsys.readouterr().err
    for record in local["seeds"]:
        if not record["ok"]:
            assert err.count(f"replay: {record['replay']}") == 2  # once per run


def _trace_digests(doc: dict[str, Any]) -> list[str]:
    """Each run's trace, hashed: the bytes a seed's nodes and faults produced."""
    import hashlib

    return [hashlib.sha256(Path(run["trace"]).read_bytes()).hexdigest() for run in doc["runs"]]


def _comparable(doc: dict[str, Any]) -> dict[str, Any]:
    """A `baton test` JSON without what differs by where and when it ran."""
    runs = []
    for run in doc["runs"]:
        where = {"seconds", "trace", "report", "node_dirs", "logs"}
        runs.append({k: v for k, v in run.items() if k not in where})
    return {**{k: v for k, v in doc.items() if k not in {"runs", "seconds"}}, "runs": runs}


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js for the flawed node")
def test_harness_seeds_on_ray_give_the_local_runs(
    ray_cluster: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`baton test --seeds A..B --ray`: each seed a Ray task, the same verdicts,
    violations and traces (byte for byte) as the local run, in seed order, and
    the failing seeds' local replay commands."""
    flawed = f"node {Path(__file__).resolve().parents[1] / 'examples' / 'nodes' / 'flawed.js'}"
    docs = []
    for extra in ([], ["--ray"]):
        where = tmp_path / f"runs{len(docs)}"
        out = tmp_path / f"test{len(docs)}.json"
        argv = ["test", "--bin", flawed, "--seeds", "0..1", "--ticks", "80"]
        assert cli.main([*argv, "--dir", str(where), "--json", str(out), *extra]) == 1
        docs.append(json.loads(out.read_text("utf-8")))
    local, on_ray = docs
    assert [r["seed"] for r in on_ray["runs"]] == [0, 1]
    assert _comparable(on_ray) == _comparable(local)
    assert _trace_digests(on_ray) == _trace_digests(local)
    assert any(run["violations"] for run in local["runs"])
    assert "replay: baton test --bin" in capsys.readouterr().out


# --- the encoding and the partition hash (no Ray needed) ----------------------------------


def test_packed_keys_round_trip_and_are_compact() -> None:
    """pack_key/unpack_key are inverse on every reachable state; the bytes are small."""
    bounds = ex.Bounds(3, 1, 1, "sync")
    seen: list[ex.ClusterState] = []
    ex.explore(bounds, visit=seen.append)
    longest = 0
    for s in seen[::7]:
        skey = ex.state_key(s)
        packed = distributed.pack_key(1, 0, skey)
        assert distributed.unpack_key(packed, bounds.nodes) == (1, 0, skey)
        longest = max(longest, len(packed))
    assert longest < 64


def test_partition_owner_is_stable_across_processes() -> None:
    """Python's str hash is salted per process; the partition hash must not be."""
    keys = [bytes([i, 0, 1, 0, i % 3]) for i in range(40)]
    here = [distributed.owner(k, 3) for k in keys]
    code = f"from baton.proofs import distributed as d;print([d.owner(k, 3) for k in {keys!r}])"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.strip() == str(here)
    assert set(here) == {0, 1, 2}  # and it spreads keys over every partition


# --- Ray stays optional --------------------------------------------------------------------


def test_plain_cli_never_imports_ray() -> None:
    code = (
        "import sys, contextlib, io\n"
        "from baton import cli\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        "        cli.main(['explore', '--help'])\n"
        "    except SystemExit:\n"
        "        pass\n"
        "import baton.proofs.explore, baton.proofs.distributed, baton.proofs.ray_backend\n"
        "print('ray' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    "argv",
    [
        ["explore", "--ray"],
        ["explore", "--ray", "auto", "--workers", "2"],
        ["verify", "--quick", "--only", "lifecycle.exact", "--ray"],
        ["simulate", "--seeds", "0..3", "--ray"],
        ["test", "--bin", "baton node", "--seeds", "0..1", "--ray", "--dir", "unused"],
    ],
)
def test_ray_flag_without_ray_installed_is_a_one_line_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    monkeypatch.setattr(
        ray_backend.importlib.util, "find_spec", lambda name, *a: None if name == "ray" else 1
    )
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "pip install 'ray>=2.60'" in err and "baton[ray]" not in err
