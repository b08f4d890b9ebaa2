#!/usr/bin/env node
// A replay adapter in JavaScript (Node.js >= 18), written as an outside team would:
// a tiny failover implementation of its own whose controller runs a whole promotion
// attempt in one call, answering Baton's protocol vectors, plus the lifecycle and
// validation vectors. It imports nothing from Baton: its lifecycle table and its
// validation checks are read from the vocabulary document (`baton schema vocabulary`).
//
//   baton schema vocabulary > /tmp/vocabulary.json
//   baton vectors --out /tmp/vectors
//   python -m baton.replay /tmp/vectors --stream \
//       --command "node examples/adapter/protocol_adapter.mjs /tmp/vocabulary.json" \
//       --family lifecycle --family validation --family protocol
//
// Protocol: one vector (a JSON object) per input line, one outcome per output line.
// Pass --bug lsn-only to compare WALs by length only (the flaw the oracle catches).

import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";

const vocabulary = JSON.parse(readFileSync(process.argv[2], "utf8"));
const lsnOnly = process.argv.includes("lsn-only");

// --- the vocabulary, as data ---------------------------------------------------------
const next = new Map(
  vocabulary.lifecycle.transitions.map((t) => [`${t.from}/${t.event}`, t.to]),
);
const checks = vocabulary.validation.checks; // in order; the first that holds denies
const notApplicable = vocabulary.not_applicable; // e.g. mvcc NotApplicable -> Preserved

function decide(context) {
  const ctx = { ...context };
  for (const [field, na] of Object.entries(notApplicable)) {
    if (ctx[field] === na.value) ctx[field] = na.decided_as;
  }
  for (const check of checks) {
    if (Object.entries(check.when).every(([f, values]) => values.includes(ctx[f]))) {
      return check.reason;
    }
  }
  return vocabulary.validation.allowed;
}

// --- our own cluster: nodes with a WAL of entry epochs, a durable marker ------------
class Cluster {
  constructor(names, mode, primary, epoch, standby) {
    this.mode = mode;
    this.standby = standby;
    this.acked = 0;
    this.nodes = new Map(
      names.map((n) => [
        n,
        { up: true, writable: n === primary, role: n === primary ? "Primary" : "Replica",
          epoch, wal: [] },
      ]),
    );
  }
  node(name) { return this.nodes.get(name); }
  maxEpoch() { return Math.max(...[...this.nodes.values()].map((n) => n.epoch)); }

  write(name) { const n = this.node(name); n.wal.push(n.epoch); }
  ack(name) { this.acked = this.node(name).wal.length; }
  replicate(from, to) {
    const src = this.node(from), dst = this.node(to);
    dst.epoch = Math.max(dst.epoch, src.epoch); // adopt the sender's epoch, durably
    while (dst.wal.length < src.wal.length) dst.wal.push(src.wal[dst.wal.length]);
  }
  crash(name) { const n = this.node(name); n.up = false; n.writable = false; }
  restart(name) { this.node(name).up = true; } // fenced: no authority after a restart
  reinstate(name) { this.node(name).writable = true; }
  demote(name) { this.node(name).role = "Replica"; }

  // The validator's view of candidate c: what it can establish, nothing more.
  context(c, force, observe) {
    const cand = this.node(c);
    const others = [...this.nodes.entries()].filter(([n]) => n !== c);
    let status = others.some(([, n]) => n.writable) ? "Active" : "Unavailable";
    if (observe.primary_known === false) status = "Unknown";
    // The WAL that bounds acknowledged writes: the standby (sync) or the old primary.
    const top = this.maxEpoch();
    const sourceName = this.mode === "sync" ? this.standby
      : [...this.nodes.entries()].find(([, n]) => n.role === "Primary" && n.epoch === top)?.[0];
    const src = sourceName === undefined ? undefined : this.node(sourceName).wal;
    let position = "Unknown";
    if (src !== undefined && observe.ack_bound_known !== false) {
      const end = cand.wal.length;
      position = end < src.length ? "Behind" : end === src.length ? "Equal" : "Ahead";
    }
    let prefix = "Unknown";
    if (src !== undefined && observe.history_known !== false) {
      const k = Math.min(cand.wal.length, src.length);
      const same = lsnOnly || cand.wal.slice(0, k).every((e, i) => e === src[i]);
      prefix = same ? "Compatible" : "Divergent";
    }
    const role = { Primary: "PrimaryActive", Replica: "ReplicaActive", Halted: "Halted" }[cand.role];
    return {
      role, halt_reason: role === "Halted" ? "history_divergence" : "none",
      primary_status: status, force, position, prefix, mvcc: observe.mvcc ?? "Preserved",
    };
  }

  // The controller: one whole attempt per call.
  promote({ candidate, force = false, observe = {}, crash_during = null }) {
    const cand = this.node(candidate);
    if (!cand.up) return { candidate, result: "rejected" };
    if (crash_during === "validation") { this.crash(candidate); return { candidate, result: "interrupted" }; }
    const decision = decide(this.context(candidate, force, observe));
    if (decision !== "allowed") return { candidate, decision, result: "denied" };
    const epoch = this.maxEpoch() + 1;
    if (crash_during === "transfer") { this.crash(candidate); return { candidate, decision, result: "interrupted" }; }
    cand.role = "Primary"; cand.epoch = epoch; // the marker is durable
    if (crash_during === "completion") { this.crash(candidate); return { candidate, decision, result: "interrupted" }; }
    cand.writable = true;
    return { candidate, decision, result: "promoted", epoch };
  }

  final() {
    const entries = [...this.nodes.entries()];
    return {
      writable: entries.filter(([, n]) => n.writable).map(([k]) => k),
      up: entries.filter(([, n]) => n.up).map(([k]) => k),
      markers: Object.fromEntries(entries.map(([k, n]) => [k, { role: n.role, epoch: n.epoch }])),
      wal_end: Object.fromEntries(entries.map(([k, n]) => [k, n.wal.length])),
      acked: this.acked,
    };
  }
}

function protocol(input) {
  const cluster = new Cluster(input.nodes, input.mode, input.primary, input.epoch, input.standby);
  const decisions = [];
  for (const op of input.operations) {
    switch (op.op) {
      case "write": cluster.write(op.node); break;
      case "ack": cluster.ack(op.node); break;
      case "replicate": cluster.replicate(op.from, op.to); break;
      case "crash": cluster.crash(op.node); break;
      case "restart": cluster.restart(op.node); break;
      case "reinstate": cluster.reinstate(op.node); break;
      case "demote": cluster.demote(op.node); break;
      case "promote": decisions.push(cluster.promote(op)); break;
      default: return { skip: `unknown operation ${op.op}` };
    }
  }
  return { decisions, final: cluster.final() };
}

function answer(vector) {
  const input = vector.input;
  switch (vector.family) {
    case "lifecycle": return { next: next.get(`${input.state}/${input.event}`) ?? null };
    case "validation": return { decision: decide(input.context) };
    case "protocol": return protocol(input);
    default: return { skip: `family ${vector.family} is Baton-internal` };
  }
}

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of lines) {
  if (line.trim() === "") continue;
  process.stdout.write(JSON.stringify(answer(JSON.parse(line))) + "\n");
}
