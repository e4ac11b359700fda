"""The go-live record: "who approved this model for production, when, and on which
assessment?" answered in one click. Each move into production (the lifecycle move, or a
deployment into the production environment) keeps one append-only record with the mover, the
time, every check of the gate and the evidence each rested on; refusals stay in the gate log,
which the use case page lists for auditors."""

import json

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from assessments.models import SignOff, canonical_json, sha256_of
from portal.models import LedgerEntry
from registry import gate, services
from registry.models import (
    AIModel,
    GateCheck,
    GoLiveKind,
    GoLiveRecord,
    Lifecycle,
)
from tests.factories import (
    ModelVersionFactory,
    PilotUseCaseFactory,
    complete_card,
    ready_for_production,
)

pytestmark = pytest.mark.django_db

PERSONAS = ["admin", "risk_officer", "product_owner", "leadership", "dpo", "auditor", "outsider"]
READS_THE_USE_CASE = set(PERSONAS) - {"outsider"}


@pytest.fixture
def use_case(retail, product_owner):
    return PilotUseCaseFactory(business_unit=retail, owner=product_owner)


@pytest.fixture
def ready(use_case, admin_user, risk_officer):
    """A use case the gate lets through, with a real sign-off on its screening and a model
    approved firm-wide by the risk officer and for the use case by the admin."""
    version = ready_for_production(use_case, admin_user)
    screening = use_case.assessments.get(kind="screening")
    content = canonical_json({"assessment": screening.reference, "signed_by": "rita.risk"})
    SignOff.objects.create(
        assessment=screening,
        signed_by=risk_officer,
        signed_at=timezone.now(),
        statement=f"I sign off {screening.reference}.",
        content=content,
        sha256=sha256_of(content),
    )
    AIModel.objects.filter(pk=version.model_id).update(
        approved_by=risk_officer, approved_at=timezone.now(), approval_note="Evaluated"
    )
    return version


@pytest.fixture
def gone_live(use_case, ready, product_owner) -> GoLiveRecord:
    services.use_case_transition(actor=product_owner, use_case=use_case, action="go_live")
    return GoLiveRecord.objects.get(use_case=use_case)


def _check(record: GoLiveRecord, key: str) -> dict:
    return next(c for c in record.checks if c["key"] == key)


# Written by the moves ------------------------------------------------------------------------
def test_going_live_keeps_one_record_with_who_when_every_check_and_its_evidence(
    use_case, ready, product_owner, risk_officer, admin_user
):
    before = timezone.now()
    services.use_case_transition(actor=product_owner, use_case=use_case, action="go_live")
    record = GoLiveRecord.objects.get(use_case=use_case)

    assert (record.kind, record.action, record.moved_by) == (
        GoLiveKind.USE_CASE,
        "go_live",
        product_owner,
    )
    assert before <= record.moved_at <= timezone.now()
    assert (record.lifecycle_from, record.lifecycle_to) == (Lifecycle.PILOT, Lifecycle.PRODUCTION)
    assert record.passed
    # Every check of the gate, as the gate answered under the lock.
    assert [c["key"] for c in record.checks] == [
        c.key for c in gate.check_go_live(use_case, moving=True).checks
    ]
    # The logged answer that let it through.
    assert record.gate_check == GateCheck.objects.get(use_case=use_case, passed=True)
    assert record.gate_check.source == "transition"

    screening = use_case.assessments.get(kind="screening")
    evidence = _check(record, "screening")["evidence"]["assessment"]
    assert evidence["reference"] == screening.reference
    assert evidence["id"] == screening.pk
    assert evidence["sha256"] == SignOff.objects.get(assessment=screening).sha256
    assert evidence["signed_by"]["username"] == risk_officer.username

    (approval,) = _check(record, "models")["evidence"]["models"]
    assert approval["model"]["reference"] == ready.model.reference
    assert approval["version"]["version"] == ready.version
    assert approval["status"] == "approved"
    assert approval["approved_by"]["username"] == risk_officer.username
    assert approval["approved_at"] is not None
    assert approval["use_case_approval"]["approved_by"]["username"] == admin_user.username

    runbook = use_case.runbook
    latest = runbook.history.order_by("-history_id").first()
    assert _check(record, "runbook")["evidence"]["runbook"] == {
        "id": runbook.pk,
        "version": runbook.version,
        "history_id": latest.history_id,
        "reviewed_at": runbook.reviewed_at.isoformat(),
        "review_due": runbook.review_due.isoformat(),
        "updated_by": {
            "id": admin_user.pk,
            "username": admin_user.username,
            "name": admin_user.get_full_name() or admin_user.username,
        },
    }
    # The same evidence is in the gate log and in the ledger.
    assert _check(record, "screening") == next(
        c for c in record.gate_check.checks if c["key"] == "screening"
    )
    entry = LedgerEntry.objects.get(kind="golive")
    assert entry.use_case_id == use_case.pk and entry.actor_id == product_owner.pk


def test_resuming_into_production_keeps_a_record_with_its_reason(
    use_case, ready, product_owner, risk_officer
):
    services.use_case_transition(actor=product_owner, use_case=use_case, action="go_live")
    services.use_case_transition(
        actor=risk_officer, use_case=use_case, action="suspend", reason="Drift"
    )
    services.use_case_transition(
        actor=risk_officer, use_case=use_case, action="resume", reason="Retrained and re-tested"
    )
    latest = use_case.go_live_records.first()
    assert use_case.go_live_records.count() == 2
    assert (latest.action, latest.lifecycle_from, latest.moved_by, latest.reason) == (
        "resume",
        Lifecycle.SUSPENDED,
        risk_officer,
        "Retrained and re-tested",
    )


def test_a_deployment_into_production_keeps_one_record(use_case, ready, product_owner):
    staging = use_case.deployments.get()
    services.deployment_update(
        actor=product_owner, deployment=staging, data={"environment": "production"}
    )
    record = GoLiveRecord.objects.get(use_case=use_case)
    assert (record.kind, record.action, record.deployment, record.environment) == (
        GoLiveKind.DEPLOYMENT,
        "deploy",
        staging,
        "production",
    )
    assert (record.model_version, record.moved_by, record.passed) == (ready, product_owner, True)
    assert record.gate_check.source == "deployment"
    assert _check(record, "screening")["evidence"]["assessment"]["sha256"]

    # A new version into production is a move; a change of traffic share is not.
    second = ModelVersionFactory(model=ready.model, version="2.0")
    complete_card(second)
    services.deployment_update(
        actor=product_owner, deployment=staging, data={"model_version": second}, reason="Better"
    )
    services.deployment_update(actor=product_owner, deployment=staging, data={"traffic_share": 50})
    change = use_case.go_live_records.first()
    assert use_case.go_live_records.count() == 2
    assert (change.action, change.model_version, change.previous_version, change.reason) == (
        "change",
        second,
        ready,
        "Better",
    )
    services.deployment_rollback(actor=product_owner, deployment=staging, reason="Regression")
    rollback = use_case.go_live_records.first()
    assert (rollback.action, rollback.model_version, rollback.previous_version) == (
        "rollback",
        ready,
        second,
    )


def test_a_deployment_outside_production_keeps_none(use_case, ready, product_owner):
    version = ModelVersionFactory(model=ready.model, version="3.0")
    services.deployment_create(
        actor=product_owner,
        use_case=use_case,
        data={"model_version": version, "environment": "staging", "traffic_share": 100},
    )
    assert not GoLiveRecord.objects.exists()


def test_a_refused_move_keeps_no_record_but_its_refusal_shows_to_an_auditor(
    client, use_case, product_owner, auditor
):
    with pytest.raises(ValidationError):
        services.use_case_transition(actor=product_owner, use_case=use_case, action="go_live")
    assert not GoLiveRecord.objects.exists()
    refused = GateCheck.objects.get(use_case=use_case)
    assert not refused.passed

    client.force_login(auditor)
    html = client.get(use_case.get_absolute_url()).content.decode()
    decisions = html[html.index('id="h-gate-decisions"') :]
    assert "Refused" in decisions
    assert "Risk screening" in decisions  # a missing check, named
    assert "pat.owner" in decisions or product_owner.get_full_name() in decisions
    full = client.get(reverse("registry:use-case-gate-decisions", args=[use_case.pk]))
    assert full.status_code == 200 and "Refused" in full.content.decode()


def test_a_deployment_refused_into_production_keeps_no_record(use_case, admin_user):
    version = ModelVersionFactory(model__business_unit=use_case.business_unit)
    services.model_approval_grant(actor=admin_user, use_case=use_case, model=version.model)
    with pytest.raises(ValidationError):
        services.deployment_create(
            actor=admin_user,
            use_case=use_case,
            data={"model_version": version, "environment": "production", "traffic_share": 100},
        )
    assert not GoLiveRecord.objects.exists()
    assert GateCheck.objects.filter(use_case=use_case, passed=False, source="deployment").exists()


# The record's page ---------------------------------------------------------------------------
@pytest.mark.parametrize("persona", PERSONAS)
def test_the_record_page_opens_for_whoever_reads_the_use_case(client, personas, persona, gone_live):
    client.force_login(personas[persona])
    response = client.get(reverse("registry:go-live-record", args=[gone_live.pk]))
    export = client.get(reverse("registry:go-live-record-json", args=[gone_live.pk]))
    expected = 200 if persona in READS_THE_USE_CASE else 404
    assert (response.status_code, export.status_code) == (expected, expected)


def test_the_record_page_shows_who_when_and_the_evidence(client, auditor, gone_live, use_case):
    client.force_login(auditor)
    html = client.get(gone_live.get_absolute_url()).content.decode()
    screening = use_case.assessments.get(kind="screening")
    sign_off = SignOff.objects.get(assessment=screening)
    assert "pat.owner" in html or gone_live.moved_by.get_full_name() in html
    assert reverse("assessments:detail", args=[screening.pk]) in html
    assert sign_off.sha256 in html
    assert f'datetime="{timezone.localtime(gone_live.moved_at).isoformat()}"' in html
    for check in gone_live.checks:
        assert check["label"] in html
    runbook = _check(gone_live, "runbook")["evidence"]["runbook"]
    assert f"#{runbook['history_id']}" in html


def test_the_use_case_page_links_each_record_in_one_click(client, auditor, gone_live, use_case):
    client.force_login(auditor)
    html = client.get(use_case.get_absolute_url()).content.decode()
    assert reverse("registry:go-live-record", args=[gone_live.pk]) in html
    assert "Passed" in html[html.index('id="h-gate-decisions"') :]
    listing = client.get(reverse("registry:use-case-go-live-records", args=[use_case.pk]))
    assert reverse("registry:go-live-record", args=[gone_live.pk]) in listing.content.decode()


def test_the_json_export_holds_the_whole_record(client, auditor, gone_live, use_case):
    client.force_login(auditor)
    response = client.get(reverse("registry:go-live-record-json", args=[gone_live.pk]))
    assert response["Content-Type"] == "application/json"
    body = json.loads(response.content)
    assert body["use_case_reference"] == use_case.reference
    assert body["moved_by"]["username"] == "pat.owner"
    assert body["passed"] is True
    assert body["checks"] == gone_live.checks
    assert body["gate_check"]["id"] == gone_live.gate_check_id


def test_the_record_page_reads_a_bounded_number_of_rows(
    client, auditor, gone_live, django_assert_max_num_queries
):
    client.force_login(auditor)
    with django_assert_max_num_queries(8):
        assert client.get(gone_live.get_absolute_url()).status_code == 200


# API -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("persona", ["auditor", "product_owner", "outsider"])
def test_the_api_lists_the_records_to_whoever_reads_the_use_case(
    client, personas, persona, gone_live, use_case
):
    client.force_login(personas[persona])
    response = client.get(f"/api/v1/use-cases/{use_case.pk}/go-live-records/")
    if persona == "outsider":
        assert response.status_code == 404
        return
    assert response.status_code == 200
    (row,) = response.json()["results"]
    assert row["id"] == gone_live.pk
    assert row["checks"] == gone_live.checks


def test_the_gate_api_returns_each_checks_evidence(client, auditor, ready, use_case):
    client.force_login(auditor)
    body = client.get(f"/api/v1/gate/{use_case.reference}/").json()
    screening = next(c for c in body["checks"] if c["key"] == "screening")
    assert screening["evidence"]["assessment"]["reference"].startswith("AS-")


# Append-only ---------------------------------------------------------------------------------
def test_the_database_refuses_to_change_or_delete_a_record(gone_live):
    table = GoLiveRecord._meta.db_table
    for sql in (
        f"UPDATE {table} SET passed = false WHERE id = {gone_live.pk}",
        f"DELETE FROM {table} WHERE id = {gone_live.pk}",
    ):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql)
