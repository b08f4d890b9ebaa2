"""Replay Baton's test vectors against another implementation (the harness).

An *adapter* connects an implementation under test to the vectors: it takes
one vector (a dict, as in the vectors files) and returns one outcome (a dict,
format in the vectors README and ``baton schema vectors`` ``$defs.outcome``).
It is either a program in any language or a Python callable:

* ``--command './adapter' --stream`` -- JSON lines over a subprocess's
  stdin/stdout: started once, fed one vector per line, answering one outcome
  per line in order (a Rust, Go or JavaScript team writes no Python; see
  ``examples/adapter/protocol_adapter.mjs``);
* ``--command './adapter'`` -- run once per vector, the vector as one JSON line
  on standard input, one JSON outcome on standard output;
* ``--callable mypkg.adapter:run`` -- imported and called once per vector.

The ``protocol`` family is the one for an implementation whose controller
runs a whole attempt in one call: writes, replication, acknowledgements,
crashes, restarts and promotion requests with their parameters, and the
expected decision of each request and the end state.

The harness fails unless *every* selected vector was consumed (an outcome
with the expected key, not ``{"skip": ...}``, no crash, no missing answer)
and agreed with the expected result. Scenario outcomes may include a
``trace`` (Baton trace events), which is then checked with the oracle too.
The report groups disagreements by class -- unsafe allows first, then wrong
denial reasons, wrong denials, wrong results, end states -- and within a
class by the check concerned, with counts and example vector IDs.

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
import queue
import shlex
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from baton import oracle, vectors

Adapter = Callable[[dict[str, Any]], Any]

FILES: dict[str, str] = {
    "lifecycle": "lifecycle.jsonl",
    "validation": "validation.jsonl",
    "protocol": "protocol.jsonl",
    "scenario": "scenarios.jsonl",
    "trace": "traces.jsonl",
}


class ReplayError(Exception):
    """The vectors directory cannot be read, or the adapter cannot be started."""


CATEGORIES: dict[str, str] = {
    "unsafe_allow": "UNSAFE ALLOWS: the implementation allowed what the spec denies",
    "wrong_denial_reason": "WRONG DENIAL REASONS: denied, but not for the spec's reason",
    "wrong_denial": "WRONG DENIALS: denied what the spec allows",
    "wrong_result": "WRONG RESULTS: a request ended otherwise (promoted, denied, ...)",
    "end_state": "WRONG END STATES",
    "trace": "TRACES THAT DO NOT CONFORM",
    "verdict": "WRONG VERDICTS",
}
"""How a disagreement is classed, most severe first (the report's sections)."""


@dataclass(frozen=True)
class Disagreement:
    """One vector the implementation got wrong: its class and the check it concerns.

    ``check`` names what went wrong in the spec's words: the denial reason the
    spec gives (an unsafe allow, a wrong reason), the reason the implementation
    gave (a wrong denial), ``state --event-->`` (lifecycle) or the end-state key."""

    id: str
    why: str
    category: str
    check: str


@dataclass
class ReplayReport:
    """What happened to every vector: agreed, disagreed (with why) or not consumed."""

    total: int = 0
    agreed: int = 0
    disagreed: list[Disagreement] = field(default_factory=list)
    not_consumed: list[tuple[str, str]] = field(default_factory=list)
    per_family: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.total > 0 and not self.disagreed and not self.not_consumed

    def groups(self) -> dict[str, dict[str, list[Disagreement]]]:
        """Disagreements by category (most severe first), then by check."""
        out: dict[str, dict[str, list[Disagreement]]] = {}
        for category in CATEGORIES:
            by_check: dict[str, list[Disagreement]] = {}
            for d in self.disagreed:
                if d.category == category:
                    by_check.setdefault(d.check, []).append(d)
            if by_check:
                out[category] = dict(sorted(by_check.items(), key=lambda kv: -len(kv[1])))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "total": self.total,
            "agreed": self.agreed,
            "per_family": self.per_family,
            "groups": {
                category: {
                    check: [{"id": d.id, "why": d.why} for d in items]
                    for check, items in checks.items()
                }
                for category, checks in self.groups().items()
            },
            "disagreed": [
                {"id": d.id, "why": d.why, "category": d.category, "check": d.check}
                for d in self.disagreed
            ],
            "not_consumed": [{"id": i, "why": w} for i, w in self.not_consumed],
        }

    def render(self, examples: int = 3) -> str:
        lines = [
            f"replay: {self.agreed}/{self.total} vectors agreed "
            f"({', '.join(f'{k} {v}' for k, v in self.per_family.items())})"
        ]
        for category, checks in self.groups().items():
            count = sum(len(items) for items in checks.values())
            lines.append(f"{CATEGORIES[category]}: {count}")
            for check, items in checks.items():
                shown = ", ".join(d.id for d in items[:examples])
                more = f" (+{len(items) - examples} more)" if len(items) > examples else ""
                lines.append(f"  {check}: {len(items)}, e.g. {shown}{more}")
                lines.append(f"    first: {items[0].why}")
        if self.not_consumed:
            lines.append(f"NOT CONSUMED: {len(self.not_consumed)}")
            reasons: dict[str, list[str]] = {}
            for vid, why in self.not_consumed:
                reasons.setdefault(why, []).append(vid)
            for why, ids in sorted(reasons.items(), key=lambda kv: -len(kv[1])):
                more = f" (+{len(ids) - examples} more)" if len(ids) > examples else ""
                lines.append(f"  {why}: {len(ids)}, e.g. {', '.join(ids[:examples])}{more}")
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
            # The context the decision was asked on: without it the reader greps the id.
            context = vector["input"]["context"]
            on = ", ".join(
                f"{k}={v if not isinstance(v, bool) else str(v).lower()}"
                for k, v in context.items()
            )
            return (
                "disagreed",
                f"decision {outcome['decision']!r}, expected {expected['decision']!r} "
                f"(context: {on})",
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
    elif family == "protocol":
        return _judge_protocol(expected, outcome)
    elif family == "trace":
        if "status" not in outcome:
            return "not_consumed", "no 'status' in the outcome"
        if outcome["status"] != expected["status"]:
            return "disagreed", f"status {outcome['status']!r}, expected {expected['status']!r}"
    else:
        return "not_consumed", f"unknown family {family!r}"
    return "agreed", ""


def _decision_class(expected: str, got: Any) -> tuple[str, str]:
    """Class a decision that differs from the spec's, and the check it concerns."""
    if got == "allowed":
        return "unsafe_allow", f"{expected} ({_reason_invariant(expected)})"
    if expected == "allowed":
        return "wrong_denial", f"{got} ({_reason_invariant(str(got))})"
    return "wrong_denial_reason", f"{expected} -> {got}"


def _reason_invariant(reason: str) -> str:
    from baton import vocabulary

    return str(vocabulary.load()["validation"]["reasons"].get(reason, "?"))


def classify(vector: dict[str, Any], outcome: dict[str, Any]) -> tuple[str, str]:
    """(category, check) of a disagreement (see :data:`CATEGORIES`)."""
    family, expected = vector["family"], vector["expected"]
    if family == "validation":
        return _decision_class(expected["decision"], outcome.get("decision"))
    if family == "lifecycle":
        step = f"{vector['input']['state']} --{vector['input']['event']}-->"
        if expected["next"] is None:
            return "unsafe_allow", step
        if outcome.get("next") is None:
            return "wrong_denial", step
        return "wrong_result", step
    if family == "protocol":
        got = outcome.get("decisions")
        if isinstance(got, list) and len(got) == len(expected["decisions"]):
            for want, have in zip(expected["decisions"], got, strict=True):
                if not isinstance(have, dict):
                    return "wrong_result", "decisions"
                if "decision" in want and have.get("decision") != want["decision"]:
                    return _decision_class(want["decision"], have.get("decision"))
                if have.get("result") != want["result"]:
                    return "wrong_result", f"{want['result']} -> {have.get('result')}"
        elif got is not None:
            return "wrong_result", "number of decisions"
        for key, value in outcome.get("final", {}).items():
            if value != expected["final"].get(key):
                return "end_state", f"final.{key}"
        return "wrong_result", "outcome"
    if family == "scenario":
        if "trace" in outcome and not any(
            outcome.get("final", {}).get(k) != v
            for k, v in expected["final"].items()
            if k in outcome.get("final", {})
        ):
            return "trace", "trace"
        for key, value in outcome.get("final", {}).items():
            if value != expected["final"].get(key):
                return "end_state", f"final.{key}"
        return "wrong_result", "outcomes"
    return "verdict", f"{expected.get('status')} -> {outcome.get('status')}"


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


def _judge_protocol(expected: dict[str, Any], outcome: dict[str, Any]) -> tuple[str, str]:
    """A protocol outcome: every request's decision and result in order, then the end state."""
    decisions, final = outcome.get("decisions"), outcome.get("final")
    if not isinstance(decisions, list) or not isinstance(final, dict) or "writable" not in final:
        return "not_consumed", "no 'decisions' list and 'final' object with at least 'writable'"
    want = expected["decisions"]
    if len(decisions) != len(want):
        return "disagreed", f"{len(decisions)} decisions, expected {len(want)}"
    for k, (w, have) in enumerate(zip(want, decisions, strict=True), 1):
        if not isinstance(have, dict):
            return "disagreed", f"request {k}: not an object"
        if "decision" in w and have.get("decision") != w["decision"]:
            return (
                "disagreed",
                f"request {k} ({w['candidate']}): decision {have.get('decision')!r}, expected "
                f"{w['decision']!r}",
            )
        if have.get("result") != w["result"]:
            return (
                "disagreed",
                f"request {k} ({w['candidate']}): result {have.get('result')!r}, expected "
                f"{w['result']!r}",
            )
    for key, value in final.items():
        if key not in expected["final"]:
            return "disagreed", f"unknown final key {key!r}"
        if value != expected["final"][key]:
            return "disagreed", f"final {key} {value!r}, expected {expected['final'][key]!r}"
    return "agreed", ""


def _record(report: ReplayReport, vector: dict[str, Any], outcome: Any) -> None:
    report.total += 1
    report.per_family[vector["family"]] = report.per_family.get(vector["family"], 0) + 1
    verdict, why = judge(vector, outcome)
    if verdict == "agreed":
        report.agreed += 1
    elif verdict == "disagreed":
        category, check = classify(vector, outcome)
        report.disagreed.append(Disagreement(vector["id"], why, category, check))
    else:
        report.not_consumed.append((vector["id"], why))


def command_argv(command: str) -> list[str]:
    """``--command`` split as a shell would, or a :class:`ReplayError` (exit 2) saying why not."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:  # an unbalanced quote: shlex's message says which
        raise ReplayError(f"--command {command!r}: {exc}") from None
    if not argv:
        raise ReplayError("--command is empty")
    if shutil.which(argv[0]) is None and not Path(argv[0]).exists():
        # Found up front in both modes, not as one skipped vector per vector.
        raise ReplayError(f"cannot start {command!r}: program {argv[0]!r} not found")
    return argv


def command_adapter(command: str) -> Adapter:
    """One process per vector: the vector on stdin, one JSON outcome on stdout."""
    argv = command_argv(command)

    def run(vector: dict[str, Any]) -> Any:
        proc = subprocess.run(
            argv, input=json.dumps(vector) + "\n", capture_output=True, text=True, timeout=60
        )
        if proc.returncode != 0:
            return {"skip": f"exit {proc.returncode}: {proc.stderr.strip()[:200]}"}
        return json.loads(proc.stdout)

    return run


ANSWER_TIMEOUT = 30.0
"""Seconds a streaming adapter may take to answer one vector before it is stopped."""


def stream_replay(
    vector_list: Sequence[dict[str, Any]], command: str, answer_timeout: float = ANSWER_TIMEOUT
) -> ReplayReport:
    """One long-lived process: one vector per line in, one outcome per line out.

    Answers are read by a thread so that an adapter that never answers (typically one
    that does not flush its standard output, which a pipe buffers) is stopped after
    ``answer_timeout`` seconds with a reason, instead of hanging the replay for ever."""
    report = ReplayReport()
    try:
        proc = subprocess.Popen(
            command_argv(command),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
    except OSError as exc:
        raise ReplayError(f"cannot start {command!r}: {exc.strerror or exc}") from None
    assert proc.stdin is not None and proc.stdout is not None
    answers: queue.Queue[str] = queue.Queue()

    def pump(stdout: IO[str]) -> None:
        for line in stdout:
            answers.put(line)
        answers.put("")  # end of output

    threading.Thread(target=pump, args=(proc.stdout,), daemon=True).start()
    gone: str | None = None  # why no later vector can be answered
    for vector in vector_list:
        outcome: Any
        if gone is not None:
            outcome = {"skip": gone}
        else:
            try:
                proc.stdin.write(json.dumps(vector) + "\n")
                proc.stdin.flush()
                answer = answers.get(timeout=answer_timeout)
            except (BrokenPipeError, OSError):
                answer = ""
            except queue.Empty:
                proc.kill()
                gone = (
                    f"the adapter was stopped after no answer within {answer_timeout:g} s "
                    "(does it flush its standard output after every line?)"
                )
                outcome = {
                    "skip": f"no answer within {answer_timeout:g} s (does the adapter flush "
                    "its standard output after every line?); the adapter was stopped"
                }
                _record(report, vector, outcome)
                continue
            if not answer:
                gone = "the adapter process ended before this vector"
                outcome = {"skip": gone}
            else:
                try:
                    outcome = json.loads(answer)
                except json.JSONDecodeError:
                    outcome = {"skip": f"not JSON: {answer.strip()[:100]}"}
        _record(report, vector, outcome)
    with contextlib.suppress(OSError):
        proc.stdin.close()
    try:
        proc.wait(timeout=answer_timeout)
    except subprocess.TimeoutExpired:  # it answered everything but does not end at EOF
        proc.kill()
        proc.wait()
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


REPLAY_EPILOG = """\
the outcome an adapter prints, one JSON object per vector (details: VECTORS/README.md):
  lifecycle   {"next": "PromotionRequested"}  or {"next": null} for a forbidden pair
  validation  {"decision": "allowed"}  or the denial reason, e.g. "primary_status_unknown"
  protocol    {"decisions": [...], "final": {...}}
  scenario    {"final": {...}, "trace": [...]}
  trace       {"status": "conforms"}
  any family  {"skip": "why"}  (counts as not agreed: the run fails)

examples:
  baton vectors --out vectors/
  python -m baton.replay vectors/ --stream --command "python3 my_adapter.py" \\
      --family lifecycle --family validation
  python -m baton.replay vectors/ --stream \\
      --command "node examples/adapter/protocol_adapter.mjs vocabulary.json" --family protocol
  python -m baton.replay vectors/ --callable mypkg.adapter:run --json > replay.json

exit status: 0 every selected vector consumed and agreed, 1 not (disagreements grouped,
unsafe allows first), 2 bad usage or unreadable vectors.
"""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m baton.replay",
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=REPLAY_EPILOG,
    )
    parser.add_argument("vectors", help="directory written by 'baton vectors --out'")
    how = parser.add_mutually_exclusive_group(required=True)
    how.add_argument(
        "--command",
        help="adapter command line (split like a shell's): one vector as a JSON line on "
        "standard input, one JSON outcome line on standard output",
    )
    how.add_argument("--callable", help="adapter as module:function (Python)")
    parser.add_argument(
        "--stream",
        action="store_true",
        help="with --command: start the adapter once and feed it every vector, one per line "
        "(default: one process per vector)",
    )
    parser.add_argument(
        "--family",
        action="append",
        choices=list(FILES),
        help="only these families (repeatable; default: all five)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--answer-timeout",
        type=float,
        default=ANSWER_TIMEOUT,
        metavar="SECONDS",
        help=f"with --stream: stop an adapter that takes longer than this to answer one "
        f"vector (default {ANSWER_TIMEOUT:g})",
    )
    args = parser.parse_args(argv)
    if not args.answer_timeout > 0:  # also NaN
        print(
            "replay: error: --answer-timeout must be a positive number of seconds", file=sys.stderr
        )
        return 2
    try:
        vector_list = load_vectors(Path(args.vectors), list(iter_families(args.family)))
        if args.callable:
            report = replay(vector_list, load_callable(args.callable))
        elif args.stream:
            report = stream_replay(vector_list, args.command, args.answer_timeout)
        else:
            report = replay(vector_list, command_adapter(args.command))
    except ReplayError as exc:
        print(f"replay: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.render())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
