"""Pulling metric sources: beat dispatches the due ones, a worker pulls each.

Claims. ``claimed_until`` is a lease. The dispatcher takes due, unclaimed rows with
``SELECT ... FOR UPDATE SKIP LOCKED`` (so two beats running at once split the rows between
them), leases them and sets their next due time before queueing one pull each. A pull takes its
row the same way and stamps ``last_attempt_at`` and a fresh ``claimed_until`` of its own; a row
whose last attempt is newer than its last result and whose lease has not run out is being
pulled by someone else, and is left alone. The fetch runs outside any transaction (a slow
server must not hold a row lock); the result is written only if the lease is still the one this
pull stamped, so a pull that outlived its lease (a frozen worker) writes nothing.

Results. Samples and health go in one transaction, so a failed pull writes no samples and a
successful one never leaves health stale. Transient failures (timeouts, connection errors, 5xx)
are tried again in-process with exponential back-off; refusals and unreadable answers are not.
After a failed pull the next one waits interval × 2^(failures before it), at most an hour.
"""

import logging
import math
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from monitoring import connectors, tasks
from monitoring.models import MetricSource, SourceKind
from monitoring.services.samples import samples_write
from portal.outbound import OutboundError

logger = logging.getLogger(__name__)

PULLED_KINDS = [SourceKind.PROMETHEUS, SourceKind.HTTP_JSON, SourceKind.MLFLOW]
# Sources claimed (and queued) per transaction; a dispatch takes batches until none are due,
# for at most DISPATCH_TIME_BUDGET seconds and DISPATCH_MAX_TOTAL sources (the next beat tick
# takes the rest).
DISPATCH_LIMIT = 500
DISPATCH_TIME_BUDGET = 30.0
DISPATCH_MAX_TOTAL = 50_000
MAX_BACKOFF = timedelta(hours=1)
MAX_ERROR_LENGTH = 2000


@dataclass
class PullOutcome:
    source_id: int
    status: str  # "ok", "failed" or "skipped"
    read: int = 0  # samples the source gave
    written: int = 0  # of which new (a re-read window adds none)
    attempts: int = 0
    error: str = ""  # why it failed or was skipped

    def as_dict(self) -> dict:
        return asdict(self)


def lease(source: MetricSource) -> timedelta:
    """Long enough for every request of every try and the back-off between them, plus a minute."""
    retries = settings.MONITORING_RETRIES
    fetching = (
        settings.MONITORING_TIMEOUT_SECONDS * connectors.request_count(source) * (retries + 1)
    )
    backing_off = settings.MONITORING_RETRY_BACKOFF_SECONDS * (2**retries - 1)
    return timedelta(seconds=fetching + backing_off + 60)


# Dispatch -----------------------------------------------------------------------------------
# Beat's tick for a minute can run a little before that minute's slot (queueing time, clocks):
# a source due within this much counts as due, so no tick finds its sources "not yet" due.
DUE_TOLERANCE = timedelta(seconds=5)


def next_slot(due: datetime | None, interval: int, now: datetime) -> datetime:
    """A source's next due time: the slot after this one (skipping slots missed while nothing
    ran), not the time this dispatch happened to start, so pulls keep to their interval."""
    step = timedelta(seconds=interval)
    if due is None:
        return now + step
    return due + max(1, math.floor((now - due) / step) + 1) * step


def claim_due_sources(*, now: datetime, limit: int = DISPATCH_LIMIT) -> list[int]:
    """Lease the due sources and move their next due time on. Call inside a transaction."""
    due = list(
        MetricSource.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(enabled=True, kind__in=PULLED_KINDS, deployment__active=True)
        .filter(Q(next_due_at__isnull=True) | Q(next_due_at__lte=now + DUE_TOLERANCE))
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lte=now))
        .order_by(F("next_due_at").asc(nulls_first=True), "pk")
        .only("pk", "kind", "config", "interval_seconds", "next_due_at")[:limit]
    )
    for source in due:
        # last_attempt_at is cleared so the pull this queues is not taken for one in progress
        # (a worker that died mid-pull leaves its attempt newer than its last result).
        source.claimed_until = now + lease(source)
        source.next_due_at = next_slot(source.next_due_at, source.interval_seconds, now)
        source.last_attempt_at = None
    MetricSource.objects.bulk_update(due, ["claimed_until", "next_due_at", "last_attempt_at"])
    return [source.pk for source in due]


def queue_pulls(source_ids: list[int]) -> None:
    """Queue one pull per source. A broker that is down loses nothing: the claims run out and
    a later dispatch hands the sources out again (their window is re-read, so no gap)."""
    try:
        for source_id in source_ids:
            tasks.pull_source.delay(source_id)
    except Exception:
        logger.exception(
            "Could not queue %d pulls; they are retried once their lease ends", len(source_ids)
        )


def dispatch_due_sources(*, now: datetime | None = None) -> int:
    """Claim each due source and queue its pull once the claims are committed.

    Batch after batch, each in its own transaction (so its pulls are queued, and its row locks
    let go, before the next is taken), until a batch comes back short, the time budget is spent
    or DISPATCH_MAX_TOTAL sources were queued. A claimed source's lease runs past ``now``, so
    no batch takes a source an earlier one took.
    """
    now = now or timezone.now()
    started = time.monotonic()
    total = 0
    while True:
        size = min(DISPATCH_LIMIT, DISPATCH_MAX_TOTAL - total)
        with transaction.atomic():
            claimed = claim_due_sources(now=now, limit=size)
            # Not robust=: queue_pulls logs a broker error itself and the lease retries it.
            transaction.on_commit(partial(queue_pulls, claimed))
        total += len(claimed)
        if len(claimed) < size or total >= DISPATCH_MAX_TOTAL:
            return total
        if time.monotonic() - started >= DISPATCH_TIME_BUDGET:
            logger.warning(
                "Dispatch queued %s sources in %s s; the rest wait for the next tick",
                total,
                DISPATCH_TIME_BUDGET,
            )
            return total


# Pull ---------------------------------------------------------------------------------------
def _in_progress(source: MetricSource, now: datetime) -> bool:
    """Another pull stamped an attempt, has not recorded its result, and its lease holds."""
    if source.claimed_until is None or source.claimed_until <= now:
        return False
    if source.last_attempt_at is None:
        return False  # leased by the dispatcher for the pull now asking
    results = [t for t in (source.last_success_at, source.last_error_at) if t is not None]
    return not results or source.last_attempt_at > max(results)


def _claim(source_id: int, now: datetime) -> tuple[MetricSource | None, datetime | None, str]:
    with transaction.atomic():
        source = (
            MetricSource.objects.select_for_update(skip_locked=True).filter(pk=source_id).first()
        )
        if source is None:
            exists = MetricSource.objects.filter(pk=source_id).exists()
            return None, None, "already being pulled" if exists else "no such source"
        if not source.enabled or source.kind not in PULLED_KINDS:
            return None, None, "not a pulled, enabled source"
        if _in_progress(source, now):
            return None, None, "already being pulled"
        claim = now + lease(source)
        MetricSource.objects.filter(pk=source.pk).update(claimed_until=claim, last_attempt_at=now)
        source.claimed_until, source.last_attempt_at = claim, now
        return source, claim, ""


def _read(source: MetricSource, now: datetime) -> tuple[int, connectors.Reading | None, str]:
    """(attempts, reading, error): transient failures are tried again, backing off."""
    retries = settings.MONITORING_RETRIES
    for attempt in range(1, retries + 2):
        try:
            return attempt, connectors.read(source, now=now), ""
        except OutboundError as exc:
            if not exc.transient or attempt > retries:
                return attempt, None, exc.message
            time.sleep(settings.MONITORING_RETRY_BACKOFF_SECONDS * 2 ** (attempt - 1))
        except Exception as exc:  # a bug must not leave the source claimed until the lease ends
            logger.exception("Pulling metric source %s failed", source.pk)
            return attempt, None, f"internal error ({exc.__class__.__name__}); see the worker log"
    raise AssertionError("unreachable")


def source_pull(*, source_id: int, now: datetime | None = None) -> PullOutcome:
    """Pull one source now (if nobody else is) and record its health."""
    started = now or timezone.now()
    source, claim, skipped = _claim(source_id, started)
    if source is None:
        return PullOutcome(source_id, "skipped", error=skipped)
    attempts, reading, error = _read(source, started)
    finished = now or timezone.now()
    mine = MetricSource.objects.filter(pk=source.pk, claimed_until=claim)
    if reading is None:
        backoff = min(
            timedelta(seconds=source.interval_seconds * 2**source.failures_in_row), MAX_BACKOFF
        )
        recorded = mine.update(
            last_error_at=finished,
            last_error=error[:MAX_ERROR_LENGTH],
            failures_in_row=F("failures_in_row") + 1,
            next_due_at=finished + backoff,
            claimed_until=None,
        )
        if not recorded:
            return PullOutcome(source.pk, "skipped", attempts=attempts, error="lease ran out")
        return PullOutcome(source.pk, "failed", attempts=attempts, error=error)
    with transaction.atomic():
        # Health first: the update locks the row, so the lease cannot change before commit.
        recorded = mine.update(
            last_success_at=finished,
            last_sample_count=len(reading.samples),
            failures_in_row=0,
            pulled_until=reading.until,
            claimed_until=None,
        )
        if not recorded:
            return PullOutcome(source.pk, "skipped", attempts=attempts, error="lease ran out")
        written = samples_write(
            deployment_id=source.deployment_id, samples=reading.samples, source_id=source.pk
        )
    return PullOutcome(
        source.pk, "ok", read=len(reading.samples), written=written, attempts=attempts
    )
