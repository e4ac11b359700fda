"""Inviting people: the email, the one-time link, sending it again, and what an expired,
used or withdrawn link says."""

from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from people import services
from people.models import Invitation
from portal.models import Role
from tests.factories import UserFactory
from tests.people.conftest import link_in

User = get_user_model()
NEW_PASSWORD = "a-long-new-passphrase-42"


def _path(link: str) -> str:
    return urlsplit(link).path


def _invite(admin_user, retail, email="nina.new@example.com"):
    return services.person_invite(
        actor=admin_user,
        email=email,
        first_name="Nina",
        last_name="New",
        roles=[Group.objects.get(name=Role.RISK_OFFICER)],
        units=[retail],
        reason="Joins the risk team",
    )


def _accept(client, link: str, password: str = NEW_PASSWORD):
    return client.post(
        _path(link), {"new_password1": password, "new_password2": password}, follow=True
    )


def test_invited_person_sets_a_password_and_signs_in(client, admin_user, retail, sent, settings):
    settings.SITE_URL = "https://steward.example.com"
    client.force_login(admin_user)
    response, emails = sent(
        lambda: client.post(
            reverse("people:person-invite"),
            {
                "email": "Nina.New@Example.com",
                "first_name": "Nina",
                "last_name": "New",
                "roles": [Group.objects.get(name=Role.RISK_OFFICER).pk],
                "units": [retail.pk],
                "reason": "Joins the risk team",
            },
        )
    )
    person = User.objects.get(email="nina.new@example.com")
    assert response.status_code == 302 and response.url == reverse(
        "people:person-detail", args=[person.pk]
    )
    assert not person.has_usable_password()
    assert [m.to for m in emails] == [["nina.new@example.com"]]
    link = link_in(emails[0])
    assert link.startswith("https://steward.example.com/people/join/")
    assert "nina.new@example.com" in emails[0].body  # the user name to sign in with

    client.logout()
    page = client.get(_path(link))
    assert page.status_code == 200 and "nina.new@example.com" in page.content.decode()
    done = _accept(client, link)
    assert "Your password is set" in done.content.decode()

    assert client.login(username="nina.new@example.com", password=NEW_PASSWORD)
    assert client.get(reverse("registry:use-case-list")).status_code == 200
    person.refresh_from_db()
    assert set(person.groups.values_list("name", flat=True)) == {Role.RISK_OFFICER}
    assert list(person.business_units.all()) == [retail]


def test_a_used_link_says_so_and_changes_nothing(client, admin_user, retail, sent):
    _, emails = sent(lambda: _invite(admin_user, retail))
    link = link_in(emails[0])
    _accept(client, link)
    client.logout()

    again = client.post(
        _path(link), {"new_password1": "someone-else-9x!", "new_password2": "someone-else-9x!"}
    )
    assert again.status_code == 410
    assert "already been used" in again.content.decode()
    assert client.login(username="nina.new@example.com", password=NEW_PASSWORD)


def test_an_expired_link_says_so_and_a_new_invitation_works(client, admin_user, retail, sent):
    person, emails = sent(lambda: _invite(admin_user, retail))
    old_link = link_in(emails[0])
    Invitation.objects.filter(person=person).update(expires_at=timezone.now())

    page = client.get(_path(old_link))
    assert page.status_code == 410
    assert "expired" in page.content.decode() and "Ask an admin" in page.content.decode()

    client.force_login(admin_user)
    _, emails = sent(lambda: client.post(reverse("people:person-resend", args=[person.pk])))
    new_link = link_in(emails[0])
    assert new_link != old_link
    client.logout()
    _accept(client, new_link)
    assert client.login(username=person.username, password=NEW_PASSWORD)


def test_sending_again_withdraws_the_earlier_link(client, admin_user, retail, sent):
    person, emails = sent(lambda: _invite(admin_user, retail))
    first = link_in(emails[0])
    _, emails = sent(lambda: services.invitation_resend(actor=admin_user, person=person))
    second = link_in(emails[0])

    refused = client.get(_path(first))
    assert refused.status_code == 410 and "newer invitation" in refused.content.decode()
    assert client.get(_path(second)).status_code == 200


def test_a_tampered_link_is_not_valid(client, admin_user, retail, sent):
    _, emails = sent(lambda: _invite(admin_user, retail))
    link = link_in(emails[0])
    response = client.get(_path(link).replace("/join/", "/join/x"))
    assert response.status_code == 400 and "not valid" in response.content.decode()


def test_a_deactivated_persons_link_stops_working(client, admin_user, retail, sent):
    person, emails = sent(lambda: _invite(admin_user, retail))
    services.person_deactivate(actor=admin_user, person=person, reason="Did not join after all")
    response = client.get(_path(link_in(emails[0])))
    assert response.status_code == 410 and "deactivated" in response.content.decode()


def test_a_weak_password_is_refused_and_the_link_still_works(client, admin_user, retail, sent):
    person, emails = sent(lambda: _invite(admin_user, retail))
    link = link_in(emails[0])
    response = client.post(_path(link), {"new_password1": "abc", "new_password2": "abc"})
    assert response.status_code == 200 and "too short" in response.content.decode()
    person.refresh_from_db()
    assert not person.has_usable_password()
    _accept(client, link)
    assert client.login(username=person.username, password=NEW_PASSWORD)


def test_someone_made_without_a_password_elsewhere_can_be_invited(client, admin_user, sent):
    # e.g. made in the Django admin or the shell, as before this page existed
    person = UserFactory(username="old.timer", email="old@example.com", password=None)
    person.set_unusable_password()
    person.save()
    client.force_login(admin_user)
    detail = client.get(reverse("people:person-detail", args=[person.pk])).content.decode()
    assert "Send an invitation" in detail

    _, emails = sent(lambda: client.post(reverse("people:person-resend", args=[person.pk])))
    client.logout()
    _accept(client, link_in(emails[0]))
    assert client.login(username="old.timer", password=NEW_PASSWORD)


def test_someone_with_a_password_is_not_sent_an_invitation(client, admin_user, product_owner, sent):
    client.force_login(admin_user)
    response, emails = sent(
        lambda: client.post(reverse("people:person-resend", args=[product_owner.pk]), follow=True)
    )
    assert emails == []
    assert "already set a password" in response.content.decode()


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("email", "pat.owner@example.com", "already has this email"),
        ("username", "pat.owner", "user name is taken"),
    ],
)
def test_inviting_a_taken_address_keeps_what_was_typed(
    client, admin_user, product_owner, field, value, message
):
    client.force_login(admin_user)
    data = {"email": "fresh@example.com", "first_name": "Frieda", "username": "", field: value}
    response = client.post(reverse("people:person-invite"), data)
    html = response.content.decode()
    assert response.status_code == 200 and message in html
    assert 'value="Frieda"' in html and f'value="{value}"' in html
    assert not User.objects.filter(first_name="Frieda").exists()
