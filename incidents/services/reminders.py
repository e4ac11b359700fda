"""Reminders of regulatory deadlines: the owner is emailed (and the webhook sent) once per
incident, deadline, stage and due time. Celery beat runs ``remind_deadlines`` (tasks.py)."""

import logging
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from incidents.models import DeadlineNotice, EntryKind, Incident

# A module, not names: incidents -> webhooks -> tasks -> reminders runs while incidents is
# still loading; its functions are looked up when a reminder is sent.
from incidents.services import incidents
from incidents.services.deadlines import Deadline, deadlines_due

logger = logging.getLogger(__name__)


def remind_deadlines(now: datetime | None = None) -> int:
    """Email the owner (and send the webhook) once per incident, deadline, stage and due time.

    The unique DeadlineNotice is the "once": a second run, or two workers at the same time,
    find it taken and send nothing. A deadline that moved (awareness re-dated, another kind of
    serious harm) has a new due time, so it is reminded of again. Returns how many were sent.
    """
    now = now or timezone.now()
    sent = 0
    for item in deadlines_due(now=now):
        try:
            sent += _remind(item.incident, item.deadline, now)
        except Exception:  # one incident's failure must not stop the others' reminders
            logger.exception("Reminder for %s %s failed", item.incident, item.deadline.key)
    return sent


@transaction.atomic
def _remind(incident: Incident, deadline: Deadline, now: datetime) -> int:
    try:
        with transaction.atomic():
            DeadlineNotice.objects.create(
                incident=incident,
                deadline=deadline.key,
                stage=deadline.state,
                due_at=deadline.due_at,
            )
    except IntegrityError:
        return 0
    local_due = timezone.localtime(deadline.due_at)
    if deadline.state == "overdue":
        headline = f"OVERDUE since {local_due:%d %b %Y %H:%M %Z}"
    else:
        hours = max(0, int((deadline.due_at - now).total_seconds() // 3600))
        headline = f"due by {local_due:%d %b %Y %H:%M %Z} (in about {hours} h)"
    text = f"Reminder sent: {deadline.label} is {headline} ({deadline.basis})."
    incidents.timeline_entry(
        incident,
        None,
        EntryKind.NOTICE,
        text,
        {"deadline": deadline.key, "stage": deadline.state, "due_at": deadline.due_at.isoformat()},
    )
    incidents.notify(
        incident,
        event="incident.deadline_near",
        subject=f"{incident.reference}: {deadline.label} {deadline.state_label}",
        lines=[
            f"{deadline.label} for {incident.reference} {incident.title} is {headline}.",
            f"Basis: {deadline.basis}.",
            "Record when it was reported on the incident page.",
        ],
        recipients=[incident.owner],
        extra={"deadline": deadline.as_dict()},
    )
    return 1
