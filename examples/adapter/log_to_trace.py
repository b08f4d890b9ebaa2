"""Adapter: convert failover_sim.py's log into a Baton trace (format v1).

    python examples/adapter/failover_sim.py \
        | python examples/adapter/log_to_trace.py | baton check -

Mapping (their vocabulary -> Baton's): leader -> primary, term -> epoch,
append -> write, copy -> replicate, commit -> ack, crash -> crash,
"op promote" -> request + lifecycle request, check -> begin_validation +
validation + approve/deny, persist -> begin_transition + durable marker,
leader term=t -> complete, "op done" -> acknowledge.
"""

from __future__ import annotations

import sys
from typing import TextIO

from baton import trace as t

STATUS = {"unreachable": "Unavailable", "alive": "Active", "unknown": "Unknown"}
PREFIX = {"consistent": "Compatible", "diverged": "Divergent", "unknown": "Unknown"}
MVCC = {"ok": "Preserved", "broken": "Violated", "unknown": "Unknown"}
REASONS = {"behind": ("candidate_behind_ack_bound", "P6-S1")}
ALLOWED_INVS = ["P6-A1", "P6-S1", "P6-S2", "P6-S3", "P6-F1"]


def convert(lines: TextIO, out: TextIO) -> None:
    rows = [line.split() for line in lines if line.strip()]
    boots = [r for r in rows if r[2] == "boot"]
    leader = next(r[1] for r in boots if r[3] == "leader")
    w = t.TraceWriter(out, [r[1] for r in boots], "async", leader, producer="failover_sim")
    term = {r[1]: int(r[4].split("=")[1]) for r in boots}
    state: dict[str, str] = {}  # candidate -> lifecycle state
    attempt = "x0"
    for _n, who, what, *rest in (r for r in rows if r[2] != "boot"):
        kv = dict(a.split("=", 1) for a in rest if "=" in a)
        if what == "append":
            w.emit(t.write(who, int(rest[0]), int(kv["term"])))
        elif what == "copy":
            src = kv["from"]
            w.emit(t.replicate(src, who, int(rest[0]), int(kv["term"]), term[src]))
            term[who] = max(term[who], term[src])
        elif what == "commit":
            w.emit(t.ack(who, int(rest[0]), term[who]))
        elif what == "crash":
            w.emit(t.crash(who))
        elif who == "op" and what == "promote":
            cand, attempt = rest[0], f"x{int(attempt[1:]) + 1}"
            w.emit(t.request(cand, attempt, False, operator=kv["by"]))
            w.emit(t.transition(cand, attempt, "Steady", "request", "PromotionRequested"))
            state[cand] = "PromotionRequested"
        elif what == "check":
            mine, bound = int(kv["mine"]), int(kv["committed"])
            pos = "Behind" if mine < bound else ("Equal" if mine == bound else "Ahead")
            ctx = t.context(
                "ReplicaActive",
                STATUS[kv["leader"]],
                kv["force"] == "yes",
                pos,
                PREFIX[kv["log"]],
                MVCC[kv["mvcc"]],
            )
            ok = rest[-1] == "OK"
            reason, inv = ("allowed", None) if ok else REASONS[rest[-1][3:-1]]
            invs = ALLOWED_INVS if ok else [inv]
            why = f"failover_sim check said {rest[-1]}"
            w.emit(
                t.transition(
                    who, attempt, "PromotionRequested", "begin_validation", "PromotionValidating"
                )
            )
            w.emit(t.validation(who, attempt, ctx, reason, invs, why, mine, bound))
            to = "PromotionApproved" if ok else "PromotionDenied"
            w.emit(
                t.transition(
                    who,
                    attempt,
                    "PromotionValidating",
                    "approve" if ok else "deny",
                    to,
                    reason=reason,
                    invariants=invs,
                    explanation=why,
                )
            )
            state[who] = to
        elif what == "persist":
            new = int(kv["term"])
            w.emit(
                t.transition(
                    who,
                    attempt,
                    "PromotionApproved",
                    "begin_transition",
                    "AuthorityTransitioning",
                    epoch=new,
                )
            )
            w.emit(t.marker(who, "Primary", new))
            term[who] = new
        elif what == "leader":
            w.emit(
                t.transition(
                    who,
                    attempt,
                    "AuthorityTransitioning",
                    "complete",
                    "PromotionSucceeded",
                    epoch=int(kv["term"]),
                )
            )
            state[who] = "PromotionSucceeded"
        elif who == "op" and what == "done":
            w.emit(t.transition(rest[0], attempt, state[rest[0]], "acknowledge", "Steady"))
    w.close()


if __name__ == "__main__":
    convert(sys.stdin, sys.stdout)
