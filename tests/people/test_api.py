"""People through the API: the same services as the pages, 4xx with field errors."""

from django.contrib.auth import get_user_model
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from portal.models import Role
from tests.factories import UserFactory
from tests.people.conftest import link_in

User = get_user_model()


def _api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_inviting_through_the_api_emails_a_link(admin_user, retail, sent, settings):
    settings.SITE_URL = "https://steward.example.com/"
    response, emails = sent(
        lambda: _api(admin_user).post(
            reverse("api-person-list"),
            {
                "email": "ivy@example.com",
                "first_name": "Ivy",
                "roles": ["risk_officer"],
                "business_units": [retail.pk],
                "reason": "New hire",
            },
            format="json",
        )
    )
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "invited" and body["roles"] == ["risk_officer"]
    assert body["business_units"] == [retail.pk]
    assert body["invitation"]["state"] == "pending"
    assert link_in(emails[0]).startswith("https://steward.example.com/people/join/")


def test_bad_input_answers_400_with_field_errors(admin_user, product_owner):
    client = _api(admin_user)
    response = client.post(
        reverse("api-person-list"),
        {"email": "not-an-email", "roles": ["emperor"], "business_units": [999999]},
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()) == {"email", "roles", "business_units"}

    taken = client.post(reverse("api-person-list"), {"email": product_owner.email}, format="json")
    assert taken.status_code == 400 and "email" in taken.json()

    no_reason = client.patch(
        reverse("api-person-detail", args=[product_owner.pk]), {"roles": []}, format="json"
    )
    assert no_reason.status_code == 400 and "reason" in no_reason.json()


def test_editing_through_the_api_is_in_the_history(admin_user, product_owner, corporate):
    response = _api(admin_user).patch(
        reverse("api-person-detail", args=[product_owner.pk]),
        {"roles": ["dpo"], "business_units": [corporate.pk], "reason": "Now the DPO"},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["roles"] == ["dpo"]
    version = product_owner.history.first()
    assert version.history_user == admin_user
    assert version.history_change_reason.endswith(": Now the DPO")
    assert corporate.history.first().history_change_reason.endswith("added: Now the DPO")


def test_deactivating_yourself_or_twice_answers_400(admin_user, product_owner, retail):
    client = _api(admin_user)
    me = client.post(
        reverse("api-person-deactivate", args=[admin_user.pk]), {"reason": "x"}, format="json"
    )
    assert me.status_code == 400 and "yourself" in str(me.json())

    url = reverse("api-person-deactivate", args=[product_owner.pk])
    assert client.post(url, {}, format="json").json() == {"reason": ["This field is required."]}
    assert client.post(url, {"reason": "Left"}, format="json").status_code == 200
    again = client.post(url, {"reason": "Left"}, format="json")
    assert again.status_code == 400 and "already deactivated" in str(again.json())


def test_a_deactivated_persons_api_token_is_refused(admin_user, product_owner):
    token = Token.objects.create(user=product_owner)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert client.get(reverse("api-use-case-list")).status_code == 200

    _api(admin_user).post(
        reverse("api-person-deactivate", args=[product_owner.pk]),
        {"reason": "Left the firm"},
        format="json",
    )
    assert client.get(reverse("api-use-case-list")).status_code in (401, 403)

    # Reactivated, they need a new token: the old one does not come back.
    _api(admin_user).post(
        reverse("api-person-reactivate", args=[product_owner.pk]),
        {"reason": "Came back"},
        format="json",
    )
    assert client.get(reverse("api-use-case-list")).status_code in (401, 403)


def test_the_list_reads_everyone_in_a_fixed_number_of_queries(
    admin_user, retail, django_assert_max_num_queries
):
    for _ in range(20):
        UserFactory(roles=[Role.PRODUCT_OWNER], units=[retail])
    client = _api(admin_user)
    with django_assert_max_num_queries(10):
        response = client.get(reverse("api-person-list"))
    assert response.status_code == 200


def test_sending_a_new_invitation_through_the_api(admin_user, sent):
    client = _api(admin_user)
    person = client.post(reverse("api-person-list"), {"email": "ro@example.com"}, format="json")
    url = reverse("api-person-invitation", args=[person.json()["id"]])
    response, emails = sent(lambda: client.post(url, format="json"))
    assert response.status_code == 200 and response.json()["status"] == "invited"
    assert [m.to for m in emails] == [["ro@example.com"]] and link_in(emails[0])


def test_a_role_name_with_a_nul_character_in_a_form_body_is_a_400(admin_user):
    api = APIClient()
    api.force_authenticate(admin_user)
    answer = api.patch(
        f"/api/v1/people/{admin_user.pk}/",
        {"roles": ["admin\x00"], "reason": "x"},
        format="multipart",
    )
    assert answer.status_code == 400
