"""The stored-XSS payloads (tests/portal/test_stored_xss.py) on the pages that show them, in
Chromium: no dialog opens, and the payload's <img> never becomes an element, so it is the
escaping that holds, not only the Content-Security-Policy behind it."""

import pytest
from playwright.sync_api import Page

from tests.e2e.journey_helpers import sign_in
from tests.factories import PASSWORD
from tests.portal.test_stored_xss import poisoned  # noqa: F401
from tests.portal.test_url_walk import world  # noqa: F401

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_no_payload_runs_in_chromium(poisoned, admin_user, page: Page):  # noqa: F811
    use_case, model, incident = (
        poisoned["use_case"],
        poisoned["model"],
        poisoned["incident_ref"],
    )
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    sign_in(page, admin_user, PASSWORD)
    for path in (
        f"/register/use-cases/{use_case.pk}/",
        "/register/use-cases/",
        f"/register/models/{model.pk}/",
        f"/incidents/{incident}/",
        "/monitoring/rules/",
    ):
        page.goto(path)
        page.wait_for_load_state("load")
        assert page.locator("img[src='x']").count() == 0, path
    page.goto(f"/register/use-cases/{use_case.pk}/")
    assert "onerror=alert(1)" in page.inner_text("main")  # shown, as text
    assert dialogs == []
