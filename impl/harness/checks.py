"""Judging a run: the oracle on the trace, plus black-box checks that trust no node.

The oracle (:mod:`baton.oracle`) judges what the nodes *reported*. The checks
here read only what the workbench's clients *observed* (trace kind ``client``),
so they hold an implementation to account even if its events lie or are
missing:

* **P6-S1, acknowledged writes survive**: a write acknowledged (``write_ok``
  at [epoch, lsn]) before a read was sent must be in what any node that says
  it admits writes returns to that read. A later primary that lacks it lost
  an acknowledged write.
* **P6-A1, one writer at a time**: for each (node, epoch) that acknowledged
  writes, the span of ticks from its first to its last acknowledgement; two
  spans of *different* nodes that overlap mean two nodes acknowledged writes
  at the same time on the workbench's clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from baton.oracle import check_stream
from baton.verdict import Verdict


@dataclass(frozen=True)
class Finding:
    """One violation: the invariant, where it was judged from, a sentence, the tick."""

    invariant: str
    source: str  # "black-box" or "oracle"
    explanation: str
    tick: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "invariant": self.invariant,
            "source": self.source,
            "explanation": self.explanation,
            "tick": self.tick,
        }


def _tick(event: dict[str, Any]) -> int:
    return int(event.get("meta", {}).get("tick", 0))


def acknowledged_writes_survive(events: Iterable[dict[str, Any]]) -> list[Finding]:
    """P6-S1 from the clients' view: every read of a writable node holds earlier acks."""
    acked: list[tuple[int, int, int, str]] = []  # (completed tick, epoch, lsn, node)
    reported: set[tuple[int, int]] = set()  # each lost write is reported once
    findings: list[Finding] = []
    for e in events:
        if e.get("kind") != "client" or e["outcome"] != "ok":
            continue
        if e["op"] == "write":
            acked.append((int(e["completed"]), int(e["epoch"]), int(e["lsn"]), e["node"]))
        elif e["op"] == "read" and e.get("writable"):
            held = {(int(ep), int(lsn)) for ep, lsn in e["result"]["entries"]}
            missing = [
                (done, epoch, lsn, node)
                for done, epoch, lsn, node in acked
                if done < int(e["invoked"])
                and (epoch, lsn) not in held
                and (epoch, lsn) not in reported
            ]
            if not missing:
                continue
            done, epoch, lsn, node = missing[0]
            more = f" (and {len(missing) - 1} more acknowledged writes)" if len(missing) > 1 else ""
            reported.update((m[1], m[2]) for m in missing)
            findings.append(
                Finding(
                    "P6-S1",
                    "black-box",
                    f"{node} acknowledged the write at epoch {epoch}, lsn {lsn} at tick {done}, "
                    f"but a read of {e['node']} (which says it admits writes, epoch "
                    f"{e['epoch']}) sent at tick {e['invoked']} does not hold it{more}: an "
                    "acknowledged write is missing from a later primary.",
                    int(e["completed"]),
                )
            )
    return findings


def one_writer_at_a_time(events: Iterable[dict[str, Any]]) -> list[Finding]:
    """P6-A1 from the clients' view: acknowledgement spans of two nodes never overlap."""
    spans: dict[tuple[str, int], list[int]] = {}
    for e in events:
        if e.get("kind") == "client" and e["op"] == "write" and e["outcome"] == "ok":
            key = (e["node"], int(e["epoch"]))
            done = int(e["completed"])
            span = spans.setdefault(key, [done, done])
            span[0], span[1] = min(span[0], done), max(span[1], done)
    findings: list[Finding] = []
    keys = sorted(spans, key=lambda k: (spans[k][0], k))
    for i, a in enumerate(keys):
        for b in keys[i + 1 :]:
            if a[0] == b[0]:
                continue
            (a0, a1), (b0, b1) = spans[a], spans[b]
            if a0 <= b1 and b0 <= a1:
                findings.append(
                    Finding(
                        "P6-A1",
                        "black-box",
                        f"{a[0]} (epoch {a[1]}) acknowledged writes from tick {a0} to {a1} and "
                        f"{b[0]} (epoch {b[1]}) from tick {b0} to {b1}: two nodes acknowledged "
                        "writes at the same time.",
                        max(a0, b0),
                    )
                )
    return findings


def black_box(events: list[dict[str, Any]]) -> list[Finding]:
    """Every black-box finding, earliest tick first."""
    found = acknowledged_writes_survive(events) + one_writer_at_a_time(events)
    return sorted(found, key=lambda f: (f.tick if f.tick is not None else 0, f.invariant))


def oracle_verdict(trace_path: str) -> Verdict:
    with open(trace_path, encoding="utf-8", newline="") as stream:
        return check_stream(stream, trace_path, all_violations=True)


def oracle_findings(verdict: Verdict, events: list[dict[str, Any]]) -> list[Finding]:
    """The oracle's violations as findings, with the tick of the event that broke the rule."""
    out: list[Finding] = []
    for v in verdict.violations:
        tick = None
        if v.step is not None and 0 < v.step <= len(events):
            tick = _tick(events[v.step - 1])
        out.append(
            Finding(
                v.invariant,
                "oracle",
                f"rule {v.rule}, trace line {v.line}: {v.explanation}",
                tick,
            )
        )
    return out
