"""The simulated network between node processes: seeded delay, loss, duplication, partitions.

Every node-to-node message goes through :class:`Network`. Time is the
workbench's tick counter, never the wall clock: a message sent during tick
``t`` is delivered at tick ``t + d`` with ``d`` drawn from the network's own
seeded random stream, in the order it was scheduled. A message is lost with
probability ``loss`` and sent twice with probability ``duplicate``; a
partition drops every message between its sides *at delivery*. A message
whose sender or receiver process died (or was replaced by a restart) before
delivery is dropped too, as a TCP connection to a dead process is: nothing a
dead incarnation sent arrives after its death.
"""

from __future__ import annotations

import heapq
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class NetworkConfig:
    min_delay: int = 1
    max_delay: int = 3
    loss: float = 0.05
    duplicate: float = 0.03


@dataclass(order=True)
class InFlight:
    due: int
    seq: int
    msg: dict[str, Any] = field(compare=False)
    src_incarnation: int = field(compare=False)
    dest_incarnation: int = field(compare=False)


class Network:
    """Messages in flight, ordered by (due tick, send order)."""

    def __init__(self, rng: random.Random, config: NetworkConfig | None = None) -> None:
        self.rng = rng
        self.config = config or NetworkConfig()
        self._heap: list[InFlight] = []
        self._seq = 0
        self.cut: set[frozenset[str]] = set()
        self.stats: Counter[str] = Counter()

    def send(self, msg: dict[str, Any], now: int, src_inc: int, dest_inc: int) -> None:
        self.stats["sent"] += 1
        if self.rng.random() < self.config.loss:
            self.stats["lost"] += 1
            return
        copies = 2 if self.rng.random() < self.config.duplicate else 1
        self.stats["duplicated"] += copies - 1
        for _ in range(copies):
            delay = self.rng.randint(self.config.min_delay, self.config.max_delay)
            self._seq += 1
            heapq.heappush(self._heap, InFlight(now + delay, self._seq, msg, src_inc, dest_inc))

    def due(self, now: int) -> list[InFlight]:
        """Every message due by ``now`` that the partitions let through, in order."""
        out: list[InFlight] = []
        while self._heap and self._heap[0].due <= now:
            item = heapq.heappop(self._heap)
            if frozenset((item.msg["src"], item.msg["dest"])) in self.cut:
                self.stats["partitioned"] += 1
                continue
            out.append(item)
        return out

    def partition(self, side: set[str], everyone: list[str]) -> None:
        """Cut every link between ``side`` and the rest (both directions)."""
        for a in side:
            for b in everyone:
                if b not in side:
                    self.cut.add(frozenset((a, b)))

    def heal(self) -> None:
        self.cut.clear()

    @property
    def in_flight(self) -> int:
        return len(self._heap)
