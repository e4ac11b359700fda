"""The navigation bar's search in Chromium: typed into with the keyboard, submitted with
Enter, a result reached; another unit's record is never listed and a stored payload in a
title stays text."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.journey_helpers import sign_in
from tests.factories import PASSWORD, UseCaseFactory

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture
def findable(retail, corporate, product_owner):
    return {
        "mine": UseCaseFactory(
            business_unit=retail,
            owner=product_owner,
            title="Quokka complaints triage <img src=x onerror=alert(1)>",
            purpose="Sorts complaints about quokkas for the retail team.",
        ),
        "theirs": UseCaseFactory(business_unit=corporate, title="Quokka corporate pricing"),
    }


def test_a_person_finds_a_use_case_from_the_navigation_bar(findable, product_owner, page: Page):
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    sign_in(page, product_owner, PASSWORD)
    box = page.get_by_role("searchbox", name="Search use cases, models, assessments")
    box.focus()
    page.keyboard.type("quok tri")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Use cases", level=2)).to_be_visible()
    result = page.get_by_role("link", name=f"{findable['mine'].reference} Quokka complaints")
    expect(result).to_be_visible()
    expect(result.locator("mark").first).to_have_text("Quok")  # what was typed
    assert findable["theirs"].reference not in page.inner_text("main")
    assert page.locator("img[src='x']").count() == 0
    result.focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/register/use-cases/{findable['mine'].pk}/$"))
    assert dialogs == []
