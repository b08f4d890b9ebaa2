"""Where each invariant lives: the single table the per-invariant pages come from.

Each entry maps an invariant ID of :mod:`baton.spec.invariants` to the places
that encode, prove, enforce and test it. Statements come from the catalogue,
proof obligations from ``baton.proofs.obligations.build()`` and mutants from
``baton.spec.cluster.MUTANTS`` at build time, so only what cannot be computed
is written here. ``tests/test_docs_links.py`` checks that every dotted name
imports and every ``tests/FILE.py::name`` exists, so this table cannot rot.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class InvariantDoc:
    """The hand-maintained facts about one invariant."""

    spec: tuple[str, ...]
    """Dotted names of the spec objects that state it."""
    proof: str
    """How it is proven: method, parameters and the limits of the claim."""
    runtime: tuple[str, ...]
    """Dotted names of the runtime code that enforces it."""
    tests: tuple[str, ...]
    """``tests/FILE.py::name`` of tests that exercise it."""


_CLUSTER_PROOF = (
    "For every cluster size: an inductive invariant over an uninterpreted node sort "
    "(``baton.proofs.parametric``), checked by Z3 for initiation, consecution of every "
    "action and implication of the property, in a decidable fragment (see "
    ":doc:`/parametric`); at N = 2 and 3 that model is proven equal to the per-N cluster "
    "model. Per N (2, 3, 4, async and sync) the same lemmas are proven again over the "
    "cluster model itself (``baton.proofs.induction``), for WALs and epochs of any length "
    "(lengths plus pairwise longest common prefixes, exact for the model's operations), "
    "and bounded model checking at N = 2, 3 re-checks the predicate. It holds under the "
    "environment assumptions on the model page, and the companion witness shows the "
    "good path is reachable, so it does not hold vacuously."
)
_VALIDATION_PROOF = (
    "Z3 proves it over the whole abstract validation domain (every field value; positions "
    "enter only through their order, an exact abstraction), so the claim is unbounded in "
    "that domain. ``conformance.validator`` then checks the runtime validator equals the "
    "spec's rule on every abstract point."
)
_LIFECYCLE_PROOF = (
    "Z3 over the finite lifecycle relation (7 states, 10 events): a complete claim, no "
    "bound. ``conformance.table`` checks the generated runtime table equals the relation."
)

INVARIANT_MAP: dict[str, InvariantDoc] = {
    "P6-A1": InvariantDoc(
        spec=(
            "baton.spec.properties.single_writer",
            "baton.spec.validation.CHECKS",
            "baton.spec.properties.one_primary_followed",
            "baton.spec.cluster.ambiguity_guard",
        ),
        proof=_CLUSTER_PROOF,
        runtime=(
            "baton.validator.validate",
            "baton.core.environment_allows",
            "baton.core.refusal",
            "baton.controller.Controller",
            "baton.core.AmbiguityHalt",
            "baton.core.ambiguity_detail",
        ),
        tests=(
            "tests/test_ambiguity.py::test_a_node_that_sees_two_primaries_of_one_epoch_halts_as_the_spec_says",
            "tests/test_ambiguity.py::test_the_core_refuses_the_halt_exactly_where_the_spec_disables_it",
            "tests/test_ambiguity.py::test_oracle_accepts_the_halt_and_rejects_following_both_primaries",
            "tests/test_spec_concrete.py::test_two_writers_violate_single_writer",
            "tests/test_runtime_core.py::test_restarted_primary_is_fenced_until_reinstated",
            "tests/test_runtime_core.py::test_dropping_force_is_truthful_shows_the_two_writer_counterexample",
            "tests/test_oracle_rules.py::test_p6_a1_two_writers_after_reinstate",
            "tests/test_simulate.py::test_ci_seeds_keep_every_property",
        ),
    ),
    "P6-A1a": InvariantDoc(
        spec=("baton.spec.validation.CHECKS", "baton.spec.validation.safe_to_promote"),
        proof=_VALIDATION_PROOF,
        runtime=(
            "baton.validator.validate",
            "baton.controller.Controller",
            "baton.events.Recorder",
        ),
        tests=(
            "tests/test_spec_validation.py::test_force_never_overrides_active_primary",
            "tests/test_validator.py::test_force_never_overrides_an_active_primary",
            "tests/test_validator.py::test_force_stands_in_for_unknown_only",
            "tests/test_controller.py::test_forced_requests_are_audited_even_when_refused",
            "tests/test_oracle_rules.py::test_p6_a1a_forced_request_not_audited",
        ),
    ),
    "P6-A2": InvariantDoc(
        spec=("baton.spec.properties.atomic_transfer",),
        proof=_CLUSTER_PROOF,
        runtime=("baton.core.step", "baton.marker.write_marker"),
        tests=(
            "tests/test_runtime_core.py::test_complete_only_after_the_marker_is_durable",
            "tests/test_controller.py::test_approved_request_runs_to_success",
            "tests/test_oracle_rules.py::test_p6_a2_complete_before_durable_marker",
        ),
    ),
    "P6-A3": InvariantDoc(
        spec=("baton.spec.properties.epoch_fencing",),
        proof=_CLUSTER_PROOF,
        runtime=("baton.core.BeginTransition", "baton.core.refusal", "baton.wal.Wal"),
        tests=(
            "tests/test_runtime_core.py::test_promotion_grants_highest_epoch_plus_one_and_fences_the_old_primary",
            "tests/test_wal.py::test_append_in_an_older_epoch_is_refused",
            "tests/test_wal.py::test_epoch_going_backwards_on_disk_is_corruption",
            "tests/test_oracle_rules.py::test_p6_a3_deposed_primary_reinstated",
        ),
    ),
    "P6-S1": InvariantDoc(
        spec=("baton.spec.properties.acked_preserved", "baton.spec.validation.CHECKS"),
        proof=_CLUSTER_PROOF,
        runtime=("baton.validator.validate", "baton.wal.Wal", "baton.core.step"),
        tests=(
            "tests/test_spec_concrete.py::test_writer_missing_acked_write_violates_s1",
            "tests/test_runtime_core.py::test_lagging_candidate_is_denied_with_p6_s1",
            "tests/test_runtime_core.py::test_no_reinstatement_while_an_attempt_is_in_flight",
            "tests/test_wal.py::test_every_truncation_length_is_refused_or_cut_to_the_last_whole_record",
            "tests/test_wal.py::test_a_synced_last_record_that_is_damaged_is_refused_not_cut",
            "tests/test_scenarios_run.py::test_crash_at_wal_fsync_loses_nothing_acknowledged",
            "tests/test_oracle_rules.py::test_p6_s1_acknowledged_write_lost",
        ),
    ),
    "P6-S2": InvariantDoc(
        spec=("baton.spec.properties.history_extends", "baton.spec.validation.CHECKS"),
        proof=_CLUSTER_PROOF,
        runtime=("baton.validator.validate", "baton.core.step", "baton.wal.Wal"),
        tests=(
            "tests/test_wal.py::test_checksum_valid_record_out_of_sequence_is_corruption_even_at_the_tail",
            "tests/test_wal.py::test_truncate_after_is_durable_and_lsns_continue",
            "tests/test_oracle_rules.py::test_p6_s2_replication_gap",
        ),
    ),
    "P6-S3": InvariantDoc(
        spec=("baton.spec.validation.CHECKS", "baton.spec.validation.safe_to_promote"),
        proof=_VALIDATION_PROOF
        + " MVCC visibility itself is an input fact (Preserved, Violated, Unknown): Baton "
        "proves the rule honours it, not how a database computes it.",
        runtime=("baton.validator.validate",),
        tests=("tests/test_validator.py::test_equal_to_the_spec_on_the_whole_domain",),
    ),
    "P6-F1": InvariantDoc(
        spec=("baton.spec.validation.decide", "baton.spec.validation.safe_to_promote"),
        proof=_VALIDATION_PROOF,
        runtime=("baton.validator.validate", "baton.validator.ack_position"),
        tests=(
            "tests/test_spec_validation.py::test_sound_allowed_implies_every_precondition",
            "tests/test_spec_validation.py::test_unknown_fields_deny_with_their_own_reason",
            "tests/test_validator.py::test_equal_to_the_spec_on_the_whole_domain",
            "tests/test_oracle_rules.py::test_p6_f1_validator_allows_unknown_primary",
        ),
    ),
    "P6-F2": InvariantDoc(
        spec=(
            "baton.spec.properties.recovery_exact",
            "baton.spec.lifecycle.authority_after_crash",
        ),
        proof=_CLUSTER_PROOF
        + " The marker write is modelled as four file operations with a crash possible "
        "between any two; the runtime's crash states are enumerated separately on the "
        "simulated disk (journaled and ALICE-weak models).",
        runtime=(
            "baton.marker.write_marker",
            "baton.marker.read_marker",
            "baton.core.recover",
            "baton.identity.recover_node",
        ),
        tests=(
            "tests/test_node_runtime.py::test_every_crash_state_of_the_marker_write_recovers_old_or_new",
            "tests/test_crash_enumeration.py::test_every_crash_state_recovers_old_or_new_and_keeps_acknowledged_writes",
            "tests/test_marker.py::test_every_bit_flip_of_the_marker_is_rejected",
            "tests/test_fsync_mutants.py::test_fsync_mutant_is_caught",
            "tests/test_kill.py::test_sigkill_at_failpoint",
        ),
    ),
    "P6-F3": InvariantDoc(
        spec=("baton.spec.properties.no_implicit_retry", "baton.spec.lifecycle.RULES"),
        proof=_LIFECYCLE_PROOF
        + " In the cluster, "
        + _CLUSTER_PROOF[0].lower()
        + _CLUSTER_PROOF[1:],
        runtime=("baton.lifecycle.next_state", "baton.controller.Controller"),
        tests=(
            "tests/test_spec_lifecycle.py::test_timeout_and_retry_never_transition",
            "tests/test_runtime_lifecycle.py::test_timeout_and_retry_never_move",
            "tests/test_controller.py::test_denied_request_is_not_retried",
            "tests/test_oracle_rules.py::test_p6_f3_retry_transition",
        ),
    ),
    "P6-D1": InvariantDoc(
        spec=("baton.spec.validation.decide", "baton.spec.validation.decision_table"),
        proof=_VALIDATION_PROOF,
        runtime=("baton.validator.validate",),
        tests=(
            "tests/test_spec_validation.py::test_total_and_functional",
            "tests/test_validator.py::test_agrees_with_the_naive_validator",
            "tests/test_oracle_rules.py::test_p6_d1_decision_differs_from_spec",
        ),
    ),
    "P6-D2": InvariantDoc(
        spec=("baton.spec.lifecycle.transition", "baton.spec.lifecycle.enumerate_transitions"),
        proof=_LIFECYCLE_PROOF,
        runtime=("baton.lifecycle.next_state", "baton._table"),
        tests=(
            "tests/test_spec_lifecycle.py::test_deterministic",
            "tests/test_generate.py::test_committed_table_matches_the_spec",
            "tests/test_runtime_lifecycle.py::test_every_pair_is_decided_by_the_spec",
            "tests/test_oracle_rules.py::test_p6_d2_forbidden_lifecycle_transition",
        ),
    ),
    "P6-O1": InvariantDoc(
        spec=("baton.spec.lifecycle.RULES",),
        proof=_LIFECYCLE_PROOF
        + " The graph check shows every path from a request back to Steady passes a "
        "decision event; the runtime's emission is checked by tests and the oracle.",
        runtime=("baton.events.Recorder", "baton.controller.Controller"),
        tests=(
            "tests/test_controller.py::test_events_of_an_attempt",
            "tests/test_oracle_rules.py::test_p6_o1_decision_without_validation",
            "tests/test_oracle_rules.py::test_p6_o1_trace_ends_mid_attempt",
        ),
    ),
    "P6-O2": InvariantDoc(
        spec=("baton.spec.validation.REASON_INVARIANT", "baton.spec.validation.ALLOWED_INVARIANTS"),
        proof=_VALIDATION_PROOF
        + " ``validation.reasons`` shows every decision is reachable and maps to one invariant.",
        runtime=("baton.events.verdict_invariants", "baton.oracle.reason_invariant"),
        tests=(
            "tests/test_spec_validation.py::test_every_reason_reachable_and_mapped_to_one_invariant",
            "tests/test_validator.py::test_every_denial_names_its_invariant",
            "tests/test_oracle_rules.py::test_p6_o2_decision_names_wrong_invariant",
        ),
    ),
}
