"""Continue a run's trace after its process died: what the disk shows that the trace missed.

A run's trace records each core step's events after the step's effects were
performed. When the whole process is killed in the middle of a step (SIGKILL
at a failpoint, a power cut of the process), its durable effects may be on
disk while its events are not in the trace: a replica's marker may hold the
primary's epoch it adopted, a WAL may hold the record whose fsync was under
way. The node directories are the truth; the trace must be brought level
with them before the restarted nodes act.

:func:`read_previous_trace` reads the trace the dead run left (cutting a
partial last line, and the ``end`` line if the run had finished) and replays
it through the oracle's own checker, which yields what the trace says each
node holds (marker role and epoch, WAL entries, up or down).
:func:`catch_up_events` compares that with what recovery read from each
directory and returns the events of the interrupted step that the disk shows
happened -- ``marker`` (an adopted epoch, a demotion), ``write`` (the writer's
record that became durable), ``replicate`` (a received entry), ``halt`` -- or
raises :class:`ResumeMismatch` when the disk holds something no interrupted
step explains (then nothing is resumed: fail closed). The run that resumes
then records a ``crash`` of every node the trace had up and a ``restart`` of
every node from what its directory holds; ``baton check`` reads the combined
trace as one.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from baton import core, trace
from baton.errors import BatonError
from baton.oracle import Checker, NodeSummary

_ATTEMPT_ID = re.compile(r"^a(\d+)$")


class ResumeMismatch(BatonError):
    """The node directories hold something the previous trace cannot be brought level with."""


@dataclass(frozen=True)
class PreviousTrace:
    """The dead run's trace as it will be continued."""

    kept: str  # the text to keep (whole lines; no 'end' line)
    next_seq: int
    attempts: int  # the highest attempt number used (a1, a2 ...)
    header: dict[str, Any]
    nodes: dict[str, NodeSummary]  # what the trace says each node holds at its last line
    wal_epochs: dict[str, list[int]]  # each node's WAL per the trace: the epoch of every entry
    cut: str | None  # what was cut from the file, for the operator
    # The promotion-disabled switches the trace has set (node names; None: the cluster's).
    disabled: frozenset[str | None] = frozenset()


def read_previous_trace(path: Path) -> PreviousTrace:
    """Read the trace a dead run left; InputError if it is not a trace."""
    raw = path.read_text(encoding="utf-8")
    cut: list[str] = []
    if raw and not raw.endswith("\n"):
        raw = raw[: raw.rfind("\n") + 1]
        cut.append("a partial last line")
    lines = raw.splitlines(keepends=True)
    if lines and _kind_of(lines[-1]) == "end":
        lines.pop()
        cut.append("the 'end' line (the run is continued)")
    kept = "".join(lines)
    reader = trace.FastReader(io.BytesIO(kept.encode("utf-8")), str(path))
    header = reader.header
    checker = Checker(header, all_violations=True)
    attempts = 0
    last_seq = int(header["seq"])
    for event in reader:
        checker.feed(reader.line, event)
        last_seq = event.seq
        match = _ATTEMPT_ID.match(str(getattr(event, "attempt", "")))
        if match:
            attempts = max(attempts, int(match.group(1)))
    return PreviousTrace(
        kept=kept,
        next_seq=last_seq + 1,
        attempts=attempts,
        header=header,
        nodes=checker.nodes,
        wal_epochs={
            name: [checker.wal(node).epoch_at(lsn) or 0 for lsn in range(1, length + 1)]
            for name, node in checker.nodes.items()
            for length in (checker.wal(node).length,)
        },
        cut=" and ".join(cut) or None,
        disabled=frozenset(checker.disabled),
    )


def _kind_of(line: str) -> object:
    try:
        event = json.loads(line)
    except ValueError:
        return None  # read_events reports it, with its line number
    return event.get("kind") if isinstance(event, dict) else None


def catch_up_events(
    seen: dict[str, NodeSummary],
    wal_seen: Mapping[str, list[int]],
    names: Sequence[str],
    on_disk: Sequence[core.Durable],
) -> list[dict[str, Any]]:
    """The events of an interrupted step that the disk shows happened (see module doc)."""
    markers: list[dict[str, Any]] = []
    writes: list[dict[str, Any]] = []
    halts: list[dict[str, Any]] = []
    epoch_seen = {name: seen[name].epoch for name in names}
    for name, durable in zip(names, on_disk, strict=True):
        node = seen[name]
        epochs = [epoch for epoch, _ in durable.wal]
        known = wal_seen[name]
        if epochs[: len(known)] != known:
            raise ResumeMismatch(
                f"{name}: its WAL on disk (epochs {epochs}) does not extend what the trace "
                f"recorded (epochs {known}): durable records were lost or rewritten"
            )
        role = durable.marker_role
        if role == "Torn":
            continue  # the node refuses to start; its marker is reported, not guessed
        if durable.epoch < node.epoch:
            raise ResumeMismatch(
                f"{name}: its marker holds epoch {durable.epoch}, below epoch {node.epoch} the "
                "trace recorded (P6-A3: epochs never go backwards)"
            )
        # A halt keeps the marker a replica's; the halt file is its own fact.
        marker_role = "Replica" if role == "Halted" else role
        seen_role = "Replica" if node.role == "Halted" else node.role
        if (marker_role, durable.epoch) != (seen_role, node.epoch):
            if marker_role == "Primary":
                if node.lifecycle != "AuthorityTransitioning":
                    raise ResumeMismatch(
                        f"{name}: its marker says Primary at epoch {durable.epoch}, but the trace "
                        f"records {node.role} at epoch {node.epoch} and no promotion in flight"
                    )
                # A promotion's marker in flight: the crash event allows either (P6-F2).
            else:
                markers.append(trace.marker(name, "Replica", durable.epoch))
                epoch_seen[name] = durable.epoch
        if role == "Halted" and node.role != "Halted":
            halts.append(trace.halt(name, "history_divergence"))
    replicates: list[dict[str, Any]] = []
    # Writers first: a record the writer made durable may already have been sent on.
    order = sorted(zip(names, on_disk, strict=True), key=lambda pair: not seen[pair[0]].writable)
    for name, durable in order:
        node = seen[name]
        for lsn in range(len(wal_seen[name]) + 1, len(durable.wal) + 1):
            epoch = durable.wal[lsn - 1][0]
            if node.writable and epoch == node.epoch:
                writes.append(trace.write(name, lsn=lsn, epoch=epoch))
            else:
                senders = [
                    other
                    for other in names
                    if other != name
                    and len(wal_seen[other]) >= lsn
                    and wal_seen[other][lsn - 1] == epoch
                    and seen[other].up
                ]
                if not senders:
                    raise ResumeMismatch(
                        f"{name}: its WAL on disk holds lsn {lsn} (epoch {epoch}), which the "
                        "trace never recorded and no other node could have sent"
                    )
                replicates.append(
                    trace.replicate(
                        senders[0], name, lsn, epoch, sender_epoch=epoch_seen[senders[0]]
                    )
                )
            wal_seen[name].append(epoch)
    return [*markers, *writes, *replicates, *halts]
