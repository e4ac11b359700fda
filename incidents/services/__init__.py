"""Every write to runbooks and incidents. Pages, API, Celery tasks and monitoring call these.

runbooks.py holds runbooks; incidents.py incidents, their timeline and the actions taken from
them; deadlines.py the regulatory clocks and their reminders. The kill switch as deployed
systems poll it (killswitch.py) and the signed webhooks (webhooks.py) are modules of their own,
imported by name.
"""

from incidents.services.deadlines import Deadline, deadlines, deadlines_due
from incidents.services.incidents import (
    TRANSITIONS,
    available_transitions,
    incident_add_note,
    incident_kill_switch,
    incident_open,
    incident_open_from_flag,
    incident_rollback,
    incident_start_reassessment,
    incident_transition,
    incident_update,
    incident_write_review,
)
from incidents.services.reminders import remind_deadlines
from incidents.services.runbooks import runbook_is_current, runbook_save

__all__ = [
    "TRANSITIONS",
    "Deadline",
    "available_transitions",
    "deadlines",
    "deadlines_due",
    "incident_add_note",
    "incident_kill_switch",
    "incident_open",
    "incident_open_from_flag",
    "incident_rollback",
    "incident_start_reassessment",
    "incident_transition",
    "incident_update",
    "incident_write_review",
    "remind_deadlines",
    "runbook_is_current",
    "runbook_save",
]
