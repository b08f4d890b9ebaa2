"""Named failpoints on the durable path, for crash tests with real processes.

Every file operation of the marker write and of the WAL calls
``failpoints.hit(name)`` just *before* it runs. A failpoint fires in one of
two ways:

* ``BATON_FAILPOINT=name[:count]`` in the environment: on the ``count``-th
  hit (default 1) the process writes ``failpoint hit: name`` to stderr and
  kills itself with SIGKILL (``BATON_FAILPOINT_ACTION=exit`` uses
  ``os._exit(137)`` instead) -- nothing is flushed, nothing cleaned up, exactly
  like a power cut of the process;
* :func:`install` a callback, for in-process tests (it may raise).

Zero cost when unused: :func:`hit` checks one module-level flag first.
The list of names is pinned in :data:`FAILPOINTS`; hitting an unknown name
while failpoints are armed raises, so the list cannot silently drift from the
call sites (``tests/test_kill.py`` also checks every name is hit).
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from baton.errors import UsageError

__all__ = [
    "ENV_ACTION",
    "ENV_VAR",
    "FAILPOINTS",
    "FailpointError",
    "FailpointSpecError",
    "hit",
    "install",
    "uninstall",
]

FAILPOINTS: tuple[str, ...] = (
    "marker.write_temp",
    "marker.fsync_temp",
    "marker.rename",
    "marker.fsync_dir",
    "wal.append",
    "wal.fsync",
    "wal.synced_end",
)
"""Every failpoint, in the order a promotion followed by a synced write meets them."""

ENV_VAR = "BATON_FAILPOINT"
ENV_ACTION = "BATON_FAILPOINT_ACTION"


class FailpointError(ValueError):
    """A failpoint name or specification that is not in the pinned list."""


class FailpointSpecError(FailpointError, UsageError):
    """A bad ``BATON_FAILPOINT`` value: user input, so the CLI reports one line (exit 2)."""


def _parse(spec: str) -> tuple[str, int]:
    name, _, count_text = spec.partition(":")
    if name not in FAILPOINTS:
        raise FailpointSpecError(
            f"{ENV_VAR}={spec!r}: unknown failpoint {name!r} (known: {', '.join(FAILPOINTS)})"
        )
    try:
        count = int(count_text) if count_text else 1
    except ValueError:
        raise FailpointSpecError(f"{ENV_VAR}={spec!r}: count must be an integer") from None
    if count < 1:
        raise FailpointSpecError(f"{ENV_VAR}={spec!r}: count must be >= 1")
    return name, count


_env_target: tuple[str, int] | None = (
    _parse(os.environ[ENV_VAR]) if os.environ.get(ENV_VAR) else None
)
_callback: Callable[[str], None] | None = None
_hits: dict[str, int] = {}
_armed: bool = _env_target is not None
"""The one flag :func:`hit` reads when no failpoint is in use."""


def hit(name: str) -> None:
    """Mark that the operation ``name`` is about to run; fire if armed for it."""
    if not _armed:
        return
    _fire(name)


def _fire(name: str) -> None:
    if name not in FAILPOINTS:
        raise FailpointError(f"failpoint {name!r} is not in the pinned FAILPOINTS list")
    _hits[name] = _hits.get(name, 0) + 1
    if _callback is not None:
        _callback(name)
    if _env_target is not None and _env_target == (name, _hits[name]):
        sys.stderr.write(f"failpoint hit: {name}\n")
        sys.stderr.flush()
        if os.environ.get(ENV_ACTION) == "exit":
            os._exit(137)
        os.kill(os.getpid(), signal.SIGKILL)


def install(callback: Callable[[str], None]) -> None:
    """Call ``callback(name)`` at every failpoint (in-process tests); it may raise."""
    global _callback, _armed
    _callback = callback
    _armed = True


def uninstall() -> None:
    """Remove the callback; failpoints cost nothing again unless the env var armed them."""
    global _callback, _armed
    _callback = None
    _hits.clear()
    _armed = _env_target is not None


@contextmanager
def installed(callback: Callable[[str], None]) -> Iterator[None]:
    """``with installed(cb): ...`` -- install for the block, uninstall after."""
    install(callback)
    try:
        yield
    finally:
        uninstall()


def hits() -> dict[str, int]:
    """How often each failpoint was hit since arming (a copy)."""
    return dict(_hits)
