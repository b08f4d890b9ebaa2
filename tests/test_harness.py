"""baton test / baton node: the workbench judges both ways, and its outputs are well formed.

Short runs only (each a few seconds of real processes); the 1,000-seed run is
bench/harness.py.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from baton import oracle
from baton.cli import main
from baton.harness import protocol
from baton.harness.runner import run_seed
from baton.harness.workbench import RunConfig

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "impl" / "schemas"
REFERENCE = (sys.executable, "-m", "baton.cli", "node")


def _run(tmp_path: Path, argv: tuple[str, ...], seed: int, ticks: int = 150) -> dict[str, Any]:
    config = RunConfig(argv=argv, run_dir=tmp_path / f"seed-{seed}", seed=seed, ticks=ticks)
    return run_seed(config, " ".join(argv), f"replay {seed}")


def test_shipped_protocol_schema_is_generated() -> None:
    """impl/schemas/node-protocol.schema.json is exactly what protocol.MESSAGES generates."""
    shipped = json.loads((SCHEMAS / "node-protocol.schema.json").read_text("utf-8"))
    assert shipped == protocol.protocol_schema()
    jsonschema.Draft202012Validator.check_schema(shipped)


def test_reference_node_passes_and_its_trace_is_accepted(tmp_path: Path) -> None:
    """A default run of 'baton node': faults of every kind occur, a promotion succeeds,
    the oracle and the black-box checks find nothing, and 'baton check' accepts the trace."""
    summary = _run(tmp_path, REFERENCE, seed=1)
    assert summary["status"] == "pass", summary["violations"][:2]
    assert summary["problems"] == []
    assert {"kill", "restart", "pause", "partition"} <= set(summary["faults"])
    assert summary["promotions"].get("succeeded", 0) >= 1
    trace_path = Path(summary["trace"])
    with open(trace_path, encoding="utf-8") as stream:
        verdict = oracle.check_stream(stream, str(trace_path))
    assert verdict.status == "conforms", verdict.violations[:1]
    assert main(["check", "--require-full", str(trace_path)]) == 0
    page = Path(summary["report"]).read_text("utf-8")
    assert "<svg" in page and "PASS" in page
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")  # self-contained
    for line in trace_path.read_text("utf-8").splitlines():
        event = json.loads(line)
        assert event["kind"] != "client" or event["outcome"] in ("ok", "error", "timeout")
    for node_dir in (tmp_path / "seed-1" / "nodes").iterdir():  # left for inspection
        assert (node_dir / "marker").is_file()


def test_the_tutorials_minimal_node_passes(tmp_path: Path) -> None:
    """examples/nodes/minimal.py (docs/harness.md): never fails over, so safe; it reports
    no events, so the oracle's verdict is partial and the black-box checks carry the run."""
    minimal = (sys.executable, str(ROOT / "examples" / "nodes" / "minimal.py"))
    summary = _run(tmp_path, minimal, seed=1, ticks=80)
    assert (summary["status"], summary["problems"]) == ("pass", [])
    assert summary["oracle"] == "conforms_partial"
    assert summary["promotions"].get("rejected", 0) >= 1  # the operator did ask
    assert "succeeded" not in summary["promotions"]


NEEDS_NODE_JS = pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
FLAWED = f"node {ROOT / 'examples' / 'nodes' / 'flawed.js'}"
FLAWED_SEED = 4


@NEEDS_NODE_JS
def test_flawed_example_is_caught_naming_the_invariants(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The flawed Node.js node (force over an active primary; promotion with an unknown ack
    bound) fails with exit 1: the oracle names P6-F1 (it allowed what the spec denies), the
    black-box checks name P6-A1 and P6-S1 from what clients saw, and the replay is printed."""
    code = main(
        [
            "test",
            "--bin",
            FLAWED,
            "--seed",
            str(FLAWED_SEED),
            "--dir",
            str(tmp_path),
            "--json",
            str(tmp_path / "result.json"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 1
    assert f"--seed {FLAWED_SEED}" in out and "replay: baton test --bin" in out
    run = json.loads((tmp_path / "result.json").read_text("utf-8"))["runs"][0]
    by_source: dict[str, set[str]] = {}
    for v in run["violations"]:
        by_source.setdefault(v["source"], set()).add(v["invariant"])
    assert "P6-F1" in by_source["oracle"]
    assert {"P6-A1", "P6-S1"} <= by_source["black-box"]
    assert "VIOLATION" in Path(run["report"]).read_text("utf-8")


@NEEDS_NODE_JS
def test_same_seed_same_run(tmp_path: Path) -> None:
    """Replaying a failing seed gives the same trace, byte for byte: same faults, same
    message order, same violation (the barrier makes each node's output per tick a
    function of its input)."""
    argv = ("node", str(ROOT / "examples" / "nodes" / "flawed.js"))
    first = _run(tmp_path / "a", argv, FLAWED_SEED, ticks=80)
    second = _run(tmp_path / "b", argv, FLAWED_SEED, ticks=80)
    assert first["violations"] == second["violations"] != []
    assert Path(first["trace"]).read_bytes() == Path(second["trace"]).read_bytes()


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if text in cmdline:
                found.append(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to list processes")
def test_interrupt_stops_every_process_and_exits_130(tmp_path: Path) -> None:
    """Ctrl-C (SIGINT) mid-run: exit 130, one line and no traceback, no node process left,
    node directories left for inspection."""
    bin_text = f"{sys.executable} -m baton.cli node --dir {{dir}}"
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "baton.cli",
            "test",
            "--bin",
            bin_text,
            "--seeds",
            "0..5",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob("seed-*/nodes/n2/marker")):  # every node has started
        assert time.monotonic() < deadline and child.poll() is None, "nodes never started"
        time.sleep(0.1)
    assert _processes_mentioning(str(tmp_path))
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=30)
    assert child.returncode == 130
    assert "Traceback" not in err and "interrupted" in err
    assert _processes_mentioning(str(tmp_path)) == []
    assert list(tmp_path.glob("seed-*/nodes/n0/marker"))
