"""The HTML report of one run: a timeline a person reads faster than a log.

One self-contained file (inline CSS and SVG, no scripts, no external
assets). One row per node over the workbench's clock: when it was down,
paused or cut off by a partition, when it held write authority (and at which
epoch), where it acknowledged client writes, and the operator's promotion
requests with their outcomes. Below: the verdict, the first violation with
the replay command, and the counts of faults, promotions and messages.
Everything is derived from the recorded trace events.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

ROW = 46
LEFT = 60
WIDTH = 900


def _tick(e: dict[str, Any]) -> int:
    return int(e.get("meta", {}).get("tick", 0))


def authority_spans(
    events: Sequence[dict[str, Any]], names: Sequence[str], initial: str, end: int
) -> dict[str, list[tuple[int, int, int]]]:
    """Per node, the (start, end, epoch) spans in which its own events say it was writable."""
    spans: dict[str, list[tuple[int, int, int]]] = {n: [] for n in names}
    open_at: dict[str, tuple[int, int] | None] = dict.fromkeys(names)
    epoch: dict[str, int] = dict.fromkeys(names, 1)
    open_at[initial] = (0, 1)

    def close(node: str, t: int) -> None:
        began = open_at[node]
        if began is not None:
            spans[node].append((began[0], t, began[1]))
            open_at[node] = None

    for e in events:
        kind, t = e["kind"], _tick(e)
        node = str(e.get("node"))
        if node not in epoch:
            continue
        if kind == "marker":
            epoch[node] = int(e["epoch"])
            if e["role"] != "Primary":
                close(node, t)
        elif kind == "transition" and e["event"] == "complete":
            open_at[node] = (t, int(e.get("epoch", epoch[node])))
        elif kind in ("crash", "demote", "halt"):
            close(node, t)
    for node in names:
        close(node, end)
    return spans


def fault_spans(
    events: Sequence[dict[str, Any]], names: Sequence[str], end: int
) -> dict[str, list[tuple[int, int, str]]]:
    """Per node, the (start, end, what) spans of down / paused / partitioned."""
    spans: dict[str, list[tuple[int, int, str]]] = {n: [] for n in names}
    opened: dict[tuple[str, str], int] = {}
    begin = {"kill": "down", "exit": "down", "pause": "paused", "partition": "partitioned"}
    finish = {"restart": "down", "resume": "paused", "heal": "partitioned"}
    for e in events:
        if e["kind"] != "fault":
            continue
        t, what = _tick(e), e["what"]
        for node in e["nodes"]:
            if what in begin:
                opened.setdefault((node, begin[what]), t)
            elif what in finish:
                state = finish[what]
                if what == "heal":
                    for (n, s), start in list(opened.items()):
                        if s == "partitioned":
                            spans[n].append((start, t, s))
                            del opened[(n, s)]
                    break
                start_t = opened.pop((node, state), None)
                if start_t is not None:
                    spans[node].append((start_t, t, state))
    for (node, state), start in opened.items():
        spans[node].append((start, end, state))
    return spans


_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:24px;color:#1d2430}
h1{font-size:20px;margin:0 0 4px} h2{font-size:16px;margin:22px 0 6px}
.pass{color:#176b2c;font-weight:600}.fail{color:#b3261e;font-weight:600}
code,pre{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,monospace;background:#f3f4f6}
pre{padding:8px;white-space:pre-wrap} table{border-collapse:collapse}
td,th{border:1px solid #d6d9de;padding:3px 8px;text-align:left;vertical-align:top}
.legend span{display:inline-block;margin-right:14px}
.sw{display:inline-block;width:14px;height:10px;margin-right:4px;vertical-align:middle}
"""
COLOURS = {
    "authority": "#2e8b57",
    "down": "#9aa0a6",
    "paused": "#f2b632",
    "partitioned": "#e8710a",
    "ack": "#1a3d7c",
    "promote_ok": "#2e8b57",
    "promote_no": "#b3261e",
    "violation": "#b3261e",
}


def timeline_svg(
    events: Sequence[dict[str, Any]],
    names: Sequence[str],
    initial: str,
    ticks: int,
    violation_ticks: Sequence[int] = (),
) -> str:
    end = max(ticks, 1)
    scale = WIDTH / end
    height = ROW * len(names) + 40
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{LEFT + WIDTH + 20}" '
        f'height="{height}" role="img" aria-label="timeline of authority per node">'
    ]

    def x(t: float) -> float:
        return LEFT + t * scale

    for t in range(0, end + 1, 10):
        out.append(
            f'<line x1="{x(t):.1f}" y1="0" x2="{x(t):.1f}" y2="{height - 20}" '
            'stroke="#eceef1"/>'
            f'<text x="{x(t):.1f}" y="{height - 6}" font-size="10" text-anchor="middle" '
            f'fill="#5f6368">{t}</text>'
        )
    auth = authority_spans(events, names, initial, end)
    faults = fault_spans(events, names, end)
    for i, node in enumerate(names):
        y = i * ROW + 8
        out.append(f'<text x="6" y="{y + 20}" font-size="13" font-weight="600">{node}</text>')
        out.append(f'<rect x="{x(0):.1f}" y="{y + 8}" width="{WIDTH}" height="18" fill="#f6f7f9"/>')
        for start, stop, what in faults[node]:
            out.append(
                f'<rect x="{x(start):.1f}" y="{y + 4}" width="{max(x(stop) - x(start), 2):.1f}" '
                f'height="26" fill="{COLOURS[what]}" opacity="0.55">'
                f"<title>{node} {what} ticks {start}-{stop}</title></rect>"
            )
        for start, stop, epoch in auth[node]:
            out.append(
                f'<rect x="{x(start):.1f}" y="{y + 10}" width="{max(x(stop) - x(start), 2):.1f}" '
                f'height="14" fill="{COLOURS["authority"]}">'
                f"<title>{node} admits writes at epoch {epoch}, ticks {start}-{stop}</title></rect>"
                f'<text x="{x(start) + 3:.1f}" y="{y + 21}" font-size="10" fill="#fff">'
                f"e{epoch}</text>"
            )
    row = {n: i for i, n in enumerate(names)}
    for e in events:
        node = str(e.get("node"))
        if node not in row:
            continue
        y = row[node] * ROW + 8
        t = _tick(e)
        if e["kind"] == "client" and e["op"] == "write" and e["outcome"] == "ok":
            out.append(
                f'<line x1="{x(t):.1f}" y1="{y + 28}" x2="{x(t):.1f}" y2="{y + 34}" '
                f'stroke="{COLOURS["ack"]}"><title>{node} acknowledged lsn {e["lsn"]} at epoch '
                f"{e['epoch']} (tick {t})</title></line>"
            )
        elif e["kind"] == "operator" and e["what"] == "outcome":
            ok = e.get("outcome") == "succeeded"
            colour = COLOURS["promote_ok" if ok else "promote_no"]
            label = html.escape(f"{e['attempt']}: {e.get('outcome')} ({e.get('reason')})")
            out.append(
                f'<polygon points="{x(t) - 5:.1f},{y + 2} {x(t) + 5:.1f},{y + 2} '
                f'{x(t):.1f},{y + 10}" fill="{colour}"><title>promotion {label}'
                f"{' (forced)' if e['force'] else ''} at tick {t}</title></polygon>"
            )
    for t in violation_ticks:
        out.append(
            f'<line x1="{x(t):.1f}" y1="0" x2="{x(t):.1f}" y2="{height - 20}" '
            f'stroke="{COLOURS["violation"]}" stroke-width="2" stroke-dasharray="4 3">'
            f"<title>first violation at tick {t}</title></line>"
        )
    out.append("</svg>")
    return "".join(out)


def render_report(summary: dict[str, Any], events: Sequence[dict[str, Any]]) -> str:
    """The whole HTML page for one run (``summary``: the run's JSON summary)."""
    names = summary["nodes"]
    findings = summary["violations"]
    first_tick = [f["tick"] for f in findings[:1] if f.get("tick") is not None]
    status = summary["status"]
    verdict_html = (
        '<span class="pass">PASS</span>'
        if status == "pass"
        else f'<span class="fail">{html.escape(status.upper())}</span>'
    )
    legend = "".join(
        f'<span><i class="sw" style="background:{COLOURS[k]}"></i>{label}</span>'
        for k, label in (
            ("authority", "admits writes, as the node reports (epoch)"),
            ("down", "down (SIGKILL)"),
            ("paused", "paused (SIGSTOP)"),
            ("partitioned", "partitioned"),
            ("ack", "write acknowledged"),
            ("promote_ok", "promotion succeeded"),
            ("promote_no", "promotion denied / rejected"),
        )
    )
    rows = "".join(
        f"<tr><td>{html.escape(f['invariant'])}</td><td>{html.escape(f['source'])}</td>"
        f"<td>{f['tick'] if f.get('tick') is not None else ''}</td>"
        f"<td>{html.escape(f['explanation'])}</td></tr>"
        for f in findings[:20]
    )
    more = f"<p>... and {len(findings) - 20} more.</p>" if len(findings) > 20 else ""
    counts = "".join(
        f"<tr><th>{html.escape(group)}</th><td>"
        + html.escape(", ".join(f"{k} {v}" for k, v in sorted(values.items())) or "none")
        + "</td></tr>"
        for group, values in (
            ("faults", summary["faults"]),
            ("promotions", summary["promotions"]),
            ("network", summary["network"]),
        )
    )
    problems = "".join(f"<li>{html.escape(p)}</li>" for p in summary["problems"][:30])
    if len(summary["problems"]) > 30:
        problems += f"<li>... and {len(summary['problems']) - 30} more (--json lists them all)</li>"
    problems_note = (
        "<p>The events Baton rejected are not in the trace, so a violation after the first "
        "problem may only be its consequence: fix these first.</p>"
        if findings and problems
        else ""
    )
    svg = timeline_svg(events, names, names[0], summary["ticks"], first_tick)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>baton test seed {summary['seed']}: {html.escape(status)}</title>"
        f"<style>{_CSS}</style></head><body>"
        f"<h1>baton test &mdash; seed {summary['seed']}: {verdict_html}</h1>"
        f"<p><code>{html.escape(summary['command'])}</code></p>"
        f"<p>Replay: <code>{html.escape(summary['replay'])}</code></p>"
        f"<p>Oracle: <b>{html.escape(summary['oracle'])}</b> ({summary['events']} trace events); "
        f"{summary['ticks']} ticks in {summary['seconds']:.1f} s."
        + (
            f" Stopped early: {html.escape(summary['stopped_early'])}."
            if summary["stopped_early"]
            else ""
        )
        + "</p>"
        "<h2>Timeline of authority</h2>"
        f'<p class="legend">{legend}</p>{svg}'
        + (
            "<h2>Violations (earliest first)</h2><table><tr><th>invariant</th><th>from</th>"
            f"<th>tick</th><th>why</th></tr>{rows}</table>{more}"
            if findings
            else "<h2>Violations</h2><p>None: the oracle and the black-box checks agree the "
            "run obeyed the invariants.</p>"
        )
        + f"<h2>Counts</h2><table>{counts}</table>"
        + (f"<h2>Protocol problems</h2>{problems_note}<ul>{problems}</ul>" if problems else "")
        + "<h2>Files</h2><ul>"
        f"<li>trace: <code>{html.escape(summary['trace'])}</code> "
        f"(<code>baton check {html.escape(summary['trace'])}</code>)</li>"
        f"<li>node directories: <code>{html.escape(summary['node_dirs'])}</code></li>"
        f"<li>node logs (stderr): <code>{html.escape(summary['logs'])}</code></li></ul>"
        "</body></html>\n"
    )
