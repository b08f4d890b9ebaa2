"""The ``--ray [ADDRESS]`` option shared by explore, verify, simulate and test.

Kept apart from baton.proofs.ray_backend so that building a command's parser
imports neither Ray nor the proof machinery."""

from __future__ import annotations

import argparse

LOCAL = "local"
"""``--ray`` alone (or ``--ray local``): start a local Ray instance with this
machine's cores, on loopback only, for the length of the command."""


def add_ray_argument(parser: argparse.ArgumentParser, what: str) -> None:
    """Add ``--ray [ADDRESS]``: ``args.ray`` is None (not asked for), :data:`LOCAL`,
    ``auto`` (the cluster this machine belongs to) or a head node's host:port."""
    parser.add_argument(
        "--ray",
        nargs="?",
        const=LOCAL,
        default=None,
        metavar="ADDRESS",
        help=f"{what}: alone, on a local Ray instance with this machine's cores; "
        "'auto' or host:port, on an existing Ray cluster (needs Ray: pip install "
        "'ray>=2.60', or -e '.[ray]' in a checkout; see docs/cluster.md)",
    )
