"""Run one node of the reference runtime as a process speaking the node protocol.

The process reads protocol messages (JSON lines, 'baton schema node-protocol')
on standard input and writes its answers, its messages to peers and its trace
events on standard output; logs go to standard error. At 'init' it takes the
exclusive lock of its data directory, recovers from the directory alone (or
initialises an empty one) and learns about its peers only from their
messages. It is what 'baton test --bin "baton node"' starts, once per node.

With --metrics-port, the node also serves the metrics of its own events
(docs/metrics.md) over HTTP at http://127.0.0.1:PORT/metrics -- loopback
only -- until it exits; port 0 takes a free port, and the address is printed
on standard error.

examples:
  baton test --bin "baton node" --nodes 3 --seed 1
  baton node --dir /tmp/n0 < messages.jsonl
  baton node --dir /tmp/n0 --metrics-port 9464 < messages.jsonl

exit status: 0 at the end of input, 2 a refusal to start (locked directory,
corrupt marker or WAL, a metrics port that cannot be bound) or a storage
failure, 130 interrupted.
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
    parser.add_argument(
        "--metrics-port",
        type=_port,
        default=None,
        metavar="PORT",
        help="serve this node's metrics on http://127.0.0.1:PORT/metrics while it runs "
        "(loopback only; 0: a free port, printed on standard error)",
    )


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"not a port number (0 to 65535): {port}")
    return port


def run(args: argparse.Namespace) -> int:
    try:
        return serve(sys.stdin, sys.stdout, args.dir, args.metrics_port)
    except KeyboardInterrupt:
        return 130
