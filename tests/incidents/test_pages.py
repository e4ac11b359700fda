"""Incident pages: who may see and do what, runbooks kept as typed, the timeline append-only,
closing refused until the review is written, actions recorded, tokens and secrets shown once,
the use case card, the dashboard and the query counts."""

from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import NoReverseMatch, Resolver404, resolve, reverse
from django.utils import timezone

from incidents.models import (
    EntryKind,
    Incident,
    KillSwitchToken,
    Runbook,
    SeriousHarm,
    Severity,
    Status,
    TimelineEntry,
    WebhookEndpoint,
)
from incidents.services.incidents import incident_add_note, incident_transition, incident_update
from incidents.services.runbooks import runbook_save
from registry import services as registry_services
from tests.factories import (
    ModelVersionFactory,
    PilotUseCaseFactory,
    complete_card,
    ready_for_production,
)
from tests.incidents.incident_helpers import RUNBOOK, open_incident
from tests.monitoring.ui_helpers import PERSONAS, expect, own_rule, raise_flag, retail_deployment

pytestmark = pytest.mark.django_db

RESPONDERS = {"admin", "risk_officer", "product_owner", "dpo"}
EDITORS = {"admin", "risk_officer", "product_owner"}


# Who may see and do what ---------------------------------------------------------------------
VIEW = expect(200, set(PERSONAS))
RESPOND = expect(200, RESPONDERS)
TOKENS = expect(200, EDITORS)
WEBHOOKS = expect(200, {"admin"}, outsider=403)
NOTE = expect(302, RESPONDERS)


@pytest.mark.parametrize("persona", PERSONAS)
def test_page_permission_matrix(client, personas, persona, incident, use_case):
    client.force_login(personas[persona])
    answers = {
        "list": client.get(reverse("incidents:incident-list")),
        "detail": client.get(incident.get_absolute_url()),
        "runbook": client.get(reverse("incidents:runbook", args=[use_case.pk])),
        "runbook_edit": client.get(reverse("incidents:runbook-edit", args=[use_case.pk])),
        "open": client.get(reverse("incidents:incident-open", args=[use_case.pk])),
        "tokens": client.get(reverse("incidents:kill-switch-tokens", args=[use_case.pk])),
        "webhooks": client.get(reverse("incidents:webhook-list")),
    }
    got = {name: r.status_code for name, r in answers.items()}
    assert got == {
        "list": 200,
        "detail": VIEW[persona],
        "runbook": VIEW[persona],
        "runbook_edit": RESPOND[persona],
        "open": RESPOND[persona],
        "tokens": TOKENS[persona],
        "webhooks": WEBHOOKS[persona],
    }
    # The list holds only what the person may see.
    assert (incident.reference in answers["list"].content.decode()) == (persona != "outsider")
    note = client.post(
        reverse("incidents:incident-note", args=[incident.reference]), {"text": "Looking."}
    )
    assert note.status_code == NOTE[persona]
    added = incident.timeline.filter(kind=EntryKind.NOTE).exists()
    assert added == (NOTE[persona] == 302)


@pytest.mark.parametrize("persona", PERSONAS)
def test_only_responders_move_an_incident_and_take_actions(client, personas, persona, incident):
    client.force_login(personas[persona])
    ref = incident.reference
    triage = client.post(reverse("incidents:incident-transition", args=[ref, "triage"]))
    kill = client.post(
        reverse("incidents:incident-kill-switch", args=[ref]),
        {"engaged": "1", "reason": "Stop", "confirm": "1"},
    )
    incident.refresh_from_db()
    incident.use_case.refresh_from_db()
    allowed = persona in RESPONDERS
    assert triage.status_code == (302 if allowed else NOTE[persona])
    assert kill.status_code == (302 if allowed else NOTE[persona])
    assert (incident.status == Status.TRIAGED) == allowed
    assert incident.use_case.kill_switch_engaged == allowed


def test_auditor_sees_the_incident_but_no_form(client, auditor, incident):
    client.force_login(auditor)
    html = client.get(incident.get_absolute_url()).content.decode()
    assert incident.title in html
    assert "<form" not in html.split('id="h-timeline"')[1].split("</section>")[0]
    for name in ("incident-note", "incident-kill-switch", "incident-review"):
        assert reverse(f"incidents:{name}", args=[incident.reference]) not in html


# The timeline is append-only -----------------------------------------------------------------
def test_the_timeline_cannot_be_edited_or_deleted_through_the_pages(
    client, product_owner, incident
):
    entry = incident.timeline.get()
    client.force_login(product_owner)
    ref = incident.reference
    # No page edits or deletes an entry: there is no such address.
    for suffix in ("edit/", "delete/"):
        with pytest.raises(Resolver404):
            resolve(f"/incidents/{ref}/timeline/{entry.pk}/{suffix}")
    with pytest.raises(NoReverseMatch):
        reverse("incidents:timeline-entry-edit", args=[ref, entry.pk])
    # The notes address only adds: other methods are refused.
    notes = reverse("incidents:incident-note", args=[ref])
    assert client.get(notes).status_code == 405
    assert client.put(notes, "text=changed").status_code == 405
    assert client.delete(notes).status_code == 405
    # Posting a note with another entry's id adds a line and leaves the first one alone.
    client.post(notes, {"text": "Rewritten", "id": entry.pk, "pk": entry.pk})
    first = TimelineEntry.objects.get(pk=entry.pk)
    assert (first.text, first.kind) == (entry.text, entry.kind)
    assert incident.timeline.count() == 2
    # And below the pages, the database refuses it too.
    with pytest.raises(DatabaseError), transaction.atomic():
        TimelineEntry.objects.filter(pk=entry.pk).update(text="Tampered")
    with pytest.raises(DatabaseError), transaction.atomic():
        TimelineEntry.objects.filter(pk=entry.pk).delete()


def test_the_page_shows_the_timeline_with_who_and_when(client, risk_officer, incident):
    incident_add_note(actor=risk_officer, incident=incident, text="Customers told by banner.")
    client.force_login(risk_officer)
    response = client.get(incident.get_absolute_url())
    html = response.content.decode()
    assert "Customers told by banner." in html
    assert risk_officer.get_full_name() in html
    assert [e.kind for e in response.context["timeline"]] == [EntryKind.STATUS, EntryKind.NOTE]


# Runbooks ------------------------------------------------------------------------------------
def _runbook_post(**overrides):
    data = {k: v for k, v in RUNBOOK.items() if k != "contacts"}
    data["contacts_text"] = "Pat Owner | Product owner | pat@example.com |\nOn-call | SRE | | +44 1"
    return {**data, **overrides}


def test_a_runbook_is_written_then_versioned_with_a_history_link(client, product_owner, use_case):
    client.force_login(product_owner)
    edit = reverse("incidents:runbook-edit", args=[use_case.pk])
    assert client.post(edit, _runbook_post()).status_code == 302
    runbook = Runbook.objects.get(use_case=use_case)
    assert runbook.version == 1
    assert runbook.contacts[0] == {
        "name": "Pat Owner",
        "role": "Product owner",
        "email": "pat@example.com",
        "phone": "",
    }
    assert runbook.contacts[1]["phone"] == "+44 1"
    client.post(edit, _runbook_post(fallback="A human answers the chat."))
    runbook.refresh_from_db()
    assert runbook.version == 2
    page = client.get(reverse("incidents:runbook", args=[use_case.pk])).content.decode()
    assert "Version 2" in page and "A human answers the chat." in page
    assert reverse("history", args=["runbook", runbook.pk]) in page
    # The edit form shows the contacts one a line, as typed.
    form = client.get(edit).content.decode()
    assert "Pat Owner | Product owner | pat@example.com |" in form


def test_the_runbook_form_keeps_what_was_typed_on_errors(client, product_owner, use_case):
    client.force_login(product_owner)
    typed = _runbook_post(
        disable_how="",
        fallback="Typed fallback text",
        contacts_text="Nobody | nowhere | not-an-email |",
    )
    response = client.post(reverse("incidents:runbook-edit", args=[use_case.pk]), typed)
    assert response.status_code == 400
    html = response.content.decode()
    assert "Typed fallback text" in html
    assert "Nobody | nowhere | not-an-email |" in html
    form = response.context["form"]
    assert "disable_how" in form.errors
    assert not Runbook.objects.filter(use_case=use_case).exists()
    # The service's complaint about a contact is shown next to the contacts box.
    fixed = client.post(
        reverse("incidents:runbook-edit", args=[use_case.pk]),
        {**typed, "disable_how": "The kill switch."},
    )
    assert fixed.status_code == 400
    assert "contacts_text" in fixed.context["form"].errors
    bad_parts = client.post(
        reverse("incidents:runbook-edit", args=[use_case.pk]),
        {**typed, "contacts_text": "a | b | c | d | e"},
    )
    assert "contacts_text" in bad_parts.context["form"].errors


# Opening -------------------------------------------------------------------------------------
def test_open_an_incident_from_the_use_case_page(client, risk_officer, use_case):
    client.force_login(risk_officer)
    page = client.get(use_case.get_absolute_url()).content.decode()
    url = reverse("incidents:incident-open", args=[use_case.pk])
    assert url in page
    form = client.get(url).content.decode()
    assert "Critical: people are being harmed" in form  # severity definitions are shown
    response = client.post(
        url, {"title": "Wrong answers", "severity": Severity.SEV3, "detected_by": "user_report"}
    )
    incident = Incident.objects.get(use_case=use_case)
    assert response.status_code == 302 and response.url == incident.get_absolute_url()
    assert (incident.severity, incident.owner, incident.opened_by) == (
        Severity.SEV3,
        use_case.owner,
        risk_officer,
    )
    # Errors keep what was typed.
    bad = client.post(url, {"title": "Typed title", "severity": "", "detected_by": "staff"})
    assert bad.status_code == 400 and "Typed title" in bad.content.decode()


def test_open_an_incident_from_a_flag(client, retail, product_owner, risk_officer, auditor):
    deployment = retail_deployment(retail, product_owner)
    flag = raise_flag(own_rule(deployment.use_case), deployment)
    url = reverse("incidents:incident-open-from-flag", args=[flag.reference])
    client.force_login(auditor)
    assert (
        url
        not in client.get(reverse("monitoring:flag-detail", args=[flag.reference])).content.decode()
    )
    assert client.post(url).status_code == 403
    client.force_login(risk_officer)
    assert (
        url in client.get(reverse("monitoring:flag-detail", args=[flag.reference])).content.decode()
    )
    response = client.post(url, {"severity": Severity.SEV1})
    incident = Incident.objects.get(flag=flag)
    assert response.url == incident.get_absolute_url()
    assert (incident.severity, incident.detected_by) == (Severity.SEV1, "monitoring")
    page = client.get(incident.get_absolute_url()).content.decode()
    assert reverse("monitoring:flag-detail", args=[flag.reference]) in page
    # Once more: the flag's open incident, not a second one.
    assert client.post(url).url == incident.get_absolute_url()
    assert Incident.objects.filter(flag=flag).count() == 1


# Closing needs the review --------------------------------------------------------------------
def test_closing_a_sev2_is_refused_until_the_review_is_written(client, product_owner, incident):
    incident_transition(actor=product_owner, incident=incident, action="resolve")
    client.force_login(product_owner)
    page = client.get(incident.get_absolute_url())
    assert "needs the post-incident review" in page.context["close_refused"]
    assert 'id="close-refused"' in page.content.decode()
    close = reverse("incidents:incident-transition", args=[incident.reference, "close"])
    refused = client.post(close)
    assert refused.status_code == 400
    assert "post-incident review" in " ".join(refused.context["action_errors"])
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED
    review = {
        "review_cause": "A prompt change",
        "review_impact": "40 customers",
        "review_changes": "A test",
    }
    client.post(reverse("incidents:incident-review", args=[incident.reference]), review)
    assert client.post(close).status_code == 302
    incident.refresh_from_db()
    assert incident.status == Status.CLOSED
    assert client.get(incident.get_absolute_url()).context["close_refused"] == ""


def test_an_unknown_transition_is_404(client, product_owner, incident):
    client.force_login(product_owner)
    url = reverse("incidents:incident-transition", args=[incident.reference, "delete"])
    assert client.post(url).status_code == 404


# Regulatory clocks ---------------------------------------------------------------------------
def test_clocks_show_basis_due_and_state_and_take_the_reported_time(
    client, product_owner, use_case
):
    aware = timezone.now() - timedelta(hours=60)
    incident = open_incident(use_case, product_owner, aware_at=aware, personal_data_breach=True)
    client.force_login(product_owner)
    page = client.get(incident.get_absolute_url())
    (clock,) = page.context["clocks"]
    assert (clock.key, clock.state) == ("gdpr", "near")
    assert "Art. 33" in page.content.decode()
    reported = timezone.localtime(timezone.now() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(
        reverse("incidents:incident-regulatory", args=[incident.reference]),
        {
            "aware_at": timezone.localtime(aware).strftime("%Y-%m-%dT%H:%M"),  # as shown
            "serious_harm": SeriousHarm.GENERAL,
            "personal_data_breach": "on",
            "dpa_reported_at": reported,
        },
    )
    assert response.status_code == 302
    clocks = {c.key: c for c in client.get(incident.get_absolute_url()).context["clocks"]}
    assert clocks["gdpr"].state == "met"
    assert clocks["ai_act"].state == "open"
    # The minutes shown and sent back unchanged do not move the clocks.
    incident.refresh_from_db()
    assert incident.aware_at == aware
    future = timezone.localtime(timezone.now() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    bad = client.post(
        reverse("incidents:incident-regulatory", args=[incident.reference]),
        {
            "aware_at": timezone.localtime(aware).strftime("%Y-%m-%dT%H:%M"),
            "serious_harm": SeriousHarm.GENERAL,
            "regulator_reported_at": future,
        },
    )
    assert (
        bad.status_code == 400 and "regulator_reported_at" in bad.context["regulatory_form"].errors
    )


def test_when_the_firm_became_aware_is_changed_on_the_page_and_kept_as_typed_on_error(
    client, product_owner, use_case
):
    incident = open_incident(use_case, product_owner, personal_data_breach=True)
    client.force_login(product_owner)
    page = client.get(incident.get_absolute_url()).content.decode()
    assert 'type="datetime-local" name="aware_at"' in page
    url = reverse("incidents:incident-regulatory", args=[incident.reference])
    earlier = timezone.localtime(timezone.now() - timedelta(hours=50)).replace(
        second=0, microsecond=0
    )
    typed = earlier.strftime("%Y-%m-%dT%H:%M")
    response = client.post(url, {"aware_at": typed, "personal_data_breach": "on"})
    assert response.status_code == 302
    incident.refresh_from_db()
    assert incident.aware_at == earlier
    (clock,) = client.get(incident.get_absolute_url()).context["clocks"]
    assert clock.due_at == earlier + timedelta(hours=72)
    entry = incident.timeline.order_by("-pk").first()
    assert entry.text.startswith("Changed became aware at:") and entry.actor == product_owner
    # A time in the future is refused by the service; the page keeps what was typed.
    future = timezone.localtime(timezone.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    refused = client.post(url, {"aware_at": future, "personal_data_breach": "on"})
    assert refused.status_code == 400
    assert "aware_at" in refused.context["regulatory_form"].errors
    assert f'value="{future}"' in refused.content.decode()
    incident.refresh_from_db()
    assert incident.aware_at == earlier


# Actions -------------------------------------------------------------------------------------
@pytest.fixture
def rolled_forward(admin_user, product_owner, retail):
    use_case = PilotUseCaseFactory(business_unit=retail, owner=product_owner)
    first = ready_for_production(use_case, admin_user)
    deployment = use_case.deployments.get()
    second = ModelVersionFactory(model=first.model, version="2.0")
    complete_card(second)
    deployment = registry_services.deployment_update(
        actor=admin_user, deployment=deployment, data={"model_version": second}
    )
    return use_case, deployment, first, second


def test_actions_from_the_page_are_recorded_on_the_timeline(client, product_owner, rolled_forward):
    use_case, deployment, first, second = rolled_forward
    incident = open_incident(use_case, product_owner)
    client.force_login(product_owner)
    ref = incident.reference
    page = client.get(incident.get_absolute_url())
    assert page.context["can_rollback"]
    # Each asks first: the page's own POST gets a confirmation page and changes nothing.
    ask = client.post(
        reverse("incidents:incident-kill-switch", args=[ref]),
        {"engaged": "1", "reason": "Wrong rates"},
    )
    assert ask.status_code == 200
    assert f"Switch the AI off for {use_case.reference}?" in ask.content.decode()
    assert ">Wrong rates</textarea>" in ask.content.decode()
    ask = client.post(
        reverse("incidents:incident-rollback", args=[ref]),
        {"deployment": deployment.pk, "reason": "2.0 misquotes"},
    )
    assert ask.status_code == 200
    assert f"back from 2.0 to {first.version}?" in ask.content.decode()
    assert f'name="deployment" value="{deployment.pk}"' in ask.content.decode()
    use_case.refresh_from_db()
    deployment.refresh_from_db()
    assert not use_case.kill_switch_engaged and deployment.model_version == second
    # The confirmation's POST acts.
    off = client.post(
        reverse("incidents:incident-kill-switch", args=[ref]),
        {"engaged": "1", "reason": "Wrong rates", "confirm": "1"},
    )
    assert off.status_code == 302
    back = client.post(
        reverse("incidents:incident-rollback", args=[ref]),
        {"deployment": deployment.pk, "reason": "2.0 misquotes", "confirm": "1"},
    )
    assert back.status_code == 302
    deployment.refresh_from_db()
    use_case.refresh_from_db()
    assert use_case.kill_switch_engaged and deployment.model_version == first
    actions = list(incident.timeline.filter(kind=EntryKind.ACTION))
    assert [(e.data["action"], e.actor) for e in actions] == [
        ("kill_switch", product_owner),
        ("rollback", product_owner),
    ]
    # A refused action keeps the reason typed and says why.
    again = client.post(
        reverse("incidents:incident-kill-switch", args=[ref]),
        {"engaged": "1", "reason": "Typed again", "confirm": "1"},
    )
    assert again.status_code == 400
    assert "Typed again" in again.content.decode()
    # Re-assessment without a signed-off assessment is refused with the reason shown.
    reassess = client.post(reverse("incidents:incident-reassess", args=[ref]))
    assert reassess.status_code in (302, 400)


# Tokens and webhooks: shown once -------------------------------------------------------------
def test_a_kill_switch_token_is_shown_once_and_can_be_revoked(client, product_owner, use_case):
    client.force_login(product_owner)
    url = reverse("incidents:kill-switch-tokens", args=[use_case.pk])
    created = client.post(url, {"name": "chatbot-prod"})
    assert created.status_code == 200
    assert created["Cache-Control"] == "no-store"
    raw = created.context["raw"]
    assert raw.startswith("sks_") and raw in created.content.decode()
    token = KillSwitchToken.objects.get(use_case=use_case)
    listing = client.get(url).content.decode()
    assert raw not in listing and token.token_prefix in listing and "Never" in listing
    card = client.get(use_case.get_absolute_url()).content.decode()
    assert "chatbot-prod" in card and "never polled" in card
    revoke = client.post(
        reverse("incidents:kill-switch-token-revoke", args=[token.pk]), {"confirm": "1"}
    )
    assert revoke.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_a_webhook_secret_is_shown_once_and_deliveries_are_listed(client, admin_user, risk_officer):
    client.force_login(admin_user)
    created = client.post(
        reverse("incidents:webhook-list"),
        {"name": "On-call", "url": "http://127.0.0.1:9/hooks", "business_unit": ""},
    )
    assert created.status_code == 200 and created["Cache-Control"] == "no-store"
    secret = created.context["secret"]
    assert secret.startswith("whsec_") and secret in created.content.decode()
    endpoint = WebhookEndpoint.objects.get()
    detail = client.get(reverse("incidents:webhook-detail", args=[endpoint.pk]))
    assert detail.status_code == 200 and secret not in detail.content.decode()
    client.force_login(risk_officer)
    assert client.get(reverse("incidents:webhook-detail", args=[endpoint.pk])).status_code == 404


# The use case card and the dashboard ---------------------------------------------------------
def test_use_case_card_shows_runbook_state_and_open_incidents(client, product_owner, incident):
    use_case = incident.use_case
    client.force_login(product_owner)
    card = client.get(use_case.get_absolute_url()).context["incidents_card"]
    assert (card.runbook, card.runbook_current, card.incidents) == (None, False, [incident])
    runbook_save(actor=product_owner, use_case=use_case, data=RUNBOOK)
    card = client.get(use_case.get_absolute_url()).context["incidents_card"]
    assert card.runbook_current and card.can_open and card.can_manage_tokens


def test_dashboard_shows_open_incidents_and_deadlines_near_or_overdue(
    client, product_owner, outsider, use_case
):
    late = open_incident(
        use_case,
        product_owner,
        title="Data leak",
        aware_at=timezone.now() - timedelta(hours=80),
        personal_data_breach=True,
    )
    client.force_login(product_owner)
    response = client.get(reverse("dashboard"))
    assert late in response.context["open_incidents"]
    (due,) = response.context["deadlines_due"]
    assert (due.incident, due.deadline.state) == (late, "overdue")
    assert "overdue" in response.content.decode()
    client.force_login(outsider)
    response = client.get(reverse("dashboard"))
    assert response.context["open_incidents"] == [] and response.context["deadlines_due"] == []


# Query counts --------------------------------------------------------------------------------
def _count(client, url, django_assert_max_num_queries) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_list_and_detail_query_counts_do_not_grow_with_rows(
    client, risk_officer, product_owner, use_case, django_assert_max_num_queries
):
    first = open_incident(use_case, product_owner, personal_data_breach=True)
    # Lowered from SEV2: the page asks the history whether a review is needed, both times.
    incident_update(actor=product_owner, incident=first, severity=Severity.SEV3)
    client.force_login(risk_officer)
    list_url = reverse("incidents:incident-list")
    small_list = _count(client, list_url, django_assert_max_num_queries)
    small_detail = _count(client, first.get_absolute_url(), django_assert_max_num_queries)
    for n in range(12):
        other = open_incident(use_case, product_owner, title=f"Another {n}", serious_harm="general")
        incident_update(actor=product_owner, incident=other, severity=Severity.SEV1)
    for n in range(15):
        incident_add_note(actor=product_owner, incident=first, text=f"Note {n}")
    incident_update(actor=product_owner, incident=first, severity=Severity.SEV4)
    assert _count(client, list_url, django_assert_max_num_queries) == small_list
    assert _count(client, first.get_absolute_url(), django_assert_max_num_queries) == small_detail
    with django_assert_max_num_queries(16):
        client.get(first.get_absolute_url())


def test_incidents_and_runbooks_have_a_history_browser(client, product_owner, outsider, incident):
    runbook = runbook_save(actor=product_owner, use_case=incident.use_case, data=RUNBOOK)
    client.force_login(product_owner)
    assert client.get(reverse("history", args=["incident", incident.pk])).status_code == 200
    assert client.get(reverse("history", args=["runbook", runbook.pk])).status_code == 200
    client.force_login(outsider)
    assert client.get(reverse("history", args=["incident", incident.pk])).status_code == 404
