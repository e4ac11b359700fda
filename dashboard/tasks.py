"""Celery wrappers for the dashboard's scheduled work; the logic is in dashboard/snapshots.py.

Task names are pinned because CELERY_BEAT_SCHEDULE refers to them.
"""

from celery import shared_task

from dashboard import board_pack, snapshots


@shared_task(name="dashboard.tasks.take_kpi_snapshots")
def take_kpi_snapshots() -> int:
    """Each day: ask the gate again for live use cases, then keep this month's KPIs (so each
    month's snapshot ends with its last day's figures)."""
    snapshots.recheck_live_gates()
    return snapshots.take_snapshots()


@shared_task(name="dashboard.tasks.send_board_pack")
def send_board_pack() -> str:
    """Make last month's board pack once (the first run of a month) and email leadership."""
    pack = board_pack.send_monthly()
    return pack.reference if pack else ""
