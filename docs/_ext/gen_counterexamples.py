"""Regenerate the committed counterexamples shown on the model page.

Usage (from the repository root)::

    .venv/bin/python docs/_ext/gen_counterexamples.py

For every environment assumption in ``baton.spec.cluster.ASSUMPTIONS`` it runs
``baton verify --drop-assumption NAME`` and stores the rendered counterexample
in ``docs/_data/counterexamples/NAME.txt``, then writes ``stamp.json`` with a
SHA-256 of the model sources the search depends on. One of these searches
takes about 30 s on an idle 2-core machine (far more under load), too slow
for every docs build, so the results are committed; the docs build
recomputes the digest and marks the page STALE when the model changed since.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "docs" / "_data" / "counterexamples"
# The files whose change can change a counterexample.
SOURCES: tuple[str, ...] = (
    "spec/cluster.py",
    "spec/properties.py",
    "spec/validation.py",
    "spec/lifecycle.py",
    "proofs/bmc.py",
    "proofs/counterexample.py",
)


def model_digest() -> str:
    """SHA-256 over the model sources, in a fixed order."""
    digest = hashlib.sha256()
    for rel in SOURCES:
        digest.update(rel.encode())
        digest.update((ROOT / rel).read_bytes())
    return digest.hexdigest()


def main() -> int:
    from baton.spec.cluster import ASSUMPTION_NAMES

    OUT.mkdir(parents=True, exist_ok=True)
    baton = Path(sys.executable).with_name("baton")
    for name in ASSUMPTION_NAMES:
        print(f"dropping {name} ...", file=sys.stderr)
        proc = subprocess.run(
            [str(baton), "verify", "--drop-assumption", name],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            print(proc.stdout + proc.stderr, file=sys.stderr)
            return 1
        (OUT / f"{name}.txt").write_text(proc.stdout, encoding="utf-8")
    (OUT / "stamp.json").write_text(
        json.dumps({"model_sha256": model_digest()}, indent=2) + "\n", encoding="utf-8"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
