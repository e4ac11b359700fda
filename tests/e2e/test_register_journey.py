"""A product owner registers a use case in a real browser and finds it in the register."""

import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from registry.models import DecisionImpact, HumanOversight
from registry.services import use_case_register
from tests.factories import DataSourceFactory

pytestmark = [
    pytest.mark.e2e,
    # The live server is another thread with its own connection: data must be committed. The
    # flush after a transactional test also empties the role groups a migration created;
    # serialized_rollback puts them back for the tests that follow.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

TITLE = "Branch queue forecasting"
PURPOSE = "Predicts queue lengths so branch managers can plan counter staff for the week."


@pytest.fixture
def footfall(retail, product_owner):
    return DataSourceFactory(business_unit=retail, owner=product_owner, name="Branch footfall")


@pytest.fixture
def mortgage_triage(retail, product_owner):
    """Another use case in the unit, which the search must leave out.

    Registered through the service, as the page does: the factory's references would
    collide with the UC counter the service keeps.
    """
    return use_case_register(
        actor=product_owner,
        data={
            "title": "Mortgage triage",
            "purpose": "Sorts incoming mortgage documents for underwriters.",
            "business_unit": retail,
            "owner": product_owner,
            "people_affected": ["staff"],
            "decision_impact": DecisionImpact.ASSISTS,
            "human_oversight": HumanOversight.BEFORE_ACTION,
        },
    )


# The data fixtures come before `page`: the browser must not be open while they write.
def test_product_owner_registers_a_use_case_and_finds_it_in_the_register(
    product_owner, password, footfall, mortgage_triage, live_server, page, page_log
):
    page.goto("/accounts/login/")
    page.get_by_label("User name").fill(product_owner.username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()

    main_nav = page.get_by_role("navigation", name="Main")
    main_nav.get_by_role("link", name="Use cases").click()
    expect(page.get_by_role("heading", name="Use-case register", level=1)).to_be_visible()
    expect(page.get_by_role("link", name=mortgage_triage.title)).to_be_visible()
    page.get_by_role("link", name="Register a use case").click()
    expect(page.get_by_role("heading", name="Register a use case", level=1)).to_be_visible()

    # Everything but the title, which is required.
    people = page.get_by_role("group", name="People affected")
    impact = page.get_by_role("group", name="Decision impact")
    oversight = page.get_by_role("group", name="Human-in-the-loop rule")
    sources = page.get_by_role("group", name="Data sources")
    page.get_by_label("Purpose").fill(PURPOSE)
    people.get_by_label("Customers").check()
    impact.get_by_label("Assists a person who decides").check()
    oversight.get_by_label("Review before action").check()
    sources.get_by_label(footfall.name).check()
    page.get_by_role("button", name="Register", exact=True).click()

    title = page.get_by_label("Title")
    expect(page.get_by_role("alert")).to_contain_text("Please fix 1 problem below.")
    expect(title).to_have_attribute("aria-invalid", "true")
    # The message sits next to the field and is read out with it.
    expect(page.locator("#id_title_errors")).to_have_text("This field is required.")
    expect(title).to_have_accessible_description("This field is required.")
    # What was typed and chosen is still there.
    expect(page.get_by_label("Purpose")).to_have_value(PURPOSE)
    expect(people.get_by_label("Customers")).to_be_checked()
    expect(people.get_by_label("Internal staff")).not_to_be_checked()
    expect(impact.get_by_label("Assists a person who decides")).to_be_checked()
    expect(oversight.get_by_label("Review before action")).to_be_checked()
    expect(sources.get_by_label(footfall.name)).to_be_checked()

    title.fill(TITLE)
    page.get_by_role("button", name="Register", exact=True).click()

    expect(page).to_have_url(re.compile(r"/register/use-cases/\d+/$"))
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_have_text(re.compile(rf"^\s*UC-\d{{4}}\s+{TITLE}\s*$"))
    reference = re.search(r"UC-\d{4}", heading.inner_text()).group()
    expect(page.get_by_role("status")).to_have_text(f"{reference} registered.")
    about = page.get_by_role("region", name="About")
    expect(about).to_contain_text(PURPOSE)
    for term, value in [
        ("Business unit", "Retail Banking"),
        ("Owner", product_owner.get_full_name()),
        ("People affected", "Customers"),
        ("Decision impact", "Assists a person who decides"),
        ("Human-in-the-loop rule", "Review before action"),
    ]:
        definition = about.locator("dt", has_text=term).locator("xpath=following-sibling::dd[1]")
        expect(definition).to_have_text(value)
    data = page.get_by_role("region", name="Data sources")
    expect(data.get_by_role("link", name=f"{footfall.reference} {footfall.name}")).to_be_visible()

    main_nav.get_by_role("link", name="Use cases").click()
    search = page.get_by_role("searchbox", name="Search", exact=True)
    search.fill(TITLE)
    # htmx sends the search and swaps the table in place.
    with page.expect_response(
        lambda r: "q=" in r.url and r.request.header_value("hx-request") == "true"
    ):
        search.press("Enter")
    table = page.get_by_role("table")
    expect(page.locator("#register-table").get_by_role("status")).to_have_text("1 use case")
    expect(table.get_by_role("row").filter(has_text=reference)).to_have_count(1)
    expect(table.get_by_role("link", name=TITLE)).to_be_visible()
    expect(table.get_by_role("row").filter(has_text=mortgage_triage.title)).to_have_count(0)
    expect(page).to_have_url(re.compile(r"[?&]q=Branch(\+|%20)queue(\+|%20)forecasting(&|$)"))

    # Everything came from the live server (data: URIs are inline images in Bootstrap's CSS).
    server = urlsplit(live_server.url)
    outside = [
        url
        for url in page_log.requests
        if urlsplit(url).scheme != "data" and urlsplit(url).netloc != server.netloc
    ]
    assert not outside, "\n".join(outside)
    assert any(url.endswith("/vendor/bootstrap/css/bootstrap.min.css") for url in page_log.requests)
    assert any(url.endswith("/vendor/htmx/htmx.min.js") for url in page_log.requests)
    # No console errors: Content-Security-Policy violations would show here.
    assert not page_log.errors, "\n".join(page_log.errors)
