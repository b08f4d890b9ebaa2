"""Demonstrations that drop a spec assumption by name, and how ``baton check`` judges them.

Covers: ``single_controller`` dropped lets a second request start while another
attempt is in flight -- exactly the spec's request with that assumption dropped,
and no step of the spec with every assumption (Z3 and the compiled spec agree) --
and the request that relied on it is on the record (trace meta, audit log); the runtime
halts by itself every node that sees two running nodes claim Primary at one
epoch (P6-A1, reason authority_ambiguity), each halt a spec step; the scenario
``examples/authority_ambiguity.json`` reaches that halt with never two writers,
and ``baton check`` accepts its trace only with ``--allow-dropped
single_controller``, which excuses the two grants of one epoch (P6-A3) and
nothing else. A mutant runtime without the automatic halt makes the same run
fail the check on the rule no assumption excuses (authority_ambiguity, P6-A1).
The ``force_is_truthful`` demonstration fails plainly and is excused with its
flag; the flag changes nothing on a trace that declares nothing; excused
violations are bounded in the verdict; JSON, text and JUnit report them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from baton import core, oracle
from baton import trace as t
from baton.cli import main
from baton.cluster import RuntimeCluster
from baton.controller import Controller, CoreDriver, PromotionRequest
from baton.errors import DuplicateRequest
from baton.spec.cluster import ASSUMPTIONS, Config
from baton.spec.compiled import compiled, flatten
from baton.spec.concrete import explaining_actions
from baton.verdict import verdict_schema

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SCENARIO = EXAMPLES / "authority_ambiguity.json"
DROPPED = frozenset({"single_controller"})


def _primary_down(n: int = 3) -> core.ClusterState:
    return core.step(core.initial_state(n), core.Crash(0))[0]


def _held(state: core.ClusterState, c: int) -> core.ClusterState:
    """``c``'s attempt approved and held (PromotionApproved)."""
    for action in (core.Request(c), core.BeginValidation(c), core.Decide(c, core.Observation())):
        state = core.step(state, action)[0]
    return state


# --- the controller and the core ---------------------------------------------------------


def test_a_second_request_is_refused_unless_single_controller_is_dropped() -> None:
    """Serialised attempts (single_controller): DuplicateRequest, nothing changes;
    dropped by name, the second attempt starts and only it records the drop."""
    held = PromotionRequest("n1", "alice", pause_after="approve")
    second = PromotionRequest("n2", "bob", pause_after="approve")
    strict = CoreDriver(_primary_down())
    Controller(strict).request_promotion(held)
    before = strict.state
    with pytest.raises(DuplicateRequest, match="'n1' is in progress"):
        Controller(strict).request_promotion(second)
    assert strict.state == before

    demo = CoreDriver(_primary_down())
    ctl = Controller(demo, drop_assumptions=DROPPED)
    ctl.request_promotion(held)
    assert ctl.request_promotion(second).state == "PromotionApproved"
    assert [n.lifecycle for n in demo.state.nodes] == ["Steady", *["PromotionApproved"] * 2]
    assert [a.dropped_assumptions for a in demo.audit_log] == [(), ("single_controller",)]
    # The candidate's own attempt still blocks a request for it, named as its own.
    with pytest.raises(DuplicateRequest, match="'n2' is in progress"):
        ctl.request_promotion(PromotionRequest("n2", "bob"))


def test_the_concurrent_request_is_a_spec_step_only_with_single_controller_dropped() -> None:
    """Refinement: the core's concurrent Request is the spec's request[2] with the
    assumption dropped, and no step of the spec with every assumption."""
    before = _held(_primary_down(), 1)
    assert core.refusal(before, core.Request(2)) is not None  # the default is unchanged
    after, _ = core.step(before, core.Request(2, concurrent=True))
    snapshots = (core.to_snapshot(before), core.to_snapshot(after))
    flats = (flatten(snapshots[0]), flatten(snapshots[1]))
    dropped = Config(n=3, dropped=DROPPED)
    assert "request[2]" in explaining_actions(dropped, *snapshots)
    assert "request[2]" in compiled(dropped).explaining(*flats)
    assert explaining_actions(Config(n=3), *snapshots) == []
    assert compiled(Config(n=3)).explaining(*flats) == []
    assert core.Request(2, concurrent=True) not in core.enabled_actions(before)


# --- the scenario ----------------------------------------------------------------------------


def _run(tmp_path: Path, scenario: Path, name: str = "t") -> tuple[int, Path]:
    trace_file = tmp_path / f"{name}.jsonl"
    code = main(
        ["run", str(scenario), "--dir", str(tmp_path / name), "--trace", str(trace_file), "--quiet"]
    )
    return code, trace_file


def _events(trace_file: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in trace_file.read_text("utf-8").splitlines()]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, Path]:
    return _run(tmp_path_factory.mktemp("demo"), SCENARIO)


def test_the_scenario_reaches_the_ambiguity_halt_with_one_writer_throughout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The runtime halts the replica n1 and the primary n2 (n3 claims n2's epoch) the
    moment n3's marker is renamed; single writer (P6-A1) at every step, each step a
    spec step with single_controller dropped, the halts included."""
    steps: list[tuple[core.ClusterState, core.Action, core.ClusterState]] = []
    reacted_in: list[core.ClusterState] = []  # the state each reaction to ambiguity saw
    real_apply, real_react = RuntimeCluster._apply, RuntimeCluster._halt_on_ambiguity

    def react(self: RuntimeCluster) -> None:
        reacted_in.append(self.state)
        real_react(self)

    def apply(self: RuntimeCluster, action: core.Action) -> tuple[core.Effect, ...]:
        before, reactions = self.state, len(reacted_in)
        effects = real_apply(self, action)
        # The step's own successor: the state its reaction started from, if it reacted.
        after = reacted_in[reactions] if len(reacted_in) > reactions else self.state
        steps.append((before, action, after))
        return effects

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(RuntimeCluster, "_apply", apply)
        patch.setattr(RuntimeCluster, "_halt_on_ambiguity", react)
        assert main(["run", str(SCENARIO), "--dir", str(tmp_path / "d")]) == 0
    out = capsys.readouterr().out
    assert "ASSUMPTIONS DROPPED for this run: single_controller" in out
    assert "Traceback" not in out
    halts = [a for _, a, _ in steps if isinstance(a, core.AmbiguityHalt)]
    assert halts == [core.AmbiguityHalt(1, 2, 3), core.AmbiguityHalt(2, 3, 2)]
    cfg = Config(n=4, dropped=DROPPED)
    for before, action, after in steps:
        assert len(after.writable_nodes()) <= 1, action  # P6-A1 single writer throughout
        explained = explaining_actions(cfg, core.to_snapshot(before), core.to_snapshot(after))
        assert set(core.spec_action_names(action)) & set(explained), action


def test_check_accepts_the_trace_only_with_allow_dropped(
    demo_run: tuple[int, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, trace_file = demo_run
    assert code == 0
    events = _events(trace_file)
    halts = [e for e in events if e["kind"] == "halt"]
    assert [(e["node"], e["reason"]) for e in halts] == [
        ("n1", "authority_ambiguity"),
        ("n2", "authority_ambiguity"),
    ]
    (declared,) = [e for e in events if "dropped_assumptions" in e.get("meta", {})]
    assert declared["kind"] == "request" and declared["node"] == "n3"
    assert declared["meta"]["dropped_assumptions"] == ["single_controller"]
    (audit,) = [a for a in events[-1]["meta"]["audit"] if a.get("dropped_assumptions")]
    assert (audit["operator"], audit["target"]) == ("bob", "n3")
    capsys.readouterr()

    # Without the flag: exit 1, one message naming the assumption and the flag.
    assert main(["check", str(trace_file)]) == 1
    captured = capsys.readouterr()
    assert "--allow-dropped single_controller" in captured.err
    assert len(captured.err.strip().splitlines()) == 1
    assert "NOT ALLOWED" in captured.out and "P6-A3 broken (rule epoch_fencing)" in captured.out

    # With it: exit 0; the two grants of epoch 2 (P6-A3) are excused, nothing else.
    verdict_file = tmp_path / "v.json"
    args = ["check", "--allow-dropped", "single_controller", str(trace_file)]
    assert main([*args, "--json", str(verdict_file)]) == 0
    verdict = json.loads(verdict_file.read_text("utf-8"))
    jsonschema.validate(verdict, verdict_schema())
    assert verdict["status"] == "conforms" and verdict["violations"] == []
    assert verdict["assumptions"]["allowed"] == ["single_controller"]
    assert [(d["name"], d["line"], d["allowed"]) for d in verdict["assumptions"]["declared"]] == [
        ("single_controller", events.index(declared) + 1, True)
    ]
    (excused,) = verdict["excused"]
    assert (excused["rule"], excused["invariant"]) == ("epoch_fencing", "P6-A3")
    assert excused["event"]["kind"] == "marker" and excused["event"]["node"] == "n3"
    assert excused["excused_by"]["assumption"] == "single_controller"
    capsys.readouterr()
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "CONFORMS, 1 EXCUSED" in text and "EXCUSED, line" in text


def test_the_excuse_is_the_spec_s_guards() -> None:
    """What an allowed assumption excuses is exactly Assumption.guards; single_controller
    guards P6-A3 (proven: the obligation assumption.single_controller.P6-A3)."""
    guards = {a.name: a.guards for a in ASSUMPTIONS}
    assert oracle.assumption_guards() == guards
    assert "P6-A3" in guards["single_controller"]
    assert not oracle.RULE_BY_NAME["authority_ambiguity"].excusable


def test_without_the_runtime_s_halt_the_check_fails_on_a_rule_no_assumption_excuses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mutant: the runtime does not halt on ambiguity. The same operator actions
    (the scenario without its expectations) then let n3 gain authority at epoch 2
    while n2 still claims it: two writers (P6-A1 single_writer, excused by the
    dropped assumption) and the halt's own rule broken (authority_ambiguity, P6-A1),
    which no assumption excuses: the check fails."""
    doc = json.loads(SCENARIO.read_text("utf-8"))
    doc["steps"] = [s for s in doc["steps"] if s["do"] != "expect"]
    actions_only = tmp_path / "actions.json"
    actions_only.write_text(json.dumps(doc))
    code, good = _run(tmp_path, actions_only, "good")
    assert code == 0
    assert main(["check", "--allow-dropped", "single_controller", str(good)]) == 0

    monkeypatch.setattr(RuntimeCluster, "_halt_on_ambiguity", lambda self: None)
    code, bad = _run(tmp_path, actions_only, "bad")
    assert code == 1  # the run itself sees two writers' acknowledged writes diverge
    with bad.open("rb") as stream:
        verdict = oracle.check_stream(stream, "bad", True, allowed_dropped=["single_controller"])
    assert verdict.exit_code == 1
    assert [(v.rule, v.invariant) for v in verdict.violations] == [("authority_ambiguity", "P6-A1")]
    excused = {(x.violation.rule, x.violation.invariant) for x in verdict.excused}
    assert ("single_writer", "P6-A1") in excused and ("epoch_fencing", "P6-A3") in excused


# --- the oracle's handling of declarations -----------------------------------------------------


def _force_demo(tmp_path: Path) -> Path:
    steps: list[dict[str, object]] = [
        {"do": "init", "nodes": 2},
        {"do": "request", "candidate": "n1", "operator": "carol", "force": True, "uncertain": True},
    ]
    scenario = tmp_path / "force.json"
    scenario.write_text(json.dumps({"steps": steps, "drop_assumptions": ["force_is_truthful"]}))
    code, trace_file = _run(tmp_path, scenario, "force")
    assert code == 0
    return trace_file


def test_force_is_truthful_demonstration_fails_without_the_flag_and_is_excused_with_it(
    tmp_path: Path,
) -> None:
    trace_file = _force_demo(tmp_path)
    assert main(["check", str(trace_file)]) == 1
    with trace_file.open("rb") as stream:
        verdict = oracle.check_stream(stream, "f", allowed_dropped=["force_is_truthful"])
    assert verdict.exit_code == 0
    assert [(x.violation.rule, x.assumption) for x in verdict.excused] == [
        ("single_writer", "force_is_truthful")
    ]
    # Allowing a different assumption excuses nothing and still fails.
    with trace_file.open("rb") as stream:
        other = oracle.check_stream(stream, "f", allowed_dropped=["single_controller"])
    assert other.exit_code == 1 and not other.excused
    assert [d.name for d in other.dropped_not_allowed] == ["force_is_truthful"]


def test_allow_dropped_on_a_trace_that_declares_nothing_changes_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in ("good_failover", "broken_a1_two_writers"):
        path = EXAMPLES / "traces" / f"{name}.jsonl"
        plain = oracle.check_stream(path.open("rb"), name)
        allowed = oracle.check_stream(path.open("rb"), name, allowed_dropped=["force_is_truthful"])
        assert (allowed.status, allowed.violations, allowed.excused) == (
            plain.status,
            plain.violations,
            [],
        )
        assert "assumptions" not in plain.to_dict()
    assert main(["check", "--allow-dropped", "nonsense", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not an assumption of the spec" in err[0]


def test_a_declaration_that_names_no_assumption_is_malformed() -> None:
    head = t.header(["n0", "n1"], "async", "n0")
    request = t.request("n1", "a1", False, "op", None)
    request["meta"] = {"dropped_assumptions": ["wishful_thinking"]}
    verdict = oracle.check_events(t.number([head, request]))
    assert verdict.status == "malformed" and verdict.error is not None
    assert verdict.error.field == "meta.dropped_assumptions"


def test_excused_violations_are_bounded_in_the_verdict() -> None:
    """A long demonstration keeps memory bounded: the first MAX_EXCUSED_LISTED excused
    violations in full, the rest counted in a note; the check still passes."""
    head = t.header(["n0", "n1"], "async", "n0")
    request = t.request("n1", "a1", False, "op", None)
    request["meta"] = {"dropped_assumptions": ["force_is_truthful"]}
    extra = 7
    writes = [t.write("n1", lsn, 1) for lsn in range(1, oracle.MAX_EXCUSED_LISTED + extra + 1)]
    events = t.number([head, request, t.reject("n1", "a1", "inapplicable"), *writes])
    verdict = oracle.check_events(events, allowed_dropped=["force_is_truthful"])
    assert verdict.exit_code == 0 and not verdict.violations
    assert len(verdict.excused) == oracle.MAX_EXCUSED_LISTED
    assert {(x.violation.rule, x.assumption) for x in verdict.excused} == {
        ("single_writer", "force_is_truthful")
    }
    assert any(f"{extra} more excused violation(s)" in note for note in verdict.notes)
    plain = oracle.check_events(events)
    assert plain.exit_code == 1 and len(plain.violations) == 1  # stops at the first


def test_a_demonstration_is_no_conformance_vector(tmp_path: Path) -> None:
    """`baton vectors` records the runtime scenarios' traces as conforming vectors; a
    demonstration (drop_assumptions) is not a conforming run and is left out."""
    from baton import vectors

    for name in ("authority_ambiguity.json", "clean_failover.json"):
        (tmp_path / name).write_bytes((EXAMPLES / name).read_bytes())
    ids = [v["id"] for v in vectors.runtime_trace_vectors(tmp_path)]
    assert ids == ["trace/run_clean_failover"]


def test_junit_has_a_case_per_declared_assumption(
    demo_run: tuple[int, Path], tmp_path: Path
) -> None:
    """--junit: besides one case per rule, a demonstration's declared assumption is a
    case of its own, failed unless allowed (then listing what it excused)."""
    import xml.etree.ElementTree as ET

    _, trace_file = demo_run
    for allow, code in (([], 1), (["--allow-dropped", "single_controller"], 0)):
        xml = tmp_path / "rules.xml"
        assert main(["check", *allow, "--junit", str(xml), str(trace_file)]) == code
        cases = ET.parse(xml).getroot().findall(".//testcase")
        assert len(cases) == len(oracle.RULES) + 1
        (case,) = [c for c in cases if (c.get("name") or "").startswith("dropped assumption")]
        assert "single_controller" in (case.get("name") or "")
        assert (case.find("failure") is not None) == (code == 1)
        failed = {c.get("name") for c in cases if c.find("failure") is not None}
        assert failed == (set() if code == 0 else {"epoch_fencing (P6-A3)", case.get("name")})
        out = case.findtext("system-out") or ""
        assert ("P6-A3 broken (rule epoch_fencing), excused" in out) == (code == 0)


def test_reopening_directories_that_hold_two_primaries_of_one_epoch_halts_before_any_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The directories of a dead run can hold two Primary markers at one epoch (here: a
    mutant runtime without the halt). ``baton run --resume`` halts every node that sees
    them (reason authority_ambiguity, P6-A1) before the scenario's first step, until
    one claimant is left, fenced as every restarted primary is; the resumed trace
    records the halts, and they are durable: reopened again, the nodes stay halted."""
    doc = json.loads(SCENARIO.read_text("utf-8"))
    doc["steps"] = [s for s in doc["steps"] if s["do"] != "expect"]
    actions_only = tmp_path / "actions.json"
    actions_only.write_text(json.dumps(doc))
    with monkeypatch.context() as patch:
        patch.setattr(RuntimeCluster, "_halt_on_ambiguity", lambda self: None)
        code, trace_file = _run(tmp_path, actions_only, "dead")
    assert code == 1  # two writers: the run's own check fails

    # n0 and n1 see two claims of epoch 2, n2 sees n3 claim its own; n3 is left.
    resume = tmp_path / "resume.json"
    resume.write_text(
        json.dumps(
            {
                "name": "resume_ambiguous",
                "drop_assumptions": ["single_controller"],
                "steps": [
                    {"do": "init", "nodes": 4, "mode": "async"},
                    *[{"do": "expect", "node": f"n{i}", "role": "Halted"} for i in range(3)],
                    {"do": "expect", "node": "n3", "epoch": 2, "writable": False},
                ],
            }
        )
    )
    args = ["run", "--resume", str(resume), "--dir", str(tmp_path / "dead")]
    assert main([*args, "--trace", str(trace_file), "--quiet"]) == 0
    resumed = _events(trace_file)
    resumed = resumed[max(i for i, e in enumerate(resumed) if e.get("kind") == "restart") :]
    halts = [(e.get("node"), e.get("reason")) for e in resumed if e.get("kind") == "halt"]
    assert halts == [(f"n{i}", "authority_ambiguity") for i in range(3)]

    reopened = RuntimeCluster.reopen_directories(tmp_path / "dead", 4, "async")
    try:
        roles = [n.durable.marker_role for n in reopened.state.nodes]
        assert roles == ["Halted"] * 3 + ["Primary"]
        assert not reopened.state.writable_nodes()
    finally:
        reopened.close()
