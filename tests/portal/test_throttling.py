"""Limits on guessing (portal/throttle.py): sign-in, the admin's sign-in, the sign-off's
password, password resets, and the API per token."""

import logging
import time

import pytest
from django.core import mail
from django.urls import reverse
from rest_framework.authtoken.models import Token

from assessments.models import SignOff, Status
from portal import throttle
from portal.models import AttemptCount
from tests.assessments.builders import to_status
from tests.concurrency import run_together
from tests.factories import PASSWORD, UseCaseFactory, UserFactory

pytestmark = pytest.mark.django_db

LOCKED = "Too many attempts; try again in 15 minutes."


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.SIGN_IN_MAX_FAILURES = 5
    settings.SIGN_IN_LOCKOUT_MINUTES = 15
    settings.PASSWORD_RESET_MAX_REQUESTS = 3
    settings.PASSWORD_RESET_WINDOW_MINUTES = 60


def sign_in(client, username, password, url=None):
    return client.post(url or reverse("login"), {"username": username, "password": password})


def test_sign_in_is_refused_after_five_failures_even_with_the_right_password(
    client, product_owner, caplog
):
    for _ in range(5):
        assert "match" in sign_in(client, product_owner.username, "guess").text
    with caplog.at_level(logging.WARNING, logger="steward.security"):
        response = sign_in(client, product_owner.username, PASSWORD)
    assert response.status_code == 200
    assert LOCKED in response.text
    assert client.get(reverse("dashboard")).status_code == 302  # not signed in
    assert any("sign-in" in r.getMessage() for r in caplog.records)


def test_the_count_is_per_person_and_a_success_clears_it(client, product_owner, risk_officer):
    for _ in range(5):
        sign_in(client, risk_officer.username, "guess")
    # Someone else is not affected by another person's lock.
    assert sign_in(client, product_owner.username, PASSWORD).status_code == 302
    client.logout()
    for _ in range(4):
        sign_in(client, product_owner.username, "guess")
    assert sign_in(client, product_owner.username, PASSWORD).status_code == 302
    client.logout()
    for _ in range(4):
        sign_in(client, product_owner.username, "guess")
    assert sign_in(client, product_owner.username, PASSWORD).status_code == 302


def test_the_user_name_is_counted_whatever_its_case(client, product_owner):
    for _ in range(5):
        sign_in(client, product_owner.username.upper(), "guess")
    assert LOCKED in sign_in(client, product_owner.username, PASSWORD).text


def test_the_admin_sign_in_is_limited_too(client, retail):
    staff = UserFactory(is_staff=True, is_superuser=True, units=[retail])
    url = reverse("admin:login")
    for _ in range(5):
        assert sign_in(client, staff.username, "guess", url).status_code == 200
    response = sign_in(client, staff.username, PASSWORD, url)
    assert response.status_code == 200
    assert LOCKED in response.text
    assert client.get(reverse("admin:index")).status_code == 302


def test_the_sign_off_password_is_limited(client, retail, product_owner, risk_officer, dpo):
    leadership = UserFactory(roles=["leadership"], units=[retail])
    use_case = UseCaseFactory(business_unit=retail, owner=product_owner)
    a = to_status(
        Status.APPROVED,
        use_case=use_case,
        author=product_owner,
        reviewers=[risk_officer, dpo],
        approver=leadership,
    )
    client.force_login(leadership)
    url = reverse("assessments:sign-off", args=[a.pk])
    for _ in range(5):
        response = client.post(url, {"password": "guess", "note": ""})
        assert "Enter your own password to sign." in response.text
    response = client.post(url, {"password": PASSWORD, "note": ""})
    assert LOCKED in response.text
    assert not SignOff.objects.filter(assessment=a).exists()
    a.refresh_from_db()
    assert a.status == Status.APPROVED


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_guesses_sent_at_once_try_no_more_passwords_than_the_limit(retail):
    """Twenty wrong passwords sent together, each from its own connection: five are tried,
    fifteen refused. (Reading the count and writing it back let every one of them read the
    same count and be tried.)"""
    person = UserFactory(units=[retail])

    def guess() -> str:
        try:
            tried = throttle.check_password(throttle.SIGN_OFF_PASSWORD, person, "guess")
        except throttle.TooManyAttempts:
            return "refused"
        return "right" if tried else "wrong"

    outcomes = run_together(guess, n=20)
    assert sorted(outcomes) == ["refused"] * 15 + ["wrong"] * 5
    # The right password is refused too until the window is over.
    with pytest.raises(throttle.TooManyAttempts):
        throttle.check_password(throttle.SIGN_OFF_PASSWORD, person, PASSWORD)


def test_a_window_that_is_over_starts_again_and_old_counts_are_pruned(product_owner):
    limit = throttle.SIGN_OFF_PASSWORD
    who = str(product_owner.pk)
    for _ in range(5):
        assert not throttle.check_password(limit, product_owner, "guess")
    with pytest.raises(throttle.TooManyAttempts):
        limit.check(who)
    # The window began 15 minutes ago and more: the next attempt starts a new one.
    AttemptCount.objects.update(started=time.time() - 15 * 60 - 1)
    assert throttle.check_password(limit, product_owner, PASSWORD)
    assert not AttemptCount.objects.exists()  # a success clears the count
    assert limit.attempt(who) == 1
    # A day after its window began, a count is removed by the daily prune; a fresh one stays.
    AttemptCount.objects.update(started=time.time() - 86_401)
    limit.attempt("someone else")
    assert throttle.prune() == 1
    assert AttemptCount.objects.count() == 1


def test_a_count_is_kept_while_its_window_lasts_even_past_a_day(settings, product_owner):
    settings.SIGN_IN_LOCKOUT_MINUTES = 3 * 24 * 60  # a three-day lock, set by the firm
    for _ in range(5):
        assert not throttle.check_password(throttle.SIGN_OFF_PASSWORD, product_owner, "guess")
    AttemptCount.objects.update(started=time.time() - 2 * 86_400)
    assert throttle.prune() == 0
    with pytest.raises(throttle.TooManyAttempts):
        throttle.check_password(throttle.SIGN_OFF_PASSWORD, product_owner, PASSWORD)


def test_guessing_at_a_locked_person_writes_nothing(client, product_owner):
    for _ in range(5):
        sign_in(client, product_owner.username, "guess")
    (count,) = AttemptCount.objects.values_list("count", flat=True)
    for _ in range(3):
        assert LOCKED in sign_in(client, product_owner.username, "guess").text
    # Refused by a read: the count (and the database's one write lock on SQLite) untouched.
    assert list(AttemptCount.objects.values_list("count", flat=True)) == [count]


def test_password_reset_emails_are_limited_per_address(client, product_owner):
    for _ in range(3):
        response = client.post(reverse("password_reset"), {"email": product_owner.email})
        assert response.status_code == 302
    response = client.post(reverse("password_reset"), {"email": product_owner.email})
    assert response.status_code == 200
    assert "Too many attempts; try again in 60 minutes." in response.text
    assert len(mail.outbox) == 3
    # An address nobody has is limited the same way, so the refusal tells nothing.
    for _ in range(3):
        client.post(reverse("password_reset"), {"email": "nobody@example.com"})
    assert (
        "Too many attempts"
        in client.post(reverse("password_reset"), {"email": "nobody@example.com"}).text
    )


def test_the_api_answers_429_with_retry_after_beyond_the_rate_per_token(
    client, settings, product_owner, risk_officer
):
    settings.API_RATE_PER_TOKEN = "3/minute"
    token = Token.objects.create(user=product_owner)
    other = Token.objects.create(user=risk_officer)
    url = "/api/v1/use-cases/"
    for _ in range(3):
        assert client.get(url, HTTP_AUTHORIZATION=f"Token {token.key}").status_code == 200
    refused = client.get(url, HTTP_AUTHORIZATION=f"Token {token.key}")
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 60
    assert refused.json()["detail"].startswith("Too many requests for this token.")
    # Another person's token has its own count.
    assert client.get(url, HTTP_AUTHORIZATION=f"Token {other.key}").status_code == 200
