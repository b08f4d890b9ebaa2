"""The docs' invariant map (docs/_ext/invariant_map.py) cannot rot.

Every invariant of the catalogue (baton.spec.invariants) has an entry; every
dotted name it cites for the spec and the runtime resolves to a real object;
every ``tests/FILE.py::name`` it cites is a function or class defined in that
file. Also: the lifecycle diagram the docs draw has an arrow for every
transition of the spec's relation (P6-D2) and a box for every state; the
assumption pages agree with their counterexamples; the published report is
read through one accessor and marked stale when the model changed; invariant
pages link their tests; nothing in the repository cites notes it does not
contain.
"""

from __future__ import annotations

import ast
import importlib
import json
import re
import sys
from pathlib import Path

import pytest
from baton.spec import lifecycle
from baton.spec.invariants import INVARIANTS

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs" / "_ext"))

import baton_docs  # noqa: E402
from invariant_map import INVARIANT_MAP  # noqa: E402


def _resolve(dotted: str) -> object:
    """Import the longest module prefix of ``dotted`` and walk the attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ModuleNotFoundError(dotted)


def _defined_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    }


def test_every_invariant_has_an_entry_and_no_entry_is_unknown() -> None:
    """Each catalogue ID (P6-A1 ... P6-O2) has exactly one map entry."""
    assert set(INVARIANT_MAP) == {inv.id for inv in INVARIANTS}


@pytest.mark.parametrize("invariant_id", sorted(INVARIANT_MAP))
def test_cited_code_exists(invariant_id: str) -> None:
    """Every spec and runtime object the invariant's page cites resolves."""
    entry = INVARIANT_MAP[invariant_id]
    assert entry.spec and entry.runtime and entry.tests
    for dotted in (*entry.spec, *entry.runtime):
        _resolve(dotted)  # raises if the module or attribute is gone


@pytest.mark.parametrize("invariant_id", sorted(INVARIANT_MAP))
def test_cited_tests_exist(invariant_id: str) -> None:
    """Every ``tests/FILE.py::name`` the invariant's page cites is defined there."""
    for ref in INVARIANT_MAP[invariant_id].tests:
        file_part, _, name = ref.partition("::")
        path = ROOT / file_part
        assert path.is_file(), f"{ref}: no such file"
        assert name in _defined_names(path), f"{ref}: no such test"


def test_resolver_rejects_a_missing_name() -> None:
    """The existence check can fail: a name that is not there raises."""
    with pytest.raises(AttributeError):
        _resolve("baton.validator.no_such_function")


def test_diagram_draws_every_transition_and_state() -> None:
    """The generated SVG has one arrow per spec transition (P6-D2) and one box per state."""
    transitions = lifecycle.enumerate_transitions()
    svg = baton_docs.lifecycle_svg(transitions, lifecycle.STATE_NAMES)
    assert svg.count("marker-end=") == len(transitions)
    assert svg.count("<rect") == len(lifecycle.STATE_NAMES)
    for state in lifecycle.STATE_NAMES:
        assert f">{state}</text>" in svg


def test_stale_counterexamples_are_flagged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A counterexample stamp that does not match the model marks the page STALE."""
    from baton.spec import cluster

    (tmp_path / "counterexamples").mkdir()
    (tmp_path / "counterexamples" / "stamp.json").write_text('{"model_sha256": "0"}')
    monkeypatch.setattr(baton_docs, "DATA", tmp_path)
    page = baton_docs._assumptions_rst(cluster, None)
    assert "**STALE.**" in page
    assert all(f"No committed counterexample for ``{a.name}``" in page for a in cluster.ASSUMPTIONS)


def test_committed_counterexamples_cover_every_assumption() -> None:
    """Each environment assumption has a committed counterexample that violates an invariant."""
    from baton.spec import cluster

    folder = ROOT / "docs" / "_data" / "counterexamples"
    for assumption in cluster.ASSUMPTIONS:
        text = (folder / f"{assumption.name}.txt").read_text(encoding="utf-8")
        assert "violates P6-" in text and "Caught" in text


def test_assumption_pages_agree_with_their_counterexamples() -> None:
    """Each assumption's page lists, as broken, what its own counterexample violates
    (fenced_restart's counterexample violates P6-A3, so its page says P6-A3)."""
    from baton.spec import cluster

    page = baton_docs._assumptions_rst(cluster, None)
    evidence = baton_docs.assumption_evidence(cluster, None)
    folder = ROOT / "docs" / "_data" / "counterexamples"
    for assumption in cluster.ASSUMPTIONS:
        text = (folder / f"{assumption.name}.txt").read_text(encoding="utf-8")
        violated = baton_docs._counterexample_violates(text)
        assert violated, f"{assumption.name}: the counterexample names no property"
        for pid in violated:
            assert evidence[assumption.name][pid] == "the counterexample below violates it"
        section = page.split(f"``{assumption.name}``", 1)[1]
        assert f":doc:`/invariants/{violated[0]}`: the counterexample below violates it" in section


def test_counterexample_header_parsing() -> None:
    header = "Counterexample (N=2 async drop:x): 9 steps, violates P6-A3, P6-S1\n\n  0. ..."
    assert baton_docs._counterexample_violates(header) == ["P6-A3", "P6-S1"]
    assert baton_docs._counterexample_violates("no header here") == []


def test_result_kind_reads_the_current_and_a_renamed_field() -> None:
    assert baton_docs.result_kind({"result": "proven", "passed": True}) == "proven"
    assert baton_docs.result_kind({"result_kind": "caught", "result": "x"}) == "caught"
    assert baton_docs.result_kind({"kind": "reachable"}) == "reachable"
    assert baton_docs.result_kind({"result": {"kind": "witnessed"}}) == "witnessed"
    assert baton_docs.result_kind({"passed": False}) == "failed"
    assert baton_docs.row_passed({"status": "ok"}) and not baton_docs.row_passed({"passed": False})


def test_published_report_is_marked_stale_unless_its_digest_matches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(baton_docs, "DATA", tmp_path)
    assert baton_docs.load_published_report() is None
    report = {"mode": "full", "passed": True, "obligations": [{"name": "a.b", "passed": True}]}
    (tmp_path / "verify-full.json").write_text(json.dumps(report))
    (tmp_path / "verify-full.meta.json").write_text(json.dumps({"report_sha256": "0"}))
    stale = baton_docs.load_published_report()
    assert stale is not None and stale.label == "full" and stale.stale
    meta = {"report_sha256": baton_docs.report_digest(), "generated": "today"}
    (tmp_path / "verify-full.meta.json").write_text(json.dumps(meta))
    current = baton_docs.load_published_report()
    assert current is not None and not current.stale and "today" in current.source
    heading = "\n".join(baton_docs._report_heading(stale))
    assert "the full run" in heading and "**STALE.**" in heading


def test_quick_report_is_labelled_as_the_quick_subset() -> None:
    report = baton_docs.Report(
        {"mode": "quick", "passed": True, "obligations": []}, "quick", "x", False
    )
    assert "the quick subset (``--quick``), not the full run" in "\n".join(
        baton_docs._report_heading(report)
    )


def test_invariant_pages_link_their_tests(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests are links (:ref:) to generated pages that define those labels."""
    monkeypatch.setattr(baton_docs, "GEN", tmp_path / "_gen")
    baton_docs.gen_invariants(None)
    page = (tmp_path / "invariants" / "P6-S1.rst").read_text()
    ref = INVARIANT_MAP["P6-S1"].tests[0]
    label = baton_docs._test_label(ref)
    assert f":ref:`{ref} <{label}>`" in page
    test_page = (
        tmp_path / "invariants" / "tests" / f"{Path(ref.split('::')[0]).stem}.rst"
    ).read_text()
    assert f".. _{label}:" in test_page and ":pyobject:" in test_page


NOTES_NOT_IN_THE_REPOSITORY = ("DESIGN.md", "STYLE.md", "RELIABILITY.md")


def test_nothing_cites_notes_that_are_not_in_the_repository() -> None:
    """The repository stands alone: no file cites the developers' planning notes, a
    numbered pattern of theirs, or a planning item; what users need is in docs/."""
    import subprocess

    tracked = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files"], capture_output=True, text=True, check=True
    ).stdout.split()
    offenders = []
    for rel in tracked:
        path = ROOT / rel
        if rel == "tests/test_docs_links.py" or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        if (
            any(name in text for name in NOTES_NOT_IN_THE_REPOSITORY)
            or "issue item" in text
            or "../shared" in text
            or re.search(r"\(pattern \d+\)", text)
        ):
            offenders.append(rel)
    assert offenders == [], offenders
