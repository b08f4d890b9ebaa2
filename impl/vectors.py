"""Test vectors: language-neutral cases any implementation can replay (``baton vectors``).

Four families, every one computed from the spec or from the runtime's pure
core, never written by hand:

* ``lifecycle``: every (state, event) pair of the spec's lifecycle -- 7 x 10
  = 70 vectors -- with the next state or ``forbidden``.
* ``validation``: every point of the 1512-point validation domain
  (``baton.spec.validation.domain()``) with the spec's decision, its
  invariant and whether it is allowed.
* ``scenario``: step sequences (including crashes at every marker file
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

import hashlib
import io
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from baton import __version__, oracle, trace

FORMAT = "baton-vectors"
VERSION = 1
GENERATOR = f"baton {__version__} vectors/{VERSION}"
FAMILIES: tuple[str, ...] = ("lifecycle", "validation", "scenario", "trace")
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
    final = {
        "writable": [names[i] for i in state.writable_nodes()],
        "up": [names[i] for i, node in enumerate(state.nodes) if node.up],
        "markers": {
            names[i]: {"role": node.durable.marker_role, "epoch": node.durable.epoch}
            for i, node in enumerate(state.nodes)
        },
        "wal_end": {names[i]: len(node.durable.wal) for i, node in enumerate(state.nodes)},
        "acked": len(state.acked),
        "lifecycle": {names[i]: node.lifecycle for i, node in enumerate(state.nodes)},
    }
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
    vector records the trace and that verdict."""
    import contextlib
    import tempfile

    from baton import cli

    for path in sorted(scenarios_dir.glob("*.json")):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "trace.jsonl"
            argv = ["run", str(path), "--dir", str(Path(tmp) / "nodes"), "--trace", str(out)]
            with contextlib.redirect_stdout(io.StringIO()):
                code = cli.main([*argv, "--quiet"])
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


def default_scenarios_dir() -> Path | None:
    """examples/ of a source checkout (the runtime's scenarios), if there is one."""
    here = Path(__file__).resolve().parent.parent / "examples"
    return here if here.is_dir() and any(here.glob("*.json")) else None


def default_traces_dir() -> Path | None:
    """examples/traces of a source checkout, if there is one."""
    here = Path(__file__).resolve().parent.parent / "examples" / "traces"
    return here if here.is_dir() else None


# --- writing --------------------------------------------------------------------------------

README = """# Baton test vectors (format {version})

Generated by `baton vectors` ({generator}). Re-running it gives byte-identical
files; `manifest.json` lists counts and SHA-256 of every file.

Every file is JSON Lines; one line is one vector:

    {{"id": "...", "family": "lifecycle|validation|scenario|trace",
     "input": {{...}}, "expected": {{...}}}}

(JSON Schema: `baton schema vectors`.)

Files (family: input -> expected):

* lifecycle.jsonl (lifecycle): `state`, `event` -> `next` state or null,
  `forbidden`, and the `invariant` a forbidden step breaks.
* validation.jsonl (validation): `context` (7 fields, spec vocabulary) ->
  `decision` ("allowed" or the denial reason), `allowed`, `invariants`.
* scenarios.jsonl (scenario): `nodes`, `mode`, `steps` (core actions,
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
* scenario: `{{"final": {{...}}}}` with at least `writable` and any of
  `markers`, `wal_end`, `acked`, `lifecycle`, `up` (every key you give is
  compared), optionally `"outcomes": [...]` (compared whole) and optionally
  `"trace": [events]` in Baton trace format, which is checked with the oracle;
* trace: `{{"status": "<conforms|conforms_partial|violation|malformed>"}}`
  (for teams writing their own checker);
* `{{"skip": "why"}}` to decline a vector: it counts as NOT consumed.

The harness fails (exit 1) if any vector disagreed or was not consumed, and
lists them; it exits 0 only when every vector in the selected families was
consumed and agreed.
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
    readme = README.format(version=VERSION, generator=GENERATOR).encode("utf-8")
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
                    "final": {"type": "object"},
                    "trace": {"type": "array", "items": {"type": "object"}},
                    "status": {"type": "string"},
                    "skip": {"type": "string"},
                },
            }
        },
    }
