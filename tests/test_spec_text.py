"""``baton spec``'s text names every property it cites: full ID and name (P6-S1 ...)."""

from __future__ import annotations

from baton.commands import spec_cmd
from baton.spec import cluster
from baton.spec.invariants import INVARIANTS


def test_assumptions_and_mutants_cite_ids_with_their_names() -> None:
    text = spec_cmd.render_text(spec_cmd.collect(("cluster",)))
    titles = {inv.id: inv.title for inv in INVARIANTS}
    for assumption in cluster.ASSUMPTIONS:
        named = ", ".join(f"{i} ({titles[i]})" for i in assumption.guards)
        assert f"guards {named}" in text
    for mutant in cluster.MUTANTS:
        assert f"breaks {mutant.breaks[0]} ({titles[mutant.breaks[0]]})" in text
