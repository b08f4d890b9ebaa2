"""Model-vs-runtime lockstep: hypothesis drives the runtime on disk, the spec judges each step.

Covers (model-vs-real stateful testing; docs/testing.md):
every cluster action of ``baton.core`` -- client writes (sync and async
mode), acks (in sync mode also the early one, before the standby holds the
write, which must be refused: P6-S1), replication and divergence, crashes of any node between steps
and at every failpoint (``marker.*``, ``wal.*``), restarts, reinstatement,
demotion and step-down, sync-standby designation, promotion requests with
and without force (including ill-advised ones: lagging candidates, force
while the primary is up), every lifecycle step, duplicate requests and
illegal lifecycle events (which must raise and change nothing), operator
acknowledgements.

The *runtime* is :class:`baton.cluster.RuntimeCluster`: the core plus node
directories it really writes, on real temporary directories
(:class:`PosixDirectories`) or on the simulated disk (:class:`SimulatedDisks`,
where a crash keeps only some unsynced operations: any crash state the
journaled-Linux model allows). After every rule:

* the observed step is in the spec's transition relation
  (``explaining_actions`` contains the runtime action's spec name; a crash
  inside an action is that action then ``crash``, or ``crash`` alone);
* every property holds (``violated_properties == []``: P6-A1, P6-A2, P6-A3,
  P6-S1, P6-S2, P6-F2, P6-F3), evaluated by Z3 on the concrete state;
* every node's directory, read back from disk, equals the core's durable
  state; on the simulated disk, so does the *durable* image (what a power
  cut leaves) of every node with no marker write in flight -- durability is
  checked against disk, never against an in-memory flag.

``event()`` labels every transition, denial reason, refusal and crash point,
so ``pytest --hypothesis-show-statistics`` shows the coverage.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, ClassVar

import pytest
import z3
from baton import core, failpoints
from baton.cluster import RuntimeCluster
from baton.errors import (
    ActionNotEnabled,
    DuplicateRequest,
    IllegalTransition,
    MarkerCorrupt,
    ProtocolError,
)
from baton.node import Node
from baton.simulate import COVERAGE
from baton.spec import cluster
from baton.spec.cluster import Config
from baton.spec.concrete import Snapshot, bind, explaining_actions, violated_properties
from baton.storage import Disk, PersistenceModel, PosixDisk, SimDisk
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
)

LIFECYCLE_EVENTS = ("reject", "begin_validation", "approve", "begin_transition", "complete")


def _normalise(reason: str) -> str:
    """A refusal reason without node numbers and epochs, for coverage statistics."""
    return re.sub(r"\d+", "#", reason)


class StepChecker:
    """The spec's transition relation for one cluster size and mode, built once.

    ``explaining_actions`` rebuilds every action formula and tries them all
    (~0.1-0.25 s a step); here the formulas are built once and only the
    action instances the runtime claims to have taken are tried (~10 ms), the
    same Z3 relation (``baton.spec.cluster.actions``) and the same binding of
    concrete states (``baton.spec.concrete.bind``)."""

    _cache: ClassVar[dict[tuple[int, str], StepChecker]] = {}

    def __init__(self, cfg: Config) -> None:
        self.before = cluster.fresh_state(cfg.n, "before")
        self.after = cluster.fresh_state(cfg.n, "after")
        self.formulas = {
            f"{act.name}{list(act.nodes)}": act.formula
            for act in cluster.actions(cfg, self.before, self.after, "step")
        }
        self.solver = z3.Solver()

    @classmethod
    def of(cls, cfg: Config) -> StepChecker:
        key = (cfg.n, cfg.mode)
        if key not in cls._cache:
            cls._cache[key] = cls(cfg)
        return cls._cache[key]

    def explains(self, before: Snapshot, after: Snapshot, names: tuple[str, ...]) -> list[str]:
        """Which of ``names`` take ``before`` to ``after`` in the spec's relation."""
        found = []
        for name in names:
            self.solver.push()
            self.solver.add(bind(before, self.before), bind(after, self.after))
            self.solver.add(self.formulas[name])
            if self.solver.check() == z3.sat:
                found.append(name)
            self.solver.pop()
        return found


def _same_durable(model: core.Durable, disk: core.Durable) -> bool:
    """Equal; a torn marker's epoch cannot be read back, only that it is torn."""
    if disk.marker_role == "Torn":
        return model.marker_role == "Torn" and model.wal == disk.wal
    return model == disk


class LockstepMachine(RuleBasedStateMachine):
    """The runtime on some disk, stepped in lockstep with the spec."""

    nodes = Bundle("nodes")

    def __init__(self) -> None:
        super().__init__()
        self.cluster: RuntimeCluster | None = None
        self.cfg = Config(n=2, mode="async")
        self.crash_pick = 0

    # --- backends (overridden by the two profiles) ---

    def make_disks(self, n: int) -> list[Disk]:
        raise NotImplementedError

    def after_crash(self, i: int, disk: Disk) -> Disk:
        return disk

    def durable_image_checks(self, s: core.ClusterState) -> None:
        """Extra check of what survives a power cut (simulated disk only)."""

    # --- helpers ---

    @property
    def state(self) -> core.ClusterState:
        assert self.cluster is not None
        return self.cluster.state

    def read_back(self) -> list[core.Durable]:
        assert self.cluster is not None
        return [node.read_durable() for node in self.cluster.nodes]

    def check_step(self, before: core.ClusterState, action: core.Action) -> None:
        """The observed step is a spec step (or the action then a crash) and all properties hold."""
        after = self.state
        snap_before, snap_after = core.to_snapshot(before), core.to_snapshot(after)
        spec = StepChecker.of(self.cfg)
        claimed = core.spec_action_names(action)
        crashed = [i for i in range(after.n) if before.nodes[i].up and not after.nodes[i].up]
        if crashed and not isinstance(action, core.Crash):
            # A failpoint fired inside the action: nothing of it reached the disk (one
            # spec step: crash), all of it did (two: the action, then crash), or the
            # part of it that is a spec step of its own did (core.partial_steps).
            i = crashed[0]
            event(f"failpoint fired inside {action.name}")
            if not spec.explains(snap_before, snap_after, (f"crash[{i}]",)):
                firsts = [(action, claimed)] + [
                    (part, core.spec_action_names(part))
                    for part in core.partial_steps(before, action)
                ]
                explained = []
                for first, names in firsts:
                    mid = core.to_snapshot(core.step(before, first)[0])
                    if spec.explains(mid, snap_after, (f"crash[{i}]",)):
                        assert spec.explains(snap_before, mid, names), first.label()
                        explained.append(first.name)
                assert explained, f"no spec path explains a crash inside {action.label()}"
                event(f"crash after {explained[0]}")
        else:
            assert spec.explains(snap_before, snap_after, claimed), (
                f"{action.label()} is not a step of the spec: "
                f"{explaining_actions(self.cfg, snap_before, snap_after)}"
            )
        assert violated_properties(snap_after) == [], action.label()

    def do(self, action: core.Action) -> None:
        """Apply ``action`` to the runtime; a refused one must raise and change nothing."""
        assert self.cluster is not None
        before = self.state
        disk_before = self.read_back()
        why = core.refusal(before, action)
        if why is not None:
            try:
                self.cluster.apply(action)
            except ProtocolError:
                pass
            else:
                raise AssertionError(f"{action.label()} was accepted; the model refuses: {why}")
            assert self.state == before
            assert self.read_back() == disk_before, "a refused action changed the disk"
            event(f"refused {action.name}: {_normalise(why)}")
            return
        effects = self.cluster.apply(action)
        self.record(action, effects)
        self.check_step(before, action)

    def record(self, action: core.Action, effects: tuple[core.Effect, ...]) -> None:
        event(f"step {action.name}")
        COVERAGE.steps += 1
        for e in effects:
            if isinstance(e, core.Emit) and e.kind == "transition":
                label = f"{e.data['from']} -{e.data['event']}-> {e.data['to']}"
                event(f"transition {label}")
                COVERAGE.transitions.add(label)
                verdict = e.data.get("verdict")
                if verdict is not None and not verdict.allowed:
                    event(f"denied: {verdict.reason}")
                    COVERAGE.denials.add(verdict.reason)
            if isinstance(e, core.Emit) and e.kind == "crash":
                stage = e.data["marker_stage"]
                point = f"{e.data['lifecycle']} stage {stage} -> {e.data['outcome']}"
                event(f"crash point: {point}")
                COVERAGE.crash_points.add(f"lockstep: {point}")

    # --- setup ---

    @initialize(
        target=nodes, n=st.integers(min_value=2, max_value=3), mode=st.sampled_from(core.MODES)
    )
    def start(self, n: int, mode: str) -> Any:
        self.cluster = RuntimeCluster(self.make_disks(n), mode)
        self.cluster.disk_after_crash = self.after_crash
        self.cfg = Config(n=n, mode=mode)
        COVERAGE.runs += 1
        event(f"cluster of {n}, {mode}")
        return multiple(*range(n))

    def teardown(self) -> None:
        failpoints.uninstall()

    # --- steering: a uniformly chosen enabled action (reaches the deep states) ---

    def enabled_step(self, pick: int) -> None:
        """One of the actions the model enables now, so that runs get past the refusals to
        failovers, marker writes and recoveries. Crashes and restarts go through the
        shell (the disk decides a crash's outcome); an Unknown observation is never
        used for a forced request while another node admits writes (force_is_truthful)."""
        s = self.state
        options = [
            a
            for a in core.enabled_actions(s)
            if not (isinstance(a, core.Crash) and a.outcome not in (None, "new"))
            and not (
                isinstance(a, core.Decide)
                and a.observation.primary_uncertain
                and (s.nodes[a.candidate].volatile or core.Volatile()).forced
                and any(n.writable for j, n in enumerate(s.nodes) if j != a.candidate)
            )
        ]
        action = options[pick % len(options)]
        if isinstance(action, core.Crash):
            self.crash_node(action.node, pick)
        elif isinstance(action, core.Restart):
            self.restart(action.node)
        else:
            self.do(action)

    @precondition(lambda self: self.cluster is not None)
    @rule(pick=st.integers(min_value=0, max_value=255))
    def any_enabled_action(self, pick: int) -> None:
        self.enabled_step(pick)

    @precondition(lambda self: self.cluster is not None)
    @rule(pick=st.integers(min_value=0, max_value=255))
    def another_enabled_action(self, pick: int) -> None:
        self.enabled_step(pick)

    # --- data path ---

    @rule(i=nodes)
    def write(self, i: int) -> None:
        self.do(core.Write(i))

    @rule(i=nodes)
    def ack(self, i: int) -> None:
        self.do(core.Ack(i))

    @rule(p=nodes, r=nodes)
    def replicate(self, p: int, r: int) -> None:
        """Ship the next entry; a replica whose WAL is not a prefix halts (P6-S2)."""
        if core.refusal(self.state, core.Diverge(p, r)) is None:
            self.do(core.Diverge(p, r))
        else:
            self.do(core.Replicate(p, r))

    @precondition(lambda self: self.cluster is not None and self.state.mode == "sync")
    @rule(p=nodes, j=nodes)
    def designate(self, p: int, j: int) -> None:
        self.do(core.Designate(p, j))

    @precondition(
        lambda self: (
            self.cluster is not None
            and self.state.mode == "sync"
            and bool(self.state.writable_nodes())
        )
    )
    @rule()
    def sync_write_then_ack(self) -> None:
        """Sync mode's write path in order (P6-S1): a write on the primary, an ack before
        the standby holds the new entry (the model refuses it, so the runtime must),
        shipping the entry to the standby, then the ack the model allows. Left to the
        separate rules, that early ack needs a write and an ack drawn back to back on
        the primary of a sync-mode run, which a few dozen examples need not contain."""
        p = self.state.writable_nodes()[0]
        self.do(core.Write(p))
        self.do(core.Ack(p))
        standby = self.state.standby
        if standby != p:
            self.replicate(p, standby)
        self.do(core.Ack(p))

    # --- failures ---

    @rule(i=nodes, pick=st.integers(min_value=0, max_value=63))
    def crash(self, i: int, pick: int) -> None:
        """Crash between steps; on the simulated disk, unsynced data may be lost."""
        self.crash_node(i, pick)

    def crash_node(self, i: int, pick: int) -> None:
        assert self.cluster is not None
        before = self.state
        if not before.nodes[i].up:
            with pytest.raises(ProtocolError):
                self.cluster.crash(i)
            event("refused crash: already down")
            return
        self.crash_pick = pick
        self.cluster.crash(i)
        after = self.state
        outcome = next(
            o
            for o in (None, "old", "new", "torn")
            if core.refusal(before, core.Crash(i, o)) is None
            and core.step(before, core.Crash(i, o))[0] == after
        )
        self.record(core.Crash(i, outcome), core.step(before, core.Crash(i, outcome))[1])
        self.check_step(before, core.Crash(i, outcome))

    @rule(i=nodes, failpoint=st.sampled_from(failpoints.FAILPOINTS))
    def arm_failpoint(self, i: int, failpoint: str) -> None:
        """Node ``i`` dies when it next reaches ``failpoint`` (inside a later action)."""
        assert self.cluster is not None
        self.cluster.arm(i, failpoint)
        event(f"armed {failpoint}")

    @precondition(lambda self: self.cluster is not None and not all(n.up for n in self.state.nodes))
    @rule(i=nodes)
    def restart(self, i: int) -> None:
        """Recovery reads the disk; it must equal the core's durable state (fenced, P6-F2)."""
        assert self.cluster is not None
        before = self.state
        why = core.refusal(before, core.Restart(i))
        if why is not None:
            expected: type[Exception] = (
                MarkerCorrupt if before.nodes[i].durable.marker_role == "Torn" else ProtocolError
            )
            with pytest.raises(expected):
                self.cluster.restart(i)
            assert self.state == before
            event(f"refused restart: {_normalise(why)}")
            return
        self.cluster.restart(i)
        self.record(core.Restart(i), ())
        self.check_step(before, core.Restart(i))
        assert not self.state.nodes[i].writable, "a restart must come up fenced"

    @rule(i=nodes)
    def reinstate(self, i: int) -> None:
        self.do(core.Reinstate(i))

    @rule(i=nodes)
    def give_up_authority(self, i: int) -> None:
        """A node that sees a higher epoch demotes (fenced) or steps down (writable)."""
        if self.state.nodes[i].writable:
            self.do(core.StepDown(i))
        else:
            self.do(core.Demote(i))

    # --- the operator and the lifecycle ---

    @rule(c=nodes, force=st.booleans())
    def request(self, c: int, force: bool) -> None:
        """Any candidate, forced or not; while an attempt is in flight: DuplicateRequest."""
        assert self.cluster is not None
        before = self.state
        busy = before.in_flight()
        if busy is not None and before.nodes[c].up:
            disk_before = self.read_back()
            with pytest.raises(DuplicateRequest) as info:
                self.cluster.apply(core.Request(c, force))
            assert info.value.in_progress in (str(busy), self.cluster.names[busy])
            assert self.state == before
            assert self.read_back() == disk_before
            event("refused request: duplicate (attempt in flight)")
            return
        if force and any(n.writable for j, n in enumerate(before.nodes) if j != c):
            event("ill-advised: force while the primary admits writes")
        if before.acked and len(before.nodes[c].durable.wal) < len(before.acked):
            event("ill-advised: lagging candidate")
        self.do(core.Request(c, force))

    @precondition(lambda self: self.cluster is not None and self.state.in_flight() is None)
    @rule(force=st.booleans(), pick=st.integers(min_value=0, max_value=63))
    def fail_over(self, force: bool, pick: int) -> None:
        """Steer to the deep states: crash the writable node(s), then request promotion of
        the most up-to-date replica that is up (each part checked as its own step)."""
        for i in self.state.writable_nodes():
            self.crash_node(i, pick)
        replicas = [
            i for i, n in enumerate(self.state.nodes) if n.up and n.durable.marker_role == "Replica"
        ]
        if not replicas:
            event("fail over: no replica is up")
            return
        c = max(replicas, key=lambda i: len(self.state.nodes[i].durable.wal))
        event("fail over")
        self.do(core.Request(c, force))
        if self._in("PromotionRequested") == c:
            self.do(core.BeginValidation(c))
            self.do(core.Decide(c, core.Observation(primary_uncertain=force)))

    @precondition(lambda self: self.cluster is not None and self.state.in_flight() is None)
    @rule(force=st.booleans(), pick=st.integers(min_value=0, max_value=63))
    def fail_over_then_restart(self, force: bool, pick: int) -> None:
        """A whole failover (fail_over, then the marker write and complete), then a crash
        and restart of the new primary: recovery must read back the new authority and
        its epoch (P6-F2, P6-A3). Left to the separate rules, a restart of a node that
        holds a raised epoch needs a promotion to run to its end first, which a few
        dozen examples need not contain. (Crashes part-way through the marker write
        stay with transition_through.)"""
        self.fail_over(force, pick)
        if self._in("PromotionApproved") is not None:
            self.transition_through(len(core.MARKER_OPS) + 2, pick)

    def _in(self, lifecycle: str) -> int | None:
        c = self.state.in_flight() if self.cluster is not None else None
        return c if c is not None and self.state.nodes[c].lifecycle == lifecycle else None

    @precondition(lambda self: self._in("PromotionRequested") is not None)
    @rule(reject=st.booleans())
    def begin_validation(self, reject: bool) -> None:
        c = self._in("PromotionRequested")
        assert c is not None
        self.do(core.Reject(c) if reject else core.BeginValidation(c))

    @precondition(lambda self: self._in("PromotionValidating") is not None)
    @rule(
        uncertain=st.booleans(),
        bound_known=st.sampled_from((True, True, True, False)),
        mvcc=st.sampled_from(("Preserved", "Preserved", "Preserved", "Violated", "Unknown")),
    )
    def decide(self, uncertain: bool, bound_known: bool, mvcc: str) -> None:
        """Validate. The old primary's status is observed Unknown only when that is
        consistent with the force_is_truthful assumption: a forced request is never
        decided on Unknown while another node admits writes (the spec's assumption;
        dropping it is the simulation's --untruthful-operator)."""
        c = self._in("PromotionValidating")
        assert c is not None
        s = self.state
        node = s.nodes[c]
        others_writable = any(n.writable for j, n in enumerate(s.nodes) if j != c)
        if node.volatile is not None and node.volatile.forced and others_writable:
            uncertain = False
        obs = core.Observation(primary_uncertain=uncertain, bound_known=bound_known, mvcc=mvcc)
        self.do(core.Decide(c, obs))

    @precondition(lambda self: self._in("PromotionApproved") is not None)
    @rule()
    def begin_transition(self) -> None:
        c = self._in("PromotionApproved")
        assert c is not None
        self.do(core.BeginTransition(c))

    @precondition(lambda self: self._in("AuthorityTransitioning") is not None)
    @rule()
    def marker_step(self) -> None:
        """The next marker file operation, or complete once the marker is durable (P6-A2)."""
        c = self._in("AuthorityTransitioning")
        assert c is not None
        vol = self.state.nodes[c].volatile
        assert vol is not None
        if vol.marker_stage < len(core.MARKER_OPS):
            self.do(core.MarkerOp(c, core.MARKER_OPS[vol.marker_stage]))
        else:
            self.do(core.Complete(c))

    @precondition(
        lambda self: (
            self._in("PromotionApproved") is not None
            or self._in("AuthorityTransitioning") is not None
        )
    )
    @rule(
        crash_at=st.integers(min_value=0, max_value=len(core.MARKER_OPS) + 2),
        pick=st.integers(min_value=0, max_value=63),
    )
    def transition_through(self, crash_at: int, pick: int) -> None:
        """Run the marker write step by step (each step checked) and crash the candidate
        after ``crash_at`` operations -- a power cut mid-write on the simulated disk -- or,
        past the last one, complete the promotion (P6-F2, P6-A2); past that, crash the new
        primary and restart it: recovery keeps the new authority (P6-F2)."""
        c = self._in("PromotionApproved")
        if c is not None:
            self.do(core.BeginTransition(c))
        c = self._in("AuthorityTransitioning")
        if c is None:
            return  # an armed failpoint fired
        while True:
            vol = self.state.nodes[c].volatile
            if vol is None:
                return
            if vol.marker_stage == crash_at:
                event(f"crash of the candidate after {crash_at} marker operation(s)")
                self.crash_node(c, pick)
                return
            if vol.marker_stage == len(core.MARKER_OPS):
                self.do(core.Complete(c))
                if crash_at > len(core.MARKER_OPS) + 1 and self.state.nodes[c].up:
                    event("crash and restart of the new primary")
                    self.crash_node(c, pick)
                    self.restart(c)
                    assert self.state.nodes[c].durable.marker_role == "Primary"
                return
            self.do(core.MarkerOp(c, core.MARKER_OPS[vol.marker_stage]))

    @precondition(
        lambda self: (
            self._in("PromotionSucceeded") is not None or self._in("PromotionDenied") is not None
        )
    )
    @rule()
    def acknowledge(self) -> None:
        """The operator acknowledges the outcome; back to Steady."""
        c = self._in("PromotionSucceeded")
        if c is None:
            c = self._in("PromotionDenied")
        assert c is not None
        self.do(core.Acknowledge(c))

    @rule(c=nodes, which=st.sampled_from(LIFECYCLE_EVENTS))
    def illegal_event(self, c: int, which: str) -> None:
        """A lifecycle event fired out of turn raises a named error and changes nothing (P6-D2)."""
        action: core.Action = {
            "reject": core.Reject(c),
            "begin_validation": core.BeginValidation(c),
            "approve": core.Decide(c),
            "begin_transition": core.BeginTransition(c),
            "complete": core.Complete(c),
        }[which]
        if core.refusal(self.state, action) is None:
            return  # legal here; the lifecycle rules cover it
        assert self.cluster is not None
        before = self.state
        with pytest.raises((IllegalTransition, ActionNotEnabled)):
            self.cluster.apply(action)
        assert self.state == before
        event(f"illegal {which} refused")

    # --- after every step ---

    @invariant()
    def disk_equals_model(self) -> None:
        """Every node's directory reads back as the core's durable state."""
        if self.cluster is None:
            return
        s = self.state
        for i, (model, disk) in enumerate(
            zip((n.durable for n in s.nodes), self.read_back(), strict=True)
        ):
            assert _same_durable(model, disk), (i, model, disk)
        self.durable_image_checks(s)


class PosixDirectories(LockstepMachine):
    """Nodes on real temporary directories (a crash keeps the page cache: process crash)."""

    def __init__(self) -> None:
        super().__init__()
        self.root = tempfile.mkdtemp(prefix="baton-lockstep-")

    def make_disks(self, n: int) -> list[Disk]:
        disks: list[Disk] = []
        for i in range(n):
            PosixDisk(self.root).makedirs(f"n{i}")
            disks.append(PosixDisk(Path(self.root) / f"n{i}"))
        return disks

    def teardown(self) -> None:
        super().teardown()
        shutil.rmtree(self.root, ignore_errors=True)


class SimulatedDisks(LockstepMachine):
    """Nodes on the simulated disk: a crash keeps any journaled-Linux crash state."""

    def make_disks(self, n: int) -> list[Disk]:
        return [SimDisk() for _ in range(n)]

    def after_crash(self, i: int, disk: Disk) -> Disk:
        assert isinstance(disk, SimDisk)
        states = disk.crash_states(PersistenceModel.JOURNALED)
        choice = states[self.crash_pick % len(states)]
        event(f"simulated power cut: {len(states)} possible crash state(s)")
        return disk.crash(choice)

    def durable_image_checks(self, s: core.ClusterState) -> None:
        """What a power cut would leave equals the core's durable state (nothing acked is
        only in the page cache), for every node with no marker write in flight."""
        assert self.cluster is not None
        for i, node in enumerate(self.cluster.nodes):
            vol = s.nodes[i].volatile
            if vol is not None and vol.marker_stage > 0:
                continue
            disk = node.disk
            assert isinstance(disk, SimDisk)
            survivor = Node(node.name, SimDisk(disk.durable_state())).read_durable()
            assert _same_durable(s.nodes[i].durable, survivor), (i, survivor)


def _machine_settings() -> settings:
    # The step check costs ~10 ms of Z3 and the property evaluation ~20 ms, so each
    # machine takes half of the profile's examples (ci: 30), 50 steps each.
    base = settings()
    return settings(base, max_examples=max(5, base.max_examples // 2), stateful_step_count=50)


TestPosixDirectories = PosixDirectories.TestCase
TestPosixDirectories.settings = _machine_settings()
TestSimulatedDisks = SimulatedDisks.TestCase
TestSimulatedDisks.settings = _machine_settings()
