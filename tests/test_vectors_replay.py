"""Test vectors (baton.vectors, `baton vectors`) and the replay harness (baton.replay).

Covers: vectors are byte-identical on re-run and match their manifest
(counts, SHA-256) and schema; the lifecycle family is every state x event
(P6-D2, P6-F3 for timeout/retry) and the validation family every point of
the 1512-point domain with the spec's decision (P6-D1); every scenario's
expected trace conforms; the harness passes an agreeing adapter and fails
one that disagrees, declines a vector, crashes, or (stream mode) stops early;
the worked example adapters in examples/adapter work as documented.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import io
import json
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from baton import cli, oracle, replay, vectors, vocabulary
from baton.validator import ValidationContext, validate

ROOT = Path(__file__).resolve().parent.parent
ADAPTER = ROOT / "examples" / "adapter"


@pytest.fixture(scope="module")
def vector_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("vectors")
    vectors.generate(out, ROOT / "examples" / "traces", None)
    return out


def test_vectors_are_deterministic(vector_dir: Path, tmp_path: Path) -> None:
    """Re-generating gives byte-identical files (the manifest's hashes match both runs)."""
    vectors.generate(tmp_path, ROOT / "examples" / "traces", None)
    for path in sorted(vector_dir.iterdir()):
        assert (tmp_path / path.name).read_bytes() == path.read_bytes(), path.name


def test_manifest_counts_hashes_and_schema(vector_dir: Path) -> None:
    """The manifest's counts and SHA-256 match the files; every line fits the schema."""
    manifest = json.loads((vector_dir / "manifest.json").read_text("utf-8"))
    assert manifest["format"] == vectors.FORMAT and manifest["version"] == vectors.VERSION
    assert manifest["counts"]["lifecycle"] == 70 and manifest["counts"]["validation"] == 1512
    schema = vectors.vectors_schema()
    for name, digest in manifest["files"].items():
        data = (vector_dir / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == digest, name
        if name.endswith(".jsonl"):
            lines = data.decode("utf-8").splitlines()
            assert len(lines) == manifest["counts"][name.split(".")[0]]
            for line in lines[:50]:
                jsonschema.validate(json.loads(line), schema)
    assert "python -m baton.replay" in (vector_dir / "README.md").read_text("utf-8")


def test_lifecycle_vectors_cover_every_pair() -> None:
    """P6-D2/P6-F3: 7 states x 10 events, 9 allowed, timeout/retry always forbidden."""
    vs = list(vectors.lifecycle_vectors())
    assert len(vs) == 70 and len({v["id"] for v in vs}) == 70
    assert sum(not v["expected"]["forbidden"] for v in vs) == 9
    for v in vs:
        if v["input"]["event"] in ("timeout", "retry"):
            assert v["expected"] == {"next": None, "forbidden": True, "invariant": "P6-F3"}


def test_validation_vectors_agree_with_the_runtime_validator() -> None:
    """P6-D1: each of the 1512 vectors' decision is the runtime validator's for that point."""
    reps = {"Behind": (1, 2), "Equal": (2, 2), "Ahead": (3, 2), "Unknown": (2, None)}
    count = 0
    for v in vectors.validation_vectors():
        c = v["input"]["context"]
        end, bound = reps[c["position"]]
        verdict = validate(
            ValidationContext(
                role=c["role"],
                primary_status=c["primary_status"],
                force=c["force"] == "true" if isinstance(c["force"], str) else c["force"],
                wal_end=end,
                ack_bound=bound,
                prefix=c["prefix"],
                mvcc=c["mvcc"],
                halt_reason=None if c["halt_reason"] == "none" else c["halt_reason"],
            )
        )
        assert verdict.reason == v["expected"]["decision"], v["id"]
        count += 1
    assert count == 1512


def test_scenario_traces_conform_and_cover_crashes(vector_dir: Path) -> None:
    """Every scenario's expected trace conforms; crashes at every marker operation are present."""
    lines = (vector_dir / "scenarios.jsonl").read_text("utf-8").splitlines()
    ids = set()
    for line in lines:
        v = json.loads(line)
        ids.add(v["id"])
        verdict = oracle.check_events(v["expected"]["trace"], v["id"])
        assert verdict.status == "conforms", oracle.render(verdict)
    for op in ("write_temp", "fsync_temp", "rename", "fsync_dir"):
        assert any(i.startswith(f"scenario/crash_after_{op}") for i in ids), op


def _reference(vector: dict[str, Any]) -> dict[str, Any]:
    """An adapter that answers from the expected results (the harness's own positive case)."""
    exp = vector["expected"]
    return {
        "lifecycle": lambda: {"next": exp["next"]},
        "validation": lambda: {"decision": exp["decision"]},
        "protocol": lambda: {"decisions": exp["decisions"], "final": exp["final"]},
        "scenario": lambda: {"final": exp["final"], "trace": exp["trace"]},
        "trace": lambda: {"status": exp["status"]},
    }[vector["family"]]()


def test_replay_passes_an_agreeing_adapter(vector_dir: Path) -> None:
    """Every vector consumed and agreed: the report is ok."""
    report = replay.replay(replay.load_vectors(vector_dir), _reference)
    assert report.ok, report.render()
    assert report.total == report.agreed > 1600


def test_replay_fails_on_an_unconsumed_vector(vector_dir: Path) -> None:
    """One declined vector (skip) makes the run fail and names that vector."""

    def adapter(vector: dict[str, Any]) -> dict[str, Any]:
        if vector["id"] == "validation/0007":
            return {"skip": "not implemented"}
        return _reference(vector)

    report = replay.replay(replay.load_vectors(vector_dir, ["validation"]), adapter)
    assert not report.ok
    assert [i for i, _ in report.not_consumed] == ["validation/0007"]


def test_replay_fails_on_disagreement_and_on_adapter_crash(vector_dir: Path) -> None:
    """A wrong answer is a disagreement; an exception is a vector not consumed."""

    def adapter(vector: dict[str, Any]) -> dict[str, Any]:
        if vector["input"]["state"] == "Steady":
            return {"next": "PromotionApproved"}
        if vector["input"]["state"] == "PromotionDenied":
            raise RuntimeError("boom")
        return _reference(vector)

    report = replay.replay(replay.load_vectors(vector_dir, ["lifecycle"]), adapter)
    assert len(report.disagreed) == 10 and len(report.not_consumed) == 10
    assert not report.ok


def test_replay_checks_a_scenario_trace_with_the_oracle(vector_dir: Path) -> None:
    """A scenario outcome whose trace breaks a rule is a disagreement, even if final agrees."""
    vector = json.loads((vector_dir / "scenarios.jsonl").read_text("utf-8").splitlines()[0])
    bad_trace = [e for e in vector["expected"]["trace"] if e["kind"] != "marker"]
    verdict, why = replay.judge(vector, {"final": vector["expected"]["final"], "trace": bad_trace})
    assert verdict == "disagreed" and "P6-A2" in why


def test_stream_adapter_example_passes_and_fails_as_documented(vector_dir: Path) -> None:
    """examples/adapter/vector_adapter.py: lifecycle+validation PASS, all families FAIL."""
    cmd = f"{sys.executable} {ADAPTER / 'vector_adapter.py'}"
    some = replay.load_vectors(vector_dir, ["lifecycle", "validation"])
    assert replay.stream_replay(some, cmd).ok
    everything = replay.load_vectors(vector_dir)
    report = replay.stream_replay(everything, cmd)
    assert not report.ok and len(report.not_consumed) == len(everything) - len(some)


def test_stream_adapter_that_dies_leaves_vectors_unconsumed(vector_dir: Path) -> None:
    """A stream adapter that exits after 3 answers: the rest are not consumed."""
    script = (
        "import sys, json\n"
        "for i, line in enumerate(sys.stdin):\n"
        "    v = json.loads(line)\n"
        "    print(json.dumps({'next': v['expected']['next']}), flush=True)\n"
        "    if i == 2: break\n"
    )
    cmd = f'{sys.executable} -c "{script}"'
    report = replay.stream_replay(replay.load_vectors(vector_dir, ["lifecycle"]), cmd)
    assert report.agreed == 3 and len(report.not_consumed) == 67


def test_replay_cli_exit_codes(vector_dir: Path, tmp_path: Path) -> None:
    """`python -m baton.replay`: 0 on PASS, 1 on FAIL, 2 on an unreadable vectors dir."""
    cmd = f"{sys.executable} {ADAPTER / 'vector_adapter.py'}"
    base = [sys.executable, "-m", "baton.replay", str(vector_dir), "--stream", "--command", cmd]
    ok = subprocess.run([*base, "--family", "lifecycle"], capture_output=True, text=True)
    assert ok.returncode == 0 and "PASS" in ok.stdout
    fail = subprocess.run([*base, "--family", "trace"], capture_output=True, text=True)
    assert fail.returncode == 1 and "NOT CONSUMED" in fail.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "baton.replay", str(tmp_path), "--command", "true"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "manifest" in bad.stderr


def test_log_adapter_example_conforms_and_catches_the_bug() -> None:
    """examples/adapter: the correct sim conforms; --bug stale is caught as P6-F1."""
    sim = [sys.executable, str(ADAPTER / "failover_sim.py")]
    conv = [sys.executable, str(ADAPTER / "log_to_trace.py")]
    for extra, code, invariant in (([], 0, None), (["--bug", "stale"], 1, "P6-F1")):
        log = subprocess.run([*sim, *extra], capture_output=True, text=True, check=True).stdout
        text = subprocess.run(conv, input=log, capture_output=True, text=True, check=True).stdout
        checked = subprocess.run(
            [sys.executable, "-m", "baton.cli", "check", "-", "--json"],
            input=text,
            capture_output=True,
            text=True,
        )
        assert checked.returncode == code, checked.stdout
        data = json.loads(checked.stdout)
        if invariant is None:
            assert data["status"] == "conforms"
        else:
            assert data["violations"][0]["invariant"] == invariant


# --- protocol-level vectors, a second-language adapter, the grouped report ------------------


def test_protocol_vectors_are_whole_attempts_with_decisions_and_end_state(
    vector_dir: Path,
) -> None:
    """Protocol vectors speak in operations (write, replicate, ack, crash, restart,
    promote with its parameters) and expect each request's decision and the end state."""
    lines = (vector_dir / "protocol.jsonl").read_text("utf-8").splitlines()
    vs = [json.loads(line) for line in lines]
    ops = {op["op"] for v in vs for op in v["input"]["operations"]}
    assert ops == set(vectors.PROTOCOL_OPS)
    decisions = {d.get("decision") for v in vs for d in v["expected"]["decisions"]}
    assert {"allowed", "primary_active", "force_cannot_override_active_primary",
            "history_divergent", "candidate_behind_ack_bound"} <= decisions  # fmt: skip
    results = {d["result"] for v in vs for d in v["expected"]["decisions"]}
    assert results == {"promoted", "denied", "interrupted"}
    for v in vs:
        assert set(v["expected"]["final"]) == {"writable", "up", "markers", "wal_end", "acked"}


NODE = shutil.which("node")


@pytest.mark.skipif(NODE is None, reason="Node.js is not installed")
def test_javascript_adapter_replays_protocol_vectors_over_stdin(
    vector_dir: Path, tmp_path: Path
) -> None:
    """examples/adapter/protocol_adapter.mjs (Node.js, reads the vocabulary document)
    replays lifecycle, validation and protocol vectors over JSON lines; its --bug
    lsn-only variant is reported as an unsafe allow under history_divergent (P6-S2)."""
    vocab = tmp_path / "vocabulary.json"
    vocab.write_text(json.dumps(vocabulary.load()), "utf-8")
    fams = ["lifecycle", "validation", "protocol"]
    vector_list = replay.load_vectors(vector_dir, fams)
    command = f"{NODE} {ADAPTER / 'protocol_adapter.mjs'} {vocab}"
    report = replay.stream_replay(vector_list, command)
    assert report.ok, report.render()
    protocol_only = replay.load_vectors(vector_dir, ["protocol"])
    bad = replay.stream_replay(protocol_only, command + " --bug lsn-only")
    groups = bad.groups()
    assert list(groups) == ["unsafe_allow"], bad.render()
    assert list(groups["unsafe_allow"]) == ["history_divergent (P6-S2)"]
    assert "UNSAFE ALLOWS" in bad.render()


def test_report_groups_disagreements_by_check_and_separates_unsafe_allows(
    vector_dir: Path,
) -> None:
    """A validator that allows whenever the primary is not Active, and says
    history_unknown for every denial: unsafe allows grouped by the spec's check,
    wrong denial reasons grouped as spec reason -> given reason."""
    vector_list = replay.load_vectors(vector_dir, ["validation"])

    def sloppy(vector: dict[str, Any]) -> dict[str, Any]:
        ctx = vector["input"]["context"]
        ok = ctx["role"] == "ReplicaActive" and ctx["primary_status"] != "Active"
        return {"decision": "allowed" if ok else "history_unknown"}

    report = replay.replay(vector_list, sloppy)
    groups = report.groups()
    assert list(groups) == ["unsafe_allow", "wrong_denial_reason"]
    assert "primary_status_unknown (P6-F1)" in groups["unsafe_allow"]
    assert "mvcc_violated (P6-S3)" in groups["unsafe_allow"]
    assert "primary_active -> history_unknown" in groups["wrong_denial_reason"]
    total = sum(len(items) for checks in groups.values() for items in checks.values())
    assert total == len(report.disagreed)
    text = report.render()
    assert text.index("UNSAFE ALLOWS") < text.index("WRONG DENIAL REASONS")
    assert "... and" not in text  # grouped, not cut


# --- a complete install ------------------------------------------------------------------


def test_the_wheel_declares_the_examples_vectors_needs() -> None:
    """pyproject.toml ships examples/ as package baton.examples: every example trace,
    EXPECTED.json and every runtime scenario file is package data, so `baton vectors`
    from a wheel writes the checkout's vector set (bench/wheel_vectors.py builds and
    installs the wheel and compares)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["setuptools"]
    assert config["package-dir"]["baton.examples"] == "examples"
    assert {"baton.examples", "baton.examples.traces"} <= set(config["packages"])
    data = config["package-data"]
    traces = ROOT / "examples" / "traces"
    needed = [p.name for p in traces.iterdir() if p.suffix in (".jsonl", ".json")]
    for name in needed:
        assert any(fnmatch.fnmatch(name, pat) for pat in data["baton.examples.traces"]), name
    for path in (ROOT / "examples").glob("*.json"):
        assert any(fnmatch.fnmatch(path.name, pat) for pat in data["baton.examples"]), path
    assert vectors.default_traces_dir() == traces
    assert vectors.default_scenarios_dir() == ROOT / "examples"


def test_vectors_without_example_traces_fails_loudly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An installation without the examples: exit 2 and a message, never fewer vectors."""
    monkeypatch.setattr(vectors, "default_traces_dir", lambda: None)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = cli.main(["vectors", "--out", str(tmp_path / "v")])
    assert code == 2 and "no example traces found" in err.getvalue()
    assert not (tmp_path / "v").exists()


def test_ctrl_c_during_vectors_exits_130_without_traceback(tmp_path: Path) -> None:
    """Ctrl-C while `baton vectors` generates: exit 130, one line, no traceback."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "baton.cli", "vectors", "--out", str(tmp_path / "v")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while not (tmp_path / "v").exists() and time.monotonic() < deadline:
        time.sleep(0.05)  # the output directory exists once generation has started
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=30)
    # 130, or ended by the SIGINT itself (which a shell reports as 130 too): under
    # ``python -m`` the interpreter may re-deliver the interrupt the command handled.
    assert proc.returncode in (130, -signal.SIGINT), err
    assert b"Traceback" not in err and b"interrupted" in err
