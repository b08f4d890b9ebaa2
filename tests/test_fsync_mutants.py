"""fsync mutants: every fsync and directory fsync of the durable layer is needed.

Turning any single ``fsync`` or ``fsync_dir``
call into a no-op must make the crash-state suite fail. The call sites are
found by scanning the source of ``baton.marker``, ``baton.wal`` and
``baton.identity`` with ``ast`` (so a new call site is mutated
automatically); each mutant runs the workloads of
``tests/test_crash_enumeration.py`` under both persistence models until a
crash state violates P6-F2 / P6-S1 / durable, idempotent recovery. Reordered marker writes
(through ``write_marker``'s ``variant`` hook) are mutants too.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Callable
from types import ModuleType

import baton.identity
import baton.marker
import baton.wal
import pytest
from test_crash_enumeration import (
    ALL_WORKLOADS,
    MODELS,
    CrashState,
    Expect,
    PersistenceModel,
    Site,
    Verdict,
    run_workload,
)

MUTATED_MODULES: tuple[ModuleType, ...] = (baton.marker, baton.wal, baton.identity)

PINNED_SITE_COUNT = 12
"""marker: fsync of the temp file, directory fsync; wal: create's directory fsync, the
fsync after cutting a torn tail, sync, the synced end's fsync in sync, in truncate_after
and in recovery, truncate_after's WAL fsync; identity: write_durably's fsync and
directory fsync, cleanup_temp_files' directory fsync. A thirteenth means a new call
site: pin it deliberately."""

MARKER_VARIANT_MUTANTS: dict[str, tuple[str, ...]] = {
    "rename before fsync of the temp file": ("write_temp", "rename", "fsync_temp", "fsync_dir"),
    "directory fsync before the rename": ("write_temp", "fsync_temp", "fsync_dir", "rename"),
    "no fsync at all": ("write_temp", "rename"),
}


def fsync_sites() -> list[tuple[str, Site]]:
    """Every ``<x>.fsync(...)`` / ``<x>.fsync_dir(...)`` call in the mutated modules."""
    sites: list[tuple[str, Site]] = []
    for module in MUTATED_MODULES:
        path = os.path.realpath(module.__file__ or "")
        with open(path, encoding="utf-8") as handle:
            tree = ast.parse(handle.read(), filename=path)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("fsync", "fsync_dir")
            ):
                label = f"{module.__name__}:{node.lineno} {node.func.attr}"
                sites.append((label, (path, node.lineno)))
    return sorted(sites)


SITES = fsync_sites()
_caches: dict[PersistenceModel, dict[tuple[CrashState, Expect], Verdict]] = {m: {} for m in MODELS}
_caught: dict[str, bool] = {}


def first_violation(**mutant: object) -> tuple[str | None, int]:
    """Run the workloads under both models until one violates; (violation, skips)."""
    skips = 0
    for model in MODELS:
        for workload in ALL_WORKLOADS:
            run = run_workload(
                workload,
                model,
                stop_at_first_violation=True,
                cache=_caches[model],
                **mutant,  # type: ignore[arg-type]
            )
            skips += run.mutant_skips
            if run.violations:
                return run.violations[0], skips
    return None, skips


def test_fsync_call_sites_are_pinned() -> None:
    """The scan finds the known call sites (a new one must be pinned deliberately)."""
    assert len(SITES) == PINNED_SITE_COUNT, [label for label, _ in SITES]


@pytest.mark.parametrize("site", SITES, ids=[label for label, _ in SITES])
def test_fsync_mutant_is_caught(site: tuple[str, Site]) -> None:
    """P6-F2 / P6-S1: with this one fsync made a no-op, some crash state breaks the promise."""
    label, where = site
    violation, skips = first_violation(skip_site=where)
    assert skips > 0, f"mutant {label} never ran: the call site was not reached"
    _caught[label] = violation is not None
    assert violation is not None, f"fsync mutant {label} survived every crash state"


@pytest.mark.parametrize("name", list(MARKER_VARIANT_MUTANTS))
def test_marker_write_order_mutant_is_caught(name: str) -> None:
    """P6-F2: the marker write's order (temp, fsync, rename, dir fsync) is needed."""
    violation, _ = first_violation(marker_variant=MARKER_VARIANT_MUTANTS[name])
    _caught[f"marker variant: {name}"] = violation is not None
    assert violation is not None, f"marker-order mutant {name!r} survived"


def test_unmutated_suite_passes_with_the_same_harness() -> None:
    """The control: the harness that kills the mutants passes the real code."""
    violation, skips = first_violation()
    assert violation is None and skips == 0


def test_zz_report_mutant_score(record_property: Callable[[str, object], None]) -> None:
    """Summary line: fsync mutants caught k/k (runs after the mutant tests in this module)."""
    total = len(SITES) + len(MARKER_VARIANT_MUTANTS)
    caught = sum(_caught.values())
    ran = len(_caught)
    # A run that deselected mutant tests says how many ran, not "caught 0/15".
    scope = "" if ran == total else f" ({total - ran} of {total} not run in this session)"
    record_property(
        "durability",
        f"fsync mutants caught {caught}/{ran}{scope} "
        f"({len(SITES)} call sites + {len(MARKER_VARIANT_MUTANTS)} marker-order variants)",
    )
    assert caught == ran, (
        f"fsync mutants survived: {sorted(k for k, v in _caught.items() if not v)}"
    )
