"""The model registry's REST API: models, versions and cards, deployments and rollback,
approvals, data-policy exceptions, the go-live gate a pipeline calls, the persona matrix,
query counts and the OpenAPI schema."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from registry.models import (
    MODEL_CARD_SECTIONS,
    AIModel,
    ApprovalStatus,
    Classification,
    DataPolicyException,
    Deployment,
    Destination,
    GateCheck,
    ModelApproval,
)
from tests.factories import (
    AIModelFactory,
    DataSourceFactory,
    ModelVersionFactory,
    PilotUseCaseFactory,
    complete_card,
    ready_for_production,
)

pytestmark = pytest.mark.django_db

PERSONAS = ["admin", "risk_officer", "product_owner", "leadership", "dpo", "auditor", "outsider"]


def expect(success: int, holders: set[str], outsider: int) -> dict[str, int]:
    """The answer for each persona: success for holders, 403 for others, and the outsider's
    (a product owner in Corporate) own answer, as they may not see Retail's use cases."""
    answers = {p: (success if p in holders else 403) for p in PERSONAS}
    answers["outsider"] = outsider
    return answers


# The catalogue is the firm's: the outsider sees Retail's models and is refused with 403.
# A use case's records are Retail's: the outsider gets 404 on them and, naming one in a body
# they may not see, a field error (as the register's other create endpoints answer).
CREATE_MODEL = expect(201, {"admin", "risk_officer", "product_owner"}, outsider=400)
CHANGE_MODEL = expect(200, {"admin", "risk_officer", "product_owner"}, outsider=403)
APPROVE_MODEL = expect(200, {"admin", "risk_officer"}, outsider=403)
DEPLOY = expect(201, {"admin", "risk_officer", "product_owner"}, outsider=400)
ROLLBACK = expect(200, {"admin", "risk_officer", "product_owner"}, outsider=404)
GRANT = expect(201, {"admin", "risk_officer"}, outsider=400)
EXCEPTION = expect(201, {"admin", "risk_officer", "dpo"}, outsider=400)


# Fixtures and helpers ------------------------------------------------------------------------
def token_client(user) -> APIClient:
    token, _ = Token.objects.get_or_create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def as_persona(personas):
    def make(name: str) -> APIClient:
        return token_client(personas[name])

    return make


@pytest.fixture
def use_case(retail, product_owner):
    return PilotUseCaseFactory(business_unit=retail, owner=product_owner)


@pytest.fixture
def model(retail, product_owner):
    return AIModelFactory(business_unit=retail, owner=product_owner)


@pytest.fixture
def version(model):
    return ModelVersionFactory(model=model, version="1.0")


@pytest.fixture
def approved_for(use_case, model, admin_user):
    return ModelApproval.objects.create(use_case=use_case, model=model, approved_by=admin_user)


@pytest.fixture
def deployment(use_case, version, approved_for):
    return Deployment.objects.create(
        use_case=use_case, model_version=version, environment="staging"
    )


def url(name: str, *args) -> str:
    return reverse(name, args=args)


def new_model_data(unit, owner, /, **overrides) -> dict:
    data = {
        "name": "Invoice reader",
        "provider": "In-house data science",
        "hosting_pattern": "in_house",
        "business_unit": unit.pk,
        "owner": owner.pk,
    }
    data.update(overrides)
    return data


# Authentication ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "method,name,on_record",
    [
        ("get", "api-ai-model-list", False),
        ("post", "api-ai-model-list", False),
        ("post", "api-ai-model-approval", True),
        ("get", "api-deployment-list", False),
        ("post", "api-deployment-list", False),
        ("post", "api-deployment-rollback", True),
        ("get", "api-model-approval-list", False),
        ("get", "api-policy-exception-list", False),
        ("get", "api-gate", True),
        ("post", "api-gate", True),
    ],
)
def test_anonymous_caller_gets_401(method, name, on_record, deployment):
    target = url(name, deployment.pk) if on_record else url(name)
    response = getattr(APIClient(), method)(target, {}, format="json")
    assert response.status_code == 401


# Models --------------------------------------------------------------------------------------
@pytest.mark.parametrize("persona", PERSONAS)
def test_create_model_matrix(as_persona, personas, persona, retail, product_owner):
    response = as_persona(persona).post(
        url("api-ai-model-list"), new_model_data(retail, product_owner), format="json"
    )

    assert response.status_code == CREATE_MODEL[persona], response.content
    if response.status_code == 201:
        body = response.json()
        assert body["reference"].startswith("AI-")
        # A new model waits for a risk decision; its data stays where its hosting keeps it.
        assert body["approval_status"] == ApprovalStatus.UNDER_EVALUATION
        assert body["data_destination"] == Destination.PRIVATE_VPC
        assert AIModel.objects.get(pk=body["id"]).history.first().history_user == personas[persona]
    elif persona == "outsider":
        assert "business_unit" in response.json()


def test_an_api_first_model_sends_data_to_an_external_api(as_persona, retail, product_owner):
    response = as_persona("product_owner").post(
        url("api-ai-model-list"),
        new_model_data(retail, product_owner, hosting_pattern="api_first", provider="OpenAI"),
        format="json",
    )

    assert response.status_code == 201
    assert response.json()["data_destination"] == Destination.EXTERNAL_API


@pytest.mark.parametrize("persona", PERSONAS)
def test_update_model_matrix(as_persona, persona, model):
    response = as_persona(persona).patch(
        url("api-ai-model-detail", model.pk), {"vendor": "Acme"}, format="json"
    )

    assert response.status_code == CHANGE_MODEL[persona], response.content
    model.refresh_from_db()
    assert (model.vendor == "Acme") == (response.status_code == 200)


def test_approval_status_cannot_be_set_by_an_edit(as_persona, model):
    model.approval_status = ApprovalStatus.UNDER_EVALUATION
    model.save()

    response = as_persona("admin").patch(
        url("api-ai-model-detail", model.pk), {"approval_status": "approved"}, format="json"
    )

    assert response.status_code == 200
    model.refresh_from_db()
    assert model.approval_status == ApprovalStatus.UNDER_EVALUATION


@pytest.mark.parametrize("persona", PERSONAS)
def test_approval_matrix(as_persona, personas, persona, model):
    response = as_persona(persona).post(
        url("api-ai-model-approval", model.pk),
        {"status": "banned", "note": "Leaks prompts to its vendor."},
        format="json",
    )

    assert response.status_code == APPROVE_MODEL[persona], response.content
    model.refresh_from_db()
    if response.status_code == 200:
        assert response.json()["approval_status"] == "banned"
        assert model.approval_status == ApprovalStatus.BANNED
        assert model.approved_by == personas[persona]
        assert response.json()["approval_note"] == "Leaks prompts to its vendor."
    else:
        assert model.approval_status == ApprovalStatus.APPROVED


@pytest.mark.parametrize(
    "body,field",
    [
        ({"status": "blessed", "note": "Why not."}, "status"),
        ({"status": "approved"}, "note"),
        ({"status": "approved", "note": "   "}, "note"),
    ],
)
def test_approval_needs_a_known_status_and_a_note(as_persona, model, body, field):
    response = as_persona("risk_officer").post(
        url("api-ai-model-approval", model.pk), body, format="json"
    )

    assert response.status_code == 400
    assert field in response.json()


@pytest.mark.parametrize(
    "overrides,field",
    [
        ({"name": ""}, "name"),
        ({"hosting_pattern": "on_a_whim"}, "hosting_pattern"),
        ({"data_destination": "the_moon"}, "data_destination"),
        ({"risk_tier": "spicy"}, "risk_tier"),
        ({"owner": 999999}, "owner"),
    ],
)
def test_bad_model_input_is_a_field_error(as_persona, retail, product_owner, overrides, field):
    response = as_persona("product_owner").post(
        url("api-ai-model-list"), new_model_data(retail, product_owner, **overrides), format="json"
    )

    assert response.status_code == 400
    assert field in response.json()


def test_model_list_filters_and_search(as_persona, retail, product_owner):
    gpt = AIModelFactory(
        business_unit=retail, name="GPT-4o", provider="OpenAI", hosting_pattern="api_first"
    )
    llama = AIModelFactory(
        business_unit=retail, name="Llama 3", provider="Meta", hosting_pattern="hosted_open"
    )
    banned = AIModelFactory(business_unit=retail, name="Old scorer", approval_status="banned")
    client = as_persona("outsider")  # the catalogue is the firm's: everyone reads it

    def ids(**params) -> set[int]:
        response = client.get(url("api-ai-model-list"), params)
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["results"]}

    assert ids() == {gpt.pk, llama.pk, banned.pk}
    assert ids(approval_status="banned") == {banned.pk}
    assert ids(hosting_pattern="hosted_open") == {llama.pk}
    assert ids(search="openai") == {gpt.pk}
    assert ids(search="llama") == {llama.pk}
    assert client.get(url("api-ai-model-list"), {"approval_status": "meh"}).status_code == 400


def test_models_are_not_deleted_over_the_api(as_persona, model):
    response = as_persona("admin").delete(url("api-ai-model-detail", model.pk))

    assert response.status_code == 405
    assert AIModel.objects.filter(pk=model.pk).exists()


# Versions and cards --------------------------------------------------------------------------
def test_versions_are_listed_and_registered_under_their_model(as_persona, model, version):
    client = as_persona("product_owner")

    created = client.post(
        url("api-ai-model-versions", model.pk),
        {"version": "2.0", "artefact": "s3://models/reader/2.0", "evaluation": {"f1": 0.91}},
        format="json",
    )
    listed = client.get(url("api-ai-model-versions", model.pk))

    assert created.status_code == 201, created.content
    assert created.json()["stage"] == "candidate"
    assert [row["version"] for row in listed.json()["results"]] == ["2.0", "1.0"]


def test_a_version_number_is_used_once_per_model(as_persona, model, version):
    response = as_persona("product_owner").post(
        url("api-ai-model-versions", model.pk), {"version": "1.0"}, format="json"
    )

    assert response.status_code == 400
    assert response.json()


@pytest.mark.parametrize("persona", PERSONAS)
def test_register_version_matrix(as_persona, persona, model):
    response = as_persona(persona).post(
        url("api-ai-model-versions", model.pk), {"version": "9.9"}, format="json"
    )

    expected = {p: (201 if code == 200 else code) for p, code in CHANGE_MODEL.items()}
    assert response.status_code == expected[persona], response.content


def test_a_direct_stage_edit_is_refused_and_names_the_promote_action(as_persona, version):
    client = as_persona("product_owner")
    before = version.stage

    patched = client.patch(
        url("api-model-version-detail", version.pk), {"stage": "canary"}, format="json"
    )
    put = client.put(
        url("api-model-version-detail", version.pk),
        {"version": version.version, "stage": "retired"},
        format="json",
    )
    created = client.post(
        url("api-ai-model-versions", version.model_id),
        {"version": "7.0", "stage": "production"},
        format="json",
    )
    unchanged = client.patch(
        url("api-model-version-detail", version.pk), {"stage": before}, format="json"
    )

    for response in (patched, put, created):
        assert response.status_code == 400, response.content
        assert "/promote/" in response.json()["stage"][0]
    assert unchanged.status_code == 200
    version.refresh_from_db()
    assert version.stage == before


def test_model_card_completeness_and_missing(as_persona, version):
    client = as_persona("product_owner")
    card_url = url("api-model-version-card", version.pk)
    text = "Reads supplier invoices and extracts the totals, dates and supplier names."

    empty = client.get(card_url).json()
    written = client.patch(
        card_url, {"sections": {"intended_use": text, "metrics": text}}, format="json"
    )

    assert empty["completeness"] == 0
    assert len(empty["missing"]) == len(MODEL_CARD_SECTIONS)
    assert written.status_code == 200, written.content
    body = written.json()
    assert body["completeness"] == 20
    assert "Intended use" not in body["missing"] and "Metrics" not in body["missing"]
    assert body["sections"]["intended_use"] == text


def test_model_card_refuses_unknown_sections_and_outsiders(as_persona, version):
    card_url = url("api-model-version-card", version.pk)

    unknown = as_persona("product_owner").patch(
        card_url, {"sections": {"horoscope": "Favourable."}}, format="json"
    )
    outsider = as_persona("outsider").patch(
        card_url, {"sections": {"caveats": "x" * 50}}, format="json"
    )

    assert unknown.status_code == 400 and "sections" in unknown.json()
    assert outsider.status_code == 403
    assert as_persona("outsider").get(card_url).status_code == 200


# Deployments ---------------------------------------------------------------------------------
@pytest.mark.parametrize("persona", PERSONAS)
def test_deploy_matrix(as_persona, persona, use_case, version, approved_for):
    response = as_persona(persona).post(
        url("api-deployment-list"),
        {
            "use_case": use_case.pk,
            "model_version": version.pk,
            "environment": "staging",
            "traffic_share": 10,
        },
        format="json",
    )

    assert response.status_code == DEPLOY[persona], response.content
    assert Deployment.objects.filter(use_case=use_case).exists() == (response.status_code == 201)
    if persona == "outsider":
        assert "use_case" in response.json()


def test_a_model_not_approved_for_the_use_case_cannot_be_deployed(as_persona, use_case, version):
    response = as_persona("product_owner").post(
        url("api-deployment-list"),
        {"use_case": use_case.pk, "model_version": version.pk, "environment": "staging"},
        format="json",
    )

    assert response.status_code == 400
    assert "not approved" in response.json()["model_version"][0]


def test_a_banned_model_cannot_be_deployed(as_persona, use_case, version, approved_for):
    AIModel.objects.filter(pk=version.model_id).update(approval_status="banned")

    response = as_persona("product_owner").post(
        url("api-deployment-list"),
        {"use_case": use_case.pk, "model_version": version.pk, "environment": "staging"},
        format="json",
    )

    assert response.status_code == 400
    assert "banned" in response.json()["model_version"][0]


@pytest.mark.parametrize(
    "overrides,field",
    [
        ({"traffic_share": 150}, "traffic_share"),
        ({"environment": "mars"}, "environment"),
        ({"model_version": 999999}, "model_version"),
        ({"use_case": 999999}, "use_case"),
    ],
)
def test_bad_deployment_input_is_a_field_error(
    as_persona, use_case, version, approved_for, overrides, field
):
    data = {"use_case": use_case.pk, "model_version": version.pk, "environment": "staging"}
    response = as_persona("product_owner").post(
        url("api-deployment-list"), {**data, **overrides}, format="json"
    )

    assert response.status_code == 400
    assert field in response.json()


def test_production_deployment_is_refused_by_the_gate(as_persona, product_owner, use_case, version):
    ModelApproval.objects.create(use_case=use_case, model=version.model, approved_by=product_owner)

    response = as_persona("product_owner").post(
        url("api-deployment-list"),
        {"use_case": use_case.pk, "model_version": version.pk, "environment": "production"},
        format="json",
    )

    assert response.status_code == 400
    reasons = response.json()["environment"]
    assert reasons and all(r.startswith("The go-live gate is not met.") for r in reasons)
    assert any("Risk screening" in r for r in reasons)
    assert not Deployment.objects.filter(use_case=use_case).exists()
    logged = GateCheck.objects.get(use_case=use_case)
    assert (logged.passed, logged.source, logged.asked_by) == (False, "deployment", product_owner)


def test_production_deployment_of_a_ready_use_case_passes_the_gate(
    as_persona, use_case, risk_officer
):
    staged = ready_for_production(use_case, risk_officer)

    response = as_persona("product_owner").post(
        url("api-deployment-list"),
        {"use_case": use_case.pk, "model_version": staged.pk, "environment": "production"},
        format="json",
    )

    assert response.status_code == 201, response.content
    assert response.json()["environment"] == "production"
    assert GateCheck.objects.filter(use_case=use_case, passed=True, source="deployment").exists()


@pytest.mark.parametrize("persona", PERSONAS)
def test_rollback_matrix(as_persona, persona, model, deployment):
    newer = ModelVersionFactory(model=model, version="2.0")
    Deployment.objects.filter(pk=deployment.pk).update(
        model_version=newer, previous_version=deployment.model_version
    )

    response = as_persona(persona).post(
        url("api-deployment-rollback", deployment.pk),
        {"reason": "Accuracy dropped."},
        format="json",
    )

    assert response.status_code == ROLLBACK[persona], response.content
    deployment.refresh_from_db()
    rolled_back = deployment.model_version.version == "1.0"
    assert rolled_back == (response.status_code == 200)


def test_rollback_goes_back_to_the_version_before_and_history_shows_it(
    as_persona, product_owner, model, deployment
):
    newer = ModelVersionFactory(model=model, version="2.0")
    client = as_persona("product_owner")

    upgraded = client.patch(
        url("api-deployment-detail", deployment.pk),
        {"model_version": newer.pk, "traffic_share": 50, "reason": "New release."},
        format="json",
    )
    rolled = client.post(
        url("api-deployment-rollback", deployment.pk), {"reason": "Too slow."}, format="json"
    )

    assert upgraded.status_code == 200, upgraded.content
    assert upgraded.json()["version"] == "2.0"
    assert upgraded.json()["previous_version"] == deployment.model_version_id
    assert rolled.status_code == 200, rolled.content
    assert rolled.json()["version"] == "1.0"
    assert rolled.json()["previous_version"] == newer.pk
    latest = Deployment.objects.get(pk=deployment.pk).history.first()
    assert latest.history_user == product_owner
    assert latest.history_change_reason == "Rolled back 2.0 → 1.0: Too slow."


@pytest.mark.parametrize(
    "body,message", [({}, "Say why"), ({"reason": "Bad."}, "no earlier version")]
)
def test_rollback_needs_a_reason_and_an_earlier_version(as_persona, deployment, body, message):
    if message == "Say why":
        Deployment.objects.filter(pk=deployment.pk).update(
            previous_version=ModelVersionFactory(model=deployment.model_version.model)
        )

    response = as_persona("product_owner").post(
        url("api-deployment-rollback", deployment.pk), body, format="json"
    )

    assert response.status_code == 400
    assert message in response.json()["reason"][0]


def test_retire_ends_a_deployment(as_persona, deployment):
    client = as_persona("risk_officer")

    response = client.post(
        url("api-deployment-retire", deployment.pk), {"reason": "Replaced."}, format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json()["active"] is False
    assert client.get(url("api-deployment-list"), {"active": "false"}).json()["count"] == 1
    assert client.get(url("api-deployment-list"), {"active": "true"}).json()["count"] == 0


def test_deployments_of_a_use_case_one_may_not_see_answer_404(as_persona, use_case, deployment):
    client = as_persona("outsider")

    assert client.get(url("api-deployment-detail", deployment.pk)).status_code == 404
    assert client.get(url("api-deployment-list"), {"use_case": use_case.pk}).status_code == 404
    assert client.get(url("api-deployment-list")).json()["count"] == 0
    # Missing and forbidden answer alike.
    missing = client.get(url("api-deployment-list"), {"use_case": "UC-9999"})
    assert missing.status_code == 404


def test_deployment_list_filters(as_persona, use_case, deployment, retail, product_owner):
    other = PilotUseCaseFactory(business_unit=retail, owner=product_owner)
    client = as_persona("auditor")

    def ids(**params) -> set[int]:
        response = client.get(url("api-deployment-list"), params)
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["results"]}

    assert ids(use_case=use_case.reference) == {deployment.pk}
    assert ids(use_case=other.pk) == set()
    assert ids(environment="staging") == {deployment.pk}
    assert ids(environment="production") == set()


# Approvals of a model for a use case ---------------------------------------------------------
@pytest.mark.parametrize("persona", PERSONAS)
def test_grant_model_approval_matrix(as_persona, persona, use_case, model):
    response = as_persona(persona).post(
        url("api-model-approval-list"),
        {"use_case": use_case.pk, "model": model.pk, "note": "Fit for invoices."},
        format="json",
    )

    assert response.status_code == GRANT[persona], response.content
    exists = ModelApproval.objects.filter(use_case=use_case, model=model).exists()
    assert exists == (response.status_code == 201)


def test_only_an_approved_model_can_be_approved_for_a_use_case(as_persona, use_case, model):
    AIModel.objects.filter(pk=model.pk).update(approval_status="under_evaluation")

    response = as_persona("risk_officer").post(
        url("api-model-approval-list"), {"use_case": use_case.pk, "model": model.pk}, format="json"
    )

    assert response.status_code == 400
    assert "model" in response.json()


def test_revoke_needs_a_reason_and_delete_is_not_offered(as_persona, approved_for, use_case):
    client = as_persona("risk_officer")
    detail = url("api-model-approval-detail", approved_for.pk)

    assert client.delete(detail).status_code == 405
    no_reason = client.post(url("api-model-approval-revoke", approved_for.pk), {}, format="json")
    refused = as_persona("product_owner").post(
        url("api-model-approval-revoke", approved_for.pk), {"reason": "x"}, format="json"
    )
    revoked = client.post(
        url("api-model-approval-revoke", approved_for.pk), {"reason": "Vendor left."}, format="json"
    )

    assert no_reason.status_code == 400 and "reason" in no_reason.json()
    assert refused.status_code == 403
    assert revoked.status_code == 204
    assert not ModelApproval.objects.filter(pk=approved_for.pk).exists()


def test_approvals_are_listed_by_use_case_and_hidden_from_outsiders(
    as_persona, approved_for, use_case
):
    listed = as_persona("leadership").get(
        url("api-model-approval-list"), {"use_case": use_case.reference}
    )

    assert [row["id"] for row in listed.json()["results"]] == [approved_for.pk]
    outsider = as_persona("outsider")
    assert outsider.get(url("api-model-approval-detail", approved_for.pk)).status_code == 404
    assert (
        outsider.get(url("api-model-approval-list"), {"use_case": use_case.pk}).status_code == 404
    )


# Data-policy exceptions ----------------------------------------------------------------------
@pytest.fixture
def restricted_to_external(use_case, retail, product_owner):
    """A restricted source the use case uses, and a provider's API it may not go to."""
    source = DataSourceFactory(
        business_unit=retail,
        owner=product_owner,
        classification=Classification.RESTRICTED,
        allowed_destination=Destination.EXTERNAL_API,
    )
    use_case.data_sources.add(source)
    api_model = AIModelFactory(
        business_unit=retail, hosting_pattern="api_first", data_destination="external_api"
    )
    return source, api_model


@pytest.mark.parametrize("persona", PERSONAS)
def test_record_policy_exception_matrix(
    as_persona, personas, persona, use_case, restricted_to_external
):
    source, api_model = restricted_to_external

    response = as_persona(persona).post(
        url("api-policy-exception-list"),
        {
            "use_case": use_case.pk,
            "data_source": source.pk,
            "model": api_model.pk,
            "justification": "Contractual zero retention, reviewed by the DPO.",
            "expires_on": (timezone.localdate() + timedelta(days=90)).isoformat(),
        },
        format="json",
    )

    assert response.status_code == EXCEPTION[persona], response.content
    if response.status_code == 201:
        recorded = DataPolicyException.objects.get(pk=response.json()["id"])
        assert recorded.approved_by == personas[persona]


@pytest.mark.parametrize(
    "overrides,field",
    [
        ({"expires_on": "2001-01-01"}, "expires_on"),
        ({"justification": ""}, "justification"),
        ({"expires_on": "soon"}, "expires_on"),
    ],
)
def test_bad_policy_exception_is_a_field_error(
    as_persona, use_case, restricted_to_external, overrides, field
):
    source, api_model = restricted_to_external
    data = {
        "use_case": use_case.pk,
        "data_source": source.pk,
        "model": api_model.pk,
        "justification": "Zero retention.",
        "expires_on": (timezone.localdate() + timedelta(days=30)).isoformat(),
    }

    response = as_persona("dpo").post(
        url("api-policy-exception-list"), {**data, **overrides}, format="json"
    )

    assert response.status_code == 400
    assert field in response.json()


def test_an_exception_the_policy_does_not_need_is_refused(as_persona, use_case, model):
    source = DataSourceFactory(business_unit=use_case.business_unit)
    use_case.data_sources.add(source)

    response = as_persona("dpo").post(
        url("api-policy-exception-list"),
        {
            "use_case": use_case.pk,
            "data_source": source.pk,
            "model": model.pk,
            "justification": "Just in case.",
            "expires_on": (timezone.localdate() + timedelta(days=30)).isoformat(),
        },
        format="json",
    )

    assert response.status_code == 400
    assert "No exception is needed" in response.json()["model"][0]


# The go-live gate ----------------------------------------------------------------------------
def test_gate_answers_200_with_the_reasons_when_it_fails(as_persona, product_owner, use_case):
    response = as_persona("product_owner").get(url("api-gate", use_case.reference))

    assert response.status_code == 200
    body = response.json()
    assert body["use_case"] == use_case.reference
    assert body["passed"] is False
    failing = {c["key"] for c in body["checks"] if c["applies"] and not c["holds"]}
    assert {"screening", "models"} <= failing
    assert any(r.startswith("Risk screening:") for r in body["reasons"])
    assert any(r.startswith("Deployed models approved:") for r in body["reasons"])
    logged = GateCheck.objects.get(use_case=use_case)
    assert (logged.passed, logged.source, logged.asked_by) == (False, "api", product_owner)
    assert logged.checks == body["checks"]


def test_gate_passes_a_ready_use_case(as_persona, risk_officer, use_case):
    ready_for_production(use_case, risk_officer)
    client = as_persona("risk_officer")

    by_id = client.get(url("api-gate", use_case.pk))
    by_post = client.post(url("api-gate", use_case.reference.lower()))

    for response in (by_id, by_post):
        assert response.status_code == 200, response.content
        assert response.json()["passed"] is True
        assert response.json()["reasons"] == []
    logged = GateCheck.objects.filter(use_case=use_case, source="api")
    assert [c.passed for c in logged] == [True, True]
    assert {c.asked_by for c in logged} == {risk_officer}


def test_gate_turns_to_fail_when_a_deployed_model_is_banned(as_persona, risk_officer, use_case):
    version = ready_for_production(use_case, risk_officer)
    client = as_persona("risk_officer")
    client.post(
        url("api-ai-model-approval", version.model_id),
        {"status": "banned", "note": "Vendor breach."},
        format="json",
    )

    body = client.get(url("api-gate", use_case.reference)).json()

    assert body["passed"] is False
    assert any("banned" in r for r in body["reasons"])


@pytest.mark.parametrize("persona", PERSONAS)
def test_gate_is_read_by_whoever_may_see_the_use_case(as_persona, persona, use_case):
    response = as_persona(persona).get(url("api-gate", use_case.reference))

    assert response.status_code == (404 if persona == "outsider" else 200)
    assert GateCheck.objects.filter(use_case=use_case).count() == (
        0 if persona == "outsider" else 1
    )


@pytest.mark.parametrize("key", ["UC-9999", "999999", "not-a-reference"])
def test_gate_on_a_missing_use_case_is_404(as_persona, key, use_case):
    assert as_persona("admin").get(url("api-gate", key)).status_code == 404
    assert not GateCheck.objects.exists()


# Query counts --------------------------------------------------------------------------------
def test_model_list_query_count_does_not_grow_with_rows(as_persona, retail, admin_user):
    client = as_persona("product_owner")

    def queries_for(n_rows: int) -> int:
        missing = n_rows - AIModel.objects.count()
        AIModelFactory.create_batch(missing, business_unit=retail, approved_by=admin_user)
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url("api-ai-model-list"))
        assert response.json()["count"] == n_rows
        return len(ctx.captured_queries)

    assert queries_for(10) == queries_for(40)


def test_deployment_list_query_count_does_not_grow_with_rows(
    as_persona, retail, product_owner, admin_user
):
    client = as_persona("product_owner")

    def queries_for(n_rows: int) -> int:
        for _ in range(n_rows - Deployment.objects.count()):
            use_case = PilotUseCaseFactory(business_unit=retail, owner=product_owner)
            version = ModelVersionFactory(model__business_unit=retail)
            ModelApproval.objects.create(
                use_case=use_case, model=version.model, approved_by=admin_user
            )
            Deployment.objects.create(
                use_case=use_case, model_version=version, environment="staging"
            )
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url("api-deployment-list"))
        assert response.json()["count"] == n_rows
        return len(ctx.captured_queries)

    assert queries_for(10) == queries_for(40)


def test_approval_and_exception_lists_query_counts_do_not_grow(
    as_persona, retail, product_owner, admin_user
):
    client = as_persona("risk_officer")

    def queries_for(n_rows: int) -> tuple[int, int]:
        for _ in range(n_rows - ModelApproval.objects.count()):
            use_case = PilotUseCaseFactory(business_unit=retail, owner=product_owner)
            model = AIModelFactory(business_unit=retail, data_destination="external_api")
            ModelApproval.objects.create(use_case=use_case, model=model, approved_by=admin_user)
            source = DataSourceFactory(business_unit=retail, classification="restricted")
            use_case.data_sources.add(source)
            DataPolicyException.objects.create(
                use_case=use_case,
                data_source=source,
                model=model,
                justification="Zero retention.",
                approved_by=admin_user,
                expires_on=timezone.localdate() + timedelta(days=30),
            )
        counts = []
        for name in ("api-model-approval-list", "api-policy-exception-list"):
            with CaptureQueriesContext(connection) as ctx:
                response = client.get(url(name))
            assert response.json()["count"] == n_rows
            counts.append(len(ctx.captured_queries))
        return counts[0], counts[1]

    assert queries_for(10) == queries_for(40)


def test_version_with_a_complete_card_reports_100(as_persona, version):
    complete_card(version)

    body = as_persona("auditor").get(url("api-model-version-card", version.pk)).json()

    assert (body["completeness"], body["missing"]) == (100, [])


# OpenAPI ------------------------------------------------------------------------------------
def test_schema_lists_the_model_registry_paths(as_persona):
    response = as_persona("auditor").get(reverse("api-schema"), {"format": "json"})

    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in [
        "/api/v1/models/",
        "/api/v1/models/{id}/",
        "/api/v1/models/{id}/approval/",
        "/api/v1/models/{id}/versions/",
        "/api/v1/model-versions/{id}/",
        "/api/v1/model-versions/{id}/card/",
        "/api/v1/deployments/",
        "/api/v1/deployments/{id}/",
        "/api/v1/deployments/{id}/rollback/",
        "/api/v1/deployments/{id}/retire/",
        "/api/v1/model-approvals/",
        "/api/v1/model-approvals/{id}/revoke/",
        "/api/v1/policy-exceptions/",
        "/api/v1/gate/{use_case}/",
    ]:
        assert path in paths, path
    gate = paths["/api/v1/gate/{use_case}/"]
    assert set(gate) >= {"get", "post"}
    assert "200" in gate["get"]["responses"] and "404" in gate["get"]["responses"]
    for path in [
        "/api/v1/models/{id}/",
        "/api/v1/deployments/{id}/",
        "/api/v1/model-approvals/{id}/",
    ]:
        assert "delete" not in paths[path]


def test_schema_generates_without_warnings(db):
    GENERATOR_STATS.reset()
    with GENERATOR_STATS.silence():
        SchemaGenerator().get_schema(request=None, public=True)

    messages = [*GENERATOR_STATS._warn_cache, *GENERATOR_STATS._error_cache]
    assert messages == []
