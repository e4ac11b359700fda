"""Releases of model versions: promotion with per-tier approvals and four eyes, minimum times
and the canary cap, evaluation records posted by people and by a pipeline's model-scoped
token, and the go-live gate's evaluation check (issue 15, items 4 and 5)."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from portal.models import Role
from registry import gate
from registry.models import (
    Deployment,
    ModelApproval,
    ModelVersion,
    PromotionRequest,
    ReleasePolicy,
    RiskTier,
)
from registry.services import releases
from tests.factories import AIModelFactory, ModelVersionFactory, UseCaseFactory, UserFactory

PERSONAS = ["admin", "risk_officer", "product_owner", "leadership", "dpo", "auditor", "outsider"]

PASSING_FAIRNESS = [
    {"attribute": "sex", "group": "female", "metric": "recall", "value": 0.90, "threshold": 0.05},
    {"attribute": "sex", "group": "male", "metric": "recall", "value": 0.91, "threshold": 0.05},
    {"attribute": "age", "group": "18-64", "metric": "recall", "value": 0.91, "threshold": 0.05},
    {"attribute": "age", "group": "65+", "metric": "recall", "value": 0.89, "threshold": 0.05},
]


def url(name: str, *args) -> str:
    return reverse(name, args=args)


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def release_setup(retail, owner, *, tier: str, stage: str, hours_in_stage: int = 1000):
    """A model approved for a use case of ``tier`` owned by ``owner``, and a version of it at
    ``stage`` for ``hours_in_stage``."""
    use_case = UseCaseFactory(business_unit=retail, owner=owner, risk_tier=tier)
    version = ModelVersionFactory(
        model=AIModelFactory(business_unit=retail, owner=owner),
        stage=stage,
        stage_changed_at=timezone.now() - timedelta(hours=hours_in_stage),
    )
    ModelApproval.objects.create(use_case=use_case, model=version.model, approved_by=owner)
    return use_case, version


def evaluate(actor, version, fairness=PASSING_FAIRNESS, findings=()):
    return releases.evaluation_record(
        actor=actor,
        version=version,
        data={
            "name": "Holdout 2026-Q4",
            "dataset": "applications-holdout-2026q4",
            "metrics": [{"name": "auc", "value": 0.91, "threshold": 0.85}],
            "fairness": list(fairness),
            "findings": list(findings),
        },
    )


@pytest.fixture
def second_risk_officer(retail):
    return UserFactory(username="ron.risk", roles=[Role.RISK_OFFICER], units=[retail])


@pytest.fixture
def engineer(retail):
    return UserFactory(username="eve.engineer", roles=[Role.PRODUCT_OWNER], units=[retail])


# Approvals per tier, four eyes -------------------------------------------------------------
def test_high_risk_promotion_needs_a_risk_officer_and_the_owner_and_never_the_requester(
    retail, product_owner, risk_officer, second_risk_officer
):
    _, version = release_setup(retail, product_owner, tier="high", stage="canary")
    evaluate(product_owner, version)

    request = releases.promotion_request(
        actor=risk_officer, version=version, to_stage="partial", reason="Canary is clean."
    )
    assert request.required_approvers == ["risk_officer", "owner"]
    with pytest.raises(PermissionDenied, match="Four eyes"):
        releases.promotion_decide(actor=risk_officer, request=request, decision="approve")

    releases.promotion_decide(actor=second_risk_officer, request=request, decision="approve")
    version.refresh_from_db()
    assert version.stage == "canary"  # the owner has not approved yet
    # The same risk officer cannot answer twice, nor in the owner's place.
    with pytest.raises(PermissionDenied):
        releases.promotion_decide(actor=second_risk_officer, request=request, decision="approve")

    releases.promotion_decide(actor=product_owner, request=request, decision="approve")

    version.refresh_from_db()
    request.refresh_from_db()
    assert version.stage == "partial"
    assert request.status == "done"
    assert sorted(request.approvals.values_list("role", "approver__username")) == [
        ("owner", product_owner.username),
        ("risk_officer", second_risk_officer.username),
    ]
    assert "Canary is clean." in version.history.first().history_change_reason
    assert version.history.first().history_user == product_owner


def test_minimal_risk_needs_only_the_owner_who_cannot_approve_their_own_request(
    retail, product_owner, engineer
):
    _, version = release_setup(retail, product_owner, tier="minimal", stage="candidate")

    own = releases.promotion_request(
        actor=product_owner, version=version, to_stage="shadow", reason="Try it in shadow."
    )
    assert own.required_approvers == ["owner"]
    with pytest.raises(PermissionDenied):
        releases.promotion_decide(actor=product_owner, request=own, decision="approve")
    releases.promotion_withdraw(actor=product_owner, request=own, reason="The engineer asks.")

    request = releases.promotion_request(
        actor=engineer, version=version, to_stage="shadow", reason="Try it in shadow."
    )
    releases.promotion_decide(actor=product_owner, request=request, decision="approve")

    version.refresh_from_db()
    assert version.stage == "shadow"


def test_a_rejection_needs_a_reason_and_leaves_the_stage(retail, product_owner, engineer):
    _, version = release_setup(retail, product_owner, tier="minimal", stage="shadow")
    request = releases.promotion_request(
        actor=engineer, version=version, to_stage="canary", reason="Ready.", traffic_share=5
    )

    with pytest.raises(ValidationError):
        releases.promotion_decide(actor=product_owner, request=request, decision="reject")
    releases.promotion_decide(
        actor=product_owner, request=request, decision="reject", note="Not this week."
    )

    version.refresh_from_db()
    request.refresh_from_db()
    assert (version.stage, request.status) == ("shadow", "rejected")


def test_a_rollback_happens_at_once_with_who_and_why(retail, product_owner):
    _, version = release_setup(retail, product_owner, tier="high", stage="production")

    request = releases.promotion_request(
        actor=product_owner, version=version, to_stage="canary", reason="Latency doubled."
    )

    version.refresh_from_db()
    assert (request.kind, request.status, version.stage) == ("rollback", "done", "canary")
    assert "Latency doubled." in version.history.first().history_change_reason


def test_a_stage_cannot_be_skipped(retail, product_owner):
    _, version = release_setup(retail, product_owner, tier="minimal", stage="candidate")

    with pytest.raises(ValidationError, match="cannot move to production"):
        releases.promotion_request(
            actor=product_owner, version=version, to_stage="production", reason="Ship it."
        )


# Minimum times and the canary cap ----------------------------------------------------------
def test_minimum_time_in_shadow_and_canary_per_tier(retail, product_owner, risk_officer):
    _, version = release_setup(retail, product_owner, tier="high", stage="shadow", hours_in_stage=5)
    evaluate(product_owner, version)

    with pytest.raises(ValidationError, match="at least 72 h in shadow"):
        releases.promotion_request(
            actor=risk_officer, version=version, to_stage="canary", reason="Go.", traffic_share=5
        )

    ModelVersion.objects.filter(pk=version.pk).update(
        stage="canary", stage_changed_at=timezone.now() - timedelta(hours=71)
    )
    version.refresh_from_db()
    with pytest.raises(ValidationError, match="at least 72 h in canary"):
        releases.promotion_request(
            actor=risk_officer, version=version, to_stage="partial", reason="Go."
        )

    # A firm that edits its policy gets its own minimum at once.
    ReleasePolicy.objects.filter(tier="high").update(min_canary_hours=48)
    request = releases.promotion_request(
        actor=risk_officer, version=version, to_stage="partial", reason="Go."
    )
    assert request.status == "pending"


def test_the_canary_traffic_cap_holds_for_the_promotion_and_the_deployment(
    retail, product_owner, risk_officer
):
    use_case, version = release_setup(retail, product_owner, tier="high", stage="shadow")
    evaluate(product_owner, version)

    with pytest.raises(ValidationError) as refused:
        releases.promotion_request(
            actor=risk_officer, version=version, to_stage="canary", reason="Go.", traffic_share=20
        )
    assert "caps a canary at 10%" in str(refused.value)
    request = releases.promotion_request(
        actor=risk_officer, version=version, to_stage="canary", reason="Go.", traffic_share=10
    )
    assert request.traffic_share == 10

    ModelVersion.objects.filter(pk=version.pk).update(stage="canary")
    version.refresh_from_db()
    deployment = Deployment(
        use_case=use_case, model_version=version, environment="staging", traffic_share=30
    )
    with pytest.raises(ValidationError, match="caps it at 10%"):
        releases.check_canary_traffic(deployment)


# Evaluations block promotion and the gate --------------------------------------------------
def test_a_failed_fairness_evaluation_blocks_the_promotion_and_the_gate_naming_the_group(
    retail, product_owner, risk_officer
):
    use_case, version = release_setup(retail, product_owner, tier="high", stage="shadow")
    failing = [dict(row) for row in PASSING_FAIRNESS]
    failing[3] = {**failing[3], "value": 0.71}  # 65+ recall 0.20 below the best age group
    record = evaluate(product_owner, version, fairness=failing)
    assert record.passed is False
    assert [row["group"] for row in record.failed_groups] == ["65+"]

    with pytest.raises(ValidationError) as refused:
        releases.promotion_request(
            actor=risk_officer, version=version, to_stage="canary", reason="Go.", traffic_share=5
        )
    assert "fairness on age fails for group 65+" in str(refused.value)

    Deployment.objects.create(use_case=use_case, model_version=version, environment="staging")
    check = next(c for c in gate.check_go_live(use_case).checks if c.key == "evaluations")
    assert check.applies and not check.holds
    assert "65+" in check.detail and "age" in check.detail

    evaluate(product_owner, version)  # a new evaluation that passes
    check = next(c for c in gate.check_go_live(use_case).checks if c.key == "evaluations")
    assert check.holds, check.detail


def test_an_open_high_severity_red_team_finding_blocks_until_it_is_mitigated(retail, product_owner):
    use_case, version = release_setup(retail, product_owner, tier="high", stage="canary")
    record = evaluate(
        product_owner,
        version,
        findings=[{"kind": "red_team", "title": "Prompt injection leaks", "severity": "high"}],
    )
    Deployment.objects.create(use_case=use_case, model_version=version, environment="staging")
    check = next(c for c in gate.check_go_live(use_case).checks if c.key == "evaluations")
    assert not check.holds and "Prompt injection leaks" in check.detail

    releases.finding_set_status(
        actor=product_owner,
        finding=record.findings.get(),
        status="mitigated",
        note="Input filter deployed.",
    )

    check = next(c for c in gate.check_go_live(use_case).checks if c.key == "evaluations")
    assert check.holds, check.detail


def test_a_minimal_risk_use_case_asks_for_no_evaluation_record(retail, product_owner):
    use_case, version = release_setup(retail, product_owner, tier="minimal", stage="production")
    Deployment.objects.create(use_case=use_case, model_version=version, environment="staging")

    check = next(c for c in gate.check_go_live(use_case).checks if c.key == "evaluations")

    # Only an open critical finding would block at minimal risk (the shipped policy).
    assert check.holds and check.evidence["versions"][0]["problems"] == []


# The API: promote, approve, direct edits ---------------------------------------------------
def test_promote_and_approve_over_the_api(retail, product_owner, risk_officer, engineer):
    _, version = release_setup(retail, product_owner, tier="limited", stage="canary")

    asked = client_for(engineer).post(
        url("api-model-version-promote", version.pk),
        {"to_stage": "production", "reason": "Two days clean.", "evidence": "https://ci/run/9"},
        format="json",
    )
    assert asked.status_code == 201, asked.content
    assert asked.json()["waiting_for"] == ["risk_officer"]
    own = client_for(engineer).post(url("api-promotion-approve", asked.json()["id"]), {})
    assert own.status_code == 403
    approved = client_for(risk_officer).post(
        url("api-promotion-approve", asked.json()["id"]), {"note": "Fine."}, format="json"
    )

    assert approved.status_code == 200, approved.content
    assert approved.json()["status"] == "done"
    version.refresh_from_db()
    assert version.stage == "production"
    bad = client_for(engineer).post(
        url("api-model-version-promote", version.pk), {"to_stage": "beta"}, format="json"
    )
    assert bad.status_code == 400 and {"to_stage", "reason"} <= set(bad.json())


# A roles x actions matrix: who may ask for a promotion, record an evaluation, approve.
ASK = {"admin": 201, "risk_officer": 201, "product_owner": 201}


@pytest.mark.parametrize("persona", PERSONAS)
def test_promote_matrix(personas, persona, retail, product_owner):
    _, version = release_setup(retail, product_owner, tier="minimal", stage="candidate")

    response = client_for(personas[persona]).post(
        url("api-model-version-promote", version.pk),
        {"to_stage": "shadow", "reason": "Try it."},
        format="json",
    )

    assert response.status_code == ASK.get(persona, 403), response.content


@pytest.mark.parametrize("persona", PERSONAS)
def test_evaluation_matrix(personas, persona, retail, product_owner):
    _, version = release_setup(retail, product_owner, tier="minimal", stage="candidate")

    response = client_for(personas[persona]).post(
        url("api-model-version-evaluations", version.pk),
        {"name": "Holdout", "dataset": "holdout-1", "metrics": [{"name": "auc", "value": 0.9}]},
        format="json",
    )

    assert response.status_code == ASK.get(persona, 403), response.content


APPROVE = {"risk_officer": 200, "product_owner": 200}


@pytest.mark.parametrize("persona", PERSONAS)
def test_approve_matrix(personas, persona, retail, product_owner, admin_user):
    # High risk, asked by the admin: a risk officer or the use-case owner may answer.
    _, version = release_setup(retail, product_owner, tier="high", stage="canary")
    evaluate(product_owner, version)
    request = releases.promotion_request(
        actor=admin_user, version=version, to_stage="partial", reason="Go."
    )

    response = client_for(personas[persona]).post(url("api-promotion-approve", request.pk), {})

    assert response.status_code == APPROVE.get(persona, 403), response.content
    request.refresh_from_db()
    assert request.approvals.count() == (1 if persona in APPROVE else 0)


@pytest.mark.parametrize("persona", PERSONAS)
def test_release_policy_matrix(personas, persona):
    policy = ReleasePolicy.objects.get(tier="high")

    response = client_for(personas[persona]).patch(
        url("api-release-policy-detail", policy.pk), {"min_canary_hours": 24}, format="json"
    )

    assert response.status_code == (200 if persona == "admin" else 403), response.content
    policy.refresh_from_db()
    assert policy.min_canary_hours == (24 if persona == "admin" else 72)
    if persona == "admin":
        assert policy.history.first().history_user == personas["admin"]


# Model-scoped tokens -----------------------------------------------------------------------
def bearer(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def test_a_model_token_posts_evaluations_of_its_own_model_only(retail, product_owner):
    _, version = release_setup(retail, product_owner, tier="high", stage="shadow")
    _, other = release_setup(retail, product_owner, tier="high", stage="shadow")
    token, raw = releases.model_token_create(
        actor=product_owner, model=version.model, name="training-pipeline"
    )
    ci = bearer(raw)
    body = {
        "name": "Nightly",
        "dataset": "holdout-nightly",
        "metrics": [{"name": "auc", "value": 0.93, "threshold": 0.9}],
        "fairness": PASSING_FAIRNESS,
        "findings": [{"kind": "robustness", "title": "Typos flip 2%", "severity": "low"}],
    }

    posted = ci.post(url("api-model-version-evaluations", version.pk), body, format="json")
    elsewhere = ci.post(url("api-model-version-evaluations", other.pk), body, format="json")

    assert posted.status_code == 201, posted.content
    record = version.evaluations.get()
    assert (record.source, record.ran_by, record.ran_by_label) == (
        "ci",
        None,
        "token training-pipeline",
    )
    assert posted.json()["metrics"][0]["passed"] is True
    assert record.findings.get().title == "Typos flip 2%"
    assert elsewhere.status_code == 404
    assert not other.evaluations.exists()


def test_a_model_token_can_do_nothing_else(retail, product_owner):
    _, version = release_setup(retail, product_owner, tier="minimal", stage="candidate")
    token, raw = releases.model_token_create(actor=product_owner, model=version.model, name="ci")
    ci = bearer(raw)

    assert ci.get(url("api-model-version-evaluations", version.pk)).status_code == 403
    assert ci.get(url("api-model-version-detail", version.pk)).status_code == 401
    assert (
        ci.post(
            url("api-model-version-promote", version.pk),
            {"to_stage": "shadow", "reason": "x"},
            format="json",
        ).status_code
        == 401
    )
    assert ci.patch(url("api-model-version-detail", version.pk), {}).status_code == 401
    assert ci.get(url("api-ai-model-list")).status_code == 401
    assert ci.get(url("api-gate", "UC-0001")).status_code in (401, 403)
    assert not PromotionRequest.objects.exists()

    releases.model_token_revoke(actor=product_owner, token=token)
    revoked = ci.post(
        url("api-model-version-evaluations", version.pk),
        {"name": "x", "dataset": "y"},
        format="json",
    )
    assert revoked.status_code == 401


def test_bad_evaluation_input_is_a_400_with_field_errors(retail, product_owner):
    _, version = release_setup(retail, product_owner, tier="minimal", stage="candidate")

    response = client_for(product_owner).post(
        url("api-model-version-evaluations", version.pk),
        {"name": "", "fairness": [{"attribute": "sex", "value": "high"}]},
        format="json",
    )

    assert response.status_code == 400
    assert {"name", "dataset", "fairness"} <= set(response.json())


def test_only_who_manages_the_model_makes_its_tokens(retail, product_owner, auditor, outsider):
    model = AIModelFactory(business_unit=retail, owner=product_owner)

    made = client_for(product_owner).post(
        url("api-model-token-list"), {"model": model.pk, "name": "ci"}, format="json"
    )

    assert made.status_code == 201 and made.json()["token"].startswith("stm_")
    for refused in (auditor, outsider):
        response = client_for(refused).post(
            url("api-model-token-list"), {"model": model.pk, "name": "ci"}, format="json"
        )
        assert response.status_code == 403


def test_the_model_card_fills_its_evaluation_and_fairness_sections_from_the_records(
    client, retail, product_owner
):
    _, version = release_setup(retail, product_owner, tier="high", stage="shadow")
    failing = [dict(row) for row in PASSING_FAIRNESS]
    failing[3] = {**failing[3], "value": 0.71}
    evaluate(product_owner, version, fairness=failing)
    client.force_login(product_owner)

    markdown = client.get(
        reverse("registry:model-version-card-export", args=[version.pk, "md"])
    ).content.decode()

    metrics = markdown.split("## Metrics")[1].split("## ")[0]
    # Markdown escapes ">" in card text.
    assert r"auc = 0.91 (threshold \>= 0.85: pass)" in metrics
    assert "applications-holdout-2026q4" in markdown.split("## Evaluation data")[1]
    analyses = markdown.split("## Quantitative analyses")[1].split("## ")[0]
    assert "age 65+, recall = 0.71, gap 0.2 against a threshold of 0.05: FAIL" in analyses


# The policies' pages -------------------------------------------------------------------------
def test_an_admin_edits_a_tiers_policy_on_its_page(client, admin_user):
    policy = ReleasePolicy.objects.get(tier=RiskTier.LIMITED)
    client.force_login(admin_user)
    listed = client.get(reverse("registry:release-policy-list")).content.decode()
    assert "Limited" in listed and "a risk officer" in listed
    response = client.post(
        reverse("registry:release-policy-edit", args=[policy.pk]),
        {
            "approvers": ["risk_officer", "owner"],
            "min_shadow_hours": 48,
            "min_canary_hours": 24,
            "canary_max_traffic": 20,
            "require_evaluation": "on",
            "require_fairness": "on",
            "protected_groups": " sex, age ,, ",
            "blocking_severity": "high",
        },
    )
    assert response.status_code == 302
    policy.refresh_from_db()
    assert policy.approvers == ["risk_officer", "owner"]
    assert policy.protected_groups == ["sex", "age"]
    assert (policy.min_shadow_hours, policy.canary_max_traffic) == (48, 20)
    assert policy.blocking_severity == "high"
    assert policy.history.first().history_user == admin_user


def test_a_bad_policy_keeps_what_was_typed_and_changes_nothing(client, admin_user):
    policy = ReleasePolicy.objects.get(tier=RiskTier.LIMITED)
    client.force_login(admin_user)
    response = client.post(
        reverse("registry:release-policy-edit", args=[policy.pk]),
        {"min_shadow_hours": 12, "min_canary_hours": 5, "canary_max_traffic": 150,
         "protected_groups": "region"},
    )  # fmt: skip
    assert response.status_code == 400
    body = response.content.decode()
    assert 'value="150"' in body and 'value="region"' in body
    policy.refresh_from_db()
    assert policy.canary_max_traffic == 25 and policy.min_shadow_hours == 24


@pytest.mark.parametrize(
    "persona", ["risk_officer", "product_owner", "dpo", "leadership", "auditor", "outsider"]
)
def test_only_admins_edit_release_policies(persona, personas, client):
    policy = ReleasePolicy.objects.get(tier=RiskTier.HIGH)
    client.force_login(personas[persona])
    listed = client.get(reverse("registry:release-policy-list"))
    assert listed.status_code == 200 and "Edit" not in listed.content.decode()
    edit = reverse("registry:release-policy-edit", args=[policy.pk])
    assert client.get(edit).status_code == 403
    assert client.post(edit, {"canary_max_traffic": 100}).status_code == 403
    policy.refresh_from_db()
    assert policy.canary_max_traffic == 10


# Who is told ---------------------------------------------------------------------------------
def test_approvers_are_emailed_and_the_requester_hears_the_outcome(
    retail, corporate, product_owner, risk_officer, second_risk_officer, engineer,
    mailoutbox, django_capture_on_commit_callbacks,
):  # fmt: skip
    _, version = release_setup(retail, product_owner, tier="high", stage="canary")
    evaluate(product_owner, version)
    elsewhere = UserFactory(username="cora.risk", roles=[Role.RISK_OFFICER], units=[corporate])
    with django_capture_on_commit_callbacks(execute=True):
        request = releases.promotion_request(
            actor=risk_officer, version=version, to_stage="partial", reason="Canary is clean."
        )
    told = {m.to[0] for m in mailoutbox}
    # The other risk officer of the unit and the use case's owner; never the requester, nor a
    # risk officer of another unit, nor an engineer who approves nothing.
    assert told == {second_risk_officer.email, product_owner.email}
    assert elsewhere.email not in told and engineer.email not in told
    assert all(request.get_absolute_url() in m.body for m in mailoutbox)
    assert "Canary is clean." in mailoutbox[0].body

    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        releases.promotion_decide(actor=second_risk_officer, request=request, decision="approve")
        releases.promotion_decide(actor=product_owner, request=request, decision="approve")
    assert [m.to for m in mailoutbox] == [[risk_officer.email]]
    assert "Approved: now in partial" in mailoutbox[0].subject
