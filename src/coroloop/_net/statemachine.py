"""The check every state machine of this package makes on a transition.

Each machine is an enum of states, a table of the allowed transitions (state ->
frozenset of next states) and a ``_set_state`` that calls :func:`check_transition`
before changing state, so a transition the table does not list is a bug that
fails at once, naming the object and both states -- instead of a flag silently
taking a value nobody planned for.  ``tls.py`` is the worked example (its engine
raises its own TLSStateError, a RuntimeError too).
"""

from __future__ import annotations

__all__ = ["InvalidTransition", "check_transition"]


class InvalidTransition(RuntimeError):
    """A state change that the machine's transition table does not allow."""


def check_transition(transitions, owner, old, new) -> None:
    """Raise InvalidTransition unless *transitions* lets *owner* go from *old* to *new*."""
    if new not in transitions[old]:
        raise InvalidTransition(f"{owner!r}: invalid transition {old.name} -> {new.name} "
                                "(this is a bug in coroloop)")
