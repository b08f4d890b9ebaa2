"""The invariant catalogue: every property Baton states, declared once.

Everything else -- the Z3 predicates, the validator's denial reasons, the
runtime's checks, the tests and the docs -- refers to these IDs. The
statements are one sentence each; :mod:`baton.spec.properties` holds the
formal predicates and the docs hold one page per ID.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Invariant:
    """One named property of the protocol."""

    id: str
    title: str
    statement: str


INVARIANTS: tuple[Invariant, ...] = (
    Invariant(
        "P6-A1",
        "single writer",
        "At most one node admits writes at any time, across crashes, restarts and "
        "forced promotions, under the stated environment assumptions.",
    ),
    Invariant(
        "P6-A1a",
        "force is bounded",
        "A forced request only stands in for a primary whose status is Unknown; it "
        "never overrides a primary observed Active, and every forced request is audited.",
    ),
    Invariant(
        "P6-A2",
        "atomic transfer",
        "No reachable state, crash points included, has two writable nodes, and the "
        "node of a completed promotion is the one writable node.",
    ),
    Invariant(
        "P6-A3",
        "epoch fencing",
        "A writable node holds the highest epoch in the cluster: a deposed primary never "
        "regains authority without a new promotion, and epochs never go backwards.",
    ),
    Invariant(
        "P6-S1",
        "no acknowledged write lost",
        "Every acknowledged write is in the WAL of the node that holds authority, in "
        "particular in the new primary's WAL after a promotion.",
    ),
    Invariant(
        "P6-S2",
        "prefix-compatible history",
        "The acknowledged history only ever grows by extension: a promoted WAL continues "
        "it without divergence, reordering or gap.",
    ),
    Invariant(
        "P6-S3",
        "MVCC visibility preserved",
        "A promotion is allowed only when the candidate preserves the MVCC visibility of "
        "every committed transaction.",
    ),
    Invariant(
        "P6-F1",
        "fail closed",
        "The validator allows a promotion only when every safety precondition is proven; "
        "anything unknown denies, with its own reason.",
    ),
    Invariant(
        "P6-F2",
        "crash-safe transfer",
        "Recovery from any crash, at any file operation, yields exactly the old or the new "
        "authority, decided only by the durable marker; never neither, never a guess.",
    ),
    Invariant(
        "P6-F3",
        "no implicit retry",
        "Every validation follows its own explicit request: nothing retries, times out or "
        "re-enters an attempt without a new request.",
    ),
    Invariant(
        "P6-D1",
        "deterministic validation",
        "The validation decision is a pure, total function of the validation context.",
    ),
    Invariant(
        "P6-D2",
        "deterministic lifecycle",
        "Each (state, event) pair has at most one successor state.",
    ),
    Invariant(
        "P6-O1",
        "attempts are observable",
        "Every promotion attempt emits a start event, a validation result and a decision.",
    ),
    Invariant(
        "P6-O2",
        "decisions are explained",
        "Every decision carries an explanation naming the invariant that allowed or blocked it.",
    ),
)

BY_ID: dict[str, Invariant] = {inv.id: inv for inv in INVARIANTS}


def get_invariant(invariant_id: str) -> Invariant:
    """Return the invariant with this ID, or raise ``KeyError`` naming it."""
    try:
        return BY_ID[invariant_id]
    except KeyError:
        raise KeyError(f"unknown invariant ID {invariant_id!r}") from None


def full_name(invariant_id: str) -> str:
    """The ID with its title, as every human-readable output shows it.

    ``full_name("P6-S1")`` is ``"P6-S1 No acknowledged write lost"``: an ID alone
    means nothing to a reader who has not learnt the catalogue.
    """
    title = get_invariant(invariant_id).title
    return f"{invariant_id} {title[:1].upper()}{title[1:]}"
