"""Baton's error families, under one base.

Two families are kept apart: *caller misuse* -- asking the protocol for
something it forbids -- and *bad input* from disk, peers or files handed to
the CLI. Every error carries the facts a reader needs (state and event, file
and reason, line and field) as attributes, not only in the message.

The CLI (:mod:`baton.cli`) reports any of them that reaches it on one line
with exit status 2; anything else that escapes a command is a bug in Baton
(exit status 3).
"""

from __future__ import annotations


class BatonError(Exception):
    """Base of every error Baton raises on purpose."""


class UsageError(BatonError):
    """Bad command-line usage: reported on one line, exit status 2."""


# --- caller misuse -------------------------------------------------------------


class ProtocolError(BatonError):
    """The caller asked for something the protocol forbids; nothing changed."""


class IllegalTransition(ProtocolError):
    """An event that the lifecycle table does not allow in the current state."""

    def __init__(self, state: str, event: str) -> None:
        super().__init__(f"illegal lifecycle transition: event {event!r} in state {state!r}")
        self.state = state
        self.event = event


class DuplicateRequest(ProtocolError):
    """A promotion request while an attempt is already in progress."""

    def __init__(self, candidate: str, in_progress: str, state: str) -> None:
        super().__init__(
            f"promotion request for {candidate!r} rejected: an attempt for {in_progress!r} "
            f"is in progress (state {state})"
        )
        self.candidate = candidate
        self.in_progress = in_progress
        self.state = state


class UnknownNode(ProtocolError):
    """A node id that is not part of the cluster."""

    def __init__(self, node: str, known: tuple[str, ...] = ()) -> None:
        hint = f" (known nodes: {', '.join(known)})" if known else ""
        super().__init__(f"unknown node {node!r}{hint}")
        self.node = node
        self.known = known


class InapplicableRequest(ProtocolError):
    """A request that cannot apply (ill-formed, or the candidate cannot be promoted)."""


class ActionNotEnabled(ProtocolError):
    """A cluster action whose guard does not hold in the current state; nothing changed."""

    def __init__(self, action: str, reason: str) -> None:
        super().__init__(f"{action} refused: {reason}")
        self.action = action
        self.reason = reason


class AbortAfterRename(ActionNotEnabled):
    """An operator's abort asked for once the candidate's marker rename happened.

    After the rename the new marker is what recovery would read, though it may
    not be durable yet: forgetting the attempt then would let the candidate
    serve an epoch a crash can take back (P6-A3) -- only completion or a crash
    and recovery decide the authority (P6-F2). Nothing changed.
    """

    def __init__(self, candidate: str, stage: int, ops: int) -> None:
        super().__init__(
            f"abort({candidate})",
            f"the marker rename of {candidate} has happened ({stage}/{ops} marker operations "
            "done): the new authority is visible and only completion or crash recovery "
            "decides it (P6-F2, P6-A3)",
        )
        self.candidate = candidate
        self.stage = stage


# --- bad input: disk ---------------------------------------------------------------


class StorageError(BatonError):
    """A problem with what is (or is not) on disk; the node refuses to guess."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class MarkerCorrupt(StorageError):
    """The authority marker is torn, truncated or fails its checksum: fail closed."""


class MarkerMissing(StorageError):
    """The node was initialised but its authority marker is gone: never a fresh start."""


class NotInitialised(StorageError):
    """The directory holds no node (no durable identity)."""


class WalCorruption(StorageError):
    """A WAL record before the tail is corrupt: the node halts."""

    def __init__(
        self, path: str, reason: str, *, offset: int | None = None, lsn: int | None = None
    ) -> None:
        super().__init__(path, reason)
        self.offset = offset
        self.lsn = lsn


class WalMissing(WalCorruption):
    """The node was initialised but its WAL file is gone: never a fresh start."""


class IdentityCorrupt(StorageError):
    """The durable node identity is torn or fails its checksum: fail closed."""


class DiskFault(StorageError):
    """An I/O operation failed (EIO, ENOSPC, EROFS ...); nothing is acknowledged."""

    def __init__(self, path: str, reason: str, errno: int | None = None) -> None:
        super().__init__(path, reason)
        self.errno = errno


# --- bad input: files given to the CLI ---------------------------------------------


class InputError(BatonError):
    """A malformed input file (scenario, trace): names the line and the field."""

    def __init__(self, source: str, line: int | None, field: str | None, reason: str) -> None:
        where = source
        if line is not None:
            where += f":{line}"
        if field is not None:
            where += f": field {field!r}"
        super().__init__(f"{where}: {reason}")
        self.source = source
        self.line = line
        self.field = field
        self.reason = reason


class DirectoryLocked(UsageError):
    """Another process (or another handle in this one) holds a node directory.

    Baton assumes a single controller (``single_controller``); two processes
    acting on one node directory would be two. ``holder`` describes the
    process that holds the lock as it recorded itself (pid and command), or
    says that it could not be read.
    """

    def __init__(self, path: str, holder: str) -> None:
        super().__init__(f"directory {path} is in use by another Baton process ({holder})")
        self.path = path
        self.holder = holder


class ForceContradicted(InapplicableRequest):
    """A forced request over an uncertain primary while the runtime sees a writer.

    The spec assumes ``force_is_truthful``: an operator forces over a primary of
    Unknown status only when no other node really admits writes. When the runtime
    itself observes a node admitting writes, the operator's word is contradicted
    and the request is refused (P6-A1a), unless the caller dropped that
    assumption by name for a demonstration.
    """

    def __init__(self, candidate: str, writers: tuple[str, ...]) -> None:
        super().__init__(
            f"forced promotion of {candidate!r} refused: the primary is marked uncertain, but "
            f"{', '.join(writers)} admits writes (force_is_truthful; P6-A1a, P6-A1)"
        )
        self.candidate = candidate
        self.writers = writers
        self.assumption = "force_is_truthful"
