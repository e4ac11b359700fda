"""Each governance KPI (dashboard/kpis.py) against a hand-built data set, with the edges:
no use cases, everything failing, and a unit hidden from the viewer."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from assessments.models import Assessment, AssessmentTemplate
from dashboard import kpis
from incidents.services.incidents import incident_open
from monitoring.models import FlagStatus
from monitoring.services.flags import raise_cause_flag
from registry.models import GateCheck, Lifecycle, RiskTier
from tests.factories import (
    PilotUseCaseFactory,
    ProductionUseCaseFactory,
    UseCaseFactory,
    signed_off,
    unique_reference,
)

pytestmark = pytest.mark.django_db


def gate(use_case, passed: bool):
    return GateCheck.objects.create(use_case=use_case, source="page", passed=passed, checks=[])


@pytest.fixture
def firm(retail, corporate, product_owner):
    """Retail: four use cases (two live, one passing the gate), Corporate: one live failing."""
    today = timezone.localdate()
    uc1 = ProductionUseCaseFactory(
        business_unit=retail,
        owner=product_owner,
        risk_tier=RiskTier.HIGH,
        next_review_date=today - timedelta(days=10),
    )
    uc2 = ProductionUseCaseFactory(business_unit=retail, risk_tier=RiskTier.LIMITED)
    uc3 = PilotUseCaseFactory(business_unit=retail, risk_tier=RiskTier.MINIMAL)
    uc4 = UseCaseFactory(business_unit=retail)
    uc5 = ProductionUseCaseFactory(business_unit=corporate, risk_tier=RiskTier.HIGH)
    gate(uc1, False)
    gate(uc1, True)  # the latest answer counts
    gate(uc2, False)
    gate(uc5, False)
    signed_off(uc1, "screening")
    signed_off(uc2, "dpia", valid_days=-40)  # 40 days past its valid-until: overdue
    raise_cause_flag(
        use_case=uc1, cause="test:one", severity="high", reason="Drift", evidence={}, notify=False
    )
    resolved = raise_cause_flag(
        use_case=uc2, cause="test:two", severity="low", reason="Old", evidence={}, notify=False
    )
    resolved.status = FlagStatus.RESOLVED
    resolved.resolved_at = timezone.now()
    resolved.save()
    raise_cause_flag(
        use_case=uc5, cause="test:three", severity="critical", reason="X", evidence={}, notify=False
    )
    incident_open(
        actor=None, use_case=uc2, title="Wrong answers", severity="sev2", detected_by="monitoring"
    )
    return {"uc1": uc1, "uc2": uc2, "uc3": uc3, "uc4": uc4, "uc5": uc5}


def test_tiers_and_lifecycles_for_the_firm(firm):
    tiers = kpis.tiers_and_lifecycles(kpis.Scope())
    assert tiers["total"] == 5
    assert tiers["by_tier"][RiskTier.HIGH] == 2
    assert tiers["by_tier"][RiskTier.UNSCREENED] == 1
    assert tiers["by_lifecycle"][Lifecycle.PRODUCTION] == 3
    assert tiers["matrix"][RiskTier.HIGH][Lifecycle.PRODUCTION] == 2


def test_gate_pass_rate_reads_each_live_use_cases_latest_answer(firm, retail):
    assert kpis.gate_pass_rate(kpis.Scope()) == {
        "live": 3,
        "passing": 1,
        "failing": 2,
        "unchecked": 0,
        "percent": 33.3,
    }
    assert kpis.gate_pass_rate(kpis.Scope(unit_id=retail.pk))["percent"] == 50.0
    failing = kpis.live_failing_gate(kpis.Scope())
    assert [uc.pk for uc in failing] == [firm["uc2"].pk, firm["uc5"].pk]  # oldest refusal first


def test_signed_off_current_counts_in_use_with_a_valid_sign_off(firm):
    figures = kpis.signed_off_current(kpis.Scope())
    # In use: uc1, uc2, uc3 (pilot), uc5; current: uc1 only (uc2's expired).
    assert figures == {"in_use": 4, "signed": 1, "percent": 25.0}


def test_overdue_reviews_and_reassessments_with_their_age(firm):
    figures = kpis.overdue(kpis.Scope())
    assert figures["reviews"] == 1
    assert figures["reassessments"] == 1
    assert figures["oldest_days"] == 40
    assert figures["buckets"] == {"0–30 days": 1, "31–90 days": 1, "over 90 days": 0}


def test_open_flags_by_severity(firm, retail):
    figures = kpis.open_flags(kpis.Scope())
    assert figures["open"] == 2
    assert figures["by_severity"]["high"] == 1 and figures["by_severity"]["critical"] == 1
    assert figures["by_severity"]["low"] == 0  # resolved
    assert figures["raised_in_period"] == 3
    assert kpis.open_flags(kpis.Scope(unit_id=retail.pk))["open"] == 1


def test_incidents_by_severity_in_the_period(firm):
    figures = kpis.incidents(kpis.Scope())
    assert figures["opened_in_period"] == 1
    assert figures["by_severity"]["sev2"] == 1
    assert figures["open_now"] == 1
    assert figures["median_hours_to_close"] is None


def test_a_product_owner_sees_only_what_they_may_see(firm, product_owner, outsider):
    # The product owner belongs to Retail: Corporate's use case and its flag are not theirs.
    mine = kpis.compute(kpis.Scope(viewer=product_owner))
    assert mine["tiers"]["total"] == 4
    assert mine["gate"] == {
        "live": 2,
        "passing": 1,
        "failing": 1,
        "unchecked": 0,
        "percent": 50.0,
    }
    assert mine["flags"]["by_severity"]["critical"] == 0
    # Corporate's outsider sees Corporate only.
    theirs = kpis.compute(kpis.Scope(viewer=outsider))
    assert theirs["tiers"]["total"] == 1
    assert theirs["gate"]["failing"] == 1 and theirs["flags"]["open"] == 1


def test_an_owner_scope_narrows_to_their_use_cases(firm, product_owner):
    figures = kpis.compute(kpis.Scope(owner_id=product_owner.pk))
    assert figures["tiers"]["total"] == 1
    assert figures["gate"]["passing"] == 1


def test_with_no_use_cases_every_kpi_answers_without_dividing_by_zero(db, auditor):
    figures = kpis.compute(kpis.Scope(viewer=auditor))
    assert figures["tiers"]["total"] == 0
    assert figures["gate"]["percent"] is None
    assert figures["signed_off"]["percent"] is None
    assert figures["overdue"]["oldest_days"] is None
    assert figures["flags"]["open"] == 0
    assert figures["incidents"]["median_hours_to_mitigate"] is None
    assert figures["spend"] == {"spent": 0, "budget": 0, "percent": None, "by_unit": []}
    assert figures["evidence"] == {"expiring_30_days": 0, "expired": 0}


def test_when_every_live_use_case_fails_the_gate(retail):
    for _ in range(3):
        gate(ProductionUseCaseFactory(business_unit=retail), False)
    assert kpis.gate_pass_rate(kpis.Scope())["percent"] == 0.0
    assert len(kpis.live_failing_gate(kpis.Scope())) == 3


def test_evidence_expiring_within_30_days(firm):
    today = timezone.localdate()
    template = AssessmentTemplate.objects.filter(kind="dpia", active=True).first()
    Assessment.objects.create(
        reference=unique_reference("AS"),
        template=template,
        kind="dpia",
        use_case=firm["uc3"],
        author=firm["uc3"].owner,
        status="signed_off",
        valid_until=today + timedelta(days=300),
        answers={
            "evidence": [
                {"title": "Pen test", "expires": (today + timedelta(days=10)).isoformat()},
                {"title": "Audit", "expires": (today - timedelta(days=1)).isoformat()},
                {"title": "Policy", "expires": (today + timedelta(days=90)).isoformat()},
            ]
        },
    )
    assert kpis.evidence_expiring(kpis.Scope()) == {"expiring_30_days": 1, "expired": 1}


def test_every_kpi_has_a_definition_and_is_in_the_docs():
    doc = (Path(__file__).resolve().parents[2] / "docs/users/leadership.md").read_text()
    for k in kpis.KPIS:
        assert k.definition, k.key
        assert k.label in doc, k.label


def test_obligations_coverage_per_framework_and_only_what_the_viewer_sees(
    firm, product_owner, retail
):
    from compliance.models import Applicability, Obligation  # noqa: PLC0415

    items = list(Obligation.objects.filter(framework__key="eu-ai-act", framework__active=True)[:3])
    # Hand-built: Retail's live high-risk use case has two applicable (one met), Corporate's
    # one (overdue); what the screening sign-off computed is set aside.
    Applicability.objects.all().delete()
    for item, status in zip(items[:2], ("met", "in_progress"), strict=True):
        Applicability.objects.create(
            use_case=firm["uc1"], obligation=item, applicable=True, reason="t", status=status
        )
    Applicability.objects.create(
        use_case=firm["uc1"], obligation=items[2], applicable=False, reason="t",
        status="not_applicable",
    )  # fmt: skip
    Applicability.objects.create(
        use_case=firm["uc5"], obligation=items[0], applicable=True, reason="t", status="overdue"
    )
    firm_wide = kpis.obligations_coverage(kpis.Scope())
    assert (firm_wide["applicable"], firm_wide["met"], firm_wide["overdue"]) == (3, 1, 1)
    assert firm_wide["percent"] == 33.3
    assert [f["key"] for f in firm_wide["frameworks"]] == ["eu-ai-act"]
    # The Retail product owner does not see Corporate's use case.
    theirs = kpis.obligations_coverage(kpis.Scope(viewer=product_owner))
    assert (theirs["applicable"], theirs["met"], theirs["overdue"]) == (2, 1, 0)
    assert theirs["percent"] == 50.0


def test_evidence_expiring_counts_the_evidence_library(firm, risk_officer):
    from compliance.services import library  # noqa: PLC0415

    today = timezone.localdate()
    for title, days, scoped in (("Pen test", 10, [firm["uc5"]]), ("Policy", -3, [])):
        library.evidence_add(
            actor=risk_officer,
            data={
                "title": title,
                "url": "https://e.example/",
                "effective_on": today - timedelta(days=100),
                "expires_on": today + timedelta(days=days),
            },
            use_cases=scoped,
        )
    assert kpis.evidence_expiring(kpis.Scope()) == {"expiring_30_days": 1, "expired": 1}
    # A Retail viewer counts the firm-wide policy, not Corporate's pen test.
    retail_only = kpis.evidence_expiring(kpis.Scope(viewer=risk_officer))
    assert retail_only == {"expiring_30_days": 0, "expired": 1}


def test_model_approvals_pending_counts_the_models_a_viewers_use_cases_use(
    firm, product_owner, risk_officer, retail, corporate
):
    from registry.models import ModelApproval  # noqa: PLC0415
    from tests.factories import AIModelFactory, DeploymentFactory, ModelVersionFactory  # noqa: PLC0415

    deployed = ModelVersionFactory(model__approval_status="under_evaluation")
    DeploymentFactory(use_case=firm["uc1"], model_version=deployed)
    # Deployed twice on Retail and named once: still one model.
    DeploymentFactory(use_case=firm["uc2"], model_version=ModelVersionFactory(model=deployed.model))
    ModelApproval.objects.create(
        use_case=firm["uc2"], model=deployed.model, approved_by=risk_officer
    )
    named = AIModelFactory(approval_status="under_evaluation")
    ModelApproval.objects.create(use_case=firm["uc3"], model=named, approved_by=risk_officer)
    elsewhere = ModelVersionFactory(model__approval_status="under_evaluation")
    DeploymentFactory(use_case=firm["uc5"], model_version=elsewhere)  # Corporate's
    approved = ModelVersionFactory(model__approval_status="approved")
    DeploymentFactory(use_case=firm["uc1"], model_version=approved)
    AIModelFactory(approval_status="under_evaluation")  # used by no use case

    assert kpis.model_approvals_pending(kpis.Scope(viewer=product_owner)) == {"pending": 2}
    assert kpis.model_approvals_pending(kpis.Scope(unit_id=corporate.pk)) == {"pending": 1}
    assert kpis.model_approvals_pending(kpis.Scope(owner_id=product_owner.pk)) == {"pending": 1}
    # The firm: every model under evaluation, used or not.
    assert kpis.model_approvals_pending(kpis.Scope()) == {"pending": 4}


def test_a_member_of_every_unit_is_counted_over_the_whole_register_with_the_same_figures(
    firm, retail, corporate, django_assert_max_num_queries
):
    from portal.models import Role  # noqa: PLC0415
    from tests.factories import UserFactory  # noqa: PLC0415

    everywhere = UserFactory(roles=[Role.RISK_OFFICER], units=[retail, corporate])
    now = timezone.now()
    scope = kpis.Scope(viewer=everywhere, now=now)
    assert scope.whole_register
    # The same figures as with the visibility filter asked row by row.
    filtered = kpis.Scope(viewer=everywhere, now=now)
    filtered.__dict__["whole_register"] = False
    assert kpis.compute(scope) == kpis.compute(filtered)
    assert kpis.compute(scope)["tiers"]["total"] == 5
    # Narrowed to a unit or an owner, the filter is asked again.
    assert not kpis.Scope(viewer=everywhere, unit_id=retail.pk).whole_register
    # A unit the person is not in: no longer everything.
    from tests.factories import BusinessUnitFactory  # noqa: PLC0415

    BusinessUnitFactory()
    everywhere = type(everywhere).objects.get(pk=everywhere.pk)  # a new request's person
    assert not kpis.Scope(viewer=everywhere).whole_register
