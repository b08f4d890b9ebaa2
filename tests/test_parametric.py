"""The proof for every cluster size (spec/parametric.py, proofs/parametric.py).

Covers: the inductive invariant over the uninterpreted node sort proves P6-A1,
A2, A3, S1, S2, F2 and F3 for every N in both modes; the Node-sort model is
the cluster model at N = 2 and N = 3 (cross-check); a planted bug (a guard
dropped) makes consecution fail naming the action and the lemma, and the
cross-check notices the model changed; mutants and dropped assumptions break
the proof; premises are satisfiable (no vacuous pass) and an unsatisfiable one
fails; every query is inside the decidable fragment; an unknown or a spent
budget is a failure, never a pass; the obligations run under ``baton verify``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import z3
from baton.proofs import obligations
from baton.proofs import parametric as pp
from baton.spec import parametric as pm
from baton.spec.cluster import Config


@pytest.fixture(autouse=True)
def _fresh_queries() -> Iterator[None]:
    """Queries are cached per configuration; a test that plants a bug must not see them."""
    pp.query_groups.cache_clear()
    yield
    pp.query_groups.cache_clear()


def _failures(result: pp.Result) -> list[tuple[str, str, str | None]]:
    return [(c.kind, c.subject, c.goal) for c in result.failures()]


@pytest.mark.parametrize("mode", ["async", "sync"])
def test_invariant_proves_the_seven_properties_for_every_n(mode: str) -> None:
    """P6-A1, A2, A3, S1, S2, F2, F3: initiation, consecution, implication over Node."""
    result = pp.prove(Config(mode=mode))
    assert result.passed, _failures(result)
    kinds = {c.kind for c in result.checks}
    assert kinds == {"premise", "initiation", "consecution", "implication"}
    proven = {c.subject for c in result.checks if c.kind == "implication"}
    assert proven == {pid for pid, _ in pm.PROPERTIES}
    # Every action was checked against every lemma, except the one reported disabled.
    names = set(pp.action_names(Config(mode=mode)))
    checked = {c.subject for c in result.checks if c.kind == "consecution"}
    assert checked == names - set(pp.DISABLED_ACTIONS)
    steps = {f"{pid} {name}" for pid, name, _ in pm.STEP_PROPERTIES}
    for name in checked:
        goals = {c.goal for c in result.checks if c.kind == "consecution" and c.subject == name}
        assert goals == set(pp.LEMMA_NAMES) | steps, name


def test_disabled_action_is_reported_not_skipped() -> None:
    """step_down's premise is unsatisfiable under the invariant (P6-A3): said, with why."""
    result = pp.check(Config(), "consecution", "step_down")
    [premise] = result.checks
    assert premise.kind == "premise" and premise.ok
    assert "disabled in every invariant state" in premise.detail
    assert "writer-top-epoch" in premise.detail


@pytest.mark.parametrize(
    ("mode", "action"), [("async", "reinstate"), ("sync", "ack"), ("sync", "designate")]
)
def test_consecution_premises_are_satisfiable(mode: str, action: str) -> None:
    """Companion: the invariant and the action's guard have a model (the check is not vacuous)."""
    result = pp.check(Config(mode=mode), "consecution", action)
    premise = result.checks[0]
    assert premise.kind == "premise" and premise.ok and premise.detail == "premise satisfiable"
    assert len(result.checks) == 1 + len(pp.LEMMAS) + len(pm.STEP_PROPERTIES)


def test_an_unsatisfiable_premise_fails() -> None:
    """No vacuous pass: a check whose premise has no model fails, it does not pass."""
    group = pp.initiation_group(Config())
    vacuous = pp.QueryGroup(
        "consecution", "write", (*group.premise, z3.BoolVal(False)), group.goals, group.pre
    )
    result = pp.run_group(vacuous)
    assert not result.passed
    assert "vacuously" in result.checks[0].detail


@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("mode", ["async", "sync"])
def test_cross_check_equals_the_cluster_model(n: int, mode: str) -> None:
    """At N nodes the Node-sort model and spec/cluster.py are the same transition system."""
    result = pp.cross_check(Config(n=n, mode=mode))
    assert result.passed, [(c.subject, c.detail) for c in result.failures()]
    subjects = {c.subject.split(" (")[0] for c in result.checks}
    assert "initial" in subjects and "property P6-S1" in subjects
    assert {f"action {a}" for a in pp.action_names(Config(mode=mode))} <= subjects


def _without_reinstate_epoch_gate(original: object) -> object:
    """pm.actions with reinstate's holds-the-highest-epoch guard dropped (a planted bug)."""

    def actions(cfg: Config, s: pm.PState, tag: str) -> list[pm.PAction]:
        out = []
        for act in original(cfg, s, tag):  # type: ignore[operator]
            if act.name == "reinstate":
                kept = [
                    g
                    for g in act.guard.children()
                    if not (z3.is_quantifier(g) and "epoch" in str(g))
                ]
                assert len(kept) == len(act.guard.children()) - 1
                act = pm.PAction(act.name, act.params, act.choices, z3.And(*kept), act.post)
            out.append(act)
        return out

    return actions


def test_planted_bug_fails_consecution_naming_action_and_lemma(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Reinstating a primary that does not hold the highest epoch breaks P6-A3's lemma."""
    monkeypatch.setattr(pm, "actions", _without_reinstate_epoch_gate(pm.actions))
    result = pp.check(Config(), "consecution", "reinstate")
    broken = result.failures()
    assert broken, "the planted bug went unnoticed"
    assert {c.subject for c in broken} == {"reinstate"}
    assert "writer-top-epoch" in {c.goal for c in broken}
    first = broken[0]
    assert first.detail.startswith("action reinstate breaks lemma ")
    assert first.model is not None and first.model["action"] == "reinstate"
    assert first.model["pre"]["nodes"] and first.model["post"]["nodes"]


def test_planted_bug_is_caught_by_the_cross_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """The cross-check is not vacuous: a changed guard makes the models differ at that action."""
    monkeypatch.setattr(pm, "actions", _without_reinstate_epoch_gate(pm.actions))
    result = pp.cross_check(Config(n=2))
    assert [c.subject for c in result.failures()] == ["action reinstate (N=2)"]
    assert "parametric -> N" in result.failures()[0].detail


def test_epoch_regression_breaks_the_step_part_of_p6_a3(monkeypatch: pytest.MonkeyPatch) -> None:
    """P6-A3 (epochs never go backwards): replication without epoch fencing lowers an epoch."""
    original = pm.actions

    def unfenced(cfg: Config, s: pm.PState, tag: str) -> list[pm.PAction]:
        out = []
        for act in original(cfg, s, tag):
            if act.name == "replicate":
                base, *rest = act.guard.children()
                kept = [g for g in base.children() if not ("epoch" in str(g) and "<=" in str(g))]
                assert len(kept) == len(base.children()) - 1
                guard = z3.And(z3.And(*kept), *rest)
                act = pm.PAction(act.name, act.params, act.choices, guard, act.post)
            out.append(act)
        return out

    monkeypatch.setattr(pm, "actions", unfenced)
    broken = pp.check(Config(), "consecution", "replicate").failures()
    assert "P6-A3 epochs-monotonic" in {c.goal for c in broken}


@pytest.mark.parametrize(
    ("name", "cfg", "action", "lemma"),
    [
        ("mutant", Config(mutant="restart_keeps_authority"), "restart", "single-writer"),
        ("dropped", Config(dropped=frozenset({"single_controller"})), "reinstate", None),
    ],
)
def test_variants_break_the_proof(name: str, cfg: Config, action: str, lemma: str | None) -> None:
    """With a mutant or a dropped assumption the all-N proof fails (it is not vacuous)."""
    result = pp.prove(cfg, stop_at_first=True)
    first = result.failures()[0]
    assert (first.kind, first.subject) == ("consecution", action)
    if lemma is not None:
        assert first.goal == lemma


def test_every_switch_of_the_cluster_model_is_expected_to_break_the_proof() -> None:
    """Each mutant and each assumption of spec/cluster.py has its expected all-N failure
    (a new switch there must be mirrored in spec/parametric.py and listed)."""
    from baton.spec import cluster

    # A defence mutant drops a guard conjunct the invariant implies: no all-N catch.
    known = (set(cluster.MUTANT_NAMES) - set(cluster.DEFENCE_MUTANTS)) | set(
        cluster.ASSUMPTION_NAMES
    )
    assert known <= set(pp.EXPECTED_CATCH)
    assert set(pp.known_variants()) == known


def test_every_query_is_in_the_fragment() -> None:
    """Quantifiers bind Node only, no exists under forall, no function into Node."""
    for mode in ("async", "sync"):
        result = pp.fragment_check(Config(mode=mode))
        assert result.passed, result.checks[0].detail


def test_fragment_check_rejects_what_is_outside() -> None:
    """The fragment check can fail: forall-exists, a function into Node, an Int variable."""
    s, _symbols = pm.fresh_state("frag")
    forall_exists = pm.forall(1, lambda x: pm.exists(1, lambda y: s.epoch(y) > s.epoch(x)))
    assert any("exists under forall" in p for p in pm.fragment_violations(forall_exists))
    # The same formula negated is an exists-forall: inside.
    assert pm.fragment_violations(z3.Not(forall_exists)) == []
    succ = z3.Function("succ", pm.Node, pm.Node)
    into_node = pm.forall(1, lambda x: s.epoch(succ(x)) > s.epoch(x))
    assert any("into Node" in p for p in pm.fragment_violations(into_node))
    k = z3.Int("k")
    assert any("sort Int" in p for p in pm.fragment_violations(z3.ForAll([k], k >= 0)))


def test_ground_instantiation_agrees_with_the_quantified_proof() -> None:
    """The completeness argument, executed: instantiated over their finite Herbrand
    universe, the initiation and implication queries get the same answers from Z3's
    quantifier-free engine, and a mutant's broken consecution is satisfiable ground too."""
    agree = pp.ground_check(Config(), kinds=("initiation", "implication"))
    assert agree.passed, [(c.subject, c.goal, c.detail) for c in agree.failures()]
    assert len(agree.checks) == 1 + len(pp.LEMMAS) + 2 * len(pm.PROPERTIES)
    broken = pp.ground_check(
        Config(mutant="restart_keeps_authority"), subjects=("restart",), goals=("single-writer",)
    )
    premise, lemma = broken.checks
    assert premise.ok and premise.detail.startswith("sat ")
    assert not lemma.ok and lemma.goal == "single-writer" and lemma.detail.startswith("sat ")


def test_unknown_and_spent_budget_are_failures() -> None:
    """A timeout or unknown never passes: it is reported as a failed check."""
    x, y, z = z3.Ints("x y z")
    hard = z3.And(x > 0, y > 0, z > 0, x * x * x + y * y * y == z * z * z)
    group = pp.initiation_group(Config())
    timed = pp.QueryGroup("implication", "P6-A1", (hard,), group.goals[:1], group.pre)
    result = pp.run_group(timed, timeout_ms=50)
    assert not result.passed
    assert "unknown" in result.checks[0].detail
    spent = pp.run_group(pp.initiation_group(Config()), deadline=0.0)
    assert not spent.passed and "time budget" in spent.checks[0].detail


def test_obligations_are_registered_and_run() -> None:
    """baton verify includes the all-N proof; an implication obligation runs and is proven."""
    obs = {ob.name: ob for ob in obligations.build(quick=True)}
    for mode in ("async", "sync"):
        assert f"parametric.{mode}.consecution" in obs
        for pid, _ in pm.PROPERTIES:
            assert f"parametric.{mode}.implies.{pid}" in obs
    outcome = obligations.run(obs["parametric.async.implies.P6-S1"])
    assert outcome.passed and outcome.verdict == "proven", outcome.detail
    caught = obligations.run(obs["parametric.catch.restart_keeps_authority"])
    assert caught.passed and caught.verdict == "caught", caught.detail


def _table_rows(text: str, heading: str) -> list[list[str]]:
    """The rows of the first list-table after ``heading`` in an rst page, cell by cell."""
    section = text.split(heading, 1)[1].split(".. list-table::", 1)[1]
    body = section.split("\n\n", 1)[1]  # after the options and the blank line
    rows: list[list[str]] = []
    for line in body.splitlines():
        if line.startswith("   * - "):
            rows.append([line[len("   * - ") :]])
        elif line.startswith("     - "):
            rows[-1].append(line[len("     - ") :])
        elif line.startswith("       ") and rows:
            rows[-1][-1] += " " + line.strip()
        elif line and not line.startswith(" "):
            break
    return rows[1:]  # without the header row


def test_docs_tables_match_the_code() -> None:
    """docs/parametric.rst lists every lemma with the properties it serves, and every
    mutant and dropped assumption with the action and lemma where the proof breaks."""
    from pathlib import Path

    text = (Path(__file__).parent.parent / "docs" / "parametric.rst").read_text()
    lemmas = {row[0].strip("`"): row[2] for row in _table_rows(text, "The invariant\n")}
    assert lemmas == {name: ", ".join(pp.LEMMA_SERVES[name]) for name in pp.LEMMA_NAMES}
    caught: dict[str, tuple[str, str]] = {}
    for names, action, lemma in _table_rows(text, "No vacuous pass\n"):
        for name in names.split("``")[1::2]:
            caught[name] = (action.strip("`"), lemma.split("``")[1])
    assert caught == pp.EXPECTED_CATCH
