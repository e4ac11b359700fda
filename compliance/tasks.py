"""Celery wrappers around the compliance services; the rules stay in compliance.services.

Task names are pinned because CELERY_BEAT_SCHEDULE refers to them.
"""

from celery import shared_task

from compliance.services import expiry


@shared_task(name="compliance.tasks.nightly")
def nightly() -> dict[str, int]:
    """Statuses as of today, notices of evidence about to expire, expired exceptions flagged."""
    return expiry.nightly()
