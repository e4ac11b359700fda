"""The signed-in person's roles and units are read with the person, in the same query.

Whether they come from a session (portal.access.AccessBackend) or an API token
(portal.api.TokenAuthentication), the request asks the database once for who is asking and
what they may see, and the answer is the same as reading the groups and units apart.
"""

import pytest
from django.contrib.auth import BACKEND_SESSION_KEY, get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from portal.access import AccessBackend, access_for, roles_and_units
from portal.models import Role

pytestmark = pytest.mark.django_db


def _asked_for_roles_apart(queries) -> bool:
    return any("UNION" in q["sql"] and "auth_group" in q["sql"] for q in queries)


@pytest.mark.parametrize("persona", ["product_owner", "auditor", "admin", "outsider"])
def test_the_backend_reads_the_same_access_as_the_groups_and_units(personas, persona, corporate):
    person = personas[persona]
    corporate.members.add(person)  # two units for some
    person.groups.add(Group.objects.get_or_create(name="legal")[0])

    with CaptureQueriesContext(connection) as ctx:
        user = AccessBackend().get_user(person.pk)
        access = access_for(user)

    assert len(ctx.captured_queries) == 1
    assert (access.roles, access.unit_ids) == roles_and_units(person)
    assert access.superuser == person.is_superuser


def test_an_inactive_person_is_no_one(product_owner):
    product_owner.is_active = False
    product_owner.save()
    assert AccessBackend().get_user(product_owner.pk) is None


def test_a_session_request_reads_the_person_and_their_access_in_one_query(
    client, product_owner, retail
):
    client.force_login(product_owner)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(reverse("api-use-case-list"))
    assert response.status_code == 200
    assert not _asked_for_roles_apart(ctx.captured_queries)
    person = [q for q in ctx.captured_queries if '"auth_user"' in q["sql"].split("FROM")[-1]]
    assert len(person) == 1


def test_a_token_request_reads_token_person_and_access_in_one_query(product_owner):
    token = Token.objects.create(user=product_owner)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    with CaptureQueriesContext(connection) as ctx:
        response = api.get(reverse("api-use-case-list"))
    assert response.status_code == 200
    assert not _asked_for_roles_apart(ctx.captured_queries)
    assert sum("authtoken_token" in q["sql"] for q in ctx.captured_queries) == 1


def test_a_token_of_someone_deactivated_is_refused(product_owner):
    token = Token.objects.create(user=product_owner)
    product_owner.is_active = False
    product_owner.save(update_fields=["is_active"])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert api.get(reverse("api-use-case-list")).status_code == 401


def test_a_role_given_between_requests_counts_on_the_next(client, auditor, retail):
    """Nothing is kept from one request to the next: access is read with each request."""
    client.force_login(auditor)
    url = reverse("api-use-case-list")
    assert client.post(url, {}, content_type="application/json").status_code == 403
    auditor.groups.set([Group.objects.get(name=Role.PRODUCT_OWNER)])
    retail.members.add(auditor)
    assert client.post(url, {}, content_type="application/json").status_code == 400


def test_a_session_signed_in_before_the_access_backend_stays_signed_in(client, product_owner):
    """Sessions from before AccessBackend name Django's ModelBackend: after the upgrade they
    still sign the person in (portal.middleware.SessionBackendUpgradeMiddleware), now
    through AccessBackend, rather than sending everyone to the sign-in page."""
    client.force_login(product_owner, backend="django.contrib.auth.backends.ModelBackend")
    assert client.session[BACKEND_SESSION_KEY] == "django.contrib.auth.backends.ModelBackend"
    page = client.get(reverse("dashboard"))
    assert page.status_code == 200
    assert page.wsgi_request.user == product_owner
    assert client.session[BACKEND_SESSION_KEY] == "portal.access.AccessBackend"
    assert client.get(reverse("dashboard")).status_code == 200


def test_the_backend_reads_the_person_as_the_orm_does(product_owner, password):
    """The backend's written SQL gives the same person, field for field, as the ORM."""
    product_owner.last_login = timezone.now()
    product_owner.email = "po@example.com"
    product_owner.save()
    user = AccessBackend().get_user(product_owner.pk)
    expected = get_user_model().objects.get(pk=product_owner.pk)

    fields = [f.attname for f in get_user_model()._meta.concrete_fields]
    assert {f: getattr(user, f) for f in fields} == {f: getattr(expected, f) for f in fields}
    assert (user._state.db, user._state.adding) == (expected._state.db, False)
    assert user.check_password(password)


def test_a_session_naming_no_one_is_no_one(product_owner):
    assert AccessBackend().get_user(product_owner.pk + 10_000) is None
