"""A bound on local worker processes, shared by ``explore --workers`` and ``verify --jobs``.

Each local worker is a whole Python process (with Z3 for verify), so a typo
such as ``--workers 999`` on a laptop would start hundreds of processes that
only contend for the same cores; it is refused up front instead. With
``--ray`` the count is the cluster's business and is not bounded here.
"""

from __future__ import annotations

import os

from baton.errors import UsageError

PROCESSES_PER_CPU = 4
"""More local processes than this many per CPU cannot make a search or a proof run faster."""


def local_process_limit() -> int:
    """The most local worker processes a command accepts on this machine."""
    return PROCESSES_PER_CPU * (os.cpu_count() or 1)


def check_local_workers(option: str, count: int) -> None:
    """Refuse ``count`` local processes above :func:`local_process_limit` (exit 2)."""
    limit = local_process_limit()
    if count > limit:
        raise UsageError(
            f"{option} {count}: at most {limit} local processes ({PROCESSES_PER_CPU} per CPU)"
        )
