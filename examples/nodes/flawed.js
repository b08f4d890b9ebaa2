#!/usr/bin/env node
// A deliberately flawed node for `baton test`, in Node.js (no dependencies).
//
// It speaks the Baton node protocol (docs/harness.md, `baton schema node-protocol`)
// and implements replication and explicit promotion the way a real peer
// implementation did, with that peer's two flaws in its promotion check:
//
//   FLAW 1  force overrides an active primary: a forced request is allowed even
//           when the candidate sees the old primary admitting writes (Baton: force
//           stands in only for a primary of Unknown status; P6-A1a).
//   FLAW 2  promotion is allowed when the old primary's committed position is
//           unknown (it did not answer): no proven bound on acknowledged writes,
//           and the candidate goes ahead anyway (Baton: fail closed, P6-F1).
//
// Run:   baton test --bin "node examples/nodes/flawed.js" --seeds 0..20
//        (add --only=force or --only=bound to the node's command line to keep one flaw)
// Expect: violations of P6-A1 / P6-S1 (what clients saw) and P6-F1 (the oracle,
//         from the validation events this node reports).
//
// Everything else is honest: writes are fsynced before they are acknowledged,
// the node recovers from its directory, answers every tick after all earlier
// input, and reports its lifecycle and validation decisions as trace events.
"use strict";

const fs = require("fs");
const path = require("path");
const readline = require("readline");

const PROBE_TICKS = 8;
const only = (process.argv.find((a) => a.startsWith("--only=")) || "").slice("--only=".length);
const FORCE_OVERRIDES_ACTIVE = only === "" || only === "force";
const UNKNOWN_BOUND_ALLOWED = only === "" || only === "bound";
let me = null;
let peers = [];
let dir = null;
let durable = { role: "Replica", epoch: 1, wal: [] }; // wal: [[epoch, lsn], ...]
let writable = false;
let now = 0;
let nextId = 0;
let probe = null; // {attempt, force, operator, reason, replyTo, replyId, round, deadline, answers}
let rounds = 0;
let incarnation = 0;

function send(dest, body) {
  nextId += 1;
  process.stdout.write(JSON.stringify({ src: me, dest, body: { msg_id: nextId, ...body } }) + "\n");
}
function reply(msg, body) {
  send(msg.src, { ...body, in_reply_to: msg.body.msg_id });
}
function event(ev) {
  send("harness", { type: "event", event: ev });
}

function persist() {
  // Write a temp file, fsync it, rename it over the state, fsync the directory.
  const tmp = path.join(dir, "state.json.tmp");
  const fd = fs.openSync(tmp, "w");
  fs.writeSync(fd, JSON.stringify(durable));
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  fs.renameSync(tmp, path.join(dir, "state.json"));
  const dfd = fs.openSync(dir, "r");
  fs.fsyncSync(dfd);
  fs.closeSync(dfd);
}

function selfReport() {
  return { role: durable.role, epoch: durable.epoch, writable, wal_end: durable.wal.length,
    lifecycle: "Steady" };
}

function isPrefix(a, b) {
  return a.length <= b.length && a.every((e, i) => e[0] === b[i][0] && e[1] === b[i][1]);
}

const handlers = {
  init(msg) {
    const b = msg.body;
    me = b.node_id;
    peers = b.node_ids.filter((n) => n !== me);
    dir = b.data_dir;
    incarnation = b.incarnation;
    const file = path.join(dir, "state.json");
    if (fs.existsSync(file)) {
      durable = JSON.parse(fs.readFileSync(file, "utf8"));
      writable = false; // fenced after a restart
      event({ kind: "restart", node: me, role: durable.role, epoch: durable.epoch });
    } else {
      durable = { role: b.initial_primary === me ? "Primary" : "Replica", epoch: 1, wal: [] };
      writable = b.initial_primary === me;
      persist();
    }
    reply(msg, { type: "init_ok", protocol: 1, emits: ["lifecycle", "validation"] });
  },
  tick(msg) {
    now = msg.body.time;
    if (probe && now >= probe.deadline) decide();
    if (durable.role === "Primary") {
      for (const p of peers) {
        send(p, { type: "append", epoch: durable.epoch, writable, entries: durable.wal });
      }
    }
    reply(msg, { type: "tick_ok" });
  },
  write(msg) {
    if (!writable) return reply(msg, { type: "error", code: "not_primary", text: `${me} is not primary` });
    const entry = [durable.epoch, durable.wal.length + 1];
    durable.wal.push(entry);
    persist();
    reply(msg, { type: "write_ok", epoch: entry[0], lsn: entry[1] });
  },
  read(msg) {
    reply(msg, { type: "read_ok", entries: durable.wal, epoch: durable.epoch, writable });
  },
  status(msg) {
    reply(msg, { type: "status_ok", ...selfReport() });
  },
  append(msg) {
    const b = msg.body;
    if (b.epoch < durable.epoch) return; // a stale primary
    if (b.epoch > durable.epoch || durable.role !== "Primary") {
      const stepDown = durable.role === "Primary" && b.epoch > durable.epoch;
      durable.epoch = b.epoch;
      if (stepDown) {
        durable.role = "Replica";
        writable = false;
      }
      if (durable.role === "Replica" && isPrefix(durable.wal, b.entries)) durable.wal = b.entries;
      persist();
    }
  },
  promote(msg) {
    const b = msg.body;
    if (probe) {
      event({ kind: "request", node: me, attempt: b.attempt, force: b.force, operator: b.operator, reason: b.reason });
      event({ kind: "reject", node: me, attempt: b.attempt, reason: "duplicate_request" });
      return reply(msg, { type: "promote_ok", attempt: b.attempt, outcome: "rejected", reason: "duplicate_request" });
    }
    rounds += 1;
    probe = { attempt: b.attempt, force: b.force, operator: b.operator, reason: b.reason,
      replyTo: msg.src, replyId: b.msg_id, round: `${incarnation}.${rounds}`,
      deadline: now + PROBE_TICKS, answers: {} };
    for (const p of peers) send(p, { type: "probe", round: probe.round });
  },
  probe(msg) {
    reply(msg, { type: "probe_ok", round: msg.body.round, ...selfReport(), busy: probe !== null });
  },
  probe_ok(msg) {
    if (!probe || msg.body.round !== probe.round) return;
    probe.answers[msg.src] = msg.body;
    if (Object.keys(probe.answers).length === peers.length) decide();
  },
};

const ALLOWED_INVARIANTS = ["P6-A1", "P6-S1", "P6-S2", "P6-S3", "P6-F1"];
const REASON_INVARIANT = {
  candidate_is_primary: "P6-A1",
  primary_active: "P6-A1",
  primary_status_unknown: "P6-F1",
  force_cannot_override_active_primary: "P6-A1a",
  ack_bound_unknown: "P6-F1",
  candidate_behind_ack_bound: "P6-S1",
};

function decide() {
  const p = probe;
  probe = null;
  const answers = Object.values(p.answers);
  const silent = answers.length < peers.length;
  const active = answers.some((a) => a.writable);
  const status = active ? "Active" : silent ? "Unknown" : "Unavailable";
  const primaries = answers.filter((a) => a.role === "Primary").sort((x, y) => y.epoch - x.epoch);
  const bound = primaries.length > 0 ? primaries[0].wal_end : null;
  const end = durable.wal.length;
  const position = bound === null ? "Unknown" : end < bound ? "Behind" : end === bound ? "Equal" : "Ahead";
  let reason = "allowed";
  if (durable.role === "Primary") reason = "candidate_is_primary";
  else if (status === "Active" && !p.force) reason = "primary_active";
  // FLAW 1: force overrides an active primary.
  else if (status === "Active" && !FORCE_OVERRIDES_ACTIVE) reason = "force_cannot_override_active_primary";
  else if (status === "Unknown" && !p.force) reason = "primary_status_unknown";
  // FLAW 2: an unknown bound (position Unknown) is not a denial.
  else if (position === "Unknown" && !UNKNOWN_BOUND_ALLOWED) reason = "ack_bound_unknown";
  else if (position === "Behind") reason = "candidate_behind_ack_bound";
  const attempt = p.attempt;
  const tr = (from, ev, to, extra) => event({ kind: "transition", node: me, attempt, from, event: ev, to, ...extra });
  event({ kind: "request", node: me, attempt, force: p.force, operator: p.operator, reason: p.reason });
  tr("Steady", "request", "PromotionRequested");
  tr("PromotionRequested", "begin_validation", "PromotionValidating");
  const invariants = reason === "allowed" ? ALLOWED_INVARIANTS : [REASON_INVARIANT[reason]];
  const explanation = reason === "allowed" ? "allowed: safe to promote" : `denied: ${reason}`;
  event({
    kind: "validation", node: me, attempt,
    context: { role: durable.role === "Primary" ? "PrimaryActive" : "ReplicaActive", halt_reason: "none",
      primary_status: status, force: p.force, position, prefix: "Compatible", mvcc: "Preserved" },
    decision: reason, invariants, explanation, wal_end: end, ack_bound: bound,
  });
  let outcome = "denied";
  if (reason === "allowed") {
    tr("PromotionValidating", "approve", "PromotionApproved", { reason, invariants, explanation });
    const grant = Math.max(durable.epoch, ...answers.map((a) => a.epoch)) + 1;
    tr("PromotionApproved", "begin_transition", "AuthorityTransitioning", { epoch: grant });
    durable.role = "Primary";
    durable.epoch = grant;
    persist();
    event({ kind: "marker", node: me, role: "Primary", epoch: grant });
    writable = true;
    tr("AuthorityTransitioning", "complete", "PromotionSucceeded", { epoch: grant });
    tr("PromotionSucceeded", "acknowledge", "Steady");
    outcome = "succeeded";
  } else {
    tr("PromotionValidating", "deny", "PromotionDenied", { reason, invariants, explanation });
    tr("PromotionDenied", "acknowledge", "Steady");
  }
  send(p.replyTo, { type: "promote_ok", attempt, outcome, reason, epoch: durable.epoch, in_reply_to: p.replyId });
}

const rl = readline.createInterface({ input: process.stdin });
rl.on("line", (line) => {
  if (!line.trim()) return;
  const msg = JSON.parse(line);
  const handler = handlers[msg.body.type];
  if (handler) handler(msg);
  else process.stderr.write(`${me}: ignoring ${msg.body.type}\n`);
});
