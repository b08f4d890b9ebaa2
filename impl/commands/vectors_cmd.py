"""Write the conformance test vectors: lifecycle, validation, scenarios, traces.

Every vector is computed from the spec (the lifecycle table: every state x
event; the validation rule: all 1512 points of the domain) or from the
runtime's pure core (scenarios with crashes at every marker operation, seeded
random walks; each expected trace is checked by the oracle first), plus the
example traces with their expected verdicts. Output is byte-identical on
re-run; DIR/manifest.json lists counts and SHA-256 of each file and
DIR/README.md explains how to replay them with 'python -m baton.replay'.

examples:
  baton vectors --out vectors/
  baton vectors --out vectors/ --traces examples/traces
  python -m baton.replay vectors/ --command ./my_adapter

exit status: 0 written, 2 bad usage (e.g. DIR is a file).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from baton.errors import UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, metavar="DIR", help="directory to write into")
    parser.add_argument(
        "--traces",
        metavar="DIR",
        help="example traces to include as trace vectors (default: examples/traces of the "
        "source tree, when present)",
    )
    parser.add_argument(
        "--scenarios",
        metavar="DIR",
        help="runtime scenario files (*.json) to run with 'baton run' and include as trace "
        "vectors (default: examples/ of the source tree, when present)",
    )


def run(args: argparse.Namespace) -> int:
    from baton import vectors

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a directory")
    traces = Path(args.traces) if args.traces else vectors.default_traces_dir()
    if traces is not None and not traces.is_dir():
        raise UsageError(f"--traces {traces} is not a directory")
    scenarios = Path(args.scenarios) if args.scenarios else vectors.default_scenarios_dir()
    if scenarios is not None and not scenarios.is_dir():
        raise UsageError(f"--scenarios {scenarios} is not a directory")
    manifest = vectors.generate(out, traces, scenarios)
    counts = ", ".join(f"{k} {v}" for k, v in manifest["counts"].items())
    print(f"wrote {manifest['total']} vectors to {out}/ ({counts}); see {out}/README.md")
    return 0
