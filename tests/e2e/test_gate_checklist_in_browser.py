"""The go-live checklist in Chromium (issue 18): "Move to production" cannot be pressed while
the gate fails, a missing requirement's link opens the page where it is put right, and the
Actions menu opens without script to the retire confirmation."""

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.journey_helpers import sign_in
from tests.factories import PilotUseCaseFactory

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture
def use_case(retail, product_owner):
    return PilotUseCaseFactory(
        business_unit=retail, owner=product_owner, title="Loan triage", risk_tier="minimal"
    )


def test_the_checklist_blocks_the_move_and_links_to_each_fix(
    use_case, product_owner, password, page: Page
):
    sign_in(page, product_owner, password)
    page.goto(use_case.get_absolute_url())

    lifecycle = page.get_by_role("region", name="Lifecycle")
    expect(lifecycle.get_by_role("button", name="Move to production")).to_be_disabled()
    expect(lifecycle).to_contain_text("Production waits for the go-live gate")

    gate = page.get_by_role("region", name="Go-live gate")
    expect(gate).to_contain_text("Not met")
    gate.get_by_role("link", name="Start the risk screening").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Start")
    page.go_back()

    gate.get_by_role("link", name="Write or review the runbook").click()
    expect(page).to_have_url(f"/incidents/runbooks/{use_case.pk}/edit/")


def test_retiring_goes_through_the_actions_menu_and_a_confirmation(
    use_case, product_owner, password, page: Page
):
    sign_in(page, product_owner, password)
    page.goto(use_case.get_absolute_url())
    page.get_by_text("Actions", exact=True).click()  # a <details>: opens without script
    page.get_by_role("link", name=f"Retire {use_case.reference}…").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Retire {use_case.reference}?")
    expect(page.get_by_text("What happens:")).to_be_visible()
    page.get_by_label("Why it is retired").fill("Replaced by the new triage service.")
    page.get_by_role("button", name=f"Yes, retire {use_case.reference}").click()
    expect(page.get_by_role("status").first).to_contain_text("retire done")
    expect(page.locator(".badge-lifecycle-retired")).to_have_text("Retired")
