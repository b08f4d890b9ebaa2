"""`baton schema vocabulary`: the protocol's vocabulary as data, generated from the spec.

The shipped document equals what the spec generates; its checks, read as data,
decide every point of the domain as the spec does (the solver-backed
cross-check is in test_oracle_tables.py); 'NotApplicable' for MVCC is decided
as Preserved; and checking a trace needs no solver.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

from baton import cli, oracle, vocabulary
from baton import trace as t
from baton.spec import lifecycle, validation

ROOT = Path(__file__).resolve().parent.parent


def test_shipped_vocabulary_is_generated_from_the_spec() -> None:
    """impl/schemas/vocabulary.json is exactly what generate() derives (no drift)."""
    assert vocabulary.load() == json.loads(json.dumps(vocabulary.generate()))


def test_checks_as_data_decide_like_the_spec_on_every_point() -> None:
    """P6-D1: the first check whose 'when' holds is the spec's decision, on all 1512 points;
    and the document's domain is the spec's."""
    table = validation.decision_table()
    assert sorted(map(str, vocabulary.domain_points())) == sorted(map(str, table))
    for point, want in table.items():
        assert vocabulary.decide(point) == want, point


def test_force_is_part_of_the_primary_active_conditions() -> None:
    """The document states force exactly: Active without force is primary_active (P6-A1),
    Active with force is force_cannot_override_active_primary (P6-A1a)."""
    checks = {c["reason"]: c for c in vocabulary.load()["validation"]["checks"]}
    assert checks["primary_active"]["when"] == {"primary_status": ["Active"], "force": [False]}
    assert checks["force_cannot_override_active_primary"]["when"] == {
        "primary_status": ["Active"],
        "force": [True],
    }
    assert checks["force_cannot_override_active_primary"]["invariant"] == "P6-A1a"
    orders = [c["order"] for c in vocabulary.load()["validation"]["checks"]]
    assert orders == list(range(1, len(validation.CHECKS) + 1))


def test_lifecycle_and_reasons_match_the_spec() -> None:
    doc = vocabulary.load()
    assert doc["lifecycle"]["states"] == list(lifecycle.STATE_NAMES)
    assert {(x["from"], x["event"], x["to"]) for x in doc["lifecycle"]["transitions"]} == set(
        lifecycle.enumerate_transitions()
    )
    assert doc["validation"]["reasons"] == validation.REASON_INVARIANT
    assert doc["validation"]["allowed_invariants"] == list(validation.ALLOWED_INVARIANTS)


def test_mvcc_not_applicable_conforms_and_unknown_is_still_denied() -> None:
    """A system without MVCC records NotApplicable (decided as Preserved): the allowed
    promotion conforms; recording Unknown and allowing it is P6-F1."""
    ctx = t.context("ReplicaActive", "Unavailable", False, "Equal", "Compatible", "NotApplicable")
    assert oracle.spec_decision(oracle.context_key(ctx)) == "allowed"
    unknown = {**ctx, "mvcc": "Unknown"}
    assert oracle.spec_decision(oracle.context_key(unknown)) == "mvcc_unknown"
    assert "NotApplicable" in json.dumps(t.trace_schema()["$defs"]["context"])


def test_schema_command_prints_the_vocabulary() -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(["schema", "vocabulary"]) == 0
    doc = json.loads(out.getvalue())
    assert (doc["format"], doc["version"]) == ("baton-vocabulary", 1)


def test_checking_a_trace_needs_no_solver() -> None:
    """baton check decides validation lines from the vocabulary: z3 is never imported."""
    good = str(ROOT / "examples" / "traces" / "good_failover.jsonl")
    code = (
        "import sys; from baton import oracle\n"
        f"v = oracle.check_stream(open({good!r}, 'rb'))\n"
        "assert v.status == 'conforms', v.status\n"
        "assert 'z3' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_the_docs_check_table_is_the_vocabulary() -> None:
    """docs/oracle.md's table of checks states exactly the vocabulary's checks, in order."""
    text = (ROOT / "docs" / "oracle.md").read_text("utf-8")
    rows = [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in text.splitlines()
        if line.startswith("| ") and line.split("|")[1].strip().isdigit()
    ]

    def spoken(when: dict[str, list[object]]) -> str:
        def word(v: object) -> str:
            return "true" if v is True else "false" if v is False else str(v)

        return " and ".join(
            f"`{f}` is {' or '.join(word(v) for v in vals)}" for f, vals in when.items()
        )

    want = [
        [str(c["order"]), spoken(c["when"]), f"`{c['reason']}`", c["invariant"]]
        for c in vocabulary.load()["validation"]["checks"]
    ]
    assert rows == want
