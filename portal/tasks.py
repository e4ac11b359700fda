from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail

from portal.ledger import chain


@shared_task(
    name="portal.tasks.send_email",
    autoretry_for=(OSError,),
    retry_backoff=30,
    retry_kwargs={"max_retries": 5},
)
def send_email(addresses: list[str], subject: str, body: str) -> int:
    """One message per address, so people never see each other's addresses."""
    sent = 0
    for address in addresses:
        sent += send_mail(f"[Steward] {subject}", body, settings.DEFAULT_FROM_EMAIL, [address])
    return sent


@shared_task(name="portal.tasks.seal_ledger")
def seal_ledger() -> int:
    """Chain ledger entries not chained yet; how many were sealed."""
    return chain.seal(full=True)
