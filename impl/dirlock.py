"""An exclusive OS lock on a directory, held for the life of the process.

The spec assumes a single controller (``single_controller``): one process
decides for a cluster at a time. :class:`DirectoryLock` makes that assumption
observable for node directories. It takes ``fcntl.flock(LOCK_EX | LOCK_NB)``
on a lock file inside the directory and keeps the descriptor open until
:meth:`DirectoryLock.release` (or the process ends: the kernel drops a flock
with the last descriptor, so a SIGKILLed holder never leaves a stale lock).

Why ``flock`` and not ``fcntl``/POSIX record locks: POSIX locks belong to the
process and are dropped when *any* descriptor of the file is closed, and a
second open in the same process does not conflict. A flock belongs to the open
file description, so a second :class:`DirectoryLock` on the same directory --
from another process or another handle in this one -- is refused too.

The holder writes its pid and command line into the lock file once it holds
the lock; a refused caller reads them back to name the holder. The file's
content is advisory (the lock is the flock); it is never removed, since
removing it would let a third process lock a fresh inode while the second
still holds the old one.
"""

from __future__ import annotations

import errno
import fcntl
import os
import sys
from pathlib import Path
from types import TracebackType

from baton.errors import DirectoryLocked, UsageError

LOCK_FILE = ".baton.lock"
_HOLDER_LIMIT = 512


def describe_self() -> str:
    """How this process names itself in a lock file: pid and command line."""
    command = " ".join(sys.argv) if sys.argv and sys.argv[0] else sys.executable
    return f"pid {os.getpid()}: {command}"


def _one_line(text: str) -> str:
    """The holder's text on one printable line (it comes from a file anyone can write)."""
    text = text.strip()[:_HOLDER_LIMIT]
    return "".join(ch if ch.isprintable() else "?" for ch in text) or "holder unknown"


class DirectoryLock:
    """``with DirectoryLock(path):`` -- or ``.acquire()`` / ``.release()``.

    Raises :class:`~baton.errors.DirectoryLocked` (a UsageError: exit 2 from
    the CLI) if another holder has the directory, and a plain UsageError if
    the directory cannot be opened or locked at all (missing, not a directory,
    read-only).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> DirectoryLock:
        if self._fd is not None:
            return self
        lock_path = self.path / LOCK_FILE
        try:
            if not self.path.is_dir():
                raise UsageError(f"{self.path}: not a directory (cannot lock it)")
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise UsageError(f"{self.path}: cannot lock: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _read_holder(fd)
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise DirectoryLocked(os.fspath(self.path), holder) from None
            raise UsageError(f"{self.path}: cannot lock: {exc.strerror or exc}") from None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, (describe_self() + "\n").encode(), 0)
        except OSError:
            pass  # the name is a courtesy to whoever is refused next; the lock holds anyway
        self._fd = fd
        return self

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the last descriptor drops the flock

    def __enter__(self) -> DirectoryLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _read_holder(fd: int) -> str:
    try:
        data = os.pread(fd, _HOLDER_LIMIT, 0)
    except OSError:
        return "holder unknown"
    return _one_line(data.decode("utf-8", "replace"))
