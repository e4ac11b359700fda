"""Only admins manage people and business units: every page and endpoint, as each persona.

Admins get the page or the change; everyone else gets a 403 and changes nothing; someone
signed out is sent to sign in (pages) or refused (API).
"""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.urls import reverse
from rest_framework.test import APIClient

from people import services
from portal.models import Role
from registry.models import BusinessUnit
from tests.factories import UserFactory

User = get_user_model()

NON_ADMINS = ["risk_officer", "product_owner", "leadership", "dpo", "auditor", "outsider"]


def _target(retail, *, active=True):
    person = UserFactory(username="tom.target", roles=[Role.PRODUCT_OWNER], units=[retail])
    if not active:
        person.is_active = False
        person.save()
    return person


def _new_person_form(retail):
    return {
        "email": "new.person@example.com",
        "first_name": "New",
        "roles": [Group.objects.get(name=Role.DPO).pk],
        "units": [retail.pk],
    }


# (name, method, url, data, admin's answer); url and data are functions of (target, unit).
PAGES = [
    ("list", "get", lambda t, u: reverse("people:person-list"), None, 200),
    ("invite form", "get", lambda t, u: reverse("people:person-invite"), None, 200),
    (
        "invite",
        "post",
        lambda t, u: reverse("people:person-invite"),
        lambda t, u: _new_person_form(u),
        302,
    ),
    ("detail", "get", lambda t, u: reverse("people:person-detail", args=[t.pk]), None, 200),
    ("edit form", "get", lambda t, u: reverse("people:person-edit", args=[t.pk]), None, 200),
    (
        "edit",
        "post",
        lambda t, u: reverse("people:person-edit", args=[t.pk]),
        lambda t, u: {"email": t.email, "roles": [], "units": [], "reason": "Restructure"},
        302,
    ),
    (
        "deactivate",
        "post",
        lambda t, u: reverse("people:person-deactivate", args=[t.pk]),
        lambda t, u: {"reason": "Left"},
        302,
    ),
    (
        "reactivate form",
        "get",
        lambda t, u: reverse("people:person-reactivate", args=[t.pk]),
        None,
        200,
    ),
    ("resend", "post", lambda t, u: reverse("people:person-resend", args=[t.pk]), {}, 302),
    ("units", "get", lambda t, u: reverse("people:unit-list"), None, 200),
    (
        "add unit",
        "post",
        lambda t, u: reverse("people:unit-create"),
        lambda t, u: {"name": "Wealth", "code": "WEALTH"},
        302,
    ),
    (
        "edit unit",
        "post",
        lambda t, u: reverse("people:unit-edit", args=[u.pk]),
        lambda t, u: {"name": "Renamed", "code": u.code},
        302,
    ),
]

API = [
    ("list", "get", lambda t, u: reverse("api-person-list"), None, 200),
    ("retrieve", "get", lambda t, u: reverse("api-person-detail", args=[t.pk]), None, 200),
    (
        "invite",
        "post",
        lambda t, u: reverse("api-person-list"),
        lambda t, u: {"email": "new.person@example.com", "roles": ["dpo"]},
        201,
    ),
    (
        "edit",
        "patch",
        lambda t, u: reverse("api-person-detail", args=[t.pk]),
        lambda t, u: {"roles": ["auditor"], "business_units": [], "reason": "Now audits"},
        200,
    ),
    (
        "deactivate",
        "post",
        lambda t, u: reverse("api-person-deactivate", args=[t.pk]),
        lambda t, u: {"reason": "Left"},
        200,
    ),
    (
        "resend",
        "post",
        lambda t, u: reverse("api-person-invitation", args=[t.pk]),
        {},
        400,  # the target has a password: refused for what it is, not for who asks
    ),
    (
        "add unit",
        "post",
        lambda t, u: reverse("api-business-unit-list"),
        lambda t, u: {"name": "Wealth", "code": "WEALTH"},
        201,
    ),
    (
        "edit unit",
        "patch",
        lambda t, u: reverse("api-business-unit-detail", args=[u.pk]),
        lambda t, u: {"name": "Renamed"},
        200,
    ),
]


def _snapshot(target):
    target.refresh_from_db()
    return (
        User.objects.count(),
        BusinessUnit.objects.count(),
        sorted(BusinessUnit.objects.values_list("name", flat=True)),
        target.is_active,
        sorted(target.groups.values_list("name", flat=True)),
        target.history.count(),
        target.invitations.count(),
    )


def _call(client, method, url, data, *, api: bool):
    kwargs = {"format": "json"} if api else {}
    return (
        getattr(client, method)(url, data, **kwargs)
        if data is not None
        else getattr(client, method)(url)
    )


def _resolve(data, target, unit):
    return data(target, unit) if callable(data) else data


@pytest.mark.parametrize("persona", ["admin", *NON_ADMINS])
@pytest.mark.parametrize("name, method, url, data, admin_status", PAGES, ids=[p[0] for p in PAGES])
def test_people_pages_by_persona(
    client, personas, retail, persona, name, method, url, data, admin_status
):
    user = personas[persona]  # made before the snapshot: what the request changes is compared
    target = _target(retail)
    before = _snapshot(target)
    client.force_login(user)
    response = _call(client, method, url(target, retail), _resolve(data, target, retail), api=False)
    if persona == "admin":
        assert response.status_code == admin_status, response.content.decode()[:2000]
    else:
        assert response.status_code == 403
        assert _snapshot(target) == before


@pytest.mark.parametrize("persona", ["admin", *NON_ADMINS])
@pytest.mark.parametrize("name, method, url, data, admin_status", API, ids=[a[0] for a in API])
def test_people_api_by_persona(personas, retail, persona, name, method, url, data, admin_status):
    user = personas[persona]  # made before the snapshot: what the request changes is compared
    target = _target(retail)
    before = _snapshot(target)
    client = APIClient()
    client.force_authenticate(user)
    response = _call(client, method, url(target, retail), _resolve(data, target, retail), api=True)
    if persona == "admin":
        assert response.status_code == admin_status, response.content.decode()[:2000]
    else:
        assert response.status_code == 403
        assert _snapshot(target) == before


def test_reactivating_by_persona(client, personas, retail):
    target = _target(retail, active=False)
    url = reverse("people:person-reactivate", args=[target.pk])
    for persona in NON_ADMINS:
        client.force_login(personas[persona])
        assert client.post(url, {"reason": "Back"}).status_code == 403
        api = APIClient()
        api.force_authenticate(personas[persona])
        api_url = reverse("api-person-reactivate", args=[target.pk])
        assert api.post(api_url, {"reason": "Back"}, format="json").status_code == 403
    target.refresh_from_db()
    assert not target.is_active
    client.force_login(personas["admin"])
    assert client.post(url, {"reason": "Back"}).status_code == 302
    target.refresh_from_db()
    assert target.is_active


@pytest.mark.parametrize("name, method, url, data, admin_status", PAGES, ids=[p[0] for p in PAGES])
def test_signed_out_people_are_sent_to_sign_in(
    client, retail, name, method, url, data, admin_status
):
    target = _target(retail)
    response = _call(client, method, url(target, retail), _resolve(data, target, retail), api=False)
    assert response.status_code == 302 and reverse("login") in response.url


def test_signed_out_api_calls_are_refused(retail):
    target = _target(retail)
    client = APIClient()
    assert client.get(reverse("api-person-list")).status_code in (401, 403)
    deactivate = reverse("api-person-deactivate", args=[target.pk])
    assert client.post(deactivate, {"reason": "x"}, format="json").status_code in (401, 403)
    target.refresh_from_db()
    assert target.is_active


def test_the_invitation_link_needs_no_sign_in_and_no_role(client, admin_user, retail):
    person = services.person_invite(actor=admin_user, email="x@example.com")
    token = services.invitation_token(person.invitations.get())
    assert client.get(reverse("people:join", args=[token])).status_code == 200
