"""Celery beat's scheduler for Steward: the standard persistent one, which also records each
tick (at most every BEAT_MARK_SECONDS) so /readyz can tell a beat that stopped, and keeps its
schedule file in the state folder (settings.STATE_DIR), creating it if need be."""

import logging
import time
from pathlib import Path

from celery.beat import PersistentScheduler
from django.db import close_old_connections
from django.utils import timezone

from portal.models import Heartbeat

logger = logging.getLogger(__name__)

BEAT_MARK_SECONDS = 10


class Scheduler(PersistentScheduler):
    def __init__(self, *args, **kwargs):
        schedule_filename = kwargs.get("schedule_filename")
        if schedule_filename:
            Path(schedule_filename).parent.mkdir(parents=True, exist_ok=True)
        self._marked = 0.0
        super().__init__(*args, **kwargs)

    def tick(self, *args, **kwargs):
        interval = super().tick(*args, **kwargs)
        now = time.monotonic()
        if now - self._marked >= BEAT_MARK_SECONDS:
            self._marked = now
            try:
                close_old_connections()
                Heartbeat.objects.update_or_create(name="beat", defaults={"at": timezone.now()})
            except Exception:  # the database is down: beat keeps its schedule regardless
                logger.warning("Could not record beat's tick", exc_info=True)
        # Wake in time for the next mark even when no task is due for a while.
        return min(interval, BEAT_MARK_SECONDS)
