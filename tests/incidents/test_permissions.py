"""Who may do what with runbooks and incidents: every persona against every rule, and the
services refusing (and writing nothing) when the rule says no."""

import pytest
from django.core.exceptions import PermissionDenied

from incidents.models import Runbook, Status
from incidents.services.incidents import (
    incident_add_note,
    incident_kill_switch,
    incident_transition,
    incident_update,
    incident_write_review,
)
from incidents.services.runbooks import runbook_save
from portal.access import can
from registry.models import Lifecycle
from tests.factories import UserFactory
from tests.incidents.incident_helpers import RUNBOOK, open_incident

pytestmark = pytest.mark.django_db

PERSONAS = ["admin", "risk_officer", "product_owner", "leadership", "dpo", "auditor", "outsider"]
EVERYONE_BUT_OUTSIDER = {"admin", "risk_officer", "product_owner", "leadership", "dpo", "auditor"}
RESPONDERS = {"admin", "risk_officer", "product_owner", "dpo"}  # editors and the risk function
ALLOWED = {
    "incidents.view_runbook": EVERYONE_BUT_OUTSIDER,
    "incidents.change_runbook": RESPONDERS,
    "incidents.view_incident": EVERYONE_BUT_OUTSIDER,
    "incidents.open_incident": RESPONDERS,
    "incidents.change_incident": RESPONDERS,
    "incidents.manage_kill_switch_tokens": {"admin", "risk_officer", "product_owner"},
    "incidents.manage_webhooks": {"admin"},
}


@pytest.fixture
def other_owner(use_case):
    """The use case is owned by someone else, so the product owner edits it as a unit member."""
    use_case.owner = UserFactory(units=[use_case.business_unit])
    use_case.save()
    return use_case


def _object_for(perm, use_case, incident):
    if perm == "incidents.manage_webhooks":
        return None
    return (
        incident if perm in ("incidents.view_incident", "incidents.change_incident") else use_case
    )


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("perm", list(ALLOWED))
def test_who_may_do_what(perm, persona, personas, other_owner, admin_user):
    incident = open_incident(other_owner, admin_user)
    person = personas[persona]
    assert can(person, perm, _object_for(perm, other_owner, incident)) == (persona in ALLOWED[perm])


def test_the_incident_owner_may_work_it_without_editing_the_use_case(incident, leadership):
    assert not can(leadership, "incidents.change_incident", incident)
    incident = incident_update(actor=incident.owner, incident=incident, owner=leadership)
    assert can(leadership, "incidents.change_incident", incident)
    assert not can(leadership, "incidents.open_incident", incident.use_case)
    incident_add_note(actor=leadership, incident=incident, text="On it.")


def test_once_the_use_case_is_retired_only_the_risk_function_works_its_incidents(
    incident, use_case, product_owner, risk_officer, dpo, admin_user
):
    use_case.lifecycle = Lifecycle.RETIRED
    use_case.save()
    # The product owner owns this incident: owners may still close theirs.
    assert can(product_owner, "incidents.change_incident", incident)
    incident = incident_update(actor=product_owner, incident=incident, owner=risk_officer)
    assert not can(product_owner, "incidents.change_incident", incident)
    for person in (risk_officer, dpo, admin_user):
        assert can(person, "incidents.change_incident", incident)
        assert not can(person, "incidents.open_incident", use_case)
        assert not can(person, "incidents.change_runbook", use_case)


# The services refuse what the rules refuse ----------------------------------------------------
@pytest.mark.parametrize("persona", PERSONAS)
def test_writing_a_runbook(persona, personas, other_owner):
    person = personas[persona]
    if persona in ALLOWED["incidents.change_runbook"]:
        assert runbook_save(actor=person, use_case=other_owner, data=RUNBOOK).version == 1
    else:
        with pytest.raises(PermissionDenied):
            runbook_save(actor=person, use_case=other_owner, data=RUNBOOK)
        assert not Runbook.objects.exists()


@pytest.mark.parametrize("persona", PERSONAS)
def test_opening_an_incident(persona, personas, other_owner):
    person = personas[persona]
    if persona in ALLOWED["incidents.open_incident"]:
        assert open_incident(other_owner, person).opened_by == person
    else:
        with pytest.raises(PermissionDenied):
            open_incident(other_owner, person)
        assert not other_owner.incidents.exists()


@pytest.mark.parametrize("persona", PERSONAS)
def test_working_an_incident(persona, personas, other_owner, admin_user):
    incident = open_incident(other_owner, admin_user, severity="sev3")
    person = personas[persona]
    actions = [
        lambda: incident_add_note(actor=person, incident=incident, text="Seen."),
        lambda: incident_update(actor=person, incident=incident, severity="sev1"),
        lambda: incident_write_review(
            actor=person, incident=incident, cause="c", impact="i", changes="w"
        ),
        lambda: incident_transition(actor=person, incident=incident, action="triage"),
    ]
    if persona in ALLOWED["incidents.change_incident"]:
        for act in actions:
            act()
        incident.refresh_from_db()
        assert (incident.status, incident.severity) == (Status.TRIAGED, "sev1")
        assert incident.timeline.count() == 5
    else:
        for act in actions:
            with pytest.raises(PermissionDenied):
                act()
        incident.refresh_from_db()
        assert (incident.status, incident.severity) == (Status.OPEN, "sev3")
        assert incident.timeline.count() == 1


@pytest.mark.parametrize("persona", PERSONAS)
def test_switching_the_ai_off_from_an_incident(persona, personas, other_owner, admin_user):
    incident = open_incident(other_owner, admin_user)
    person = personas[persona]
    if persona in RESPONDERS:
        incident_kill_switch(actor=person, incident=incident, engaged=True, reason="Stop it")
        other_owner.refresh_from_db()
        assert other_owner.kill_switch_engaged
    else:
        with pytest.raises(PermissionDenied):
            incident_kill_switch(actor=person, incident=incident, engaged=True, reason="Stop it")
        other_owner.refresh_from_db()
        assert not other_owner.kill_switch_engaged
        assert incident.timeline.count() == 1
