"""The ``baton spec`` command and the CLI's error handling."""

from __future__ import annotations

import json
import subprocess
import sys


def _baton(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "baton.cli", *args], capture_output=True, text=True, check=False
    )


def test_spec_prints_table_checks_and_properties() -> None:
    out = _baton("spec")
    assert out.returncode == 0, out.stderr
    assert "PromotionValidating     --approve" in out.stdout
    assert "ack_bound_unknown" in out.stdout
    assert "P6-S1" in out.stdout


def test_spec_json_is_derived_from_the_model() -> None:
    from baton.spec import lifecycle

    out = _baton("spec", "--format", "json", "--section", "lifecycle")
    assert out.returncode == 0
    data = json.loads(out.stdout)
    got = [(t["from"], t["event"], t["to"]) for t in data["lifecycle"]["transitions"]]
    assert got == lifecycle.enumerate_transitions()


def test_bad_format_is_one_line_exit_2() -> None:
    out = _baton("spec", "--format", "nonsense")
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert "invalid choice: 'nonsense'" in out.stderr


def test_unknown_subcommand_is_one_line_exit_2() -> None:
    out = _baton("frobnicate")
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
