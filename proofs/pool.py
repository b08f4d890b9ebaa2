"""Run obligations in worker processes, with a timeout each and a clean Ctrl-C.

Z3 is single-threaded and a query cannot be interrupted from Python while it
runs, so every obligation runs in a worker process and the parent only waits,
which keeps it responsive:

* at most ``jobs`` obligations are in flight; the caller is told when one
  starts and when one finishes, so a progress display can show which are
  running;
* an obligation that runs longer than its timeout is not waited for: its
  worker is killed and replaced, and the obligation is reported as a failure
  with result ``timeout`` (a hang becomes a reported result, not a stuck CI
  job);
* a worker that dies is reported as an ``error`` for the obligation it ran;
* workers ignore SIGINT (a terminal sends it to the whole process group); on
  Ctrl-C the parent kills them all, waits for them, and lets the
  ``KeyboardInterrupt`` propagate, so no worker outlives the command.

Workers are started with ``spawn`` (no state inherited from the parent) and
build the obligation list themselves, once; they receive indices into it.

Each obligation runs in a process forked from its warmed-up worker, so every
obligation starts from the same state: Z3 keeps per-process state (terms,
caches) that made an obligation's time depend on what ran before it in the
same worker -- one obligation took 1.25 s, then 5.17 s, in one process. The
fork costs milliseconds. The forked process asks the kernel to kill it when
its worker dies (Linux ``PR_SET_PDEATHSIG``), so killing a worker on a
timeout or a Ctrl-C takes its obligation with it; all of them stay in the
command's process group, where a terminal's Ctrl-C reaches them.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from .obligations import Obligation, Outcome, default_kind

# How long the parent sleeps between looks at its workers (seconds): bounds the
# reaction time to Ctrl-C and to a timeout, and the progress refresh rate.
POLL_SECONDS = 0.2


@dataclass(frozen=True)
class BuildArgs:
    """What a worker passes to :func:`baton.proofs.obligations.build`."""

    quick: bool
    ns: tuple[int, ...]
    depth: int


def _worker_main(conn: Connection, build_args: BuildArgs) -> None:
    # The terminal's Ctrl-C reaches the whole process group; the parent decides.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from .obligations import build, warm_up

    obligations = build(quick=build_args.quick, ns=build_args.ns, depth=build_args.depth)
    warm_up()
    while True:
        try:
            index = conn.recv()
        except EOFError:
            return
        if index is None:
            return
        conn.send((index, _run_forked(obligations[index])))


def _run_forked(ob: Obligation) -> Outcome:
    """Run ``ob`` in a child forked from this (warmed-up) worker; return its outcome."""
    from .obligations import run

    read_end, write_end = os.pipe()
    worker = os.getpid()
    pid = os.fork()
    if pid == 0:  # the child: run, hand the outcome back, leave without cleanup
        _die_with(worker)
        os.close(read_end)
        try:
            data = pickle.dumps(run(ob))
        except BaseException as exc:  # reported to the parent as a failure
            data = pickle.dumps(Outcome(False, "error", f"{type(exc).__name__}: {exc}"))
        with os.fdopen(write_end, "wb") as out:
            out.write(data)
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as got:
        data = got.read()
    _, status = os.waitpid(pid, 0)
    if not data:
        return Outcome(
            False, "error", f"the obligation's process died ({_describe_status(status)})"
        )
    outcome = pickle.loads(data)
    assert isinstance(outcome, Outcome)
    return outcome


def _describe_status(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {os.WTERMSIG(status)}"
    return f"exit code {os.waitstatus_to_exitcode(status)}"


def _die_with(worker: int) -> None:
    """Have the kernel kill this (forked) process when ``worker`` dies."""
    import ctypes

    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != worker:  # the worker died before the request took effect
        os._exit(1)


def _kill_worker(process: BaseProcess) -> None:
    """Kill a worker; the obligation process it forked dies with it (_die_with)."""
    with contextlib.suppress(OSError):
        process.kill()


@dataclass
class _Worker:
    process: BaseProcess
    conn: Connection
    index: int | None = None
    started: float = 0.0


@dataclass
class Events:
    """Callbacks a progress display subscribes to (all optional)."""

    started: Callable[[int, Obligation], None] | None = None
    finished: Callable[[int, Obligation, Outcome], None] | None = None
    tick: Callable[[], None] | None = None


def _timed_out(limit: float, elapsed: float) -> Outcome:
    """The outcome of an obligation stopped at its time limit, after ``elapsed`` s."""
    outcome = Outcome(
        False,
        "timeout",
        f"no result within the per-obligation limit of {limit:g} s; the worker was stopped",
    )
    outcome.seconds = elapsed
    return outcome


def _record(
    events: Events, results: dict[int, Outcome], index: int, ob: Obligation, outcome: Outcome
) -> None:
    """Keep an obligation's outcome (its result kind filled in) and tell the display."""
    if not outcome.kind:
        outcome.kind = default_kind(ob, outcome)
    results[index] = outcome
    if events.finished:
        events.finished(index, ob, outcome)


@dataclass
class Pool:
    """A fixed set of worker processes running obligations by index."""

    obligations: list[Obligation]
    build_args: BuildArgs
    jobs: int
    timeout: Callable[[Obligation], float]
    events: Events = field(default_factory=Events)
    _ctx: Any = field(default=None, init=False)
    _workers: list[_Worker] = field(default_factory=list, init=False)

    def _spawn(self) -> _Worker:
        if self._ctx is None:
            self._ctx = multiprocessing.get_context("spawn")
        parent, child = self._ctx.Pipe()
        proc = self._ctx.Process(target=_worker_main, args=(child, self.build_args), daemon=True)
        # Started with SIGINT ignored, the child keeps it ignored through exec and
        # Python's start-up: a Ctrl-C while it imports cannot print a traceback.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            proc.start()
        finally:
            signal.signal(signal.SIGINT, previous)
        child.close()
        worker = _Worker(proc, parent)
        self._workers.append(worker)
        return worker

    def _retire(self, worker: _Worker) -> None:
        """Kill a worker (stuck or dead) and forget it."""
        _kill_worker(worker.process)
        worker.process.join(timeout=2)
        worker.conn.close()
        self._workers.remove(worker)

    def shutdown(self) -> None:
        """Stop every worker now and wait for them (used on Ctrl-C and at the end)."""
        for worker in list(self._workers):
            if worker.index is None and worker.process.is_alive():
                with contextlib.suppress(OSError):
                    worker.conn.send(None)
            else:
                _kill_worker(worker.process)
        deadline = time.monotonic() + 1.0
        for worker in list(self._workers):
            worker.process.join(timeout=max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                _kill_worker(worker.process)
                worker.process.join(timeout=1)
            worker.conn.close()
        self._workers.clear()

    def run(self, indices: list[int]) -> dict[int, Outcome]:
        """Run the obligations at ``indices`` (in that order of start); return outcomes."""
        todo = list(indices)
        results: dict[int, Outcome] = {}
        try:
            while todo or any(w.index is not None for w in self._workers):
                self._assign(todo)
                busy = [w for w in self._workers if w.index is not None]
                ready = wait([w.conn for w in busy], timeout=POLL_SECONDS)
                now = time.monotonic()
                for worker in busy:
                    index = worker.index
                    assert index is not None
                    ob = self.obligations[index]
                    if worker.conn in ready:
                        try:
                            got_index, outcome = worker.conn.recv()
                        except (EOFError, OSError):
                            code = worker.process.exitcode
                            outcome = Outcome(
                                False, "error", f"the worker process died (exit code {code})"
                            )
                            outcome.seconds = now - worker.started
                            self._retire(worker)
                        else:
                            assert got_index == index
                            worker.index = None
                    elif now - worker.started > self.timeout(ob):
                        outcome = _timed_out(self.timeout(ob), now - worker.started)
                        self._retire(worker)
                    else:
                        continue
                    _record(self.events, results, index, ob, outcome)
                if self.events.tick:
                    self.events.tick()
        finally:
            self.shutdown()
        return results

    def _assign(self, todo: list[int]) -> None:
        while todo:
            idle = [w for w in self._workers if w.index is None]
            if not idle:
                if len(self._workers) >= self.jobs:
                    return
                idle = [self._spawn()]
            worker = idle[0]
            index = todo.pop(0)
            worker.index, worker.started = index, time.monotonic()
            worker.conn.send(index)
            if self.events.started:
                self.events.started(index, self.obligations[index])


# --- the same pool on Ray ---------------------------------------------------------------
#
# ``baton verify --ray``: the workers are Ray actors instead of local processes,
# with the same contract -- each builds the obligation list once and runs
# indices; at most ``jobs`` in flight; an obligation over its timeout has its
# actor killed and replaced and is reported as ``timeout``; a dead actor is an
# ``error``; the same events for the progress display. Ray is imported only
# here, through baton.proofs.ray_backend (an optional extra).


class _ObligationActor:
    """A Ray actor's state: the obligation list, built once."""

    def __init__(self, build_args: BuildArgs) -> None:
        from .obligations import build

        self.obligations = build(quick=build_args.quick, ns=build_args.ns, depth=build_args.depth)

    def run(self, index: int) -> Outcome:
        from .obligations import run

        return run(self.obligations[index])


@dataclass
class _Actor:
    handle: Any
    ref: Any = None
    index: int | None = None
    started: float = 0.0


@dataclass
class RayPool:
    """:class:`Pool`'s contract on Ray actors (one CPU each), in a Ray session
    (:func:`baton.proofs.ray_backend.session`) at ``address``."""

    obligations: list[Obligation]
    build_args: BuildArgs
    jobs: int
    timeout: Callable[[Obligation], float]
    address: str
    events: Events = field(default_factory=Events)

    def run(self, indices: list[int]) -> dict[int, Outcome]:
        """Run the obligations at ``indices`` (in that order of start); return outcomes."""
        from .ray_backend import session

        with session(self.address) as ray:
            actor_class = ray.remote(num_cpus=1, max_restarts=0)(_ObligationActor)
            actors: list[_Actor] = []
            todo = list(indices)
            results: dict[int, Outcome] = {}
            try:
                while todo or any(a.index is not None for a in actors):
                    while todo:
                        idle = [a for a in actors if a.index is None]
                        if not idle:
                            if len(actors) >= self.jobs:
                                break
                            idle = [_Actor(actor_class.remote(self.build_args))]
                            actors.append(idle[0])
                        actor, next_index = idle[0], todo.pop(0)
                        actor.index, actor.started = next_index, time.monotonic()
                        actor.ref = actor.handle.run.remote(next_index)
                        if self.events.started:
                            self.events.started(next_index, self.obligations[next_index])
                    busy = [a for a in actors if a.index is not None]
                    ready, _rest = ray.wait(
                        [a.ref for a in busy], num_returns=len(busy), timeout=POLL_SECONDS
                    )
                    now = time.monotonic()
                    for actor in busy:
                        assert actor.index is not None
                        index = actor.index
                        ob = self.obligations[index]
                        if actor.ref in ready:
                            try:
                                outcome = ray.get(actor.ref)
                            except Exception as exc:  # the actor died or the task raised
                                outcome = Outcome(
                                    False, "error", f"the Ray worker failed: {type(exc).__name__}"
                                )
                                outcome.seconds = now - actor.started
                                ray.kill(actor.handle)
                                actors.remove(actor)
                            else:
                                actor.index = None
                        elif now - actor.started > self.timeout(ob):
                            outcome = _timed_out(self.timeout(ob), now - actor.started)
                            ray.kill(actor.handle)
                            actors.remove(actor)
                        else:
                            continue
                        _record(self.events, results, index, ob, outcome)
                    if self.events.tick:
                        self.events.tick()
            finally:
                for actor in actors:
                    with contextlib.suppress(Exception):
                        ray.kill(actor.handle)
        return results


def make_pool(
    obligations: list[Obligation],
    build_args: BuildArgs,
    *,
    jobs: int,
    timeout: Callable[[Obligation], float],
    events: Events,
    ray: str | None = None,
) -> Pool | RayPool:
    """A local :class:`Pool`, or with ``ray`` (an address, ``auto`` or ``local``)
    a :class:`RayPool`: the same outcomes and events either way."""
    if ray is None:
        return Pool(obligations, build_args, jobs=jobs, timeout=timeout, events=events)
    return RayPool(obligations, build_args, jobs=jobs, timeout=timeout, address=ray, events=events)
