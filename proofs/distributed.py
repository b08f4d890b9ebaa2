"""The partitioned search: one engine for the multi-process and the Ray explorer.

Level-synchronous breadth-first search with the visited set partitioned over
``workers`` partitions by a stable hash of the state's byte encoding (the
scheme of TLC's distributed mode and of PREACH). Each round, every partition

1. takes the (state, parent) pairs routed to it and keeps the states it has
   not seen: the round's new states, each with the parent pointer that first
   reached it;
2. checks the spec's properties on each new state (the same compiled
   predicates as the sequential search);
3. expands them on the runtime core (:func:`baton.proofs.explore.successors`,
   the explorer's own successor function: the real core, wrapped by a mutant
   if one is asked for), checking every step against the spec's transition
   relation (refinement), and returns the successors grouped by owner.

The coordinator hands each partition the batches the others produced for it
and stops when a round finds nothing new. Every state is owned by exactly one
partition and every transition is taken once, by the owner of its source, so
a finished search counts exactly the states and transitions of the sequential
search, whatever the number of partitions.

Counterexamples. A partition remembers, for each state it owns, the encoding
of its BFS parent. A violation found in round ``r`` is at depth ``r``
(property) or is a step out of depth ``r`` (refinement); the coordinator
prefers the former, so the run is a shortest one, as long as the sequential
search's. It walks the parent pointers back across partitions to the initial
state, then replays the chain on the core from the real initial state,
choosing at each step the successor whose key is the next key of the chain
(symmetry makes the chain's keys orbits; the replay picks a real run through
them).

Compactness. A state is stored as a few dozen bytes (:func:`pack_key`: the
explorer's visited-set key -- bound counters, acknowledged log, per-node
codes and WALs -- one byte per value), its parent as a reference to the bytes
of the parent's key. Memory per partition is reported as its process's peak
resident set size.

Two transports run this engine: forked local processes (:class:`LocalBackend`,
``baton explore --workers K``) and Ray actors (:mod:`baton.proofs.ray_backend`,
``baton explore --ray``).
"""

from __future__ import annotations

import contextlib
import hashlib
import multiprocessing
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from baton import core
from baton.spec import compiled as spec_compiled

from . import explore as ex

Batch = list[tuple[bytes, bytes]]
"""(state key, parent key) pairs bound for one partition; the root's parent is b""."""

ROOT = b""
"""The parent of the initial state."""

PROGRESS_SECONDS = 5.0
"""The coordinator reports progress after a round at most this often."""

MAX_BYTE_BOUND = 200
"""Bounds above which a value might not fit a byte (epochs grow with promotions)."""


# --- the compact encoding and the stable partition hash -----------------------------


def pack_key(writes: int, requests: int, skey: tuple[Any, ...]) -> bytes:
    """A search key (bound counters and :func:`baton.proofs.explore.state_key`) as bytes.

    Layout: writes, requests, standby, broken, len(acked), acked epochs, then
    per node its twelve spec-variable codes followed by its WAL's epochs (the
    WAL's length is the fifth code, so the encoding needs no separators).
    Every value is a small non-negative integer (codes, epochs, counters,
    lengths); one that does not fit a byte raises ValueError."""
    standby, acked, broken, *nodes = skey
    out = [writes, requests, standby, int(broken), len(acked), *acked]
    for code in nodes:
        out += code[: ex._FIELDS]
        out += code[ex._FIELDS]
    return bytes(out)


def unpack_key(data: bytes, nodes: int) -> tuple[int, int, tuple[Any, ...]]:
    """(writes, requests, state key) of :func:`pack_key`'s bytes."""
    writes, requests, standby, broken, acked_len = data[0], data[1], data[2], data[3], data[4]
    at = 5 + acked_len
    acked = tuple(data[5:at])
    codes: list[tuple[Any, ...]] = []
    for _ in range(nodes):
        fields = tuple(data[at : at + ex._FIELDS])
        at += ex._FIELDS
        wal_len = fields[4]
        codes.append((*fields, tuple(data[at : at + wal_len])))
        at += wal_len
    return writes, requests, (standby, acked, bool(broken), *codes)


def owner(key: bytes, workers: int) -> int:
    """The partition that owns ``key``: stable across processes and machines
    (Python's ``hash`` of strings is salted per process; blake2b is not)."""
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little") % workers


def peak_rss_mb() -> float:
    """This process's peak resident set size, MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- one partition ----------------------------------------------------------------------


@dataclass(frozen=True)
class SearchSpec:
    """What every partition needs to know (picklable: names, not functions)."""

    bounds: ex.Bounds
    symmetry: bool
    mutant: str | None
    properties: tuple[str, ...]
    refinement: bool


@dataclass
class LevelReport:
    """One partition's account of one round."""

    new: int = 0
    transitions: int = 0
    property_violation: bytes | None = None
    """The smallest new key of this round that violates a checked property."""
    refinement_violation: bytes | None = None
    """A key of this round with a core step the spec cannot explain."""
    stored: int = 0
    peak_rss_mb: float = 0.0
    cpu_seconds: float = 0.0
    """CPU time this partition has spent searching so far (robust to load)."""


class Partition:
    """One worker's share of the search: its visited states with their parents.

    The same class runs in a forked process and, wrapped by ``ray.remote``, as
    a Ray actor."""

    def __init__(self, spec: SearchSpec, workers: int, index: int) -> None:
        self.spec = spec
        self.workers = workers
        self.index = index
        self.mutant = ex._mutant(spec.mutant)
        model = spec_compiled.compiled(ex.spec_config(spec.bounds, self.mutant))
        checked = set(spec.properties)
        self.props = [p.holds for p in model.properties if p.id in checked]
        self.explains = model.explains
        # key -> parent key (ROOT for the initial state); the parent's bytes
        # object is shared by every child that arrived in the same batch.
        self.visited: dict[bytes, bytes] = {}
        self.cpu_start = time.process_time()

    def level(self, *batches: Batch) -> tuple[Any, ...]:
        """One round: (report, batch for partition 0, ..., batch for partition K-1)."""
        spec, bounds, workers = self.spec, self.spec.bounds, self.workers
        visited = self.visited
        new: list[bytes] = []
        for batch in batches:
            for key, parent in batch:
                if key not in visited:
                    visited[key] = parent
                    new.append(key)
        report = LevelReport(new=len(new))
        out: list[Batch] = [[] for _ in range(workers)]
        sent: set[bytes] = set()  # a key goes once per round to its owner
        expanding = True
        for key in new:
            writes, requests, skey = unpack_key(key, bounds.nodes)
            s = ex.decode_state(skey, bounds.mode)
            enc_s = ex.encode(s, spec.symmetry)
            flat_s = enc_s[1]
            # The spec's own predicates of P6-A1, P6-A2, P6-A3, P6-S1, P6-S2,
            # P6-F2, P6-F3 (those asked for), compiled: baton.spec.properties.
            if not all(holds(flat_s) for holds in self.props):
                if report.property_violation is None or key < report.property_violation:
                    report.property_violation = key
                expanding = False
            if not expanding:
                continue  # keep checking the round's states for the smallest violation
            known = (s, enc_s)
            explained: set[spec_compiled.Flat] = set()  # as in the sequential search
            admit = ex._admit(writes, requests, bounds)
            for action, t, _mutated in ex.successors(s, self.mutant, admit):
                report.transitions += 1
                tkey, flat_t, _codes, _masked = ex.encode(t, spec.symmetry, known)
                if spec.refinement and flat_t not in explained:
                    if self.explains(flat_s, flat_t, core.spec_action_names(action)) is None:
                        report.refinement_violation = key
                        expanding = False
                        break
                    explained.add(flat_t)
                child = pack_key(*ex._counters(action, writes, requests), tkey)
                if child in sent:
                    continue
                sent.add(child)
                dest = owner(child, workers)
                if dest == self.index and child in visited:
                    continue
                out[dest].append((child, key))
        report.stored = len(visited)
        report.peak_rss_mb = peak_rss_mb()
        report.cpu_seconds = time.process_time() - self.cpu_start
        return (report, *out)

    def ready(self) -> int:
        """This partition's index, once it is built (the spec compiled)."""
        return self.index

    def parent(self, key: bytes) -> bytes:
        """The parent pointer of a key this partition owns."""
        return self.visited[key]


# --- transports ------------------------------------------------------------------------


class Backend(Protocol):
    """How the coordinator reaches its partitions."""

    workers: int

    def level(self, first: Batch | None) -> list[LevelReport]:
        """Run one round on every partition; ``first``: the initial batch (round 0
        only; later rounds exchange the previous round's batches)."""

    def parent(self, key: bytes) -> bytes:
        """The parent pointer of ``key``, from the partition that owns it."""

    def close(self) -> None:
        """Stop the partitions."""


def _local_partition(conn: Any, spec: SearchSpec, workers: int, index: int) -> None:
    partition = Partition(spec, workers, index)
    while True:
        request = conn.recv()
        if request is None:
            conn.close()
            return
        verb, payload = request
        if verb == "level":
            conn.send(partition.level(*payload))
        else:
            conn.send(partition.parent(payload))


@dataclass
class LocalBackend:
    """Partitions in forked processes on this machine, batches routed by the parent."""

    spec: SearchSpec
    workers: int
    _pipes: list[Any] = field(default_factory=list)
    _procs: list[Any] = field(default_factory=list)
    _pending: list[list[Batch]] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Compile once before forking: the children inherit the compiled spec.
        spec_compiled.compiled(ex.spec_config(self.spec.bounds, ex._mutant(self.spec.mutant)))
        ctx = multiprocessing.get_context("fork")
        for index in range(self.workers):
            parent, child = ctx.Pipe()
            proc = ctx.Process(
                target=_local_partition,
                args=(child, self.spec, self.workers, index),
                daemon=True,
            )
            proc.start()
            child.close()
            self._pipes.append(parent)
            self._procs.append(proc)

    def level(self, first: Batch | None) -> list[LevelReport]:
        if first is not None:
            home = owner(first[0][0], self.workers)
            inboxes = [[first] if i == home else [] for i in range(self.workers)]
        else:
            inboxes = self._pending
        for conn, inbox in zip(self._pipes, inboxes, strict=True):
            conn.send(("level", inbox))
        reports = []
        self._pending = [[] for _ in range(self.workers)]
        for conn in self._pipes:
            report, *out = conn.recv()
            reports.append(report)
            for dest, batch in enumerate(out):
                if batch:
                    self._pending[dest].append(batch)
        return reports

    def parent(self, key: bytes) -> bytes:
        conn = self._pipes[owner(key, self.workers)]
        conn.send(("parent", key))
        parent: bytes = conn.recv()
        return parent

    def close(self) -> None:
        for conn in self._pipes:
            with contextlib.suppress(OSError):
                conn.send(None)
            conn.close()
        for proc in self._procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=2)


# --- the coordinator -------------------------------------------------------------------


def search(
    spec: SearchSpec,
    backend_factory: Callable[[SearchSpec], Backend],
    *,
    max_states: int | None = None,
    progress: ex.Progress | None = None,
) -> ex.Result:
    """The partitioned search over the partitions ``backend_factory`` starts.

    Stops when a round finds no new state (finished), at the first round
    with a violation (reported with a shortest counterexample), or after the
    round that reaches ``max_states`` (not finished: the count is rounded up
    to a whole level)."""
    bounds = spec.bounds
    if max(bounds.writes, bounds.promotions) > MAX_BYTE_BOUND:
        raise ValueError(f"the partitioned search takes bounds up to {MAX_BYTE_BOUND}")
    unknown = set(spec.properties) - set(ex.PROPERTY_IDS)
    if unknown or not spec.properties:
        raise ValueError(f"properties must be among {ex.PROPERTY_IDS}, not {sorted(unknown)}")
    mut = ex._mutant(spec.mutant)
    model = spec_compiled.compiled(ex.spec_config(bounds, mut))
    start = time.perf_counter()
    cpu_start = time.process_time()
    s0 = core.initial_state(bounds.nodes, bounds.mode)
    result = ex.Result(
        bounds,
        spec.symmetry,
        spec.mutant,
        max_states=max_states,
        properties=spec.properties,
        refinement=spec.refinement,
    )
    if spec.refinement and not model.initial(ex.abstraction(s0)):
        # The run must start where the spec's runs start (cluster.initial).
        detail = "the core's initial state is not an initial state of the spec (cluster.initial)"
        result.counterexample = ex.Counterexample(
            [ex.REFINEMENT], [ex.Step("initial state", False, s0)], detail
        )
        result.seconds = time.perf_counter() - start
        return result
    backend = backend_factory(spec)
    result.workers = backend.workers
    result.setup_seconds = time.perf_counter() - start
    last_report = time.perf_counter()
    try:
        key0 = pack_key(0, 0, ex.state_key(s0, spec.symmetry))
        first: Batch | None = [(key0, ROOT)]
        depth = -1
        peaks = [0.0] * backend.workers
        stored = [0] * backend.workers
        cpu = [0.0] * backend.workers
        while True:
            reports = backend.level(first)
            first = None
            new = sum(r.new for r in reports)
            result.states += new
            result.transitions += sum(r.transitions for r in reports)
            peaks = [max(p, r.peak_rss_mb) for p, r in zip(peaks, reports, strict=True)]
            stored = [r.stored for r in reports]
            cpu = [r.cpu_seconds for r in reports]
            if new:
                depth += 1
            now = time.perf_counter()
            if progress is not None and now - last_report >= PROGRESS_SECONDS:
                last_report = now
                progress(result.states, result.transitions, depth, now - start)
            found = [r.property_violation for r in reports if r.property_violation is not None]
            kind = "property"
            if not found:
                kind = "refinement"
                found = [
                    r.refinement_violation for r in reports if r.refinement_violation is not None
                ]
            if found:
                chain = _chain(backend, min(found))
                result.counterexample = _replay(spec, model, chain, kind)
                break
            if not new:
                result.finished = True
                break
            if max_states is not None and result.states >= max_states:
                break
        result.max_depth = depth
        result.worker_peak_rss_mb = peaks
        result.worker_states = stored
        result.worker_cpu_seconds = cpu
    finally:
        backend.close()
    result.seconds = time.perf_counter() - start
    result.cpu_seconds = time.process_time() - cpu_start
    return result


def _chain(backend: Backend, key: bytes) -> list[bytes]:
    """The keys from the initial state to ``key``, walking parents across partitions."""
    chain = [key]
    while (parent := backend.parent(chain[-1])) != ROOT:
        chain.append(parent)
    chain.reverse()
    return chain


def _replay(
    spec: SearchSpec, model: spec_compiled.CompiledModel, chain: list[bytes], kind: str
) -> ex.Counterexample:
    """A real run of the core through the keys of ``chain`` (then, for a refinement
    failure, the step out of its last state that the spec cannot explain)."""
    bounds, mut = spec.bounds, ex._mutant(spec.mutant)
    state = core.initial_state(bounds.nodes, bounds.mode)
    steps = [ex.Step("initial state", False, state)]
    writes = requests = 0
    for target in chain[1:]:
        for action, t, mutated in ex.successors(state, mut, ex._admit(writes, requests, bounds)):
            counters = ex._counters(action, writes, requests)
            if pack_key(*counters, ex.state_key(t, spec.symmetry)) == target:
                state, (writes, requests) = t, counters
                steps.append(ex.Step(ex.label(action), mutated, t))
                break
        else:  # pragma: no cover - every key of the chain was reached from its parent
            raise AssertionError("replay: no successor has the chain's next key")
    flat = ex.abstraction(state)
    if kind == "property":
        checked = set(spec.properties)
        bad = [p.id for p in model.properties if p.id in checked and not p.holds(flat)]
        return ex.Counterexample(bad, steps)
    for action, t, mutated in ex.successors(state, mut, ex._admit(writes, requests, bounds)):
        flat_t = ex.abstraction(t)
        if model.explains(flat, flat_t, core.spec_action_names(action)) is None:
            steps.append(ex.Step(ex.label(action), mutated, t))
            detail = ex._unexplained(model, flat, flat_t, action)
            return ex.Counterexample([ex.REFINEMENT], steps, detail)
    raise AssertionError(
        "replay: no unexplained step out of the reported state"
    )  # pragma: no cover


def local_backend(workers: int) -> Callable[[SearchSpec], Backend]:
    """A factory of :class:`LocalBackend` with ``workers`` forked partitions."""

    def start(spec: SearchSpec) -> Backend:
        return LocalBackend(spec, workers)

    return start
