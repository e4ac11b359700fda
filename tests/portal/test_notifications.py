"""Notifications (portal/notify.py): one in the app per person told, emailed as each chose
(immediately, a daily digest, never), read and marked read only by their own recipient; every
email names people by full name and links with SITE_URL."""

import re
from datetime import datetime, timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from assessments.models import Status
from portal import notify
from portal.models import EmailChoice, Notification, NotificationPreference, OutboxMessage
from tests.assessments.builders import move, to_status
from tests.factories import UseCaseFactory, UserFactory

pytestmark = pytest.mark.django_db


def _at(hour: int) -> datetime:
    local = timezone.localtime().replace(hour=hour, minute=5, second=0, microsecond=0)
    return local


def emails_to(address: str) -> int:
    return sum(
        1 for m in OutboxMessage.objects.filter(task=notify.SEND_EMAIL) if m.args[0] == [address]
    )


# Created and emailed as chosen ---------------------------------------------------------------
def test_each_person_told_gets_one_notification_and_an_email_if_they_chose_immediately(
    product_owner, risk_officer, dpo
):
    notify.set_preference(user=risk_officer, choice=EmailChoice.DAILY)
    notify.set_preference(user=dpo, choice=EmailChoice.OFF)
    no_address = UserFactory(email="")
    notify.email(
        [product_owner, risk_officer, dpo, no_address, product_owner, None],
        "Review due",
        "UC-0001 is due for review.\n\nhttp://testserver/register/use-cases/1/",
        url="http://127.0.0.1:8000/register/use-cases/1/",
    )
    told = Notification.objects.order_by("recipient_id")
    assert sorted(n.recipient_id for n in told) == sorted(
        [product_owner.pk, risk_officer.pk, dpo.pk, no_address.pk]
    )
    assert {n.url for n in told} == {"/register/use-cases/1/"}
    # Only the one who chose "immediately" (and has an address) is emailed now.
    assert emails_to(product_owner.email) == 1
    assert emails_to(risk_officer.email) == emails_to(dpo.email) == 0
    assert told.get(recipient=product_owner).emailed_at is not None
    assert told.get(recipient=risk_officer).emailed_at is None


def test_a_link_elsewhere_is_never_kept():
    assert notify.local_path("https://evil.example/x") == ""
    assert notify.local_path("//evil.example/x") == ""
    assert notify.local_path("/incidents/INC-0001/") == "/incidents/INC-0001/"


def test_the_daily_digest_goes_once_with_every_waiting_notification(
    settings, product_owner, risk_officer, django_capture_on_commit_callbacks
):
    settings.SITE_URL = "https://steward.example.com"
    settings.NOTIFICATION_DIGEST_HOUR = 7
    notify.set_preference(user=risk_officer, choice=EmailChoice.DAILY)
    notify.set_preference(user=product_owner, choice=EmailChoice.OFF)
    with django_capture_on_commit_callbacks(execute=True):
        notify.email([risk_officer, product_owner], "First", "One", url="/a/")
        notify.email([risk_officer], "Second", "Two", url="/b/")
    assert mail.outbox == []
    # Before the hour: nothing.
    assert notify.send_digests(now=_at(6)) == 0
    with django_capture_on_commit_callbacks(execute=True):
        assert notify.send_digests(now=_at(8)) == 1
    [digest] = mail.outbox
    assert digest.to == [risk_officer.email]
    assert "First" in digest.body and "Second" in digest.body
    assert "https://steward.example.com/a/" in digest.body
    assert risk_officer.get_full_name() in digest.body
    assert not Notification.objects.filter(recipient=risk_officer, emailed_at__isnull=True)
    # A second run the same day, or the next day with nothing new, sends nothing.
    with django_capture_on_commit_callbacks(execute=True):
        assert notify.send_digests(now=_at(9)) == 0
        assert notify.send_digests(now=_at(9) + timedelta(days=1)) == 0
    assert len(mail.outbox) == 1
    # "Off" is never emailed, not even in a digest.
    assert not [m for m in mail.outbox if product_owner.email in m.to]
    assert NotificationPreference.objects.get(user=risk_officer).digested_on is not None


def test_the_digest_task_is_scheduled(settings):
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "portal.tasks.send_digests" in tasks


# Read state: each person's own ---------------------------------------------------------------
@pytest.fixture
def told(product_owner, risk_officer):
    notify.email([product_owner], "Yours", "Body", url="/my-work/")
    notify.email([risk_officer], "Theirs", "Body", url="/my-work/")
    return {
        "product_owner": Notification.objects.get(recipient=product_owner),
        "risk_officer": Notification.objects.get(recipient=risk_officer),
    }


def test_opening_a_notification_marks_it_read_and_goes_to_what_it_is_about(
    client, product_owner, told
):
    client.force_login(product_owner)
    page = client.get("/").content.decode()
    assert "1 unread" in page
    response = client.get(reverse("notification", args=[told["product_owner"].pk]))
    assert response.status_code == 302 and response.url == "/my-work/"
    told["product_owner"].refresh_from_db()
    assert told["product_owner"].is_read
    assert "unread" not in client.get("/").content.decode().split("</nav>")[0]


def test_a_notification_without_a_local_link_is_shown(client, product_owner):
    notify.email([product_owner], "Plain", "Just text", url="https://elsewhere.example/")
    n = Notification.objects.get(recipient=product_owner)
    client.force_login(product_owner)
    response = client.get(reverse("notification", args=[n.pk]))
    assert response.status_code == 200 and "Just text" in response.content.decode()


@pytest.mark.parametrize(
    "persona",
    ["admin", "risk_officer", "product_owner", "leadership", "dpo", "auditor", "outsider"],
)
def test_nobody_reads_another_persons_notification(client, personas, persona, told):
    user = personas[persona]
    client.force_login(user)
    listing = client.get(reverse("notifications")).content.decode()
    for owner, n in told.items():
        response = client.get(reverse("notification", args=[n.pk]) + "?show=text")
        if personas[owner] == user:
            assert response.status_code == 200
            assert n.subject in listing
        else:
            assert response.status_code == 404
            assert n.subject not in listing
            n.refresh_from_db()
            assert not n.is_read


def test_mark_all_read_marks_only_ones_own(client, product_owner, told):
    client.force_login(product_owner)
    notify.email([product_owner], "Another", "Body")
    assert client.post(reverse("notifications-read-all")).status_code == 302
    assert not Notification.objects.filter(recipient=product_owner, read_at__isnull=True)
    told["risk_officer"].refresh_from_db()
    assert not told["risk_officer"].is_read
    unread = client.get(reverse("notifications") + "?show=unread").content.decode()
    assert "Nothing unread." in unread


def test_the_unread_count_is_one_query_a_page(
    client, product_owner, told, django_assert_num_queries
):
    client.force_login(product_owner)
    client.get(reverse("profile"))  # warm the session
    with CaptureQueriesContext(connection) as q:
        client.get(reverse("profile"))
    counts = [s["sql"] for s in q.captured_queries if 'FROM "portal_notification"' in s["sql"]]
    assert len(counts) == 1 and "COUNT" in counts[0].upper()


# The preference on the profile page ----------------------------------------------------------
def test_the_profile_page_saves_the_email_choice(client, product_owner):
    client.force_login(product_owner)
    page = client.get(reverse("profile")).content.decode()
    assert re.search(r'value="immediate"[^>]*checked', page)  # the default
    response = client.post(reverse("profile"), {"email": "daily"})
    assert response.status_code == 302
    assert notify.preference(product_owner) == EmailChoice.DAILY
    page = client.get(reverse("profile")).content.decode()
    assert re.search(r'value="daily"[^>]*checked', page)


def test_a_bad_choice_is_refused_with_the_error_by_the_field(client, product_owner):
    client.force_login(product_owner)
    response = client.post(reverse("profile"), {"email": "hourly"})
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert notify.preference(product_owner) == EmailChoice.IMMEDIATE


def test_the_api_token_button_still_works(client, product_owner):
    client.force_login(product_owner)
    response = client.post(reverse("profile"))
    assert response.status_code == 200 and "Your new token" in response.content.decode()


# The workflow tells people, with full names and SITE_URL links --------------------------------
def test_changes_requested_tells_the_author_in_the_app_and_by_email(
    settings,
    retail,
    product_owner,
    risk_officer,
    dpo,
    leadership,
    django_capture_on_commit_callbacks,
):
    settings.SITE_URL = "https://steward.example.com"
    use_case = UseCaseFactory(business_unit=retail, owner=product_owner)
    people = {"author": product_owner, "reviewers": [risk_officer, dpo], "approver": leadership}
    with django_capture_on_commit_callbacks(execute=True):
        a = to_status(Status.CHANGES_REQUESTED, use_case=use_case, **people)
    n = Notification.objects.filter(recipient=product_owner).latest("pk")
    assert n.subject == f"Changes requested on {a.reference}"
    assert n.url == a.get_absolute_url()
    [email] = [m for m in mail.outbox if m.subject.endswith(n.subject)]
    assert risk_officer.get_full_name() in email.body
    assert "https://steward.example.com" + a.get_absolute_url() in email.body


def test_every_email_of_a_whole_workflow_names_people_in_full_and_links_to_site_url(
    settings,
    retail,
    product_owner,
    risk_officer,
    dpo,
    leadership,
    django_capture_on_commit_callbacks,
):
    settings.SITE_URL = "https://steward.example.com"
    use_case = UseCaseFactory(business_unit=retail, owner=product_owner)
    people = {"author": product_owner, "reviewers": [risk_officer, dpo], "approver": leadership}
    with django_capture_on_commit_callbacks(execute=True):
        a = to_status(Status.SIGNED_OFF, use_case=use_case, **people)
        second = to_status(
            Status.CHANGES_REQUESTED,
            use_case=UseCaseFactory(business_unit=retail, owner=product_owner),
            **people,
        )
        move(second, product_owner, "submit")
    assert len(mail.outbox) >= 5
    for message in mail.outbox:
        links = re.findall(r"https?://\S+", message.body)
        assert links, message.subject
        assert all(link.startswith("https://steward.example.com/") for link in links), links
        for person in (product_owner, risk_officer, dpo, leadership):
            # A user name never stands for a person in an email.
            assert not re.search(rf"\b{re.escape(person.username)}\b(?!@)", message.body), (
                message.subject,
                message.body,
            )
    assert a.status == Status.SIGNED_OFF


def test_the_password_reset_email_links_with_site_url_and_names_the_person(
    client, settings, product_owner
):
    settings.SITE_URL = "https://steward.example.com"
    client.post(reverse("password_reset"), {"email": product_owner.email})
    [message] = mail.outbox
    assert "https://steward.example.com/accounts/reset/" in message.body
    assert product_owner.get_full_name() in message.body
    assert "testserver" not in message.body


# The API ---------------------------------------------------------------------------------------
def test_the_api_lists_and_marks_read_only_ones_own(client, product_owner, risk_officer, told):
    client.force_login(product_owner)
    listed = client.get("/api/v1/notifications/").json()["results"]
    assert [n["subject"] for n in listed] == ["Yours"]
    assert listed[0]["read"] is False and listed[0]["url"] == "/my-work/"
    mine, theirs = told["product_owner"], told["risk_officer"]
    assert client.get(f"/api/v1/notifications/{theirs.pk}/").status_code == 404
    assert client.post(f"/api/v1/notifications/{theirs.pk}/read/").status_code == 404
    answer = client.post(f"/api/v1/notifications/{mine.pk}/read/")
    assert answer.status_code == 200 and answer.json()["read"] is True
    assert client.get("/api/v1/notifications/?unread=true").json()["results"] == []
    theirs.refresh_from_db()
    assert not theirs.is_read
    notify.email([product_owner], "Again", "Body")
    assert client.post("/api/v1/notifications/read-all/").json() == {"marked": 1}


def test_the_api_refuses_anonymous(client):
    assert client.get("/api/v1/notifications/").status_code in (401, 403)
