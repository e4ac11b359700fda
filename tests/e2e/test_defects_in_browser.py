"""Defects a real-browser walk found (issue 18), each shown the way only a browser shows it:
where a checkbox is drawn, how wide a page is, what a script hides, whether autosave comes
back after the connection does, and what a real WSGI server makes of a response header.
"""

import json
import urllib.request

import pytest
from playwright.sync_api import Page, expect
from rest_framework.authtoken.models import Token

from assessments import services
from assessments.models import AssessmentTemplate
from tests.e2e.journey_helpers import sign_in
from tests.factories import UseCaseFactory, UserFactory

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

AREAS = {
    "format": 1,
    "key": "tiny-areas",
    "version": 1,
    "kind": "other",
    "title": "Areas check",
    "sections": [
        {
            "key": "areas",
            "title": "High-risk areas",
            "questions": [
                {
                    "key": "areas",
                    "type": "multi_choice",
                    "label": "Which areas does it touch?",
                    "required": True,
                    "choices": [
                        {"value": "credit", "label": "Creditworthiness"},
                        {"value": "jobs", "label": "Recruitment"},
                        {"value": "none", "label": "None of these", "exclusive": True},
                    ],
                },
                {
                    "key": "profiling",
                    "type": "yes_no",
                    "label": "Does it profile people?",
                    "required": True,
                    "show_if": {
                        "all": [
                            {"question": "areas", "answered": True},
                            {"not": {"question": "areas", "includes": "none"}},
                        ]
                    },
                },
                {"key": "notes", "type": "long_text", "label": "Notes"},
            ],
        }
    ],
}


@pytest.fixture
def use_case(retail, product_owner):
    return UseCaseFactory(business_unit=retail, owner=product_owner, title="Loan triage")


@pytest.fixture
def areas_draft(use_case, product_owner):
    template, _ = services.template_import(actor=None, definition=AREAS)
    return services.assessment_start(actor=product_owner, use_case=use_case, template=template)


@pytest.fixture
def areas_submitted(areas_draft, product_owner, risk_officer):
    a = services.assessment_save_answers(
        actor=product_owner,
        assessment=areas_draft,
        answers={"areas": ["credit"], "profiling": "yes", "notes": "Scores applicants."},
        base_revision=areas_draft.revision,
    )
    return services.assessment_transition(actor=product_owner, assessment=a, action="submit")


def section_url(assessment, key: str) -> str:
    return f"/assessments/{assessment.pk}/section/{key}/"


def test_starting_an_assessment_over_the_api_on_a_real_server_answers_201(
    live_server, use_case, product_owner
):
    """The Location header was DRF's Hyperlink (a str subclass); wsgiref refuses any header
    value that is not exactly str and answered 500 after the assessment was created."""
    template = AssessmentTemplate.objects.get(key="ico-dpia", active=True)
    token, _ = Token.objects.get_or_create(user=product_owner)
    request = urllib.request.Request(
        live_server.url + "/api/v1/assessments/",
        data=json.dumps({"use_case": use_case.pk, "template": template.pk}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Token {token.key}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 201
        body = json.loads(response.read())
        assert response.headers["Location"].endswith(f"/api/v1/assessments/{body['id']}/")


def test_each_checkbox_is_drawn_beside_its_label(areas_draft, product_owner, password, page: Page):
    sign_in(page, product_owner, password)
    page.goto(section_url(areas_draft, "areas"))
    group = page.get_by_role("group", name="Which areas does it touch?")
    for label in ("Creditworthiness", "Recruitment", "None of these"):
        box = group.get_by_label(label).bounding_box()
        text = group.locator("label", has_text=label).bounding_box()
        assert box and text
        # Same line, and just to the left of its label (it was at the card's top right).
        assert abs((box["y"] + box["height"] / 2) - (text["y"] + text["height"] / 2)) < 12, label
        assert 0 <= text["x"] - (box["x"] + box["width"]) < 24, label


def test_a_read_only_assessment_shows_the_conditional_answers_it_was_judged_on(
    areas_submitted, auditor, password, page: Page
):
    sign_in(page, auditor, password)
    page.goto(section_url(areas_submitted, "areas"))
    question = page.locator("#q-profiling")
    expect(question).to_be_visible()
    expect(question).to_contain_text("Does it profile people?")
    expect(question).to_contain_text("Yes")


def test_autosave_saves_again_once_the_connection_is_back(
    areas_draft, product_owner, password, page: Page
):
    sign_in(page, product_owner, password)
    page.goto(section_url(areas_draft, "areas"))
    status = page.locator("#autosave-status")
    page.context.set_offline(True)
    page.get_by_label("Notes").fill("Typed on a train.")
    expect(status).to_contain_text("Offline")
    page.context.set_offline(False)
    expect(status).to_contain_text("All changes saved", timeout=30_000)
    page.reload()
    expect(page.get_by_label("Notes")).to_have_value("Typed on a train.")


@pytest.fixture
def dpia(use_case, product_owner):
    template = AssessmentTemplate.objects.get(key="ico-dpia", active=True)
    return services.assessment_start(actor=product_owner, use_case=use_case, template=template)


def test_the_dpia_risk_table_fits_a_1440_pixel_window(dpia, product_owner, password, page: Page):
    page.set_viewport_size({"width": 1440, "height": 900})
    sign_in(page, product_owner, password)
    page.goto(section_url(dpia, "risks"))
    expect(page.get_by_role("table").first).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 1440, f"the page is {width} px wide in a 1440 px window"


@pytest.fixture
def long_named_admin(db):
    return UserFactory(
        username="long.name",
        first_name="Maximiliana-Alexandrina",
        last_name="Featherstonehaugh-Montgomery",
        roles=["admin"],
        is_superuser=True,
        is_staff=True,
    )


def test_the_menu_wraps_rather_than_widen_the_page(long_named_admin, password, page: Page):
    """Found when a generated name was long enough: the menu pushed the page past 1440 px."""
    for width in (1200, 1440):
        page.set_viewport_size({"width": width, "height": 900})
        sign_in(page, long_named_admin, password)
        expect(page.get_by_role("button", name="Sign out")).to_be_visible()
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= width, f"the page is {wide} px wide in a {width} px window"
        page.get_by_role("button", name="Sign out").click()
