"""The transactional outbox: every side effect is written with the change that causes it.

A service calls ``enqueue(task_name, *args, **kwargs)`` inside its transaction. That writes
one OutboxMessage row, so a change that rolls back causes nothing and a change that commits
cannot lose its side effects, whatever the broker is doing:

1. After the commit, ``relay`` hands pending messages to the broker (``run_message`` with the
   row's id). A broker that is down is logged and leaves the rows pending: the web request
   that made the change still answers 2xx. Beat runs ``relay`` every few seconds as well, so
   a backlog drains once the broker is back.
2. A worker's ``run_message`` takes the row (so two deliveries of one message run it once),
   calls the task's function directly, and marks the row done; a failure is recorded and the
   row is handed out again after a backoff.
3. A message handed out but not done within ``OUTBOX_REDISPATCH_SECONDS`` (lost with a
   restarted Redis, or its worker killed) is handed out again. So every side effect runs at
   least once. A webhook delivery is sent under its row's lock and a pull claims its source,
   so a second run of those does nothing; an email whose sending outlasts the redispatch
   time (five minutes by default) could go out twice.

With ``CELERY_TASK_ALWAYS_EAGER`` (tests, and the embedded default without a broker) the relay
runs each message in-process right after the commit.
"""

import logging
import time
from datetime import datetime, timedelta

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Min, Q
from django.utils import timezone

from portal.models import OutboxMessage

logger = logging.getLogger(__name__)

RUN_TASK = "portal.tasks.run_outbox_message"
RELAY_BATCH = 500
MAX_ERROR_LENGTH = 2000
MAX_BACKOFF = timedelta(hours=1)
# Once the broker refused a message, the relays after commits in this process leave the outbox
# to beat's relay for this long: each attempt waits out the broker's connection timeout (about
# 6 s), and a request whose commits queued ten side effects would wait a minute and be killed.
BROKER_PAUSE_SECONDS = 30
_broker_refused_at: float | None = None


def _tasks():
    """Celery's task registry with every app's tasks module imported (Celery discovers them
    lazily: a web process has imported none when it first runs a message)."""
    global _imported
    if not _imported:
        current_app.loader.import_default_modules()
        _imported = True
    return current_app.tasks


_imported = False


def enqueue(task: str, *args, **kwargs) -> OutboxMessage:
    """Record a side effect in the current transaction; it runs once the change commits."""
    message = OutboxMessage.objects.create(task=task, args=list(args), kwargs=kwargs)
    # Each commit relays its own messages; beat's relay takes whatever is left behind.
    transaction.on_commit(lambda: relay_now([message.pk]), robust=True)
    return message


def relay_now(ids: list[int]) -> None:
    """The relay after a commit: never lets an error reach the request that committed, nor
    makes it wait for a broker that refused a message a moment ago."""
    refused = _broker_refused_at
    paused = refused is not None and time.monotonic() - refused < BROKER_PAUSE_SECONDS
    if paused and not settings.CELERY_TASK_ALWAYS_EAGER:  # in-process tasks need no broker
        return
    try:
        relay(ids=ids)
    except Exception:
        logger.exception("Relaying the outbox failed; beat's relay will try again")


def backoff(failures: int) -> timedelta:
    """How long after its n-th failure a message is tried again: 30 s doubling, at most 1 h."""
    return min(timedelta(seconds=30 * 2 ** max(failures - 1, 0)), MAX_BACKOFF)


def _pending(now: datetime):
    stale = now - timedelta(seconds=settings.OUTBOX_REDISPATCH_SECONDS)
    return OutboxMessage.objects.filter(done_at__isnull=True, available_at__lte=now).filter(
        Q(dispatched_at__isnull=True) | Q(dispatched_at__lte=stale)
    )


def relay(
    *, batch: int = RELAY_BATCH, now: datetime | None = None, ids: list[int] | None = None
) -> int:
    """Hand pending messages (of ``ids`` only, if given) to the broker, oldest first; how
    many were handed out.

    Stops at the first message the broker refuses (it is down): that one and the rest stay
    pending for the next relay.
    """
    global _broker_refused_at
    now = now or timezone.now()
    handed = 0
    while True:
        pending = _pending(now) if ids is None else _pending(now).filter(id__in=ids)
        with transaction.atomic():
            claimed = list(
                pending.select_for_update(skip_locked=True)
                .order_by("id")
                .values_list("id", flat=True)[:batch]
            )
            OutboxMessage.objects.filter(id__in=claimed).update(
                dispatched_at=now, dispatches=F("dispatches") + 1
            )
        for position, message_id in enumerate(claimed):
            try:
                if settings.CELERY_TASK_ALWAYS_EAGER:
                    run_message(message_id)  # no broker: in-process, right now
                else:
                    current_app.send_task(RUN_TASK, args=[message_id], retry=False)
            except Exception as exc:  # the broker is down or refused: keep the rest pending
                if not settings.CELERY_TASK_ALWAYS_EAGER:
                    _broker_refused_at = time.monotonic()
                OutboxMessage.objects.filter(id__in=claimed[position:]).update(
                    dispatched_at=None, last_error=f"Not handed to the broker: {exc}"[:2000]
                )
                logger.warning(
                    "The broker refused outbox message %s (%s); %d wait for the next relay",
                    message_id,
                    exc.__class__.__name__,
                    len(claimed) - position,
                )
                return handed
            handed += 1
        if claimed and not settings.CELERY_TASK_ALWAYS_EAGER:
            _broker_refused_at = None  # it took them: commits relay at once again
        if len(claimed) < batch:
            return handed


def run_message(message_id: int, *, now: datetime | None = None) -> str:
    """Carry out one message (a worker's part); what happened, for the task's result."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.OUTBOX_REDISPATCH_SECONDS)
    with transaction.atomic():
        message = (
            OutboxMessage.objects.select_for_update(skip_locked=True)
            .filter(pk=message_id, done_at__isnull=True)
            .filter(Q(started_at__isnull=True) | Q(started_at__lte=stale))
            .first()
        )
        if message is None:
            return "skipped: done, gone or running elsewhere"
        message.started_at = now
        message.save(update_fields=["started_at"])
    task = _tasks().get(message.task)
    try:
        if task is None:
            raise LookupError(f"no task named {message.task}")
        # The function itself: retries are the outbox's, not Celery's.
        task.run(*message.args, **message.kwargs)
    except Exception as exc:
        failures = message.failures + 1
        logger.warning(
            "Outbox message %s (%s) failed (%d times): %s",
            message.pk,
            message.task,
            failures,
            exc,
            exc_info=not isinstance(exc, OSError),
        )
        OutboxMessage.objects.filter(pk=message.pk).update(
            failures=failures,
            last_error=f"{exc.__class__.__name__}: {exc}"[:MAX_ERROR_LENGTH],
            available_at=timezone.now() + backoff(failures),
            dispatched_at=None,
            started_at=None,
        )
        return "failed"
    OutboxMessage.objects.filter(pk=message.pk).update(done_at=timezone.now(), last_error="")
    return "done"


def backlog(now: datetime | None = None) -> dict:
    """Messages not done yet, how old the oldest waiting one is (seconds), and how many have
    failed; for /readyz and /metrics. A message that failed is counted as failing, not in
    the age: the broker relays fine, and one bad message must not make every web process
    "not ready" (readiness would take them all out of a load balancer)."""
    now = now or timezone.now()
    waiting = OutboxMessage.objects.filter(done_at__isnull=True)
    row = waiting.aggregate(count=Count("id"))
    oldest = waiting.filter(failures=0).aggregate(oldest=Min("created_at"))["oldest"]
    return {
        "pending": row["count"],
        "oldest_age_seconds": round((now - oldest).total_seconds(), 1) if oldest else 0.0,
        "failing": waiting.filter(failures__gt=0).count(),
    }


def prune(*, now: datetime | None = None) -> int:
    """Delete messages done more than OUTBOX_KEEP_DAYS ago; how many."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.OUTBOX_KEEP_DAYS)
    deleted, _ = OutboxMessage.objects.filter(done_at__lt=cutoff).delete()
    return deleted
