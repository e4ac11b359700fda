"""The kill switch is behind a confirmation page (issue 18): the use case page offers it in
its Actions menu as a link, the page says what switching changes, and only the POST from
that page switches. Who may reach the page follows the same rule as the switch."""

import pytest
from django.urls import reverse

from tests.factories import ProductionUseCaseFactory
from tests.registry.test_permissions import MATRIX, PERSONAS

pytestmark = pytest.mark.django_db


@pytest.fixture
def use_case(retail):
    # As in the permission matrix: owned by someone in Retail who is none of the personas.
    return ProductionUseCaseFactory(business_unit=retail)


def test_the_use_case_page_links_to_the_confirmation_instead_of_switching(
    client, admin_user, use_case
):
    client.force_login(admin_user)
    html = client.get(use_case.get_absolute_url()).content.decode()
    confirm = reverse("registry:use-case-kill-switch", args=[use_case.pk])

    assert f'href="{confirm}"' in html
    assert f'action="{confirm}"' not in html  # no one-click switch on the page
    assert "<summary" in html and "Actions" in html


@pytest.mark.parametrize("persona", PERSONAS)
def test_the_confirmation_page_by_the_matrix(client, personas, persona, use_case):
    client.force_login(personas[persona])
    response = client.get(reverse("registry:use-case-kill-switch", args=[use_case.pk]))

    if persona in MATRIX["registry.kill_switch_usecase"]:
        assert response.status_code == 200
        html = response.content.decode()
        assert f"Switch the AI off for {use_case.reference}?" in html
        assert "What happens:" in html
        assert "Yes, switch the AI off" in html
    else:
        assert response.status_code == (404 if persona == "outsider" else 403)
    use_case.refresh_from_db()
    assert not use_case.kill_switch_engaged  # looking at the page switches nothing


def test_once_off_the_page_offers_to_switch_back_on(client, admin_user, use_case):
    client.force_login(admin_user)
    url = reverse("registry:use-case-kill-switch", args=[use_case.pk])
    # Posted straight, without the page's confirmation, it answers with the page.
    asked = client.post(url, {"engage": "1", "reason": "Wrong answers reported"})
    assert asked.status_code == 200
    assert ">Wrong answers reported</textarea>" in asked.content.decode()
    use_case.refresh_from_db()
    assert not use_case.kill_switch_engaged
    client.post(url, {"engage": "1", "reason": "Wrong answers reported", "confirm": "1"})
    use_case.refresh_from_db()
    assert use_case.kill_switch_engaged

    html = client.get(url).content.decode()
    assert "Yes, switch the AI back on" in html
    assert 'name="engage" value="0"' in html
