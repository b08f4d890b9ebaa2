"""The ``baton`` command line, and its one error path.

Each subcommand lives in its own module and is imported only when it runs,
so ``baton --help`` is instant and a subcommand's dependencies (Z3 for the
proofs) load only when needed.

Every command ends through :func:`main`, which gives the whole CLI one error
path and one set of exit statuses:

- 0: success;
- 1: a check failed (a property, a conformance rule, a drift, a seed);
- 2: bad usage, bad input or an OS error -- one line on stderr, no traceback,
  and output paths are checked before any long work starts;
- 3: an internal error (a bug in Baton) -- a short report saying what to put
  in a bug report; ``BATON_DEBUG=1`` adds the full traceback;
- 130: interrupted (Ctrl-C) -- no traceback, worker processes killed, and the
  process is gone within two seconds of the signal even if a solver call or
  a worker pool does not return;
- 143: terminated (SIGTERM) -- worker processes killed first, so none is
  left running without its parent.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import platform
import shlex
import signal
import sys
import threading
import traceback
from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import Any

from baton import __version__
from baton.errors import BatonError, UsageError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 128 + signal.SIGTERM

EXIT_STATUS_HELP = (
    "Exit status: 0 success, 1 a check failed, 2 bad usage, bad input or an OS error, "
    "3 internal error (a bug: please report it), 130 interrupted, 143 terminated."
)

# How long after Ctrl-C the process may take to unwind on its own before the
# watchdog kills its workers and exits (the promise is two seconds in all).
INTERRUPT_GRACE_SECONDS = 1.0

__all__ = [
    "COMMANDS",
    "EXIT_FAILED",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "UsageError",
    "build_parser",
    "main",
]

# name -> (module, one-line help). The module provides ``add_arguments(parser)``
# and ``run(args) -> int``; its docstring becomes the subcommand's description.
# Optional: ``OUTPUT_OPTIONS`` and ``output_node_dirs(args)`` (see
# _check_machine_outputs) so that its output paths are checked up front.
COMMANDS: dict[str, tuple[str, str]] = {
    "spec": (
        "baton.commands.spec_cmd",
        "print the lifecycle table, validation checks and properties",
    ),
    "generate": ("baton.commands.generate", "write impl/_table.py from the spec (--check: drift)"),
    "run": ("baton.commands.run", "run a scenario against real node directories"),
    "verify": (
        "baton.commands.verify",
        "prove the invariants, check the runtime, catch every mutant",
    ),
    "explore": ("baton.commands.explore", "explore every reachable state of the runtime core"),
    "simulate": ("baton.commands.simulate", "run the deterministic seeded cluster simulation"),
    "check": ("baton.commands.check", "check a recorded trace against the spec (the oracle)"),
    "vectors": ("baton.commands.vectors_cmd", "write conformance test vectors (--out DIR)"),
    "schema": ("baton.commands.schema", "print a JSON Schema: trace, verdict, vectors, ..."),
    "test": ("baton.commands.test_cmd", "drive node processes through faults, then judge the run"),
    "node": ("baton.commands.node_cmd", "run one reference node as a process (the node protocol)"),
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # One line, no traceback, exit 2 -- and say where help is.
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole parser, or (``only``) one whose only fully built subcommand is ``only``.

    A command's module is imported only when its parser is built, so ``baton
    check`` does not pay for Z3, rich tables or the harness (``main`` builds
    just the command it runs; the docs build every one). ``only=""`` builds
    none of them: enough for ``baton --help`` and for naming an unknown command.
    """
    parser = _Parser(
        prog="baton",
        description=(
            "Baton: explicit replica promotion, formally specified. The main job is "
            "'baton verify'; other teams use 'baton check' and 'baton vectors'."
        ),
        epilog=EXIT_STATUS_HELP,
    )
    parser.add_argument("--version", action="version", version=f"baton {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, (module_name, help_text) in COMMANDS.items():
        if only is not None and name != only:
            sub.add_parser(name, help=help_text)
            continue
        module = importlib.import_module(module_name)
        cmd = sub.add_parser(
            name,
            help=help_text,
            description=(module.__doc__ or help_text).strip(),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(cmd)
        # _parser: an unknown option is reported by the command that was given it.
        cmd.set_defaults(_module=module, _parser=cmd)
    return parser


def _command_named(arguments: Sequence[str]) -> str:
    """The subcommand ``arguments`` ask for ("" if none): the first word that is not an option."""
    for word in arguments:
        if not word.startswith("-"):
            return word if word in COMMANDS else ""
    return ""


# --- the error path -------------------------------------------------------------


def _os_error_message(exc: OSError) -> str:
    """``path: reason`` for an OSError, as the shell would print it."""
    reason = exc.strerror or str(exc) or exc.__class__.__name__
    paths = [p for p in (exc.filename, exc.filename2) if p is not None]
    if paths:
        return f"{' -> '.join(os.fsdecode(p) for p in paths)}: {reason}"
    return reason


def _one_line(text: str) -> str:
    """A message on one line: a newline in it (from a file name, say) is shown, not obeyed."""
    return text.replace("\r", "\\r").replace("\n", "\\n")


def _internal_error_report(
    command: str, argv: Sequence[str], exc: BaseException, tb: TracebackType | None
) -> str:
    frames = traceback.extract_tb(tb)
    where = ""
    if frames:
        last = frames[-1]
        where = f"\n  at {last.filename}:{last.lineno} in {last.name}"
    versions = [f"baton {__version__}", f"Python {platform.python_version()}"]
    try:
        import z3

        versions.append(f"z3 {z3.get_version_string()}")
    except Exception:  # z3 absent or broken: the report must still print
        pass
    versions.append(platform.platform(terse=True))
    debug = os.environ.get("BATON_DEBUG", "") not in ("", "0")
    lines = [
        f"baton {command}: internal error: {exc.__class__.__name__}: {_one_line(str(exc))}{where}",
        "This is a bug in Baton, not in your input. Please report it with:",
        f"  - the command: baton {shlex.join(argv)}",
        f"  - the versions: {', '.join(versions)}",
        "  - this message"
        + ("" if debug else ", and the traceback printed when run with BATON_DEBUG=1"),
    ]
    if debug:
        lines.append("".join(traceback.format_exception(type(exc), exc, tb)).rstrip())
    return "\n".join(lines)


def _descendant_pids() -> set[int]:
    """Every live descendant of this process (Linux /proc; elsewhere, multiprocessing's)."""
    me = os.getpid()
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        entries = []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended while we looked
        if len(fields) > 1 and fields[1].isdigit():
            children.setdefault(int(fields[1]), []).append(int(entry))
    found: set[int] = set()
    todo = [me]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    if not entries:
        import multiprocessing

        found |= {p.pid for p in multiprocessing.active_children() if p.pid is not None}
    return found


def _kill_workers() -> None:
    """SIGKILL every descendant (proof and simulation worker pools): none outlives baton."""
    for pid in _descendant_pids():
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


class _InterruptWatchdog:
    """Keeps the Ctrl-C promise when the main thread cannot.

    Python delivers SIGINT as KeyboardInterrupt only between bytecodes of the
    main thread, so a long call into Z3 or a join on a worker pool can delay it
    by many seconds. The C-level handler does write the signal number to the
    wakeup fd at once; this thread reads it and, if the process has not exited
    ``INTERRUPT_GRACE_SECONDS`` later, kills the workers and exits 130 itself.
    """

    def __init__(self, command: str) -> None:
        self.command = command
        self.signalled = threading.Event()
        self.finished = threading.Event()
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._write_fd, False)
        self._previous_fd = signal.set_wakeup_fd(self._write_fd, warn_on_full_buffer=False)
        # SIGTERM would kill this process at once and orphan its workers; with a
        # (no-op) Python handler it reaches the wakeup fd, and _watch ends both.
        # An inherited SIG_IGN is respected.
        self._previous_term: Any = None
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            self._previous_term = signal.signal(signal.SIGTERM, lambda _sig, _frame: None)
        self._thread = threading.Thread(target=self._watch, name="baton-interrupt", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while True:
            try:
                data = os.read(self._read_fd, 64)
            except OSError:
                return
            if not data or self.finished.is_set():
                return
            if signal.SIGTERM in data:
                _kill_workers()
                with contextlib.suppress(OSError, ValueError):
                    sys.stderr.write(f"baton {self.command}: terminated\n")
                    sys.stderr.flush()
                os._exit(EXIT_TERMINATED)
            if signal.SIGINT in data:
                self.signalled.set()
                _quiet_teardown()
                if self.finished.wait(INTERRUPT_GRACE_SECONDS):
                    return
                _kill_workers()
                with contextlib.suppress(OSError, ValueError):
                    sys.stderr.write(f"baton {self.command}: interrupted\n")
                    sys.stderr.flush()
                os._exit(EXIT_INTERRUPTED)

    def close(self) -> None:
        """Stop watching; after a real Ctrl-C keep the deadline running until exit."""
        if self.signalled.is_set():
            return
        self.finished.set()
        with contextlib.suppress(ValueError):
            signal.set_wakeup_fd(self._previous_fd)
            if self._previous_term is not None:
                signal.signal(signal.SIGTERM, self._previous_term)
        os.close(self._write_fd)  # wakes the thread with end-of-file
        self._thread.join(timeout=1)
        os.close(self._read_fd)


def _quiet_teardown() -> None:
    # Objects torn down mid-call after Ctrl-C (a Z3 AST whose __del__ is hit by
    # the interrupt, say) report "Exception ignored in ..." with a traceback;
    # once baton is stopping, that is noise, not news.
    sys.unraisablehook = lambda _unraisable: None


@contextlib.contextmanager
def _interrupt_watchdog(command: str) -> Iterator[None]:
    # Signals reach only the main thread; elsewhere (an embedding), do nothing.
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    watchdog = _InterruptWatchdog(command)
    try:
        yield
    finally:
        watchdog.close()


DEFAULT_OUTPUT_OPTIONS: tuple[str, ...] = ("json", "junit")


def _check_machine_outputs(args: argparse.Namespace) -> None:
    """Check every output path of the command before it starts its work.

    ``--json FILE`` and ``--junit FILE`` always; a command module adds its own
    output options by name in ``OUTPUT_OPTIONS`` (e.g. ``("trace",)``) and the
    directories it must not write into (node directories, say) through
    ``output_node_dirs(args)``. A value that is not a path (``--json`` as a
    flag) is skipped.
    """
    from baton.output import check_output_path

    module = args._module
    names = DEFAULT_OUTPUT_OPTIONS + tuple(getattr(module, "OUTPUT_OPTIONS", ()))
    node_dirs_of = getattr(module, "output_node_dirs", None)
    node_dirs = tuple(node_dirs_of(args)) if callable(node_dirs_of) else ()
    for name in dict.fromkeys(names):
        value = getattr(args, name, None)
        if isinstance(value, str | os.PathLike):
            check_output_path(value, node_dirs=node_dirs)


def _silence_broken_pipe() -> None:
    # The reader went away (baton ... | head): close stdout now, dropping what
    # it still buffers, so the interpreter's final flush has nothing to report.
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.close()


def _parse(arguments: list[str]) -> argparse.Namespace:
    """The parsed command line; a word no option takes is the named command's usage error.

    argparse's own ``parse_args`` reports such words through the top-level
    parser ("baton: error: ... see 'baton --help'"), far from the help that
    lists the command's options.
    """
    parser = build_parser(only=_command_named(arguments))
    args, extras = parser.parse_known_args(arguments)
    if extras:
        owner: argparse.ArgumentParser = getattr(args, "_parser", parser)
        owner.error(f"unrecognized arguments: {' '.join(extras)}")
    if args.command is None:
        parser.print_help()
    return args


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        # Importing a command's module can already read the environment
        # (BATON_FAILPOINT, say): a bad value there is bad input, not a bug.
        args = _parse(arguments)
    except BatonError as exc:
        named = _command_named(arguments)
        print(f"baton{' ' + named if named else ''}: error: {_one_line(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    if args.command is None:
        return EXIT_USAGE
    command: str = args.command

    def fail(message: str) -> int:
        print(f"baton {command}: error: {_one_line(message)}", file=sys.stderr)
        return EXIT_USAGE

    try:
        with _interrupt_watchdog(command):
            _check_machine_outputs(args)
            return int(args._module.run(args))
    except KeyboardInterrupt:
        _kill_workers()
        _quiet_teardown()
        with contextlib.suppress(OSError, ValueError):
            sys.stdout.flush()
        print(f"baton {command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_broken_pipe()
        return EXIT_OK
    except BatonError as exc:
        # UsageError, InputError (a bad scenario or trace), StorageError (a bad
        # node directory) ...: raised on purpose, and the message says it all.
        return fail(str(exc))
    except OSError as exc:
        return fail(_os_error_message(exc))
    except Exception as exc:
        print(_internal_error_report(command, arguments, exc, exc.__traceback__), file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    # ``python -m baton.cli``: run the one ``baton.cli`` module that commands import
    # too; this ``__main__`` copy would keep interrupt state of its own.
    from baton.cli import main as _canonical_main

    sys.exit(_canonical_main())
