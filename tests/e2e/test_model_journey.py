"""A use case goes live through the go-live gate, in a real browser.

A risk officer approves a firm-approved model for a Retail pilot (approving a model for a use
case is a risk officer's call); its product owner then sees the gate's checklist, deploys the
model's version to staging, writes the version's model card until it is complete enough,
sees every requirement hold and moves the use case to production. The gate API then passes
the use case, and the gate's answers were logged.
"""

import re
from urllib.parse import urlsplit

import pytest
from django.test import Client
from playwright.sync_api import Page, expect
from rest_framework.authtoken.models import Token

from registry.models import GateCheck, ModelCard, RiskTier
from tests.e2e.journey_helpers import off_the_loop, sign_in, sign_out
from tests.factories import (
    AIModelFactory,
    ModelVersionFactory,
    PilotUseCaseFactory,
    current_runbook,
    signed_off,
)

pytestmark = [
    pytest.mark.e2e,
    # The live server is another thread with its own connection: data must be committed. The
    # flush after a transactional test also empties what migrations made (role groups,
    # built-in templates); serialized_rollback puts them back for the tests that follow.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

MODEL = "Branch footfall forecaster"
VERSION = "2.1"
# Two sections are written before the journey starts: 20%, under the gate's 80%.
WRITTEN = {
    "model_details": "Gradient-boosted trees trained by the Retail data science team in 2025.",
    "intended_use": "Forecasts branch footfall per hour so managers can plan counter staff.",
}
# What the product owner writes, in two sittings.
FIRST = {
    "Out-of-scope uses": "Not for decisions about individual customers or staff performance.",
    "Factors": "Branch size, region, weekday, school holidays and local events were evaluated.",
    "Metrics": "Mean absolute percentage error per branch and hour; alerts above 15 per cent.",
}
REST = {
    "Evaluation data": "The last twelve months of footfall counts from all 240 branches.",
    "Training data": "Three years of hourly door-counter data, with public holiday calendars.",
    "Quantitative analyses": "MAPE 9.8 per cent overall; 8.1 urban and 12.4 rural branches.",
    "Ethical considerations": "No personal data: counts are aggregated by the door sensors.",
    "Caveats and recommendations": "Re-train after branch refits; forecasts drift for weeks.",
}


@pytest.fixture
def forecasting(retail, product_owner):
    """A minimal-risk pilot in Retail, screened and signed off, with no model yet."""
    use_case = PilotUseCaseFactory(
        business_unit=retail,
        owner=product_owner,
        title="Branch staffing forecast",
        purpose="Forecasts branch footfall so managers can plan counter staff.",
        risk_tier=RiskTier.MINIMAL,
    )
    signed_off(use_case, "screening", result_value="minimal")
    current_runbook(use_case)
    return use_case


@pytest.fixture
def forecaster(retail, product_owner, risk_officer):
    """A model approved for use in the firm, whose one version has a card 20% written."""
    model = AIModelFactory(
        name=MODEL,
        business_unit=retail,
        owner=product_owner,
        approved_by=risk_officer,
        approval_note="Reviewed by model risk.",
    )
    version = ModelVersionFactory(model=model, version=VERSION, stage="candidate")
    ModelCard.objects.create(model_version=version, sections=WRITTEN)
    return version


@pytest.fixture
def owner_token(product_owner) -> Token:
    return Token.objects.create(user=product_owner)


# Helpers -------------------------------------------------------------------------------------
def open_use_case(page: Page, use_case) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Use cases").click()
    page.get_by_role("table").get_by_role("link", name=use_case.title).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(use_case.reference)


def unfold(page: Page, summary: str):
    """Open a <details> of the page by its summary and return it."""
    details = page.locator("details").filter(
        has=page.locator("summary", has_text=re.compile("^" + re.escape(summary) + "$"))
    )
    details.locator("summary").click()
    return details


def gate_check(page: Page, label: str):
    """One requirement of the gate's checklist, by its label."""
    return (
        page.get_by_role("region", name="Go-live gate")
        .get_by_role("listitem")
        .filter(has=page.get_by_text(label, exact=True))
    )


def fill_card(page: Page, sections: dict[str, str]) -> None:
    edit = page.get_by_role("region", name="Sections")
    for title, text in sections.items():
        edit.get_by_label(title, exact=True).fill(text)
    edit.get_by_role("button", name="Save the card").click()
    expect(page.locator(".messages")).to_contain_text("is saved.")


# The journey ---------------------------------------------------------------------------------
# The data fixtures come before `page`: the browser must not be open while they write.
def test_product_owner_takes_a_use_case_through_the_go_live_gate(
    product_owner,
    risk_officer,
    password,
    forecasting,
    forecaster,
    owner_token,
    live_server,
    page,
    page_log,
):
    use_case, model_label = forecasting, f"{forecaster.model.reference} {MODEL}"
    gate = page.get_by_role("region", name="Go-live gate")

    # The risk officer approves the model for this use case.
    sign_in(page, risk_officer, password)
    open_use_case(page, use_case)
    models = page.get_by_role("region", name="Models and deployments")
    expect(models).to_contain_text("No model is approved for this use case yet.")
    approve = unfold(page, "Approve a model for this use case")
    approve.get_by_label("Model").select_option(label=str(forecaster.model))
    approve.get_by_label("Note").fill("In-house, no personal data: fine for this pilot.")
    approve.get_by_role("button", name="Approve").click()
    expect(page.locator(".messages")).to_contain_text(f"{MODEL} is approved for")
    expect(models.get_by_role("link", name=model_label)).to_be_visible()
    sign_out(page)

    # The product owner sees what the gate still misses.
    sign_in(page, product_owner, password)
    open_use_case(page, use_case)
    expect(page.locator(".badge-lifecycle-pilot")).to_have_text("Pilot")
    expect(gate).to_contain_text("Not met")
    expect(gate_check(page, "Risk screening")).to_contain_text("Holds:")
    expect(gate_check(page, "Deployed models approved")).to_contain_text("Missing:")
    expect(gate_check(page, "Deployed models approved")).to_contain_text(
        "No model is deployed yet."
    )

    # Deploys the version to staging through the page.
    deploy = unfold(page, "Deploy a model version")
    deploy.get_by_label("Model version").select_option(label=f"{MODEL} {VERSION}")
    deploy.get_by_label("Environment").select_option(label="Staging")
    deploy.get_by_label("Traffic share (%)").fill("100")
    deploy.get_by_role("button", name="Deploy").click()
    expect(page.locator(".messages")).to_contain_text(f"{MODEL} {VERSION} deployed to staging.")
    expect(gate_check(page, "Deployed models approved")).to_contain_text("Holds:")
    cards = gate_check(page, "Model cards at least 80% complete")
    expect(cards).to_contain_text("Missing:")
    expect(cards).to_contain_text(f"{MODEL} {VERSION}: 20%")
    expect(gate).to_contain_text("1 requirement missing.")

    # Opens the version's model card and writes it until it is complete enough.
    models.get_by_role("link", name=f"{MODEL} {VERSION}").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Model card: {MODEL} {VERSION}")
    completeness = page.get_by_role("region", name=re.compile(r"^Completeness"))
    expect(completeness.get_by_role("heading", level=2)).to_have_text("Completeness: 20%")
    fill_card(page, FIRST)
    expect(completeness.get_by_role("heading", level=2)).to_have_text("Completeness: 50%")
    expect(completeness.get_by_role("listitem")).to_have_count(5)
    fill_card(page, REST)
    expect(completeness.get_by_role("heading", level=2)).to_have_text("Completeness: 100%")
    expect(completeness).to_contain_text("Every section is written.")
    facts = page.get_by_role("region", name="What the registry knows")
    expect(facts).to_contain_text(f"{use_case.reference} (staging, 100%)")

    # Back on the use case, every requirement holds, and it goes to production.
    open_use_case(page, use_case)
    expect(gate).to_contain_text("Everything production needs is in place.")
    expect(gate.get_by_text("Missing:")).to_have_count(0)
    expect(gate_check(page, "Model cards at least 80% complete")).to_contain_text("Holds:")
    lifecycle = page.get_by_role("region", name="Lifecycle")
    lifecycle.get_by_role("button", name="Move to production").click()
    expect(page.locator(".messages")).to_contain_text(
        f"{use_case.reference}: move to production done."
    )
    expect(page.locator(".badge-lifecycle-production")).to_have_text("Production")

    # A pipeline asking the gate API now hears yes; every answer was logged.
    def ask_the_api_and_read_the_log():
        response = Client().get(
            f"/api/v1/gate/{use_case.reference}/",
            HTTP_AUTHORIZATION=f"Token {owner_token.key}",
            HTTP_ACCEPT="application/json",
        )
        logged = list(
            GateCheck.objects.filter(use_case=use_case)
            .order_by("asked_at", "pk")
            .values_list("source", "passed", "asked_by__username")
        )
        return response.status_code, response.json(), logged

    status, answer, logged = off_the_loop(ask_the_api_and_read_the_log)
    assert status == 200
    assert answer["use_case"] == use_case.reference
    assert answer["passed"] is True, answer["reasons"]
    assert answer["reasons"] == []
    assert ("transition", True, product_owner.username) in logged, logged
    assert logged[-1] == ("api", True, product_owner.username), logged

    # Everything came from the live server (data: URIs are inline images in Bootstrap's CSS).
    server = urlsplit(live_server.url)
    outside = [
        url
        for url in page_log.requests
        if urlsplit(url).scheme != "data" and urlsplit(url).netloc != server.netloc
    ]
    assert not outside, "\n".join(outside)
    # No console errors: Content-Security-Policy violations would show here.
    assert not page_log.errors, "\n".join(page_log.errors)
