"""baton test / baton node: the workbench judges both ways, and its outputs are well formed.

Short runs only (each a few seconds of real processes); the 1,000-seed run is
bench/harness.py.
"""

from __future__ import annotations

import json
import shutil
import sys
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


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_flawed_example_is_caught_naming_the_invariants(tmp_path: Path) -> None:
    """The flawed Node.js node (force over an active primary; promotion with an unknown
    ack bound) fails, and the black-box checks name P6-A1 / P6-S1."""
    flawed = ("node", str(ROOT / "examples" / "nodes" / "flawed.js"))
    summary = _run(tmp_path, flawed, seed=FLAWED_SEED)
    assert summary["status"] == "violation"
    black_box = {v["invariant"] for v in summary["violations"] if v["source"] == "black-box"}
    assert black_box & {"P6-A1", "P6-S1"}, summary["violations"][:3]


FLAWED_SEED = 0
