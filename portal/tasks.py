from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.utils import timezone

from portal import idempotency, notify, outbox, throttle
from portal.ledger import chain
from portal.models import Heartbeat


@shared_task(name="portal.tasks.send_email")
def send_email(addresses: list[str], subject: str, body: str) -> int:
    """One message per address, so people never see each other's addresses. Queued through
    the outbox one address per message, so a retry never sends anyone a second copy."""
    sent = 0
    for address in addresses:
        sent += send_mail(f"[Steward] {subject}", body, settings.DEFAULT_FROM_EMAIL, [address])
    return sent


@shared_task(name="portal.tasks.seal_ledger")
def seal_ledger() -> int:
    """Chain ledger entries not chained yet; how many were sealed."""
    return chain.seal(full=True)


@shared_task(name=outbox.RUN_TASK, acks_late=True)
def run_outbox_message(message_id: int) -> str:
    """Carry out one side effect from the outbox (the relay queues this)."""
    return outbox.run_message(message_id)


@shared_task(name="portal.tasks.relay_outbox")
def relay_outbox() -> int:
    """Hand the outbox's pending side effects to the broker (beat, every few seconds)."""
    return outbox.relay()


@shared_task(name="portal.tasks.prune_outbox")
def prune_outbox() -> int:
    """Forget side effects done more than OUTBOX_KEEP_DAYS ago, old idempotency keys, and the
    counts of guessing limits whose windows are long over."""
    return outbox.prune() + idempotency.prune() + throttle.prune()


@shared_task(name="portal.tasks.heartbeat")
def heartbeat() -> str:
    """A worker ran this, so workers are alive (beat sends it; /readyz reads the time)."""
    Heartbeat.objects.update_or_create(name="worker", defaults={"at": timezone.now()})
    return "ok"


@shared_task(name="portal.tasks.send_digests")
def send_digests() -> int:
    """The daily digest to each person who chose it (beat, hourly; once a day each)."""
    return notify.send_digests()
