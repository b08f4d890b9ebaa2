"""Replay Baton's test vectors against another implementation (the harness).

An *adapter* connects an implementation under test to the vectors: it takes
one vector (a dict, as in the vectors files) and returns one outcome (a dict,
format in the vectors README and ``baton schema vectors`` ``$defs.outcome``).
It is either a Python callable or a command:

* ``--callable mypkg.adapter:run`` -- imported and called once per vector;
* ``--command './adapter'`` -- run once per vector, the vector as one JSON line
  on standard input, one JSON outcome on standard output;
* ``--command './adapter' --stream`` -- started once, fed one vector per line,
  answering one outcome per line in order (much faster for 1600 vectors).

The harness fails unless *every* selected vector was consumed (an outcome
with the expected key, not ``{"skip": ...}``, no crash, no missing answer)
and agreed with the expected result. Scenario outcomes may include a
``trace`` (Baton trace events), which is then checked with the oracle too.

Usage::

    python -m baton.replay VECTORS_DIR --command ./my_adapter --stream
    python -m baton.replay VECTORS_DIR --callable examples.adapter.vector_adapter:run \\
        --family lifecycle --family validation

Exit status: 0 every vector consumed and agreed, 1 some did not (listed), 2
bad usage or unreadable vectors.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import shlex
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from baton import oracle, vectors

Adapter = Callable[[dict[str, Any]], Any]

FILES: dict[str, str] = {
    "lifecycle": "lifecycle.jsonl",
    "validation": "validation.jsonl",
    "scenario": "scenarios.jsonl",
    "trace": "traces.jsonl",
}


class ReplayError(Exception):
    """The vectors directory cannot be read, or the adapter cannot be started."""


@dataclass
class ReplayReport:
    """What happened to every vector: agreed, disagreed (with why) or not consumed."""

    total: int = 0
    agreed: int = 0
    disagreed: list[tuple[str, str]] = field(default_factory=list)
    not_consumed: list[tuple[str, str]] = field(default_factory=list)
    per_family: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.total > 0 and not self.disagreed and not self.not_consumed

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "total": self.total,
            "agreed": self.agreed,
            "per_family": self.per_family,
            "disagreed": [{"id": i, "why": w} for i, w in self.disagreed],
            "not_consumed": [{"id": i, "why": w} for i, w in self.not_consumed],
        }

    def render(self, limit: int = 20) -> str:
        lines = [
            f"replay: {self.agreed}/{self.total} vectors agreed "
            f"({', '.join(f'{k} {v}' for k, v in self.per_family.items())})"
        ]
        for title, items in (("DISAGREED", self.disagreed), ("NOT CONSUMED", self.not_consumed)):
            if items:
                lines.append(f"{title}: {len(items)}")
                lines += [f"  {i}: {w}" for i, w in items[:limit]]
                if len(items) > limit:
                    lines.append(f"  ... and {len(items) - limit} more")
        lines.append("PASS" if self.ok else "FAIL")
        return "\n".join(lines)


def load_vectors(directory: Path, families: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Every vector of the selected families, checked against the manifest's counts."""
    manifest_path = directory / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text("utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ReplayError(f"{manifest_path}: cannot read the manifest ({exc})") from None
    if manifest.get("format") != vectors.FORMAT or manifest.get("version") != vectors.VERSION:
        raise ReplayError(
            f"{manifest_path}: not {vectors.FORMAT} version {vectors.VERSION} "
            f"(found {manifest.get('format')!r} {manifest.get('version')!r})"
        )
    out: list[dict[str, Any]] = []
    for family in families or list(FILES):
        if family not in FILES:
            raise ReplayError(f"unknown family {family!r} (known: {', '.join(FILES)})")
        path = directory / FILES[family]
        try:
            lines = path.read_text("utf-8").splitlines()
        except OSError as exc:
            raise ReplayError(f"{path}: {exc.strerror or exc}") from None
        want = manifest["counts"].get(FILES[family].split(".")[0])
        if want != len(lines):
            raise ReplayError(f"{path}: {len(lines)} vectors, the manifest says {want}")
        for n, line in enumerate(lines, 1):
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ReplayError(f"{path}:{n}: not JSON ({exc.msg})") from None
    return out


def judge(vector: dict[str, Any], outcome: Any) -> tuple[str, str]:
    """Compare one outcome with the vector: ('agreed'|'disagreed'|'not_consumed', why)."""
    if not isinstance(outcome, dict):
        return "not_consumed", f"the adapter returned {type(outcome).__name__}, not an object"
    if "skip" in outcome:
        return "not_consumed", f"skipped: {outcome['skip']}"
    family, expected = vector["family"], vector["expected"]
    if family == "lifecycle":
        if "next" not in outcome:
            return "not_consumed", "no 'next' in the outcome"
        if outcome["next"] != expected["next"]:
            return "disagreed", f"next {outcome['next']!r}, expected {expected['next']!r}"
    elif family == "validation":
        if "decision" not in outcome:
            return "not_consumed", "no 'decision' in the outcome"
        if outcome["decision"] != expected["decision"]:
            return (
                "disagreed",
                f"decision {outcome['decision']!r}, expected {expected['decision']!r}",
            )
    elif family == "scenario":
        final = outcome.get("final")
        if not isinstance(final, dict) or "writable" not in final:
            return "not_consumed", "no 'final' object with at least 'writable'"
        for key, value in final.items():
            if key not in expected["final"]:
                return "disagreed", f"unknown final key {key!r}"
            if value != expected["final"][key]:
                return "disagreed", f"final {key} {value!r}, expected {expected['final'][key]!r}"
        if "outcomes" in outcome and outcome["outcomes"] != expected["outcomes"]:
            return "disagreed", "per-step outcomes differ"
        if "trace" in outcome:
            verdict = oracle.check_events(outcome["trace"], vector["id"])
            if verdict.exit_code != 0:
                first = verdict.violations[0] if verdict.violations else None
                why = (
                    f"{first.invariant} at line {first.line}: {first.explanation}"
                    if first
                    else (verdict.error.reason if verdict.error else verdict.status)
                )
                return "disagreed", f"its trace does not conform: {why}"
    elif family == "trace":
        if "status" not in outcome:
            return "not_consumed", "no 'status' in the outcome"
        if outcome["status"] != expected["status"]:
            return "disagreed", f"status {outcome['status']!r}, expected {expected['status']!r}"
    else:
        return "not_consumed", f"unknown family {family!r}"
    return "agreed", ""


def replay(vector_list: Sequence[dict[str, Any]], adapter: Adapter) -> ReplayReport:
    """Run ``adapter`` on every vector; an exception counts as not consumed."""
    report = ReplayReport()
    for vector in vector_list:
        try:
            outcome = adapter(vector)
        except Exception as exc:  # the implementation under test may fail any way it likes
            outcome = {"skip": f"adapter raised {type(exc).__name__}: {exc}"}
        _record(report, vector, outcome)
    return report


def _record(report: ReplayReport, vector: dict[str, Any], outcome: Any) -> None:
    report.total += 1
    report.per_family[vector["family"]] = report.per_family.get(vector["family"], 0) + 1
    verdict, why = judge(vector, outcome)
    if verdict == "agreed":
        report.agreed += 1
    elif verdict == "disagreed":
        report.disagreed.append((vector["id"], why))
    else:
        report.not_consumed.append((vector["id"], why))


def command_adapter(command: str) -> Adapter:
    """One process per vector: the vector on stdin, one JSON outcome on stdout."""
    argv = shlex.split(command)

    def run(vector: dict[str, Any]) -> Any:
        proc = subprocess.run(
            argv, input=json.dumps(vector) + "\n", capture_output=True, text=True, timeout=60
        )
        if proc.returncode != 0:
            return {"skip": f"exit {proc.returncode}: {proc.stderr.strip()[:200]}"}
        return json.loads(proc.stdout)

    return run


def stream_replay(vector_list: Sequence[dict[str, Any]], command: str) -> ReplayReport:
    """One long-lived process: one vector per line in, one outcome per line out."""
    report = ReplayReport()
    try:
        proc = subprocess.Popen(
            shlex.split(command),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
    except OSError as exc:
        raise ReplayError(f"cannot start {command!r}: {exc.strerror or exc}") from None
    assert proc.stdin is not None and proc.stdout is not None
    dead = False
    for vector in vector_list:
        outcome: Any
        if dead:
            outcome = {"skip": "the adapter process ended before this vector"}
        else:
            try:
                proc.stdin.write(json.dumps(vector) + "\n")
                proc.stdin.flush()
                answer = proc.stdout.readline()
            except (BrokenPipeError, OSError):
                answer = ""
            if not answer:
                dead = True
                outcome = {"skip": "the adapter process ended before this vector"}
            else:
                try:
                    outcome = json.loads(answer)
                except json.JSONDecodeError:
                    outcome = {"skip": f"not JSON: {answer.strip()[:100]}"}
        _record(report, vector, outcome)
    with contextlib.suppress(OSError):
        proc.stdin.close()
    proc.wait(timeout=30)
    return report


def load_callable(spec: str) -> Adapter:
    """``module:function`` to the function."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ReplayError(f"--callable wants module:function, not {spec!r}")
    try:
        fn = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ReplayError(f"cannot load {spec!r}: {exc}") from None
    if not callable(fn):
        raise ReplayError(f"{spec!r} is not callable")
    adapter: Adapter = fn
    return adapter


def iter_families(values: Sequence[str] | None) -> Iterator[str]:
    yield from values or FILES


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m baton.replay",
        description=(__doc__ or "").split("\n\n")[0],
        epilog="Exit status: 0 every vector consumed and agreed, 1 not, 2 bad usage.",
    )
    parser.add_argument("vectors", help="directory written by 'baton vectors --out'")
    how = parser.add_mutually_exclusive_group(required=True)
    how.add_argument("--command", help="adapter command (vector on stdin, outcome on stdout)")
    how.add_argument("--callable", help="adapter as module:function")
    parser.add_argument("--stream", action="store_true", help="with --command: one process")
    parser.add_argument(
        "--family", action="append", choices=list(FILES), help="only these families (repeatable)"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    try:
        vector_list = load_vectors(Path(args.vectors), list(iter_families(args.family)))
        if args.callable:
            report = replay(vector_list, load_callable(args.callable))
        elif args.stream:
            report = stream_replay(vector_list, args.command)
        else:
            report = replay(vector_list, command_adapter(args.command))
    except ReplayError as exc:
        print(f"replay: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.render())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
