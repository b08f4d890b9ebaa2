"""Shared test configuration: hypothesis profiles.

``ci`` (the default under CI=true): fixed seed (derandomized), bounded
examples, so CI is reproducible and fits its time budget. ``thorough``: many
more examples, for runs on demand: ``HYPOTHESIS_PROFILE=thorough pytest``.
``dev`` (the default elsewhere): hypothesis' defaults with a deadline off.
Every local module is loaded before collection, so that a derandomized test
draws the same examples whatever ran before it (see _import_every_local_module).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=60,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "thorough",
    max_examples=2000,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("dev", deadline=None, max_examples=100, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


def _import_every_local_module() -> None:
    """Load every module of baton, baton.spec, baton.proofs and docs/_ext up front.

    Hypothesis mixes literal constants from the local (non-installed, non-test)
    modules in ``sys.modules`` into a share of its draws, and that pool only grows
    as modules are imported. So a derandomized test's examples depended on what
    earlier tests had imported: the lockstep machine caught a mutant or not
    depending on whether ``baton.cli`` (or the docs extensions that
    ``test_docs_links`` imports) had been loaded first. With every local module
    loaded before collection, the pool is the same whatever the order or
    selection of tests.
    """
    import importlib
    import pkgutil
    import sys
    from pathlib import Path

    import baton
    import baton.proofs
    import baton.spec

    for package in (baton, baton.spec, baton.proofs):
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if not module.name.endswith(".__main__"):  # running it would start the CLI
                importlib.import_module(module.name)
    extensions = Path(__file__).resolve().parents[1] / "docs" / "_ext"
    if extensions.is_dir():  # the source tree; absent when testing an installed copy
        sys.path.insert(0, str(extensions))
        for module in pkgutil.iter_modules([str(extensions)]):
            importlib.import_module(module.name)


_import_every_local_module()


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # type: ignore[no-untyped-def]
    """Print the durability counts that tests recorded with ``record_property("durability", ...)``
    (crash states per model, failpoints hit, bit flips rejected, fsync mutants caught)."""
    lines = [
        str(value)
        for reports in terminalreporter.stats.values()
        for report in reports
        if getattr(report, "when", None) == "call"
        for name, value in getattr(report, "user_properties", ())
        if name == "durability"
    ]
    if lines:
        terminalreporter.section("durability summary")
        for line in sorted(lines):
            terminalreporter.write_line(line)


import pytest  # noqa: E402 - appended section (simulation coverage), kept self-contained


class _SimulationCoverageReport:
    """Prints what the lockstep machine and the simulation exercised (see
    docs/testing.md): distinct lifecycle transitions, denial reasons and crash points."""

    def pytest_terminal_summary(self, terminalreporter):  # type: ignore[no-untyped-def]
        import sys

        simulate = sys.modules.get("baton.simulate")
        coverage = getattr(simulate, "COVERAGE", None)
        if coverage is None or coverage.runs == 0:
            return
        terminalreporter.section("simulation and lockstep coverage")
        terminalreporter.write_line(coverage.summary())
        terminalreporter.write_line("denial reasons: " + ", ".join(sorted(coverage.denials)))


@pytest.fixture(scope="session", autouse=True)
def _register_simulation_coverage_report(pytestconfig):  # type: ignore[no-untyped-def]
    # A plugin object, not a second module-level pytest_terminal_summary (which would
    # replace the durability one above).
    if not pytestconfig.pluginmanager.has_plugin("baton-simulation-coverage"):
        pytestconfig.pluginmanager.register(
            _SimulationCoverageReport(), "baton-simulation-coverage"
        )
