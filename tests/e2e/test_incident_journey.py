"""A monitoring flag becomes an incident that is worked to its close, in a real browser.

A Retail chatbot in production serves version 1.5 of its model, deployed over 1.4. Monitoring
has flagged its error rate. The product owner opens the flag, opens an incident from it as
SEV2, sees what each severity means, marks it a personal data breach and sees the GDPR clock,
switches the AI off and rolls the deployment back to 1.4 (each with a reason), works the
incident to resolved, is refused the close until the post-incident review is written, writes
it and closes the incident. The timeline shows every step with who did it and when, and the
database agrees: the kill switch is engaged, the deployment serves 1.4, the incident is closed.
"""

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from incidents.models import SEVERITY_DEFINITIONS, Incident, Severity, Status
from registry import gate
from registry.models import Deployment, ModelApproval, RiskTier, UseCase
from tests.e2e.journey_helpers import off_the_loop, sign_in
from tests.factories import (
    AIModelFactory,
    DeploymentFactory,
    ModelVersionFactory,
    ProductionUseCaseFactory,
    complete_card,
    current_runbook,
    signed_off,
)
from tests.monitoring.ui_helpers import own_rule, raise_flag

pytestmark = [
    pytest.mark.e2e,
    # The live server is another thread with its own connection: data must be committed, and
    # serialized_rollback restores what migrations made for the tests that follow.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

MODEL = "Mortgage answers model"
KILL_REASON = "It tells customers wrong early-repayment fees; staff answer until it is fixed."
ROLLBACK_REASON = "1.5 quotes last year's fee table; 1.4 did not."
REVIEW = {
    "Cause": "Version 1.5 was trained on a fee table that had been withdrawn.",
    "Impact": "About 300 customers were quoted wrong fees over two days; none paid them.",
    "What changed": "Fee tables are now checked against the live tariff before training.",
}


@pytest.fixture
def flag(retail, product_owner, risk_officer):
    """A production chatbot passing the go-live gate, serving 1.5 over 1.4, with an open flag."""
    use_case = ProductionUseCaseFactory(
        business_unit=retail,
        owner=product_owner,
        title="Mortgage questions chatbot",
        risk_tier=RiskTier.MINIMAL,
    )
    signed_off(use_case, "screening", result_value="minimal")
    model = AIModelFactory(name=MODEL, business_unit=retail, owner=product_owner)
    earlier = ModelVersionFactory(model=model, version="1.4")
    latest = ModelVersionFactory(model=model, version="1.5")
    complete_card(earlier)
    complete_card(latest)
    ModelApproval.objects.create(use_case=use_case, model=model, approved_by=risk_officer)
    # Deployed 1.4 first and then 1.5, as deployment_update records it: 1.4 is the way back.
    deployment = DeploymentFactory(
        use_case=use_case, model_version=latest, previous_version=earlier
    )
    current_runbook(use_case)
    result = gate.check_go_live(use_case)
    assert result.passed, result.as_dict()["reasons"]  # a rollback must pass the gate too
    rule = own_rule(use_case, name="Wrong answers", severity="high")
    return raise_flag(rule, deployment)


def status_form(page: Page, button: str):
    """One move of the Status panel: its form, found by its button."""
    return (
        page.get_by_role("region", name="Status")
        .locator("form")
        .filter(has=page.get_by_role("button", name=button, exact=True))
    )


def move(page: Page, button: str, note: str, reference: str, status: str) -> None:
    form = status_form(page, button)
    form.get_by_label("Note").fill(note)
    form.get_by_role("button", name=button, exact=True).click()
    expect(page.locator(".messages")).to_contain_text(f"{reference} is {status}.")


# The journey ---------------------------------------------------------------------------------
# The data fixtures come before `page`: the browser must not be open while they write.
def test_owner_works_an_incident_from_a_flag_to_its_close(
    product_owner, password, flag, live_server, page, page_log
):
    use_case = flag.use_case
    owner_name = product_owner.get_full_name() or product_owner.username

    # The owner opens the flag (its email links here) and opens an incident from it.
    sign_in(page, product_owner, password)
    page.goto(f"/monitoring/flags/{flag.reference}/")
    expect(page.get_by_role("heading", level=1)).to_contain_text(flag.reference)
    panel = page.get_by_role("region", name="Incident")
    panel.get_by_label("Severity").select_option(label="SEV2")
    panel.get_by_role("button", name="Open an incident").click()
    message = page.locator(".messages")
    expect(message).to_contain_text(re.compile(rf"INC-\d+ opened from {flag.reference}\."))
    reference = re.search(r"INC-\d+", message.inner_text()).group()
    expect(page.get_by_role("heading", level=1)).to_contain_text(reference)

    # What each severity means is on the page, and SEV2 needs a review before it closes.
    severities = page.get_by_role("region", name="Severities")
    for severity in Severity:
        expect(severities).to_contain_text(SEVERITY_DEFINITIONS[severity])
    expect(page.get_by_role("region", name="Post-incident review")).to_contain_text(
        "Required before this SEV2 incident is closed."
    )

    # No clock runs until it is marked a breach; then the GDPR's 72 hours show.
    clocks = page.get_by_role("region", name="Regulatory clocks")
    expect(clocks).to_contain_text("No reporting clock runs")
    clocks.locator("summary").click()
    clocks.get_by_label("Personal data breach").check()
    clocks.get_by_role("button", name="Save").click()
    expect(message).to_contain_text("Regulatory clocks saved.")
    gdpr = clocks.get_by_role("row").filter(has_text="data protection authority")
    expect(gdpr).to_contain_text("Art. 33(1): 72 hours")
    expect(gdpr.get_by_role("cell").nth(3)).to_have_text("open")
    gdpr_due = gdpr.locator("time").get_attribute("datetime")  # checked against the database

    # The owner switches the AI off, with a reason.
    actions = page.get_by_role("region", name="Actions")
    kill = actions.locator("form").filter(has=page.get_by_role("button", name="Switch the AI off"))
    kill.get_by_label("Reason").fill(KILL_REASON)
    kill.get_by_role("button", name="Switch the AI off").click()
    # It asks first, saying what switching changes, with the reason kept.
    expect(page.get_by_text("What happens:")).to_be_visible()
    expect(page.get_by_label("Reason")).to_have_value(KILL_REASON)
    page.get_by_role("button", name="Yes, switch the AI off").click()
    expect(message).to_contain_text(f"{use_case.reference}: AI switched off.")
    expect(page.get_by_text("AI switched off", exact=True)).to_be_visible()
    expect(actions.get_by_role("button", name="Switch the AI back on")).to_be_visible()

    # Rolls the deployment back to 1.4, with a reason.
    rollback = actions.locator("form").filter(has=page.get_by_role("button", name="Roll back"))
    rollback.get_by_label("Deployment").select_option(label=f"{MODEL} 1.5 → 1.4 (Production)")
    rollback.get_by_label("Reason").fill(ROLLBACK_REASON)
    rollback.get_by_role("button", name="Roll back").click()
    expect(page.get_by_text("What happens:")).to_be_visible()
    page.get_by_role("button", name="Yes, roll back to 1.4").click()
    expect(message).to_contain_text("Deployment rolled back to its previous version.")

    # Mitigated, resolved; the close is refused while the review is not written.
    move(page, "Mark mitigated", "The AI is off and 1.4 is back in place.", reference, "mitigated")
    move(
        page, "Resolve", "Customers quoted wrong fees have been written to.", reference, "resolved"
    )
    refusal = page.get_by_role("region", name="Status").get_by_role("status")
    expect(refusal).to_contain_text("needs the post-incident review")
    status_form(page, "Close").get_by_role("button", name="Close", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text(
        "is closed only after its post-incident review"
    )
    refused_close = f"{live_server.url}/incidents/{reference}/transitions/close/"

    # Writes the review, and the close goes through.
    review = page.get_by_role("region", name="Post-incident review")
    for label, text in REVIEW.items():
        review.get_by_label(label, exact=True).fill(text)
    review.get_by_role("button", name="Save the review").click()
    expect(message).to_contain_text("Post-incident review saved.")
    move(
        page,
        "Close",
        "Review written and shared with the Retail risk committee.",
        reference,
        "closed",
    )
    expect(page.get_by_role("heading", level=1).locator("..")).to_contain_text("Closed")
    # A closed incident can only be reopened (with a reason); no action is offered.
    expect(page.get_by_role("region", name="Status").get_by_role("button")).to_have_text(["Reopen"])
    expect(page.get_by_role("region", name="Actions")).to_have_count(0)
    review = page.get_by_role("region", name="Post-incident review")
    for text in REVIEW.values():
        expect(review).to_contain_text(text)

    # The timeline: every step, who took it and when.
    entries = page.get_by_role("region", name="Timeline").get_by_role("listitem")
    steps = [
        f"Opened from {flag.reference} by {owner_name} as SEV2",
        "personal data breach",
        f"Switched the AI off (kill switch engaged): {KILL_REASON}",
        f"from {MODEL} 1.5 to {MODEL} 1.4: {ROLLBACK_REASON}",
        "Mark mitigated: Open → Mitigated.",
        "Resolve: Mitigated → Resolved.",
        "Post-incident review written",
        "Close: Resolved → Closed.",
    ]
    for step in steps:
        entry = entries.filter(has_text=step)
        expect(entry).to_have_count(1)
        expect(entry).to_contain_text(owner_name)
        expect(entry.locator("time")).to_have_attribute("datetime", re.compile(r"^\d{4}-\d\d-\d\d"))

    # The database agrees.
    def read():
        incident = Incident.objects.get(reference=reference)
        deployment = Deployment.objects.select_related("model_version").get(use_case=use_case)
        return (
            (incident.aware_at + timedelta(hours=72)).isoformat() == gdpr_due,
            UseCase.objects.get(pk=use_case.pk).kill_switch_engaged,
            deployment.model_version.version,
            deployment.previous_version.version,
            incident.status,
            incident.closed_at is not None,
            incident.flag_id,
            incident.owner_id,
            incident.review_written,
        )

    assert off_the_loop(read) == (
        True,
        True,
        "1.4",
        "1.5",
        Status.CLOSED,
        True,
        flag.pk,
        product_owner.pk,
        True,
    )

    # Everything came from the live server (data: URIs are inline images in Bootstrap's CSS).
    server = urlsplit(live_server.url)
    outside = [
        url
        for url in page_log.requests
        if urlsplit(url).scheme != "data" and urlsplit(url).netloc != server.netloc
    ]
    assert not outside, "\n".join(outside)
    # No console errors (Content-Security-Policy violations would show here) but the refused
    # close's 400, reported as a response and again on the console.
    expected = [e for e in page_log.errors if "400" in e and e.endswith(refused_close)]
    assert f"HTTP 400: {refused_close}" in expected
    unexpected = [e for e in page_log.errors if e not in expected]
    assert not unexpected, "\n".join(unexpected)
