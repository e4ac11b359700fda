"""A material change flags a live use case and its owner starts the re-assessment, in a browser.

Issue 15: the product owner of a production use case edits it so the AI decides about
customers automatically where a person decided, saying why. Saving it announces a material
change; the shipped "Decision impact changed" rule (migration monitoring 0009, kept by
serialized_rollback) flags the use case for re-assessment. The owner follows the warning's link
to the flag, which names the change (field, old value → new value, who), and starts there the
re-assessment of the signed-off AI impact assessment, landing on the new draft, which the flag
then names.
"""

import re

import pytest
from playwright.sync_api import Page, expect

from registry.models import DecisionImpact, HumanOversight, RiskTier
from tests.e2e.journey_helpers import sign_in
from tests.factories import ProductionUseCaseFactory, signed_off

pytestmark = [
    pytest.mark.e2e,
    # The live server is another thread with its own connection: data must be committed. The
    # flush after a transactional test also empties what migrations made (role groups, the
    # built-in templates, the shipped material-change rules); serialized_rollback puts them
    # back for the tests that follow.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

TITLE = "Credit limit increases"
WHY = "The pilot showed analysts agree 98% of the time: the AI now decides on its own."
ASSISTS = DecisionImpact.ASSISTS.label  # "Assists a person who decides"
AUTOMATIC = DecisionImpact.AUTOMATIC.label  # "Decides automatically"
RULE = "Decision impact changed"
# Loading a page on a loaded 2-core machine, with a flag raised and mail sent on save.
SLOW_MS = 30_000


@pytest.fixture
def credit_limits(retail, product_owner):
    """A high-risk production use case about customers, where a person still decides."""
    use_case = ProductionUseCaseFactory(
        business_unit=retail,
        owner=product_owner,
        title=TITLE,
        purpose="Proposes higher credit limits to card customers for an analyst to approve.",
        people_affected=["customers"],
        decision_impact=DecisionImpact.ASSISTS,
        human_oversight=HumanOversight.BEFORE_ACTION,
        risk_tier=RiskTier.HIGH,
    )
    return use_case


@pytest.fixture
def impact_assessment(credit_limits):
    """The AI impact assessment signed off before it went live: what a re-assessment starts
    from (its workflow is tested in tests/assessments; here only its outcome matters)."""
    return signed_off(credit_limits, "impact")


def about(page: Page, term: str):
    """The value next to a term in the use case's About list."""
    return (
        page.get_by_role("region", name="About")
        .locator("dt", has_text=term)
        .locator("xpath=following-sibling::dd[1]")
    )


def evidence(page: Page, term: str):
    """The value next to a term in the flag's Evidence list."""
    return (
        page.get_by_role("region", name="Evidence")
        .locator("dt", has_text=re.compile(f"^{re.escape(term)}$"))
        .locator("xpath=following-sibling::dd[1]")
    )


# The data fixtures come before `page`: the browser must not be open while they write.
def test_owner_makes_a_use_case_decide_automatically_and_starts_the_reassessment(
    product_owner, password, credit_limits, impact_assessment, live_server, page: Page, page_log
):
    use_case = credit_limits.reference
    signed = impact_assessment.reference
    who = product_owner.get_full_name()
    change = f"Decision impact: {ASSISTS} → {AUTOMATIC} (by {who})"

    # The owner opens their production use case from the register.
    sign_in(page, product_owner, password)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Use cases").click()
    page.get_by_role("link", name=TITLE).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        re.compile(rf"^\s*{use_case}\s+{TITLE}\s*$")
    )
    expect(page.locator(".badge", has_text="Production")).to_be_visible()
    expect(about(page, "People affected")).to_have_text("Customers")
    expect(about(page, "Decision impact")).to_have_text(ASSISTS)
    expect(page.get_by_text("Needs re-assessment", exact=True)).to_have_count(0)

    # ... and makes the AI decide on its own, saying why.
    page.get_by_role("link", name="Edit", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Edit {use_case} {TITLE}")
    impact = page.get_by_role("group", name="Decision impact")
    expect(impact.get_by_label(ASSISTS)).to_be_checked()
    impact.get_by_label(AUTOMATIC).check()
    page.get_by_label("Why are you changing it?").fill(WHY)
    page.get_by_role("button", name="Save changes").click()

    # Back on the use case: saved, and warned that the change is material.
    messages = page.locator(".messages")
    expect(messages).to_contain_text(f"{use_case} saved.", timeout=SLOW_MS)
    warning = messages.locator(".alert-warning")
    expect(warning).to_contain_text(
        re.compile(rf"Material change: FL-\d+ flags {use_case} for re-assessment\.")
    )
    expect(warning).to_contain_text(f"{RULE}: {change}")
    flag = re.search(r"FL-\d+", warning.inner_text()).group()
    expect(about(page, "Decision impact")).to_have_text(AUTOMATIC)
    marked = page.get_by_role("status").filter(has_text="Needs re-assessment")
    expect(marked).to_contain_text(f"{flag}: {RULE}: {change}")
    expect(page.get_by_role("region", name="Recent changes")).to_contain_text(WHY)

    # The flag is listed with the use case's monitoring; the warning links it, and its page
    # names the change.
    monitoring = page.get_by_role("region", name="Monitoring")
    expect(monitoring).to_contain_text("Open flags")
    expect(monitoring.get_by_role("link", name=flag, exact=True)).to_be_visible()
    warning.get_by_role("link", name=flag, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        re.compile(rf"^\s*{flag}\s+Material change\s*$")
    )
    badges = page.locator("main .badge")
    expect(badges.filter(has_text=re.compile("^High$"))).to_be_visible()
    expect(badges.filter(has_text=re.compile("^Open$"))).to_be_visible()
    expect(page.locator("main").get_by_role("link", name=f"{use_case} {TITLE}")).to_be_visible()
    expect(evidence(page, "Cause")).to_contain_text("material_change:decision-impact")
    expect(evidence(page, "Reason")).to_have_text(f"{RULE}: {change}")
    expect(evidence(page, "Rule")).to_have_text(RULE)
    expect(evidence(page, "Record")).to_have_text(f"{use_case} {TITLE}")
    expect(evidence(page, "Field")).to_have_text("Decision impact")
    expect(evidence(page, "Old value")).to_have_text(ASSISTS)
    expect(evidence(page, "New value")).to_have_text(AUTOMATIC)
    expect(evidence(page, "Changed by")).to_have_text(who)
    # The shipped rule starts no draft by itself: the flag names no re-assessment yet.
    expect(evidence(page, "Re-assessment")).to_have_count(0)

    # The owner starts the re-assessment from the flag: a draft from the signed-off impact
    # assessment's answers, linked to the flag.
    reassess = page.get_by_role("region", name="Re-assessment")
    expect(reassess).to_contain_text(f"from the answers of {signed} (v1, signed off)")
    reassess.get_by_role("button", name="Start the re-assessment").click()

    # The draft: a second version of the impact assessment, the owner its author.
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_have_text(
        re.compile(r"^\s*AS-\d+\s+AI impact assessment\s+v2\s*$"), timeout=SLOW_MS
    )
    draft = re.search(r"AS-\d+", heading.inner_text()).group()
    assert draft != signed
    expect(page.locator(".messages")).to_have_text(f"{draft} started for {flag}.")
    expect(page.get_by_test_id("status")).to_have_text("Draft")
    expect(page.locator("main")).to_contain_text(f"Of {use_case} {TITLE}")
    expect(page.locator("main")).to_contain_text(f"by {who}")

    # Through the pages: the use case lists the draft beside the signed-off version, and is
    # still marked for re-assessment (until the new version is signed off or the flag cleared).
    page.locator("main").get_by_role("link", name=f"{use_case} {TITLE}").first.click()
    rows = page.get_by_role("region", name="Assessments").get_by_role("row")
    expect(rows.filter(has_text=f"{draft} AI impact assessment v2")).to_contain_text("Draft")
    expect(rows.filter(has_text=f"{signed} AI impact assessment v1")).to_contain_text("Signed off")
    expect(page.get_by_role("status").filter(has_text="Needs re-assessment")).to_contain_text(flag)
    page.get_by_role("region", name="Monitoring").get_by_role("link", name=flag, exact=True).click()
    # The flag now names its re-assessment, and offers no second one.
    expect(evidence(page, "Re-assessment")).to_contain_text(f"{draft} started from {signed}")
    expect(page.get_by_role("region", name="Re-assessment")).to_have_count(0)
    assert not page_log.errors, "\n".join(page_log.errors)
