"""Incidents: opening (by hand, from a flag, by a monitoring rule), the workflow, the review
needed to close a SEV1 or SEV2, and the append-only timeline every action writes."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from assessments.models import Assessment
from incidents.models import EntryKind, Incident, Severity, Status, TimelineEntry
from incidents.selectors import rollback_candidates
from incidents.services.deadlines import deadlines
from incidents.services.incidents import (
    TRANSITIONS,
    available_transitions,
    incident_add_note,
    incident_kill_switch,
    incident_open_from_flag,
    incident_rollback,
    incident_start_reassessment,
    incident_transition,
    incident_update,
    incident_write_review,
)
from monitoring.models import FlagStatus
from monitoring.services.flags import flag_resolve
from registry import services
from tests.factories import (
    DeploymentFactory,
    ModelVersionFactory,
    PilotUseCaseFactory,
    RuleFactory,
    complete_card,
    ready_for_production,
    signed_off,
)
from tests.incidents.incident_helpers import announced, open_incident
from tests.monitoring.evaluation_helpers import raise_flag, switch_off_shipped_rules

pytestmark = pytest.mark.django_db


def kinds(incident) -> list[str]:
    return list(incident.timeline.order_by("at", "pk").values_list("kind", flat=True))


def write_review(incident, actor):
    return incident_write_review(
        actor=actor,
        incident=incident,
        cause="A stale rate table after the release.",
        impact="About 300 customers saw a wrong rate for two hours.",
        changes="The release checks the rate table; a monitoring rule watches quoted rates.",
    )


def move(incident, actor, *actions):
    for action in actions:
        incident = incident_transition(actor=actor, incident=incident, action=action, note="x")
    return incident


# Opening -------------------------------------------------------------------------------------
def test_opening_records_who_and_when_and_tells_the_owners(
    use_case, product_owner, risk_officer, endpoint, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        incident = open_incident(use_case, risk_officer, severity=Severity.SEV1)
    assert incident.reference.startswith("INC-")
    assert incident.status == Status.OPEN and incident.owner == product_owner
    assert incident.opened_by == risk_officer
    assert abs(incident.aware_at - timezone.now()) < timedelta(seconds=5)
    entry = incident.timeline.get()
    assert (entry.kind, entry.actor) == (EntryKind.STATUS, risk_officer)
    assert "Opened by" in entry.text and "SEV1" in entry.text
    assert incident.history.latest().history_change_reason == "Opened (SEV1)"
    # The email goes to the incident's owner and the use case's owner (one person here).
    assert [m.to for m in mailoutbox] == [[product_owner.email]]
    assert incident.reference in mailoutbox[0].subject
    [sent] = announced("incident.opened")
    assert sent["reference"] == incident.reference
    assert sent["use_case"] == use_case.reference
    assert (sent["severity"], sent["status"]) == ("sev1", "open")
    assert sent["url"].endswith(f"/{incident.reference}/")
    assert sent["deadlines"] == []


def test_opening_needs_a_title_an_owner_who_sees_the_use_case_and_a_past_time(
    use_case, product_owner, outsider
):
    with pytest.raises(ValidationError) as err:
        open_incident(use_case, product_owner, title="  ")
    assert "title" in err.value.message_dict
    with pytest.raises(ValidationError) as err:
        open_incident(use_case, product_owner, owner=outsider)
    assert "owner" in err.value.message_dict
    with pytest.raises(ValidationError) as err:
        open_incident(use_case, product_owner, aware_at=timezone.now() + timedelta(hours=1))
    assert "aware_at" in err.value.message_dict
    with pytest.raises(ValidationError) as err:
        open_incident(use_case, product_owner, severity="sev9")
    assert "severity" in err.value.message_dict
    assert not Incident.objects.exists()


def test_an_incident_opened_from_a_flag_takes_its_severity_version_and_time(retail, product_owner):
    switch_off_shipped_rules()
    deployment = DeploymentFactory(use_case__business_unit=retail, use_case__owner=product_owner)
    flag = raise_flag(deployment, RuleFactory(severity="critical", name="Error rate"))
    incident = incident_open_from_flag(actor=None, flag=flag)
    assert incident.severity == Severity.SEV1
    assert incident.detected_by == "monitoring"
    assert incident.model_version == deployment.model_version
    assert incident.owner == deployment.use_case.owner
    assert incident.aware_at == flag.raised_at
    assert incident.flag == flag and incident.opened_by is None
    assert incident.title == f"Error rate on {deployment.use_case.reference} " + (
        deployment.use_case.title
    )
    assert flag.reference in incident.description
    # One open incident per flag: asking again returns it.
    assert incident_open_from_flag(actor=product_owner, flag=flag) == incident
    # Once closed, the flag may open another.
    incident = move(incident, product_owner, "resolve")
    write_review(incident, product_owner)
    move(incident, product_owner, "close")
    again = incident_open_from_flag(actor=product_owner, flag=flag, severity=Severity.SEV3)
    assert again != incident and again.severity == Severity.SEV3
    assert again.opened_by == product_owner


@pytest.mark.parametrize(
    ("flag_severity", "expected"),
    [("critical", "sev1"), ("high", "sev2"), ("medium", "sev3"), ("low", "sev4")],
)
def test_a_flags_severity_maps_to_an_incidents(flag_severity, expected, retail, product_owner):
    switch_off_shipped_rules()
    deployment = DeploymentFactory(use_case__business_unit=retail, use_case__owner=product_owner)
    flag = raise_flag(deployment, RuleFactory(severity=flag_severity))
    assert incident_open_from_flag(actor=None, flag=flag).severity == expected


def test_a_rule_whose_action_says_so_opens_an_incident_with_its_flag(
    retail, product_owner, endpoint
):
    switch_off_shipped_rules()
    deployment = DeploymentFactory(use_case__business_unit=retail, use_case__owner=product_owner)
    flag = raise_flag(deployment, RuleFactory(action="incident", severity="high"))
    incident = Incident.objects.get(flag=flag)
    assert (incident.severity, incident.owner, incident.opened_by) == ("sev2", product_owner, None)
    flag.refresh_from_db()
    assert flag.evidence["incident"] == f"{incident.reference} opened"
    assert flag.history.latest().history_change_reason == f"Incident {incident.reference} opened"
    assert [p["reference"] for p in announced("incident.opened")] == [incident.reference]
    # A plain flagging rule opens none.
    raise_flag(deployment, RuleFactory(action="flag"))
    assert Incident.objects.count() == 1


def test_a_rule_that_cannot_open_an_incident_still_raises_its_flag(retail, product_owner):
    switch_off_shipped_rules()
    deployment = DeploymentFactory(use_case__business_unit=retail, use_case__owner=product_owner)
    # The owner has left: nobody active to own the incident.
    product_owner.is_active = False
    product_owner.save()
    flag = raise_flag(deployment, RuleFactory(action="incident"))
    assert flag.status == FlagStatus.OPEN
    flag.refresh_from_db()
    assert flag.evidence["incident"].startswith("No incident opened:")
    assert not Incident.objects.exists()


# The workflow --------------------------------------------------------------------------------
@pytest.mark.parametrize("action", list(TRANSITIONS))
@pytest.mark.parametrize("status", list(Status))
def test_each_move_goes_only_from_its_sources(action, status, incident, product_owner):
    write_review(incident, product_owner)
    Incident.objects.filter(pk=incident.pk).update(status=status)
    transition = TRANSITIONS[action]
    entries = incident.timeline.count()
    if status in transition.source:
        moved = incident_transition(
            actor=product_owner, incident=incident, action=action, note="Because."
        )
        assert moved.status == transition.target
        entry = moved.timeline.order_by("-pk").first()
        assert (entry.kind, entry.actor, entry.data["from"], entry.data["to"]) == (
            EntryKind.STATUS,
            product_owner,
            status,
            transition.target,
        )
        assert moved.history.latest().history_user == product_owner
        assert (moved.closed_at is not None) == (transition.target == Status.CLOSED)
    else:
        with pytest.raises(ValidationError):
            incident_transition(actor=product_owner, incident=incident, action=action, note="x")
        incident.refresh_from_db()
        assert incident.status == status and incident.timeline.count() == entries


def test_the_whole_workflow_and_the_buttons_it_offers(incident, product_owner, auditor):
    assert [name for name, _ in available_transitions(incident, product_owner)] == [
        "triage",
        "mitigate",
        "resolve",
    ]
    assert available_transitions(incident, auditor) == []
    incident = move(incident, product_owner, "triage", "mitigate", "resolve")
    write_review(incident, product_owner)
    incident = move(incident, product_owner, "close")
    assert incident.status == Status.CLOSED
    assert kinds(incident) == ["status", "status", "status", "status", "review", "status"]


@pytest.mark.parametrize("severity", [Severity.SEV1, Severity.SEV2])
def test_a_sev1_or_sev2_closes_only_after_its_review_naming_what_is_missing(
    severity, use_case, product_owner
):
    incident = move(
        open_incident(use_case, product_owner, severity=severity), product_owner, "resolve"
    )
    with pytest.raises(ValidationError) as err:
        incident_transition(actor=product_owner, incident=incident, action="close")
    assert "cause, impact, what changed" in err.value.message_dict["review"][0]
    incident_write_review(
        actor=product_owner, incident=incident, cause="Stale table.", impact="", changes=""
    )
    with pytest.raises(ValidationError) as err:
        incident_transition(actor=product_owner, incident=incident, action="close")
    assert "write the impact, what changed" in err.value.message_dict["review"][0]
    write_review(incident, product_owner)
    assert move(incident, product_owner, "close").status == Status.CLOSED


@pytest.mark.parametrize("severity", [Severity.SEV3, Severity.SEV4])
def test_a_sev3_or_sev4_closes_without_a_review(severity, use_case, product_owner):
    incident = open_incident(use_case, product_owner, severity=severity)
    assert move(incident, product_owner, "resolve", "close").status == Status.CLOSED


def test_closing_tells_the_owners_and_reopening_needs_a_note(
    use_case, product_owner, risk_officer, endpoint, mailoutbox, django_capture_on_commit_callbacks
):
    incident = open_incident(use_case, risk_officer, severity=Severity.SEV3)
    incident = move(incident, risk_officer, "resolve")
    with django_capture_on_commit_callbacks(execute=True):
        incident = incident_transition(actor=risk_officer, incident=incident, action="close")
    assert any(m.subject.endswith(f"{incident.reference} closed") for m in mailoutbox)
    [closed] = announced("incident.closed")
    assert closed["status"] == "closed"
    with pytest.raises(ValidationError) as err:
        incident_transition(actor=risk_officer, incident=incident, action="reopen", note=" ")
    assert "note" in err.value.message_dict
    incident = incident_transition(
        actor=risk_officer, incident=incident, action="reopen", note="It came back."
    )
    assert incident.status == Status.OPEN and incident.closed_at is None
    assert incident.timeline.order_by("-pk").first().text.endswith("It came back.")


# Changes -------------------------------------------------------------------------------------
def test_a_severity_change_is_its_own_entry_and_is_announced(
    incident, risk_officer, endpoint, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        incident_update(actor=risk_officer, incident=incident, severity=Severity.SEV1)
    entry = incident.timeline.order_by("-pk").first()
    assert (entry.kind, entry.actor, entry.text) == (
        EntryKind.SEVERITY,
        risk_officer,
        "Severity SEV2 → SEV1.",
    )
    assert any("is now SEV1" in m.subject for m in mailoutbox)
    [changed] = announced("incident.severity_changed")
    assert (changed["severity"], changed["previous_severity"]) == ("sev1", "sev2")


def test_other_changes_share_one_entry_and_start_the_clocks(incident, risk_officer, dpo):
    incident = incident_update(
        actor=dpo,
        incident=incident,
        serious_harm="general",
        personal_data_breach=True,
        owner=risk_officer,
    )
    entry = incident.timeline.order_by("-pk").first()
    assert entry.kind == EntryKind.ACTION and entry.actor == dpo
    assert "personal data breach: no → yes" in entry.text
    assert "rita.risk" in entry.text or risk_officer.get_full_name() in entry.text

    assert [d.key for d in deadlines(incident)] == ["ai_act", "gdpr"]
    # Nothing changed: nothing written.
    count = incident.timeline.count()
    incident_update(actor=dpo, incident=incident, personal_data_breach=True)
    assert incident.timeline.count() == count


def test_a_report_cannot_be_dated_before_awareness_or_in_the_future(incident, dpo):
    with pytest.raises(ValidationError) as err:
        incident_update(
            actor=dpo, incident=incident, dpa_reported_at=incident.aware_at - timedelta(hours=1)
        )
    assert "dpa_reported_at" in err.value.message_dict
    with pytest.raises(ValidationError):
        incident_update(
            actor=dpo, incident=incident, dpa_reported_at=timezone.now() + timedelta(hours=1)
        )
    with pytest.raises(TypeError):
        incident_update(actor=dpo, incident=incident, status="closed")


def test_a_closed_incident_only_takes_the_dates_it_was_reported(use_case, product_owner):
    incident = move(
        open_incident(use_case, product_owner, severity="sev4"), product_owner, "resolve", "close"
    )
    with pytest.raises(ValidationError, match="reopen"):
        incident_update(actor=product_owner, incident=incident, title="Another title")
    with pytest.raises(ValidationError, match="reopen"):
        write_review(incident, product_owner)
    reported = timezone.now()
    incident = incident_update(actor=product_owner, incident=incident, dpa_reported_at=reported)
    assert incident.dpa_reported_at == reported


def test_notes_and_the_review_are_on_the_timeline_with_who(incident, product_owner, dpo):
    entry = incident_add_note(actor=dpo, incident=incident, text="Asked legal about Art. 73.")
    assert (entry.kind, entry.actor, entry.text) == (
        EntryKind.NOTE,
        dpo,
        "Asked legal about Art. 73.",
    )
    assert entry.at is not None
    with pytest.raises(ValidationError):
        incident_add_note(actor=dpo, incident=incident, text="  ")
    incident = write_review(incident, product_owner)
    assert incident.review_written
    review = incident.timeline.order_by("-pk").first()
    assert review.kind == EntryKind.REVIEW and review.actor == product_owner


# Actions ---------------------------------------------------------------------------------------
def test_the_kill_switch_from_an_incident_is_on_the_timeline(incident, product_owner, use_case):
    incident = incident_kill_switch(
        actor=product_owner, incident=incident, engaged=True, reason="Wrong rates quoted"
    )
    use_case.refresh_from_db()
    assert use_case.kill_switch_engaged
    assert f"{incident.reference}: Wrong rates quoted" in (
        use_case.history.latest().history_change_reason
    )
    entry = incident.timeline.order_by("-pk").first()
    assert (entry.kind, entry.actor, entry.data["engaged"]) == (
        EntryKind.ACTION,
        product_owner,
        True,
    )
    # Already off: refused, and nothing is written.
    count = incident.timeline.count()
    with pytest.raises(ValidationError):
        incident_kill_switch(actor=product_owner, incident=incident, engaged=True, reason="again")
    with pytest.raises(ValidationError):
        incident_kill_switch(actor=product_owner, incident=incident, engaged=False, reason="")
    assert incident.timeline.count() == count
    incident_kill_switch(actor=product_owner, incident=incident, engaged=False, reason="Fixed")
    use_case.refresh_from_db()
    assert not use_case.kill_switch_engaged


def test_a_refused_kill_switch_writes_nothing(use_case, incident, leadership):
    # Leadership may own an incident of their unit but may not switch the AI off.
    incident = incident_update(actor=incident.owner, incident=incident, owner=leadership)
    count = incident.timeline.count()
    with pytest.raises(PermissionDenied):
        incident_kill_switch(actor=leadership, incident=incident, engaged=True, reason="Stop it")
    use_case.refresh_from_db()
    assert not use_case.kill_switch_engaged and incident.timeline.count() == count


@pytest.fixture
def rolled_forward(admin_user, product_owner, retail):
    """A pilot use case whose staging deployment moved from its first version to a second."""
    use_case = PilotUseCaseFactory(business_unit=retail, owner=product_owner)
    first = ready_for_production(use_case, admin_user)
    deployment = use_case.deployments.get()
    second = ModelVersionFactory(model=first.model, version="2.0")
    complete_card(second)
    deployment = services.deployment_update(
        actor=admin_user, deployment=deployment, data={"model_version": second}
    )
    return use_case, deployment, first, second


def test_a_rollback_from_an_incident_is_on_the_timeline(rolled_forward, product_owner):
    use_case, deployment, first, second = rolled_forward
    incident = open_incident(use_case, product_owner)
    deployment = incident_rollback(
        actor=product_owner, incident=incident, deployment=deployment, reason="Errors doubled"
    )
    assert deployment.model_version == first and deployment.previous_version == second
    entry = incident.timeline.order_by("-pk").first()
    assert entry.kind == EntryKind.ACTION and entry.actor == product_owner
    assert entry.data == {
        "action": "rollback",
        "deployment": deployment.pk,
        "from": second.pk,
        "to": first.pk,
    }
    assert "Errors doubled" in entry.text


def test_a_refused_rollback_writes_nothing(rolled_forward, product_owner, dpo):
    use_case, deployment, _first, second = rolled_forward
    incident = open_incident(use_case, product_owner)
    count = incident.timeline.count()
    # A DPO works the incident but does not deploy models.
    with pytest.raises(PermissionDenied):
        incident_rollback(actor=dpo, incident=incident, deployment=deployment, reason="Errors")
    with pytest.raises(ValidationError):
        incident_rollback(actor=product_owner, incident=incident, deployment=deployment, reason="")
    other = DeploymentFactory(use_case__business_unit=use_case.business_unit)
    with pytest.raises(ValidationError):
        incident_rollback(actor=product_owner, incident=incident, deployment=other, reason="x")
    deployment.refresh_from_db()
    assert deployment.model_version == second and incident.timeline.count() == count


def test_starting_a_reassessment_records_the_draft(incident, use_case, product_owner):
    with pytest.raises(ValidationError, match="no signed-off assessment"):
        incident_start_reassessment(actor=product_owner, incident=incident)
    assert incident.timeline.count() == 1
    signed = signed_off(use_case, "screening")
    draft = incident_start_reassessment(actor=product_owner, incident=incident)
    assert isinstance(draft, Assessment) and draft.status == "draft"
    entry = incident.timeline.order_by("-pk").first()
    assert entry.data == {
        "action": "reassess",
        "assessment": draft.reference,
        "from": signed.reference,
    }
    assert entry.actor == product_owner
    # A second draft is refused by the assessments workflow: nothing more is written.
    with pytest.raises(ValidationError):
        incident_start_reassessment(actor=product_owner, incident=incident)
    assert incident.timeline.count() == 2


# The timeline is append-only -------------------------------------------------------------------
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the guard is a PostgreSQL trigger")
def test_a_timeline_entry_cannot_be_changed_or_deleted(incident, product_owner):
    entry = incident_add_note(actor=product_owner, incident=incident, text="Original.")
    with pytest.raises(DatabaseError, match="never changed or deleted"), transaction.atomic():
        TimelineEntry.objects.filter(pk=entry.pk).update(text="Rewritten.")
    with pytest.raises(DatabaseError, match="never changed or deleted"), transaction.atomic():
        entry.text = "Rewritten."
        entry.save()
    with pytest.raises(DatabaseError, match="never changed or deleted"), transaction.atomic():
        TimelineEntry.objects.filter(pk=entry.pk).delete()
    entry.refresh_from_db()
    assert entry.text == "Original."


def test_a_resolved_flag_keeps_its_incident(retail, product_owner, risk_officer):
    switch_off_shipped_rules()
    deployment = DeploymentFactory(use_case__business_unit=retail, use_case__owner=product_owner)
    flag = raise_flag(deployment, RuleFactory(action="incident"))
    flag_resolve(actor=risk_officer, flag=flag, reason="Retrained.")
    incident = Incident.objects.get(flag=flag)
    assert incident.status == Status.OPEN


# Defects found in review -----------------------------------------------------------------------
def test_a_second_rollback_from_the_incident_is_refused_and_keeps_the_previous_version(
    rolled_forward, product_owner, risk_officer
):
    use_case, deployment, first, second = rolled_forward
    incident = open_incident(use_case, product_owner)
    assert rollback_candidates(incident) == [deployment]
    incident_rollback(actor=product_owner, incident=incident, deployment=deployment, reason="Bad")
    count = incident.timeline.count()
    # A double click, or a second responder with the stale page: the same deployment again.
    with pytest.raises(ValidationError) as err:
        incident_rollback(
            actor=risk_officer, incident=incident, deployment=deployment, reason="Bad"
        )
    assert err.value.message_dict["deployment"] == [
        "Already rolled back from this incident (2.0 → "
        f"{first.version}). To go forward again, change the deployment on the use case page."
    ]
    deployment.refresh_from_db()
    assert deployment.model_version == first and deployment.previous_version == second
    assert incident.timeline.count() == count
    assert rollback_candidates(incident) == []


def test_an_incident_once_sev1_or_sev2_closes_only_after_its_review(use_case, product_owner):
    incident = open_incident(use_case, product_owner, severity=Severity.SEV2)
    incident = incident_update(actor=product_owner, incident=incident, severity=Severity.SEV4)
    incident = move(incident, product_owner, "resolve")
    with pytest.raises(ValidationError) as err:
        incident_transition(actor=product_owner, incident=incident, action="close")
    assert err.value.message_dict["review"] == [
        "An incident that was SEV2 is closed only after its post-incident review: "
        "write the cause, impact, what changed."
    ]
    write_review(incident, product_owner)
    assert move(incident, product_owner, "close").status == Status.CLOSED


def test_an_owner_who_cannot_see_the_use_case_is_refused_without_their_name(
    incident, product_owner, outsider
):
    outsider.first_name, outsider.last_name = "Secret", "Person"
    outsider.save()
    with pytest.raises(ValidationError) as err:
        incident_update(actor=product_owner, incident=incident, owner=outsider)
    text = " ".join(err.value.messages)
    assert text == "That person cannot see this use case; choose someone who can."
    assert "Secret" not in text and outsider.username not in text


def test_the_model_version_is_one_the_use_case_deploys_or_deployed(rolled_forward, product_owner):
    use_case, _deployment, first, second = rolled_forward
    unrelated = ModelVersionFactory()
    with pytest.raises(ValidationError) as err:
        open_incident(use_case, product_owner, model_version=unrelated)
    assert "model_version" in err.value.message_dict
    assert not Incident.objects.exists()
    # The version served now, and the one served before, are both fine.
    incident = open_incident(use_case, product_owner, model_version=second)
    incident = incident_update(actor=product_owner, incident=incident, model_version=first)
    assert incident.model_version == first
    with pytest.raises(ValidationError) as err:
        incident_update(actor=product_owner, incident=incident, model_version=unrelated)
    assert "model_version" in err.value.message_dict
    incident.refresh_from_db()
    assert incident.model_version == first


def test_no_action_is_taken_from_a_closed_incident(rolled_forward, product_owner):
    use_case, deployment, _first, second = rolled_forward  # with a signed-off screening
    incident = move(
        open_incident(use_case, product_owner, severity=Severity.SEV4),
        product_owner,
        "resolve",
        "close",
    )
    count = incident.timeline.count()
    with pytest.raises(ValidationError, match="reopen it first"):
        incident_kill_switch(actor=product_owner, incident=incident, engaged=True, reason="Stop")
    with pytest.raises(ValidationError, match="reopen it first"):
        incident_rollback(
            actor=product_owner, incident=incident, deployment=deployment, reason="Bad"
        )
    with pytest.raises(ValidationError, match="reopen it first"):
        incident_start_reassessment(actor=product_owner, incident=incident)
    use_case.refresh_from_db()
    deployment.refresh_from_db()
    assert not use_case.kill_switch_engaged and deployment.model_version == second
    assert incident.timeline.count() == count
    assert not Assessment.objects.filter(use_case=use_case, status="draft").exists()
