"""Regenerate the committed counterexamples and result-kind table the docs show.

Usage (from the repository root)::

    .venv/bin/python docs/_ext/gen_counterexamples.py [--report FILE]

For every environment assumption in ``baton.spec.cluster.ASSUMPTIONS`` it runs
``baton verify --drop-assumption NAME`` and stores the rendered counterexample
in ``docs/_data/counterexamples/NAME.txt``; for the mutant shown on the proofs
page (:data:`SHOWN_MUTANT`) it stores the rendering and the same run in the
Informal Trace Format (``NAME.itf.json``). With ``--report`` (a JSON report of
a full ``baton verify``) it also writes ``docs/_data/result_kinds.rst``, the
table of each invariant's strongest result kind. Last it writes
``stamp.json`` with a SHA-256 of the model sources the searches depend on.
The searches take a few seconds each on an idle 2-core machine (far more under
load), too slow for every docs build, so the results are committed; the docs
build recomputes the digest and marks the page STALE when the model changed
since.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "docs" / "_data"
OUT = DATA / "counterexamples"
# The mutant whose counterexample the proofs page shows, diff-style: the
# first of the two known ways of losing acknowledged writes.
SHOWN_MUTANT = "restart_keeps_authority"
# The files whose change can change a counterexample.
SOURCES: tuple[str, ...] = (
    "spec/cluster.py",
    "spec/properties.py",
    "spec/validation.py",
    "spec/lifecycle.py",
    "proofs/bmc.py",
    "proofs/counterexample.py",
    "proofs/render.py",
)


def model_digest() -> str:
    """SHA-256 over the model sources, in a fixed order."""
    digest = hashlib.sha256()
    for rel in SOURCES:
        digest.update(rel.encode())
        digest.update((ROOT / rel).read_bytes())
    return digest.hexdigest()


def _verify(*args: str) -> str:
    baton = Path(sys.executable).with_name("baton")
    env_note = f"{baton} verify {' '.join(args)}"
    print(env_note, file=sys.stderr)
    proc = subprocess.run(
        [str(baton), "verify", *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"{env_note} failed:\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def result_kinds_table(report: dict[str, Any]) -> str:
    """An RST table: each invariant, its strongest result kind, what it rests on."""
    from baton.spec.cluster import ASSUMPTION_NAMES

    rows = [("Invariant", "Strongest result kind", "Rests on", "Caught mutants")]
    for entry in report["invariants"].values():
        rests_on = entry["assumptions"]
        if set(rests_on) == set(ASSUMPTION_NAMES):
            rests = f"all {len(ASSUMPTION_NAMES)} environment assumptions"
        else:
            rests = ", ".join(rests_on) or "nothing (finite domain)"
        rows.append(
            (
                entry["name"],
                entry["strongest_kind"] or "-",
                rests,
                str(len(entry["counterexamples"])),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    rule = "  ".join("=" * w for w in widths)
    lines = [
        f"Measured by ``baton verify`` ({report['mode']} run, {report['generator']}).",
        "",
        rule,
    ]
    for k, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if k == 0:
            lines.append(rule)
    lines.append(rule)
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--report", type=Path, help="a full 'baton verify --json' report")
    args = parser.parse_args()
    from baton.spec.cluster import ASSUMPTION_NAMES

    OUT.mkdir(parents=True, exist_ok=True)
    for name in ASSUMPTION_NAMES:
        text = _verify("--drop-assumption", name)
        (OUT / f"{name}.txt").write_text(text, encoding="utf-8")
    itf_path = OUT / f"{SHOWN_MUTANT}.itf.json"
    text = _verify("--mutant", SHOWN_MUTANT, "--itf", str(itf_path))
    (OUT / f"{SHOWN_MUTANT}.txt").write_text(text, encoding="utf-8")
    if args.report is not None:
        report = json.loads(args.report.read_text(encoding="utf-8"))
        (DATA / "result_kinds.rst").write_text(result_kinds_table(report), encoding="utf-8")
    (OUT / "stamp.json").write_text(
        json.dumps({"model_sha256": model_digest()}, indent=2) + "\n", encoding="utf-8"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
