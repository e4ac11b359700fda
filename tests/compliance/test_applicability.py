"""Applicability for the worked cases, against the articles of the EU AI Act."""

import pytest

from assessments.models import Assessment, AssessmentTemplate
from compliance.models import Applicability, Status
from registry.services import use_case_transition
from tests.factories import UseCaseFactory, unique_reference

pytestmark = pytest.mark.django_db


def applicable(use_case) -> set[str]:
    return set(
        Applicability.objects.filter(use_case=use_case, applicable=True).values_list(
            "obligation__ref", flat=True
        )
    )


PROVIDER_HIGH = {
    "Art. 9", "Art. 10", "Art. 11", "Art. 12", "Art. 13", "Art. 14", "Art. 15", "Art. 17",
}  # fmt: skip


def test_deployer_of_cv_ranking_has_the_article_26_duties(screened):
    cv = screened("high", people=["public"], role="deployer", annex_iii_areas=["4a"])
    assert applicable(cv) == {
        "Art. 4", "Art. 26(1)", "Art. 26(2)", "Art. 26(4)", "Art. 26(5)", "Art. 26(6)",
        "Art. 26(7)", "Art. 26(11)",
    }  # fmt: skip
    # Not the provider's duties, and no FRIA: 4(a) is not 5(b)/5(c) and we are no public body.
    row = Applicability.objects.get(use_case=cv, obligation__ref="Art. 9")
    assert row.status == Status.NOT_APPLICABLE
    assert "provider" in row.reason and "deployer" in row.reason
    fria = Applicability.objects.get(use_case=cv, obligation__ref="Art. 27")
    assert not fria.applicable and "5(b)" not in fria.reason  # it names the points it needs
    assert "Annex III point 5b" in fria.reason


def test_provider_of_credit_scoring_has_chapter_three_duties(screened):
    credit = screened("high", role="provider", annex_iii_areas=["5b"])
    assert applicable(credit) == {"Art. 4", *PROVIDER_HIGH, "Art. 49(1)", "Art. 72", "Art. 73"}


def test_deployer_of_credit_scoring_owes_a_fundamental_rights_impact_assessment(screened):
    credit = screened("high", role="deployer", annex_iii_areas=["5b"])
    assert "Art. 27" in applicable(credit)
    public = screened("high", role="deployer", annex_iii_areas=["3a"], public_body="yes")
    assert {"Art. 27", "Art. 49(3)"} <= applicable(public)


def test_customer_chatbot_must_say_it_is_ai(screened):
    chatbot = screened("limited", role="provider", interacts_with_people="yes")
    assert applicable(chatbot) == {"Art. 4", "Art. 50(1)"}


def test_role_not_answered_is_taken_as_deployer_and_says_so(screened):
    chatbot = screened("limited", interacts_with_people="yes", deep_fake="yes")
    assert applicable(chatbot) == {"Art. 4", "Art. 50(4)"}
    row = Applicability.objects.get(use_case=chatbot, obligation__ref="Art. 4")
    assert "taken as deployer" in row.reason


def test_annex_iii_system_under_the_article_6_3_exception_keeps_a_record(screened):
    triage = screened(
        "minimal",
        role="provider",
        annex_iii_areas=["4a"],
        exceptions=["preparatory"],
        profiling="no",
    )
    assert applicable(triage) == {"Art. 4", "Art. 6(4)", "Art. 49(2)"}


def test_profiling_defeats_the_exception(screened):
    profiled = screened(
        "high", role="provider", annex_iii_areas=["4a"], exceptions=["preparatory"],
        profiling="yes",
    )  # fmt: skip
    assert "Art. 6(4)" not in applicable(profiled)
    assert applicable(profiled) >= PROVIDER_HIGH


def test_minimal_spam_filter_owes_only_ai_literacy(screened):
    spam = screened("minimal", people=["staff"], role="deployer")
    assert applicable(spam) == {"Art. 4"}


def test_outside_the_act_owes_nothing(screened):
    research = screened("outside", role="provider")
    assert applicable(research) == set()
    assert Applicability.objects.filter(use_case=research).count() > 0


def test_unscreened_use_case_has_no_rows(retail, product_owner):
    use_case = UseCaseFactory(business_unit=retail, owner=product_owner)
    assert not Applicability.objects.filter(use_case=use_case).exists()


def test_operational_duties_wait_until_the_system_is_in_use(screened):
    proposed = screened("high", lifecycle="proposed", role="provider", annex_iii_areas=["5b"])
    assert "Art. 72" not in applicable(proposed)
    row = Applicability.objects.get(use_case=proposed, obligation__ref="Art. 72")
    assert "in use" in row.reason


def test_a_tier_change_recomputes_and_history_says_why(screened):
    use_case = screened("minimal", role="provider", annex_iii_areas=["5b"],
                        exceptions=["preparatory"])  # fmt: skip
    assert "Art. 9" not in applicable(use_case)
    use_case.risk_tier = "high"
    use_case.save(update_fields=["risk_tier"])
    assert "Art. 9" in applicable(use_case)
    row = Applicability.objects.get(use_case=use_case, obligation__ref="Art. 9")
    versions = row.history.order_by("history_id")
    reasons = list(versions.values_list("history_change_reason", flat=True))
    assert reasons[0].startswith("Screening") or "tier" in reasons[0]
    assert "tier minimal → high" in reasons[-1] and "now applies" in reasons[-1]


def test_retiring_makes_everything_not_applicable(screened, risk_officer):
    use_case = screened("high", role="provider", annex_iii_areas=["5b"])
    use_case_transition(actor=use_case.owner, use_case=use_case, action="retire",
                        reason="Replaced by the new model.")  # fmt: skip
    assert applicable(use_case) == set()
    row = Applicability.objects.get(use_case=use_case, obligation__ref="Art. 9")
    assert row.reason == "The use case is retired."
    assert "lifecycle production → retired" in row.history.latest().history_change_reason


def test_a_signed_off_fria_meets_article_27(screened):
    credit = screened("high", role="deployer", annex_iii_areas=["5b"])
    row = Applicability.objects.get(use_case=credit, obligation__ref="Art. 27")
    assert row.status == Status.NOT_STARTED
    assert "eu-ai-act-fria" in row.status_detail
    template = AssessmentTemplate.objects.get(key="eu-ai-act-fria", active=True)
    assert template.kind == "other"
    fria = Assessment.objects.create(
        reference=unique_reference("AS"),
        template=template,
        kind=template.kind,
        use_case=credit,
        author=credit.owner,
        status="signed_off",
    )
    row.refresh_from_db()
    assert row.status == Status.MET and fria.reference in row.status_detail
