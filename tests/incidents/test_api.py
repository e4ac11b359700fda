"""The incidents API: the persona matrix, opening and moving incidents, the timeline read-only
(405 on any change), runbook versions, tokens and secrets shown once, query counts and the
OpenAPI schema."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator

from incidents.models import EntryKind, Incident, KillSwitchToken, Runbook, Severity, Status
from incidents.services.incidents import incident_add_note, incident_transition
from tests.incidents.incident_helpers import RUNBOOK, open_incident
from tests.monitoring.ui_helpers import PERSONAS, expect, token_client

pytestmark = pytest.mark.django_db

RESPONDERS = {"admin", "risk_officer", "product_owner", "dpo"}
EDITORS = {"admin", "risk_officer", "product_owner"}

READ = expect(200, set(PERSONAS))
CHANGE = expect(200, RESPONDERS)
OPEN = expect(201, RESPONDERS)
NOTE = expect(201, RESPONDERS)
TOKEN = expect(201, EDITORS)
WEBHOOKS = expect(200, {"admin"}, outsider=403)


@pytest.mark.parametrize("persona", PERSONAS)
def test_api_permission_matrix(personas, persona, incident, use_case):
    api = token_client(personas[persona])
    base = f"/api/v1/incidents/{incident.reference}"
    got = {
        "incident": api.get(f"{base}/").status_code,
        "timeline": api.get(f"{base}/timeline/").status_code,
        "runbook_put": api.put(
            f"/api/v1/runbooks/{use_case.reference}/", RUNBOOK, format="json"
        ).status_code,
        "open": api.post(
            "/api/v1/incidents/",
            {"use_case": use_case.reference, "title": "Wrong", "severity": "sev3"},
            format="json",
        ).status_code,
        "patch": api.patch(f"{base}/", {"title": "Renamed"}, format="json").status_code,
        "note": api.post(f"{base}/notes/", {"text": "Seen"}, format="json").status_code,
        "triage": api.post(f"{base}/transitions/triage/", {}, format="json").status_code,
        "token": api.post(
            "/api/v1/kill-switch-tokens/",
            {"use_case": use_case.reference, "name": "prod"},
            format="json",
        ).status_code,
        "webhooks": api.get("/api/v1/webhook-endpoints/").status_code,
    }
    assert got == {
        "incident": READ[persona],
        "timeline": READ[persona],
        "runbook_put": CHANGE[persona],
        "open": OPEN[persona],
        "patch": CHANGE[persona],
        "note": NOTE[persona],
        "triage": CHANGE[persona],
        "token": TOKEN[persona],
        "webhooks": WEBHOOKS[persona],
    }
    incident.refresh_from_db()
    assert (incident.status == Status.TRIAGED) == (persona in RESPONDERS)
    listed = api.get("/api/v1/incidents/").json()["results"]
    assert any(i["reference"] == incident.reference for i in listed) == (persona != "outsider")


def test_the_timeline_cannot_be_changed_or_deleted_through_the_api(product_owner, incident):
    api = token_client(product_owner)
    base = f"/api/v1/incidents/{incident.reference}"
    entry = incident.timeline.get()
    for method in ("put", "patch", "delete"):
        assert (
            getattr(api, method)(f"{base}/timeline/", {"text": "x"}, format="json").status_code
            == 405
        )
        assert (
            getattr(api, method)(f"{base}/notes/", {"text": "x"}, format="json").status_code == 405
        )
        # There is no address for one entry at all.
        assert getattr(api, method)(f"{base}/timeline/{entry.pk}/").status_code == 404
    # Nor is an incident deleted or replaced whole.
    assert api.delete(f"{base}/").status_code == 405
    assert api.put(f"{base}/", {"title": "x"}, format="json").status_code == 405
    entry.refresh_from_db()
    assert incident.timeline.count() == 1 and entry.text.startswith("Opened")


def test_open_move_review_and_close_through_the_api(product_owner, use_case):
    api = token_client(product_owner)
    opened = api.post(
        "/api/v1/incidents/",
        {
            "use_case": use_case.pk,
            "title": "Leak",
            "severity": "sev1",
            "detected_by": "user_report",
            "personal_data_breach": True,
        },
        format="json",
    )
    assert opened.status_code == 201
    body = opened.json()
    ref = body["reference"]
    assert body["deadlines"][0]["key"] == "gdpr" and body["deadlines"][0]["state"] == "open"
    base = f"/api/v1/incidents/{ref}"
    assert (
        api.post(f"{base}/transitions/resolve/", {"note": "Patched"}, format="json").status_code
        == 200
    )
    refused = api.post(f"{base}/transitions/close/", {}, format="json")
    assert refused.status_code == 400 and "review" in refused.json()
    review = {"cause": "Bug", "impact": "3 customers", "changes": "A test"}
    assert api.post(f"{base}/review/", review, format="json").json()["review_written"]
    closed = api.post(f"{base}/transitions/close/", {}, format="json")
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    assert api.post(f"{base}/transitions/explode/", {}, format="json").status_code == 404
    kinds = [e["kind"] for e in api.get(f"{base}/timeline/").json()]
    assert kinds == [EntryKind.STATUS, EntryKind.STATUS, EntryKind.REVIEW, EntryKind.STATUS]
    # A report time may still be recorded on a closed incident.
    patched = api.patch(f"{base}/", {"dpa_reported_at": body["aware_at"]}, format="json")
    assert patched.status_code == 200
    assert patched.json()["deadlines"][0]["state"] == "met"


def test_severity_change_and_actions_through_the_api(product_owner, incident):
    api = token_client(product_owner)
    base = f"/api/v1/incidents/{incident.reference}"
    assert api.patch(f"{base}/", {"severity": "sev1"}, format="json").json()["severity"] == "sev1"
    off = api.post(
        f"{base}/actions/kill-switch/", {"engaged": True, "reason": "Stop"}, format="json"
    )
    assert off.status_code == 200
    incident.use_case.refresh_from_db()
    assert incident.use_case.kill_switch_engaged
    again = api.post(
        f"{base}/actions/kill-switch/", {"engaged": True, "reason": "Stop"}, format="json"
    )
    assert again.status_code == 400 and "engaged" in again.json()
    rollback = api.post(
        f"{base}/actions/rollback/", {"deployment": 999999, "reason": "x"}, format="json"
    )
    assert rollback.status_code == 400 and "deployment" in rollback.json()
    reassess = api.post(f"{base}/actions/reassess/")
    assert reassess.status_code == 400  # no signed-off assessment to start from
    kinds = list(incident.timeline.values_list("kind", flat=True))
    assert kinds == [EntryKind.STATUS, EntryKind.SEVERITY, EntryKind.ACTION]


def test_runbook_put_makes_versions_and_get_reads_them(product_owner, leadership, use_case):
    api = token_client(product_owner)
    url = f"/api/v1/runbooks/{use_case.reference}/"
    assert api.get(url).status_code == 404  # no runbook yet
    assert api.put(url, RUNBOOK, format="json").json()["version"] == 1
    changed = api.put(url, {**RUNBOOK, "fallback": "A human answers."}, format="json").json()
    assert changed["version"] == 2 and changed["contacts"][0]["name"] == "Pat Owner"
    bad = api.put(url, {**RUNBOOK, "disable_how": "", "contacts": []}, format="json")
    assert bad.status_code == 400 and {"disable_how", "contacts"} <= set(bad.json())
    reader = token_client(leadership)
    assert reader.get(url).json()["version"] == 2
    assert reader.get("/api/v1/runbooks/").json()["count"] == 1
    assert Runbook.objects.get(use_case=use_case).history.count() == 2


def test_a_kill_switch_token_is_returned_once(product_owner, use_case):
    api = token_client(product_owner)
    created = api.post(
        "/api/v1/kill-switch-tokens/",
        {"use_case": use_case.reference, "name": "chatbot-prod"},
        format="json",
    )
    assert created.status_code == 201 and created["Cache-Control"] == "no-store"
    raw = created.json()["token"]
    token = KillSwitchToken.objects.get()
    listed = api.get("/api/v1/kill-switch-tokens/").json()["results"]
    assert [t["name"] for t in listed] == ["chatbot-prod"] and "token" not in listed[0]
    assert raw not in api.get(f"/api/v1/kill-switch-tokens/{token.pk}/").content.decode()
    revoked = api.post(f"/api/v1/kill-switch-tokens/{token.pk}/revoke/")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]


def test_webhook_endpoints_are_the_admins_and_the_secret_is_returned_once(admin_user, risk_officer):
    api = token_client(admin_user)
    created = api.post(
        "/api/v1/webhook-endpoints/",
        {"name": "On-call", "url": "http://127.0.0.1:9/hooks"},
        format="json",
    )
    assert created.status_code == 201 and created["Cache-Control"] == "no-store"
    body = created.json()
    assert body["secret"].startswith("whsec_")
    detail = api.get(f"/api/v1/webhook-endpoints/{body['id']}/")
    assert "secret" not in detail.json()
    paused = api.patch(f"/api/v1/webhook-endpoints/{body['id']}/", {"active": False}, format="json")
    assert paused.json()["active"] is False
    assert api.get(f"/api/v1/webhook-endpoints/{body['id']}/deliveries/").status_code == 200
    other = token_client(risk_officer)
    assert other.get(f"/api/v1/webhook-endpoints/{body['id']}/").status_code == 404
    assert other.post("/api/v1/webhook-endpoints/", {}, format="json").status_code == 403


def test_list_and_timeline_query_counts_do_not_grow(product_owner, risk_officer, use_case):
    first = open_incident(use_case, product_owner, personal_data_breach=True)
    api = token_client(risk_officer)

    def count(url):
        with CaptureQueriesContext(connection) as ctx:
            assert api.get(url).status_code == 200
        return len(ctx)

    timeline = f"/api/v1/incidents/{first.reference}/timeline/"
    small = count("/api/v1/incidents/"), count(timeline)
    for n in range(10):
        other = open_incident(use_case, product_owner, title=f"Other {n}", serious_harm="general")
        incident_transition(actor=product_owner, incident=other, action="triage")
        incident_add_note(actor=product_owner, incident=first, text=f"Note {n}")
    assert (count("/api/v1/incidents/"), count(timeline)) == small
    assert Incident.objects.count() == 11


def test_filters_on_the_api_list(product_owner, use_case):
    open_incident(use_case, product_owner, severity=Severity.SEV1)
    done = open_incident(use_case, product_owner, severity=Severity.SEV4)
    incident_transition(actor=product_owner, incident=done, action="resolve")
    incident_transition(actor=product_owner, incident=done, action="close")
    api = token_client(product_owner)

    def refs(query):
        return {i["severity"] for i in api.get(f"/api/v1/incidents/?{query}").json()["results"]}

    assert refs("severity=sev4") == {"sev4"}
    assert refs("open_only=true") == {"sev1"}
    assert refs("status=closed") == {"sev4"}
    assert refs(f"use_case={use_case.reference}") == {"sev1", "sev4"}


def test_openapi_schema_has_the_incident_routes_and_no_warnings():
    GENERATOR_STATS.reset()
    with GENERATOR_STATS.silence():
        schema = SchemaGenerator().get_schema(request=None, public=True)
    assert [*GENERATOR_STATS._warn_cache, *GENERATOR_STATS._error_cache] == []
    paths = schema["paths"]
    for path in (
        "/api/v1/runbooks/{use_case}/",
        "/api/v1/incidents/",
        "/api/v1/incidents/{id}/timeline/",
        "/api/v1/incidents/{id}/transitions/{transition}/",
        "/api/v1/incidents/{id}/actions/kill-switch/",
        "/api/v1/incidents/export/",
        "/api/v1/kill-switch-tokens/",
        "/api/v1/webhook-endpoints/",
    ):
        assert path in paths, path
    assert set(paths["/api/v1/incidents/{id}/timeline/"]) == {"get"}


def test_an_owner_the_api_refuses_is_not_named(product_owner, outsider, auditor, incident):
    outsider.first_name, outsider.last_name = "Secret", "Person"
    outsider.save()
    api = token_client(product_owner)
    base = f"/api/v1/incidents/{incident.reference}/"
    # Someone of another unit: refused, and the answer does not say who they are.
    refused = api.patch(base, {"owner": outsider.pk}, format="json")
    assert refused.status_code == 400
    text = refused.content.decode()
    assert "That person cannot see this use case; choose someone who can." in text
    assert "Secret" not in text and "Person" not in text and outsider.username not in text
    # Someone of no unit (an auditor) is not among the possible owners, as on the page.
    assert api.patch(base, {"owner": auditor.pk}, format="json").status_code == 400
    opened = api.post(
        "/api/v1/incidents/",
        {
            "use_case": incident.use_case.reference,
            "title": "X",
            "severity": "sev3",
            "owner": auditor.pk,
        },
        format="json",
    )
    assert opened.status_code == 400 and "owner" in opened.json()
    incident.refresh_from_db()
    assert incident.owner == product_owner
