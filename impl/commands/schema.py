"""Print a JSON Schema (trace, verdict, vectors, verify report) or the vocabulary.

'vocabulary' is not a schema but the protocol's vocabulary as data: lifecycle
states, events and transitions, the validation context fields (what each
records, its honest value), the checks in order with their exact conditions,
every reason with its invariant, the allowed-invariant set and the
not-applicable values, generated from the spec.

The schemas are generated from the same tables the code uses (baton.trace.KINDS,
baton.verdict, baton.vectors) and shipped as impl/schemas/*.json; this prints the
shipped file, which the tests keep equal to the generated one.

examples:
  baton schema trace
  baton schema verdict > verdict.schema.json
  baton schema vectors
  baton schema report          # the JSON of 'baton verify --json FILE'
  baton schema vocabulary      # states, events, transitions, checks, reasons, invariants

exit status: 0 printed, 2 unknown schema name.
"""

from __future__ import annotations

import argparse
import json
from importlib import resources
from typing import Any

SCHEMAS: dict[str, str] = {
    "trace": "trace.schema.json",
    "verdict": "verdict.schema.json",
    "vectors": "vectors.schema.json",
    "report": "report.schema.json",
    "scenario": "scenario.schema.json",
    "node-protocol": "node-protocol.schema.json",
    "vocabulary": "vocabulary.json",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", choices=sorted(SCHEMAS), help="which schema to print")


def load(name: str) -> dict[str, Any]:
    """The shipped schema ``name`` (package data baton/schemas/)."""
    text = resources.files("baton").joinpath("schemas", SCHEMAS[name]).read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def run(args: argparse.Namespace) -> int:
    print(json.dumps(load(args.name), indent=2))
    return 0
