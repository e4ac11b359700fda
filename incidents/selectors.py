"""Reads of incidents, runbooks, kill-switch tokens and webhooks, filtered to who asks.

Everything follows the use case: whoever sees a use case sees its runbook, its incidents and
their timelines (the rules in incidents/rules.py then decide what they may do). A missing
record and one the person may not see both answer 404, so nothing leaks that it exists.
Webhook endpoints are the admins' alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from incidents.models import (
    Delivery,
    Incident,
    KillSwitchToken,
    Runbook,
    Status,
    TimelineEntry,
    WebhookEndpoint,
)
from incidents.services.deadlines import deadlines
from incidents.services.incidents import rolled_back_from
from incidents.services.runbooks import runbook_is_current
from portal.access import can
from portal.params import id_or_reference
from registry.models import Deployment, UseCase
from registry.selectors import (
    give_use_cases_shown,
    of_visible_use_cases,
    of_visible_use_cases_by_row,
    use_case_shown,
    use_cases_visible_to,
)


# Runbooks ------------------------------------------------------------------------------------
def runbooks_visible_to(user) -> QuerySet[Runbook]:
    return Runbook.objects.filter(
        use_case__in=use_cases_visible_to(user).values("pk")
    ).select_related("use_case__business_unit", "updated_by")


def runbook_of(use_case: UseCase) -> Runbook | None:
    return Runbook.objects.filter(use_case=use_case).select_related("updated_by").first()


# Incidents -----------------------------------------------------------------------------------
def incidents_visible_to(user) -> QuerySet[Incident]:
    """Incidents of the use cases the person sees, with what a list row or a CSV line shows."""
    return of_visible_use_cases(user, Incident.objects.all()).select_related(
        "use_case__business_unit", "owner", "opened_by", "model_version__model", "flag"
    )


def incident_by_key(user, key: str) -> Incident:
    """A visible incident by its reference (INC-0001) or id; 404 otherwise."""
    key = str(key).strip()
    qs = incidents_visible_to(user)
    found = qs.filter(**id_or_reference(key))
    incident = found.first() if key else None
    if incident is None or not can(user, "incidents.view_incident", incident):
        raise Http404("No such incident.")
    return incident


def filter_incidents(
    qs: QuerySet[Incident],
    *,
    status: str = "",
    severity: str = "",
    use_case: UseCase | None = None,
    open_only: bool = False,
) -> QuerySet[Incident]:
    """The filters shared by the list page, the CSV export and the API."""
    if status:
        qs = qs.filter(status=status)
    if severity:
        qs = qs.filter(severity=severity)
    if use_case is not None:
        qs = qs.filter(use_case=use_case)
    if open_only:
        qs = qs.exclude(status=Status.CLOSED)
    return qs.order_by("-opened_at", "-pk")


def open_incidents_of(use_case: UseCase, limit: int = 10) -> list[Incident]:
    return list(
        Incident.objects.filter(use_case=use_case)
        .exclude(status=Status.CLOSED)
        .select_related("owner")
        .order_by("severity", "-opened_at")[:limit]
    )


def timeline_of(incident: Incident) -> QuerySet[TimelineEntry]:
    return (
        TimelineEntry.objects.filter(incident=incident).select_related("actor").order_by("at", "pk")
    )


def rollback_candidates(incident: Incident) -> list[Deployment]:
    """The use case's active deployments that have an earlier version to go back to, less
    those whose earlier version is one this incident already rolled them back from (going
    back again would re-deploy it)."""

    undone = rolled_back_from(incident)
    deployments = (
        Deployment.objects.filter(
            use_case_id=incident.use_case_id, active=True, previous_version__isnull=False
        )
        .select_related("model_version__model", "previous_version")
        .order_by("environment", "pk")
    )
    return [d for d in deployments if d.previous_version_id not in undone.get(d.pk, {})]


# The incident log as CSV ---------------------------------------------------------------------
EXPORT_COLUMNS = [
    "reference",
    "title",
    "use case",
    "use case title",
    "business unit",
    "severity",
    "status",
    "owner",
    "detected by",
    "aware at",
    "opened at",
    "closed at",
    "serious incident (EU AI Act)",
    "personal data breach",
    "EU AI Act deadline",
    "EU AI Act deadline state",
    "reported to the market surveillance authority at",
    "GDPR deadline",
    "GDPR deadline state",
    "reported to the data protection authority at",
    "review written",
]


def _when(value) -> str:
    return timezone.localtime(value).isoformat(timespec="minutes") if value else ""


def _person(user) -> str:
    if user is None:
        return ""
    return user.get_full_name() or user.username


def export_rows(incidents: Iterable[Incident], now=None) -> Iterator[list]:
    """One line per incident, its regulatory clocks as of ``now``.

    The deadlines are computed from the incident's own fields: no query per row.
    """

    now = now or timezone.now()
    for incident in incidents:
        clocks = {d.key: d for d in deadlines(incident, now=now)}
        ai_act, gdpr = clocks.get("ai_act"), clocks.get("gdpr")
        yield [
            incident.reference,
            incident.title,
            incident.use_case.reference,
            incident.use_case.title,
            incident.use_case.business_unit.name,
            incident.get_severity_display(),
            incident.get_status_display(),
            _person(incident.owner),
            incident.get_detected_by_display(),
            _when(incident.aware_at),
            _when(incident.opened_at),
            _when(incident.closed_at),
            incident.get_serious_harm_display() if incident.serious_harm else "",
            "yes" if incident.personal_data_breach else "no",
            _when(ai_act.due_at) if ai_act else "",
            ai_act.state if ai_act else "",
            _when(incident.regulator_reported_at),
            _when(gdpr.due_at) if gdpr else "",
            gdpr.state if gdpr else "",
            _when(incident.dpa_reported_at),
            "yes" if incident.review_written else "no",
        ]


# Kill-switch tokens and webhooks -------------------------------------------------------------
def kill_switch_tokens_of(use_case: UseCase) -> list[KillSwitchToken]:
    """Live tokens first, then revoked ones (kept: they say who polled until when)."""
    return list(
        KillSwitchToken.objects.filter(use_case=use_case)
        .select_related("created_by")
        .order_by("revoked_at", "name", "pk")
    )


def kill_switch_tokens_visible_to(user) -> QuerySet[KillSwitchToken]:
    """Tokens of the use cases the person sees; only editors may list or manage them."""
    return KillSwitchToken.objects.filter(
        use_case__in=use_cases_visible_to(user).values("pk")
    ).select_related("use_case__business_unit", "created_by")


def manageable_tokens(user, tokens: Iterable[KillSwitchToken]) -> list[KillSwitchToken]:
    """Keep the tokens whose use case the person may manage tokens of (asked once a use case)."""
    allowed: dict[int, bool] = {}
    kept = []
    for token in tokens:
        if token.use_case_id not in allowed:
            allowed[token.use_case_id] = can(
                user, "incidents.manage_kill_switch_tokens", token.use_case
            )
        if allowed[token.use_case_id]:
            kept.append(token)
    return kept


def webhook_endpoints_visible_to(user) -> QuerySet[WebhookEndpoint]:
    if not can(user, "incidents.manage_webhooks"):
        return WebhookEndpoint.objects.none()
    return WebhookEndpoint.objects.select_related("business_unit", "created_by").order_by(
        "name", "pk"
    )


def deliveries_of(endpoint: WebhookEndpoint, limit: int = 50) -> list[Delivery]:
    return list(Delivery.objects.filter(endpoint=endpoint).order_by("-created_at", "-pk")[:limit])


# The use case page's card and the dashboard --------------------------------------------------
@dataclass
class UseCaseIncidents:
    runbook: Runbook | None
    runbook_current: bool
    runbook_reason: str
    incidents: list[Incident]
    tokens: list[KillSwitchToken]
    can_open: bool
    can_edit_runbook: bool
    can_manage_tokens: bool


def use_case_incidents(user, use_case: UseCase) -> dict:
    """The incidents card of a use case page: the open incidents and the kill-switch tokens
    (whose last poll the card shows) are a query each; the runbook one more unless the page
    read it with the use case."""
    # Whoever sees the use case sees its incidents (incidents.view_incident follows it).
    if not can(user, "registry.view_usecase", use_case):
        return {"incidents_card": None}
    # The use case page reads the runbook with the use case (select_related): use it.
    if UseCase.runbook.is_cached(use_case):
        runbook = getattr(use_case, "runbook", None)
    else:
        runbook = runbook_of(use_case)

    # Without a runbook the service would read it again: say so here and save the query.
    current, reason = (
        runbook_is_current(use_case, runbook=runbook) if runbook else (False, "No runbook yet.")
    )
    return {
        "incidents_card": UseCaseIncidents(
            runbook=runbook,
            runbook_current=current,
            runbook_reason=reason,
            incidents=open_incidents_of(use_case),
            tokens=[t for t in kill_switch_tokens_of(use_case) if t.revoked_at is None],
            can_open=can(user, "incidents.open_incident", use_case),
            can_edit_runbook=can(user, "incidents.change_runbook", use_case),
            can_manage_tokens=can(user, "incidents.manage_kill_switch_tokens", use_case),
        )
    }


def open_incidents_visible_to(user, limit: int = 10) -> list[Incident]:
    """The dashboard's open incidents, most severe then newest first, with what a line shows
    (not the description or the timeline, nor the rest of the use case and the owner); the
    use case's reference read for the lines shown only (registry.selectors.use_case_shown),
    and each open incident's use case asked of its own for whether the person sees it (open
    incidents are few beside the register: registry.selectors.of_visible_use_cases_by_row)."""
    qs = (
        of_visible_use_cases_by_row(user, Incident.objects.exclude(status=Status.CLOSED))
        .select_related(None)
        .select_related("owner")
        .only(
            "id",
            "reference",
            "title",
            "severity",
            "status",
            "opened_at",
            "use_case_id",
            "owner_id",
            "owner__username",
            "owner__first_name",
            "owner__last_name",
        )  # fmt: skip
        .order_by("severity", "-opened_at")
    )
    shown = ("reference",)
    return give_use_cases_shown(list(use_case_shown(qs, shown)[:limit]), shown, qs.db)
