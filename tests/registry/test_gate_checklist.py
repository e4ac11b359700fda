"""The go-live checklist on the use case page (issue 18): every missing requirement links to
the page where it is put right; a requirement with nothing to check (nothing deployed) says
so rather than showing a tick; "Move to production" is disabled while the gate fails, and a
refused move answers with one banner that lists what is missing."""

import re

import pytest
from django.urls import reverse

from registry.models import ModelApproval
from tests.factories import (
    ModelVersionFactory,
    PilotUseCaseFactory,
    ready_for_production,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def use_case(retail, product_owner):
    return PilotUseCaseFactory(business_unit=retail, owner=product_owner, risk_tier="minimal")


def _gate_card(html: str) -> str:
    return html.split('id="h-gate"')[1].split("</section>")[0]


def _checks(card: str) -> dict[str, str]:
    """Each check's <li>, by its label."""
    items = re.findall(r'<li class="mb-2 gate-check gate-(\w+)">(.*?)</li>', card, re.S)
    return {
        re.search(r"<strong>(.*?)</strong>", body).group(1): (state, body) for state, body in items
    }


def test_each_missing_requirement_links_to_where_it_is_put_right(client, product_owner, use_case):
    client.force_login(product_owner)
    checks = _checks(_gate_card(client.get(use_case.get_absolute_url()).content.decode()))

    missing = {label: body for label, (state, body) in checks.items() if state == "missing"}
    assert "Risk screening" in missing and "Deployed models approved" in missing
    for label, body in missing.items():
        assert "<a href=" in body, f"{label} is missing but links nowhere"
    screening = reverse("assessments:start", args=[use_case.pk]) + "?kind=screening"
    assert f'href="{screening}"' in missing["Risk screening"]
    assert f'href="{use_case.get_absolute_url()}#h-models"' in missing["Deployed models approved"]
    runbook = reverse("incidents:runbook-edit", args=[use_case.pk])
    assert f'href="{runbook}"' in missing["A current runbook"]
    # Each link opens for the person who sees it.
    for url in re.findall(r'href="([^"#]+)[^"]*"', "".join(missing.values())):
        assert client.get(url).status_code == 200, url


def test_a_card_below_the_threshold_links_to_that_cards_form(client, admin_user, use_case):
    version = ready_for_production(use_case, admin_user)
    version.card.sections = {}
    version.card.save()
    client.force_login(admin_user)
    checks = _checks(_gate_card(client.get(use_case.get_absolute_url()).content.decode()))
    state, body = next(v for k, v in checks.items() if k.startswith("Model cards"))
    assert state == "missing"
    assert f'href="{version.get_absolute_url()}#h-edit"' in body


def test_nothing_deployed_shows_no_tick_for_what_has_nothing_to_check(
    client, product_owner, use_case, admin_user
):
    # A model approved for the use case but deployed nowhere.
    version = ModelVersionFactory(model__business_unit=use_case.business_unit)
    ModelApproval.objects.create(use_case=use_case, model=version.model, approved_by=admin_user)
    client.force_login(product_owner)
    checks = _checks(_gate_card(client.get(use_case.get_absolute_url()).content.decode()))

    for label, (state, body) in checks.items():
        if label.startswith("Model cards") or label.startswith("Evaluations"):
            assert state == "na", f"{label} ticked with nothing deployed"
            assert "Nothing is deployed yet" in body
            assert "✓" not in body
    assert checks["Deployed models approved"][0] == "missing"


def test_move_to_production_is_disabled_while_the_gate_fails(client, product_owner, use_case):
    client.force_login(product_owner)
    html = client.get(use_case.get_absolute_url()).content.decode()
    go_live = reverse("registry:use-case-transition", args=[use_case.pk, "go_live"])

    assert f'action="{go_live}"' not in html
    button = re.search(r"<button[^>]*>Move to production</button>", html).group(0)
    assert "disabled" in button and 'aria-describedby="gate-blocks"' in button
    assert 'id="gate-blocks"' in html


def test_move_to_production_is_offered_once_the_gate_holds(
    client, product_owner, use_case, admin_user
):
    ready_for_production(use_case, admin_user)
    client.force_login(product_owner)
    html = client.get(use_case.get_absolute_url()).content.decode()
    go_live = reverse("registry:use-case-transition", args=[use_case.pk, "go_live"])
    assert f'action="{go_live}"' in html
    assert 'id="gate-blocks"' not in html


def test_a_refused_move_answers_with_one_banner_listing_what_is_missing(
    client, product_owner, use_case
):
    client.force_login(product_owner)
    response = client.post(
        reverse("registry:use-case-transition", args=[use_case.pk, "go_live"]), follow=True
    )
    html = response.content.decode()
    use_case.refresh_from_db()
    assert use_case.lifecycle == "pilot"  # refused server-side as well
    messages = html.split('<div class="messages"')[1].split("</div>\n  </div>")[0]
    assert messages.count("alert-danger") == 1
    banner = messages.split("alert-danger")[1]
    assert "the go-live gate is not met" in banner
    assert "<li>Risk screening: No signed-off risk screening yet." in banner
    assert "<li>Deployed models approved: No model is deployed yet.</li>" in banner
    assert 'href="#gate"' in banner
