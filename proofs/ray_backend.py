"""Ray as a transport: the partitioned search on actors, independent jobs as tasks.

Ray is optional (``pip install -e '.[ray]'`` in a checkout): nothing imports this module
unless a command runs with ``--ray``, and :func:`import_ray` turns a missing
Ray into a one-line usage error.

* :func:`session` connects to a cluster (an address, or ``auto``) or starts a
  local instance on loopback with the machine's cores (:data:`LOCAL`), and
  shuts down only what it started.
* :func:`ray_backend` runs :class:`baton.proofs.distributed.Partition` as Ray
  actors, one CPU each. The coordinator never holds the successor batches:
  each actor's round returns one object per destination partition, and the
  next round's call on partition ``j`` takes the ``j``-th objects of every
  actor as arguments, so Ray moves them from actor to actor.
* :func:`map_jobs` runs independent jobs (proof obligations, seeds) as Ray
  tasks and yields each result as it completes, for the caller's progress
  display and report (the same as a local run's).
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, TypeVar

from baton.commands.ray_option import LOCAL as LOCAL  # re-exported: the --ray default
from baton.errors import UsageError

from . import distributed

LOOPBACK_ONLY = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
"""Ray's switch (read when ray is imported) between a cluster-reachable node
address and loopback; "0" keeps a local instance on 127.0.0.1."""

# Never 'pip install baton[ray]': the name baton on PyPI is another project.
INSTALL_HINT = (
    "--ray needs Ray, which is not installed: pip install 'ray>=2.60' "
    "(in a checkout of Baton: pip install -e '.[ray]')"
)


def require_ray() -> None:
    """A usage error saying how to install Ray if it is missing (without
    importing it: :func:`session` must set its environment first)."""
    try:
        found = importlib.util.find_spec("ray") is not None
    except (ImportError, ValueError):  # a broken or blocked module counts as missing
        found = False
    if not found:
        raise UsageError(INSTALL_HINT)


def import_ray() -> ModuleType:
    """The ``ray`` module, or a usage error saying how to install it."""
    require_ray()
    try:
        import ray
    except ImportError:
        raise UsageError(INSTALL_HINT) from None
    module: ModuleType = ray  # typed here: without Ray installed, mypy sees Any
    return module


@contextlib.contextmanager
def session(address: str) -> Iterator[ModuleType]:
    """Ray, initialised: a local instance for :data:`LOCAL` (loopback only, every
    core, no dashboard), else the cluster at ``address`` (``auto``: the one
    this machine belongs to). A session already open (e.g. by a test) is reused
    and left open."""
    if address == LOCAL:
        # Without this, Ray on Linux advertises the machine's outward address and
        # its servers listen on every interface; a local instance needs loopback only.
        os.environ.setdefault(LOOPBACK_ONLY, "0")
    ray = import_ray()
    started = False
    if not ray.is_initialized():
        quiet: dict[str, Any] = {"logging_level": logging.ERROR, "log_to_driver": False}
        try:
            if address == LOCAL:
                ray.init(
                    num_cpus=os.cpu_count() or 1,
                    include_dashboard=False,
                    **quiet,
                )
            else:
                ray.init(address=address, **quiet)
        except (ConnectionError, ValueError, RuntimeError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise UsageError(f"--ray {address}: cannot start or reach Ray: {first}") from None
        started = True
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


def cluster_cpus(ray: ModuleType) -> int:
    """CPUs the cluster offers (at least 1)."""
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


@dataclass
class RayBackend:
    """The partitions as Ray actors (one CPU each)."""

    spec: distributed.SearchSpec
    address: str
    workers: int
    _stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    _actors: list[Any] = field(default_factory=list)
    _pending: list[list[Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        ray = self._stack.enter_context(session(self.address))
        self._ray = ray
        cpus = cluster_cpus(ray)
        if self.workers == 0:
            self.workers = cpus
        if self.workers > cpus:
            self._stack.close()
            raise UsageError(
                f"--workers {self.workers}: the Ray cluster has {cpus} CPUs "
                "(each partition is an actor holding one)"
            )
        actor_class = ray.remote(num_cpus=1)(distributed.Partition)
        self._actors = [
            actor_class.remote(self.spec, self.workers, index) for index in range(self.workers)
        ]
        # Started (each compiles the spec) before the search's clock starts.
        ray.get([actor.ready.remote() for actor in self._actors])

    def level(self, first: distributed.Batch | None) -> list[distributed.LevelReport]:
        k = self.workers
        calls = []
        for j, actor in enumerate(self._actors):
            if first is not None:
                args: Sequence[Any] = [first] if distributed.owner(first[0][0], k) == j else []
            else:
                args = [refs[1 + j] for refs in self._pending]
            calls.append(actor.level.options(num_returns=k + 1).remote(*args))
        self._pending = calls
        reports: list[distributed.LevelReport] = self._ray.get([refs[0] for refs in calls])
        return reports

    def parent(self, key: bytes) -> bytes:
        actor = self._actors[distributed.owner(key, self.workers)]
        parent: bytes = self._ray.get(actor.parent.remote(key))
        return parent

    def close(self) -> None:
        self._pending = []
        for actor in self._actors:
            with contextlib.suppress(Exception):
                self._ray.kill(actor)
        self._actors = []
        self._stack.close()


def ray_backend(
    address: str, workers: int
) -> Callable[[distributed.SearchSpec], distributed.Backend]:
    """A factory of :class:`RayBackend` on the cluster at ``address`` (:func:`session`)
    with ``workers`` actors (0: one per CPU of the cluster)."""

    def start(spec: distributed.SearchSpec) -> distributed.Backend:
        return RayBackend(spec, address, workers)

    return start


# --- independent jobs as tasks ------------------------------------------------------------

Job = TypeVar("Job")
Out = TypeVar("Out")


def map_jobs(
    ray: ModuleType,
    function: Callable[[Job], Out],
    jobs: Sequence[Job],
    *,
    started: Callable[[int], None] | None = None,
    stop: Callable[[], bool] | None = None,
    window: int = 0,
) -> Generator[tuple[int, Out], None, None]:
    """Run ``function(job)`` for every job as a Ray task (one CPU each); yield
    ``(index, result)`` as each completes. At most ``window`` tasks are in
    flight (0: twice the cluster's CPUs), so a progress display sees the jobs
    start; ``started(index)`` is told when one is submitted. Once ``stop()``
    is true no further job starts. Closing the iterator early (an interrupt,
    a usage error) cancels the tasks still running."""
    remote = ray.remote(num_cpus=1)(function)
    limit = window or 2 * cluster_cpus(ray)
    todo = list(range(len(jobs)))
    todo.reverse()
    running: dict[Any, int] = {}
    try:
        while todo or running:
            if stop is not None and stop():
                todo.clear()
            while todo and len(running) < limit:
                index = todo.pop()
                running[remote.remote(jobs[index])] = index
                if started is not None:
                    started(index)
            if not running:
                break
            done, _rest = ray.wait(list(running), num_returns=1)
            for ref in done:
                yield running.pop(ref), ray.get(ref)
    finally:
        for ref in running:
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)
