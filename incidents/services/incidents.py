"""Incidents: opening one, moving it through its workflow, and the actions taken from it.

Every write locks the incident, checks the rule, saves with a history change reason and
appends a line to its timeline with who and when. The timeline is append-only (PostgreSQL
refuses to change or delete an entry). An action done through another service (the kill
switch, a rollback, a re-assessment) runs first: when that service refuses, the error goes
back to the caller and the timeline records nothing, since nothing happened.

People are told by email and by signed webhook when an incident is opened, its severity
changes, a reporting deadline comes near (deadlines.py) and when it is closed.
"""

from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.urls import NoReverseMatch
from django.utils import timezone

from assessments.services.workflow import assessment_reassess
from incidents.models import (
    REVIEW_REQUIRED,
    DetectedBy,
    EntryKind,
    Incident,
    SeriousHarm,
    Severity,
    Status,
    TimelineEntry,
)
from incidents.services import webhooks
from incidents.services.deadlines import deadlines
from monitoring.models import Flag
from monitoring.services.flags import describe_breach, last_signed_off
from portal import notify as portal_notify
from portal import workflow
from portal.access import can, require
from portal.records import next_reference, save_with_history
from portal.workflow import Transition
from registry.models import Deployment, ModelVersion, UseCase
from registry.services import deployment_rollback, use_case_set_kill_switch

# A monitoring flag's severity, as an incident's.
FLAG_SEVERITY = {
    "critical": Severity.SEV1,
    "high": Severity.SEV2,
    "medium": Severity.SEV3,
    "low": Severity.SEV4,
}

CHANGE = "incidents.change_incident"
TRANSITIONS: dict[str, Transition] = {
    "triage": Transition("Triage", frozenset({Status.OPEN}), Status.TRIAGED, CHANGE),
    "mitigate": Transition(
        "Mark mitigated", frozenset({Status.OPEN, Status.TRIAGED}), Status.MITIGATED, CHANGE
    ),
    "resolve": Transition(
        "Resolve",
        frozenset({Status.OPEN, Status.TRIAGED, Status.MITIGATED}),
        Status.RESOLVED,
        CHANGE,
        style="success",
    ),
    "close": Transition(
        "Close", frozenset({Status.RESOLVED}), Status.CLOSED, CHANGE, style="secondary"
    ),
    "reopen": Transition(
        "Reopen",
        frozenset({Status.RESOLVED, Status.CLOSED}),
        Status.OPEN,
        CHANGE,
        reason_required=True,
        style="warning",
    ),
}

# What incident_update may change, and how the timeline names each field.
UPDATABLE = {
    "title": "title",
    "description": "description",
    "severity": "severity",
    "owner": "owner",
    "model_version": "model version",
    "aware_at": "became aware at",
    "serious_harm": "serious incident (EU AI Act)",
    "personal_data_breach": "personal data breach",
    "regulator_reported_at": "reported to the market surveillance authority at",
    "dpa_reported_at": "reported to the data protection authority at",
}
# A report to a regulator may be recorded after the incident closed; nothing else may change.
CHANGEABLE_WHEN_CLOSED = {"regulator_reported_at", "dpa_reported_at"}
REVIEW_PARTS = {
    "review_cause": "cause",
    "review_impact": "impact",
    "review_changes": "what changed",
}


# Helpers -------------------------------------------------------------------------------------
def _person(actor):
    """The user to record, or None for the system (a monitoring rule, a reminder)."""
    return actor if actor is not None and actor.is_authenticated else None


def timeline_entry(incident: Incident, actor, kind: str, text: str, data: dict | None = None):
    return TimelineEntry.objects.create(
        incident=incident, actor=_person(actor), kind=kind, text=text, data=data or {}
    )


def _lock(incident: Incident) -> Incident:
    # of=("self",): lock the incident row only, not the use case and people it is read with.
    return (
        Incident.objects.select_for_update(of=("self",))
        .select_related("use_case__business_unit", "use_case__owner", "owner")
        .get(pk=incident.pk)
    )


def _name(user) -> str:
    if user is None:
        return "monitoring"
    return user.get_full_name() or user.username


def incident_url(incident: Incident) -> str:
    try:
        path = incident.get_absolute_url()
    except NoReverseMatch:  # the pages are not mounted (a worker-only deployment)
        path = f"/incidents/{incident.reference}/"
    return settings.SITE_URL.rstrip("/") + path


def payload(incident: Incident, now: datetime | None = None) -> dict:
    """What a webhook says about an incident."""

    return {
        "reference": incident.reference,
        "title": incident.title,
        "use_case": incident.use_case.reference,
        "severity": incident.severity,
        "status": incident.status,
        "url": incident_url(incident),
        "deadlines": [d.as_dict() for d in deadlines(incident, now=now)],
    }


def notify(
    incident: Incident,
    *,
    event: str,
    subject: str,
    lines: list[str],
    recipients=None,
    extra: dict | None = None,
) -> None:
    """Email the incident's owner and the use case's owner, and send the signed webhook.

    Both are written to the outbox with the change and go out once it commits.
    """

    people = recipients if recipients is not None else [incident.owner, incident.use_case.owner]
    body = [*lines, "", incident_url(incident)]
    portal_notify.email(people, subject, "\n".join(body), url=incident_url(incident))
    webhooks.emit(
        event=event,
        subject=f"incident:{incident.reference}",
        payload={**payload(incident), **(extra or {})},
        business_unit=incident.use_case.business_unit,
    )


def _check_owner(owner, use_case: UseCase) -> None:
    if owner is None or not owner.is_active:
        raise ValidationError({"owner": "Choose an active person to own the incident."})
    if not can(owner, "registry.view_usecase", use_case):
        # No name: the id may have been typed into the API by someone who may not know who it is.
        raise ValidationError(
            {"owner": "That person cannot see this use case; choose someone who can."}
        )


def _check_model_version(version: ModelVersion | None, use_case: UseCase) -> None:
    """An incident's model version is one a deployment of the use case serves or served."""
    if version is not None and not served_by(use_case, version):
        raise ValidationError(
            {
                "model_version": f"{version} is not deployed for {use_case.reference}: choose a "
                "version one of its deployments serves or served before."
            }
        )


def served_by(use_case: UseCase, version: ModelVersion) -> bool:
    return (
        Deployment.objects.filter(use_case=use_case)
        .filter(Q(model_version=version) | Q(previous_version=version))
        .exists()
    )


def _refuse_when_closed(incident: Incident) -> None:
    """Actions (kill switch, rollback, re-assessment) are taken while the incident is worked."""
    if incident.status == Status.CLOSED:
        raise ValidationError(f"{incident.reference} is closed: reopen it first to act from it.")


def review_needed(incident: Incident) -> str:
    """The severity that makes the post-incident review needed to close, or "".

    The highest severity the incident ever had counts, so lowering a SEV1 or SEV2 to a SEV3
    does not close it without a review.
    """
    if incident.severity in REVIEW_REQUIRED:
        return incident.severity
    if incident.pk is None:
        return ""
    past = set(incident.history.values_list("severity", flat=True)) & set(REVIEW_REQUIRED)
    return min(past) if past else ""  # "sev1" sorts before "sev2"


def _check_when(field: str, value: datetime | None, now: datetime) -> None:
    if value is not None and value > now:
        raise ValidationError({field: "That is in the future."})


def _check_choice(field: str, value, choices) -> None:
    if value not in choices.values:
        raise ValidationError({field: f"Choose one of: {', '.join(map(str, choices.labels))}."})


# Opening -------------------------------------------------------------------------------------
@transaction.atomic
def incident_open(
    *,
    actor,
    use_case: UseCase,
    title: str,
    severity: str,
    detected_by: str,
    owner=None,
    description: str = "",
    model_version: ModelVersion | None = None,
    flag=None,
    aware_at: datetime | None = None,
    serious_harm: str = "",
    personal_data_breach: bool = False,
) -> Incident:
    """Open an incident. ``actor`` None means a monitoring rule opened it (no rule to ask)."""
    use_case = (
        UseCase.objects.select_for_update(of=("self",))
        .select_related("business_unit", "owner")
        .get(pk=use_case.pk)
    )
    if actor is not None:
        require(actor, "incidents.open_incident", use_case)
    now = timezone.now()
    title = (title or "").strip()
    if not title:
        raise ValidationError({"title": "Say in a line what went wrong."})
    _check_choice("severity", severity, Severity)
    _check_choice("detected_by", detected_by, DetectedBy)
    _check_choice("serious_harm", serious_harm or "", SeriousHarm)
    owner = owner or use_case.owner
    _check_owner(owner, use_case)
    aware_at = aware_at or now
    _check_when("aware_at", aware_at, now)
    if flag is not None and flag.use_case_id != use_case.pk:
        raise ValidationError({"flag": f"{flag.reference} is not a flag of {use_case.reference}."})
    _check_model_version(model_version, use_case)

    incident = Incident(
        reference=next_reference("INC"),
        title=title[:200],
        description=(description or "").strip(),
        use_case=use_case,
        model_version=model_version,
        detected_by=detected_by,
        flag=flag,
        severity=severity,
        owner=owner,
        aware_at=aware_at,
        serious_harm=serious_harm or "",
        personal_data_breach=bool(personal_data_breach),
        opened_by=_person(actor),
    )
    incident.full_clean(exclude=["reference"])
    save_with_history(
        incident, actor=_person(actor), reason=f"Opened ({incident.get_severity_display()})"
    )
    source = f" from {flag.reference}" if flag is not None else ""
    timeline_entry(
        incident,
        actor,
        EntryKind.STATUS,
        f"Opened{source} by {_name(_person(actor))} as {incident.get_severity_display()}, "
        f"owned by {_name(owner)}.",
        {"to": Status.OPEN, "severity": severity, "flag": flag.reference if flag else None},
    )
    notify(
        incident,
        event="incident.opened",
        subject=f"{incident.reference} opened ({incident.get_severity_display()}) on "
        f"{use_case.reference}",
        lines=[
            f"{incident.reference} {incident.title}",
            f"Use case: {use_case.reference} {use_case.title}",
            f"Severity: {incident.get_severity_display()}",
            f"Owner: {_name(owner)}",
            f"Detected by: {incident.get_detected_by_display()}{source}",
        ],
    )
    return incident


def _describe_flag(flag) -> str:
    if flag.rule is None:  # a non-metric cause (a material change, the gate...)
        return f"Monitoring raised {flag.reference}: {flag.title}"
    try:
        breach = describe_breach(flag.rule, flag.evidence)
    except (KeyError, TypeError, ValueError):  # evidence of another shape (e.g. a budget)
        breach = flag.rule.name
    return f"Monitoring raised {flag.reference}: {breach}"


@transaction.atomic
def incident_open_from_flag(*, actor, flag, severity: str | None = None) -> Incident:
    """The incident of a monitoring flag: one open incident per flag (an open one is returned).

    ``actor`` None is the flag's own rule (RuleAction.INCIDENT).
    """

    flag = (
        Flag.objects.select_for_update(of=("self",))
        .select_related("rule", "use_case", "model_version", "deployment__model_version")
        .get(pk=flag.pk)
    )
    existing = flag.incidents.exclude(status=Status.CLOSED).order_by("pk").first()
    if existing is not None:
        return existing
    use_case = flag.use_case
    version = flag.model_version or (flag.deployment.model_version if flag.deployment else None)
    if version is not None and not served_by(use_case, version):
        version = None  # a monitoring rule's incident opens anyway, without the version
    return incident_open(
        actor=actor,
        use_case=use_case,
        title=f"{flag.title} on {use_case.reference} {use_case.title}"[:200],
        severity=severity or FLAG_SEVERITY.get(flag.severity, Severity.SEV3),
        detected_by=DetectedBy.MONITORING,
        owner=use_case.owner,
        description=_describe_flag(flag),
        model_version=version,
        flag=flag,
        aware_at=flag.raised_at,
    )


# The workflow --------------------------------------------------------------------------------
def available_transitions(incident: Incident, user) -> list[tuple[str, Transition]]:
    return workflow.available_transitions(TRANSITIONS, incident, user)


@transaction.atomic
def incident_transition(*, actor, incident: Incident, action: str, note: str = "") -> Incident:
    workflow.get_transition(TRANSITIONS, action)
    incident = _lock(incident)
    transition = workflow.check_transition(
        TRANSITIONS, action, incident, actor, display=incident.get_status_display().lower()
    )
    note = (note or "").strip()
    if transition.reason_required and not note:
        raise ValidationError({"note": f"Say why ({transition.label.lower()})."})
    needed = review_needed(incident) if transition.target == Status.CLOSED else ""
    if needed:
        missing = [label for f, label in REVIEW_PARTS.items() if not getattr(incident, f).strip()]
        if missing:
            what = (
                f"A {Severity(needed).label} incident"
                if needed == incident.severity
                else f"An incident that was {Severity(needed).label}"
            )
            raise ValidationError(
                {
                    "review": f"{what} is closed only after its post-incident review: "
                    f"write the {', '.join(missing)}."
                }
            )

    before = incident.status
    incident.status = transition.target
    incident.closed_at = timezone.now() if transition.target == Status.CLOSED else None
    summary = f"{transition.label}: {Status(before).label} → {incident.get_status_display()}"
    save_with_history(incident, actor=actor, reason=f"{summary}. {note}".strip().rstrip("."))
    timeline_entry(
        incident,
        actor,
        EntryKind.STATUS,
        f"{summary}." + (f" {note}" if note else ""),
        {"action": action, "from": before, "to": incident.status},
    )
    if transition.target == Status.CLOSED:
        notify(
            incident,
            event="incident.closed",
            subject=f"{incident.reference} closed",
            lines=[
                f"{_name(actor)} closed {incident.reference} {incident.title}.",
                *([f"Note: {note}"] if note else []),
            ],
        )
    return incident


# Changes -------------------------------------------------------------------------------------
def _shown(incident: Incident, field: str) -> str:
    value = getattr(incident, field)
    if value is None or value == "":
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return f"{timezone.localtime(value):%d %b %Y %H:%M %Z}"
    if field in ("severity", "serious_harm"):
        return str(getattr(incident, f"get_{field}_display")())
    if field == "owner":
        return _name(value)
    return str(value)


@transaction.atomic
def incident_update(*, actor, incident: Incident, **fields) -> Incident:
    """Change what is known about the incident. A severity change is a line of its own on the
    timeline and is announced; the other changes share one line."""
    unknown = set(fields) - set(UPDATABLE)
    if unknown:
        raise TypeError(f"incident_update cannot change {', '.join(sorted(unknown))}")
    incident = _lock(incident)
    require(actor, CHANGE, incident)
    now = timezone.now()
    if "title" in fields:
        fields["title"] = (fields["title"] or "").strip()
    if "description" in fields:
        fields["description"] = (fields["description"] or "").strip()
    if "serious_harm" in fields:
        fields["serious_harm"] = fields["serious_harm"] or ""
    changed = [f for f in fields if getattr(incident, f) != fields[f]]
    if not changed:
        return incident
    if incident.status == Status.CLOSED and set(changed) - CHANGEABLE_WHEN_CLOSED:
        raise ValidationError("A closed incident does not change: reopen it first.")

    if "title" in changed and not fields["title"]:
        raise ValidationError({"title": "Say in a line what went wrong."})
    if "severity" in changed:
        _check_choice("severity", fields["severity"], Severity)
    if "serious_harm" in changed:
        _check_choice("serious_harm", fields["serious_harm"], SeriousHarm)
    if "owner" in changed:
        _check_owner(fields["owner"], incident.use_case)
    if "model_version" in changed:
        _check_model_version(fields["model_version"], incident.use_case)
    if "aware_at" in changed and fields["aware_at"] is None:
        raise ValidationError({"aware_at": "Say when the firm became aware."})
    for field in ("aware_at", "regulator_reported_at", "dpa_reported_at"):
        if field in changed:
            _check_when(field, fields[field], now)

    before = {f: _shown(incident, f) for f in changed}
    old_severity = incident.severity
    for field in changed:
        setattr(incident, field, fields[field])
    for field in ("regulator_reported_at", "dpa_reported_at"):
        reported = getattr(incident, field)
        if reported is not None and reported < incident.aware_at:
            raise ValidationError({field: "A report comes after the firm became aware."})

    lines = [f"{UPDATABLE[f]}: {before[f]} → {_shown(incident, f)}" for f in changed]
    save_with_history(incident, actor=actor, reason="Changed " + "; ".join(lines))
    if "severity" in changed:
        timeline_entry(
            incident,
            actor,
            EntryKind.SEVERITY,
            f"Severity {before['severity']} → {incident.get_severity_display()}.",
            {"from": old_severity, "to": incident.severity},
        )
    others = [line for f, line in zip(changed, lines, strict=True) if f != "severity"]
    if others:
        timeline_entry(
            incident,
            actor,
            EntryKind.ACTION,
            "Changed " + "; ".join(others) + ".",
            {"fields": [f for f in changed if f != "severity"]},
        )
    if "severity" in changed:
        notify(
            incident,
            event="incident.severity_changed",
            subject=f"{incident.reference} is now {incident.get_severity_display()}",
            lines=[
                f"{_name(actor)} changed the severity of {incident.reference} "
                f"{incident.title} from {before['severity']} to "
                f"{incident.get_severity_display()}.",
            ],
            extra={"previous_severity": old_severity},
        )
    return incident


@transaction.atomic
def incident_write_review(
    *, actor, incident: Incident, cause: str, impact: str, changes: str
) -> Incident:
    """Write (or amend) the post-incident review; a part may be left for later."""
    incident = _lock(incident)
    require(actor, CHANGE, incident)
    if incident.status == Status.CLOSED:
        raise ValidationError("A closed incident does not change: reopen it first.")
    texts = {
        "review_cause": (cause or "").strip(),
        "review_impact": (impact or "").strip(),
        "review_changes": (changes or "").strip(),
    }
    changed = [f for f, text in texts.items() if getattr(incident, f) != text]
    if not changed:
        return incident
    for field, text in texts.items():
        setattr(incident, field, text)
    missing = [label for f, label in REVIEW_PARTS.items() if not texts[f]]
    parts = ", ".join(REVIEW_PARTS[f] for f in changed)
    text = f"Post-incident review written ({parts})."
    if missing:
        text += f" Still to write: {', '.join(missing)}."
    save_with_history(incident, actor=actor, reason=f"Post-incident review: {parts}")
    timeline_entry(incident, actor, EntryKind.REVIEW, text, {"parts": changed, "missing": missing})
    return incident


@transaction.atomic
def incident_add_note(*, actor, incident: Incident, text: str) -> TimelineEntry:
    incident = _lock(incident)
    require(actor, CHANGE, incident)
    text = (text or "").strip()
    if not text:
        raise ValidationError({"text": "Write the note."})
    return timeline_entry(incident, actor, EntryKind.NOTE, text)


# Actions through other services --------------------------------------------------------------
@transaction.atomic
def incident_kill_switch(*, actor, incident: Incident, engaged: bool, reason: str) -> Incident:
    """Switch the use case's AI off (engaged) or back on, from the incident."""

    incident = _lock(incident)
    require(actor, CHANGE, incident)
    _refuse_when_closed(incident)
    # Lock the use case before reading its state: two incidents of one use case lock different
    # incident rows, and without this both would see "on" and both write "Switched the AI off".
    use_case = UseCase.objects.select_for_update(of=("self",)).get(pk=incident.use_case_id)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the AI is switched off or on."})
    if use_case.kill_switch_engaged == engaged:
        state = "off" if engaged else "on"
        raise ValidationError({"engaged": f"The AI of {use_case.reference} is already {state}."})
    use_case = use_case_set_kill_switch(
        actor=actor, use_case=use_case, engaged=engaged, reason=f"{incident.reference}: {reason}"
    )
    incident.use_case = use_case
    verb = "Switched the AI off (kill switch engaged)" if engaged else "Switched the AI back on"
    timeline_entry(
        incident,
        actor,
        EntryKind.ACTION,
        f"{verb}: {reason}",
        {"action": "kill_switch", "engaged": engaged, "use_case": use_case.reference},
    )
    return incident


@transaction.atomic
def incident_rollback(
    *, actor, incident: Incident, deployment: Deployment, reason: str
) -> Deployment:
    """Roll one of the use case's deployments back to the version it served before."""

    incident = _lock(incident)
    require(actor, CHANGE, incident)
    _refuse_when_closed(incident)
    if deployment.use_case_id != incident.use_case_id:
        raise ValidationError(
            {"deployment": f"That deployment does not serve {incident.use_case.reference}."}
        )
    # Read it again under the incident's lock: a rollback swaps the current and the previous
    # version, so a second click (or a second responder) would put the bad version back.
    deployment = Deployment.objects.select_related("model_version", "previous_version").get(
        pk=deployment.pk
    )
    undone = rolled_back_from(incident).get(deployment.pk, {})
    if deployment.previous_version_id in undone:
        versions = dict(
            ModelVersion.objects.filter(
                pk__in=[deployment.previous_version_id, undone[deployment.previous_version_id]]
            ).values_list("pk", "version")
        )
        bad = versions.get(deployment.previous_version_id, "?")
        good = versions.get(undone[deployment.previous_version_id], "?")
        raise ValidationError(
            {
                "deployment": f"Already rolled back from this incident ({bad} → {good}). To go "
                "forward again, change the deployment on the use case page."
            }
        )
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why it is rolled back."})
    deployment = deployment_rollback(
        actor=actor, deployment=deployment, reason=f"{incident.reference}: {reason}"
    )
    before = deployment.previous_version  # what it served until now
    assert before is not None  # a rollback keeps the version it replaced
    timeline_entry(
        incident,
        actor,
        EntryKind.ACTION,
        f"Rolled back {deployment.get_environment_display().lower()} from {before} to "
        f"{deployment.model_version}: {reason}",
        {
            "action": "rollback",
            "deployment": deployment.pk,
            "from": before.pk,
            "to": deployment.model_version_id,
        },
    )
    return deployment


def rolled_back_from(incident: Incident) -> dict[int, dict[int, int]]:
    """What this incident rolled each deployment back from: {deployment id: {version id rolled
    away from: version id gone back to}}. Rolling back again while the deployment's previous
    version is one of these would re-deploy the version the incident took away."""
    found: dict[int, dict[int, int]] = {}
    entries = TimelineEntry.objects.filter(
        incident=incident, kind=EntryKind.ACTION, data__action="rollback"
    ).values_list("data", flat=True)
    for data in entries:
        found.setdefault(data["deployment"], {})[data["from"]] = data["to"]
    return found


@transaction.atomic
def incident_start_reassessment(*, actor, incident: Incident):
    """Start a re-assessment draft from the use case's last signed-off assessment."""

    incident = _lock(incident)
    require(actor, CHANGE, incident)
    _refuse_when_closed(incident)
    signed = last_signed_off(incident.use_case)
    if signed is None:
        raise ValidationError(
            f"{incident.use_case.reference} has no signed-off assessment to start from: "
            "start one from the use case page."
        )
    draft = assessment_reassess(actor=actor, assessment=signed)
    timeline_entry(
        incident,
        actor,
        EntryKind.ACTION,
        f"Re-assessment {draft.reference} started from {signed.reference}.",
        {"action": "reassess", "assessment": draft.reference, "from": signed.reference},
    )
    return draft
