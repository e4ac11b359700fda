"""A version is promoted from canary with a risk officer's approval, in a real browser.

An engineer asks, on the version's page, to move a limited-risk model's canary to production
with why and the evidence; a limited-risk release needs a risk officer, never the requester.
The risk officer finds it on the release approvals page and approves it; the version is in
production and the request keeps who asked, who approved and why.
"""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from portal.models import Role
from registry.models import ModelApproval, ModelVersion, PromotionRequest, RiskTier
from tests.e2e.journey_helpers import off_the_loop, sign_in, sign_out
from tests.factories import AIModelFactory, ModelVersionFactory, UseCaseFactory, UserFactory

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

MODEL = "Complaint router"


@pytest.fixture
def engineer(retail):
    return UserFactory(username="eve.engineer", roles=[Role.PRODUCT_OWNER], units=[retail])


@pytest.fixture
def canary(retail, product_owner, risk_officer):
    """A limited-risk use case's model, its version in canary for two days."""
    use_case = UseCaseFactory(business_unit=retail, owner=product_owner, risk_tier=RiskTier.LIMITED)
    model = AIModelFactory(name=MODEL, business_unit=retail, owner=product_owner)
    ModelApproval.objects.create(use_case=use_case, model=model, approved_by=risk_officer)
    return ModelVersionFactory(
        model=model,
        version="4.2",
        stage="canary",
        stage_changed_at=timezone.now() - timedelta(hours=48),
    )


def test_a_canary_goes_to_production_with_a_risk_officers_approval(
    engineer, risk_officer, password, canary, live_server, page: Page, page_log
):
    # The engineer asks for the promotion on the version's page.
    sign_in(page, engineer, password)
    page.goto(f"/register/model-versions/{canary.pk}/")
    release = page.get_by_role("region", name="Release")
    expect(release).to_contain_text("Canary since")
    release.get_by_role("link", name="Promote").click()
    page.get_by_label("Move to").select_option(label="Production")
    page.get_by_label("Reason").fill("Two days in canary at 20% with no rise in misroutes.")
    page.get_by_label("Evidence").fill("https://ci.example.com/runs/812")
    page.get_by_role("button", name="Ask to move it").click()
    expect(page.locator(".messages")).to_contain_text("Asked for approval")
    expect(page.get_by_role("region", name="Release")).to_contain_text(
        "waiting for approval by a risk officer"
    )
    sign_out(page)

    # The risk officer approves it from the release approvals page.
    sign_in(page, risk_officer, password)
    page.goto("/register/promotions/")
    mine = page.get_by_role("region", name="Waiting for you")
    mine.get_by_role("link", name=f"{MODEL} 4.2").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("canary → production")
    decide = page.get_by_role("region", name="Your answer")
    decide.get_by_label("Note").fill("Evidence reviewed; fine for all traffic.")
    decide.get_by_role("button", name="Approve").click()
    expect(page.locator(".messages")).to_contain_text("is now Production")
    expect(page.locator("#promotion-status")).to_have_text("Done")
    page.goto(f"/register/model-versions/{canary.pk}/")
    expect(page.get_by_role("region", name="Release")).to_contain_text("Production since")

    stage, request = off_the_loop(
        lambda: (
            ModelVersion.objects.get(pk=canary.pk).stage,
            PromotionRequest.objects.select_related("requested_by").get(),
        )
    )
    assert stage == "production"
    assert request.requested_by.username == "eve.engineer"
    assert request.evidence == "https://ci.example.com/runs/812"
    assert off_the_loop(
        lambda: list(request.approvals.values_list("approver__username", "role", "note"))
    ) == [("rita.risk", "risk_officer", "Evidence reviewed; fine for all traffic.")]
    assert not page_log.errors, "\n".join(page_log.errors)
