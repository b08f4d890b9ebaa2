"""Node processes: start, talk to, pause, kill -- and never leave one behind.

Each node runs as its own process in its own session (process group), with
pipes for standard input and output and its standard error in a log file
next to (never inside) its data directory. A reader thread turns its output
into parsed lines on a queue, so the workbench can wait for a tick's barrier
with a real-time limit. Every signal goes to the whole process group, so a
``--bin`` that is a wrapper script (``sh -c``, ``npm start``) is paused and
killed with everything it started.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from baton.errors import UsageError

EOF = object()
"""Put on a process's queue when its standard output closes (it exited)."""


class NodeProcess:
    """One incarnation of one node: a child process and the lines it wrote."""

    def __init__(
        self, argv: Sequence[str], name: str, incarnation: int, log_path: Path, cwd: Path | None
    ) -> None:
        self.name = name
        self.incarnation = incarnation
        self.lines: queue.Queue[Any] = queue.Queue()
        self.paused = False
        self._log: IO[bytes] = open(log_path, "ab")  # noqa: SIM115 - closed in reap()
        try:
            self.popen = subprocess.Popen(
                list(argv),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._log,
                cwd=cwd,
                start_new_session=True,  # its own group: signals reach its children too
                bufsize=0,
            )
        except OSError as exc:
            self._log.close()
            raise UsageError(f"cannot start {' '.join(argv)!r}: {exc.strerror or exc}") from None
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def _read(self) -> None:
        stream = self.popen.stdout
        assert stream is not None
        for raw in stream:
            text = raw.decode("utf-8", "replace").strip()
            if not text:
                continue
            try:
                self.lines.put(json.loads(text))
            except json.JSONDecodeError:
                self.lines.put(("malformed", text[:200]))
        self.lines.put(EOF)

    def send(self, msg: dict[str, Any]) -> bool:
        """Write one line to the process; False if its input is closed (it died)."""
        stdin = self.popen.stdin
        assert stdin is not None
        try:
            stdin.write((json.dumps(msg, separators=(",", ":")) + "\n").encode())
            return True
        except (BrokenPipeError, ValueError, OSError):
            return False

    def _signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, sig)

    def pause(self) -> None:
        self._signal(signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        self._signal(signal.SIGCONT)
        self.paused = False

    def kill(self) -> None:
        """SIGKILL the whole group and wait for it (a stopped process dies too)."""
        self._signal(signal.SIGKILL)
        self.reap()

    def reap(self) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):  # SIGKILL does not time out
            self.popen.wait(timeout=10)
        self._reader.join(timeout=5)  # EOF follows the exit: every line is on the queue
        for stream in (self.popen.stdin, self.popen.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        self._log.close()

    def alive(self) -> bool:
        return self.popen.poll() is None
