"""What /readyz checks: can this Steward do its work right now?

- database: a query answers;
- broker: the broker accepts a connection (skipped when tasks run in-process);
- worker: a worker ran the heartbeat task lately (beat sends it every 30 s);
- beat: beat ticked lately (portal/beat.py records it);
- outbox: side effects are not piling up (none older than OUTBOX_MAX_AGE_SECONDS).

Each check answers ``(ok, detail)`` and never raises: a check that fails says why.
"""

import time
from collections.abc import Callable

from celery import current_app
from django.conf import settings
from django.db import connection
from django.utils import timezone

from portal import metrics, outbox
from portal.models import Heartbeat

Check = tuple[bool, str]


def database() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:
        return False, f"unreachable ({exc.__class__.__name__})"
    return True, connection.vendor


def broker() -> Check:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return True, "none: tasks run in-process"
    try:
        with current_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=settings.READYZ_BROKER_TIMEOUT)
    except Exception as exc:
        return False, f"unreachable ({exc.__class__.__name__})"
    return True, "reachable"


def _heartbeat(name: str, max_age: int) -> Check:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return True, "none needed: tasks run in-process"
    try:
        age = heartbeat_age(name)
    except Exception as exc:
        return False, f"unknown: the database is unreachable ({exc.__class__.__name__})"
    if age is None:
        return False, "never seen"
    if age > max_age:
        return False, f"last seen {age:.0f} s ago (more than {max_age} s)"
    return True, f"last seen {age:.0f} s ago"


def worker() -> Check:
    return _heartbeat("worker", settings.READYZ_WORKER_MAX_AGE)


def beat() -> Check:
    return _heartbeat("beat", settings.READYZ_BEAT_MAX_AGE)


def outbox_backlog() -> Check:
    try:
        backlog = outbox.backlog()
    except Exception as exc:
        return False, f"unknown: the database is unreachable ({exc.__class__.__name__})"
    detail = (
        f"{backlog['pending']} waiting, oldest {backlog['oldest_age_seconds']:.0f} s, "
        f"{backlog['failing']} failing (retried with backoff)"
    )
    return backlog["oldest_age_seconds"] <= settings.OUTBOX_MAX_AGE_SECONDS, detail


CHECKS: dict[str, Callable[[], Check]] = {
    "database": database,
    "broker": broker,
    "worker": worker,
    "beat": beat,
    "outbox": outbox_backlog,
}


def readiness() -> tuple[bool, dict]:
    """Every check's outcome, and whether all passed."""
    results = {}
    for name, check in CHECKS.items():
        started = time.monotonic()
        ok, detail = check()
        results[name] = {
            "ok": ok,
            "detail": detail,
            "ms": round((time.monotonic() - started) * 1000, 1),
        }
    return all(r["ok"] for r in results.values()), results


def heartbeat_age(name: str) -> float | None:
    """Seconds since the process last showed it is alive; None if it never did."""
    beat = Heartbeat.objects.filter(name=name).first()
    return (timezone.now() - beat.at).total_seconds() if beat else None


def gauges():
    """The portal's gauges for /metrics: the outbox and the background processes."""
    backlog = outbox.backlog()
    yield metrics.gauge("steward_outbox_pending", "Side effects not done yet.", backlog["pending"])
    yield metrics.gauge(
        "steward_outbox_oldest_age_seconds",
        "Age of the oldest side effect not done yet that has not failed.",
        backlog["oldest_age_seconds"],
    )
    yield metrics.gauge(
        "steward_outbox_failing", "Side effects whose last try failed.", backlog["failing"]
    )
    for name in ("worker", "beat"):
        age = heartbeat_age(name)
        yield metrics.gauge(
            "steward_heartbeat_age_seconds",
            "Seconds since the process last showed it is alive (-1: never).",
            -1 if age is None else age,
            {"process": name},
        )
