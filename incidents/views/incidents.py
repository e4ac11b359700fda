"""The incident log, its CSV, and each incident's page with its forms and actions.

Every form on the incident page posts to a view of its own; a refused or invalid post renders
the whole page again with that form's errors (status 400), so what was typed is kept.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from incidents import selectors
from incidents.forms import (
    FromFlagForm,
    IncidentEditForm,
    IncidentFilterForm,
    IncidentOpenForm,
    KillSwitchForm,
    NoteForm,
    RegulatoryForm,
    ReviewForm,
    RollbackForm,
    TransitionForm,
)
from incidents.models import SEVERITY_DEFINITIONS, Incident, Severity, Status

# The module too, for the services whose names are this module's views.
from incidents.services import incidents as incident_services
from incidents.services.deadlines import deadlines
from incidents.services.incidents import (
    TRANSITIONS,
    available_transitions,
    incident_add_note,
    incident_kill_switch,
    incident_rollback,
    incident_start_reassessment,
    incident_update,
    incident_write_review,
    review_needed,
)
from monitoring.selectors import flag_by_key
from portal.access import can
from portal.confirm import confirm_page, confirmed
from portal.csvexport import stream_csv
from portal.forms import apply_validation_error
from registry.selectors import access_use_case

PAGE_SIZE = 25

# Both action forms have a "reason": ids of their own, so each label names its own field.
KILL_ID = "kill-%s"
ROLLBACK_ID = "rollback-%s"


# The log and its CSV -------------------------------------------------------------------------
@login_required
@require_safe
def incident_list(request):
    form = IncidentFilterForm(request.GET or None, user=request.user)
    qs = selectors.filter_incidents(selectors.incidents_visible_to(request.user), **form.filters())
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))

    now = timezone.now()
    for incident in page.object_list:
        incident.clocks = deadlines(incident, now=now)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "incidents/incident_list.html",
        {
            "form": form,
            "page": page,
            "query": query.urlencode(),
            "can_manage_webhooks": can(request.user, "incidents.manage_webhooks"),
        },
    )


@login_required
@require_safe
def incident_export(request):
    """The incident log as CSV, with the list's filters, of what the person may see."""
    form = IncidentFilterForm(request.GET or None, user=request.user)
    qs = selectors.filter_incidents(selectors.incidents_visible_to(request.user), **form.filters())
    return stream_csv(
        "incident-log.csv",
        selectors.EXPORT_COLUMNS,
        selectors.export_rows(qs.iterator(chunk_size=500)),
    )


# Opening -------------------------------------------------------------------------------------
@login_required
@require_http_methods(["GET", "POST"])
def incident_open(request, use_case_id: int):
    use_case = access_use_case(request.user, use_case_id)
    if not can(request.user, "incidents.open_incident", use_case):
        raise PermissionDenied
    form = IncidentOpenForm(request.POST or None, use_case=use_case)
    if request.method == "POST" and form.is_valid():
        try:
            incident = incident_services.incident_open(
                actor=request.user, use_case=use_case, **form.service_fields()
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, f"{incident.reference} opened.")
            return redirect(incident)
    return render(
        request,
        "incidents/incident_open.html",
        {"use_case": use_case, "form": form, "definitions": _definitions()},
        status=400 if request.method == "POST" else 200,
    )


@login_required
@require_POST
def incident_open_from_flag(request, reference: str):
    flag = flag_by_key(request.user, reference)
    if not can(request.user, "incidents.open_incident", flag.use_case):
        raise PermissionDenied
    form = FromFlagForm(request.POST)
    severity = form.cleaned_data["severity"] if form.is_valid() else ""
    try:
        incident = incident_services.incident_open_from_flag(
            actor=request.user, flag=flag, severity=severity or None
        )
    except ValidationError as exc:
        for text in exc.messages:
            messages.error(request, text)
        return redirect("monitoring:flag-detail", reference=flag.reference)
    messages.success(request, f"{incident.reference} opened from {flag.reference}.")
    return redirect(incident)


# The incident page ---------------------------------------------------------------------------
def _definitions() -> list[tuple[str, str, str]]:
    return [(value, label, SEVERITY_DEFINITIONS[value]) for value, label in Severity.choices]


def _access(request, reference: str, perm: str | None = None) -> Incident:
    incident = selectors.incident_by_key(request.user, reference)
    if perm and not can(request.user, perm, incident):
        raise PermissionDenied
    return incident


def _page(request, incident: Incident, status: int = 200, **forms):
    """The incident page; ``forms`` replaces a blank form by the one just posted."""

    user = request.user
    use_case = incident.use_case
    can_change = can(user, "incidents.change_incident", incident)
    is_open = incident.status != Status.CLOSED
    transitions = available_transitions(incident, user) if can_change else []
    # Once a SEV1 or SEV2, always reviewed: a lowered severity does not skip the review.
    review_missing = bool(review_needed(incident)) and not incident.review_written
    can_kill = can_change and is_open and can(user, "registry.kill_switch_usecase", use_case)
    can_rollback = can_change and is_open and can(user, "registry.deploy_usecase", use_case)
    candidates = selectors.rollback_candidates(incident) if can_rollback else []
    context = {
        "incident": incident,
        "use_case": use_case,
        "definitions": _definitions(),
        "timeline": list(selectors.timeline_of(incident)),
        "clocks": deadlines(incident),
        "transitions": transitions,
        "close_refused": (
            "Closing a SEV1 or SEV2 incident needs the post-incident review: write its cause, "
            "impact and what changed below first."
            if review_missing and incident.status == Status.RESOLVED
            else ""
        ),
        "review_missing": review_missing,
        "can_change": can_change,
        "is_open": is_open,
        "can_kill": can_kill,
        "can_rollback": can_rollback and bool(candidates),
        "can_reassess": can_change and is_open,
        "note_form": forms.get("note_form") or (NoteForm() if can_change else None),
        "transition_form": forms.get("transition_form") or TransitionForm(),
        "edit_form": forms.get("edit_form")
        or (IncidentEditForm(instance=incident) if can_change and is_open else None),
        "regulatory_form": forms.get("regulatory_form")
        or (RegulatoryForm(instance=incident) if can_change else None),
        "review_form": forms.get("review_form")
        or (ReviewForm(instance=incident) if can_change else None),
        "kill_form": forms.get("kill_form")
        or KillSwitchForm(
            initial={"engaged": "0" if use_case.kill_switch_engaged else "1"}, auto_id=KILL_ID
        ),
        "rollback_form": forms.get("rollback_form")
        or RollbackForm(deployments=candidates, auto_id=ROLLBACK_ID),
        "action_errors": forms.get("action_errors", []),
    }
    return render(request, "incidents/incident_detail.html", context, status=status)


@login_required
@require_safe
def incident_detail(request, reference: str):
    return _page(request, _access(request, reference))


def _done(incident: Incident, message: str, request):
    messages.success(request, message)
    return redirect(incident)


@login_required
@require_POST
def incident_transition(request, reference: str, action: str):
    if action not in TRANSITIONS:
        raise Http404
    incident = _access(request, reference, "incidents.change_incident")
    form = TransitionForm(request.POST)
    note = form.cleaned_data["note"] if form.is_valid() else ""
    try:
        incident_services.incident_transition(
            actor=request.user, incident=incident, action=action, note=note
        )
    except ValidationError as exc:
        return _page(request, incident, 400, action_errors=exc.messages)
    incident.refresh_from_db()
    return _done(
        incident, f"{incident.reference} is {incident.get_status_display().lower()}.", request
    )


@login_required
@require_POST
def incident_note(request, reference: str):
    """Add a note: the only way a person writes to the timeline. Entries are never edited."""

    incident = _access(request, reference, "incidents.change_incident")
    form = NoteForm(request.POST)
    if form.is_valid():
        try:
            incident_add_note(actor=request.user, incident=incident, text=form.cleaned_data["text"])
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            return _done(incident, "Note added to the timeline.", request)
    return _page(request, incident, 400, note_form=form)


@login_required
@require_POST
def incident_edit(request, reference: str):
    incident = _access(request, reference, "incidents.change_incident")
    form = IncidentEditForm(request.POST, instance=Incident.objects.get(pk=incident.pk))
    if form.is_valid():
        try:
            incident_update(actor=request.user, incident=incident, **form.cleaned_data)
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            return _done(incident, f"{incident.reference} saved.", request)
    return _page(request, incident, 400, edit_form=form)


@login_required
@require_POST
def incident_regulatory(request, reference: str):
    """Whether it is a serious incident or a breach, and when each report was made."""

    incident = _access(request, reference, "incidents.change_incident")
    form = RegulatoryForm(request.POST, instance=Incident.objects.get(pk=incident.pk))
    if form.is_valid():
        try:
            incident_update(actor=request.user, incident=incident, **form.cleaned_data)
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            return _done(incident, "Regulatory clocks saved.", request)
    return _page(request, incident, 400, regulatory_form=form)


@login_required
@require_POST
def incident_review(request, reference: str):
    incident = _access(request, reference, "incidents.change_incident")
    form = ReviewForm(request.POST, instance=Incident.objects.get(pk=incident.pk))
    if form.is_valid():
        data = form.cleaned_data
        try:
            incident_write_review(
                actor=request.user,
                incident=incident,
                cause=data["review_cause"],
                impact=data["review_impact"],
                changes=data["review_changes"],
            )
        except ValidationError as exc:
            for key, target in (
                ("cause", "review_cause"),
                ("impact", "review_impact"),
                ("changes", "review_changes"),
            ):
                if hasattr(exc, "error_dict") and key in exc.error_dict:
                    exc.error_dict[target] = exc.error_dict.pop(key)
            apply_validation_error(form, exc)
        else:
            return _done(incident, "Post-incident review saved.", request)
    return _page(request, incident, 400, review_form=form)


# Actions -------------------------------------------------------------------------------------
def _crumbs(incident: Incident) -> list[tuple[str, str]]:
    return [
        ("Incidents", reverse("incidents:incident-list")),
        (incident.reference, incident.get_absolute_url()),
    ]


def _kill_switch_confirmation(request, incident: Incident, engaged: bool):
    """The incident page's kill switch asks first, as the use case page's does (issue 18)."""
    use_case = incident.use_case
    if engaged:
        changes = [
            f"Every deployed system that polls the kill switch for {use_case.reference} stops "
            "using the AI within its polling interval and runs its fallback; a webhook tells "
            "subscribed systems at once.",
            "The change, your name and your reason go on the incident's timeline and the use "
            "case's history.",
        ]
    else:
        changes = [
            "Deployed systems start using the AI again at their next poll.",
            "Make sure what made someone switch it off has been dealt with. The change and "
            "your reason are recorded.",
        ]
    verb = "off" if engaged else "back on"
    return confirm_page(
        request,
        question=f"Switch the AI {verb} for {use_case.reference}?",
        crumbs=_crumbs(incident),
        crumb="Kill switch",
        subject=f"{incident.reference} {incident.title} · {use_case.reference} {use_case.title}",
        changes=changes,
        action=reverse("incidents:incident-kill-switch", args=[incident.reference]),
        hidden=[("engaged", "1" if engaged else "0")],
        reason_label="Reason",
        button=f"Yes, switch the AI {verb}",
        style="danger" if engaged else "success",
        cancel=incident.get_absolute_url(),
    )


def _rollback_confirmation(request, incident: Incident, deployment):
    now, previous = deployment.model_version, deployment.previous_version
    env = deployment.get_environment_display().lower()
    return confirm_page(
        request,
        question=f"Roll {now.model.name} back from {now.version} to {previous.version}?",
        crumbs=_crumbs(incident),
        crumb="Roll back",
        subject=f"{incident.reference} {incident.title} · {deployment.use_case.reference} · {env}",
        changes=[
            f"The {env} deployment serves {previous.version} again; {now.version} stops "
            "serving here.",
            "The rollback, your name and your reason go on the incident's timeline and the "
            "deployment's history.",
        ],
        action=reverse("incidents:incident-rollback", args=[incident.reference]),
        hidden=[("deployment", deployment.pk)],
        reason_label="Reason",
        button=f"Yes, roll back to {previous.version}",
        style="warning",
        cancel=incident.get_absolute_url(),
    )


@login_required
@require_POST
def action_kill_switch(request, reference: str):
    incident = _access(request, reference, "incidents.change_incident")
    form = KillSwitchForm(request.POST, auto_id=KILL_ID)
    if form.is_valid() and not confirmed(request):
        return _kill_switch_confirmation(request, incident, form.cleaned_data["engaged"])
    if form.is_valid():
        engaged = form.cleaned_data["engaged"]
        try:
            incident_kill_switch(
                actor=request.user,
                incident=incident,
                engaged=engaged,
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            state = "switched off" if engaged else "switched back on"
            return _done(incident, f"{incident.use_case.reference}: AI {state}.", request)
    return _page(request, incident, 400, kill_form=form)


@login_required
@require_POST
def action_rollback(request, reference: str):
    incident = _access(request, reference, "incidents.change_incident")
    form = RollbackForm(
        request.POST, deployments=selectors.rollback_candidates(incident), auto_id=ROLLBACK_ID
    )
    if form.is_valid() and not confirmed(request):
        return _rollback_confirmation(request, incident, form.cleaned_data["deployment"])
    if form.is_valid():
        deployment = form.cleaned_data["deployment"]
        try:
            incident_rollback(
                actor=request.user,
                incident=incident,
                deployment=deployment,
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            return _done(incident, "Deployment rolled back to its previous version.", request)
    return _page(request, incident, 400, rollback_form=form)


@login_required
@require_POST
def action_reassess(request, reference: str):
    incident = _access(request, reference, "incidents.change_incident")
    try:
        incident_start_reassessment(actor=request.user, incident=incident)
    except ValidationError as exc:
        return _page(request, incident, 400, action_errors=exc.messages)
    return _done(incident, "Re-assessment started.", request)
