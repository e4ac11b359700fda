"""The regulatory clocks of an incident, and the reminders when one runs short.

Each clock starts when the firm became aware (``Incident.aware_at``) and counts elapsed time,
in UTC: a 72-hour clock is 72 real hours even across a change to or from summer time. Counting
from the moment of awareness is never later than the legal end of the period (the EU's rule
on periods, Regulation 1182/71, would start the count at the next hour or day), so a report
made by our deadline is in time.

- EU AI Act Article 73, for a serious incident (Article 3(49)): 15 days in general; 10 days
  where a person died (Art. 73(4)); 2 days for a widespread infringement or a serious and
  irreversible disruption of critical infrastructure (Art. 73(3)).
- UK GDPR and EU GDPR Article 33, for a personal data breach: 72 hours to the data
  protection authority.
"""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from django.conf import settings
from django.db import connection
from django.db.models import DateTimeField, Expression, F, Q
from django.utils import timezone

from incidents.models import Incident, SeriousHarm
from registry.selectors import of_visible_use_cases_by_row

logger = logging.getLogger(__name__)

AI_ACT_PERIODS = {
    SeriousHarm.GENERAL: (timedelta(days=15), "EU AI Act Art. 73(2): 15 days"),
    SeriousHarm.DEATH: (timedelta(days=10), "EU AI Act Art. 73(4): 10 days (a person died)"),
    SeriousHarm.WIDESPREAD: (
        timedelta(days=2),
        "EU AI Act Art. 73(3): 2 days (widespread infringement or critical infrastructure)",
    ),
}
GDPR_PERIOD = timedelta(hours=72)
GDPR_BASIS = "UK GDPR and EU GDPR Art. 33(1): 72 hours"

STATE_LABELS = {
    "met": "met",
    "met_late": "met late",
    "overdue": "overdue",
    "near": "due soon",
    "open": "open",
}
# The stages a reminder is sent at, once each per incident and deadline.
REMIND_STATES = ("near", "overdue")


@dataclass(frozen=True)
class Deadline:
    key: str  # "ai_act" or "gdpr"
    label: str
    basis: str  # the provision and its period
    due_at: datetime
    reported_at: datetime | None
    state: str  # "met", "met_late", "overdue", "near" or "open"

    @property
    def state_label(self) -> str:
        return STATE_LABELS[self.state]

    @property
    def is_met(self) -> bool:
        return self.reported_at is not None

    def as_dict(self) -> dict:
        return {
            "key": self.key,
            "label": self.label,
            "basis": self.basis,
            "due_at": self.due_at.isoformat(),
            "reported_at": self.reported_at.isoformat() if self.reported_at else None,
            "state": self.state,
        }


def due_after(start: datetime, period: timedelta) -> datetime:
    """``start`` plus elapsed time. Adding to a local time would add wall-clock time instead
    (72 hours across the clocks going forward would be 71 real ones), so count in UTC."""
    return start.astimezone(UTC) + period


def state_of(due_at: datetime, reported_at: datetime | None, now: datetime) -> str:
    if reported_at is not None:
        return "met" if reported_at <= due_at else "met_late"
    if now > due_at:
        return "overdue"
    if due_at - now <= timedelta(hours=settings.INCIDENT_DEADLINE_NEAR_HOURS):
        return "near"
    return "open"


def deadlines(incident: Incident, now: datetime | None = None) -> list[Deadline]:
    """The clocks that run for this incident (none unless it is serious or a breach)."""
    now = now or timezone.now()
    found = []
    if incident.serious_harm in AI_ACT_PERIODS:
        period, basis = AI_ACT_PERIODS[SeriousHarm(incident.serious_harm)]
        due = due_after(incident.aware_at, period)
        found.append(
            Deadline(
                key="ai_act",
                label="Report to the market surveillance authority",
                basis=basis,
                due_at=due,
                reported_at=incident.regulator_reported_at,
                state=state_of(due, incident.regulator_reported_at, now),
            )
        )
    if incident.personal_data_breach:
        due = due_after(incident.aware_at, GDPR_PERIOD)
        found.append(
            Deadline(
                key="gdpr",
                label="Report the personal data breach to the data protection authority",
                basis=GDPR_BASIS,
                due_at=due,
                reported_at=incident.dpa_reported_at,
                state=state_of(due, incident.dpa_reported_at, now),
            )
        )
    return found


class Due(NamedTuple):
    incident: Incident
    deadline: Deadline


def _unmet_clocks():
    """Incidents with a clock that has not been met, whatever their status: a clock runs until
    its report is recorded, and a report may still be recorded after the incident closed."""
    return Incident.objects.filter(
        Q(~Q(serious_harm=""), regulator_reported_at__isnull=True)
        | Q(personal_data_breach=True, dpa_reported_at__isnull=True)
    ).select_related("use_case__business_unit", "owner", "use_case__owner")


# What deadlines() reads of an incident, and what a line naming the incident shows.
CLOCK_FIELDS = (
    "id", "reference", "title", "use_case_id", "aware_at", "serious_harm",
    "personal_data_breach", "regulator_reported_at", "dpa_reported_at",
)  # fmt: skip


class _FirstDue(Expression):
    """When an incident's first clock not met is due, or NULL if it has none: the earlier of
    the AI Act's (its period by the kind of harm, ``AI_ACT_PERIODS``) and GDPR's, each the
    moment of awareness plus the period in elapsed seconds (``due_after``), written as SQL
    around the incident's own columns (PostgreSQL's LEAST skips a NULL). Built by the ORM
    (a CASE of a WHEN per kind of harm, coalesced both ways), building it cost more than the
    incidents it spares reading."""

    output_field = DateTimeField()
    _COLUMNS = (
        "aware_at", "serious_harm", "regulator_reported_at", "personal_data_breach",
        "dpa_reported_at",
    )  # fmt: skip

    def __init__(self):
        super().__init__()
        self.columns = [F(name) for name in self._COLUMNS]

    def get_source_expressions(self):
        return self.columns

    def set_source_expressions(self, exprs):
        self.columns = list(exprs)

    def as_sql(self, compiler, connection):
        aware, harm, reported, breach, dpa = (compiler.compile(c)[0] for c in self.columns)
        kinds = " ".join(["WHEN %s THEN %s"] * len(AI_ACT_PERIODS))
        params = []
        for kind, (period, _) in AI_ACT_PERIODS.items():
            params += [kind.value, int(period.total_seconds())]
        sql = (
            f"LEAST(CASE WHEN {reported} IS NULL THEN {aware} + (CASE {harm} {kinds} END) "
            f"* INTERVAL '1 second' END, CASE WHEN {breach} AND {dpa} IS NULL THEN {aware} + "
            "%s * INTERVAL '1 second' END)"
        )
        return sql, (*params, int(GDPR_PERIOD.total_seconds()))


def deadlines_due(user=None, *, now: datetime | None = None, limit: int | None = None) -> list[Due]:
    """Near and overdue deadlines not yet met (closed incidents too), soonest first: the first
    ``limit`` of them, or all.

    Given a person, only those of incidents they may see (the dashboard); without one, all.
    With a ``limit`` (the dashboard's ten), on PostgreSQL only the incidents whose first clock
    not met is among the ``limit`` soonest due are read (each of the first ``limit`` clocks is
    an incident's, whose first clock is due no later): not every incident with a clock
    running, each built and its clocks worked out, to show ten.
    """
    now = now or timezone.now()
    qs = _unmet_clocks()
    if user is not None:
        # A person's page lists the incident by its reference and title: not the rest of it,
        # its use case and the owners the reminders (no person) write to. Few incidents have
        # a clock not met: each one's use case is asked of its own.
        qs = of_visible_use_cases_by_row(user, qs.select_related(None).only(*CLOCK_FIELDS))
    if limit is not None and connection.vendor == "postgresql":
        near = now + timedelta(hours=settings.INCIDENT_DEADLINE_NEAR_HOURS)
        qs = (
            qs.alias(first_due=_FirstDue())
            .filter(first_due__lte=near)
            .order_by("first_due", "pk")[:limit]
        )
    found = [
        Due(incident, d)
        for incident in qs
        for d in deadlines(incident, now=now)
        if d.state in REMIND_STATES
    ]
    found.sort(key=lambda item: (item.deadline.due_at, item.incident.pk))
    return found if limit is None else found[:limit]
