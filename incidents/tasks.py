"""Celery wrappers around the incident services; the rules stay in incidents.services.

Task names are pinned because CELERY_BEAT_SCHEDULE refers to them.
"""

from celery import shared_task


@shared_task(name="incidents.tasks.remind_deadlines")
def remind_deadlines() -> int:
    """Remind owners of reporting deadlines that are near or overdue (once per stage)."""
    from incidents.services.deadlines import remind_deadlines as remind

    return remind()


@shared_task(name="incidents.tasks.deliver_due_webhooks")
def deliver_due_webhooks() -> int:
    """Post the webhook deliveries whose next attempt is due."""
    from incidents.services.webhooks import deliver_due

    return deliver_due()


@shared_task(name="incidents.tasks.deliver_webhook")
def deliver_webhook(delivery_id: int) -> bool:
    """Post one webhook delivery now (queued when the event is emitted). Returns whether the
    endpoint acknowledged it; a failure is retried by deliver_due_webhooks with backoff."""
    from incidents.services.webhooks import deliver

    delivery = deliver(delivery_id)
    return delivery is not None and delivery.delivered_at is not None
