"""Counterexample runs as a reviewer reads them.

A counterexample (the ``counterexample`` object of a ``baton verify`` report,
see :meth:`baton.proofs.counterexample.Counterexample.to_dict`) is shown as:

* a legend naming every field once;
* the initial state, every node in full;
* then, step by step, the action (and the environment's choices) and only
  what changed, diff-style: a ``-`` line with the old values and a ``+`` line
  with the new ones, per node (red and green on a terminal, and in the docs,
  which show the text with a diff highlighter);
* the step that the mutant or the dropped assumption made possible -- a step
  the correct model does not allow -- marked ``<< faulty step``;
* the property the last state violates, by ID and name, and why.

Nodes are ``n0``, ``n1``, ... everywhere (as in ``baton run`` and traces).
The same text goes into the docs (:func:`render_text`).
"""

from __future__ import annotations

import io
from typing import Any

from baton.spec import invariants
from rich.console import Console
from rich.text import Text

# Every field a step can show, in display order, with its meaning.
NODE_FIELDS: tuple[tuple[str, str], ...] = (
    ("up", "the node's process is running (down: crashed, not yet restarted)"),
    ("role", "the authority marker on disk: Replica, Primary, Halted, or Torn (unreadable)"),
    ("epoch", "the epoch in the node's marker"),
    ("writable", "the node admits client writes (up and active)"),
    ("wal", "length of the node's durable WAL (entries)"),
    ("acked", "the node's WAL holds every acknowledged write"),
    ("lifecycle", "the promotion lifecycle state of an attempt for this node"),
    (
        "marker",
        "the last file operation done of a marker write in flight (write_temp, "
        "fsync_temp, rename, fsync_dir; '-' when none)",
    ),
)
GLOBAL_FIELDS: tuple[tuple[str, str], ...] = (
    ("acknowledged", "number of writes acknowledged to clients (the ghost history)"),
    ("standby", "the synchronous standby (sync mode only)"),
)
CHOICE_NAMES: dict[str, str] = {
    "crash.outcome": "marker on disk after the crash",
    "req.force": "forced",
    "grant": "granted epoch",
    "obs.status": "old primary observed",
    "obs.bound_known": "ack bound known",
    "obs.prefix_known": "history known",
    "obs.mvcc": "MVCC",
    "obs.src": "ack bound read from",
}


def node_name(i: int) -> str:
    return f"n{i}"


def _marker_op(config: str, stage: int) -> str:
    if not stage:
        return "-"
    ops = ["write_temp", "fsync_temp", "rename", "fsync_dir"]
    if "rename_before_fsync" in config:
        ops = ["write_temp", "rename", "fsync_temp", "fsync_dir"]
    return ops[stage - 1] if stage <= len(ops) else str(stage)


def node_view(config: str, node: dict[str, Any]) -> dict[str, str]:
    """One node's fields as displayed strings."""
    return {
        "up": "yes" if node["up"] else "no",
        "role": str(node["role"]),
        "epoch": str(node["epoch"]),
        "writable": "yes" if node["writable"] else "no",
        "wal": str(node["wal_len"]),
        "acked": "yes" if node["has_acked"] else "no",
        "lifecycle": str(node["lifecycle"]),
        "marker": _marker_op(config, int(node.get("marker_stage") or 0)),
    }


def global_view(config: str, state: dict[str, Any]) -> dict[str, str]:
    view = {"acknowledged": str(state["acked"])}
    if "sync" in config.split():
        view["standby"] = node_name(int(state["standby"]))
    return view


def _choice_text(key: str, value: str) -> str:
    base = key.split("[")[0]
    label = CHOICE_NAMES.get(base, base)
    if base == "crash.outcome":
        value = {"0": "old", "1": "new", "2": "torn"}.get(value, value)
    elif base == "obs.src":
        value = node_name(int(value)) if value.lstrip("-").isdigit() else value
    elif value in ("True", "False"):
        value = "yes" if value == "True" else "no"
    return f"{label}: {value}"


def action_text(step: dict[str, Any]) -> str:
    """``crash n0 (marker on disk after the crash: old)``, ``replicate n0 -> n1``."""
    nodes = [node_name(int(i)) for i in step.get("nodes", [])]
    name = str(step["action"])
    if name in ("replicate", "adopt", "diverge") and len(nodes) == 2:
        head = f"{name} {nodes[0]} -> {nodes[1]}"
    elif name == "designate" and len(nodes) == 2:
        head = f"designate: {nodes[0]} makes {nodes[1]} its sync standby"
    else:
        head = f"{name} {' '.join(nodes)}".strip()
    choices = step.get("choices") or {}
    shown = [_choice_text(k, str(v)) for k, v in sorted(choices.items())]
    return head + (f" ({'; '.join(shown)})" if shown else "")


def changes(
    config: str, before: dict[str, Any], after: dict[str, Any]
) -> list[tuple[str, str, str]]:
    """``(who, old, new)`` per node (or the globals) whose displayed fields changed."""
    out = []
    for old, new in zip(before["nodes"], after["nodes"], strict=True):
        a, b = node_view(config, old), node_view(config, new)
        diff = [k for k, _ in NODE_FIELDS if a[k] != b[k]]
        if diff:
            who = node_name(int(new["node"]))
            out.append(
                (who, " ".join(f"{k}={a[k]}" for k in diff), " ".join(f"{k}={b[k]}" for k in diff))
            )
    ga, gb = global_view(config, before), global_view(config, after)
    diff = [k for k in gb if ga.get(k) != gb[k]]
    if diff:
        out.append(
            (
                "cluster",
                " ".join(f"{k}={ga.get(k)}" for k in diff),
                " ".join(f"{k}={gb[k]}" for k in diff),
            )
        )
    return out


def print_counterexample(out: Console, cx: dict[str, Any], *, title: str = "") -> None:
    """The whole rendering on ``out`` (colour only if ``out`` is a colour terminal)."""
    config = str(cx.get("config", ""))
    steps: list[dict[str, Any]] = list(cx["steps"])
    violated = [str(v) for v in cx.get("violated", [])]
    faulty = set(cx.get("faulty_steps") or [])
    out.print(Text(title or "Counterexample", style="bold"))
    out.print(
        f"model: {config}; {len(steps) - 1} steps; violates "
        + ", ".join(invariants.full_name(v) for v in violated)
    )
    out.print()
    out.print(Text("Legend (per node):", style="bold"))
    for key, meaning in NODE_FIELDS:
        out.print(f"  {key:<12} {meaning}", soft_wrap=True)
    for key, meaning in GLOBAL_FIELDS:
        if key != "standby" or "sync" in config.split():
            out.print(f"  {key:<12} {meaning}", soft_wrap=True)
    out.print("  Each step shows only what changed: '-' the values before, '+' after.")
    out.print()
    first = steps[0]["state"]
    out.print(Text("initial state", style="bold"))
    for node in first["nodes"]:
        view = node_view(config, node)
        fields = " ".join(f"{k}={view[k]}" for k, _ in NODE_FIELDS)
        out.print(f"    {node_name(int(node['node']))}: {fields}")
    gview = global_view(config, first)
    out.print("    cluster: " + " ".join(f"{k}={v}" for k, v in gview.items()))
    for k in range(1, len(steps)):
        step = steps[k]
        head = Text(f"step {k}: {action_text(step)}", style="bold")
        if k in faulty:
            head.append("   << faulty step: the correct model does not allow it", "bold red")
        out.print(head, soft_wrap=True)
        diff = changes(config, steps[k - 1]["state"], step["state"])
        if not diff:
            out.print("  (no visible change: only an internal counter moved)")
        for who, old, new in diff:
            out.print(Text(f"- {who}: {old}", style="red"), soft_wrap=True)
            out.print(Text(f"+ {who}: {new}", style="green"), soft_wrap=True)
    out.print()
    from .counterexample import explain

    final = steps[-1]["state"]
    # A counterexample may carry its own explanation per ID: a run of a lifecycle or
    # validation mutant, or a step property the state-based explain() does not know
    # (e.g. P6-A1 one-primary-followed).
    why = cx.get("why") or {}
    for pid in violated:
        out.print(Text(f"Violated {invariants.full_name(pid)}", style="bold red"))
        out.print(f"  Why: {why.get(pid) or explain(pid, final)}", soft_wrap=True)


def render_text(cx: dict[str, Any], *, title: str = "", width: int = 160) -> str:
    """The rendering as plain text (for the docs and for non-terminal output)."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, no_color=True, highlight=False, emoji=False)
    print_counterexample(console, cx, title=title)
    return buffer.getvalue()


def print_context_counterexample(
    out: Console, mutant: str, detail: str, cx: dict[str, Any], violated: list[str]
) -> None:
    """A validation-rule mutant's counterexample: the context it wrongly allows."""
    out.print(Text(f"Counterexample (validation rule, mutant {mutant}): {detail}", style="bold"))
    out.print(
        "The variant returns 'allowed' for this context, although a safety precondition fails:"
    )
    for field, value in (cx.get("context") or {}).items():
        out.print(f"  {field:<16} {value}")
    for pid in violated or ["P6-F1"]:
        out.print(Text(f"Violated {invariants.full_name(pid)}", style="bold red"))
