"""A replay adapter for Baton's vectors, written as another team would (stream mode).

It answers the lifecycle and validation families from its own, independently
written rules (it imports nothing from Baton) and declines the others:

    baton vectors --out /tmp/vectors
    python -m baton.replay /tmp/vectors --stream \
        --command "python examples/adapter/vector_adapter.py" \
        --family lifecycle --family validation

One vector per input line, one outcome per output line.
"""

from __future__ import annotations

import json
import sys

NEXT = {
    ("Steady", "request"): "PromotionRequested",
    ("PromotionRequested", "begin_validation"): "PromotionValidating",
    ("PromotionRequested", "reject"): "Steady",
    ("PromotionValidating", "approve"): "PromotionApproved",
    ("PromotionValidating", "deny"): "PromotionDenied",
    ("PromotionApproved", "begin_transition"): "AuthorityTransitioning",
    ("AuthorityTransitioning", "complete"): "PromotionSucceeded",
    ("PromotionSucceeded", "acknowledge"): "Steady",
    ("PromotionDenied", "acknowledge"): "Steady",
}
ROLE_REASONS = {
    "PrimaryActive": "candidate_is_primary",
    "Disabled": "candidate_disabled",
    "Uninitialized": "candidate_uninitialized",
    "Halted": "candidate_halted",
}


def decide(c: dict) -> str:
    if c["role"] in ROLE_REASONS:
        return ROLE_REASONS[c["role"]]
    if c["primary_status"] == "Active":
        return "force_cannot_override_active_primary" if c["force"] else "primary_active"
    if c["primary_status"] == "Unknown" and not c["force"]:
        return "primary_status_unknown"
    pos = {"Unknown": "ack_bound_unknown", "Behind": "candidate_behind_ack_bound"}
    if c["position"] in pos:
        return pos[c["position"]]
    for key, unknown, bad in (
        ("prefix", "history_unknown", "history_divergent"),
        ("mvcc", "mvcc_unknown", "mvcc_violated"),
    ):
        if c[key] == "Unknown":
            return unknown
        if c[key] in ("Divergent", "Violated"):
            return bad
    return "allowed"


def answer(vector: dict) -> dict:
    family, given = vector["family"], vector["input"]
    if family == "lifecycle":
        return {"next": NEXT.get((given["state"], given["event"]))}
    if family == "validation":
        return {"decision": decide(given["context"])}
    return {"skip": f"this adapter does not run {family} vectors"}


if __name__ == "__main__":
    for line in sys.stdin:
        print(json.dumps(answer(json.loads(line))), flush=True)
