"""Refusals and errors are pages in the portal's own style that say what to do next, not
Django's bare defaults; the sign-in page is titled after the portal, not the host name."""

import pytest
from django.test import RequestFactory
from django.urls import reverse
from django.views.defaults import server_error

pytestmark = pytest.mark.django_db


def test_a_missing_page_says_what_to_do_next(client, product_owner):
    client.force_login(product_owner)
    response = client.get("/register/use-cases/999999/")

    assert response.status_code == 404
    html = response.content.decode()
    assert "We cannot find that page" in html
    assert "What you can do" in html
    assert f'href="{reverse("dashboard")}"' in html
    assert "steward.css" in html  # the portal's layout, with its navigation
    assert 'aria-label="Main"' in html


def test_a_missing_page_offers_sign_in_to_someone_signed_out(client):
    response = client.get("/no-such-page/")

    assert response.status_code == 404
    assert f"{reverse('login')}?next=/no-such-page/" in response.content.decode()


def test_a_refusal_says_what_to_do_next(client, product_owner):
    client.force_login(product_owner)
    response = client.get(reverse("people:person-list"))

    assert response.status_code == 403
    html = response.content.decode()
    assert "You may not do that here" in html
    assert "ask an admin" in html
    assert f'href="{reverse("profile")}"' in html


def test_a_server_error_page_needs_nothing_but_the_template():
    response = server_error(RequestFactory().get("/"))

    assert response.status_code == 500
    html = response.content.decode()
    assert "Something went wrong on our side" in html
    assert "What you can do" in html
    assert "steward.css" in html


def test_the_sign_in_page_is_titled_after_the_portal(client, settings):
    settings.SITE_NAME = "Acme Steward"
    html = client.get(reverse("login"), HTTP_HOST="127.0.0.1").content.decode()

    assert "<title>Sign in · Acme Steward</title>" in html
