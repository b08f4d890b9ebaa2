"""The one storage interface: every byte Baton persists goes through a :class:`Disk`.

No ``os.fsync``, ``os.replace`` or write-mode
``open`` outside this module (``tests/test_storage_boundary.py`` scans the
package). Three implementations:

* :class:`PosixDisk` -- the real filesystem under a root directory. A failed
  ``fsync`` raises :class:`~baton.errors.DiskFault` and is never retried here:
  after a writeback error Linux may mark the dirty pages clean, so a second
  ``fsync`` can "succeed" with the data gone (PostgreSQL's 2018 "fsyncgate").
  Callers treat a failed fsync as fatal for that file.
* :class:`SimDisk` -- a simulated disk keeping a *volatile* image (what reads
  see) and a *durable* image (what survives a crash), plus the list of
  operations not yet made durable. :meth:`SimDisk.crash_states` enumerates
  every durable image a crash may leave under a :class:`PersistenceModel`;
  :meth:`SimDisk.crash` starts a new disk from one of them.
* :class:`FaultyDisk` -- wraps any disk and fails the Nth operation (once or
  forever) with EIO, ENOSPC or EROFS, as SQLite's fault VFS does.

Paths are relative, ``/``-separated and may not climb out of the root;
``""`` is the root directory itself.

The two persistence models (published with the pinned state counts in
``docs/durability.md``):

``JOURNALED`` (journaled Linux, ext4 ``data=ordered`` seen conservatively):
    directory operations (create, rename, remove, mkdir) reach the disk in
    program order, each atomically -- a crash keeps a *prefix* of them; a
    directory entry is durable only after ``fsync_dir`` of its parent. File
    data reaches the disk per file in program order -- a crash keeps a prefix
    of each file's unsynced writes, and the last kept write of a file may be
    exposed only as zeros (the size grew, the data did not land) or only
    partially (its first half). ``fsync`` of a file makes its data durable but
    not its name.
``ALICE_WEAK`` (ALICE's weakest model, OSDI 2014):
    every unsynced operation is split into micro-operations -- a rename into
    "link the new name" and "unlink the old name" (so both or neither name may
    survive), a write into "grow the size (zeros)", "first half" and "second
    half" -- and a crash keeps *any subset* of them, applied in program order.
"""

from __future__ import annotations

import enum
import errno as errno_codes
import itertools
import os
import posixpath
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from baton.errors import DiskFault

__all__ = [
    "DISK_OPERATIONS",
    "CrashState",
    "Disk",
    "FaultPlan",
    "FaultyDisk",
    "PersistenceModel",
    "PosixDisk",
    "SimDisk",
    "parent_dir",
    "write_artifact",
]

DISK_OPERATIONS: tuple[str, ...] = (
    "read",
    "write_file",
    "append",
    "fsync",
    "rename",
    "fsync_dir",
    "truncate",
    "listdir",
    "exists",
    "makedirs",
    "remove",
)
"""Every operation of the :class:`Disk` interface, by name (fault plans count them)."""


@runtime_checkable
class Disk(Protocol):
    """File operations on paths relative to a root. Nothing is durable until synced.

    ``write_file``, ``append``, ``truncate``, ``rename``, ``remove`` and
    ``makedirs`` change what reads see at once, but survive a crash only after
    ``fsync`` (file data) and ``fsync_dir`` of the parent (directory entries).
    Every failure is a :class:`~baton.errors.DiskFault` naming the path.
    """

    def read(self, path: str) -> bytes | None:
        """The file's current bytes, or None if it does not exist."""
        ...

    def write_file(self, path: str, data: bytes) -> None:
        """Create or truncate ``path`` and write ``data``; not synced."""
        ...

    def append(self, path: str, data: bytes) -> None:
        """Append ``data`` to the existing file ``path``; not synced."""
        ...

    def fsync(self, path: str) -> None:
        """Make the file's data durable (not its directory entry). Failure is fatal."""
        ...

    def rename(self, src: str, dst: str) -> None:
        """Atomically (in the volatile view) replace ``dst`` by ``src``; not synced."""
        ...

    def fsync_dir(self, dirpath: str) -> None:
        """Make the entries of directory ``dirpath`` durable ("" is the root)."""
        ...

    def truncate(self, path: str, size: int) -> None:
        """Cut (or zero-extend) the file to ``size`` bytes; not synced."""
        ...

    def listdir(self, dirpath: str) -> list[str]:
        """Names directly in ``dirpath``, sorted."""
        ...

    def exists(self, path: str) -> bool:
        """Whether a file or directory ``path`` exists (volatile view)."""
        ...

    def makedirs(self, dirpath: str) -> None:
        """Create ``dirpath`` and missing parents; not synced (fsync_dir the parents)."""
        ...

    def remove(self, path: str) -> None:
        """Remove the file ``path``; not synced."""
        ...


def _check_relative(path: str) -> str:
    """Normalise ``path`` and refuse absolute paths or ones climbing out of the root."""
    if path in ("", "."):
        return ""
    if path.startswith("/") or "\\" in path:
        raise ValueError(f"storage paths are relative and '/'-separated: {path!r}")
    norm = posixpath.normpath(path)
    if norm == ".." or norm.startswith("../"):
        raise ValueError(f"storage path climbs out of the root: {path!r}")
    return "" if norm == "." else norm


def parent_dir(path: str) -> str:
    """The directory holding ``path`` ("" for the root)."""
    return posixpath.dirname(_check_relative(path))


def _fault(path: str, code: int, what: str) -> DiskFault:
    return DiskFault(path, f"{errno_codes.errorcode.get(code, str(code))}: {what}", code)


# --- the real filesystem ------------------------------------------------------------


class PosixDisk:
    """The real filesystem under ``root``, with real ``fsync`` of files and directories."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = os.fspath(root)
        self._prefix = os.path.join(self.root, "")  # root plus one separator ("" for "")

    def _abs(self, path: str) -> str:
        if path and "/" not in path and "\\" not in path and path not in (".", ".."):
            # A plain name in the root (every node file): nothing to normalise. Checked
            # first because it is every call on the promotion and write paths.
            return self._prefix + path
        rel = _check_relative(path)
        return os.path.join(self.root, rel) if rel else self.root

    def _os_fault(self, path: str, exc: OSError, what: str) -> DiskFault:
        code = exc.errno if exc.errno is not None else errno_codes.EIO
        return _fault(path, code, f"{what} failed: {exc.strerror or exc}")

    def read(self, path: str) -> bytes | None:
        try:
            fd = os.open(self._abs(path), os.O_RDONLY)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self._os_fault(path, exc, "open for read") from exc
        try:
            chunks: list[bytes] = []
            while True:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    return b"".join(chunks)
                chunks.append(chunk)
        except OSError as exc:
            raise self._os_fault(path, exc, "read") from exc
        finally:
            os.close(fd)

    def _write_all(self, path: str, flags: int, data: bytes) -> None:
        try:
            fd = os.open(self._abs(path), flags, 0o644)
        except OSError as exc:
            raise self._os_fault(path, exc, "open for write") from exc
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
        except OSError as exc:
            raise self._os_fault(path, exc, "write") from exc
        finally:
            os.close(fd)

    def write_file(self, path: str, data: bytes) -> None:
        self._write_all(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, data)

    def append(self, path: str, data: bytes) -> None:
        # No O_CREAT: appending to a file that vanished is an error, not a fresh file.
        self._write_all(path, os.O_WRONLY | os.O_APPEND, data)

    def _fsync_fd(self, path: str, flags: int, what: str) -> None:
        try:
            fd = os.open(self._abs(path), flags)
        except OSError as exc:
            raise self._os_fault(path, exc, f"open for {what}") from exc
        try:
            os.fsync(fd)
        except OSError as exc:
            # fsyncgate: report and never retry -- a retry may "succeed" with data gone.
            raise self._os_fault(path, exc, what) from exc
        finally:
            os.close(fd)

    def fsync(self, path: str) -> None:
        self._fsync_fd(path, os.O_RDONLY, "fsync")

    def fsync_dir(self, dirpath: str) -> None:
        self._fsync_fd(dirpath, os.O_RDONLY | os.O_DIRECTORY, "fsync of directory")

    def rename(self, src: str, dst: str) -> None:
        try:
            os.replace(self._abs(src), self._abs(dst))
        except OSError as exc:
            raise self._os_fault(src, exc, f"rename to {dst}") from exc

    def truncate(self, path: str, size: int) -> None:
        try:
            os.truncate(self._abs(path), size)
        except OSError as exc:
            raise self._os_fault(path, exc, f"truncate to {size}") from exc

    def listdir(self, dirpath: str) -> list[str]:
        try:
            return sorted(os.listdir(self._abs(dirpath)))
        except OSError as exc:
            raise self._os_fault(dirpath, exc, "listdir") from exc

    def exists(self, path: str) -> bool:
        return os.path.lexists(self._abs(path))

    def makedirs(self, dirpath: str) -> None:
        try:
            os.makedirs(self._abs(dirpath), exist_ok=True)
        except OSError as exc:
            raise self._os_fault(dirpath, exc, "makedirs") from exc

    def remove(self, path: str) -> None:
        try:
            os.remove(self._abs(path))
        except OSError as exc:
            raise self._os_fault(path, exc, "remove") from exc


def write_artifact(path: str | os.PathLike[str], text: str) -> None:
    """Write a non-durable output file (a report, generated code) for the CLI.

    Not for node state: nothing here is synced. It exists so that the rule
    "write-mode open only in baton.storage" has one exit for
    artefacts that a crash may simply make the user regenerate.
    """
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


# --- the simulated disk ---------------------------------------------------------------


class PersistenceModel(enum.Enum):
    """What a crash may keep of the unsynced operations (see the module docstring)."""

    JOURNALED = "journaled"
    ALICE_WEAK = "alice-weak"


@dataclass
class _Image:
    """A namespace (path -> inode, directories) over inode contents."""

    entries: dict[str, int] = field(default_factory=dict)
    dirs: set[str] = field(default_factory=lambda: {""})
    inodes: dict[int, bytes] = field(default_factory=dict)

    def copy(self) -> _Image:
        return _Image(dict(self.entries), set(self.dirs), dict(self.inodes))

    def visible(self) -> CrashState:
        """Files reachable through a directory that exists, and the directories."""
        dirs = {d for d in self.dirs if _dir_reachable(d, self.dirs)}
        files = tuple(
            sorted(
                (path, self.inodes.get(inode, b""))
                for path, inode in self.entries.items()
                if parent_dir(path) in dirs
            )
        )
        return CrashState(files=files, dirs=tuple(sorted(dirs - {""})))


def _dir_reachable(d: str, dirs: set[str]) -> bool:
    while d:
        if d not in dirs:
            return False
        d = posixpath.dirname(d)
    return True


@dataclass(frozen=True)
class CrashState:
    """One durable image a crash may leave: the visible files and directories.

    ``label`` says which unsynced operations were kept (for failure messages);
    it is not part of equality, so equal images count once.
    """

    files: tuple[tuple[str, bytes], ...]
    dirs: tuple[str, ...]
    label: str = field(default="", compare=False)

    def file(self, path: str) -> bytes | None:
        for name, data in self.files:
            if name == path:
                return data
        return None


# Pending operations. Entry ops change the namespace; data ops change one inode.


@dataclass(frozen=True)
class _Link:
    path: str
    inode: int

    @property
    def parents(self) -> frozenset[str]:
        return frozenset({parent_dir(self.path)})


@dataclass(frozen=True)
class _Unlink:
    path: str

    @property
    def parents(self) -> frozenset[str]:
        return frozenset({parent_dir(self.path)})


@dataclass(frozen=True)
class _Rename:
    src: str
    dst: str
    inode: int
    replaces: bool = False  # ``dst`` existed: a non-atomic rename may lose it first

    @property
    def parents(self) -> frozenset[str]:
        return frozenset({parent_dir(self.src), parent_dir(self.dst)})


@dataclass(frozen=True)
class _Mkdir:
    path: str

    @property
    def parents(self) -> frozenset[str]:
        return frozenset({parent_dir(self.path)})


@dataclass(frozen=True)
class _Truncate:
    inode: int
    size: int


@dataclass(frozen=True)
class _PWrite:
    inode: int
    offset: int
    data: bytes


@dataclass(frozen=True)
class _Extend:
    """Grow the file to at least ``size`` bytes of zeros (an append's size landing first)."""

    inode: int
    size: int


_EntryOp = _Link | _Unlink | _Rename | _Mkdir
_DataOp = _Truncate | _PWrite | _Extend
_Op = _EntryOp | _DataOp


def _apply(image: _Image, op: _Op) -> None:
    if isinstance(op, _Link):
        image.entries[op.path] = op.inode
    elif isinstance(op, _Unlink):
        image.entries.pop(op.path, None)
    elif isinstance(op, _Rename):
        image.entries.pop(op.src, None)
        image.entries[op.dst] = op.inode
    elif isinstance(op, _Mkdir):
        image.dirs.add(op.path)
    elif isinstance(op, _Truncate):
        old = image.inodes.get(op.inode, b"")
        image.inodes[op.inode] = old[: op.size] + bytes(max(0, op.size - len(old)))
    elif isinstance(op, _Extend):
        old = image.inodes.get(op.inode, b"")
        image.inodes[op.inode] = old + bytes(max(0, op.size - len(old)))
    else:
        old = image.inodes.get(op.inode, b"")
        padded = old + bytes(max(0, op.offset - len(old)))
        image.inodes[op.inode] = padded[: op.offset] + op.data + padded[op.offset + len(op.data) :]


def _is_entry_op(op: _Op) -> bool:
    return isinstance(op, _Link | _Unlink | _Rename | _Mkdir)


def _op_inode(op: _Op) -> int:
    assert isinstance(op, _Truncate | _PWrite | _Extend)
    return op.inode


MAX_ENUMERATED_MICRO_OPS = 18
"""ALICE_WEAK enumerates every subset; beyond this many micro-ops we refuse rather than stall."""


class SimDisk:
    """A simulated disk: volatile and durable images plus the unsynced operations.

    Deterministic: inode numbers come from a counter and nothing reads a clock.
    ``crash_states(model)`` lists the distinct durable images a crash may leave
    now; ``crash(state)`` returns a fresh disk holding one of them (volatile ==
    durable, nothing pending), the way a rebooted machine would see it.
    """

    def __init__(self, image: CrashState | None = None) -> None:
        self._durable = _Image()
        self._next_inode = 1
        if image is not None:
            for d in image.dirs:
                self._durable.dirs.add(d)
            for path, data in image.files:
                inode = self._new_inode()
                self._durable.entries[path] = inode
                self._durable.inodes[inode] = data
        self._volatile = self._durable.copy()
        self._pending: list[_Op] = []
        self.fsync_count = 0
        self.fsync_dir_count = 0

    # -- helpers
    def _new_inode(self) -> int:
        inode = self._next_inode
        self._next_inode += 1
        return inode

    def _require_dir(self, dirpath: str, path: str) -> None:
        if dirpath not in self._volatile.dirs:
            raise _fault(path, errno_codes.ENOENT, f"directory {dirpath!r} does not exist")

    def _require_file(self, path: str) -> int:
        rel = _check_relative(path)
        inode = self._volatile.entries.get(rel)
        if inode is None:
            code = errno_codes.EISDIR if rel in self._volatile.dirs else errno_codes.ENOENT
            raise _fault(path, code, "no such file")
        return inode

    def _record(self, op: _Op) -> None:
        _apply(self._volatile, op)
        self._pending.append(op)

    # -- the Disk interface
    def read(self, path: str) -> bytes | None:
        rel = _check_relative(path)
        if rel in self._volatile.dirs:
            raise _fault(path, errno_codes.EISDIR, "is a directory")
        inode = self._volatile.entries.get(rel)
        return None if inode is None else self._volatile.inodes.get(inode, b"")

    def write_file(self, path: str, data: bytes) -> None:
        rel = _check_relative(path)
        self._require_dir(parent_dir(rel), path)
        if rel in self._volatile.dirs:
            raise _fault(path, errno_codes.EISDIR, "is a directory")
        inode = self._volatile.entries.get(rel)
        if inode is None:
            inode = self._new_inode()
            self._record(_Link(rel, inode))
        else:
            self._record(_Truncate(inode, 0))
        if data:
            self._record(_PWrite(inode, 0, bytes(data)))

    def append(self, path: str, data: bytes) -> None:
        inode = self._require_file(path)
        if data:
            size = len(self._volatile.inodes.get(inode, b""))
            self._record(_PWrite(inode, size, bytes(data)))

    def fsync(self, path: str) -> None:
        inode = self._require_file(path)
        self.fsync_count += 1
        kept: list[_Op] = []
        for op in self._pending:
            if not _is_entry_op(op) and _op_inode(op) == inode:
                _apply(self._durable, op)
            else:
                kept.append(op)
        self._pending = kept

    def fsync_dir(self, dirpath: str) -> None:
        rel = _check_relative(dirpath)
        if rel not in self._volatile.dirs:
            raise _fault(dirpath, errno_codes.ENOENT, "no such directory")
        self.fsync_dir_count += 1
        kept: list[_Op] = []
        for op in self._pending:
            if isinstance(op, _Link | _Unlink | _Rename | _Mkdir) and rel in op.parents:
                _apply(self._durable, op)
            else:
                kept.append(op)
        self._pending = kept

    def rename(self, src: str, dst: str) -> None:
        inode = self._require_file(src)
        rel_dst = _check_relative(dst)
        self._require_dir(parent_dir(rel_dst), dst)
        if rel_dst in self._volatile.dirs:
            raise _fault(dst, errno_codes.EISDIR, "rename target is a directory")
        replaces = rel_dst in self._volatile.entries
        self._record(_Rename(_check_relative(src), rel_dst, inode, replaces))

    def truncate(self, path: str, size: int) -> None:
        inode = self._require_file(path)
        if size < 0:
            raise _fault(path, errno_codes.EINVAL, f"negative size {size}")
        self._record(_Truncate(inode, size))

    def listdir(self, dirpath: str) -> list[str]:
        rel = _check_relative(dirpath)
        if rel not in self._volatile.dirs:
            raise _fault(dirpath, errno_codes.ENOENT, "no such directory")
        names = {posixpath.basename(p) for p in self._volatile.entries if parent_dir(p) == rel}
        names |= {posixpath.basename(d) for d in self._volatile.dirs if d and parent_dir(d) == rel}
        return sorted(names)

    def exists(self, path: str) -> bool:
        rel = _check_relative(path)
        return rel in self._volatile.entries or rel in self._volatile.dirs

    def makedirs(self, dirpath: str) -> None:
        rel = _check_relative(dirpath)
        parts = rel.split("/") if rel else []
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d in self._volatile.entries:
                raise _fault(dirpath, errno_codes.ENOTDIR, f"{d!r} is a file")
            if d not in self._volatile.dirs:
                self._record(_Mkdir(d))

    def remove(self, path: str) -> None:
        self._require_file(path)
        self._record(_Unlink(_check_relative(path)))

    # -- faults and crashes
    def drop_unsynced_data(self, path: str) -> None:
        """A failed fsync: the kernel may mark dirty pages clean and forget them.

        The volatile view still shows the data; the durable image never gets
        it, and a later fsync "succeeds" without it (fsyncgate).
        """
        inode = self._volatile.entries.get(_check_relative(path))
        self._pending = [op for op in self._pending if _is_entry_op(op) or _op_inode(op) != inode]

    @property
    def pending_count(self) -> int:
        """How many operations are not yet durable."""
        return len(self._pending)

    def durable_state(self) -> CrashState:
        """The image a crash that keeps nothing unsynced leaves."""
        return self._durable.visible()

    def volatile_state(self) -> CrashState:
        """The image reads see now (a crash that keeps everything leaves this)."""
        return self._volatile.visible()

    def crash(self, choice: CrashState | None = None) -> SimDisk:
        """A rebooted disk holding ``choice`` (default: only what is durable)."""
        return SimDisk(choice if choice is not None else self.durable_state())

    def crash_states(self, model: PersistenceModel) -> list[CrashState]:
        """Every distinct durable image a crash now may leave under ``model``.

        Sorted deterministically; always includes the durable image (nothing
        unsynced kept) and the volatile one (everything kept).
        """
        if model is PersistenceModel.JOURNALED:
            states = self._journaled_states()
        else:
            states = self._weak_states()
        unique: dict[CrashState, CrashState] = {}
        for state in states:
            unique.setdefault(state, state)
        return sorted(unique.values(), key=lambda s: (s.files, s.dirs))

    def _journaled_states(self) -> Iterator[CrashState]:
        entry_ops = [op for op in self._pending if _is_entry_op(op)]
        by_inode: dict[int, list[_DataOp]] = {}
        for op in self._pending:
            if not _is_entry_op(op):
                assert isinstance(op, _Truncate | _PWrite | _Extend)
                by_inode.setdefault(op.inode, []).append(op)
        # Per file: a prefix of its data ops; the last kept write may be zeros or half.
        per_inode: list[list[tuple[str, list[_DataOp]]]] = []
        for inode, ops in sorted(by_inode.items()):
            options: list[tuple[str, list[_DataOp]]] = [(f"inode {inode}: none", [])]
            for q in range(1, len(ops) + 1):
                last = ops[q - 1]
                head = ops[: q - 1]
                options.append((f"inode {inode}: {q} ops", [*head, last]))
                if isinstance(last, _PWrite):
                    grown = _Extend(inode, last.offset + len(last.data))
                    options.append((f"inode {inode}: {q} ops, last as zeros", [*head, grown]))
                    if len(last.data) >= 2:
                        half = _PWrite(inode, last.offset, last.data[: len(last.data) // 2])
                        options.append((f"inode {inode}: {q} ops, last half", [*head, half]))
            per_inode.append(options)
        for p in range(len(entry_ops) + 1):
            for combo in itertools.product(*per_inode):
                image = self._durable.copy()
                for op in entry_ops[:p]:
                    _apply(image, op)
                for _label, ops in combo:
                    for data_op in ops:
                        _apply(image, data_op)
                labels = [f"entries {p}/{len(entry_ops)}", *(label for label, _ in combo)]
                yield _labelled(image.visible(), "journaled: " + "; ".join(labels))

    def _weak_states(self) -> Iterator[CrashState]:
        micro: list[_Op] = []
        for op in self._pending:
            if isinstance(op, _Rename):
                # Not atomic: the old target may go before the new link lands.
                micro += [_Unlink(op.dst)] if op.replaces else []
                micro += [_Link(op.dst, op.inode), _Unlink(op.src)]
            elif isinstance(op, _PWrite) and op.data:
                micro.append(_Extend(op.inode, op.offset + len(op.data)))
                h = len(op.data) // 2
                if h:
                    micro.append(_PWrite(op.inode, op.offset, op.data[:h]))
                micro.append(_PWrite(op.inode, op.offset + h, op.data[h:]))
            else:
                micro.append(op)
        if len(micro) > MAX_ENUMERATED_MICRO_OPS:
            raise ValueError(
                f"{len(micro)} unsynced micro-operations: too many to enumerate "
                f"(limit {MAX_ENUMERATED_MICRO_OPS}); sync more often in this workload"
            )
        for mask in range(1 << len(micro)):
            image = self._durable.copy()
            kept = [op for i, op in enumerate(micro) if mask >> i & 1]
            # Dependency: an entry cannot land in a directory that did not.
            if any(
                isinstance(op, _Link) and not _dir_would_exist(parent_dir(op.path), image, kept)
                for op in kept
            ):
                continue
            for op in kept:
                _apply(image, op)
            yield _labelled(image.visible(), f"alice-weak: kept {mask:0{len(micro)}b}")


def _dir_would_exist(d: str, image: _Image, kept: Sequence[_Op]) -> bool:
    made = {op.path for op in kept if isinstance(op, _Mkdir)}
    while d:
        if d not in image.dirs and d not in made:
            return False
        d = posixpath.dirname(d)
    return True


def _labelled(state: CrashState, label: str) -> CrashState:
    return CrashState(files=state.files, dirs=state.dirs, label=label)


# --- fault injection --------------------------------------------------------------------


@dataclass(frozen=True)
class FaultPlan:
    """Fail the ``nth`` counted operation (1-based) with ``errno``; ``forever``: and all after.

    ``ops`` limits which operations count (None: every operation, reads included).
    ``partial``: a failing ``write_file``/``append`` first writes half its data,
    as a real ``write`` may before ENOSPC or EIO.
    """

    nth: int
    errno: int = errno_codes.EIO
    forever: bool = False
    ops: frozenset[str] | None = None
    partial: bool = False

    def __post_init__(self) -> None:
        if self.nth < 1:
            raise ValueError(f"FaultPlan.nth is 1-based, got {self.nth}")
        if self.ops is not None and not self.ops <= set(DISK_OPERATIONS):
            raise ValueError(
                f"unknown disk operations in plan: {sorted(self.ops - set(DISK_OPERATIONS))}"
            )


class FaultyDisk:
    """Wraps a disk and fails operations per a :class:`FaultPlan` (SQLite's fault VFS).

    A failed operation does nothing, except a failed ``fsync`` over a
    :class:`SimDisk`, which also loses that file's unsynced data the way Linux
    may after a writeback error -- so code that retries an fsync and trusts
    it is caught by the crash checks.
    """

    def __init__(self, inner: Disk, plan: FaultPlan) -> None:
        self.inner = inner
        self.plan = plan
        self.count = 0
        self.faults_injected = 0

    def _gate(self, op: str, path: str, data: bytes = b"") -> None:
        if self.plan.ops is not None and op not in self.plan.ops:
            return
        self.count += 1
        if self.count == self.plan.nth or (self.plan.forever and self.count > self.plan.nth):
            self.faults_injected += 1
            if op == "fsync" and isinstance(self.inner, SimDisk):
                self.inner.drop_unsynced_data(path)
            if self.plan.partial and op in ("write_file", "append"):
                getattr(self.inner, op)(path, data[: len(data) // 2])
            raise _fault(path, self.plan.errno, f"injected fault on {op} (operation #{self.count})")

    def read(self, path: str) -> bytes | None:
        self._gate("read", path)
        return self.inner.read(path)

    def write_file(self, path: str, data: bytes) -> None:
        self._gate("write_file", path, data)
        self.inner.write_file(path, data)

    def append(self, path: str, data: bytes) -> None:
        self._gate("append", path, data)
        self.inner.append(path, data)

    def fsync(self, path: str) -> None:
        self._gate("fsync", path)
        self.inner.fsync(path)

    def rename(self, src: str, dst: str) -> None:
        self._gate("rename", src)
        self.inner.rename(src, dst)

    def fsync_dir(self, dirpath: str) -> None:
        self._gate("fsync_dir", dirpath)
        self.inner.fsync_dir(dirpath)

    def truncate(self, path: str, size: int) -> None:
        self._gate("truncate", path)
        self.inner.truncate(path, size)

    def listdir(self, dirpath: str) -> list[str]:
        self._gate("listdir", dirpath)
        return self.inner.listdir(dirpath)

    def exists(self, path: str) -> bool:
        self._gate("exists", path)
        return self.inner.exists(path)

    def makedirs(self, dirpath: str) -> None:
        self._gate("makedirs", dirpath)
        self.inner.makedirs(dirpath)

    def remove(self, path: str) -> None:
        self._gate("remove", path)
        self.inner.remove(path)
