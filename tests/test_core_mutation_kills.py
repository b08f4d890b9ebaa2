"""Tests written for mutants of the runtime core, the cluster shell and the node
(``bench/mutation/run.py --ast``) that the other tests and ``baton verify``'s
explorer let survive.

Each test names the mutants it kills as ``file: scope: `before` -> `after```,
the label the runner prints, and asserts a behaviour through the public API
(``baton.core``, ``baton.cluster``, ``baton.node``) or the explorer.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
from baton import core
from baton.node import Node
from baton.proofs import explore
from baton.storage import SimDisk

if TYPE_CHECKING:
    from baton.cluster import RuntimeCluster
    from baton.controller import AttemptResult


def _every_step(bounds: explore.Bounds, check: Callable[[core.ClusterState], None]) -> None:
    """Run ``check`` on every state the explorer reaches within ``bounds``."""
    result = explore.explore(bounds, visit=check)
    assert result.passed, result.verdict


def _check_effect_contract(s: core.ClusterState, action: core.Action) -> None:
    """The effects of one step say what the step did, in phase order (durable, visible,
    observed): a step other than a crash emits ``Announce(i, w)`` exactly for the nodes
    whose writability it changes, with ``w`` the new value (a crash tells no one: the
    node is gone); a ``PersistMarker`` writes the role and epoch the node ends with; an
    ``AppendWal`` appends the node's new last entry; ``AckClients`` acknowledges the
    prefix the ghost log then holds."""
    t, effects = core.step(s, action)
    phases = [e.phase for e in effects]
    assert phases == sorted(phases), action  # durable, then visible, then observed
    announced = {e.node: e.writable for e in effects if isinstance(e, core.Announce)}
    changed = {
        i: t.nodes[i].writable for i in range(s.n) if s.nodes[i].writable != t.nodes[i].writable
    }
    expected = {} if isinstance(action, core.Crash) else changed
    assert announced == expected, (action, announced, expected)
    for e in effects:
        if isinstance(e, core.PersistMarker):
            durable = t.nodes[e.node].durable
            assert (e.role, e.epoch) == (durable.marker_role, durable.epoch), action
        elif isinstance(e, core.AppendWal):
            assert t.nodes[e.node].durable.wal[-1] == e.entry, action
        elif isinstance(e, core.AckClients) and not t.broken:
            assert t.acked == t.nodes[e.node].durable.wal[: e.upto], action


@pytest.mark.parametrize("mode", core.MODES)
def test_core_every_step_announces_exactly_the_writability_it_changes(mode: str) -> None:
    """The effects contract (_check_effect_contract) on every enabled step of every
    state the explorer reaches at N=2 W=1 P=1.

    Kills impl/core.py: _apply: `Announce(i, True)` -> `Announce(i, False)` (Reinstate)."""
    checked = 0

    def check(s: core.ClusterState) -> None:
        nonlocal checked
        for action in core.enabled_actions(s):
            _check_effect_contract(s, action)
            checked += 1

    _every_step(explore.Bounds(2, 1, 1, mode), check)
    assert checked > 1000  # reachability: the contract was exercised, not skipped


def test_core_a_primary_that_sees_a_higher_epoch_steps_down_and_says_so() -> None:
    """StepDown is unreachable while the assumptions hold (two writers never coexist,
    P6-A1), so the explorer never takes it; it is the runtime's defence when an
    assumption was dropped. Two writers, n0 at epoch 1 and n1 at epoch 2: n0 steps
    down to a replica of its epoch, stops admitting writes and announces it.

    Kills impl/core.py: _apply: `Announce(i, False)` -> `Announce(i, True)`."""
    writer = core.Volatile(active=True)
    s = core.ClusterState(
        "async",
        (
            core.NodeState(core.Durable("Primary", 1), writer),
            core.NodeState(core.Durable("Primary", 2), writer),
        ),
    )
    assert core.StepDown(0) in core.enabled_actions(s)
    assert core.refusal(s, core.StepDown(1)) is not None  # n1 holds the highest epoch
    _check_effect_contract(s, core.StepDown(0))
    t, effects = core.step(s, core.StepDown(0))
    assert t.writable_nodes() == (1,)
    assert t.nodes[0].durable == core.Durable("Replica", 1)
    assert core.Announce(0, False) in effects


def test_core_a_request_is_forced_only_when_it_says_so() -> None:
    """The operator's force flag reaches the candidate only when the request sets it:
    ``Request(c)`` is an ordinary request (the validator sees force False), and the
    transition event says so.

    Kills impl/core.py: Request: `force: bool = False` -> `force: bool = True`."""
    s = core.initial_state(2, "async")
    for request, forced in ((core.Request(1), False), (core.Request(1, True), True)):
        t, effects = core.step(s, request)
        volatile = t.nodes[1].volatile
        assert volatile is not None and volatile.forced is forced
        assert core.observed_context(t, 1, core.Observation()).force is forced
        (event,) = [e for e in effects if isinstance(e, core.Emit)]
        assert event.data["force"] is forced


@pytest.mark.parametrize("mode", core.MODES)
def test_core_each_observation_is_what_the_validator_sees(mode: str) -> None:
    """observed_context maps each part of an observation to its own field of the
    validation context, whatever the others are: an uncertain primary is status
    Unknown, an unknown bound is no bound, an unknown prefix is prefix Unknown
    (never a comparison made anyway), and MVCC passes through.

    Kills impl/core.py: observed_context: `src_wal is None or not obs.prefix_known`
    -> `src_wal is None and (not obs.prefix_known)`."""
    s = core.initial_state(3, mode)
    # n0 writes one entry and n1 (the sync standby) holds it; the candidate n2 lags:
    # prefix Compatible, acknowledged bound 1 in both modes.
    for action in (core.Write(0), core.Replicate(0, 1)):
        s = core.step(s, action)[0]
    for obs in core.ALL_OBSERVATIONS:
        ctx = core.observed_context(s, 2, obs)
        assert (ctx.primary_status == "Unknown") is obs.primary_uncertain, obs
        if not obs.primary_uncertain:
            assert ctx.primary_status == "Active", obs  # n0 admits writes
        assert ctx.ack_bound == (1 if obs.bound_known else None), obs
        assert ctx.prefix == ("Compatible" if obs.prefix_known else "Unknown"), obs
        assert ctx.mvcc == obs.mvcc
        assert (ctx.role, ctx.wal_end, ctx.force) == ("ReplicaActive", 0, False)


def test_core_the_old_primary_is_the_primary_marker_at_the_highest_epoch() -> None:
    """In async mode the acknowledged bound and the prefix are read from the old
    primary: the node whose marker says Primary at the highest epoch, not the first
    node that merely holds that epoch. After n1's promotion to epoch 2, n0 (lower
    index) adopted epoch 2 as a lagging replica; the bound is n1's WAL end.

    Kills impl/core.py: old_primary: `node.durable.marker_role == 'Primary' and
    _holds_max_epoch(s, i)` -> `... or ...`."""
    up = core.Volatile()
    s = core.ClusterState(
        "async",
        (
            core.NodeState(core.Durable("Replica", 2, ((1, 1),)), up),
            core.NodeState(core.Durable("Primary", 2, ((1, 1), (2, 2))), core.Volatile(True)),
            core.NodeState(core.Durable("Replica", 1, ((1, 1),)), up),
        ),
    )
    assert core.old_primary(s) == 1
    ctx = core.observed_context(s, 2, core.Observation())
    assert (ctx.ack_bound, ctx.wal_end, ctx.prefix) == (2, 1, "Compatible")
    # Without any primary marker at the highest epoch there is no old primary.
    demoted = s.with_node(1, core.NodeState(core.Durable("Replica", 2), up))
    assert core.old_primary(demoted) is None
    assert core.observed_context(demoted, 2, core.Observation()).ack_bound is None


@pytest.mark.parametrize("forced", [False, True])
def test_core_only_a_forced_request_over_an_uncertain_view_can_be_a_lie(forced: bool) -> None:
    """force_is_truthful (an environment assumption, P6-A1a) excludes exactly a *forced*
    decision over an uncertain view while another node admits writes. An ordinary
    request with an uncertain view is admitted (the validator then denies it: status
    Unknown without force).

    Kills impl/core.py: environment_allows: `node.volatile is not None and
    node.volatile.forced` -> `... or ...`."""
    s = core.initial_state(2, "async")  # n0 admits writes
    for action in (core.Request(1, forced), core.BeginValidation(1)):
        s = core.step(s, action)[0]
    uncertain = core.Decide(1, core.Observation(primary_uncertain=True))
    assert core.environment_allows(s, uncertain) is not forced
    assert (uncertain in core.enabled_actions(s)) is not forced
    assert uncertain in core.enabled_actions(s, force_is_truthful=False)
    certain = core.Decide(1, core.Observation())
    assert core.environment_allows(s, certain)
    if not forced:
        (validation,) = [
            e
            for e in core.step(s, uncertain)[1]
            if isinstance(e, core.Emit) and e.kind == "validation"
        ]
        assert not validation.data["verdict"].allowed


def test_core_the_explorer_tries_every_observation_the_spec_leaves_open() -> None:
    """The spec's observed_context leaves four choices to the environment: the old
    primary's status reported Unknown or as observed, the acknowledged bound known or
    not, the prefix known or not, and the MVCC fact (any of the spec's values). The
    explorer's completeness rests on core.ALL_OBSERVATIONS offering each combination
    exactly once: a missing one is a run of the spec the explorer never tries, which
    no property or refinement check can notice.

    Kills impl/core.py: <module>: `(False, True)` -> `(True, True)` and the five other
    mutants of ALL_OBSERVATIONS' three boolean ranges."""
    from baton.spec import validation

    combos = [
        (o.primary_uncertain, o.bound_known, o.prefix_known, o.mvcc) for o in core.ALL_OBSERVATIONS
    ]
    both = (False, True)
    assert len(combos) == len(set(combos))
    assert set(combos) == set(itertools.product(both, both, both, validation.MVCC_NAMES))


def test_core_reinstatement_is_refused_while_another_node_admits_writes() -> None:
    """A restarted primary holding the highest epoch is not reinstated while another
    node admits writes (P6-A1): the refusal names that node, and step() raises it as
    ActionNotEnabled without changing anything. (Only reachable once an assumption was
    dropped: a forced promotion over a primary that was in fact still writing.)

    Kills impl/core.py: _reinstate: `s.writable_nodes()[0]` -> `s.writable_nodes()[1]`."""
    from baton.errors import ActionNotEnabled

    s = core.ClusterState(
        "async",
        (
            core.NodeState(core.Durable("Primary", 1), core.Volatile(active=True)),
            core.NodeState(core.Durable("Primary", 2), core.Volatile()),  # fenced restart
        ),
    )
    assert core.refusal(s, core.Reinstate(1)) == "node 0 admits writes (P6-A1)"
    with pytest.raises(ActionNotEnabled, match="node 0 admits writes"):
        core.step(s, core.Reinstate(1))


def test_core_a_request_may_be_ordinary_or_forced() -> None:
    """The enumeration offers both kinds of request for every up candidate not in an
    attempt (the spec's request action takes the force flag as a parameter): without
    the forced ones the explorer would never try a forced promotion (P6-A1a), without
    the ordinary ones never an unforced one.

    Kills impl/core.py: _build_groups: `Request(c, False)` -> `Request(c, True)` and
    `Request(c, True)` -> `Request(c, False)`."""
    for mode in core.MODES:
        s = core.initial_state(3, mode)
        requests = {a for a in core.enabled_actions(s) if isinstance(a, core.Request)}
        assert requests == {core.Request(c, f) for c in range(3) for f in (False, True)}
        assert requests <= set(core.candidate_actions(s, core.ALL_OBSERVATIONS))


@pytest.mark.parametrize("n", [2, 3, 4])
@pytest.mark.parametrize("mode", core.MODES)
def test_core_enumerates_exactly_the_spec_action_instances(n: int, mode: str) -> None:
    """The core's action instances, named as the spec names them (spec_action_names),
    are exactly the instances of the spec's transition relation for that cluster size
    and mode: the explorer and the random walks offer no instance the spec lacks and
    miss none it has. For the ambiguity halt that is the spec's parameter set
    ``(i, j, k)`` with ``j not in (i, k)`` (spec: _ambiguity_halts); a degenerate
    instance such as ``(0, 0, 1)`` would be offered only to be refused.

    Kills impl/core.py: _build_groups: `j != i and k != j` -> `j != i or k != j`."""
    from baton.spec import cluster as spec_cluster

    s_vars = spec_cluster.fresh_state(n, "s")
    t_vars = spec_cluster.fresh_state(n, "t")
    cfg = spec_cluster.Config(n=n, mode=mode)
    spec = {f"{a.name}{list(a.nodes)}" for a in spec_cluster.actions(cfg, s_vars, t_vars, "x")}
    state = core.initial_state(n, mode)
    offered = {
        name
        for action in core.candidate_actions(state, core.ALL_OBSERVATIONS)
        for name in core.spec_action_names(action)
    }
    assert offered == spec, (sorted(offered - spec), sorted(spec - offered))
    halts = {name for name in spec if name.startswith("ambiguity_halt[")}
    assert len(halts) == n * (n - 1) * (n - 1)  # reachability: the halts were compared


_EFFECT_KINDS = {"DURABLE": 0, "VISIBLE": 1, "OBSERVE": 2}


def _effect_classes(base: type[core.Effect]) -> list[type[core.Effect]]:
    subclasses = base.__subclasses__()
    return [c for sub in subclasses for c in (sub, *_effect_classes(sub))]


def test_core_every_effect_s_phase_is_the_kind_it_documents() -> None:
    """A shell orders and guards effects by their ``phase`` (0 durable, 1 visible, 2
    observe; see Effect): a visible effect is never performed after a durable one
    failed. Every effect class the core defines documents its kind as the first word
    of its docstring, and its phase must be that kind's -- including the best-effort
    removal of an aborted attempt's marker temp file, a disk operation (DURABLE).

    Kills impl/core.py: DiscardMarkerTemp: `phase: ClassVar[int] = 0` ->
    `phase: ClassVar[int] = 1`."""
    classes = _effect_classes(core.Effect)
    assert core.DiscardMarkerTemp in classes
    kinds: dict[str, set[str]] = {}
    for cls in classes:
        doc = cls.__doc__ or ""
        kind = doc.split(":")[0].split(" ")[0]
        assert kind in _EFFECT_KINDS, f"{cls.__name__} does not document its kind: {doc!r}"
        assert cls.phase == _EFFECT_KINDS[kind], (cls.__name__, kind, cls.phase)
        kinds.setdefault(kind, set()).add(cls.__name__)
    assert set(kinds) == set(_EFFECT_KINDS)  # every kind is represented


# --- impl/node.py ------------------------------------------------------------------


def test_node_replication_role_names_each_marker_role_in_the_validator_vocabulary() -> None:
    """The role a scenario's expectation reads: each marker role maps to its validator
    role (a halt carries its reason); a node not initialised, or not there, is
    Uninitialized whatever its marker says.

    Kills impl/node.py: replication_role: `initialised: bool=True` -> `=False`,
    `not initialised or node is None` -> `... and ...`, and the three `role == ...`
    comparisons swapped."""
    from baton.node import replication_role

    up = core.Volatile()
    expected = {
        "Primary": "PrimaryActive",
        "Replica": "ReplicaActive",
        "Halted": "Halted(history_divergence)",
        "Torn": "Halted(wal_corruption)",
    }
    for role, name in expected.items():
        node = core.NodeState(core.Durable(role, 1), up)
        assert replication_role(node) == name
        assert replication_role(node, initialised=False) == "Uninitialized"
    assert replication_role(None) == "Uninitialized"


def test_node_recovered_state_is_a_frozen_value() -> None:
    """What recovery read is a value: the durable state and the repair report cannot
    be changed after the fact by whoever reports them.

    Kills impl/node.py: Recovered: `frozen=True` -> `frozen=False`."""
    import dataclasses

    from baton.node import Node
    from baton.storage import SimDisk

    node = Node("n0", SimDisk())
    node.initialise("n0", 1)
    found = node.recover()
    assert found.durable == core.Durable("Primary", 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        found.durable = core.Durable("Replica", 1)  # type: ignore[misc]


# --- impl/cluster.py ----------------------------------------------------------------


def test_cluster_a_disk_fault_stops_the_node_whose_disk_failed() -> None:
    """fsyncgate through the cluster shell, on a node other than n0: the replica n1's
    WAL fsync fails while it replicates; n1 stops (and comes back from its durable
    image without the entry), while the primary n0 stays up and writable.

    Kills impl/cluster.py: RuntimeCluster._apply: `self._performing is not None` ->
    `self._performing is None` (every disk fault was blamed on n0)."""
    from baton.cluster import RuntimeCluster
    from baton.storage import Disk, FaultPlan, FaultyDisk, SimDisk

    disks: list[Disk] = [SimDisk() for _ in range(3)]
    cluster = RuntimeCluster(disks, "async")
    try:
        cluster.apply(core.Write(0))
        inner = cluster.nodes[1].disk
        assert isinstance(inner, SimDisk)
        cluster.nodes[1].disk = FaultyDisk(inner, FaultPlan(nth=1, ops=frozenset({"fsync"})))
        cluster.nodes[1].recover()
        cluster.disk_after_crash = lambda _i, _disk: inner.crash()  # durable image only
        cluster.apply(core.Replicate(0, 1))  # the append lands, its fsync fails
        state = cluster.state
        assert not state.nodes[1].up and cluster.crashed(1)
        assert state.nodes[0].up and state.writable_nodes() == (0,)
        assert state.nodes[1].durable.wal == ()  # the unsynced entry is not trusted
        assert state.nodes[2].up
    finally:
        cluster.close()


def _failed_over_to(candidate: str) -> tuple[RuntimeCluster, AttemptResult]:
    """Three SimDisk nodes; n0 writes one entry, both replicas take it, n0 crashes and
    the controller promotes ``candidate``. The caller closes the cluster."""
    from baton.cluster import RuntimeCluster
    from baton.controller import Controller, PromotionRequest
    from baton.storage import Disk

    disks: list[Disk] = [SimDisk() for _ in range(3)]
    cluster = RuntimeCluster(disks, "async")
    cluster.apply(core.Write(0))
    for r in (1, 2):
        cluster.apply(core.Replicate(0, r))
    cluster.crash(0)
    result = Controller(cluster).request_promotion(PromotionRequest(candidate, operator="t"))
    return cluster, result


def test_cluster_a_replica_marker_names_the_primary_not_a_peer_at_its_epoch() -> None:
    """A replica's marker names the authority it follows: the primary marker at the
    highest epoch (old_primary), not merely the first other node at that epoch. After
    n2's promotion to epoch 2, n1 adopts epoch 2 and the restarted n0 is demoted:
    n0's marker names n2, although n1 (a lower index) holds epoch 2 too.

    Kills impl/cluster.py: RuntimeCluster._holder_for: `primary is not None and
    primary != i` -> `... or ...`, `primary is not None` -> `primary is None` and
    `primary != i` -> `primary == i`."""
    from baton.marker import read_marker

    cluster, result = _failed_over_to("n2")
    try:
        assert cluster.state.writable_nodes() == (2,), result
        cluster.apply(core.Write(2))
        cluster.apply(core.Replicate(2, 1))  # n1 adopts epoch 2 (its marker: holder n2)
        cluster.restart(0)
        cluster.apply(core.Demote(0))  # n0: Replica at epoch 1
        markers = [read_marker(node.disk, expected_node=node.name) for node in cluster.nodes]
        assert [(m.holder, m.epoch) for m in markers] == [("n2", 1), ("n2", 2), ("n2", 2)]
    finally:
        cluster.close()


def test_cluster_a_replica_marker_names_the_highest_epoch_when_no_primary_holds_it() -> None:
    """Two promotions that crash mid-marker can leave the highest epoch held by a
    replica only (no old primary): n1's marker rename survives its crash (Primary
    at epoch 2), n1 is then demoted by n2's attempt for epoch 3, whose crash loses its
    rename. The fenced n0 (Primary at epoch 1) is then demoted: its new replica marker
    names n1, the holder of the highest epoch -- never n0 itself, which recovery would
    read back as a primary marker.

    Kills impl/cluster.py: RuntimeCluster._holder_for: `j != i` -> `j == i`, and
    `primary is not None and primary != i` -> `... or ...` (a TypeError there)."""
    from baton.cluster import RuntimeCluster
    from baton.marker import read_marker
    from baton.storage import Disk, SimDisk

    disks: list[Disk] = [SimDisk() for _ in range(3)]
    cluster = RuntimeCluster(disks, "async")

    def attempt_up_to_the_rename(c: int) -> None:
        for action in (
            core.Request(c),
            core.BeginValidation(c),
            core.Decide(c, core.Observation()),
            core.BeginTransition(c),
            *(core.MarkerOp(c, op) for op in ("write_temp", "fsync_temp", "rename")),
        ):
            cluster.apply(action)

    try:
        cluster.crash(0)
        cluster.restart(0)  # fenced: Primary at epoch 1, admits no writes
        attempt_up_to_the_rename(1)
        cluster.crash(1)  # the page cache survives: the renamed marker is there
        cluster.restart(1)
        assert cluster.state.nodes[1].durable == core.Durable("Primary", 2)
        attempt_up_to_the_rename(2)
        cluster.apply(core.Demote(1))
        cluster.disk_after_crash = lambda _i, disk: disk.crash()  # type: ignore[attr-defined]
        cluster.crash(2)  # reboot: the rename was not durable, the old marker is back
        assert cluster.state.nodes[2].durable == core.Durable("Replica", 1)
        assert core.old_primary(cluster.state) is None
        cluster.apply(core.Demote(0))
        marker = read_marker(disks[0], expected_node="n0")
        assert (marker.holder, marker.epoch) == ("n1", 1)
        assert cluster.nodes[0].read_durable() == core.Durable("Replica", 1)
    finally:
        cluster.close()


def _fresh_node() -> tuple[Node, SimDisk]:
    disk = SimDisk()
    node = Node("n0", disk)
    node.initialise("n0", 1)
    node.recover()
    return node, disk


def test_node_corrupt_marker_flips_exactly_the_middle_byte() -> None:
    """The scenarios' marker damage: one byte in the middle of the marker file flipped
    (bit 0x40), nothing else, durably; the node then refuses to start (P6-F2) and a
    restart reads the marker as Torn with no epoch guessed.

    Kills impl/node.py: Node.corrupt_marker's six mutants (`data is None`, the middle
    `len(data) // 2`, `middle + 1`, `^ 64`, the `+` of the slices) and Node.read_durable:
    `core.Durable('Torn', 0, entries)` -> `core.Durable('Torn', 1, entries)`."""
    from baton.errors import MarkerCorrupt
    from baton.marker import MARKER_FILE

    node, disk = _fresh_node()
    node.append((1, 1))
    node.sync()
    before = disk.read(MARKER_FILE)
    assert before is not None
    node.corrupt_marker()
    after = disk.read(MARKER_FILE)
    assert after is not None and len(after) == len(before)
    changed = [k for k in range(len(before)) if before[k] != after[k]]
    assert changed == [len(before) // 2]
    assert before[changed[0]] ^ after[changed[0]] == 0x40
    assert disk.crash().read(MARKER_FILE) == after  # fsynced: it survives a crash
    with pytest.raises(MarkerCorrupt):
        node.recover()
    assert node.read_durable() == core.Durable("Torn", 0, ((1, 1),))


@pytest.mark.parametrize("garbage", [3, 10])
def test_node_tear_wal_appends_exactly_a_record_that_never_finished(garbage: int) -> None:
    """The scenarios' torn tail: ``garbage`` bytes that start like a WAL record (magic
    0xBA7A, version 1) and stop, durably; recovery cuts exactly them and keeps every
    synced entry.

    Kills impl/node.py: Node.tear_wal: `garbage - 3` -> `garbage + 3` / `garbage - 4`,
    `max(0, ...)` -> `max(1, ...)` and `+` -> `-`."""
    from baton.node import WAL_NAME

    node, disk = _fresh_node()
    node.append((1, 1))
    node.sync()
    before = disk.read(WAL_NAME)
    assert before is not None
    node.tear_wal(garbage)
    after = disk.crash().read(WAL_NAME)
    assert after == before + b"\xba\x7a\x01" + b"\x00" * (garbage - 3)
    found = node.recover()
    assert found.durable.wal == ((1, 1),)
    assert not found.wal_report.clean


@pytest.mark.parametrize(
    ("reason", "recorded"),
    [("history_divergence", b"history_divergence"), (None, b"operator_halt")],
)
def test_node_a_halt_records_its_reason(reason: str | None, recorded: bytes) -> None:
    """A halt is its own durable file holding the reason (the operator's halt when none
    is given); the marker keeps the last authority it knew, and recovery reads the
    node as Halted.

    Kills impl/node.py: Node.persist_marker: `halt_reason or 'operator_halt'` ->
    `halt_reason and 'operator_halt'`."""
    from baton.marker import MARKER_FILE
    from baton.node import HALT_FILE

    node, disk = _fresh_node()
    marker = disk.read(MARKER_FILE)
    node.persist_marker("Halted", 1, "n0", reason)
    assert disk.crash().read(HALT_FILE) == recorded
    assert disk.read(MARKER_FILE) == marker
    assert node.recover().durable == core.Durable("Halted", 1)


def test_cluster_a_restart_reports_the_wal_repair_it_made_and_only_then() -> None:
    """Restarting a node whose WAL ends in a torn record cuts the tail and says so,
    naming the node; a clean restart says nothing about the WAL.

    Kills impl/cluster.py: RuntimeCluster._restart: `not found.wal_report.clean` ->
    `+found.wal_report.clean`."""
    from baton.cluster import RuntimeCluster
    from baton.storage import Disk

    disks: list[Disk] = [SimDisk() for _ in range(2)]
    cluster = RuntimeCluster(disks, "async")
    said: list[str] = []
    cluster.say = said.append
    try:
        cluster.apply(core.Write(0))
        cluster.apply(core.Replicate(0, 1))
        cluster.crash(1)
        cluster.restart(1)
        assert not [line for line in said if "WAL recovery" in line]
        cluster.crash(1)
        cluster.nodes[1].tear_wal(10)
        cluster.restart(1)
        (repair,) = [line for line in said if "WAL recovery" in line]
        assert repair.startswith("n1: ")
        assert cluster.state.nodes[1].durable.wal == ((1, 1),)
    finally:
        cluster.close()


@pytest.mark.parametrize(
    ("record", "standby"),
    [
        (b"n2 1\n", 2),  # named by the authority at its epoch: honoured
        (b"n2 7\n", 1),  # another epoch's choice: stale, the default
        (b"n9 1\n", 1),  # a node this cluster does not have: the default
    ],
)
def test_cluster_reopening_honours_only_the_authority_s_current_standby_record(
    record: bytes, standby: int
) -> None:
    """Sync mode: a reopened cluster takes its standby from the authority's standby
    record only when the record names one of its nodes *and* was written at the
    authority's current epoch; otherwise the default standby.

    Kills impl/cluster.py: RuntimeCluster._recorded_standby: `name in self._names and
    epoch == str(...)` -> `... or ...`."""
    from baton.cluster import STANDBY_FILE, RuntimeCluster
    from baton.storage import Disk

    disks: list[Disk] = [SimDisk() for _ in range(3)]
    RuntimeCluster(disks, "sync").close()
    disks[0].write_file(STANDBY_FILE, record)
    disks[0].fsync(STANDBY_FILE)
    reopened = RuntimeCluster.reopen(disks, "sync")
    try:
        assert core.old_primary(reopened.state) == 0
        assert reopened.state.standby == standby
    finally:
        reopened.close()


def test_cluster_reopening_reports_the_wal_repair_it_made_and_only_then() -> None:
    """Reopening a cluster from its directories cuts a torn WAL tail and says so,
    naming the node; the nodes with clean WALs get no such line.

    Kills impl/cluster.py: RuntimeCluster._read_directories: `not
    found.wal_report.clean` -> `+found.wal_report.clean`."""
    from baton.cluster import RuntimeCluster
    from baton.events import Recorder
    from baton.storage import Disk

    disks: list[Disk] = [SimDisk() for _ in range(3)]
    cluster = RuntimeCluster(disks, "async")
    cluster.apply(core.Write(0))
    cluster.apply(core.Replicate(0, 1))
    cluster.nodes[1].tear_wal(10)
    cluster.close()
    said: list[str] = []
    recorder = Recorder(("n0", "n1", "n2"), "async", "n0", say=said.append)
    reopened = RuntimeCluster.reopen(disks, "async", recorder)
    try:
        repairs = [line for line in said if "WAL recovery" in line]
        assert len(repairs) == 1 and repairs[0].startswith("n1: ")
        assert reopened.state.nodes[1].durable.wal == ((1, 1),)
    finally:
        reopened.close()


@pytest.mark.parametrize(
    ("mode", "replicated", "acked"), [("async", 1, 2), ("sync", 1, 1), ("sync", 0, 0)]
)
def test_cluster_reopening_takes_the_acknowledged_history_at_its_upper_bound(
    mode: str, replicated: int, acked: int
) -> None:
    """After a whole restart only the clients knew what was acknowledged, so the
    reopened cluster assumes the most it may have been (P6-S1): in async mode the
    authority's whole WAL; in sync mode the part of it the standby also holds (nothing
    beyond it could have been acknowledged). The primary n0 holds two entries, the
    standby n1 ``replicated`` of them.

    Kills impl/cluster.py: RuntimeCluster._read_directories: `mode == 'sync' and
    standby != authority` -> `... or ...`, `mode == 'sync'` -> `mode != 'sync'` and
    `standby != authority` -> `standby == authority`, `common = 0` -> `common = 1`."""
    from baton.cluster import RuntimeCluster
    from baton.storage import Disk

    disks: list[Disk] = [SimDisk() for _ in range(3)]
    cluster = RuntimeCluster(disks, mode)
    for _ in range(2):
        cluster.apply(core.Write(0))
    for _ in range(replicated):
        cluster.apply(core.Replicate(0, 1))
    cluster.close()
    reopened = RuntimeCluster.reopen(disks, mode)
    try:
        assert reopened.state.standby == 1
        assert reopened.state.acked == ((1, 1), (1, 2))[:acked]
    finally:
        reopened.close()


def test_cluster_a_crash_mid_step_records_the_durable_effects_that_completed() -> None:
    """A replicate that adopts the primary's epoch writes the replica's marker, then
    appends. A crash at the append (failpoint wal.append) leaves the marker durable:
    the trace records that marker write (and not the step's observations, which
    never happened), and the core resumes from the adopted epoch (partial step).

    Kills impl/cluster.py: RuntimeCluster._apply: `not isinstance(e, core.Emit)` ->
    `+isinstance(e, core.Emit)`."""
    cluster, _result = _failed_over_to("n1")
    try:
        cluster.apply(core.Write(1))
        cluster.arm(2, "wal.append")
        seen = len(cluster.recorder.events)
        cluster.apply(core.Replicate(1, 2))
        assert cluster.crashed(2)
        new = cluster.recorder.events[seen:]
        assert {"kind": "marker", "node": "n2", "role": "Replica", "epoch": 2} in [
            {k: e.get(k) for k in ("kind", "node", "role", "epoch")} for e in new
        ]
        assert not [e for e in new if e.get("kind") == "replicate"]
        assert cluster.state.nodes[2].durable == core.Durable("Replica", 2, ((1, 1),))
    finally:
        cluster.close()


def test_core_state_copy_names_a_misspelt_field() -> None:
    """A state copy that names a field the class does not have is a TypeError that
    names it: a silently added attribute would be ignored by equality and hashing,
    so two different states could be explored as one."""
    volatile = core.initial_state(2).nodes[1].volatile
    assert volatile is not None
    with pytest.raises(TypeError, match=r"Volatile has no field \['lifecylce'\]"):
        core._but(volatile, lifecylce="Steady")
    # The real field is accepted and copied, the original left as it was.
    copy = core._but(volatile, lifecycle="PromotionRequested")
    assert (copy.lifecycle, volatile.lifecycle) == ("PromotionRequested", "Steady")


def test_core_enumeration_assumes_a_truthful_force_unless_told() -> None:
    """enabled_actions and successors admit, by default, only what the spec's
    environment assumption force_is_truthful allows: no forced decision over an
    uncertain view while another node really admits writes (P6-A1a). A caller who
    drops the assumption says so (force_is_truthful=False) and gets those too."""
    s = core.initial_state(3)
    for action in (core.Request(1, force=True), core.BeginValidation(1)):
        s, _ = core.step(s, action)
    assert s.nodes[0].writable  # the primary really admits writes
    lying = {core.Decide(1, obs) for obs in core.ALL_OBSERVATIONS if obs.primary_uncertain}
    assert lying and all(core.refusal(s, a) is None for a in lying)  # the guard allows them
    by_default = {a for a, _t in core.successors(s, core.ALL_OBSERVATIONS)}
    assert by_default and not by_default & lying
    assert not set(core.enabled_actions(s, core.ALL_OBSERVATIONS)) & lying
    dropped = {a for a, _t in core.successors(s, core.ALL_OBSERVATIONS, force_is_truthful=False)}
    assert lying <= dropped
