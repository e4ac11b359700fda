"""Celery wrappers around the incident services; the rules stay in incidents.services.

Task names are pinned because CELERY_BEAT_SCHEDULE refers to them.
"""

from celery import shared_task

# Modules, not names: webhooks queues deliver_webhook from this module, and each side reads
# the other's attribute only when called, so the two can import each other.
from incidents.services import reminders, webhooks


@shared_task(name="incidents.tasks.remind_deadlines")
def remind_deadlines() -> int:
    """Remind owners of reporting deadlines that are near or overdue (once per stage)."""

    return reminders.remind_deadlines()


@shared_task(name="incidents.tasks.deliver_due_webhooks")
def deliver_due_webhooks() -> int:
    """Post the webhook deliveries whose next attempt is due."""

    return webhooks.deliver_due()


@shared_task(name="incidents.tasks.deliver_webhook")
def deliver_webhook(delivery_id: int) -> bool:
    """Post one webhook delivery now (queued when the event is emitted). Returns whether the
    endpoint acknowledged it; a failure is retried by deliver_due_webhooks with backoff."""

    delivery = webhooks.deliver(delivery_id)
    return delivery is not None and delivery.delivered_at is not None
