"""One transition engine for every workflow: use cases, assessments and incidents.

A workflow is a status (a ``TextChoices``) and a table of named moves, each allowed from some
states, to one state, for the people a named rule allows. The table is data; these functions
read it the same way for pages (the buttons), the API (``POST .../transitions/<action>/``) and
the service that makes the move, so a button is offered only where the move would succeed.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from django.core.exceptions import ValidationError

from portal.access import can, require


@dataclass(frozen=True)
class Transition:
    label: str
    source: frozenset[str]
    target: str
    rule: str
    reason_required: bool = False
    style: str = "primary"


Table = Mapping[str, Transition]


def available_transitions(
    table: Table, obj, user, *, state: str = "status"
) -> list[tuple[str, Transition]]:
    """The moves open to ``user`` from ``obj``'s current state, in the table's order."""
    current = getattr(obj, state)
    return [
        (name, t) for name, t in table.items() if current in t.source and can(user, t.rule, obj)
    ]


def get_transition(table: Table, action: str) -> Transition:
    """The named move, or a ValidationError naming the action that does not exist."""
    try:
        return table[action]
    except KeyError:
        raise ValidationError({"action": f"Unknown action {action!r}."}) from None


def check_transition(
    table: Table,
    action: str,
    obj,
    actor,
    *,
    state: str = "status",
    display: str = "",
    preposition: str = "from",
) -> Transition:
    """The move if ``actor`` may make it from ``obj``'s current state; else PermissionDenied
    (the rule refuses) or ValidationError (not possible from this state).

    Call it on the locked row (``select_for_update``), so the state checked is the state the
    move starts from.
    """
    transition = get_transition(table, action)
    require(actor, transition.rule, obj)
    if getattr(obj, state) not in transition.source:
        shown = display or getattr(obj, f"get_{state}_display")()
        raise ValidationError(
            {"action": f"{transition.label} is not possible {preposition} {shown}."}
        )
    return transition
