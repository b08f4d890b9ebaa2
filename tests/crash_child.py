"""Child process for tests/test_kill.py: a node doing promotions and synced writes.

Usage: ``python tests/crash_child.py DIR [--appends N] [--marker-every K]``

Recovers the node in DIR (or initialises it when DIR holds none), then performs
N synced WAL appends, writing a new authority marker (the baton handed to the
other node, epoch + 1) before every K-th append. It prints, flushing each line:

* ``INIT`` after initialising, ``RECOVERED <end_lsn> <epoch> <holder>`` after
  recovering;
* ``MARKER-BEGIN <epoch> <holder>`` before a marker write and
  ``MARKER-DONE <epoch> <holder>`` only after ``write_marker`` returned;
* ``ACK <lsn>`` only after ``Wal.sync`` returned for that record -- the
  acknowledgement the parent holds the disk to.

Run with ``BATON_FAILPOINT=name[:count]`` to be SIGKILLed at that failpoint.
Payloads are ``w<lsn>`` so the parent can check them.
"""

from __future__ import annotations

import argparse
import sys

from baton.errors import NotInitialised
from baton.identity import NodeIdentity, initialise_node, recover_node
from baton.marker import Marker, write_marker
from baton.storage import PosixDisk

IDENTITY = NodeIdentity("n1", "c1", "kill-test")
FIRST_MARKER = Marker("n1", "n1", 1, None)


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def payload(lsn: int) -> bytes:
    return f"w{lsn}".encode()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory")
    parser.add_argument("--appends", type=int, default=9)
    parser.add_argument("--marker-every", type=int, default=3)
    args = parser.parse_args(argv)
    disk = PosixDisk(args.directory)
    try:
        node = recover_node(disk)
        wal, marker = node.wal, node.marker
        say(f"RECOVERED {wal.end_lsn} {marker.epoch} {marker.holder}")
    except NotInitialised:
        wal, marker = initialise_node(disk, IDENTITY, FIRST_MARKER), FIRST_MARKER
        say("INIT")
    for i in range(args.appends):
        if i and args.marker_every and i % args.marker_every == 0:
            new = Marker(
                "n1", "n2" if marker.holder == "n1" else "n1", marker.epoch + 1, marker.holder
            )
            say(f"MARKER-BEGIN {new.epoch} {new.holder}")
            write_marker(disk, new)
            marker = new
            say(f"MARKER-DONE {new.epoch} {new.holder}")
        lsn = wal.append(marker.epoch, payload(wal.end_lsn + 1))
        wal.sync()
        say(f"ACK {lsn}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
