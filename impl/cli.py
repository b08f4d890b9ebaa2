"""The ``baton`` command line.

Each subcommand lives in its own module and is imported only when it runs,
so ``baton --help`` is instant and a subcommand's dependencies (Z3 for the
proofs) load only when needed. Exit statuses are uniform: 0 success, 1 a
check failed (a property, a conformance rule, a drift), 2 bad usage or bad
input.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from baton import __version__
from baton.errors import UsageError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

# name -> (module, one-line help). The module provides ``add_arguments(parser)``
# and ``run(args) -> int``; its docstring becomes the subcommand's description.
__all__ = ["COMMANDS", "EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "UsageError", "build_parser", "main"]

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
    "schema": ("baton.commands.schema", "print a JSON Schema: trace, verdict or vectors"),
    "test": ("baton.commands.test_cmd", "drive node processes through faults, then judge the run"),
    "node": ("baton.commands.node_cmd", "run one reference node as a process (the node protocol)"),
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # One line, no traceback, exit 2 -- and say where help is.
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="baton",
        description=(
            "Baton: explicit replica promotion, formally specified. The main job is "
            "'baton verify'; other teams use 'baton check' and 'baton vectors'."
        ),
        epilog="Exit status: 0 success, 1 a check failed, 2 bad usage or input.",
    )
    parser.add_argument("--version", action="version", version=f"baton {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        cmd = sub.add_parser(
            name,
            help=help_text,
            description=(module.__doc__ or help_text).strip(),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(cmd)
        cmd.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args._module.run(args))
    except UsageError as exc:
        print(f"baton {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
