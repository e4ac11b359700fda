"""The model registry's pages: models, versions and cards, and on the use case page its
models, deployments, data policy and go-live gate."""

import csv
import io
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from registry.models import (
    AIModel,
    ApprovalStatus,
    DataPolicyException,
    Deployment,
    GateCheck,
    ModelApproval,
)
from tests.factories import (
    AIModelFactory,
    DataSourceFactory,
    ModelVersionFactory,
    PilotUseCaseFactory,
    UseCaseFactory,
    complete_card,
    ready_for_production,
)

pytestmark = pytest.mark.django_db

ALL = ["admin", "risk_officer", "product_owner", "leadership", "dpo", "auditor", "outsider"]


@pytest.fixture
def use_case(retail, product_owner):
    return PilotUseCaseFactory(business_unit=retail, owner=product_owner)


@pytest.fixture
def model(retail, product_owner):
    return AIModelFactory(business_unit=retail, owner=product_owner, name="Claims triage")


def _approved_version(use_case, approver, **kwargs):
    version = ModelVersionFactory(model__business_unit=use_case.business_unit, **kwargs)
    ModelApproval.objects.create(use_case=use_case, model=version.model, approved_by=approver)
    return version


# Every persona -----------------------------------------------------------------------------------
@pytest.mark.parametrize("who", ALL)
def test_model_pages_render_for_everyone_signed_in(client, personas, who, model):
    version = ModelVersionFactory(model=model)
    client.force_login(personas[who])
    assert client.get(reverse("registry:model-list")).status_code == 200
    detail = client.get(model.get_absolute_url())
    assert detail.status_code == 200
    assert "Claims triage" in detail.content.decode()
    assert client.get(version.get_absolute_url()).status_code == 200
    assert client.get(reverse("registry:model-export")).status_code == 200


@pytest.mark.parametrize("who, sees", [(w, w != "outsider") for w in ALL], ids=lambda v: str(v))
def test_use_case_page_shows_the_model_cards_to_those_who_see_it(
    client, personas, who, sees, use_case, admin_user
):
    _approved_version(use_case, admin_user)
    client.force_login(personas[who])
    response = client.get(use_case.get_absolute_url())
    assert response.status_code == (200 if sees else 404)
    if sees:
        html = response.content.decode()
        for heading in ("Models and deployments", "Data policy", "Go-live gate"):
            assert heading in html


def test_anonymous_people_are_sent_to_sign_in(client, model):
    response = client.get(reverse("registry:model-list"))
    assert response.status_code == 302


@pytest.mark.parametrize(
    "who, may_deploy, may_approve, may_except",
    [
        ("admin", True, True, True),
        ("risk_officer", True, True, True),
        ("product_owner", True, False, False),
        ("dpo", False, False, True),
        ("leadership", False, False, False),
        ("auditor", False, False, False),
    ],
)
def test_use_case_actions_are_offered_only_to_those_allowed(
    client, personas, who, may_deploy, may_approve, may_except, use_case, admin_user
):
    _approved_version(use_case, admin_user)
    client.force_login(personas[who])
    html = client.get(use_case.get_absolute_url()).content.decode()
    assert ("Deploy a model version" in html) is may_deploy
    assert ("Approve a model for this use case" in html) is may_approve
    deploy = client.get(reverse("registry:use-case-deploy", args=[use_case.pk]))
    assert deploy.status_code == (200 if may_deploy else 403)
    approve = client.get(reverse("registry:use-case-approve-model", args=[use_case.pk]))
    assert approve.status_code == (200 if may_approve else 403)
    excuse = client.get(reverse("registry:use-case-policy-exception", args=[use_case.pk]))
    assert excuse.status_code == (200 if may_except else 403)


def test_outsider_gets_404_for_another_units_use_case_actions(client, outsider, use_case):
    version = ModelVersionFactory(model__business_unit=use_case.business_unit)
    deployment = Deployment.objects.create(
        use_case=use_case, model_version=version, environment="staging"
    )
    client.force_login(outsider)
    for url in (
        reverse("registry:use-case-deploy", args=[use_case.pk]),
        reverse("registry:use-case-approve-model", args=[use_case.pk]),
        reverse("registry:use-case-policy-exception", args=[use_case.pk]),
        reverse("registry:deployment-change", args=[deployment.pk]),
    ):
        assert client.get(url).status_code == 404, url
    rollback = reverse("registry:deployment-rollback", args=[deployment.pk])
    assert client.post(rollback, {"reason": "x"}).status_code == 404


@pytest.mark.parametrize("who", ["auditor", "leadership", "dpo", "outsider"])
def test_people_who_may_not_edit_a_model_get_403(client, personas, who, model):
    client.force_login(personas[who])
    version = ModelVersionFactory(model=model)
    assert client.get(reverse("registry:model-edit", args=[model.pk])).status_code == 403
    assert client.get(reverse("registry:model-version-create", args=[model.pk])).status_code == 403
    assert client.get(reverse("registry:model-version-edit", args=[version.pk])).status_code == 403
    card = client.post(version.get_absolute_url(), {"intended_use": "x"})
    assert card.status_code == 403
    decide = client.post(
        reverse("registry:model-approval", args=[model.pk]), {"status": "banned", "note": "x"}
    )
    assert decide.status_code == 403
    model.refresh_from_db()
    assert model.approval_status == ApprovalStatus.APPROVED


def test_a_missing_model_is_404(client, auditor):
    client.force_login(auditor)
    assert client.get(reverse("registry:model-detail", args=[999999])).status_code == 404


# Models --------------------------------------------------------------------------------------
def test_product_owner_registers_a_model_and_a_version(client, product_owner, retail):
    client.force_login(product_owner)
    response = client.post(
        reverse("registry:model-create"),
        {
            "name": "GPT-4o",
            "provider": "OpenAI",
            "hosting_pattern": "api_first",
            "data_destination": "",
            "business_unit": retail.pk,
            "owner": product_owner.pk,
            "risk_tier": "unscreened",
        },
    )
    model = AIModel.objects.get()
    assert response.url == model.get_absolute_url()
    assert model.data_destination == "external_api"  # follows from the hosting pattern
    assert model.approval_status == ApprovalStatus.UNDER_EVALUATION
    response = client.post(
        reverse("registry:model-version-create", args=[model.pk]),
        {
            "version": "2024-08-06",
            "stage": "candidate",
            "training_data": "s3://a\ns3://b",
            "evaluation": "auc: 0.91\nnote: fine",
        },
    )
    assert response.status_code == 302
    version = model.versions.get()
    assert version.training_data == ["s3://a", "s3://b"]
    assert version.evaluation == {"auc": 0.91, "note": "fine"}
    response = client.post(
        reverse("registry:model-version-edit", args=[version.pk]),
        {"version": "2024-08-06", "stage": "shadow", "training_data": "s3://a", "evaluation": ""},
    )
    # The stage is moved by the promote action only; the form says where that is.
    assert response.status_code == 200
    assert "promote action" in response.content.decode()
    version.refresh_from_db()
    assert version.stage == "candidate"
    response = client.post(
        reverse("registry:model-version-edit", args=[version.pk]),
        {"version": "2024-08-06", "training_data": "s3://a", "evaluation": ""},
    )
    assert response.status_code == 302
    version.refresh_from_db()
    assert version.training_data == ["s3://a"]
    assert version.history.first().history_user == product_owner


def test_model_form_keeps_what_was_typed_and_ties_errors_to_fields(client, product_owner, retail):
    client.force_login(product_owner)
    response = client.post(
        reverse("registry:model-create"),
        {"name": "Llama 3", "provider": "", "hosting_pattern": "hosted_open", "vendor": "Meta"},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert 'value="Llama 3"' in html
    assert 'value="Meta"' in html
    provider = re.search(r'<input[^>]*name="provider"[^>]*>', html).group(0)
    assert 'aria-invalid="true"' in provider
    assert 'id="id_provider_errors"' in html
    assert not AIModel.objects.exists()


def test_version_form_keeps_what_was_typed_on_a_bad_metric(client, product_owner, model):
    client.force_login(product_owner)
    response = client.post(
        reverse("registry:model-version-create", args=[model.pk]),
        {"version": "3.1", "stage": "candidate", "evaluation": "no colon here"},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert 'value="3.1"' in html
    assert "no colon here" in html
    assert 'id="id_evaluation_errors"' in html
    assert not model.versions.exists()


def test_risk_officer_bans_a_model_with_a_note_and_history_shows_it(client, risk_officer, model):
    client.force_login(risk_officer)
    url = reverse("registry:model-approval", args=[model.pk])
    refused = client.post(url, {"status": "banned", "note": ""})
    assert refused.status_code == 400
    assert 'id="id_note_errors"' in refused.content.decode()
    model.refresh_from_db()
    assert model.approval_status == ApprovalStatus.APPROVED
    response = client.post(url, {"status": "banned", "note": "Leaks prompts."})
    assert response.status_code == 302
    model.refresh_from_db()
    assert model.approval_status == ApprovalStatus.BANNED
    assert model.approved_by == risk_officer
    html = client.get(model.get_absolute_url()).content.decode()
    assert "Leaks prompts." in html
    assert "rita.risk" in html or risk_officer.get_full_name() in html


def test_model_list_filters_by_status_hosting_and_provider(client, auditor):
    AIModelFactory(name="Alpha", provider="OpenAI", hosting_pattern="api_first")
    AIModelFactory(name="Beta", provider="Meta", approval_status="banned")
    AIModelFactory(name="Gamma", provider="Mistral", approval_status="under_evaluation")
    client.force_login(auditor)

    def names(**query):
        html = client.get(reverse("registry:model-list"), query).content.decode()
        return {n for n in ("Alpha", "Beta", "Gamma") if f">{n}</a>" in html}

    assert names() == {"Alpha", "Beta", "Gamma"}
    assert names(status="banned") == {"Beta"}
    assert names(hosting="api_first") == {"Alpha"}
    assert names(q="mistral") == {"Gamma"}


def test_csv_export_has_the_inventory_and_defuses_formulas(
    client, product_owner, use_case, admin_user
):
    version = _approved_version(use_case, admin_user, model__name="=HYPERLINK(1)")
    ModelVersionFactory(model=version.model)
    Deployment.objects.create(use_case=use_case, model_version=version, environment="staging")
    other = AIModelFactory(name="Plain", vendor="+cmd", approval_status="banned")
    client.force_login(product_owner)
    response = client.get(reverse("registry:model-export"))
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    by_ref = {r["reference"]: r for r in rows}
    assert set(by_ref) == {version.model.reference, other.reference}
    first = by_ref[version.model.reference]
    assert first["name"] == "'=HYPERLINK(1)"
    assert first["versions"] == "2"
    assert first["use_cases_deployed"] == use_case.reference
    assert first["approval_status"] == "Approved"
    assert by_ref[other.reference]["vendor"] == "'+cmd"
    assert by_ref[other.reference]["use_cases_deployed"] == ""
    banned = client.get(reverse("registry:model-export"), {"status": "banned"})
    text = b"".join(banned.streaming_content).decode()
    assert other.reference in text and version.model.reference not in text


def test_export_hides_use_cases_the_person_may_not_see(client, outsider, use_case, admin_user):
    version = _approved_version(use_case, admin_user)
    Deployment.objects.create(use_case=use_case, model_version=version, environment="staging")
    client.force_login(outsider)
    text = b"".join(client.get(reverse("registry:model-export")).streaming_content).decode()
    assert version.model.reference in text
    assert use_case.reference not in text


# Model cards ---------------------------------------------------------------------------------
def test_card_page_edits_sections_and_shows_completeness_and_facts(
    client, product_owner, model, use_case
):
    version = ModelVersionFactory(model=model, version="7.0")
    client.force_login(product_owner)
    html = client.get(version.get_absolute_url()).content.decode()
    assert "Completeness: 0%" in html
    assert "Quantitative analyses" in html
    assert "Results overall and across groups" in html  # each section's help
    assert "In-house data science" in html  # the provider, filled in by itself
    long = "A full paragraph that says what the reviewers need to know here."
    response = client.post(
        version.get_absolute_url(), {"model_details": long, "intended_use": long}
    )
    assert response.status_code == 302
    html = client.get(version.get_absolute_url()).content.decode()
    assert "Completeness: 20%" in html
    assert "Out-of-scope uses" in html.split("Still missing")[1]
    assert version.card.history.first().history_user == product_owner


# On the use case page --------------------------------------------------------------------------
def test_risk_officer_approves_a_model_for_the_use_case(client, risk_officer, use_case, model):
    banned = AIModelFactory(name="Banned one", approval_status="banned")
    client.force_login(risk_officer)
    url = reverse("registry:use-case-approve-model", args=[use_case.pk])
    offered = client.get(url).content.decode()
    assert "Claims triage" in offered
    assert "Banned one" not in offered
    refused = client.post(url, {"model": banned.pk})
    assert refused.status_code == 400
    assert not ModelApproval.objects.exists()
    response = client.post(url, {"model": model.pk, "note": "Fit for claims."})
    assert response.url == use_case.get_absolute_url()
    approval = ModelApproval.objects.get()
    assert approval.approved_by == risk_officer
    html = client.get(use_case.get_absolute_url()).content.decode()
    assert "Fit for claims." in html


def test_product_owner_deploys_changes_and_rolls_back_through_the_pages(
    client, product_owner, use_case, admin_user
):
    first = _approved_version(use_case, admin_user, version="1.0")
    second = ModelVersionFactory(model=first.model, version="2.0")
    unapproved = ModelVersionFactory(version="9.9")
    client.force_login(product_owner)
    deploy = reverse("registry:use-case-deploy", args=[use_case.pk])
    # A version of a model not approved for the use case is not even offered.
    refused = client.post(
        deploy, {"model_version": unapproved.pk, "environment": "staging", "traffic_share": 100}
    )
    assert refused.status_code == 400
    assert not Deployment.objects.exists()
    response = client.post(
        deploy, {"model_version": first.pk, "environment": "staging", "traffic_share": 100}
    )
    assert response.url == use_case.get_absolute_url()
    deployment = Deployment.objects.get()
    change = client.post(
        reverse("registry:deployment-change", args=[deployment.pk]),
        {"model_version": second.pk, "traffic_share": 50, "reason": "New release"},
    )
    assert change.status_code == 302
    deployment.refresh_from_db()
    assert (deployment.model_version, deployment.previous_version) == (second, first)
    assert deployment.traffic_share == 50
    rollback = reverse("registry:deployment-rollback", args=[deployment.pk])
    # It asks first (tests/portal/test_confirmations.py), and a reason is required.
    client.post(rollback, {"confirm": "1", "reason": " "})
    deployment.refresh_from_db()
    assert deployment.model_version == second
    client.post(rollback, {"confirm": "1", "reason": "Error rate doubled"})
    deployment.refresh_from_db()
    assert deployment.model_version == first
    html = client.get(use_case.get_absolute_url()).content.decode()
    assert "Rolled back 2.0 → 1.0: Error rate doubled" in html
    retire = client.post(
        reverse("registry:deployment-retire", args=[deployment.pk]),
        {"confirm": "1", "reason": "Done"},
    )
    assert retire.status_code == 302
    deployment.refresh_from_db()
    assert not deployment.active


def test_deploying_to_production_is_refused_with_the_gates_reasons_next_to_the_field(
    client, product_owner, use_case, admin_user
):
    version = _approved_version(use_case, admin_user)
    client.force_login(product_owner)
    response = client.post(
        reverse("registry:use-case-deploy", args=[use_case.pk]),
        {"model_version": version.pk, "environment": "production", "traffic_share": 40},
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="id_environment_errors"' in html
    assert "The go-live gate is not met. Risk screening" in html
    assert 'value="40"' in html
    assert not Deployment.objects.exists()
    assert GateCheck.objects.filter(passed=False, source="deployment").exists()


def test_dpo_records_a_data_policy_exception(client, dpo, use_case, admin_user):
    restricted = DataSourceFactory(
        business_unit=use_case.business_unit,
        classification="restricted",
        allowed_destination="external_api",
    )
    use_case.data_sources.add(restricted)
    external = AIModelFactory(
        name="Hosted LLM", hosting_pattern="api_first", data_destination="external_api"
    )
    ModelApproval.objects.create(use_case=use_case, model=external, approved_by=admin_user)
    client.force_login(dpo)
    html = client.get(use_case.get_absolute_url()).content.decode()
    assert "never goes to an external API" in html
    assert "Record an exception" in html
    url = reverse("registry:use-case-policy-exception", args=[use_case.pk])
    key = f"{restricted.pk}-{external.pk}"
    past = client.post(
        url,
        {"breach": key, "justification": "Pseudonymised first.", "expires_on": "2000-01-01"},
    )
    assert past.status_code == 400
    assert "Pseudonymised first." in past.content.decode()
    assert 'id="id_expires_on_errors"' in past.content.decode()
    until = timezone.localdate() + timedelta(days=90)
    response = client.post(
        url,
        {"breach": key, "justification": "Pseudonymised first.", "expires_on": until.isoformat()},
    )
    assert response.url == use_case.get_absolute_url()
    exception = DataPolicyException.objects.get()
    assert exception.approved_by == dpo
    html = client.get(use_case.get_absolute_url()).content.decode()
    assert "Excused" in html
    assert "Exception approved by" in html


def test_gate_card_lists_what_is_missing_then_holds(client, product_owner, use_case, admin_user):
    client.force_login(product_owner)
    html = client.get(use_case.get_absolute_url()).content.decode()
    gate_card = html.split('id="h-gate"')[1].split("</section>")[0]
    assert "Not met" in gate_card
    assert "No signed-off risk screening yet" in gate_card
    assert "No model is deployed yet." in gate_card
    assert "Not applicable:" in gate_card  # no personal data: no DPIA
    ready_for_production(use_case, admin_user)
    html = client.get(use_case.get_absolute_url()).content.decode()
    gate_card = html.split('id="h-gate"')[1].split("</section>")[0]
    assert "Holds" in gate_card and "Not met" not in gate_card
    assert "Missing:" not in gate_card
    # Viewing the page logs nothing; the move to production does.
    assert not GateCheck.objects.exists()


def test_move_to_production_refusal_lists_each_reason(client, product_owner, use_case):
    client.force_login(product_owner)
    response = client.post(
        reverse("registry:use-case-transition", args=[use_case.pk, "go_live"]), follow=True
    )
    html = response.content.decode()
    use_case.refresh_from_db()
    assert use_case.lifecycle == "pilot"
    # One banner (tests/registry/test_gate_checklist.py), each reason an item of its list.
    assert "the go-live gate is not met" in html
    assert "<li>Risk screening: No signed-off" in html
    assert "<li>Deployed models approved: No model is deployed yet.</li>" in html


# Query counts -----------------------------------------------------------------------------------
def test_model_list_queries_do_not_grow_with_rows(
    client, product_owner, django_assert_max_num_queries, use_case, admin_user
):
    client.force_login(product_owner)

    def add(n):
        for _ in range(n):
            version = _approved_version(use_case, admin_user)
            ModelVersionFactory(model=version.model)
            Deployment.objects.create(
                use_case=use_case, model_version=version, environment="staging"
            )

    add(2)
    with django_assert_max_num_queries(15) as few:
        client.get(reverse("registry:model-list"))
    add(10)
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(reverse("registry:model-list"))
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(reverse("registry:model-export")).getvalue()


def test_use_case_page_queries_do_not_grow_with_rows(
    client, product_owner, django_assert_max_num_queries, use_case, admin_user
):
    client.force_login(product_owner)

    def add(n):
        for _ in range(n):
            version = _approved_version(use_case, admin_user)
            complete_card(version)
            source = DataSourceFactory(
                business_unit=use_case.business_unit, classification="restricted"
            )
            use_case.data_sources.add(source)
            deployment = Deployment.objects.create(
                use_case=use_case, model_version=version, environment="staging"
            )
            deployment.previous_version = ModelVersionFactory(model=version.model)
            deployment.save()

    add(1)
    with django_assert_max_num_queries(60) as few:
        client.get(use_case.get_absolute_url())
    add(6)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(use_case.get_absolute_url())
    assert response.status_code == 200


def test_an_unrelated_use_case_page_still_renders_without_models(client, product_owner, retail):
    other = UseCaseFactory(business_unit=retail)
    client.force_login(product_owner)
    html = client.get(other.get_absolute_url()).content.decode()
    assert "No model is approved for this use case yet." in html
    assert "Nothing deployed." in html


def test_model_and_deployment_history_is_browsable_by_who_may_see_them(
    client, admin_user, product_owner, outsider, retail
):
    use_case = UseCaseFactory(business_unit=retail, owner=product_owner)
    version = ready_for_production(use_case, admin_user)
    deployment = use_case.deployments.get()
    client.force_login(product_owner)
    for key, pk in (
        ("aimodel", version.model.pk),
        ("modelversion", version.pk),
        ("deployment", deployment.pk),
    ):
        assert client.get(reverse("history", args=[key, pk])).status_code == 200, key
    client.force_login(outsider)
    # The catalogue is firm-wide; another unit's deployment is not.
    assert client.get(reverse("history", args=["aimodel", version.model.pk])).status_code == 200
    assert client.get(reverse("history", args=["deployment", deployment.pk])).status_code == 404


def test_deployment_counts_leave_out_use_cases_the_person_may_not_see(
    client, admin_user, product_owner, outsider, retail
):
    version = ready_for_production(
        UseCaseFactory(business_unit=retail, owner=product_owner), admin_user
    )
    counts = {}
    for person in (product_owner, outsider):
        client.force_login(person)
        page = client.get(reverse("registry:model-detail", args=[version.model.pk]))
        counts[person.username] = next(
            v.n_deployed for v in page.context["versions"] if v.pk == version.pk
        )
    assert counts == {product_owner.username: 1, outsider.username: 0}
