"""Counterexamples in the Informal Trace Format (ITF), as Apalache and Quint write it.

ITF is a JSON trace format: ``{"#meta": ..., "vars": [...], "states": [...]}``,
each state a JSON object from variable names to values, where integers are
``{"#bigint": "..."}``, maps ``{"#map": [[key, value], ...]}`` and tuples
``{"#tup": [...]}`` (https://apalache-mc.org/docs/adr/015adr-trace.html).
Writing counterexamples in it lets other tools' trace viewers and test
harnesses read them.

The variables are the model's per-node fields as maps from node name (``n0``,
``n1``, ...) to value, the cluster-wide ghost values, and -- following Quint's
model-based-testing convention -- ``mbt::actionTaken`` (the action that led to
the state, ``init`` for the first) and ``mbt::nondetPicks`` (the environment's
choices it took). ``#meta`` records the model configuration, the violated
properties and the steps the correct model does not allow.
"""

from __future__ import annotations

from typing import Any

ITF_SPEC = "https://apalache-mc.org/docs/adr/015adr-trace.html"

NODE_VARS: tuple[tuple[str, str], ...] = (
    ("up", "up"),
    ("role", "role"),
    ("epoch", "epoch"),
    ("writable", "writable"),
    ("wal_len", "wal_len"),
    ("has_acked", "has_acked"),
    ("lifecycle", "lifecycle"),
    ("marker_stage", "marker_stage"),
)


def _value(v: Any) -> Any:
    """A Python value as an ITF value (integers as #bigint, booleans and strings as is)."""
    if isinstance(v, bool | str):
        return v
    if isinstance(v, int):
        return {"#bigint": str(v)}
    if isinstance(v, dict):
        return {str(k): _value(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_value(x) for x in v]
    return str(v)


def _choice_value(raw: str) -> Any:
    if raw in ("True", "False"):
        return raw == "True"
    if raw.lstrip("-").isdigit():
        return {"#bigint": raw}
    return raw


def to_itf(cx: dict[str, Any], *, description: str = "") -> dict[str, Any]:
    """The counterexample ``cx`` (a report's ``counterexample`` object) as an ITF document."""
    steps: list[dict[str, Any]] = list(cx["steps"])
    vars_: list[str] = [name for name, _ in NODE_VARS] + [
        "acked",
        "standby",
        "lcp",
        "mbt::actionTaken",
        "mbt::nondetPicks",
    ]
    states = []
    for k, step in enumerate(steps):
        state = step["state"]
        nodes = state["nodes"]
        item: dict[str, Any] = {"#meta": {"index": k}}
        for name, key in NODE_VARS:
            item[name] = {"#map": [[f"n{int(n['node'])}", _value(n[key])] for n in nodes]}
        item["acked"] = _value(int(state["acked"]))
        item["standby"] = f"n{int(state['standby'])}"
        # lcp(i, j): the common-prefix length of two logs; log N is the acknowledged history.
        n = len(nodes)

        def log(i: int, n: int = n) -> str:
            return "acked" if i == n else f"n{i}"

        item["lcp"] = {
            "#map": [
                [{"#tup": [log(int(a)), log(int(b))]}, _value(int(v))]
                for a, b, v in (
                    (*key.split(","), value) for key, value in sorted(state["lcp"].items())
                )
            ]
        }
        action = str(step["action"])
        nodes_of = [f"n{int(i)}" for i in step.get("nodes", [])]
        item["mbt::actionTaken"] = action if not nodes_of else f"{action}({', '.join(nodes_of)})"
        item["mbt::nondetPicks"] = {
            key.split("[")[0]: _choice_value(str(value))
            for key, value in sorted((step.get("choices") or {}).items())
        }
        states.append(item)
    return {
        "#meta": {
            "format": "ITF",
            "format-description": ITF_SPEC,
            "source": "baton verify",
            "description": description or f"counterexample of {cx.get('config', '')}",
            "model": cx.get("config", ""),
            "violated": list(cx.get("violated", [])),
            "faulty_steps": list(cx.get("faulty_steps") or []),
        },
        "vars": vars_,
        "states": states,
    }
