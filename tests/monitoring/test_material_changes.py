"""Material changes: every rule Steward ships fires on its change, and not on an unrelated edit,
whichever way the change is made (the service, the page, the API, the CSV import).

The rules are walked from the data migration that ships them, not listed here: a rule added
there is tested here. What a change of each kind looks like is below (``MAKE``), per kind.
"""

import csv
import importlib
import io

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from monitoring.models import Flag, MaterialChangeRule
from monitoring.services.material_changes import material_rule_create, material_rule_update
from registry import services
from registry.changes import ChangeKind
from registry.csvio import REGISTER_COLUMNS, import_commit, import_preview, register_rows
from registry.models import Deployment, ModelApproval, UseCase
from registry.services.releases import model_version_set_stage
from tests.factories import (
    AIModelFactory,
    DataSourceFactory,
    ModelVersionFactory,
    ProductionUseCaseFactory,
    signed_off,
)

pytestmark = pytest.mark.django_db

SHIPPED = importlib.import_module(
    "monitoring.migrations.0009_shipped_material_change_rules"
).SHIPPED
SHIPPED_KEYS = [rule["builtin"] for rule in SHIPPED]
BY_KEY = {rule["builtin"]: rule for rule in SHIPPED}

USE_CASE_KINDS = {
    ChangeKind.DECISION_IMPACT,
    ChangeKind.PEOPLE_AFFECTED,
    ChangeKind.HUMAN_OVERSIGHT,
    ChangeKind.PURPOSE,
    ChangeKind.DATA_SOURCES,
}


@pytest.fixture
def world(retail, product_owner, admin_user):
    """A production use case with a data source, a model deployed in staging, and another
    approved model it may move to."""
    source = DataSourceFactory(business_unit=retail, owner=product_owner)
    spare = DataSourceFactory(business_unit=retail, owner=product_owner)
    use_case = ProductionUseCaseFactory(
        business_unit=retail, owner=product_owner, data_sources=[source]
    )
    version = ModelVersionFactory(model__business_unit=retail, stage="canary")
    other = ModelVersionFactory(model__business_unit=retail, model__provider="Another vendor")
    for model in (version.model, other.model):
        ModelApproval.objects.create(use_case=use_case, model=model, approved_by=admin_user)
    deployment = Deployment.objects.create(
        use_case=use_case, model_version=version, environment="staging", traffic_share=100
    )
    signed_off(use_case, "impact")
    return {
        "use_case": use_case,
        "source": source,
        "spare": spare,
        "version": version,
        "other": other,
        "deployment": deployment,
    }


def _use_case_data(use_case: UseCase, **changes) -> dict:
    data = {
        "title": use_case.title,
        "purpose": use_case.purpose,
        "business_unit": use_case.business_unit,
        "owner": use_case.owner,
        "people_affected": list(use_case.people_affected),
        "decision_impact": use_case.decision_impact,
        "human_oversight": use_case.human_oversight,
        "next_review_date": use_case.next_review_date,
        "data_sources": list(use_case.data_sources.all()),
    }
    data.update(changes)
    return data


def _use_case_change(kind: str, world) -> dict:
    """The field changes that make a change of this kind on the use case."""
    return {
        ChangeKind.DECISION_IMPACT: {"decision_impact": "automatic"},
        ChangeKind.PEOPLE_AFFECTED: {"people_affected": ["staff", "customers"]},
        ChangeKind.HUMAN_OVERSIGHT: {"human_oversight": "sampled"},
        ChangeKind.PURPOSE: {"purpose": "Now also scores every loan application."},
        ChangeKind.DATA_SOURCES: {"data_sources": [world["source"], world["spare"]]},
    }[kind]


UNRELATED = {"title": "A new name for the same thing"}


# One way to make a change per channel ---------------------------------------------------------
def _via_service(actor, world, changes: dict):
    services.use_case_update(
        actor=actor, use_case=world["use_case"], data=_use_case_data(world["use_case"], **changes)
    )


def _via_page(client, actor, world, changes: dict):
    data = _use_case_data(world["use_case"], **changes)
    post = {
        "title": data["title"],
        "purpose": data["purpose"],
        "business_unit": data["business_unit"].pk,
        "owner": data["owner"].pk,
        "people_affected": data["people_affected"],
        "decision_impact": data["decision_impact"],
        "human_oversight": data["human_oversight"],
        "next_review_date": "",
        "data_sources": [s.pk for s in data["data_sources"]],
    }
    client.force_login(actor)
    response = client.post(reverse("registry:use-case-edit", args=[world["use_case"].pk]), post)
    assert response.status_code == 302, response.content.decode()[:2000]


def _via_api(client, actor, world, changes: dict):
    body = {}
    for name, value in changes.items():
        body[name] = [s.pk for s in value] if name == "data_sources" else value
    client.force_login(actor)
    response = client.patch(
        f"/api/v1/use-cases/{world['use_case'].pk}/", body, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    return response.json()


def _via_csv(actor, world, changes: dict):
    use_case = UseCase.objects.get(pk=world["use_case"].pk)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(REGISTER_COLUMNS)
    [row] = list(register_rows([use_case]))
    row = dict(zip(REGISTER_COLUMNS, row, strict=True))
    for name, value in changes.items():
        if name == "data_sources":
            value = ";".join(s.reference for s in value)
        elif name == "people_affected":
            value = ";".join(value)
        row[name] = value
    writer.writerow([row[c] for c in REGISTER_COLUMNS])
    batch, report = import_preview(actor=actor, filename="register.csv", content=out.getvalue())
    assert report.ok, report.to_json()
    report = import_commit(actor=actor, batch=batch)
    assert report.ok and report.rows[0].updated
    return report


def _other_change(kind: str, actor, world):
    """A change of a kind that is not the use case's own fields, through its service."""
    if kind == ChangeKind.CLASSIFICATION:
        services.data_source_update(
            actor=actor, data_source=world["source"], data={"classification": "restricted"}
        )
    elif kind == ChangeKind.PERSONAL_DATA:
        services.data_source_update(
            actor=actor, data_source=world["source"], data={"personal_data": True}
        )
    elif kind == ChangeKind.SERVING_MODEL:
        services.deployment_update(
            actor=actor, deployment=world["deployment"], data={"model_version": world["other"]}
        )
    elif kind == ChangeKind.PROVIDER:
        services.model_update(
            actor=actor, model=world["version"].model, data={"provider": "A new vendor"}
        )
    elif kind == ChangeKind.DATA_DESTINATION:
        services.model_update(
            actor=actor, model=world["version"].model, data={"hosting_pattern": "api_first"}
        )
    elif kind == ChangeKind.STAGE:
        # The one place a stage is saved (the promote action completes through it); it sends
        # registry.signals.model_version_stage_changed, which monitoring listens to.
        model_version_set_stage(
            version=world["version"], stage="production", reason="Promoted", actor=actor
        )
    else:
        raise AssertionError(f"No change is made for {kind}")


def _flags(key: str):
    return Flag.objects.filter(cause=f"material_change:{key}")


# The shipped rules --------------------------------------------------------------------------------
def test_the_shipped_rules_are_in_the_database():
    shipped = MaterialChangeRule.objects.exclude(builtin="").values_list("builtin", flat=True)
    assert set(shipped) == set(SHIPPED_KEYS)


def test_every_change_kind_has_a_shipped_rule():
    assert {rule["change"] for rule in SHIPPED} == set(ChangeKind.values)


@pytest.mark.parametrize("key", SHIPPED_KEYS)
def test_each_shipped_rule_fires_on_its_change(
    key, world, admin_user, mailoutbox, risk_officer, django_capture_on_commit_callbacks
):
    kind = BY_KEY[key]["change"]
    with django_capture_on_commit_callbacks(execute=True):
        if kind in USE_CASE_KINDS:
            _via_service(admin_user, world, _use_case_change(kind, world))
        else:
            _other_change(kind, admin_user, world)
    [flag] = _flags(key)
    assert flag.use_case_id == world["use_case"].pk and flag.is_open
    assert flag.evidence["changed_by"] == (admin_user.get_full_name() or admin_user.username)
    assert flag.evidence["old_value"] != flag.evidence["new_value"]
    assert BY_KEY[key]["name"] in flag.reason
    use_case = UseCase.objects.get(pk=world["use_case"].pk)
    assert use_case.needs_reassessment and flag.reference in use_case.reassessment_reasons
    assert flag.severity == BY_KEY[key]["severity"]
    assert (flag.reassessment_id is not None) == BY_KEY[key]["start_draft"]
    told = {m.to[0] for m in mailoutbox if flag.reference in m.subject}
    assert {world["use_case"].owner.email, risk_officer.email} <= told


@pytest.mark.parametrize("key", SHIPPED_KEYS)
def test_no_shipped_rule_fires_on_an_unrelated_edit(key, world, admin_user):
    _via_service(admin_user, world, UNRELATED)
    services.data_source_update(
        actor=admin_user, data_source=world["source"], data={"description": "Reworded."}
    )
    services.model_update(actor=admin_user, model=world["version"].model, data={"licence": "MIT"})
    assert not _flags(key).exists()


USE_CASE_RULES = [rule["builtin"] for rule in SHIPPED if rule["change"] in USE_CASE_KINDS]


@pytest.mark.parametrize("channel", ["page", "api", "csv"])
@pytest.mark.parametrize("key", USE_CASE_RULES)
def test_a_use_case_rule_fires_the_same_through_page_api_and_csv(
    key, channel, world, product_owner, client
):
    changes = _use_case_change(BY_KEY[key]["change"], world)
    if channel == "page":
        _via_page(client, product_owner, world, changes)
    elif channel == "api":
        body = _via_api(client, product_owner, world, changes)
        [raised] = [f for f in body["flags_raised"] if f["cause"] == f"material_change:{key}"]
        assert raised["reference"] == _flags(key).get().reference
        assert raised["url"] == f"/monitoring/flags/{raised['reference']}/"
    else:
        report = _via_csv(product_owner, world, changes)
        assert _flags(key).get().reference in report.rows[0].flags_raised
    flag = _flags(key).get()
    assert flag.evidence["changed_by"] == (product_owner.get_full_name() or "pat.owner")


@pytest.mark.parametrize("channel", ["page", "api", "csv"])
def test_an_unrelated_edit_raises_nothing_through_any_channel(
    channel, world, product_owner, client
):
    if channel == "page":
        _via_page(client, product_owner, world, UNRELATED)
    elif channel == "api":
        assert _via_api(client, product_owner, world, UNRELATED)["flags_raised"] == []
    else:
        assert _via_csv(product_owner, world, UNRELATED).rows[0].flags_raised == []
    assert not Flag.objects.filter(cause__startswith="material_change:").exists()


def test_the_issues_example_answers_with_the_flag(world, product_owner, client):
    body = _via_api(client, product_owner, world, {"decision_impact": "automatic"})
    assert body["needs_reassessment"] is True
    [raised] = body["flags_raised"]
    assert raised["cause"] == "material_change:decision-impact"
    assert "Assists a person who decides → Decides automatically" in raised["reason"]


def test_a_second_change_while_open_adds_to_the_flag(world, admin_user):
    _via_service(admin_user, world, {"purpose": "First new purpose."})
    _via_service(admin_user, world, {"purpose": "Second new purpose."})
    [flag] = _flags("purpose")
    assert len(flag.evidence["later_changes"]) == 1


def test_a_switched_off_rule_does_not_fire(world, admin_user, risk_officer):
    rule = MaterialChangeRule.objects.get(builtin="purpose")
    material_rule_update(actor=risk_officer, rule=rule, enabled=False)
    _via_service(admin_user, world, {"purpose": "Something else."})
    assert not _flags("purpose").exists()


def test_a_firms_own_rule_fires_on_becomes(world, admin_user, risk_officer):
    rule = material_rule_create(
        actor=risk_officer,
        name="Goes fully automatic",
        change=ChangeKind.DECISION_IMPACT,
        condition="becomes",
        value="automatic",
        severity="critical",
    )
    _via_service(admin_user, world, {"decision_impact": "informational"})
    assert not Flag.objects.filter(cause=rule.cause).exists()
    _via_service(admin_user, world, {"decision_impact": "automatic"})
    assert Flag.objects.get(cause=rule.cause).severity == "critical"


def test_a_shipped_rule_keeps_what_it_watches(risk_officer):
    rule = MaterialChangeRule.objects.get(builtin="purpose")
    with pytest.raises(ValidationError) as caught:
        material_rule_update(actor=risk_officer, rule=rule, change=ChangeKind.PEOPLE_AFFECTED)
    assert "change" in caught.value.message_dict


def test_becomes_needs_a_known_value(risk_officer):
    with pytest.raises(ValidationError) as caught:
        material_rule_create(
            actor=risk_officer,
            name="x",
            change=ChangeKind.DECISION_IMPACT,
            condition="becomes",
            value="sometimes",
        )
    assert "value" in caught.value.message_dict


def test_a_retired_use_case_is_not_flagged(world, admin_user):
    UseCase.objects.filter(pk=world["use_case"].pk).update(lifecycle="retired")
    services.data_source_update(
        actor=admin_user, data_source=world["source"], data={"personal_data": True}
    )
    assert not Flag.objects.exists()


def test_the_first_deployment_is_not_a_new_model(retail, product_owner, admin_user):
    use_case = ProductionUseCaseFactory(business_unit=retail, owner=product_owner)
    version = ModelVersionFactory(model__business_unit=retail)
    ModelApproval.objects.create(use_case=use_case, model=version.model, approved_by=admin_user)
    services.deployment_create(
        actor=admin_user,
        use_case=use_case,
        data={"model_version": version, "environment": "staging", "traffic_share": 100},
    )
    assert not Flag.objects.exists()


def test_a_model_already_serving_is_not_new(world, admin_user):
    other_model = AIModelFactory(business_unit=world["use_case"].business_unit)
    assert other_model  # a model that serves nothing changes nothing
    again = ModelVersionFactory(model=world["version"].model)
    services.deployment_update(
        actor=admin_user, deployment=world["deployment"], data={"model_version": again}
    )
    assert not _flags("new-model").exists()


# Who may read and write the rules --------------------------------------------------------------
MAY_WRITE = {"admin", "risk_officer"}
PERSONAS = ["admin", "risk_officer", "dpo", "product_owner", "leadership", "auditor", "outsider"]


@pytest.mark.parametrize("persona", PERSONAS)
def test_who_may_read_and_write_material_rules(persona, personas, client):
    rule = MaterialChangeRule.objects.get(builtin="purpose")
    client.force_login(personas[persona])
    writes = persona in MAY_WRITE
    assert client.get(reverse("monitoring:material-rule-list")).status_code == 200
    assert client.get("/api/v1/material-change-rules/").status_code == 200
    edit = client.get(reverse("monitoring:material-rule-edit", args=[rule.pk]))
    assert edit.status_code == (200 if writes else 403)
    new = client.get(reverse("monitoring:material-rule-create"))
    assert new.status_code == (200 if writes else 403)
    patched = client.patch(
        f"/api/v1/material-change-rules/{rule.pk}/",
        {"severity": "low"},
        content_type="application/json",
    )
    assert patched.status_code == (200 if writes else 403)
    created = client.post(
        "/api/v1/material-change-rules/",
        {"name": "Ours", "change": "use_case.purpose", "condition": "any"},
        content_type="application/json",
    )
    assert created.status_code == (201 if writes else 403)
    rule.refresh_from_db()
    assert (rule.severity == "low") == writes


def test_signed_out_people_are_sent_to_sign_in(client):
    assert client.get(reverse("monitoring:material-rule-list")).status_code == 302
    assert client.get("/api/v1/material-change-rules/").status_code in (401, 403)


def test_a_page_edit_says_what_it_raised_and_keeps_history(world, risk_officer, client):
    rule = MaterialChangeRule.objects.get(builtin="purpose")
    client.force_login(risk_officer)
    response = client.post(
        reverse("monitoring:material-rule-edit", args=[rule.pk]),
        {"severity": "low", "start_draft": "on", "enabled": "on", "description": "Ours now."},
    )
    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.severity == "low" and rule.start_draft
    assert rule.history.latest().history_user == risk_officer


def test_an_invalid_rule_keeps_what_was_typed(risk_officer, client):
    client.force_login(risk_officer)
    response = client.post(
        reverse("monitoring:material-rule-create"),
        {
            "name": "Typed name",
            "change": "use_case.decision_impact",
            "condition": "becomes",
            "value": "sometimes",
            "severity": "high",
            "enabled": "on",
        },
    )
    assert response.status_code == 400
    assert "Typed name" in response.content.decode()
    api = client.post(
        "/api/v1/material-change-rules/",
        {"name": "x", "change": "use_case.purpose", "condition": "becomes", "value": "y"},
        content_type="application/json",
    )
    assert api.status_code == 400 and "condition" in api.json()


def test_a_shipped_rule_is_not_deleted_but_ones_own_is(risk_officer, client):
    client.force_login(risk_officer)
    shipped = MaterialChangeRule.objects.get(builtin="purpose")
    assert client.delete(f"/api/v1/material-change-rules/{shipped.pk}/").status_code == 400
    own = material_rule_create(
        actor=risk_officer, name="Ours", change=ChangeKind.PURPOSE, condition="any"
    )
    assert client.delete(f"/api/v1/material-change-rules/{own.pk}/").status_code == 204
    assert not MaterialChangeRule.objects.filter(pk=own.pk).exists()


# Starting the re-assessment from the flag -----------------------------------------------------
def _flagged(world, actor) -> Flag:
    data = _use_case_data(world["use_case"], decision_impact="automatic")
    services.use_case_update(actor=actor, use_case=world["use_case"], data=data)
    return Flag.objects.get(use_case=world["use_case"], cause="material_change:decision-impact")


def test_the_owner_starts_the_reassessment_from_the_flag_once(world, product_owner, client):
    flag = _flagged(world, product_owner)
    client.force_login(product_owner)
    page = client.get(reverse("monitoring:flag-detail", args=[flag.reference])).content.decode()
    assert "Start the re-assessment" in page
    response = client.post(reverse("monitoring:flag-reassess", args=[flag.reference]))
    flag.refresh_from_db()
    draft = flag.reassessment
    assert draft is not None and draft.status == "draft" and draft.version == 2
    assert response.url == draft.get_absolute_url()
    assert flag.history.first().history_change_reason.startswith(f"Re-assessment {draft.reference}")
    # Once started, the flag names it and offers no second one.
    page = client.get(reverse("monitoring:flag-detail", args=[flag.reference])).content.decode()
    assert draft.reference in page and "Start the re-assessment" not in page
    again = client.post(reverse("monitoring:flag-reassess", args=[flag.reference]), follow=True)
    assert "already has its re-assessment" in again.content.decode()


def test_who_may_start_the_reassessment_from_a_flag(world, product_owner, personas, client):
    flag = _flagged(world, product_owner)
    for persona in ("auditor", "leadership", "outsider"):
        client.force_login(personas[persona])
        page = client.get(reverse("monitoring:flag-detail", args=[flag.reference]))
        assert page.status_code in (200, 404)
        assert "Start the re-assessment" not in page.content.decode()
        response = client.post(reverse("monitoring:flag-reassess", args=[flag.reference]))
        assert response.status_code in (403, 404), persona
    flag.refresh_from_db()
    assert flag.reassessment is None
