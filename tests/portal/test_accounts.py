import re

from django.core import mail
from django.urls import reverse

from tests.factories import PASSWORD


def test_sign_in_and_out(client, product_owner):
    response = client.post(
        reverse("login"), {"username": product_owner.username, "password": PASSWORD}
    )
    assert response.status_code == 302 and response.url == reverse("dashboard")
    assert client.get(reverse("dashboard")).status_code == 200
    client.post(reverse("logout"))
    assert client.get(reverse("dashboard")).status_code == 302


def test_wrong_password_keeps_the_user_name(client, product_owner):
    response = client.post(
        reverse("login"), {"username": product_owner.username, "password": "nope"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "didn't match" in html
    assert f'value="{product_owner.username}"' in html


def test_password_change(client, product_owner):
    client.force_login(product_owner)
    response = client.post(
        reverse("password_change"),
        {
            "old_password": PASSWORD,
            "new_password1": "a-much-longer-passphrase-2026",
            "new_password2": "a-much-longer-passphrase-2026",
        },
    )
    assert response.status_code == 302
    product_owner.refresh_from_db()
    assert product_owner.check_password("a-much-longer-passphrase-2026")


def test_password_reset_by_email(client, product_owner):
    client.post(reverse("password_reset"), {"email": product_owner.email})
    assert len(mail.outbox) == 1
    link = re.search(r"https?://[^/]+(/accounts/reset/\S+)", mail.outbox[0].body).group(1)
    form_page = client.get(link, follow=True)
    assert form_page.status_code == 200
    response = client.post(
        form_page.redirect_chain[-1][0],
        {
            "new_password1": "reset-passphrase-xyz-2026",
            "new_password2": "reset-passphrase-xyz-2026",
        },
    )
    assert response.status_code == 302
    product_owner.refresh_from_db()
    assert product_owner.check_password("reset-passphrase-xyz-2026")


def test_profile_issues_an_api_token_that_authenticates(client, product_owner):
    client.force_login(product_owner)
    response = client.post(reverse("profile"))
    token = response.context["new_token"]
    client.logout()
    api = client.get("/api/v1/use-cases/", HTTP_AUTHORIZATION=f"Token {token}")
    assert api.status_code == 200


def test_replacing_an_api_token_asks_first_and_only_the_confirmation_replaces_it(
    client, product_owner
):
    """The first token is made at once; replacing it breaks every script using it, so the
    button answers with a confirmation page and the old token works until it is confirmed."""
    client.force_login(product_owner)
    old = client.post(reverse("profile")).context["new_token"]
    asked = client.post(reverse("profile"))
    page = asked.content.decode()
    assert asked.status_code == 200 and "Replace your API token?" in page
    assert "stops working at once" in page and 'name="confirm" value="1"' in page
    assert "new_token" not in asked.context or not asked.context["new_token"]
    client.logout()
    assert client.get("/api/v1/use-cases/", HTTP_AUTHORIZATION=f"Token {old}").status_code == 200
    client.force_login(product_owner)
    new = client.post(reverse("profile"), {"confirm": "1"}).context["new_token"]
    assert new != old
    client.logout()
    assert client.get("/api/v1/use-cases/", HTTP_AUTHORIZATION=f"Token {old}").status_code == 401
    assert client.get("/api/v1/use-cases/", HTTP_AUTHORIZATION=f"Token {new}").status_code == 200
