"""`baton generate`: impl/_table.py and the vocabulary are derived from the Z3 spec.

Covers: the committed table equals the spec's enumeration (CI drift check);
`--check` exits 1 with a readable unified diff after a hand edit and 0 when
in sync; the generated text is stable under `ruff format`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from baton import _table
from baton.cli import main
from baton.commands import generate
from baton.spec import lifecycle


def test_committed_table_matches_the_spec() -> None:
    """P6-D2: the runtime's table is exactly the enumerated relation (no drift)."""
    assert generate.drift(generate.default_path()) == ""
    expected = {(a, e): b for a, e, b in lifecycle.enumerate_transitions()}
    assert expected == _table.TRANSITIONS
    assert lifecycle.STATE_NAMES == _table.STATES
    assert lifecycle.EVENT_NAMES == _table.EVENTS


def test_check_detects_a_hand_edit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A hand edit (an extra, forbidden transition) makes --check exit 1 naming it."""
    edited = tmp_path / "_table.py"
    text = generate.render().replace(
        '    ("PromotionDenied", "acknowledge"): "Steady",\n',
        '    ("PromotionDenied", "acknowledge"): "Steady",\n'
        '    ("PromotionDenied", "retry"): "PromotionValidating",\n',
    )
    assert text != generate.render()
    edited.write_text(text)
    assert main(["generate", "--check", "--output", str(edited)]) == 1
    err = capsys.readouterr().err
    assert '-    ("PromotionDenied", "retry"): "PromotionValidating",' in err
    assert "differs from the spec" in err


def test_check_passes_on_a_fresh_file(tmp_path: Path) -> None:
    """Writing then checking the same path succeeds (exit 0)."""
    out = tmp_path / "t.py"
    assert main(["generate", "--output", str(out)]) == 0
    assert main(["generate", "--check", "--output", str(out)]) == 0


def test_missing_file_is_drift(tmp_path: Path) -> None:
    """A missing table is reported as drift, not silently accepted."""
    assert main(["generate", "--check", "--output", str(tmp_path / "absent.py")]) == 1


def test_check_covers_the_vocabulary(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --output, --check also compares impl/schemas/vocabulary.json with the
    spec: an explanation edited by hand in the shipped vocabulary is drift (exit 1)."""
    shipped = generate.vocabulary_path().read_text(encoding="utf-8")
    assert shipped == generate.render_vocabulary()  # the committed file: no drift
    edited = tmp_path / "vocabulary.json"
    edited.write_text(shipped.replace("switched off", "turned off", 1), encoding="utf-8")
    monkeypatch.setattr(generate, "vocabulary_path", lambda: edited)
    assert main(["generate", "--check"]) == 1
    err = capsys.readouterr().err
    assert f"{edited} differs from the spec" in err
    assert '+        "description": "the candidate is disabled' in err


def test_generate_says_when_nothing_changed_and_leaves_the_file_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A second 'baton generate' finds the file current: it says so instead of 'wrote',
    and does not touch the file (its modification time stays)."""
    out = tmp_path / "table.py"
    assert main(["generate", "--output", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    written = out.stat().st_mtime_ns
    assert main(["generate", "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"{out}: already up to date with the spec (not rewritten)" in printed
    assert "wrote" not in printed
    assert out.stat().st_mtime_ns == written
