"""The docs' invariant map (docs/_ext/invariant_map.py) cannot rot.

Every invariant of the catalogue (baton.spec.invariants) has an entry; every
dotted name it cites for the spec and the runtime resolves to a real object;
every ``tests/FILE.py::name`` it cites is a function or class defined in that
file. Also: the lifecycle diagram the docs draw has an arrow for every
transition of the spec's relation (P6-D2) and a box for every state.
"""

from __future__ import annotations

import ast
import importlib
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
    page = baton_docs._assumptions_rst(cluster)
    assert "**STALE.**" in page
    assert all(f"No committed counterexample for ``{a.name}``" in page for a in cluster.ASSUMPTIONS)


def test_committed_counterexamples_cover_every_assumption() -> None:
    """Each environment assumption has a committed counterexample that violates an invariant."""
    from baton.spec import cluster

    folder = ROOT / "docs" / "_data" / "counterexamples"
    for assumption in cluster.ASSUMPTIONS:
        text = (folder / f"{assumption.name}.txt").read_text(encoding="utf-8")
        assert "violates P6-" in text and "Caught" in text
