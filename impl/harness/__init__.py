"""``baton test``: a workbench that drives any implementation's node processes.

Modelled on Jepsen's Maelstrom: nodes are plain programs that speak a JSON
lines protocol (:mod:`baton.harness.protocol`) on standard input and output;
the workbench (:mod:`baton.harness.workbench`) starts them, routes their
messages through a seeded simulated network (:mod:`baton.harness.network`),
runs clients, an operator and a nemesis, records a Baton trace and judges it
with the oracle plus black-box checks (:mod:`baton.harness.checks`). The
reference runtime runs as such a process too (:mod:`baton.harness.refnode`,
``baton node``). See docs/harness.md.
"""
