"""Metrics (baton.metrics): what `baton run --metrics` and `baton check --metrics` write.

Every exposition is parsed with prometheus_client's own OpenMetrics parser, and
its values are checked against what the scenario did: one denied and one
successful promotion count exactly one each, the new primary's epoch gauge
holds its granted epoch, a crash mid-transition is a failed attempt. The
metrics of a run equal those of its trace read back (`baton check --metrics`),
every metric is documented in docs/metrics.md, and the write-authority gauge
shows the two writers of a trace that breaks P6-A1.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from baton import metrics, trace
from baton.cli import main
from prometheus_client.openmetrics.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    """Every sample of an OpenMetrics exposition, keyed by name and sorted labels."""
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def total(samples: Samples, name: str) -> float:
    return sum(v for (n, _), v in samples.items() if n == name)


def run_with_metrics(tmp_path: Path, scenario: Path) -> tuple[Samples, Path, Path]:
    out, trace_file = tmp_path / "metrics.txt", tmp_path / "trace.jsonl"
    argv = ["run", str(scenario), "--dir", str(tmp_path / "nodes"), "--quiet"]
    assert main([*argv, "--trace", str(trace_file), "--metrics", str(out)]) == 0
    return parse(out.read_text()), out, trace_file


def write_scenario(tmp_path: Path, steps: list[dict[str, object]], nodes: int = 3) -> Path:
    path = tmp_path / "scenario.json"
    body = [{"do": "init", "nodes": nodes, "mode": "async"}, *steps]
    path.write_text(json.dumps({"name": "metrics", "steps": body}))
    return path


def test_one_denied_one_succeeded(tmp_path: Path) -> None:
    """n1 lags and is denied (P6-S1); n2 holds every acknowledged write and is promoted."""
    scenario = write_scenario(
        tmp_path,
        [
            {"do": "write", "node": "n0", "count": 2},
            {"do": "replicate", "from": "n0", "to": "n1", "count": 1},
            {"do": "replicate", "from": "n0", "to": "n2"},
            {"do": "crash", "node": "n0"},
            {"do": "request", "candidate": "n1", "operator": "alice"},
            {"do": "expect", "verdict": "candidate_behind_ack_bound"},
            {"do": "acknowledge", "candidate": "n1"},
            {"do": "request", "candidate": "n2", "operator": "alice"},
            {"do": "expect", "verdict": "allowed"},
            {"do": "acknowledge", "candidate": "n2"},
        ],
    )
    s, _, _ = run_with_metrics(tmp_path, scenario)
    assert value(s, "baton_promotions_requested_total", forced="false") == 2
    assert value(s, "baton_promotions_requested_total", forced="true") == 0
    assert value(s, "baton_promotions_approved_total") == 1
    assert value(s, "baton_promotions_succeeded_total") == 1
    assert value(s, "baton_promotions_denied_total", reason="candidate_behind_ack_bound") == 1
    assert total(s, "baton_promotions_denied_total") == 1  # no other reason counted
    assert value(s, "baton_promotions_failed_total", outcome="denied") == 1
    assert total(s, "baton_promotions_failed_total") == 1
    # The new primary holds the granted epoch (highest known + 1, P6-A3), alone writable.
    assert value(s, "baton_authority_epoch", node="n2") == 2
    assert value(s, "baton_authority_epoch", node="n1") == 1  # nothing replicated since
    assert value(s, "baton_node_role", node="n2", baton_node_role="Primary") == 1
    assert value(s, "baton_node_role", node="n0", baton_node_role="Down") == 1
    assert value(s, "baton_node_writable", node="n2") == 1
    assert total(s, "baton_node_writable") == 1  # P6-A1
    assert value(s, "baton_crashes_total", lifecycle_state="Steady") == 1
    # Both attempts passed through PromotionRequested and PromotionValidating; one was
    # denied, one went through the marker. Each lifecycle step is one trace line here.
    count = "baton_lifecycle_state_duration_events_count"
    assert value(s, count, state="PromotionValidating") == 2
    assert value(s, count, state="PromotionDenied") == 1
    assert value(s, count, state="AuthorityTransitioning") == 1
    # begin_transition, then the marker line, then complete: two lines in the state.
    assert (
        value(s, "baton_lifecycle_state_duration_events_sum", state="AuthorityTransitioning") == 2
    )


def test_forced_promotion_counts_by_force_and_reason(tmp_path: Path) -> None:
    s, _, _ = run_with_metrics(tmp_path, EXAMPLES / "forced_promotion.json")
    assert value(s, "baton_promotions_requested_total", forced="true") == 2
    assert value(s, "baton_promotions_requested_total", forced="false") == 1
    reason = "force_cannot_override_active_primary"  # P6-A1a
    assert value(s, "baton_promotions_denied_total", reason=reason) == 1
    assert value(s, "baton_promotions_denied_total", reason="primary_status_unknown") == 1
    assert value(s, "baton_promotions_succeeded_total") == 1
    assert value(s, "baton_demotions_total") == 1
    assert value(s, "baton_authority_epoch", node="n1") == 2


def test_crash_mid_transition_is_a_failed_attempt(tmp_path: Path) -> None:
    """A crash forgets an attempt in flight (P6-F2); nothing retries it (P6-F3)."""
    s, _, _ = run_with_metrics(tmp_path, EXAMPLES / "crash_mid_transition.json")
    assert value(s, "baton_promotions_failed_total", outcome="crashed") == 2
    assert value(s, "baton_crashes_total", lifecycle_state="AuthorityTransitioning") == 2
    assert value(s, "baton_promotions_succeeded_total") == 0
    assert value(s, "baton_crash_recoveries_total", outcome="fenced_primary") == 2


def test_duplicate_request_is_rejected(tmp_path: Path) -> None:
    s, _, _ = run_with_metrics(tmp_path, EXAMPLES / "lagging_replica_denied.json")
    assert value(s, "baton_promotions_failed_total", outcome="rejected") == 1
    assert value(s, "baton_promotions_failed_total", outcome="denied") == 1
    assert value(s, "baton_reinstatements_total") == 1
    assert value(s, "baton_node_writable", node="n0") == 1


@pytest.mark.parametrize("scenario", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.stem)
def test_every_request_is_accounted_for(tmp_path: Path, scenario: Path) -> None:
    """Each finished example: requested = succeeded + failed (every outcome), and the
    run's metrics are exactly those `baton check --metrics` derives from its trace."""
    s, out, trace_file = run_with_metrics(tmp_path, scenario)
    requested = total(s, "baton_promotions_requested_total")
    assert requested > 0
    finished = value(s, "baton_promotions_succeeded_total") + total(
        s, "baton_promotions_failed_total"
    )
    assert requested == finished
    assert total(s, "baton_node_writable") <= 1  # P6-A1
    again = tmp_path / "again.txt"
    # A demonstration's trace passes the check only with its dropped assumptions allowed.
    dropped = json.loads(scenario.read_text("utf-8")).get("drop_assumptions", [])
    allow = [arg for name in dropped for arg in ("--allow-dropped", name)]
    assert main(["check", "--metrics", str(again), *allow, str(trace_file)]) == 0
    assert again.read_bytes() == out.read_bytes()


def test_two_writers_show_in_the_writable_gauge(tmp_path: Path) -> None:
    """The P6-A1 mutant trace: the gauge the docs name for P6-A1 reads 2 at the end."""
    out = tmp_path / "m.txt"
    broken = EXAMPLES / "traces" / "broken_a1_two_writers.jsonl"
    assert main(["check", "--metrics", str(out), str(broken)]) == 1  # a violation...
    s = parse(out.read_text())  # ...and the metrics are still written
    assert total(s, "baton_node_writable") == 2


def test_check_metrics_from_standard_input(tmp_path: Path) -> None:
    """Standard input is read twice (oracle, then metrics) through a spooled copy."""
    _, out, trace_file = run_with_metrics(tmp_path, EXAMPLES / "clean_failover.json")
    done = subprocess.run(
        [sys.executable, "-m", "baton.cli", "check", "--metrics", "-", "-"],
        stdin=trace_file.open("rb"),
        capture_output=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == out.read_bytes()


def test_malformed_trace_writes_no_metrics(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"seq":0,"kind":"header"}\n')
    out = tmp_path / "m.txt"
    assert main(["check", "--metrics", str(out), str(bad)]) == 2
    assert not out.exists()


def test_continued_trace_counts_both_runs(tmp_path: Path) -> None:
    """A resumed run's metrics fold the dead run's kept lines first (TraceTap ``kept``)."""
    _, out, trace_file = run_with_metrics(tmp_path, EXAMPLES / "clean_failover.json")
    text = trace_file.read_text()
    cut = text.index('"kind":"crash"')
    cut = text.rindex("\n", 0, cut) + 1  # at a line boundary, mid-run
    tap = metrics.TraceTap(kept=text[:cut])
    for piece in re.findall(r".{1,7}", text[cut:], flags=re.S):  # writes split mid-line
        tap.write(piece)
    assert tap.metrics is not None
    assert tap.metrics.exposition() == out.read_bytes()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--metrics", "{nodes}/m.txt"], "inside node directory"),
        (["--metrics", "{tmp}/no/such/dir/m.txt"], "does not exist"),
        (["--metrics", "{tmp}/t.jsonl", "--trace", "{tmp}/t.jsonl"], "same file as --trace"),
    ],
)
def test_bad_metrics_path_is_refused_before_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    nodes = tmp_path / "nodes"
    args = [a.format(nodes=nodes, tmp=tmp_path) for a in extra]
    scenario = str(EXAMPLES / "clean_failover.json")
    assert main(["run", scenario, "--dir", str(nodes), "--quiet", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (nodes / "n0").exists()  # refused before any node was set up


def test_prometheus_text_format_too() -> None:
    """The 0.0.4 text format (what a scraper without OpenMetrics asks for) parses too."""
    from prometheus_client.parser import text_string_to_metric_families as classic

    header = trace.header(["a", "b"], "async", "a")
    m = metrics.RunMetrics(header)
    m.observe({**trace.crash("a"), "seq": 1})
    families = {f.name: f for f in classic(m.exposition(openmetrics=False).decode())}
    writable = {s.labels["node"]: s.value for s in families["baton_node_writable"].samples}
    assert writable == {"a": 0.0, "b": 0.0}
    assert not any(s.name.endswith("_created") for f in families.values() for s in f.samples)


def test_docs_list_every_metric() -> None:
    """docs/metrics.md has one row per metric, with its type and labels (baton.metrics.METRICS),
    and METRICS names exactly what the registry exposes."""
    docs = (ROOT / "docs" / "metrics.md").read_text()
    rows = {
        m.group(1): (m.group(2), m.group(3))
        for m in re.finditer(r"^\| `(baton_\w+)` \| (\w+) \| ([^|]*) \|", docs, flags=re.M)
    }
    expected = {
        d.name: (d.type, ", ".join(f"`{label}`" for label in d.labels) or "none")
        for d in metrics.METRICS
    }
    assert {name: (t, labels.strip()) for name, (t, labels) in rows.items()} == expected
    text = metrics.RunMetrics(trace.header(["a"], "async", "a")).exposition().decode()
    families = {family.name for family in text_string_to_metric_families(text)}
    assert families == {
        d.name.removesuffix("_total") if d.type == "counter" else d.name for d in metrics.METRICS
    }


# --- the live node (baton node --metrics-port) ---------------------------------------------


def _message(src: str, dest: str, msg_id: int, kind: str, **fields: object) -> str:
    return json.dumps(
        {"src": src, "dest": dest, "body": {"type": kind, "msg_id": msg_id, **fields}}
    )


def _init(name: str, data_dir: Path) -> str:
    return _message(
        "harness",
        name,
        1,
        "init",
        node_id=name,
        node_ids=["n0", "n1", "n2"],
        initial_primary="n0",
        mode="async",
        data_dir=str(data_dir),
        incarnation=0,
        protocol=1,
    )


def test_node_metrics_count_its_own_attempt(tmp_path: Path) -> None:
    """In process: a candidate whose peers stay silent is denied (ack_bound_unknown, P6-F1);
    its metrics count that one attempt, and gauge only the node itself."""
    from baton.harness import protocol
    from baton.harness.refnode import PROBE_TICKS, ReferenceNode

    sent: list[dict[str, object]] = []
    node = ReferenceNode(sent.append, metrics=True)
    lines = [
        _init("n1", tmp_path / "n1"),
        _message(
            "operator", "n1", 2, "promote", attempt="op1", force=True, operator="t", reason="r"
        ),
        _message("harness", "n1", 3, "tick", time=PROBE_TICKS),
    ]
    for line in lines:
        node.handle(protocol.check_message(json.loads(line)))
    assert node.metrics is not None
    s = parse(node.metrics.exposition().decode())
    assert value(s, "baton_promotions_requested_total", forced="true") == 1
    assert value(s, "baton_promotions_denied_total", reason="ack_bound_unknown") == 1
    assert value(s, "baton_promotions_failed_total", outcome="denied") == 1
    assert value(s, "baton_promotions_succeeded_total") == 0
    gauged = {dict(labels)["node"] for (name, labels) in s if name == "baton_authority_epoch"}
    assert gauged == {"n1"}
    assert value(s, "baton_node_writable", node="n1") == 0


def test_node_serves_metrics_on_loopback_until_it_exits(tmp_path: Path) -> None:
    """A real `baton node --metrics-port 0` process: the exposition is scraped over HTTP
    on 127.0.0.1 and parsed; once its input ends the process exits and the port closes."""
    import urllib.error
    import urllib.request

    from baton.harness.refnode import PROBE_TICKS

    proc = subprocess.Popen(
        [sys.executable, "-m", "baton.cli", "node", "--metrics-port", "0"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        announced = proc.stderr.readline()
        found = re.search(r"http://(127\.0\.0\.1):(\d+)/metrics", announced)
        assert found, announced
        url = found.group(0)
        promote = _message(
            "operator", "n1", 2, "promote", attempt="op1", force=False, operator="t", reason="r"
        )
        tick = _message("harness", "n1", 3, "tick", time=PROBE_TICKS)
        proc.stdin.write("\n".join([_init("n1", tmp_path / "n1"), promote, tick]) + "\n")
        proc.stdin.flush()
        while '"tick_ok"' not in proc.stdout.readline():  # the barrier: all of it handled
            pass
        request = urllib.request.Request(
            url, headers={"Accept": "application/openmetrics-text; version=1.0.0"}
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            s = parse(answer.read().decode())
        assert value(s, "baton_promotions_requested_total", forced="false") == 1
        # Unforced, with the primary silent: its status is unknown (P6-F1).
        assert value(s, "baton_promotions_denied_total", reason="primary_status_unknown") == 1
        assert total(s, "baton_promotions_denied_total") == 1
        assert value(s, "baton_authority_epoch", node="n1") == 1
        proc.stdin.close()
        assert proc.wait(timeout=20) == 0
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(url, timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_node_metrics_port_in_use_is_a_usage_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "baton.cli", "node", "--metrics-port", str(port)],
            input="",
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 2
    assert f"--metrics-port {port}: cannot serve on 127.0.0.1" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_abort_line_ends_the_attempt_as_aborted() -> None:
    """An operator's abort before the marker rename (an 'abort' line: node, attempt, from,
    marker_ops) ends the attempt without success and leaves its state; a new request can
    then succeed. The lines are built by hand: the fold reads any event kind it knows."""
    events = [
        trace.header(["n0", "n1"], "async", "n0"),
        trace.crash("n0"),
        trace.request("n1", "a1", False, "alice"),
        *(
            trace.transition("n1", "a1", src, event, dst)
            for src, event, dst in (
                ("Steady", "request", "PromotionRequested"),
                ("PromotionRequested", "begin_validation", "PromotionValidating"),
                ("PromotionValidating", "approve", "PromotionApproved"),
                ("PromotionApproved", "begin_transition", "AuthorityTransitioning"),
            )
        ),
        {
            "kind": "abort",
            "node": "n1",
            "attempt": "a1",
            "from": "AuthorityTransitioning",
            "marker_ops": 2,
        },
    ]
    m = metrics.from_events({**event, "seq": seq} for seq, event in enumerate(events))
    s = parse(m.exposition().decode())
    assert value(s, "baton_promotions_aborted_total", lifecycle_state="AuthorityTransitioning") == 1
    assert value(s, "baton_promotions_failed_total", outcome="aborted") == 1
    assert value(s, "baton_promotions_requested_total", forced="false") == total(
        s, "baton_promotions_failed_total"
    )
    # begin_transition at seq 6, abort at seq 7: one line in AuthorityTransitioning.
    duration_sum = "baton_lifecycle_state_duration_events_sum"
    assert value(s, duration_sum, state="AuthorityTransitioning") == 1
    assert m.lifecycle["n1"] == "Steady"
    assert value(s, "baton_authority_epoch", node="n1") == 1  # no marker was written


def test_disable_lines_set_the_switch_gauge_and_count_changes() -> None:
    """The durable 'promotion disabled' switch (a 'disable' line: node, or none for the
    cluster; disabled; operator): its last value per target, and every change counted."""
    events = [
        trace.header(["n0", "n1"], "async", "n0"),
        {"kind": "disable", "node": "n1", "disabled": True, "operator": "alice"},
        {"kind": "disable", "disabled": True, "operator": "alice", "reason": "maintenance"},
        {"kind": "disable", "disabled": False, "operator": "bob"},
    ]
    m = metrics.from_events({**event, "seq": seq} for seq, event in enumerate(events))
    s = parse(m.exposition().decode())
    assert value(s, "baton_promotion_disabled", target="n1") == 1
    assert value(s, "baton_promotion_disabled", target="n0") == 0
    assert value(s, "baton_promotion_disabled", target="cluster") == 0  # set, then cleared
    changes = "baton_promotion_switch_changes_total"
    assert value(s, changes, target="n1", disabled="true") == 1
    assert value(s, changes, target="cluster", disabled="true") == 1
    assert value(s, changes, target="cluster", disabled="false") == 1
    assert total(s, changes) == 3


def test_run_metrics_to_standard_output_is_the_exposition_alone(tmp_path: Path) -> None:
    """With --metrics -, standard output parses as OpenMetrics to its end (the parser
    refuses anything after '# EOF'); the run's lines went to standard error."""
    scenario = str(EXAMPLES / "forced_promotion.json")
    argv = ["run", scenario, "--dir", str(tmp_path / "d"), "--metrics", "-"]
    done = subprocess.run(
        [sys.executable, "-m", "baton.cli", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    s = parse(done.stdout)
    assert value(s, "baton_promotions_succeeded_total") == 1
    assert "forced_promotion: ok" in done.stderr and "validation of n1" in done.stderr


def test_check_refuses_two_outputs_on_standard_output(capsys: pytest.CaptureFixture[str]) -> None:
    broken = EXAMPLES / "traces" / "broken_a1_two_writers.jsonl"
    assert main(["check", "--metrics", "-", "--json", "-", str(broken)]) == 2
    assert "standard output already carries" in capsys.readouterr().err


def test_resumed_run_metrics_cover_both_runs(tmp_path: Path) -> None:
    """`baton run --resume --trace T --metrics M`: M counts the dead run's lines too, and
    equals what `baton check --metrics` derives from the continued trace."""
    _, _, trace_file = run_with_metrics(tmp_path, EXAMPLES / "clean_failover.json")
    steps = [
        {"do": "init", "nodes": 3, "mode": "async"},
        {"do": "request", "candidate": "n2", "operator": "erin", "reason": "after the restart"},
        {"do": "acknowledge", "candidate": "n2", "operator": "erin"},
    ]
    again = tmp_path / "continue.json"
    again.write_text(json.dumps({"name": "continue", "steps": steps}))
    out = tmp_path / "resumed.txt"
    argv = ["run", "--resume", str(again), "--dir", str(tmp_path / "nodes"), "--quiet"]
    assert main([*argv, "--trace", str(trace_file), "--metrics", str(out)]) == 0
    s = parse(out.read_text())
    assert value(s, "baton_promotions_requested_total", forced="false") == 2  # one per run
    # Both promotions succeeded: n1 to epoch 2 in the first run; in the resumed run every
    # node came back fenced (no active primary) and n2 was promoted to epoch 3 (P6-A3).
    assert value(s, "baton_promotions_succeeded_total") == 2
    assert value(s, "baton_crash_recoveries_total", outcome="fenced_primary") >= 1
    assert value(s, "baton_authority_epoch", node="n2") == 3
    assert total(s, "baton_node_writable") == value(s, "baton_node_writable", node="n2") == 1
    checked = tmp_path / "checked.txt"
    assert main(["check", "--metrics", str(checked), str(trace_file)]) == 0
    assert checked.read_bytes() == out.read_bytes()
