"""Telling people about their records: a notification in the app for each person, and an
email through the outbox once the change commits, as each person chose (immediately, in a
daily digest, or not at all)."""

from datetime import datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from portal import outbox
from portal.models import EmailChoice, Notification, NotificationPreference

SEND_EMAIL = "portal.tasks.send_email"
SUBJECT_LIMIT = 300
DIGEST_SUBJECT = "Your daily digest"


def name(user) -> str:
    """How an email names a person: their full name, else their user name."""
    return (user.get_full_name() or user.get_username()) if user is not None else "Someone"


def site_link(path: str) -> str:
    """An absolute link for an email: SITE_URL and the path."""
    return settings.SITE_URL.rstrip("/") + path


def local_path(url: str | None) -> str:
    """The portal path of a link (SITE_URL stripped); empty for anything that is not one, so
    opening a notification never sends anyone to another site."""
    if not url:
        return ""
    site = settings.SITE_URL.rstrip("/")
    if url.startswith(site + "/"):
        url = url[len(site) :]
    if not url.startswith("/") or url.startswith("//") or "\\" in url:
        return ""
    return url[:500]


def email(recipients, subject: str, body: str, *, url: str | None = None) -> None:
    """Tell each person: one notification in the app each (with or without an email
    address), and one email now to each whose choice is "immediately", after the current
    transaction commits. People who chose the daily digest get it in the next one; people
    who chose no email only see it in the app.

    Each address is one outbox message written with the change: a rolled-back change sends
    nothing, a broker that is down delays the mail and loses none of it, and the web request
    does not wait for the mail server.
    """
    people = {u.pk: u for u in recipients if u is not None and u.pk is not None}
    if not people:
        return
    choices = dict(
        NotificationPreference.objects.filter(user_id__in=people).values_list("user_id", "email")
    )
    now = timezone.now()
    path = local_path(url)
    now_by_email = {
        pk
        for pk, user in people.items()
        if user.email and choices.get(pk, EmailChoice.IMMEDIATE) == EmailChoice.IMMEDIATE
    }
    Notification.objects.bulk_create(
        [
            Notification(
                recipient_id=pk,
                subject=subject[:SUBJECT_LIMIT],
                body=body,
                url=path,
                created_at=now,
                emailed_at=now if pk in now_by_email else None,
            )
            for pk in sorted(people)
        ]
    )
    for address in sorted({people[pk].email for pk in now_by_email}):
        outbox.enqueue(SEND_EMAIL, [address], subject, body)


def preference(user) -> str:
    row = NotificationPreference.objects.filter(user=user).first()
    return row.email if row is not None else EmailChoice.IMMEDIATE


def set_preference(*, user, choice: str) -> NotificationPreference:
    if choice not in EmailChoice.values:
        raise ValueError(choice)
    row, _ = NotificationPreference.objects.update_or_create(user=user, defaults={"email": choice})
    return row


def unread_count(user) -> int:
    return Notification.objects.filter(recipient=user, read_at__isnull=True).count()


def mark_read(notification: Notification) -> None:
    if notification.read_at is None:
        notification.read_at = timezone.now()
        Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(
            read_at=notification.read_at
        )


def mark_all_read(user) -> int:
    return Notification.objects.filter(recipient=user, read_at__isnull=True).update(
        read_at=timezone.now()
    )


def send_digests(*, now: datetime | None = None) -> int:
    """Email each person who chose the daily digest one message listing what they were told
    and not yet emailed, once a local day, from NOTIFICATION_DIGEST_HOUR on; how many were
    sent. The notifications are marked emailed in the same transaction as the outbox message,
    so a second run sends nothing and a rolled-back one sends nothing either."""
    now = now or timezone.now()
    local = timezone.localtime(now)
    if local.hour < settings.NOTIFICATION_DIGEST_HOUR:
        return 0
    today = local.date()
    User = get_user_model()
    daily = NotificationPreference.objects.filter(email=EmailChoice.DAILY).exclude(
        digested_on=today
    )
    sent = 0
    for pk in daily.values_list("user_id", flat=True).order_by("user_id"):
        with transaction.atomic():
            pref = (
                NotificationPreference.objects.select_for_update()
                .filter(user_id=pk, email=EmailChoice.DAILY)
                .first()
            )
            if pref is None or pref.digested_on == today:
                continue
            pref.digested_on = today
            pref.save(update_fields=["digested_on"])
            user = User.objects.filter(pk=pk, is_active=True).exclude(email="").first()
            waiting = list(
                Notification.objects.filter(recipient_id=pk, emailed_at__isnull=True).order_by(
                    "created_at", "pk"
                )
            )
            if user is None or not waiting:
                continue
            outbox.enqueue(SEND_EMAIL, [user.email], DIGEST_SUBJECT, digest_body(user, waiting))
            Notification.objects.filter(pk__in=[n.pk for n in waiting]).update(emailed_at=now)
            sent += 1
    return sent


def digest_body(user, notifications: list[Notification]) -> str:
    lines = [
        f"Hello {name(user)},",
        "",
        f"What {settings.SITE_NAME} told you since your last digest "
        f"({len(notifications)} notification{'s' if len(notifications) != 1 else ''}):",
        "",
    ]
    for n in notifications:
        lines.append(f"- {timezone.localtime(n.created_at):%d %b %H:%M}  {n.subject}")
        if n.url:
            lines.append(f"  {site_link(n.url)}")
    lines += [
        "",
        f"All your notifications: {site_link(reverse('notifications'))}",
        f"Change how you are emailed: {site_link(reverse('profile'))}",
    ]
    return "\n".join(lines)
