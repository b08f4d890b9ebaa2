"""Test vectors: language-neutral cases any implementation can replay (``baton vectors``).

Four families, every one computed from the spec or from the runtime's pure
core, never written by hand:

* ``lifecycle``: every (state, event) pair of the spec's lifecycle -- 7 x 10
  = 70 vectors -- with the next state or ``forbidden``.
* ``validation``: every point of the 1512-point validation domain
  (``baton.spec.validation.domain()``) with the spec's decision, its
  invariant and whether it is allowed.
* ``protocol``: stories at the level of the protocol, for an implementation
  whose controller runs a whole attempt in one call: client writes,
  replication, acknowledgements, crashes and restarts of nodes, and promotion
  requests with their parameters (candidate, force, what the validator can
  observe, a crash at a named phase), with the expected decision of each
  request and the end state. Computed by the pure core; no Baton-internal step.
* ``scenario``: Baton's internal step sequences (including crashes at every marker file
  operation) run through the pure core (``baton.core``) with the trace they
  produce (``baton.events``) and the final authority; each expected trace is
  checked by the oracle before it is written (it must conform).
* ``trace``: the example traces in ``examples/traces`` (conforming and
  deliberately broken) with the oracle's expected verdict, and the traces of
  the runtime's example scenarios (``baton run examples/*.json``), which must
  conform.

One vector is one JSON line ``{"id", "family", "input", "expected"}`` (schema:
``baton schema vectors``). Output is byte-identical for the same Baton
version: fixed orders, a fixed seed, canonical JSON. ``manifest.json`` holds
the format version, the generator version, the counts and each file's
SHA-256.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import random
from collections.abc import Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from baton import __version__, oracle, trace

if TYPE_CHECKING:
    from baton.core import ClusterState

FORMAT = "baton-vectors"
VERSION = 1
GENERATOR = f"baton {__version__} vectors/{VERSION}"
FAMILIES: tuple[str, ...] = ("lifecycle", "validation", "protocol", "scenario", "trace")
SEED = 20261129
RANDOM_WALKS = 24
WALK_LENGTH = 30


def _dump(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


# --- lifecycle and validation, from the spec ---------------------------------------------


def lifecycle_vectors() -> Iterator[dict[str, Any]]:
    """Every (state, event) pair: the spec's next state, or forbidden (with why)."""
    from baton.spec import lifecycle

    table = lifecycle.allowed_table()
    for state in lifecycle.STATE_NAMES:
        for event in lifecycle.EVENT_NAMES:
            nxt = table.get((state, event))
            expected: dict[str, Any] = {"next": nxt, "forbidden": nxt is None}
            if nxt is None:
                expected["invariant"] = "P6-F3" if event in oracle.REFUSED_EVENTS else "P6-D2"
            yield {
                "id": f"lifecycle/{state}/{event}",
                "family": "lifecycle",
                "input": {"state": state, "event": event},
                "expected": expected,
            }


def validation_vectors() -> Iterator[dict[str, Any]]:
    """Every point of the validation domain with the spec's decision and invariant."""
    from baton.spec import validation

    names = [name for name, _ in validation.FIELDS]
    for i, (point, decision) in enumerate(validation.decision_table().items()):
        ctx = dict(zip(names, point, strict=True))
        yield {
            "id": f"validation/{i:04d}",
            "family": "validation",
            "input": {"context": ctx},
            "expected": {
                "decision": decision,
                "allowed": decision == validation.ALLOWED,
                "invariants": list(validation.ALLOWED_INVARIANTS)
                if decision == validation.ALLOWED
                else [validation.REASON_INVARIANT[decision]],
            },
        }


# --- scenarios, through the runtime's pure core ---------------------------------------------


def _name(i: int) -> str:
    return f"n{i}"


def action_json(action: Any) -> dict[str, Any]:
    """A core action as a neutral step: ``{"do": name, field: value}``, nodes by name."""
    from baton import core

    step: dict[str, Any] = {"do": action.name}
    for key, value in action.__dict__.items():
        if key in core.NODE_FIELDS:
            step[key] = _name(value)
        elif key == "observation":
            step[key] = dict(value.__dict__)
        elif value is not None:
            step[key] = value
    return step


def _end_state(state: ClusterState, names: Sequence[str], *, lifecycle: bool) -> dict[str, Any]:
    """A vector's expected end state: who is writable and up, each marker, WAL end and
    acknowledged writes; the internal-step family also pins each node's lifecycle state."""
    nodes = state.nodes
    final: dict[str, Any] = {
        "writable": [names[i] for i in state.writable_nodes()],
        "up": [names[i] for i, node in enumerate(nodes) if node.up],
        "markers": {
            names[i]: {"role": node.durable.marker_role, "epoch": node.durable.epoch}
            for i, node in enumerate(nodes)
        },
        "wal_end": {names[i]: len(node.durable.wal) for i, node in enumerate(nodes)},
        "acked": len(state.acked),
    }
    if lifecycle:
        final["lifecycle"] = {names[i]: node.lifecycle for i, node in enumerate(nodes)}
    return final


def run_actions(n: int, mode: str, actions: list[Any]) -> dict[str, Any]:
    """Run core actions, recording the trace; refused actions are recorded, not applied."""
    from baton import core, events
    from baton.errors import DuplicateRequest, ProtocolError

    names = [_name(i) for i in range(n)]
    out = io.StringIO()
    rec = events.Recorder(names, mode, names[0], stream=out)
    state = core.initial_state(n, mode)
    steps = []
    for action in actions:
        if isinstance(action, core.Request):
            rec.request_arrived(action.candidate, action.force, "vectors", None)
        try:
            state, effects = core.step(state, action)
            rec.record(effects)
            outcome = "applied"
        except ProtocolError as exc:
            outcome = type(exc).__name__
            if isinstance(action, core.Request):
                reason = (
                    "duplicate_request" if isinstance(exc, DuplicateRequest) else "inapplicable"
                )
                rec.request_refused(action.candidate, reason, str(exc))
        steps.append({**action_json(action), "outcome": outcome})
    rec.close()
    final = _end_state(state, names, lifecycle=True)
    return {"steps": steps, "trace": out.getvalue(), "final": final}


def _promote(c: int, obs: Any = None, stop_after: int | None = None) -> list[Any]:
    """The actions of one promotion of ``c``; ``stop_after`` cuts it after k marker ops."""
    from baton import core

    acts: list[Any] = [
        core.Request(c, False),
        core.BeginValidation(c),
        core.Decide(c, obs or core.Observation()),
        core.BeginTransition(c),
    ]
    ops = core.MARKER_OPS if stop_after is None else core.MARKER_OPS[:stop_after]
    acts += [core.MarkerOp(c, op) for op in ops]
    if stop_after is None:
        acts += [core.Complete(c), core.Acknowledge(c)]
    return acts


def named_scenarios() -> list[tuple[str, str, int, str, list[Any]]]:
    """Hand-chosen stories: (id, description, nodes, mode, actions)."""
    from baton import core

    base = [core.Write(0), core.Write(0), core.Ack(0), core.Replicate(0, 1), core.Replicate(0, 1)]
    out: list[tuple[str, str, int, str, list[Any]]] = [
        (
            "clean_failover",
            "the primary crashes; n1 holds every acknowledged write and is promoted",
            3,
            "async",
            [*base, core.Crash(0), *_promote(1), core.Write(1), core.Ack(1)],
        ),
        (
            "denied_primary_active",
            "a promotion while the primary is observed Active is denied (P6-A1)",
            3,
            "async",
            [
                *base,
                core.Request(1),
                core.BeginValidation(1),
                core.Decide(1),
                core.Acknowledge(1),
            ],
        ),
        (
            "denied_behind",
            "the candidate misses an acknowledged write: denied (P6-S1)",
            3,
            "async",
            [
                *base,
                core.Write(0),
                core.Ack(0),
                core.Crash(0),
                core.Restart(0),
                *_promote(1)[:3],
                core.Acknowledge(1),
            ],
        ),
        (
            "forced_unknown_primary",
            "the operator forces a promotion while the primary's status is Unknown (P6-A1a)",
            3,
            "async",
            [
                *base,
                core.Crash(0),
                core.Request(1, True),
                core.BeginValidation(1),
                core.Decide(1, core.Observation(primary_uncertain=True)),
                core.BeginTransition(1),
                *[core.MarkerOp(1, op) for op in core.MARKER_OPS],
                core.Complete(1),
                core.Acknowledge(1),
            ],
        ),
        (
            "duplicate_request",
            "a second request while an attempt is in progress is rejected, the first goes on",
            3,
            "async",
            [
                *base,
                core.Crash(0),
                core.Request(1),
                core.Request(2),
                core.BeginValidation(1),
                core.Decide(1),
                core.BeginTransition(1),
                *[core.MarkerOp(1, op) for op in core.MARKER_OPS],
                core.Complete(1),
                core.Acknowledge(1),
            ],
        ),
        (
            "deposed_primary_demoted",
            "after a failover the old primary restarts fenced and rejoins as a replica (P6-A3)",
            3,
            "async",
            [*base, core.Crash(0), *_promote(1), core.Restart(0), core.Demote(0)],
        ),
        (
            "primary_restart_reinstated",
            "the primary crashes and restarts fenced; with no promotion it is reinstated",
            2,
            "async",
            [*base, core.Crash(0), core.Restart(0), core.Reinstate(0), core.Write(0), core.Ack(0)],
        ),
        (
            "sync_failover",
            "sync mode: the standby holds every acknowledged write and is promoted",
            3,
            "sync",
            [
                core.Write(0),
                core.Replicate(0, 1),
                core.Ack(0),
                core.Crash(0),
                *_promote(1),
            ],
        ),
    ]
    for state_name, cut in (
        ("PromotionRequested", 1),
        ("PromotionValidating", 2),
        ("PromotionApproved", 3),
    ):
        out.append(
            (
                f"crash_candidate_in_{state_name}",
                f"the candidate crashes in {state_name}: the attempt is forgotten, authority "
                "unchanged (P6-F2)",
                3,
                "async",
                [*base, core.Crash(0), *_promote(1)[:cut], core.Crash(1), core.Restart(1)],
            )
        )
    for stage in range(len(core.MARKER_OPS) + 1):
        for outcome in sorted(core.marker_crash_outcomes(stage)) if stage else [None]:
            if outcome == "torn":
                continue  # a torn marker refuses to start: no restart event to compare
            label = core.MARKER_OPS[stage - 1] if stage else "begin_transition"
            out.append(
                (
                    f"crash_after_{label}_{outcome or 'none'}",
                    f"the candidate crashes after {label} and the marker lands {outcome or 'old'}: "
                    "recovery yields exactly the old or the new authority (P6-F2)",
                    3,
                    "async",
                    [
                        *base,
                        core.Crash(0),
                        *_promote(1, stop_after=stage),
                        core.Crash(1, outcome),
                        core.Restart(1),
                    ],
                )
            )
    return out


def random_walks() -> list[tuple[str, str, int, str, list[Any]]]:
    """Seeded random walks over the core's enabled actions (deterministic)."""
    from baton import core

    rng = random.Random(SEED)
    walks = []
    for k in range(RANDOM_WALKS):
        n, mode = (2, 3, 3, 4)[k % 4], ("async", "sync")[k % 2]
        state = core.initial_state(n, mode)
        actions: list[Any] = []
        for _ in range(WALK_LENGTH):
            enabled = core.enabled_actions(state)
            if not enabled:
                break
            action = rng.choice(enabled)
            if isinstance(action, core.Crash) and action.outcome == "torn":
                continue
            state, _ = core.step(state, action)
            actions.append(action)
        # Settle: a walk never stops before an attempt's decision (P6-O1 needs one).
        for i, node in enumerate(state.nodes):
            if node.lifecycle == "PromotionRequested":
                actions.append(core.BeginValidation(i))
                state, _ = core.step(state, actions[-1])
            if state.nodes[i].lifecycle == "PromotionValidating":
                actions.append(core.Decide(i))
                state, _ = core.step(state, actions[-1])
        walks.append(
            (f"walk_{k:02d}", f"seeded random walk {k} ({n} nodes, {mode})", n, mode, actions)
        )
    return walks


def scenario_vectors() -> Iterator[dict[str, Any]]:
    for sid, desc, n, mode, actions in [*named_scenarios(), *random_walks()]:
        run = run_actions(n, mode, actions)
        verdict = oracle.check_stream(io.StringIO(run["trace"]), f"scenario/{sid}")
        if verdict.status != "conforms":  # the reference must conform to its own oracle
            raise AssertionError(f"scenario {sid}: {oracle.render(verdict)}")
        yield {
            "id": f"scenario/{sid}",
            "family": "scenario",
            "input": {
                "description": desc,
                "nodes": [_name(i) for i in range(n)],
                "mode": mode,
                "steps": [{k: v for k, v in s.items() if k != "outcome"} for s in run["steps"]],
            },
            "expected": {
                "outcomes": [s["outcome"] for s in run["steps"]],
                "final": run["final"],
                "trace": [json.loads(line) for line in run["trace"].splitlines()],
            },
        }


# --- protocol-level vectors: whole attempts, for any implementation --------------------------

PROTOCOL_OPS: dict[str, str] = {
    "write": "node: a client write on the primary 'node', durable (fsynced) in its WAL",
    "replicate": "from, to: 'from' ships every entry 'to' lacks, in order (to adopts its epoch)",
    "ack": "node: the primary acknowledges every entry durable in its WAL (sync mode: once "
    "the standby holds them)",
    "crash": "node: the node's process dies (volatile state lost)",
    "restart": "node: the node starts again from its durable state, fenced (no authority)",
    "reinstate": "node: a restarted primary that still holds the highest epoch admits writes",
    "demote": "node: a restarted primary that sees a higher epoch rejoins as a replica",
    "promote": "candidate, force, operator, observe, crash_during: the operator's promotion "
    "request, run as one whole attempt (request, validation, decision, authority transfer); "
    "observe: what the validator can establish (primary_known, ack_bound_known, "
    "history_known: booleans, default true; mvcc: Preserved/Violated/Unknown); crash_during: "
    "null, 'validation' (the candidate crashes after the request, before a decision), "
    "'transfer' (after approval, before the authority marker is durable) or 'completion' "
    "(the marker is durable, the promotion not yet complete)",
}
"""The operations of a protocol vector and their parameters (also in the vectors README)."""

_CRASH_STAGES: dict[str, int] = {"validation": -1, "transfer": 0, "completion": 4}


def _validate_actions(c: int, op: dict[str, Any]) -> list[Any]:
    """Validation and decision of candidate ``c``, observing what ``op['observe']`` says."""
    from baton import core

    observe = op.get("observe", {})
    obs = core.Observation(
        primary_uncertain=not observe.get("primary_known", True),
        bound_known=observe.get("ack_bound_known", True),
        prefix_known=observe.get("history_known", True),
        mvcc=observe.get("mvcc", "Preserved"),
    )
    return [core.BeginValidation(c), core.Decide(c, obs)]


def _run_protocol(n: int, mode: str, ops: list[dict[str, Any]]) -> dict[str, Any]:
    """Run protocol operations through the core; the decision of each promotion and the end."""
    from baton import core, events
    from baton.errors import DuplicateRequest, ProtocolError

    names = [_name(i) for i in range(n)]
    index = {name: i for i, name in enumerate(names)}
    out = io.StringIO()
    rec = events.Recorder(names, mode, names[0], stream=out)
    state = core.initial_state(n, mode)
    decisions: list[dict[str, Any]] = []

    def do(action: Any) -> None:
        nonlocal state
        state, effects = core.step(state, action)
        rec.record(effects)

    for op in ops:
        kind = op["op"]
        if kind == "write":
            do(core.Write(index[op["node"]]))
        elif kind == "ack":
            do(core.Ack(index[op["node"]]))
        elif kind == "replicate":
            src, dst = index[op["from"]], index[op["to"]]
            while len(state.nodes[dst].durable.wal) < len(state.nodes[src].durable.wal):
                do(core.Replicate(src, dst))
        elif kind in ("crash", "restart", "reinstate", "demote"):
            cls = {"crash": core.Crash, "restart": core.Restart,
                   "reinstate": core.Reinstate, "demote": core.Demote}[kind]  # fmt: skip
            do(cls(index[op["node"]]))
        elif kind == "promote":
            c = index[op["candidate"]]
            rec.request_arrived(c, bool(op.get("force", False)), op.get("operator", "op"), None)
            try:
                do(core.Request(c, bool(op.get("force", False))))
            except ProtocolError as exc:
                reason = "duplicate_request" if isinstance(exc, DuplicateRequest) else "rejected"
                rec.request_refused(c, reason, str(exc))
                decisions.append({"candidate": op["candidate"], "result": "rejected"})
                continue
            crash = op.get("crash_during")
            if crash == "validation":
                do(core.Crash(c))
                decisions.append({"candidate": op["candidate"], "result": "interrupted"})
                continue
            for action in _validate_actions(c, op):
                do(action)
            verdict = next(e for e in reversed(rec.events) if e["kind"] == "validation")
            verdict = verdict["decision"]
            entry: dict[str, Any] = {"candidate": op["candidate"], "decision": verdict}
            if verdict != "allowed":
                do(core.Acknowledge(c))
                entry["result"] = "denied"
            else:
                do(core.BeginTransition(c))
                stage = _CRASH_STAGES.get(crash, len(core.MARKER_OPS)) if crash else None
                ops_done = core.MARKER_OPS if stage is None else core.MARKER_OPS[:stage]
                for marker_op in ops_done:
                    do(core.MarkerOp(c, marker_op))
                if crash is not None:  # before the marker write (old) or after it (new)
                    do(core.Crash(c, None if stage == 0 else "new"))
                    entry["result"] = "interrupted"
                else:
                    do(core.Complete(c))
                    do(core.Acknowledge(c))
                    entry["result"] = "promoted"
                    entry["epoch"] = state.nodes[c].durable.epoch
            decisions.append(entry)
        else:  # pragma: no cover - the stories below use only the operations above
            raise ValueError(f"unknown protocol operation {kind!r}")
    rec.close()
    final = _end_state(state, names, lifecycle=False)
    return {"decisions": decisions, "final": final, "trace": out.getvalue()}


def _w(node: str, k: int = 1) -> list[dict[str, Any]]:
    return [{"op": "write", "node": node}] * k


def protocol_stories() -> list[tuple[str, str, int, str, list[dict[str, Any]]]]:
    """(id, description, nodes, mode, operations): each a story an operator could tell."""
    synced = [*_w("n0", 2), {"op": "replicate", "from": "n0", "to": "n1"},
              {"op": "ack", "node": "n0"}]  # fmt: skip
    crash0 = {"op": "crash", "node": "n0"}

    def promote(c: str = "n1", **params: Any) -> dict[str, Any]:
        return {"op": "promote", "candidate": c, "force": False, "operator": "vectors", **params}

    stories: list[tuple[str, str, int, str, list[dict[str, Any]]]] = [
        ("clean_failover", "the primary crashes; n1 holds every acknowledged write and is "
         "promoted to epoch 2", 3, "async",
         [*synced, crash0, promote(), *_w("n1"), {"op": "ack", "node": "n1"}]),
        ("primary_active", "the primary is alive: the promotion is denied (P6-A1)", 3, "async",
         [*synced, promote()]),
        ("force_over_active_primary", "force cannot override a primary observed Active "
         "(P6-A1a)", 3, "async", [*synced, promote(force=True)]),
        ("primary_unknown", "the validator cannot tell the old primary's status and the "
         "operator does not force: denied (P6-F1)", 3, "async",
         [*synced, crash0, promote(observe={"primary_known": False})]),
        ("forced_unknown_primary", "status Unknown and the operator forces: promoted "
         "(P6-A1a)", 3, "async",
         [*synced, crash0, promote(force=True, observe={"primary_known": False})]),
        ("behind", "the candidate lacks an acknowledged write: denied (P6-S1)", 3, "async",
         [*synced, *_w("n0"), {"op": "ack", "node": "n0"}, crash0, promote()]),
        ("ack_bound_unknown", "no bound on acknowledged writes is proven: denied (P6-F1)", 3,
         "async", [*synced, crash0, promote(observe={"ack_bound_known": False})]),
        ("history_unknown", "prefix compatibility cannot be established: denied (P6-F1)", 3,
         "async", [*synced, crash0, promote(observe={"history_known": False})]),
        ("mvcc_unknown", "MVCC visibility preservation unknown: denied (P6-F1)", 3, "async",
         [*synced, crash0, promote(observe={"mvcc": "Unknown"})]),
        ("mvcc_violated", "promotion would violate MVCC visibility: denied (P6-S3)", 3, "async",
         [*synced, crash0, promote(observe={"mvcc": "Violated"})]),
        ("candidate_is_primary", "promoting the primary itself: denied", 3, "async",
         [*synced, promote("n0")]),
        ("second_failover", "two failovers in a row: n1 then n2, epochs 2 and 3", 3, "async",
         [*synced, {"op": "replicate", "from": "n0", "to": "n2"}, crash0, promote(),
          *_w("n1"), {"op": "replicate", "from": "n1", "to": "n2"}, {"op": "ack", "node": "n1"},
          {"op": "crash", "node": "n1"}, promote("n2")]),
        ("divergent_unacknowledged_entry", "sync mode, standby n1: n0 writes lsn 2 and sends "
         "it to n2 only, then crashes; n1 is promoted and writes its own lsn 2, then crashes; "
         "promoting n2: its WAL is as long as the standby's, but lsn 2 differs in epoch, so "
         "the history diverges (P6-S2; a validator comparing LSNs alone allows it)", 3, "sync",
         [*_w("n0"), {"op": "replicate", "from": "n0", "to": "n1"}, {"op": "ack", "node": "n0"},
          *_w("n0"), {"op": "replicate", "from": "n0", "to": "n2"}, crash0, promote(),
          *_w("n1"), {"op": "crash", "node": "n1"}, promote("n2")]),
        ("deposed_primary_demoted", "after a failover the old primary restarts fenced and "
         "rejoins as a replica (P6-A3)", 3, "async",
         [*synced, crash0, promote(), {"op": "restart", "node": "n0"},
          {"op": "demote", "node": "n0"}]),
        ("primary_reinstated", "the primary crashes and restarts; with no promotion it is "
         "reinstated and writes again", 2, "async",
         [*synced, crash0, {"op": "restart", "node": "n0"}, {"op": "reinstate", "node": "n0"},
          *_w("n0"), {"op": "ack", "node": "n0"}]),
        ("sync_failover", "sync mode: the standby holds every acknowledged write and is "
         "promoted", 3, "sync",
         [*_w("n0"), {"op": "replicate", "from": "n0", "to": "n1"}, {"op": "ack", "node": "n0"},
          crash0, promote()]),
    ]  # fmt: skip
    for phase in ("validation", "transfer", "completion"):
        stories.append(
            (
                f"crash_during_{phase}",
                f"the candidate crashes during {phase}; after its restart exactly one "
                "authority (old or new, by the durable marker) exists (P6-F2)",
                3,
                "async",
                [*synced, crash0, promote(crash_during=phase), {"op": "restart", "node": "n1"}],
            )
        )
    return stories


def protocol_vectors() -> Iterator[dict[str, Any]]:
    for sid, desc, n, mode, ops in protocol_stories():
        run = _run_protocol(n, mode, ops)
        verdict = oracle.check_stream(io.BytesIO(run["trace"].encode()), f"protocol/{sid}")
        if verdict.status != "conforms":  # the reference must conform to its own oracle
            raise AssertionError(f"protocol {sid}: {oracle.render(verdict)}")
        yield {
            "id": f"protocol/{sid}",
            "family": "protocol",
            "input": {
                "description": desc,
                "nodes": [_name(i) for i in range(n)],
                "mode": mode,
                "primary": _name(0),
                "epoch": 1,
                **({"standby": _name(1)} if mode == "sync" else {}),
                "operations": ops,
            },
            "expected": {"decisions": run["decisions"], "final": run["final"]},
        }


def trace_vectors(traces_dir: Path) -> Iterator[dict[str, Any]]:
    """Every example trace with the oracle's verdict (status and violations)."""
    for path in sorted(traces_dir.glob("*.jsonl")):
        with path.open(encoding="utf-8", newline="") as stream:
            verdict = oracle.check_stream(stream, path.name)
        yield {
            "id": f"trace/{path.stem}",
            "family": "trace",
            "input": {"trace": path.read_text(encoding="utf-8")},
            "expected": {
                "status": verdict.status,
                "exit": verdict.exit_code,
                "violations": [
                    {"rule": v.rule, "invariant": v.invariant, "line": v.line}
                    for v in verdict.violations
                ],
                "error": verdict.error.to_dict() if verdict.error is not None else None,
            },
        }


def runtime_trace_vectors(scenarios_dir: Path) -> Iterator[dict[str, Any]]:
    """The runtime's example scenarios (``baton run``) on real directories, as trace vectors.

    Each run's trace must conform (the reference obeys its own oracle); the
    vector records the trace and that verdict. A demonstration that drops a spec
    assumption (``drop_assumptions``) is no conforming run and is left out."""
    import contextlib
    import tempfile

    from baton import scenario
    from baton.commands import run as run_command

    # The run command itself, not the whole CLI: a nested CLI would install its own
    # interrupt watchdog and turn this command's Ctrl-C into a run's exit status.
    parser = argparse.ArgumentParser(prog="baton run")
    run_command.add_arguments(parser)
    for path in sorted(scenarios_dir.glob("*.json")):
        if scenario.load(str(path)).drop_assumptions:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "trace.jsonl"
            args = parser.parse_args(
                [str(path), "--dir", str(Path(tmp) / "nodes"), "--trace", str(out), "--quiet"]
            )
            with contextlib.redirect_stdout(io.StringIO()):
                code = run_command.run(args)
            if code != 0:
                raise AssertionError(f"baton run {path.name} exited {code}")
            text = out.read_text(encoding="utf-8")
        verdict = oracle.check_stream(io.StringIO(text), path.name)
        if verdict.status != "conforms":
            raise AssertionError(f"baton run {path.name}: {oracle.render(verdict)}")
        yield {
            "id": f"trace/run_{path.stem}",
            "family": "trace",
            "input": {"trace": text},
            "expected": {"status": "conforms", "exit": 0, "violations": [], "error": None},
        }


def _examples_dir() -> Path | None:
    """examples/ of a source checkout, else the copy an installed wheel carries
    (package ``baton.examples``, declared as package data in pyproject.toml)."""
    here = Path(__file__).resolve().parent.parent / "examples"
    if here.is_dir():
        return here
    shipped = Path(str(resources.files("baton"))) / "examples"
    return shipped if shipped.is_dir() else None


def default_scenarios_dir() -> Path | None:
    """The runtime's scenario files (``examples/*.json``), if this installation has them."""
    here = _examples_dir()
    return here if here is not None and any(here.glob("*.json")) else None


def default_traces_dir() -> Path | None:
    """The example traces (examples/traces), if this installation has them."""
    here = _examples_dir()
    traces = here / "traces" if here is not None else None
    return traces if traces is not None and any(traces.glob("*.jsonl")) else None


# --- writing --------------------------------------------------------------------------------

README = """# Baton test vectors (format {version})

Generated by `baton vectors` ({generator}). Re-running it gives byte-identical
files; `manifest.json` lists counts and SHA-256 of every file.

Every file is JSON Lines; one line is one vector:

    {{"id": "...", "family": "lifecycle|validation|protocol|scenario|trace",
     "input": {{...}}, "expected": {{...}}}}

(JSON Schema: `baton schema vectors`.)

Files (family: input -> expected):

* lifecycle.jsonl (lifecycle): `state`, `event` -> `next` state or null,
  `forbidden`, and the `invariant` a forbidden step breaks.
* validation.jsonl (validation): `context` (7 fields, spec vocabulary) ->
  `decision` ("allowed" or the denial reason), `allowed`, `invariants`.
* protocol.jsonl (protocol): for any implementation, whose controller may run
  a whole promotion attempt in one call. `nodes`, `mode`, `primary` (the
  initial primary), `epoch` (every node's starting epoch), `standby` (sync
  mode) and `operations`, in order:
{operations}
  -> `decisions` (one per promote, in order: `candidate`, `decision` when the
  validator decided, `result`: promoted, denied, rejected or interrupted, and
  the new `epoch` when promoted) and `final` (writable and up nodes, each
  node's durable marker role and epoch, WAL end, number of acknowledged writes).
* scenarios.jsonl (scenario): Baton's internal steps: `nodes`, `mode`, `steps` (core actions,
  `{{"do": ..., node fields}}`) -> per-step `outcomes` ("applied" or the error
  class), the `final` state (writable nodes, markers, WAL ends, acked count,
  lifecycle, up nodes) and the reference `trace`.
* traces.jsonl (trace): `trace` text (JSON Lines) -> the oracle's verdict:
  `status`, `exit`, `violations` (rule, invariant, line), `error`.

## Replaying

Write an adapter: a Python callable `adapter(vector) -> outcome`, or a command
that reads ONE vector (a JSON line) on standard input and prints ONE JSON
outcome on standard output (with `--stream`: started once, one vector per
input line, one outcome per output line, in order). Then:

    baton vectors --out vectors/
    python -m baton.replay vectors/ --command './my_adapter'
    python -m baton.replay vectors/ --command './my_adapter' --stream
    python -m baton.replay vectors/ --callable mypkg.adapter:run --family validation

The outcome to print, per family:

* lifecycle: `{{"next": "<state>"}}` or `{{"next": null}}` (forbidden);
* validation: `{{"decision": "<allowed or reason>"}}`;
* protocol: `{{"decisions": [{{"decision": ..., "result": ...}}, ...],
  "final": {{...}}}}` with at least `writable` in `final` (every key you give is
  compared);
* scenario: `{{"final": {{...}}}}` with at least `writable` and any of
  `markers`, `wal_end`, `acked`, `lifecycle`, `up` (every key you give is
  compared), optionally `"outcomes": [...]` (compared whole) and optionally
  `"trace": [events]` in Baton trace format, which is checked with the oracle;
* trace: `{{"status": "<conforms|conforms_partial|violation|malformed>"}}`
  (for teams writing their own checker);
* `{{"skip": "why"}}` to decline a vector: it counts as NOT consumed.

The harness fails (exit 1) if any vector disagreed or was not consumed; it
exits 0 only when every vector in the selected families was consumed and
agreed. Its report groups disagreements by class -- unsafe allows (allowed
what the spec denies) first, then wrong denial reasons, wrong denials, wrong
results and end states -- and within a class by the check concerned (the
spec's denial reason, or `state --event-->`), with counts and examples.
`--json` prints the same report as JSON.
"""


def generate(
    out_dir: Path, traces_dir: Path | None = None, scenarios_dir: Path | None = None
) -> dict[str, Any]:
    """Write every vector file, the manifest and the README; return the manifest.

    ``traces_dir``: example traces (examples/traces); ``scenarios_dir``: the
    runtime's scenario files (examples/*.json), run with ``baton run``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    traces = list(trace_vectors(traces_dir)) if traces_dir is not None else []
    if scenarios_dir is not None:
        traces += list(runtime_trace_vectors(scenarios_dir))
    files: dict[str, list[dict[str, Any]]] = {
        "lifecycle.jsonl": list(lifecycle_vectors()),
        "validation.jsonl": list(validation_vectors()),
        "protocol.jsonl": list(protocol_vectors()),
        "scenarios.jsonl": list(scenario_vectors()),
        "traces.jsonl": traces,
    }
    hashes: dict[str, str] = {}
    counts: dict[str, int] = {}
    for fname, vectors in files.items():
        data = "".join(_dump(v) + "\n" for v in vectors).encode("utf-8")
        (out_dir / fname).write_bytes(data)
        hashes[fname] = hashlib.sha256(data).hexdigest()
        counts[fname.split(".")[0]] = len(vectors)
    operations = "\n".join(f"  * `{op}` -- {text}" for op, text in PROTOCOL_OPS.items())
    readme = README.format(version=VERSION, generator=GENERATOR, operations=operations).encode(
        "utf-8"
    )
    (out_dir / "README.md").write_bytes(readme)
    hashes["README.md"] = hashlib.sha256(readme).hexdigest()
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "generator": GENERATOR,
        "trace_format": trace.VERSION,
        "seed": SEED,
        "counts": counts,
        "total": sum(counts.values()),
        "files": hashes,
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", "utf-8")
    return manifest


def vectors_schema() -> dict[str, Any]:
    """JSON Schema of one vector line and of an adapter's outcome."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://baton.invalid/schemas/vectors.schema.json",
        "title": f"Baton test vector, format {FORMAT} version {VERSION}",
        "description": "One line of a vectors file (lifecycle, validation, scenarios, traces).",
        "type": "object",
        "properties": {
            "id": {"type": "string", "description": "family/name, unique"},
            "family": {"enum": list(FAMILIES)},
            "input": {"type": "object", "description": "what the adapter receives"},
            "expected": {"type": "object", "description": "what the reference produced"},
        },
        "required": ["id", "family", "input", "expected"],
        "additionalProperties": False,
        "$defs": {
            "outcome": {
                "type": "object",
                "description": "what an adapter prints for one vector (see the vectors README)",
                "properties": {
                    "next": {"type": ["string", "null"]},
                    "decision": {"type": "string"},
                    "decisions": {
                        "type": "array",
                        "items": {"type": "object"},
                        "description": "protocol: one object per promote operation, in order: "
                        "decision (allowed or the denial reason, when a decision was made) "
                        "and result (promoted, denied, rejected, interrupted)",
                    },
                    "final": {"type": "object"},
                    "trace": {"type": "array", "items": {"type": "object"}},
                    "status": {"type": "string"},
                    "skip": {"type": "string"},
                },
            }
        },
    }
