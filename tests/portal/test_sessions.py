"""Sessions are read with one written statement (portal/sessions.py): the same rows count as
with Django's database sessions, and no others. Each test runs with both engines."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True, params=["portal.sessions", "django.contrib.sessions.backends.db"])
def engine(request, settings):
    settings.SESSION_ENGINE = request.param
    return request.param


def _session_reads(queries) -> int:
    return sum('FROM "django_session"' in q["sql"] for q in queries)


def test_a_signed_in_session_is_read_once_and_names_the_person(client, product_owner):
    client.force_login(product_owner)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(reverse("api-use-case-list"))
    assert response.status_code == 200
    assert response.wsgi_request.user == product_owner
    assert _session_reads(ctx.captured_queries) == 1


def test_an_expired_session_signs_no_one_in(client, product_owner):
    client.force_login(product_owner)
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    Session.objects.filter(pk=key).update(expire_date=timezone.now() - timedelta(seconds=1))

    assert client.get(reverse("api-use-case-list")).status_code == 401
    assert client.get(reverse("dashboard")).status_code == 302  # to the sign-in page


def test_an_unknown_session_key_signs_no_one_in(client, product_owner):
    client.force_login(product_owner)
    client.cookies[settings.SESSION_COOKIE_NAME] = "x" * 32
    assert client.get(reverse("api-use-case-list")).status_code == 401


def test_a_session_whose_data_was_altered_signs_no_one_in(client, product_owner):
    client.force_login(product_owner)
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    session = Session.objects.get(pk=key)
    Session.objects.filter(pk=key).update(session_data="x" + session.session_data[1:])
    assert client.get(reverse("api-use-case-list")).status_code == 401


def test_signing_in_and_out_still_writes_and_removes_the_session(client, product_owner, password):
    response = client.post(
        reverse("login"), {"username": product_owner.username, "password": password}
    )
    assert response.status_code == 302
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert Session.objects.filter(pk=key).exists()
    assert client.get(reverse("api-use-case-list")).status_code == 200

    client.post(reverse("logout"))
    assert not Session.objects.filter(pk=key).exists()
    assert client.get(reverse("api-use-case-list")).status_code == 401
