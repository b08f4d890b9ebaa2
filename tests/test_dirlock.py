"""DirectoryLock: one holder per node directory (the ``single_controller`` assumption).

Two processes: the second is refused with an error naming the directory and
the holder; the lock dies with its holder (SIGKILL leaves no stale lock).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from baton.dirlock import LOCK_FILE, DirectoryLock
from baton.errors import DirectoryLocked, UsageError

_HOLDER = textwrap.dedent(
    """
    import sys
    from baton.dirlock import DirectoryLock
    lock = DirectoryLock(sys.argv[1]).acquire()
    print("locked", flush=True)
    sys.stdin.read()  # hold until the parent closes our stdin (or kills us)
    """
)


def _start_holder(path: Path) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, os.fspath(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "locked"
    return child


def test_second_process_is_refused_naming_directory_and_holder(tmp_path: Path) -> None:
    child = _start_holder(tmp_path)
    try:
        with pytest.raises(DirectoryLocked) as refused:
            DirectoryLock(tmp_path).acquire()
        assert refused.value.path == os.fspath(tmp_path)
        assert f"pid {child.pid}" in refused.value.holder
        message = str(refused.value)
        assert os.fspath(tmp_path) in message and f"pid {child.pid}" in message
        assert "\n" not in message
        assert isinstance(refused.value, UsageError)  # exit 2 from the CLI
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=30)
    # The holder exited: the directory is free again.
    with DirectoryLock(tmp_path) as lock:
        assert lock.held


def test_sigkilled_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    child = _start_holder(tmp_path)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert (tmp_path / LOCK_FILE).exists()  # the file stays; the lock went with the process
    with DirectoryLock(tmp_path) as lock:
        assert lock.held


def test_second_handle_in_the_same_process_is_refused(tmp_path: Path) -> None:
    with DirectoryLock(tmp_path):
        with pytest.raises(DirectoryLocked) as refused:
            DirectoryLock(tmp_path).acquire()
        assert f"pid {os.getpid()}" in refused.value.holder
    DirectoryLock(tmp_path).acquire().release()  # released on exit from the with


def test_release_is_idempotent_and_acquire_reentrant_on_one_handle(tmp_path: Path) -> None:
    lock = DirectoryLock(tmp_path)
    assert lock.acquire() is lock.acquire()
    lock.release()
    lock.release()
    assert not lock.held


def test_holder_text_is_one_printable_line(tmp_path: Path) -> None:
    # Anyone can write the lock file; what a refused caller prints cannot forge lines.
    child = _start_holder(tmp_path)
    try:
        (tmp_path / LOCK_FILE).write_text("pid 1: evil\nbaton run: ok\x1b[2K")
        with pytest.raises(DirectoryLocked) as refused:
            DirectoryLock(tmp_path).acquire()
        assert "\n" not in str(refused.value) and "\x1b" not in str(refused.value)
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=30)


@pytest.mark.parametrize("make", ["missing", "file"])
def test_unusable_path_is_a_usage_error(tmp_path: Path, make: str) -> None:
    target = tmp_path / "x"
    if make == "file":
        target.write_text("")
    with pytest.raises(UsageError, match="x") as refused:
        DirectoryLock(target).acquire()
    assert not isinstance(refused.value, DirectoryLocked)
