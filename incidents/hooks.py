"""What the incidents app adds to the apps below it, at start-up (IncidentsConfig.ready calls
``register_all``): its records in the history browser, the incidents card of the use-case
page, the go-live gate's runbook requirement, the monitoring rule action that opens an
incident, and the signed webhook that tells deployed systems when a use case's AI stops or
starts (registry.signals.ai_switched)."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.db.models.signals import post_save
from django.urls import reverse

from incidents.models import Delivery, Incident, Runbook, Severity, TimelineEntry, WebhookEndpoint
from incidents.selectors import incidents_visible_to, runbooks_visible_to, use_case_incidents
from incidents.services.incidents import incident_open_from_flag
from incidents.services.killswitch import forget_poll_states
from incidents.services.runbooks import NO_RUNBOOK, runbook_is_current
from incidents.services.webhooks import emit_kill_switch
from monitoring.models import Flag, RuleAction
from monitoring.pages import flag_panels
from monitoring.services.flags import register_rule_action
from portal import crypto, ledger, metrics
from portal.access import can
from portal.history import tracked as history
from portal.records import save_with_history
from registry.gate import (
    Check,
    Fix,
    GateContext,
    moment,
    person,
    register_gate_check,
    register_gate_fix,
)
from registry.models import UseCase
from registry.pages import use_case_panels
from registry.signals import ai_switched


def runbook_check(context: GateContext) -> Check:
    # Its newest history row is the exact version the gate saw, read in the same query.
    latest = Runbook.history.filter(id=OuterRef("pk")).order_by("-history_id")
    runbook = (
        Runbook.objects.filter(use_case=context.use_case)
        .select_related("updated_by")
        .annotate(history_id=Subquery(latest.values("history_id")[:1]))
        .first()
    )
    if runbook is None:
        return Check("runbook", "A current runbook", False, NO_RUNBOOK)
    holds, detail = runbook_is_current(context.use_case, context.today, runbook=runbook)
    evidence = {
        "runbook": {
            "id": runbook.pk,
            "version": runbook.version,
            "history_id": runbook.history_id,  # annotated above
            "reviewed_at": moment(runbook.reviewed_at),
            "review_due": moment(runbook.review_due),
            "updated_by": person(runbook.updated_by),
        }
    }
    return Check("runbook", "A current runbook", holds, detail, evidence=evidence)


def _fix_runbook(use_case: UseCase, check: Check) -> list[Fix]:
    url = reverse("incidents:runbook-edit", args=[use_case.pk])
    return [Fix("Write or review the runbook", url)]


def open_incident(flag: Flag) -> None:
    """Open the flag's incident (owned by the use case's owner), or record why not."""
    try:
        with transaction.atomic():
            incident = incident_open_from_flag(actor=None, flag=flag)
    except (PermissionDenied, ValidationError) as exc:
        why = "; ".join(getattr(exc, "messages", None) or [str(exc)])
        flag.evidence["incident"] = f"No incident opened: {why}"
        note = f"No incident opened: {why}"
    else:
        flag.evidence["incident"] = f"{incident.reference} opened"
        note = f"Incident {incident.reference} opened"
    save_with_history(flag, actor=None, reason=note)


def _forget_poll_states(sender, **kwargs) -> None:
    forget_poll_states()


def _announce_switch(sender, *, actor, use_case: UseCase, reason: str, **kwargs) -> None:
    emit_kill_switch(actor=actor, use_case=use_case, reason=reason)


def _use_case_card(user, use_case: UseCase, context: dict) -> dict:
    return use_case_incidents(user, use_case)


def _flag_card(user, flag: Flag, context: dict) -> dict:
    # Opening an incident from the flag is this app's: the card posts here.
    return {
        "can_open_incident": can(user, "incidents.open_incident", flag.use_case),
        "severities": Severity.choices,
    }


def _timeline_subject(entry: TimelineEntry) -> tuple[str, int | None]:
    return f"incidents.incident:{entry.incident_id}", entry.incident.use_case_id


def _gauges():
    """For /metrics: webhook deliveries waiting, and how many of them have failed before."""
    pending = Delivery.objects.filter(delivered_at__isnull=True, next_attempt_at__isnull=False)
    yield metrics.gauge(
        "steward_webhook_deliveries_pending", "Webhook deliveries not yet acknowledged.",
        pending.count(),
    )  # fmt: skip
    yield metrics.gauge(
        "steward_webhook_deliveries_failing",
        "Webhook deliveries not yet acknowledged whose last attempt failed.",
        pending.filter(attempts__gt=0).count(),
    )


def register_all() -> None:
    metrics.register_gauges(_gauges)
    crypto.register_field(WebhookEndpoint, "secret_encrypted")
    ledger.register(TimelineEntry, kind="timeline", subject=_timeline_subject)
    history.register(Runbook, rule="incidents.view_runbook", selector=runbooks_visible_to)
    history.register(Incident, rule="incidents.view_incident", selector=incidents_visible_to)
    use_case_panels.register(
        "incidents/_use_case_incidents.html",
        _use_case_card,
        order=40,
        select_related=("runbook",),
    )
    flag_panels.register("incidents/_flag_open_incident.html", _flag_card, order=10)
    register_gate_check(runbook_check, order=100)
    register_gate_fix("runbook", _fix_runbook)
    register_rule_action(RuleAction.INCIDENT, open_incident)
    ai_switched.connect(_announce_switch, dispatch_uid="incidents.kill_switch_webhooks")
    # A poll answers from each process's copy: a change made here is read on the next poll.
    post_save.connect(_forget_poll_states, sender=UseCase, dispatch_uid="incidents.poll_book")
