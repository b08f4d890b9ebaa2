"""Write the conformance test vectors: lifecycle, validation, protocol, scenarios, traces.

Every vector is computed from the spec (the lifecycle table: every state x
event; the validation rule: all 1512 points of the domain) or from the
runtime's pure core (protocol stories -- writes, crashes, promotion requests
with their parameters, expected decisions and end state -- for any
implementation; Baton's internal step scenarios with crashes at every marker
operation and seeded random walks; each expected trace is checked by the
oracle first), plus the example traces with their expected verdicts. Output is byte-identical on
re-run; DIR/manifest.json lists counts and SHA-256 of each file and
DIR/README.md explains how to replay them with 'python -m baton.replay'.

examples:
  baton vectors --out vectors/
  baton vectors --out vectors/ --traces examples/traces
  baton vectors --out vectors/ --json manifest.json   # the manifest (counts, SHA-256)
  python -m baton.replay vectors/ --command ./my_adapter --stream

A checkout and an installed wheel write the same vector set: the wheel carries
examples/ as package data. If an installation has no example traces or
scenario files, the command fails (exit 2) rather than write fewer vectors.

exit status: 0 written, 2 bad usage (e.g. DIR is a file, no example traces).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from baton.errors import UsageError
from baton.output import add_output_args, check_output_path, emit_json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, metavar="DIR", help="directory to write into")
    add_output_args(parser, junit=False)
    parser.add_argument(
        "--traces",
        metavar="DIR",
        help="example traces to include as trace vectors (default: the examples/traces this "
        "installation carries: the checkout's, or the wheel's copy)",
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
    if traces is None:
        # Never a silently smaller vector set: say what is missing and how to supply it.
        raise UsageError(
            "no example traces found (this installation carries no examples/traces); "
            "give --traces DIR with Baton's examples/traces from a checkout"
        )
    if not traces.is_dir():
        raise UsageError(f"--traces {traces} is not a directory")
    scenarios = Path(args.scenarios) if args.scenarios else vectors.default_scenarios_dir()
    if scenarios is None:
        raise UsageError(
            "no runtime scenario files found (this installation carries no examples/*.json); "
            "give --scenarios DIR with Baton's examples/ from a checkout"
        )
    if not scenarios.is_dir():
        raise UsageError(f"--scenarios {scenarios} is not a directory")
    if args.json is not None:
        check_output_path(args.json)
    try:
        manifest = vectors.generate(out, traces, scenarios)
    except KeyboardInterrupt:
        print("baton vectors: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        raise UsageError(f"cannot write {out}: {exc.strerror or exc}") from None
    if args.json is not None:
        emit_json(manifest, args.json)
    if args.json != "-":
        counts = ", ".join(f"{k} {v}" for k, v in manifest["counts"].items())
        print(f"wrote {manifest['total']} vectors to {out}/ ({counts}); see {out}/README.md")
    return 0
