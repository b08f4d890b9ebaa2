"""Ctrl-C: a long command stops within 2 s, exit status 130, no traceback, no stray processes.

And SIGTERM (what a CI runner or a supervisor sends, to the parent alone):
exit status 143, the worker processes killed rather than orphaned.

Each test starts ``baton`` in its own process group and, once it is at work,
sends SIGINT to the whole group -- what a terminal does on Ctrl-C, so worker
processes receive it too. ``baton verify --quick`` runs Z3 in a worker pool:
the case where a KeyboardInterrupt inside a solver call or a pool join used to
take many seconds and print tracebacks from every process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

STOP_WITHIN_SECONDS = 2.0
"""The promise (baton.cli): gone within two seconds of the signal."""

COMMANDS = {
    # --log makes the first seed's run visible on stdout: proof that work has begun.
    "simulate": ["simulate", "--seeds", "0..1000000", "--log"],
    "verify": ["verify", "--quick"],
}


def _live_members(group: int) -> list[str]:
    """Processes of a process group that are still running (zombies await their reaper)."""
    alive = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            alive.append(entry)
    return alive


def _wait_for_output(paths: list[Path], process: subprocess.Popen[bytes], limit: float) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        assert process.poll() is None, "baton ended before it could be interrupted"
        if any(path.stat().st_size > 0 for path in paths):
            return
        time.sleep(0.05)
    pytest.fail(f"no output within {limit} s: the command never got to work")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
@pytest.mark.parametrize("command", ["simulate", "verify"])
def test_ctrl_c_stops_quickly_and_cleanly(command: str, tmp_path: Path) -> None:
    stdout, stderr = tmp_path / "stdout", tmp_path / "stderr"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "baton.cli", *COMMANDS[command]],
            stdout=out,
            stderr=err,
            cwd=tmp_path,
            start_new_session=True,  # its own process group, as a terminal job has
        )
    try:
        _wait_for_output([stdout, stderr], process, limit=60)
        time.sleep(0.5)  # well inside the work: solver calls and pool joins under way
        signalled = time.monotonic()
        os.killpg(process.pid, signal.SIGINT)
        try:
            status = process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail("baton did not stop within 30 s of Ctrl-C")
        took = time.monotonic() - signalled
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    err_text = stderr.read_text(errors="replace")
    assert status == 130, err_text
    assert took < STOP_WITHIN_SECONDS, f"took {took:.2f} s after the signal"
    assert "Traceback" not in err_text
    assert "Exception ignored" not in err_text
    assert err_text.rstrip().endswith(f"baton {command}: interrupted"), err_text
    # SIGKILL is delivered at once, but give the kernel a moment to finish it.
    deadline = time.monotonic() + 1.0
    while _live_members(process.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _live_members(process.pid) == [], "worker processes outlived baton"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
def test_sigterm_to_the_parent_leaves_no_worker_running(tmp_path: Path) -> None:
    """verify runs a worker pool; SIGTERM to baton alone must not orphan the workers."""
    stderr = tmp_path / "stderr"
    with stderr.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "baton.cli", *COMMANDS["verify"]],
            stdout=subprocess.DEVNULL,
            stderr=err,
            cwd=tmp_path,
            start_new_session=True,
        )
    try:
        _wait_for_output([stderr], process, limit=60)
        time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        status = process.wait(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    err_text = stderr.read_text(errors="replace")
    assert status == 143, err_text
    assert err_text.rstrip().endswith("baton verify: terminated"), err_text
    deadline = time.monotonic() + 1.0
    while _live_members(process.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _live_members(process.pid) == [], "worker processes outlived baton"
