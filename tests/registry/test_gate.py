"""The go-live gate, the data policy, deployments and rollback (services; pages come next)."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from incidents.models import Runbook
from registry import gate, services
from registry.models import (
    ApprovalStatus,
    Classification,
    DataPolicyException,
    Deployment,
    Destination,
    GateCheck,
    Lifecycle,
    ModelApproval,
)
from tests.factories import (
    AIModelFactory,
    DataSourceFactory,
    ModelVersionFactory,
    PilotUseCaseFactory,
    complete_card,
    current_runbook,
    evaluated,
    obligations_met,
    ready_for_production,
    signed_off,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def use_case(retail, product_owner):
    return PilotUseCaseFactory(business_unit=retail, owner=product_owner)


def failing(result) -> set[str]:
    return {c.key for c in result.missing}


def test_a_ready_use_case_passes_every_check(use_case, admin_user):
    ready_for_production(use_case, admin_user)
    result = gate.check_go_live(use_case)
    assert result.passed, result.as_dict()["reasons"]
    applying = {c.key for c in result.checks if c.applies}
    assert applying == {
        "in_service",
        "screening",
        "not_prohibited",
        "models",
        "cards",
        "evaluations",
        "data_policy",
        "runbook",
        "obligations",
    }


def test_each_requirement_blocks_on_its_own(use_case, admin_user):
    version = ready_for_production(use_case, admin_user)
    # No screening signed off (it expired).
    use_case.assessments.update(valid_until=timezone.localdate() - timedelta(days=1))
    assert failing(gate.check_go_live(use_case)) == {"screening"}
    use_case.assessments.update(valid_until=timezone.localdate() + timedelta(days=30))
    # Personal data needs a signed-off DPIA.
    personal = DataSourceFactory(
        business_unit=use_case.business_unit, personal_data=True, classification="confidential"
    )
    use_case.data_sources.add(personal)
    assert failing(gate.check_go_live(use_case)) == {"dpia"}
    signed_off(use_case, "dpia")
    assert gate.check_go_live(use_case).passed
    # High risk needs a signed-off impact assessment.
    use_case.risk_tier = "high"
    use_case.save()
    # ... the obligations its tier brings (compliance) met, and the deployed version
    # evaluated, fairly on the protected groups the tier's release policy names.
    assert failing(gate.check_go_live(use_case)) == {"impact", "obligations", "evaluations"}
    signed_off(use_case, "impact")
    obligations_met(use_case, admin_user)
    assert failing(gate.check_go_live(use_case)) == {"evaluations"}
    evaluated(version, admin_user)
    assert gate.check_go_live(use_case).passed
    # A model card below the threshold.
    version.card.sections = {"model_details": "Short."}
    version.card.save()
    assert failing(gate.check_go_live(use_case)) == {"cards"}
    version.card.delete()
    complete_card(version)
    # Automatic decisions need a human-in-the-loop rule.
    use_case.decision_impact = "automatic"
    use_case.human_oversight = "none"
    use_case.save()
    assert failing(gate.check_go_live(use_case)) == {"oversight"}
    use_case.human_oversight = "sampled"
    use_case.save()
    # A runbook not reviewed within RUNBOOK_VALID_MONTHS, then none at all.
    Runbook.objects.filter(use_case=use_case).update(
        reviewed_at=timezone.now() - timedelta(days=30 * 12 + 1)
    )
    assert failing(gate.check_go_live(use_case)) == {"runbook"}
    Runbook.objects.filter(use_case=use_case).delete()
    assert failing(gate.check_go_live(use_case)) == {"runbook"}
    current_runbook(use_case)
    assert gate.check_go_live(use_case).passed
    # A prohibited tier never passes.
    use_case.risk_tier = "prohibited"
    use_case.save()
    assert "not_prohibited" in failing(gate.check_go_live(use_case))


def test_a_model_that_is_not_approved_blocks(use_case, admin_user):
    version = ready_for_production(use_case, admin_user)
    services.model_set_approval(
        actor=admin_user, model=version.model, status="under_evaluation", note="Re-testing"
    )
    assert failing(gate.check_go_live(use_case)) == {"models"}


def test_banning_a_model_flags_the_use_cases_it_serves(use_case, admin_user):
    version = ready_for_production(use_case, admin_user)
    services.model_set_approval(
        actor=admin_user, model=version.model, status="banned", note="Vendor breach"
    )
    use_case.refresh_from_db()
    assert use_case.needs_reassessment and "banned" in use_case.reassessment_reasons
    version.model.refresh_from_db()
    assert (version.model.approval_status, version.model.approved_by) == ("banned", admin_user)


def test_restricted_data_never_goes_to_an_external_api_without_an_exception(
    use_case, admin_user, dpo
):
    ready_for_production(use_case, admin_user)
    secret = DataSourceFactory(
        business_unit=use_case.business_unit,
        classification=Classification.RESTRICTED,
        allowed_destination=Destination.EXTERNAL_API,
    )
    use_case.data_sources.add(secret)
    api_model = AIModelFactory(
        hosting_pattern="api_first", data_destination="external_api", name="Hosted LLM"
    )
    ModelApproval.objects.create(use_case=use_case, model=api_model, approved_by=admin_user)
    breaches = gate.data_policy_breaches(use_case)
    assert [(b.data_source, b.model, b.excused) for b in breaches] == [(secret, api_model, False)]
    assert "never goes to an external API" in breaches[0].reason
    assert failing(gate.check_go_live(use_case)) == {"data_policy"}

    with pytest.raises(ValidationError):  # an exception must end in the future
        services.policy_exception_record(
            actor=dpo,
            use_case=use_case,
            data_source=secret,
            model=api_model,
            justification="Pseudonymised first",
            expires_on=timezone.localdate(),
        )
    services.policy_exception_record(
        actor=dpo,
        use_case=use_case,
        data_source=secret,
        model=api_model,
        justification="Pseudonymised before it leaves",
        expires_on=timezone.localdate() + timedelta(days=90),
    )
    result = gate.check_go_live(use_case)
    assert result.passed
    assert "until" in next(c for c in result.checks if c.key == "data_policy").detail
    # Once it expires, the breach is back.
    DataPolicyException.objects.update(expires_on=timezone.localdate() - timedelta(days=1))
    assert failing(gate.check_go_live(use_case)) == {"data_policy"}


def test_a_source_kept_on_premises_may_not_reach_a_vpc_model(use_case, admin_user):
    ready_for_production(use_case, admin_user)
    onprem = DataSourceFactory(
        business_unit=use_case.business_unit, allowed_destination=Destination.ON_PREMISES
    )
    use_case.data_sources.add(onprem)
    assert "no further than on-premises" in gate.data_policy_breaches(use_case)[0].reason


def test_going_live_is_refused_until_the_gate_holds_and_each_answer_is_logged(use_case, admin_user):
    with pytest.raises(ValidationError) as err:
        services.use_case_transition(actor=admin_user, use_case=use_case, action="go_live")
    assert any("Risk screening" in m for m in err.value.message_dict["action"])
    use_case.refresh_from_db()
    assert use_case.lifecycle == Lifecycle.PILOT
    ready_for_production(use_case, admin_user)
    services.use_case_transition(actor=admin_user, use_case=use_case, action="go_live")
    use_case.refresh_from_db()
    assert use_case.lifecycle == Lifecycle.PRODUCTION
    log = list(GateCheck.objects.filter(use_case=use_case).order_by("pk"))
    assert [(g.passed, g.source, g.asked_by) for g in log] == [
        (False, "transition", admin_user),
        (True, "transition", admin_user),
    ]


def test_a_use_case_cannot_deploy_a_model_not_approved_for_it_or_banned(use_case, admin_user):
    version = ModelVersionFactory()
    with pytest.raises(ValidationError, match="not approved for"):
        services.deployment_create(
            actor=admin_user,
            use_case=use_case,
            data={"model_version": version, "environment": "staging", "traffic_share": 100},
        )
    banned = ModelVersionFactory(model__approval_status=ApprovalStatus.BANNED)
    with pytest.raises(ValidationError):
        services.model_approval_grant(actor=admin_user, use_case=use_case, model=banned.model)
    ModelApproval.objects.create(use_case=use_case, model=banned.model, approved_by=admin_user)
    with pytest.raises(ValidationError, match="banned"):
        services.deployment_create(
            actor=admin_user,
            use_case=use_case,
            data={"model_version": banned, "environment": "staging", "traffic_share": 100},
        )


def test_a_deployment_to_production_is_refused_while_the_gate_fails(use_case, admin_user):
    version = ModelVersionFactory()
    services.model_approval_grant(actor=admin_user, use_case=use_case, model=version.model)
    with pytest.raises(ValidationError) as err:
        services.deployment_create(
            actor=admin_user,
            use_case=use_case,
            data={"model_version": version, "environment": "production", "traffic_share": 100},
        )
    assert "go-live gate" in err.value.message_dict["environment"][0]
    assert not Deployment.objects.filter(use_case=use_case).exists()
    assert GateCheck.objects.filter(use_case=use_case, passed=False, source="deployment").exists()


def test_rollback_returns_to_the_previous_version_with_who_and_why(use_case, admin_user):
    first = ready_for_production(use_case, admin_user)
    deployment = use_case.deployments.get()
    second = ModelVersionFactory(model=first.model, version="2.0")
    complete_card(second)
    deployment = services.deployment_update(
        actor=admin_user, deployment=deployment, data={"model_version": second}
    )
    assert deployment.previous_version == first
    deployment = services.deployment_rollback(
        actor=admin_user, deployment=deployment, reason="Error rate doubled after release"
    )
    assert deployment.model_version == first and deployment.previous_version == second
    latest = deployment.history.latest()
    assert latest.history_user == admin_user
    assert latest.history_change_reason == (
        f"Rolled back 2.0 → {first.version}: Error rate doubled after release"
    )
    with pytest.raises(ValidationError):
        services.deployment_rollback(actor=admin_user, deployment=deployment, reason="")


def test_a_rollback_is_allowed_while_the_ai_is_switched_off(use_case, admin_user):
    first = ready_for_production(use_case, admin_user)
    deployment = use_case.deployments.get()
    second = ModelVersionFactory(model=first.model, version="2.0")
    complete_card(second)
    deployment = services.deployment_update(
        actor=admin_user, deployment=deployment, data={"model_version": second}
    )
    services.use_case_set_kill_switch(
        actor=admin_user, use_case=use_case, engaged=True, reason="Wrong declines"
    )
    deployment = services.deployment_rollback(
        actor=admin_user, deployment=deployment, reason="Back to the version before the release"
    )
    assert deployment.model_version == first


def test_card_completeness_counts_written_sections(use_case, admin_user):
    version = ModelVersionFactory()
    card = services.model_card_update(
        actor=admin_user,
        version=version,
        sections={"intended_use": "Ranks card payments by fraud risk for the analysts' queue."},
    )
    assert card.completeness == 10
    assert "Model details" in card.missing and "Intended use" not in card.missing
    with pytest.raises(ValidationError):
        services.model_card_update(actor=admin_user, version=version, sections={"bogus": "x"})


# Review fixes: ways round the gate and the data policy ----------------------------------------
def test_an_api_first_model_cannot_be_declared_nearer_than_an_external_api(admin_user, retail):
    with pytest.raises(ValidationError) as err:
        services.model_create(
            actor=admin_user,
            data={
                "name": "Hosted LLM",
                "provider": "Vendor",
                "hosting_pattern": "api_first",
                "data_destination": "on_premises",
                "business_unit": retail,
                "owner": admin_user,
            },
        )
    assert "external API" in err.value.message_dict["data_destination"][0]


def test_switching_a_model_to_api_first_moves_its_data_and_flags_what_it_serves(
    use_case, admin_user
):
    version = ready_for_production(use_case, admin_user)
    model = services.model_update(
        actor=admin_user, model=version.model, data={"hosting_pattern": "api_first"}
    )
    assert model.data_destination == Destination.EXTERNAL_API
    use_case.refresh_from_db()
    assert use_case.needs_reassessment


def test_a_rollback_to_a_model_no_longer_approved_is_refused(use_case, admin_user):
    first = ready_for_production(use_case, admin_user)
    deployment = use_case.deployments.get()
    other = ModelVersionFactory(model__business_unit=use_case.business_unit)
    complete_card(other)
    ModelApproval.objects.create(use_case=use_case, model=other.model, approved_by=admin_user)
    deployment = services.deployment_update(
        actor=admin_user, deployment=deployment, data={"model_version": other}
    )
    services.model_set_approval(
        actor=admin_user, model=first.model, status="under_evaluation", note="Re-testing"
    )
    with pytest.raises(ValidationError, match="not approved|under evaluation"):
        services.deployment_rollback(actor=admin_user, deployment=deployment, reason="Errors")
    deployment.refresh_from_db()
    assert deployment.model_version == other


def test_a_suspended_or_switched_off_use_case_fails_the_gate_until_resumed(use_case, admin_user):
    ready_for_production(use_case, admin_user)
    use_case.lifecycle = Lifecycle.SUSPENDED
    use_case.save()
    assert failing(gate.check_go_live(use_case)) == {"in_service"}
    # Resuming is the way back: the move itself is checked without its own suspension.
    assert gate.check_go_live(use_case, moving=True).passed
    services.use_case_transition(
        actor=admin_user, use_case=use_case, action="resume", reason="Fixed"
    )
    use_case.refresh_from_db()
    use_case.kill_switch_engaged = True
    use_case.save()
    assert failing(gate.check_go_live(use_case)) == {"in_service"}


def test_an_approval_cannot_be_revoked_while_the_model_is_deployed(use_case, admin_user):
    version = ready_for_production(use_case, admin_user)
    approval = ModelApproval.objects.get(use_case=use_case, model=version.model)
    with pytest.raises(ValidationError, match="deployed here"):
        services.model_approval_revoke(actor=admin_user, approval=approval, reason="No longer")
    assert ModelApproval.objects.filter(pk=approval.pk).exists()


def test_a_model_cannot_be_moved_into_a_unit_its_editor_does_not_belong_to(
    product_owner, retail, corporate
):
    model = AIModelFactory(business_unit=retail, owner=product_owner)
    with pytest.raises(ValidationError):
        services.model_update(actor=product_owner, model=model, data={"business_unit": corporate})


def test_going_live_needs_a_current_runbook_and_says_so(use_case, admin_user, settings):
    ready_for_production(use_case, admin_user)
    Runbook.objects.filter(use_case=use_case).delete()
    with pytest.raises(ValidationError) as err:
        services.use_case_transition(actor=admin_user, use_case=use_case, action="go_live")
    assert any("No runbook yet" in m for m in err.value.message_dict["action"])
    current_runbook(use_case)
    # Reviewed exactly RUNBOOK_VALID_MONTHS ago (counted as 30-day months) still holds today.
    settings.RUNBOOK_VALID_MONTHS = 1
    Runbook.objects.filter(use_case=use_case).update(
        reviewed_at=timezone.now() - timedelta(days=30)
    )
    check = next(c for c in gate.check_go_live(use_case).checks if c.key == "runbook")
    assert check.holds, check.detail
    services.use_case_transition(actor=admin_user, use_case=use_case, action="go_live")
    use_case.refresh_from_db()
    assert use_case.lifecycle == Lifecycle.PRODUCTION


def test_a_rollback_in_an_incident_is_allowed_without_a_current_runbook(use_case, admin_user):
    first = ready_for_production(use_case, admin_user)
    services.use_case_transition(actor=admin_user, use_case=use_case, action="go_live")
    deployment = services.deployment_update(
        actor=admin_user, deployment=use_case.deployments.get(), data={"environment": "production"}
    )
    second = ModelVersionFactory(model=first.model, version="2.0")
    complete_card(second)
    deployment = services.deployment_update(
        actor=admin_user, deployment=deployment, data={"model_version": second}
    )
    # In the incident: no current runbook, and the AI switched off.
    Runbook.objects.filter(use_case=use_case).delete()
    services.use_case_set_kill_switch(
        actor=admin_user, use_case=use_case, engaged=True, reason="Wrong declines"
    )
    deployment = services.deployment_rollback(
        actor=admin_user, deployment=deployment, reason="Back to the version before the release"
    )
    assert deployment.model_version == first
    assert deployment.environment == "production"
    # Going forward again is still held to the whole gate.
    with pytest.raises(ValidationError):
        services.deployment_update(
            actor=admin_user, deployment=deployment, data={"model_version": second}
        )
