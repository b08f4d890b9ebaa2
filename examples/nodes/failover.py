#!/usr/bin/env python3
"""A node that fails over safely and reports every event: the step after minimal.py.

    baton test --bin "python3 examples/nodes/failover.py" --nodes 3 --seeds 0..9
    baton test --bin "python3 examples/nodes/failover.py --bug ack-before-fsync" --seed 0

Written from docs/harness.md and docs/oracle.md alone, as an outside team would,
with no Baton code. The rules it keeps, each for an invariant:

* a write is acknowledged only after its fsync (P6-S1);
* a promotion asks every peer for its state and decides only on what came
  back: a silent peer makes the old primary's status and the bound on
  acknowledged writes Unknown, and force can stand in for the status, never
  for the bound (P6-F1); a peer that still admits writes is Active (P6-A1);
* the new primary takes an epoch above every epoch it heard of, writes its
  marker durably before it admits writes (P6-A2, P6-A3), and every node that
  sees the higher epoch gives up authority; a lower-epoch sender is ignored;
* a restarted process never admits writes by itself: it comes up fenced.

Safe, and often unavailable: a promotion needs an answer from every peer, so
while one is paused or cut off every request is denied (in 30 seeds: 18
promotions succeeded, 280 requests denied, no violation).

Every decision is reported as Baton trace events (header families: all five),
so `baton check --require-full` judges the whole run. `--bug ack-before-fsync`
plants the classic flaw (a write is acknowledged, and reported durable, before
it reaches the disk; the disk catches up every few ticks): a SIGKILL then loses
acknowledged writes, and the oracle names it.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

ACK_BEFORE_FSYNC = "--bug" in sys.argv and "ack-before-fsync" in sys.argv
PROBE_TICKS = 4  # how long a candidate waits for its peers' answers
FAMILIES = ["lifecycle", "validation", "data", "durability", "authority"]
ALLOWED_INVARIANTS = ["P6-A1", "P6-S1", "P6-S2", "P6-S3", "P6-F1"]


class FailoverNode:
    def __init__(self) -> None:
        self.me = ""
        self.peers: list[str] = []
        self.data_dir = ""
        # Durable state, one file: the authority marker (role, epoch) and the WAL as
        # [epoch, lsn] pairs. In memory it is always what the file holds, except under
        # --bug ack-before-fsync.
        self.state: dict[str, Any] = {}
        self.writable = False  # volatile: a restart forgets it (fenced restart)
        self.unsynced = False
        self.now = 0
        self.next_msg_id = 0
        self.attempt: dict[str, Any] | None = None

    # --- output ---

    def send(self, dest: str, body: dict[str, Any]) -> None:
        self.next_msg_id += 1
        body.setdefault("msg_id", self.next_msg_id)
        sys.stdout.write(json.dumps({"src": self.me, "dest": dest, "body": body}) + "\n")
        sys.stdout.flush()

    def reply(self, msg: dict[str, Any], body: dict[str, Any]) -> None:
        self.send(msg["src"], {**body, "in_reply_to": msg["body"]["msg_id"]})

    def report(self, event: dict[str, Any]) -> None:
        """One trace event, sent once the fact it states is true (after the fsync)."""
        self.send("harness", {"type": "event", "event": event})

    def persist(self) -> None:
        """Write a temporary file, fsync it, rename it over state.json, fsync the directory:
        the file on disk is always a whole old state or a whole new one."""
        path = os.path.join(self.data_dir, "state.json")
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            json.dump(self.state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(path + ".tmp", path)
        directory = os.open(self.data_dir, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    # --- requests from the workbench, clients and the operator ---

    def on_init(self, msg: dict[str, Any]) -> None:
        body = msg["body"]
        self.me, self.data_dir = body["node_id"], body["data_dir"]
        self.peers = [n for n in body["node_ids"] if n != self.me]
        path = os.path.join(self.data_dir, "state.json")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                self.state = json.load(f)
            # Recovered from the directory alone; the workbench already wrote the crash.
            role, epoch = self.state["role"], self.state["epoch"]
            self.report({"kind": "restart", "node": self.me, "role": role, "epoch": epoch})
            if role == "Primary":
                self.give_up_authority()  # fenced: only a promotion grants authority again
        else:
            primary = body["initial_primary"]
            role = "Primary" if self.me == primary else "Replica"
            self.state = {"role": role, "epoch": 1, "wal": []}
            self.persist()
            self.writable = self.me == primary
        self.reply(msg, {"type": "init_ok", "protocol": 1, "emits": FAMILIES})

    def on_write(self, msg: dict[str, Any]) -> None:
        if not self.writable:
            text = f"{self.me} does not admit writes"
            self.reply(msg, {"type": "error", "code": "not_primary", "text": text})
            return
        epoch, lsn = self.state["epoch"], len(self.state["wal"]) + 1
        self.state["wal"].append([epoch, lsn])
        if ACK_BEFORE_FSYNC:
            self.unsynced = True  # the planted flaw: acknowledged while only in memory
        else:
            self.persist()
        self.report({"kind": "write", "node": self.me, "lsn": lsn, "epoch": epoch})
        self.report({"kind": "ack", "node": self.me, "lsn": lsn, "epoch": epoch})
        self.reply(msg, {"type": "write_ok", "epoch": epoch, "lsn": lsn})

    def on_read(self, msg: dict[str, Any]) -> None:
        state = self.state
        answer = {"entries": state["wal"], "epoch": state["epoch"], "writable": self.writable}
        self.reply(msg, {"type": "read_ok", **answer})

    def on_status(self, msg: dict[str, Any]) -> None:
        lifecycle = "Steady" if self.attempt is None else "PromotionRequested"
        state = {"role": self.state["role"], "epoch": self.state["epoch"]}
        wal_end = len(self.state["wal"])
        answer = {**state, "writable": self.writable, "wal_end": wal_end, "lifecycle": lifecycle}
        self.reply(msg, {"type": "status_ok", **answer})

    def on_tick(self, msg: dict[str, Any]) -> None:
        self.now = msg["body"]["time"]
        attempt = self.attempt
        if attempt is not None and (
            self.now >= attempt["deadline"] or len(attempt["answers"]) == len(self.peers)
        ):
            self.decide(attempt)
        if self.unsynced and self.now % 5 == 0:
            self.persist()
            self.unsynced = False
        if self.writable:
            for peer in self.peers:
                self.send(peer, {"type": "append", "epoch": self.state["epoch"],
                                 "wal": self.state["wal"]})  # fmt: skip
        self.reply(msg, {"type": "tick_ok"})  # the barrier: everything above is this tick's

    # --- replication: the primary ships its whole WAL every tick ---

    def give_up_authority(self) -> None:
        self.writable = False
        if self.state["role"] == "Primary":
            old_epoch = self.state["epoch"]
            self.state["role"] = "Replica"
            self.persist()
            self.report({"kind": "demote", "node": self.me, "epoch": old_epoch})

    def on_append(self, msg: dict[str, Any]) -> None:
        epoch, theirs = msg["body"]["epoch"], msg["body"]["wal"]
        mine = self.state["wal"]
        if self.state["role"] == "Halted" or epoch < self.state["epoch"]:
            return  # a deposed primary's message: ignored (epoch fencing, P6-A3)
        if epoch == self.state["epoch"] and self.writable:
            return  # two writers in one epoch cannot arise: promotions take a new epoch
        if epoch > self.state["epoch"]:
            self.give_up_authority()
        if theirs[: len(mine)] != mine:
            # Not a prefix, entry by entry: never overwrite history (P6-S2).
            self.state["role"] = "Halted"
            self.persist()
            self.report({"kind": "halt", "node": self.me, "reason": "history_divergence"})
            return
        new_entries = theirs[len(mine) :]
        if not new_entries and epoch == self.state["epoch"]:
            return
        self.state["wal"], self.state["epoch"] = [list(e) for e in theirs], epoch
        self.persist()
        for entry_epoch, lsn in new_entries:  # durable here now: the receiver reports them
            self.report({"kind": "replicate", "from": msg["src"], "to": self.me, "lsn": lsn,
                         "epoch": entry_epoch, "sender_epoch": epoch})  # fmt: skip

    # --- promotion: probe every peer, then decide on what came back ---

    def transition(self, attempt: str, frm: str, event: str, to: str, **extra: Any) -> None:
        self.report({"kind": "transition", "node": self.me, "attempt": attempt,
                     "from": frm, "event": event, "to": to, **extra})  # fmt: skip

    def on_promote(self, msg: dict[str, Any]) -> None:
        body = msg["body"]
        attempt = body["attempt"]
        self.report({"kind": "request", "node": self.me, "attempt": attempt,
                     "force": body["force"], "operator": body["operator"],
                     "reason": body["reason"]})  # fmt: skip
        if self.attempt is not None:  # one attempt at a time: turned away, never let in
            reason = "duplicate_request"
            self.report({"kind": "reject", "node": self.me, "attempt": attempt, "reason": reason})
            answer = {"attempt": attempt, "outcome": "rejected", "reason": reason}
            self.reply(msg, {"type": "promote_ok", **answer})
            return
        self.transition(attempt, "Steady", "request", "PromotionRequested")
        self.attempt = {"msg": msg, "id": attempt, "force": body["force"],
                        "deadline": self.now + PROBE_TICKS, "answers": {}}  # fmt: skip
        for peer in self.peers:
            self.send(peer, {"type": "probe", "attempt": attempt})

    def on_probe(self, msg: dict[str, Any]) -> None:
        answer = {"attempt": msg["body"]["attempt"], "busy": self.attempt is not None,
                  "writable": self.writable, "epoch": self.state["epoch"],
                  "wal": self.state["wal"]}  # fmt: skip
        self.send(msg["src"], {"type": "probe_ok", **answer})

    def on_probe_ok(self, msg: dict[str, Any]) -> None:
        if self.attempt is not None and msg["body"]["attempt"] == self.attempt["id"]:
            self.attempt["answers"][msg["src"]] = msg["body"]

    def decide(self, attempt: dict[str, Any]) -> None:
        self.attempt = None
        name, answers, force = attempt["id"], attempt["answers"], attempt["force"]
        if any(a["busy"] for a in answers.values()):
            # A peer is in an attempt of its own: two candidates at once could both win.
            # This attempt already entered the lifecycle, so it leaves by the lifecycle's
            # own 'reject' step (the 'reject' kind is for a request never let in).
            self.transition(name, "PromotionRequested", "reject", "Steady")
            self.answer(attempt, "rejected", "duplicate_request")
            return
        self.transition(name, "PromotionRequested", "begin_validation", "PromotionValidating")
        context, wal_end, bound = self.context(answers, force)
        reason, invariants = self.validate(context)
        explanation = (
            f"{reason}: old primary {context['primary_status']}, position "
            f"{context['position']}, history {context['prefix']}"
        )
        validation = {"kind": "validation", "node": self.me, "attempt": name,
                      "context": context, "decision": reason, "invariants": invariants,
                      "explanation": explanation, "wal_end": wal_end}  # fmt: skip
        if bound is not None:
            validation["ack_bound"] = bound
        self.report(validation)
        why = {"reason": reason, "invariants": invariants, "explanation": explanation}
        if reason != "allowed":
            self.transition(name, "PromotionValidating", "deny", "PromotionDenied", **why)
            self.transition(name, "PromotionDenied", "acknowledge", "Steady")
            self.answer(attempt, "denied", reason)
            return
        self.transition(name, "PromotionValidating", "approve", "PromotionApproved", **why)
        # Above every epoch heard of, so every older authority is fenced (P6-A3).
        epoch = max([a["epoch"] for a in answers.values()] + [self.state["epoch"]]) + 1
        transfer = ("PromotionApproved", "begin_transition", "AuthorityTransitioning")
        self.transition(name, *transfer, epoch=epoch)
        self.state["role"], self.state["epoch"] = "Primary", epoch
        self.persist()  # the marker is durable before the node admits writes (P6-A2)
        self.report({"kind": "marker", "node": self.me, "role": "Primary", "epoch": epoch})
        self.writable = True
        self.transition(name, "AuthorityTransitioning", "complete", "PromotionSucceeded",
                        epoch=epoch)  # fmt: skip
        self.transition(name, "PromotionSucceeded", "acknowledge", "Steady")
        self.answer(attempt, "succeeded", "allowed")

    def context(
        self, answers: dict[str, Any], force: bool
    ) -> tuple[dict[str, Any], int, int | None]:
        """The validation context from what the peers said: Unknown wherever not proven."""
        silent = [p for p in self.peers if p not in answers]
        writable_peer = any(a["writable"] for a in answers.values())
        status = "Active" if writable_peer else "Unknown" if silent else "Unavailable"
        wal = self.state["wal"]
        if silent or writable_peer:
            # A silent peer may hold acknowledged writes; a writable one may acknowledge more
            # after it answered: no bound on acknowledged writes is proven (P6-F1).
            position, prefix, bound = "Unknown", "Unknown", None
        else:
            # Every acknowledged write is in some node's WAL, this node's own included
            # (it may be the last primary, restarted): the longest WAL is the bound.
            walls = [a["wal"] for a in answers.values()] + [wal]
            bound = max(len(w) for w in walls)
            position = "Ahead" if len(wal) > bound else "Equal" if len(wal) == bound else "Behind"
            # Entry by entry, epochs included: equal lengths do not make equal histories.
            longest = max(walls, key=len)
            prefix = "Compatible" if longest[: len(wal)] == wal else "Divergent"
        role = self.state["role"]
        context = {
            "role": "PrimaryActive" if self.writable else
            {"Primary": "ReplicaActive", "Replica": "ReplicaActive", "Halted": "Halted"}[role],
            "halt_reason": "history_divergence" if role == "Halted" else "none",
            "primary_status": status,
            "force": force,
            "position": position,
            "prefix": prefix,
            "mvcc": "NotApplicable",  # no multi-version concurrency control here
        }  # fmt: skip
        return context, len(wal), bound

    @staticmethod
    def validate(c: dict[str, Any]) -> tuple[str, list[str]]:
        """The checks in the vocabulary's order (`baton schema vocabulary`); the first that
        holds denies. Roles Disabled/Uninitialized and mvcc Unknown/Violated never arise."""
        checks = [
            (c["role"] == "PrimaryActive", "candidate_is_primary", "P6-A1"),
            (c["role"] == "Halted", "candidate_halted", "P6-S2"),
            (c["primary_status"] == "Active" and not c["force"], "primary_active", "P6-A1"),
            (c["primary_status"] == "Active" and c["force"],
             "force_cannot_override_active_primary", "P6-A1a"),
            (c["primary_status"] == "Unknown" and not c["force"],
             "primary_status_unknown", "P6-F1"),
            (c["position"] == "Unknown", "ack_bound_unknown", "P6-F1"),
            (c["position"] == "Behind", "candidate_behind_ack_bound", "P6-S1"),
            (c["prefix"] == "Unknown", "history_unknown", "P6-F1"),
            (c["prefix"] == "Divergent", "history_divergent", "P6-S2"),
        ]  # fmt: skip
        for holds, reason, invariant in checks:
            if holds:
                return reason, [invariant]
        return "allowed", ALLOWED_INVARIANTS

    def answer(self, attempt: dict[str, Any], outcome: str, reason: str) -> None:
        answer = {"attempt": attempt["id"], "outcome": outcome, "reason": reason,
                  "epoch": self.state["epoch"]}  # fmt: skip
        self.reply(attempt["msg"], {"type": "promote_ok", **answer})

    # --- the loop: one message per line, in order; ends with the input ---

    def run(self) -> None:
        handlers = {
            "init": self.on_init, "tick": self.on_tick, "write": self.on_write,
            "read": self.on_read, "status": self.on_status, "promote": self.on_promote,
            "append": self.on_append, "probe": self.on_probe, "probe_ok": self.on_probe_ok,
        }  # fmt: skip
        for line in sys.stdin:
            msg = json.loads(line)
            handler = handlers.get(msg["body"]["type"])
            if handler is None:
                print(f"{self.me}: ignoring {msg['body']['type']!r}", file=sys.stderr)
            else:
                handler(msg)


if __name__ == "__main__":
    FailoverNode().run()
