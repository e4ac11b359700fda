"""Celery wrappers for the dashboard's scheduled work; the logic is in dashboard/snapshots.py.

Task names are pinned because CELERY_BEAT_SCHEDULE refers to them.
"""

from celery import shared_task

from dashboard import snapshots


@shared_task(name="dashboard.tasks.take_kpi_snapshots")
def take_kpi_snapshots() -> int:
    """Each day: ask the gate again for live use cases, then keep this month's KPIs (so each
    month's snapshot ends with its last day's figures)."""
    snapshots.recheck_live_gates()
    return snapshots.take_snapshots()
