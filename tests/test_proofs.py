"""The proofs package (proofs/) and ``baton verify``.

Covers: the unbounded inductive proof for N = 2 (P6-A1, A2, A3, S1, S2, F2,
F3) and that it fails for a broken variant (it is not vacuous); bounded model
checking finds a shrunk counterexample for a mutant with its faulty step
marked, rendered step by step and written in ITF; a spec bug planted in the
model (the sync-ack off-by-one, reinstatement without the epoch check) fails
the proof with a concrete run labelled by the property it violates;
companions have witnesses; every property has a mutant; the quick verify run
passes and its JSON report validates against the documented schema; --junit
writes one test case per obligation; Ctrl-C exits 130 within 2 s with no
traceback and no worker left; usage errors exit 2.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
from baton.proofs import counterexample, induction, itf, obligations, render, report
from baton.spec import properties
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


@pytest.fixture(scope="module")
def retry_cx() -> counterexample.Counterexample:
    cx = counterexample.find_counterexample(Config(n=2, mutant="retry_after_denial"))
    assert cx is not None
    return cx


def test_mutant_counterexample_is_found_shrunk_and_explained(
    retry_cx: counterexample.Counterexample,
) -> None:
    """P6-F3: retry after denial is caught with the 4-step path request, validate, deny, retry."""
    cx = retry_cx
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
        "companion.recovery",
        "companion.coverage.sync",
    ):
        assert name in out.stdout


def _induction(n: int, mode: str, mutant: str) -> obligations.Outcome:
    ob = obligations.Obligation(
        f"induction.N{n}.{mode}",
        "induction",
        tuple(p.id for p in properties.PROPERTIES),
        "z3-induction",
        "",
        {"runner": "cluster_induction", "n": n, "mode": mode, "mutant": mutant},
    )
    return obligations.run(ob)


def test_planted_sync_ack_off_by_one_yields_a_run() -> None:
    """Regression: a sync ack one entry early (lcp(p,j) >= wlen[p]-1) fails the proof
    *with a concrete run*, labelled with the property the run violates (P6-S2 here:
    the candidate is approved without the acknowledged write)."""
    outcome = _induction(2, "sync", "ack_one_entry_early")
    assert not outcome.passed
    assert outcome.kind.startswith("violated (") and outcome.violated == ["P6-S2"]
    cx = outcome.counterexample
    assert cx is not None and cx["steps"][0]["action"] == "init"
    actions = [st["action"] for st in cx["steps"][1:]]
    assert "ack" in actions and actions[-1] == "approve"
    # The ack is the step the correct model does not allow.
    assert [actions[k - 1] for k in cx["faulty_steps"]] == ["ack"]


def test_planted_reinstate_without_top_epoch_yields_a_run() -> None:
    """Regression: reinstatement without holds_max_epoch fails the proof with a run
    that ends in a reinstated stale primary (P6-A3), not only a failed lemma."""
    outcome = _induction(2, "async", "reinstate_without_top_epoch")
    assert not outcome.passed and "P6-A3" in outcome.violated
    cx = outcome.counterexample
    assert cx is not None
    actions = [st["action"] for st in cx["steps"][1:]]
    assert actions[-1] == "reinstate" and "complete" not in actions[-1:]
    assert len(actions) - 1 in [k - 1 for k in cx["faulty_steps"]]
    # The report labels the failure with what the run violates, by ID and name.
    ob = obligations.Obligation("induction.N2.async", "induction", ("P6-A1",), "", "", {})
    assert report.failure_label(ob, outcome).startswith("violates P6-A3 Epoch fencing")


def test_counterexample_in_itf(retry_cx: counterexample.Counterexample) -> None:
    """A counterexample is also an ITF trace: vars, one state per step, #bigint integers."""
    cx = retry_cx
    doc = itf.to_itf(cx.to_dict())
    assert doc["#meta"]["format"] == "ITF" and doc["#meta"]["violated"] == ["P6-F3"]
    assert len(doc["states"]) == len(cx.trace.steps)
    first = doc["states"][0]
    assert set(doc["vars"]) <= set(first) | {"#meta"}
    assert first["epoch"] == {"#map": [["n0", {"#bigint": "1"}], ["n1", {"#bigint": "1"}]]}
    assert doc["states"][-1]["mbt::actionTaken"].startswith("retry(n")


def test_every_property_has_a_mutant_that_violates_it() -> None:
    """The mutant table names, for every cluster property and for D1, D2, O1, O2, S3,
    a mutant whose counterexample must violate that property (checked when run)."""
    obs = obligations.build(quick=False)
    claimed = {p for ob in obs if ob.group in ("mutant", "assumption") for p in ob.properties}
    wanted = set(properties.PROPERTY_IDS) | {"P6-D1", "P6-D2", "P6-O1", "P6-O2", "P6-S3"}
    assert wanted <= claimed, wanted - claimed


def test_published_full_report_has_a_witness_and_a_violating_run_per_invariant() -> None:
    """In the recorded full report (docs/_data/verify-full.json), every invariant
    has a reachability witness and a caught mutant or dropped assumption whose
    counterexample *actually* violates it (the ``violated`` label of its run, not
    the obligation's declared properties). Fails when the report is stale, until
    it is re-recorded."""
    path = Path(__file__).parent.parent / "docs" / "_data" / "verify-full.json"
    summary = json.loads(path.read_text(encoding="utf-8"))["invariants"]
    from baton.spec import invariants

    for inv in invariants.INVARIANTS:
        entry = summary[inv.id]
        assert entry["counterexamples"], f"{inv.id}: no caught run violates it"
        assert entry["witnesses"], f"{inv.id}: no companion witness"


def test_verify_junit_has_one_case_per_obligation(tmp_path: Path) -> None:
    out_file = tmp_path / "verify.xml"
    out = _baton("verify", "--only", "lifecycle.", "--junit", str(out_file), "--jobs", "1")
    assert out.returncode == 0, out.stderr[-2000:]
    root = ET.parse(out_file).getroot()
    cases = root.findall(".//testcase")
    names = {c.get("name") for c in cases}
    expected = {o.name for o in obligations.build() if o.name.startswith("lifecycle.")}
    assert names == expected and len(cases) == len(expected)
    assert all(c.find("failure") is None for c in cases)
    assert all(float(c.get("time", "-1")) >= 0 for c in cases)


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # Fields 3 and 5 of stat: the state and the process group. A zombie has
        # exited (multiprocessing's resource tracker, once its parent is gone,
        # waits to be reaped by init, which a container may never do).
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry))
    return members


def test_verify_ctrl_c_exits_130_quickly_without_traceback_or_workers() -> None:
    """Ctrl-C (SIGINT to the process group, as a terminal sends it) while obligations
    run: exit 130 within 2 s, one line on stderr, no traceback, no worker left."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "baton.cli", "verify", "--quick", "--jobs", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        # Wait until the workers run (the parent plus two workers in the group).
        while len(_group_members(proc.pid)) < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)
        assert proc.poll() is None, "verify ended before it could be interrupted"
        os.killpg(proc.pid, signal.SIGINT)
        sent = time.monotonic()
        _out, err = proc.communicate(timeout=10)
        elapsed = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err[-2000:]
    assert elapsed <= 2.0, elapsed
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err[-2000:]
    assert err.rstrip().splitlines()[-1].endswith("interrupted")
    # The workers are killed before verify exits; give the kernel a moment to reap.
    left = _group_members(proc.pid)
    for _ in range(10):
        if not left:
            break
        time.sleep(0.1)
        left = _group_members(proc.pid)
    commands = [Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ") for pid in left]
    assert left == [], commands


def test_an_obligation_over_its_timeout_is_a_reported_failure(tmp_path: Path) -> None:
    """A hang becomes a result: the worker is stopped and the row says 'timeout'."""
    report_file = tmp_path / "r.json"
    start = time.monotonic()
    out = _baton(
        "verify",
        "--only",
        "mutant.concurrent_attempts",
        "--timeout",
        "1",
        "--jobs",
        "1",
        "--json",
        str(report_file),
    )
    assert out.returncode == 1, out.stderr[-2000:]
    assert time.monotonic() - start < 60
    rows = json.loads(report_file.read_text(encoding="utf-8"))["obligations"]
    assert [(r["name"], r["result"], r["kind"], r["passed"]) for r in rows] == [
        ("mutant.concurrent_attempts", "timeout", "timeout", False)
    ]
    assert "per-obligation limit of 1 s" in rows[0]["detail"]


def test_induction_reports_and_checks_disabled_actions(monkeypatch: pytest.MonkeyPatch) -> None:
    """The induction never skips an action silently: step_down (disabled in every
    invariant state, a declared defence-in-depth action) is named in the row;
    were it not declared, the row fails as a vacuous corner."""
    ob = next(o for o in obligations.build(ns=(2,)) if o.name == "induction.N2.async")
    outcome = obligations.run(ob)
    assert outcome.passed and "step_down[0], step_down[1]" in outcome.detail
    undeclared = {k: v for k, v in obligations.DEFENCE_IN_DEPTH.items() if k[0] != "step_down"}
    monkeypatch.setattr(obligations, "DEFENCE_IN_DEPTH", undeclared)
    outcome = obligations.run(ob)
    assert not outcome.passed and outcome.detail.startswith("vacuous: step_down")
