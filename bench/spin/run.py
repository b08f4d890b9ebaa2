"""SPIN vs the explorer on the same model, side by side in one run.

For each bounded model (N nodes, <= W writes, <= P promotion requests, mode)
this generates the Promela twin (bench/spin/promela.py), compiles SPIN's
verifier, runs it exhaustively (breadth first, like the explorer; and depth
first, SPIN's fastest mode), runs ``baton explore`` on the same bounds (every
step checked against the spec, every state against its properties) on one
process with and without symmetry reduction and on every CPU, and prints
states, seconds, states/s per core and peak RSS for both, the per-core ratio
and the explorer's multi-process speed-up. It checks that SPIN, the explorer
and its multi-process search count the same reachable states. Then, per model,
the explorer's floor: what the real core alone and the spec's checks alone cost
on the same states, against the per-transition budget of a search within 10x
of SPIN per core and the cost of a guard-free Python step. Then the unbounded Z3 proof for N=3
(baton.proofs.induction.prove) next to SPIN's exhaustive run of the largest
bounded N=3 model.

Run on demand, never in CI:
  .venv/bin/python bench/spin/run.py              # the full table (~10 min on 2 cores)
  .venv/bin/python bench/spin/run.py --quick      # small models only (~1 min)
Installs SPIN (Debian package ``spin``) and gcc with apt-get if missing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))

import promela  # noqa: E402


@dataclass
class Run:
    """One checker run on one model."""

    states: int
    transitions: int
    depth: int
    seconds: float
    rss_mb: float
    verdict: str
    cpu_seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.states / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_rate(self) -> float:
        """States per CPU-second: the per-core rate, robust to a loaded machine.

        Below 20 ms of CPU (``/usr/bin/time`` counts in 10 ms steps) the wall
        time of the run is used instead (:attr:`cpu_rate_is_wall`)."""
        if self.cpu_rate_is_wall:
            return self.rate
        return self.states / self.cpu_seconds

    @property
    def cpu_rate_is_wall(self) -> bool:
        return self.cpu_seconds < 0.02


def ensure_spin() -> str:
    """Path of ``spin``; installs the Debian packages spin and gcc if missing."""
    if not (shutil.which("spin") and shutil.which("gcc")):
        print("installing spin and gcc (apt-get) ...", file=sys.stderr)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "spin", "gcc"], check=True, env=env)
    spin = shutil.which("spin")
    assert spin is not None
    return spin


def _wait_rss(cmd: list[str], cwd: str | None = None) -> tuple[str, float, float]:
    """Run ``cmd``; return its stdout, wall seconds and its own peak RSS (MB)
    (its CPU seconds: :func:`read_cpu`, from the same file)."""
    with tempfile.NamedTemporaryFile() as rss:
        start = time.perf_counter()
        with tempfile.TemporaryFile() as out:
            proc = subprocess.Popen(
                [*peak_rss_wrapper(rss.name), *cmd], cwd=cwd, stdout=out, stderr=subprocess.STDOUT
            )
            proc.wait()
            seconds = time.perf_counter() - start
            out.seek(0)
            text = out.read().decode()
        global _LAST_CPU
        _LAST_CPU = read_cpu(rss.name)
        return text, seconds, read_peak_rss(rss.name)


_LAST_CPU = 0.0
"""User + system CPU seconds of the last command _wait_rss ran."""


def peak_rss_wrapper(path: str) -> list[str]:
    """``/usr/bin/time -f %M -o path``: the child's own peak RSS.

    Not os.wait4 on a child of this (large) Python process: a forked child's
    ru_maxrss includes the parent's pages it shared before exec."""
    if not shutil.which("time") or not Path("/usr/bin/time").exists():
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "install", "-y", "-qq", "time"], check=True, env=env)
    return ["/usr/bin/time", "-f", "%M %U %S", "-o", path]


def read_peak_rss(path: str) -> float:
    """MB, from the last line /usr/bin/time wrote."""
    lines = Path(path).read_text().strip().splitlines()
    return int(lines[-1].split()[0]) / 1024 if lines else float("nan")


def read_cpu(path: str) -> float:
    """User + system CPU seconds, from the last line /usr/bin/time wrote."""
    lines = Path(path).read_text().strip().splitlines()
    if not lines:
        return float("nan")
    _rss, user, system = lines[-1].split()
    return float(user) + float(system)


def hash_bits(states: int) -> int:
    """SPIN's -w: a hash table of about twice the expected states (allocating a
    far larger one costs SPIN a second of page faults on small models)."""
    return max(18, min(28, (2 * states).bit_length()))


def spin_run(
    model: tuple[int, int, int, str],
    mutant: str | None = None,
    bfs: bool = True,
    bits: int = 24,
) -> tuple[Run, float]:
    """SPIN on the twin: (the run, compile seconds). States include SPIN's extra
    pre-initialisation state (see README)."""
    n, w, p, mode = model
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "model.pml").write_text(promela.generate(n, w, p, mode, mutant))
        start = time.perf_counter()
        subprocess.run(["spin", "-a", "model.pml"], cwd=tmp, check=True, capture_output=True)
        flags = ["-O2", "-DSAFETY", "-DNOREDUCE", "-DMEMLIM=16000"] + (["-DBFS"] if bfs else [])
        subprocess.run(["gcc", *flags, "-o", "pan", "pan.c"], cwd=tmp, check=True)
        compile_seconds = time.perf_counter() - start
        text, seconds, rss = _wait_rss(["./pan", "-m1000000", f"-w{bits}"], cwd=tmp)
    states = int(re.search(r"(\d+) states, stored", text).group(1))  # type: ignore[union-attr]
    trans = int(re.search(r"(\d+) transitions", text).group(1))  # type: ignore[union-attr]
    depth = int(re.search(r"depth reached (\d+)", text).group(1))  # type: ignore[union-attr]
    errors = int(re.search(r"errors: (\d+)", text).group(1))  # type: ignore[union-attr]
    verdict = "violation" if errors else "pass"
    return Run(states, trans, depth, seconds, rss, verdict, _LAST_CPU), compile_seconds


def explorer_run(
    model: tuple[int, int, int, str], symmetry: bool, mutant: str | None = None, workers: int = 1
) -> Run:
    """``baton explore`` in its own process (so its peak RSS is its own); every
    step checked against the spec (refinement) and every state against its
    properties. ``workers`` 0: one process per CPU."""
    n, w, p, mode = model
    cmd = [sys.executable, "-m", "baton.cli", "explore", "--nodes", str(n), "--writes", str(w)]
    cmd += ["--promotions", str(p), "--mode", mode, "--json", "--quiet", "--workers", str(workers)]
    cmd += ["--symmetry" if symmetry else "--no-symmetry"]
    if mutant:
        cmd += ["--mutant", mutant]
    text, _wall, rss = _wait_rss(cmd)
    data = json.loads(text)
    return Run(
        data["states"],
        data["transitions"],
        data["max_depth"],
        data["seconds"],
        rss,
        data["verdict"],
        data["cpu_seconds"],
    )


FLOORS_CODE = """
import json, sys, time
from collections import deque
from baton import core
from baton.proofs import explore as ex
from baton.spec import compiled as spec_compiled
n, w, p, mode = json.loads(sys.argv[1])
bounds = ex.Bounds(nodes=n, writes=w, promotions=p, mode=mode)
model = spec_compiled.compiled(ex.spec_config(bounds))
s0 = core.initial_state(n, mode)
enc0 = ex.encode(s0, False)
seen = {(0, 0, enc0[0])}
states = [(s0, 0, 0, enc0[1])]
keys = [enc0[0]]
queue = deque(states)
# The spec questions the explorer asks: one per distinct spec-level successor of a state.
questions = []
while queue:  # the explorer's state space (its keys, no symmetry), nothing checked
    s, writes, requests, flat_s = queue.popleft()
    asked = set()
    for action, t, _m in ex.successors(s, None, ex._admit(writes, requests, bounds)):
        counters = ex._counters(action, writes, requests)
        enc = ex.encode(t, False)
        if enc[1] not in asked:
            asked.add(enc[1])
            questions.append((flat_s, enc[1], core.spec_action_names(action)))
        key = (*counters, enc[0])
        if key not in seen:
            seen.add(key)
            states.append((t, *counters, enc[1]))
            keys.append(enc[0])
            queue.append((t, *counters, enc[1]))
transitions = 0
fanout = []
cpu = time.process_time()
for s, writes, requests, _f in states:  # timed: the real core's enumeration and steps only
    k = sum(1 for _ in ex.successors(s, None, ex._admit(writes, requests, bounds)))
    transitions += k
    fanout.append(k)
core_cpu = time.process_time() - cpu
# The least any Python step can do, with no guard and no enumeration: rebuild the
# state's key with one node replaced, and hash it (a visited set must), once per
# transition.
last = len(keys[0]) - 1
cpu = time.process_time()
for key, k in zip(keys, fanout):
    for i in range(k):
        j = 3 + i % (last - 2)
        hash(key[:j] + (key[j],) + key[j + 1 :])
bare_cpu = time.process_time() - cpu
explains = model.explains
props = [p.holds for p in model.properties]
cpu = time.process_time()
for flat_s, flat_t, names in questions:  # timed: the spec's refinement questions only
    assert explains(flat_s, flat_t, names) is not None
for _s, _w, _r, flat in states:  # ... and the spec's properties on every state
    for holds in props:
        assert holds(flat)
spec_cpu = time.process_time() - cpu
print(json.dumps({"states": len(states), "transitions": transitions, "core_cpu": core_cpu,
                  "questions": len(questions), "spec_cpu": spec_cpu, "bare_cpu": bare_cpu}))
"""


@dataclass
class Floors:
    """What the explorer's two mandatory parts cost alone on its state space."""

    states: int
    transitions: int
    core_cpu: float  # the real core: every state's actions enumerated and stepped
    questions: int  # distinct spec-level steps the refinement check asks about
    spec_cpu: float  # the spec: those questions, and every property on every state
    bare_cpu: float  # per transition, a guard-free Python step: one node replaced, hashed


def floors(model: tuple[int, int, int, str]) -> Floors:
    """The least any explorer that runs the real core and asks the spec must spend,
    in two parts measured separately on the explorer's state space (no symmetry):
    the core's enumeration and steps (``baton.core.successors``; no encoding, no
    visited set), and the spec's checks (the compiled spec's ``explains`` once per
    distinct spec-level step of a state, as the explorer asks it, and every
    property predicate on every state)."""
    out = subprocess.run(
        [sys.executable, "-c", FLOORS_CODE, json.dumps(list(model))],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return Floors(**json.loads(out.strip().splitlines()[-1]))


def induction_seconds(n: int = 3) -> tuple[float, bool, float]:
    """The unbounded Z3 proof for N=n (async): seconds, proven, peak RSS of its process."""
    code = (
        "import time, json;"
        "from baton.proofs.induction import prove;"
        "from baton.spec.cluster import Config;"
        "t = time.perf_counter();"
        f"r = prove(Config(n={n}));"
        "print(json.dumps({'s': time.perf_counter() - t, 'ok': bool(r.proven)}))"
    )
    text, _wall, rss = _wait_rss([sys.executable, "-c", code])
    data = json.loads(text.strip().splitlines()[-1])
    return float(data["s"]), bool(data["ok"]), rss


MODELS: list[tuple[int, int, int, str]] = [
    (2, 1, 1, "async"),
    (2, 2, 2, "async"),
    (2, 2, 2, "sync"),
    (3, 1, 1, "async"),
    (3, 1, 1, "sync"),
    (3, 1, 2, "async"),
    (3, 2, 2, "async"),
    (3, 2, 2, "sync"),
]
QUICK_MODELS = MODELS[:5]
MUTANT_MODELS: list[tuple[str, tuple[int, int, int, str]]] = [
    ("restart_keeps_authority", (2, 1, 1, "async")),
    ("concurrent_attempts", (3, 0, 2, "async")),
]
LARGEST_N3 = (3, 3, 3, "async")


def label(model: tuple[int, int, int, str]) -> str:
    n, w, p, mode = model
    return f"N={n} W={w} P={p} {mode}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small models only")
    parser.add_argument("--json", metavar="FILE", help="also write the raw numbers as JSON")
    args = parser.parse_args()
    ensure_spin()
    rows: list[dict[str, Any]] = []
    cores = os.cpu_count() or 1
    print("## Exhaustive search, same model (no violation expected)\n")
    print(
        "Per core: SPIN's BFS verifier and the explorer on one process, no symmetry "
        "(the same states), in states per CPU-second of the search (robust to load). "
        f"Multi-process: the explorer on all {cores} CPUs (same counts), wall-clock "
        "speed-up over one process (meaningful on an idle machine only).\n"
    )
    print(
        "| model | SPIN states | explorer states (no sym / sym) | same count | "
        "SPIN BFS s | SPIN DFS s | explorer s (1 proc, no sym / sym) | "
        "SPIN BFS st/CPU-s | explorer st/CPU-s (1 proc) | per-core ratio | "
        f"explorer s, {cores} procs (no sym) | multi-process speed-up | "
        "SPIN RSS MB | explorer RSS MB |"
    )
    print("|---" * 14 + "|")
    for model in QUICK_MODELS if args.quick else MODELS:
        ex = explorer_run(model, symmetry=False)
        ex_sym = explorer_run(model, symmetry=True)
        ex_par = explorer_run(model, symmetry=False, workers=0)
        bits = hash_bits(ex.states)
        sp, _c = spin_run(model, bfs=True, bits=bits)
        sp_dfs, _c2 = spin_run(model, bfs=False, bits=bits)
        # SPIN stores one more state (before the initialising d_step). Transitions
        # differ: the twin has one "a fact is unknown" decision where the core has
        # 22 observations that all deny.
        same = sp.states == ex.states + 1 and ex_par.states == ex.states
        rows.append(
            {
                "model": label(model),
                "spin_bfs": asdict(sp),
                "spin_dfs": asdict(sp_dfs),
                "explorer": asdict(ex),
                "explorer_symmetry": asdict(ex_sym),
                "explorer_all_cores": asdict(ex_par),
                "cores": cores,
                "same_count": same,
            }
        )
        print(
            f"| {label(model)} | {sp.states:,} | {ex.states:,} / {ex_sym.states:,} | "
            f"{'yes' if same else 'NO'} | {sp.seconds:.3f} | {sp_dfs.seconds:.3f} | "
            f"{ex.seconds:.2f} / {ex_sym.seconds:.2f} | "
            f"{sp.cpu_rate:,.0f}{' (wall)' if sp.cpu_rate_is_wall else ''} | {ex.cpu_rate:,.0f} | "
            f"{sp.cpu_rate / max(ex.cpu_rate, 1e-9):.0f}x | {ex_par.seconds:.2f} | "
            f"{ex.seconds / max(ex_par.seconds, 1e-9):.2f}x | {sp.rss_mb:.0f} | {ex.rss_mb:.0f} |",
            flush=True,
        )
    print("\n## What the explorer cannot skip, per core: its lower bound\n")
    print(
        "On every state of the explorer's state space (no symmetry), measured apart in "
        "CPU-seconds: the real core alone (every state's enabled actions enumerated and "
        "stepped by baton.core; no encoding, no visited set) and the spec's checks alone "
        "(the compiled spec's refinement question once per distinct spec-level step of a "
        "state, as the explorer asks it, and every property predicate on every state). "
        "Both are mandatory: the explorer runs the real core, and the spec decides every "
        "step. Next to them, SPIN's BFS rate on the same model measured above, what a "
        "search within 10x of SPIN per core may spend per transition, all included, and "
        "the least any Python step costs: the state's key rebuilt with one node replaced, "
        "and hashed (no guard, no enumeration).\n"
    )
    print(
        "| model | states | transitions | core alone st/CPU-s | spec checks alone st/CPU-s | "
        "SPIN BFS st/CPU-s | ratio, core alone | ratio, spec checks alone | "
        "ratio, core + spec | ratio, whole explorer | "
        "us per transition: 10x budget / core / spec / guard-free Python step |"
    )
    print("|---" * 11 + "|")
    for row in [r for r in rows if "spin_bfs" in r]:
        model = next(m for m in MODELS if label(m) == row["model"])
        floor = floors(model)
        spin = Run(**row["spin_bfs"])
        explorer = Run(**row["explorer"])
        row["floors"] = asdict(floor)
        core_rate = floor.states / max(floor.core_cpu, 1e-9)
        spec_rate = floor.states / max(floor.spec_cpu, 1e-9)
        both_rate = floor.states / max(floor.core_cpu + floor.spec_cpu, 1e-9)
        per_transition = 1e6 / floor.transitions
        budget = 10 * floor.states / max(spin.cpu_rate, 1e-9) * per_transition
        print(
            f"| {row['model']} | {floor.states:,} | {floor.transitions:,} | {core_rate:,.0f} | "
            f"{spec_rate:,.0f} | {spin.cpu_rate:,.0f} | "
            f"{spin.cpu_rate / max(core_rate, 1e-9):.0f}x | "
            f"{spin.cpu_rate / max(spec_rate, 1e-9):.1f}x | "
            f"{spin.cpu_rate / max(both_rate, 1e-9):.0f}x | "
            f"{spin.cpu_rate / max(explorer.cpu_rate, 1e-9):.0f}x | "
            f"{budget:.2f} / {floor.core_cpu * per_transition:.2f} / "
            f"{floor.spec_cpu * per_transition:.2f} / {floor.bare_cpu * per_transition:.2f} |",
            flush=True,
        )
    print("\n## Time to verdict on a known-bad model (first violation, BFS)\n")
    print(
        "| mutant | model | SPIN search s | SPIN generate+compile s | explorer s | "
        "explorer cx steps | search ratio | end-to-end ratio |"
    )
    print("|---" * 8 + "|")
    for mutant, model in MUTANT_MODELS:
        sp, compile_s = spin_run(model, mutant=mutant, bfs=True, bits=18)
        ex = explorer_run(model, symmetry=True, mutant=mutant)
        rows.append(
            {"mutant": mutant, "model": label(model), "spin": asdict(sp), "explorer": asdict(ex)}
        )
        print(
            f"| {mutant} | {label(model)} | {sp.seconds:.3f} ({sp.verdict}) | {compile_s:.1f} | "
            f"{ex.seconds:.2f} ({ex.verdict}) | {ex.depth} | "
            f"{ex.seconds / max(sp.seconds, 1e-9):.0f}x slower | "
            f"{(sp.seconds + compile_s) / max(ex.seconds, 1e-9):.1f}x faster |",
            flush=True,
        )
    if not args.quick:
        print("\n## Unbounded Z3 proof (N=3) vs SPIN's largest bounded N=3 model\n")
        z3_s, proven, z3_rss = induction_seconds(3)
        sp, _c = spin_run(LARGEST_N3, bfs=False, bits=26)
        rows.append(
            {
                "induction_n3": {"seconds": z3_s, "proven": proven, "rss_mb": z3_rss},
                "spin_largest": {"model": label(LARGEST_N3), **asdict(sp)},
            }
        )
        print("| check | what | seconds | peak RSS MB |")
        print("|---|---|---|---|")
        print(
            f"| Z3 induction | N=3 async, unbounded writes/epochs/promotions, "
            f"{'proven' if proven else 'NOT proven'} | {z3_s:.1f} | {z3_rss:.0f} |"
        )
        print(
            f"| SPIN DFS | {label(LARGEST_N3)}: {sp.states:,} states, exhaustive ({sp.verdict}) "
            f"| {sp.seconds:.1f} | {sp.rss_mb:.0f} |"
        )
        print(f"\nratio SPIN / Z3: {sp.seconds / max(z3_s, 1e-9):.1f}x")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
