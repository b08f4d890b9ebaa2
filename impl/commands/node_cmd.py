"""Run one node of the reference runtime as a process speaking the node protocol.

The process reads protocol messages (JSON lines, 'baton schema node-protocol')
on standard input and writes its answers, its messages to peers and its trace
events on standard output; logs go to standard error. At 'init' it takes the
exclusive lock of its data directory, recovers from the directory alone (or
initialises an empty one) and learns about its peers only from their
messages. It is what 'baton test --bin "baton node"' starts, once per node.

examples:
  baton test --bin "baton node" --nodes 3 --seed 1
  baton node --dir /tmp/n0 < messages.jsonl

exit status: 0 at the end of input, 2 a refusal to start (locked directory,
corrupt marker or WAL) or a storage failure, 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys

from baton.harness.refnode import serve


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dir",
        default=None,
        help="the node's data directory (default: the data_dir of the init message)",
    )


def run(args: argparse.Namespace) -> int:
    try:
        return serve(sys.stdin, sys.stdout, args.dir)
    except KeyboardInterrupt:
        return 130
