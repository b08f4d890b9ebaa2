"""The proofs package (proofs/) and ``baton verify``.

Covers: the unbounded inductive proof for N = 2 (P6-A1, A2, A3, S1, S2, F2,
F3) and that it fails for a broken variant (it is not vacuous); bounded model
checking finds a shortest counterexample for a mutant, which replays and is
shrunk; companions have witnesses; the quick verify run passes and its JSON
report validates against the documented schema; usage errors exit 2.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib import resources

import jsonschema
import pytest
from baton.proofs import counterexample, induction, obligations, render
from baton.spec.cluster import Config
from referencing import Registry, Resource


def _baton(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "baton.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


def test_induction_proves_the_correct_model_n2() -> None:
    """P6-A1..F3 hold for every reachable state (N = 2, both modes), unbounded."""
    for mode in ("async", "sync"):
        result = induction.prove(Config(n=2, mode=mode))
        assert result.proven, [(f.check, f.action, f.lemma) for f in result.failures]


def test_induction_fails_for_a_mutant() -> None:
    """The invariant is not vacuous: a restarted primary keeping authority breaks it."""
    result = induction.prove(Config(n=2, mutant="restart_keeps_authority"), stop_at_first=True)
    assert not result.proven
    assert result.failures[0].action.startswith("restart")


def test_mutant_counterexample_is_found_shrunk_and_explained() -> None:
    """P6-F3: retry after denial is caught with the 4-step path request, validate, deny, retry."""
    cx = counterexample.find_counterexample(Config(n=2, mutant="retry_after_denial"))
    assert cx is not None
    assert cx.violated == ["P6-F3"]
    actions = [st.action for st in cx.trace.steps[1:]]
    assert actions == ["request", "begin_validation", "deny", "retry"]
    text = render.render_text(cx.to_dict())
    assert "Violated P6-F3 No implicit retry" in text and "implicit retry" in text
    # The faulty step -- the retry the correct model has no transition for -- is marked.
    assert cx.faulty_steps == [4]
    assert re.search(r"step 4: retry n\d   << faulty step", text), text


def test_force_mutant_gives_two_authorities() -> None:
    """P6-A1a: force overriding an Active primary leads to a second primary marker."""
    cfg = Config(n=2, mutant="force_overrides_active")
    cx = counterexample.find_counterexample(cfg, targets=("P6-A1",))
    assert cx is not None
    assert "P6-A1" in cx.violated
    final = cx.trace.steps[-1].state["nodes"]
    assert sum(node["writable"] for node in final) == 2


def test_companion_witness_exists() -> None:
    """No vacuity: a completed promotion after acknowledged writes is reachable (P6-S1)."""
    ob = obligations.Obligation(
        "companion.P6-S1",
        "companion",
        ("P6-S1",),
        "z3-witness",
        "",
        {"runner": "companion_property", "n": 2, "mode": "async", "depth": 12, "property": "P6-S1"},
    )
    outcome = obligations.run(ob)
    assert outcome.passed and outcome.verdict == "reachable"
    assert outcome.kind.startswith("witness (") and "complete" in outcome.detail


def test_validator_mutant_fails_soundness_with_a_context() -> None:
    ob = next(
        o
        for o in obligations.build(quick=True)
        if o.name == "mutant.validator.allow_divergent_history"
    )
    outcome = obligations.run(ob)
    assert outcome.passed and outcome.verdict == "caught"
    assert outcome.counterexample is not None
    assert outcome.counterexample["context"]["prefix"] == "Divergent"


@pytest.mark.slow
def test_verify_quick_passes_and_report_matches_schema(tmp_path: object) -> None:
    """The main job's CI subset: exit 0 and a JSON report valid against its schema."""
    out_file = f"{tmp_path}/report.json"
    out = _baton("verify", "--quick", "--json", out_file)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "VERIFIED" in out.stdout
    with open(out_file, encoding="utf-8") as fh:
        report = json.load(fh)
    schema = json.loads(
        resources.files("baton").joinpath("schemas/report.schema.json").read_text("utf-8")
    )
    verdict_schema = json.loads(
        resources.files("baton").joinpath("schemas/verdict.schema.json").read_text("utf-8")
    )
    registry = Registry().with_resource(
        verdict_schema["$id"], Resource.from_contents(verdict_schema)
    )
    jsonschema.Draft202012Validator(schema, registry=registry).validate(report)
    assert report["passed"] is True
    groups = {o["group"] for o in report["obligations"]}
    assert {
        "lifecycle",
        "validation",
        "conformance",
        "induction",
        "bmc",
        "companion",
        "mutant",
    } <= groups
    mutants = [o for o in report["obligations"] if o["group"] == "mutant"]
    assert all(o["result"] == "caught" for o in mutants)
    # Caught means: a counterexample, reported in the one verdict format.
    assert all(o["violations"] for o in mutants)


def test_verify_usage_errors_exit_2() -> None:
    for args in (
        ["--mutant", "nonsense"],
        ["--nodes", "1"],
        ["--only", "zzz"],
        ["--drop-assumption", "nope"],
        ["--depth", "0"],
    ):
        out = _baton("verify", *args)
        assert out.returncode == 2, args
        assert "Traceback" not in out.stderr
        assert out.stderr.strip().count("\n") == 0, out.stderr


def test_verify_list_names_every_obligation() -> None:
    out = _baton("verify", "--list")
    assert out.returncode == 0
    for name in (
        "induction.N4.sync",
        "bmc.N3.async",
        "mutant.skip_dir_fsync",
        "assumption.fenced_restart",
        "companion.recovery-to-new",
    ):
        assert name in out.stdout
