"""The promotion lifecycle machine, driven only by the generated table.

Legality lives in one place, :mod:`baton._table`, generated from the Z3 spec
by ``baton generate``. This module adds no rule of its own: an event the
table does not list for the current state raises
:class:`baton.errors.IllegalTransition` carrying the state and the event, and
leaves the state unchanged. There are no timers and no
background transitions: ``timeout`` and ``retry`` are in the event alphabet
and the table gives them no transition at all (P6-F3).
"""

from __future__ import annotations

from baton import _table
from baton.errors import IllegalTransition

STATES: tuple[str, ...] = _table.STATES
EVENTS: tuple[str, ...] = _table.EVENTS
TRANSITIONS: dict[tuple[str, str], str] = _table.TRANSITIONS
RECOVERY_STATE: str = _table.RECOVERY_STATE

IN_FLIGHT_STATES: frozenset[str] = frozenset({"PromotionApproved", "AuthorityTransitioning"})
"""States between approval and a durable marker: the hazardous gap (docs/design.md)."""


def next_state(state: str, event: str) -> str:
    """The successor of ``state`` under ``event``, or raise IllegalTransition (P6-D2)."""
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise IllegalTransition(state, event) from None


def is_allowed(state: str, event: str) -> bool:
    """Whether the table lists ``event`` in ``state``."""
    return (state, event) in TRANSITIONS


def allowed_events(state: str) -> tuple[str, ...]:
    """The events the table allows in ``state``, in the spec's event order."""
    return tuple(ev for ev in EVENTS if (state, ev) in TRANSITIONS)


class PromotionState:
    """The lifecycle state of one promotion attempt (volatile: a crash forgets it).

    ``fire(event)`` moves to the table's successor, or raises IllegalTransition
    and changes nothing. ``recover()`` is what a crash does: re-enter Steady.
    """

    def __init__(self, state: str = RECOVERY_STATE) -> None:
        if state not in STATES:
            raise ValueError(f"unknown lifecycle state {state!r}")
        self._state = state

    @property
    def state(self) -> str:
        return self._state

    def fire(self, event: str) -> str:
        """Apply ``event``; return the new state. Illegal: raise, state unchanged."""
        self._state = next_state(self._state, event)
        return self._state

    def recover(self) -> str:
        """After a crash the attempt is forgotten: lifecycle state is volatile."""
        self._state = RECOVERY_STATE
        return self._state

    def __repr__(self) -> str:
        return f"PromotionState({self._state!r})"
