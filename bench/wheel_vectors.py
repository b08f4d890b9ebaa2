"""A complete install: `baton vectors` from a wheel equals `baton vectors` from the checkout.

Builds the wheel of this checkout (pip, build isolation: needs the package
index), installs it into a fresh venv in a temporary directory outside the
repository (its dependencies come from the index or pip's cache), runs
``baton vectors`` there and here, and compares the two manifests file by file
(SHA-256). Exit 0 when every file is identical, 1 otherwise. About a minute;
on demand, never in CI (tests/test_vectors_replay.py checks the package-data
lookup cheaply).

  .venv/bin/python bench/wheel_vectors.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(*cmd: str | Path, cwd: Path) -> str:
    proc = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=600, check=False
    )
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(map(str, cmd))}\n{proc.stderr[-2000:]}")
    return proc.stdout


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", tmp / "w", ROOT, cwd=tmp)
        wheel = next((tmp / "w").glob("baton-*.whl"))
        run(sys.executable, "-m", "venv", tmp / "venv", cwd=tmp)
        run(tmp / "venv" / "bin" / "pip", "install", "-q", wheel, cwd=tmp)
        print(run(tmp / "venv" / "bin" / "baton", "vectors", "--out", tmp / "from-wheel", cwd=tmp))
        print(
            run(
                sys.executable,
                "-m",
                "baton.cli",
                "vectors",
                "--out",
                tmp / "from-checkout",
                cwd=tmp,
            )
        )
        wheel_files = json.loads((tmp / "from-wheel" / "manifest.json").read_text())["files"]
        checkout_files = json.loads((tmp / "from-checkout" / "manifest.json").read_text())["files"]
        differ = sorted(
            name
            for name in set(wheel_files) | set(checkout_files)
            if wheel_files.get(name) != checkout_files.get(name)
        )
        for name in differ:
            print(f"DIFFERS: {name}")
        print(
            f"{wheel.name}: {len(checkout_files) - len(differ)}/{len(checkout_files)} files "
            "identical to the checkout's" + ("" if differ else " -- PASS")
        )
        return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
