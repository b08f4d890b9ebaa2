"""A tiny log-based failover system: the "implementation under test" of the worked example.

It is deliberately NOT shaped like Baton: leaders and terms instead of
primaries and epochs, its own log format, its own check. Run it to get a log:

    python examples/adapter/failover_sim.py > run.log            # a correct run
    python examples/adapter/failover_sim.py --bug stale > bad.log  # promotes a stale node

Log lines: ``<n> <node> <what> ...`` (see log_to_trace.py for the mapping).
"""

from __future__ import annotations

import argparse


class Sim:
    def __init__(self) -> None:
        self.n = 0
        self.log = {"A": [1, 1], "B": [], "C": []}  # entry terms by index
        self.term = {"A": 1, "B": 1, "C": 1}
        self.leader: str | None = "A"
        self.committed = 0

    def say(self, *parts: object) -> None:
        self.n += 1
        print(f"{self.n:04d}", *parts)

    def run(self, bug: str | None) -> None:
        for node in "ABC":
            self.say(
                node, "boot", "leader" if node == "A" else "follower", f"term={self.term[node]}"
            )
        self.log["A"] = []
        for i in (1, 2):
            self.log["A"].append(1)
            self.say("A", "append", i, "term=1")
        for i in (1, 2):
            self.log["B"].append(1)
            self.say("B", "copy", i, "term=1", "from=A")
        self.committed = 2
        self.say("A", "commit", 2)
        self.log["C"].append(1)
        self.say("C", "copy", 1, "term=1", "from=A")
        self.say("A", "crash")
        self.leader = None
        target = "C" if bug == "stale" else "B"
        self.say("op", "promote", target, "by=carol")
        mine = len(self.log[target])
        ok = mine >= self.committed or bug == "stale"
        verdict = "OK" if ok else "NO(behind)"
        self.say(
            target,
            "check",
            f"mine={mine}",
            f"committed={self.committed}",
            "leader=unreachable",
            "log=consistent",
            "mvcc=ok",
            "force=no",
            "=>",
            verdict,
        )
        if not ok:
            self.say("op", "done", target)
            return
        self.term[target] = 2
        self.say(target, "persist", "term=2")
        self.say(target, "leader", "term=2")
        self.say("op", "done", target)
        self.log[target].append(2)
        self.say(target, "append", mine + 1, "term=2")
        self.say(target, "commit", mine + 1)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bug", choices=["stale"], help="inject a bug: promote a node missing commits")
    Sim().run(p.parse_args().bug)
