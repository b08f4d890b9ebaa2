"""Run one seed end to end: the workbench, the trace file, the judgement, the HTML report."""

from __future__ import annotations

import io
import shlex
from pathlib import Path
from typing import Any

from baton import trace
from baton.harness import checks
from baton.harness.report import render_report
from baton.harness.workbench import RunConfig, Workbench
from baton.storage import write_artifact

TRACE_FILE = "trace.jsonl"
REPORT_FILE = "report.html"


def replay_command(bin_text: str, nodes: int, seed: int, ticks: int, default_ticks: int) -> str:
    extra = f" --ticks {ticks}" if ticks != default_ticks else ""
    return f"baton test --bin {shlex.quote(bin_text)} --nodes {nodes} --seed {seed}{extra}"


def write_trace(path: Path, header: dict[str, Any], events: list[dict[str, Any]]) -> None:
    out = io.StringIO()
    writer = trace.TraceWriter(
        out,
        header["nodes"],
        header["mode"],
        header["initial_primary"],
        header["epoch"],
        header.get("emits"),
        header.get("producer"),
    )
    for event in events:
        writer.emit(event)
    writer.close()
    write_artifact(path, out.getvalue())


def run_seed(config: RunConfig, bin_text: str, replay: str) -> dict[str, Any]:
    """Run, record, judge, report; returns the run's JSON summary (status pass/violation)."""
    bench = Workbench(config)
    result = bench.run()
    run_dir = config.run_dir
    trace_path = run_dir / TRACE_FILE
    write_trace(trace_path, result.header, result.events)
    verdict = checks.oracle_verdict(str(trace_path))
    findings = checks.black_box(result.events) + checks.oracle_findings(verdict, result.events)
    findings.sort(key=lambda f: f.tick if f.tick is not None else 1 << 30)
    status = "pass" if not findings and verdict.exit_code == 0 else "violation"
    if status == "pass" and result.problems:
        status = "protocol_error"  # the node broke the protocol: nothing was judged safe
    if verdict.status == "malformed":
        status = "violation"
        reason = verdict.error.reason if verdict.error is not None else "malformed"
        findings.append(checks.Finding("trace", "oracle", f"the trace is malformed: {reason}"))
    summary: dict[str, Any] = {
        "seed": config.seed,
        "status": status,
        "nodes": bench.names,
        "command": f"--bin {bin_text!r} --nodes {config.nodes} --seed {config.seed}",
        "replay": replay,
        "oracle": verdict.status,
        "events": len(result.events) + 2,
        "violations": [f.as_json() for f in findings],
        "invariants": sorted({f.invariant for f in findings}),
        "faults": dict(result.faults),
        "promotions": dict(result.promotions),
        "network": dict(result.network),
        "problems": result.problems,
        "stopped_early": result.stopped_early,
        "ticks": result.ticks_run,
        "seconds": round(result.seconds, 2),
        "trace": str(trace_path),
        "report": str(run_dir / REPORT_FILE),
        "node_dirs": str(run_dir / "nodes"),
        "logs": str(run_dir / "logs"),
    }
    write_artifact(run_dir / REPORT_FILE, render_report(summary, result.events))
    return summary
