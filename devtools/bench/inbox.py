"""`manage.py bench --only inbox`: My work and the dashboard (with its My work panel and the
navigation bar's unread count) at 10,000 use cases and 20,000 assessments (issue 18).

On top of the register's seeded 10,000 use cases, inside one transaction rolled back at the
end: 20,000 assessments (two per use case, every workflow state, written by the use cases'
owners, each waiting one with its review or sign-off assignment), 500 open flags and 500 open
incidents on the product owner's use cases, and 20,000 notifications (2,000 of them the
product owner's). The pages are timed as the product owner (author and owner of a third of
the register), a risk officer and a leader (reviewers and signers of every unit), with the
median, the 95th percentile and the number of queries of each. The number of queries is the
point: it must not grow with the data (tests/dashboard/test_my_work.py asserts it on small
data; this shows it on large).

Each page is timed as it is read most often, My work and the dashboard's panels kept since
nothing they rest on changed (dashboard/work_store.py, dashboard/panels.py), and then after a
change, each request preceded by a statement (``CHANGES``, untimed) on one table: what reads
that table is gathered or rendered afresh, the rest read back, and all kept again. A change to
who someone is outdates everything (what every request cost before anything was kept, plus
keeping it); a flag, an assessment or a use case outdates what reads its table. The rows are
timed interleaved, a request of each in turn (``_time``).
"""

from __future__ import annotations

import os
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings
from django.utils import timezone

from assessments.models import Assessment, AssessmentTemplate, Kind, ReviewAssignment, Status
from compliance.models import Applicability
from devtools.bench.stats import p95
from incidents.models import DetectedBy, Incident, Severity
from monitoring.models import Flag, FlagStatus
from portal.models import Notification, Role
from registry.models import BusinessUnit, UseCase

ASSESSMENTS = 20_000
FLAGS = 500
INCIDENTS = 500
NOTIFICATIONS = 20_000
BATCH = 5_000
MEDIAN_TARGET_MS = 100
P95_TARGET_MS = 200

# The changes each page is timed after: a statement on one row of one table, that row set to
# itself (the triggers log it as any edit), run before each request, untimed. Each request's
# change is to the next row of the table (%s: the request's number), as edits come to a
# register, rather than to one row over and over inside the benchmark's one transaction
# (rolled back at the end), which leaves a chain of dead versions of that row that nothing
# can prune while the transaction is open. (It made little difference: the product owner's
# dashboard after a use case 135 ms one way, 121 ms the other, within the run-to-run spread.)
_NEXT_ROW = (
    "WHERE id = (SELECT id FROM {table} ORDER BY id "
    "OFFSET (%s %% (SELECT COUNT(*) FROM {table})) LIMIT 1)"
)
CHANGES = {
    "a person": "UPDATE auth_user SET first_name = first_name "
    + _NEXT_ROW.format(table="auth_user"),
    "a flag": "UPDATE monitoring_flag SET reason = reason "
    + _NEXT_ROW.format(table="monitoring_flag"),
    "an assessment": "UPDATE assessments_assessment SET status = status "
    + _NEXT_ROW.format(table="assessments_assessment"),
    "a use case": "UPDATE registry_usecase SET title = title "
    + _NEXT_ROW.format(table="registry_usecase"),
}


@dataclass
class Timing:
    label: str
    times_ms: list[float] = field(default_factory=list)
    queries: list[int] = field(default_factory=list)
    problem: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.times_ms)

    @property
    def p95(self) -> float:
        return p95(self.times_ms)


class _Rollback(Exception):
    pass


def run(seeded, *, requests: int, warmup: int, out: Callable[[str], None]) -> None:
    hosts = [*settings.ALLOWED_HOSTS, "testserver"]
    # The whole database as autovacuum keeps it in production (this machine's PostgreSQL runs
    # without it): an earlier run's rows were rolled back, not removed, dead rows every index
    # scan below would still step over (a few runs had left 120,000 in the assessments table,
    # six times its live rows); and the register, freshly seeded, had no visibility map, so
    # PostgreSQL read each use case from the table's wide rows rather than from the index
    # that covers what the dashboard asks of it (registry_usecase_joined), and with 10,000
    # dead rows the seeding left (the product owner's dashboard after a change: 145 ms
    # before, 128 after).
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")
    try:
        with override_settings(ALLOWED_HOSTS=hosts), transaction.atomic():
            started = time.perf_counter()
            reviewer, leader = _people()
            made = _data(seeded.product_owner)
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
            out(
                f"Inbox: {made} bulk-created in {time.perf_counter() - started:.1f} s "
                "(rolled back at the end)."
            )
            clients = []
            for label, user in (
                ("product owner", seeded.product_owner),
                ("risk officer", reviewer),
                ("leader", leader),
            ):
                client = Client(raise_request_exception=True)
                client.force_login(user)
                clients.append((label, client))
            # Each page as it is read most often (kept: nothing changed since it was
            # gathered), then as it is read after each kind of change (what reads the table
            # changed gathered afresh: dashboard/work_store.py).
            rows = [
                _Row(
                    Timing(f"{page} ({who}){f', after {what}' if what else ''}"),
                    client,
                    path,
                    CHANGES.get(what),
                )
                for what in ("", *CHANGES)
                for page, path in (("My work", "/my-work/"), ("dashboard", "/"))
                for who, client in clients
            ]
            _time(rows, requests, warmup)
            _report(out, seeded.use_cases, [row.timing for row in rows])
            raise _Rollback
    except _Rollback:
        pass


def _people():
    """A risk officer and a leader in every unit, made for this run."""
    User = get_user_model()
    units = list(BusinessUnit.objects.all())
    made = []
    for username, role in (
        ("bench.inbox.risk", Role.RISK_OFFICER),
        ("bench.inbox.lead", Role.LEADERSHIP),
    ):
        user = User.objects.create(username=username, first_name="Bench", last_name=role)
        user.groups.add(Group.objects.get(name=role))
        for unit in units:
            unit.members.add(user)
        made.append(user)
    return made


def _data(owner) -> str:
    rng = random.Random(18)
    templates = {
        kind: AssessmentTemplate.objects.filter(kind=kind, active=True).order_by("-pk").first()
        for kind in (Kind.SCREENING, Kind.DPIA)
    }
    if None in templates.values():
        raise RuntimeError("The built-in screening and DPIA templates are missing: migrate.")
    use_cases = list(
        UseCase.objects.order_by("pk").values_list("pk", "owner_id")[: ASSESSMENTS // 2]
    )
    now = timezone.now()
    states = [
        Status.DRAFT,
        Status.SUBMITTED,
        Status.IN_REVIEW,
        Status.CHANGES_REQUESTED,
        Status.APPROVED,
        Status.SIGNED_OFF,
    ]
    rows = []
    n = 0
    for pk, owner_id in use_cases:
        for kind, status in ((Kind.SCREENING, Status.SIGNED_OFF), (Kind.DPIA, rng.choice(states))):
            n += 1
            since = now - timedelta(days=rng.randint(0, 60))
            rows.append(
                Assessment(
                    reference=f"AS-I{n:05d}",
                    template=templates[kind],
                    kind=kind,
                    use_case_id=pk,
                    author_id=owner_id,
                    status=status,
                    submitted_at=since if status != Status.DRAFT else None,
                    approved_at=since if status in (Status.APPROVED, Status.SIGNED_OFF) else None,
                    valid_until=(now + timedelta(days=rng.randint(-30, 700))).date()
                    if status == Status.SIGNED_OFF
                    else None,
                )
            )
    Assessment.objects.bulk_create(rows, batch_size=BATCH)
    waiting = Assessment.objects.filter(
        reference__startswith="AS-I",
        status__in=[Status.SUBMITTED, Status.IN_REVIEW, Status.APPROVED],
    ).values_list("pk", "status")
    assignments = [
        ReviewAssignment(
            assessment_id=pk,
            stage="approve" if status == Status.APPROVED else "review",
            role=Role.LEADERSHIP if status == Status.APPROVED else Role.RISK_OFFICER,
            reasons=["Bench"],
        )
        for pk, status in waiting
    ]
    ReviewAssignment.objects.bulk_create(assignments, batch_size=BATCH)
    mine = [pk for pk, owner_id in use_cases if owner_id == owner.pk]
    Flag.objects.bulk_create(
        [
            Flag(
                reference=f"FL-I{i + 1:04d}",
                cause="material_change:bench",
                reason="Bench",
                subject="use_case",
                subject_key=f"use_case:{mine[i % len(mine)]}",
                use_case_id=mine[i % len(mine)],
                severity="medium",
                status=FlagStatus.OPEN,
                evidence={},
            )
            for i in range(FLAGS)
        ],
        batch_size=BATCH,
    )
    Incident.objects.bulk_create(
        [
            Incident(
                reference=f"INC-I{i + 1:04d}",
                title="Wrong answers",
                use_case_id=mine[(i * 7) % len(mine)],
                detected_by=DetectedBy.STAFF,
                severity=rng.choice(Severity.values),
                owner_id=owner.pk,
                aware_at=now - timedelta(days=i % 300),
                personal_data_breach=i % 10 == 0,
            )
            for i in range(INCIDENTS)
        ],
        batch_size=BATCH,
    )
    people = list(get_user_model().objects.values_list("pk", flat=True))
    Notification.objects.bulk_create(
        [
            Notification(
                recipient_id=owner.pk if i % 10 == 0 else people[i % len(people)],
                subject=f"Notification {i}",
                body="Bench",
                url="/my-work/",
                created_at=now - timedelta(minutes=i),
                read_at=now if i % 3 == 0 else None,
            )
            for i in range(NOTIFICATIONS)
        ],
        batch_size=BATCH,
    )
    return (
        f"{len(rows):,} assessments ({len(assignments):,} waiting for a decision), "
        f"{FLAGS} flags, {INCIDENTS} incidents and {NOTIFICATIONS:,} notifications"
    )


@dataclass
class _Row:
    """A row of the table: a page, as one person, after one kind of change (or none)."""

    timing: Timing
    client: Client
    path: str
    change: str | None


def _time(rows: list[_Row], requests: int, warmup: int) -> None:
    """Every row's requests, interleaved: a round is one request of each row, so that each
    row's figures are taken across the whole run, not in a few seconds of it (a shared
    machine has slow spells of several seconds, which timed row after row fell on a row or
    two and nearly doubled its median). Each timed request is preceded, untimed, by the same
    page for the same person (what they rest on kept again, whatever the rows before changed)
    and then by the row's change: so each is read after that one change, or none."""
    for k in range(warmup + requests):
        for row in rows:
            if row.timing.problem:
                continue
            row.client.get(row.path)
            if row.change:
                with connection.cursor() as cursor:
                    cursor.execute(row.change, [k])
            # The connection logs at most 9,000 queries, after which a capture counts none.
            connection.queries_log.clear()
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                response = row.client.get(row.path)
                elapsed = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                row.timing.problem = f"answered {response.status_code} ({row.path})"
                continue
            if k >= warmup:
                row.timing.times_ms.append(elapsed)
                row.timing.queries.append(len(captured.captured_queries))


def _report(out: Callable[[str], None], use_cases: int, timings: list[Timing]) -> None:
    out("")
    # What the pages read, counted whole: rows earlier parts of the benchmark left (the
    # monitoring part's flags, the compliance part's applicability) weigh on them too.
    out(
        f"My work and the dashboard at {use_cases:,} use cases, "
        f"{Assessment.objects.count():,} assessments, "
        f"{Flag.objects.filter(status=FlagStatus.OPEN).count():,} open flags, "
        f"{Incident.objects.count():,} incidents and {Applicability.objects.count():,} "
        f"obligations' applicability rows; {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.2f}."
    )
    header = f"{'page (as)':<58} {'reqs':>5} {'median ms':>10} {'p95 ms':>8} {'queries':>8}  result"
    out(header)
    out("-" * len(header))
    for t in timings:
        if t.problem:
            out(f"{t.label:<58} not timed: {t.problem}")
            continue
        lo, hi = min(t.queries), max(t.queries)
        queries = str(lo) if lo == hi else f"{lo}-{hi}"
        verdict = "PASS" if t.median < MEDIAN_TARGET_MS and t.p95 < P95_TARGET_MS else "FAIL"
        out(
            f"{t.label:<58} {len(t.times_ms):>5} {t.median:>10.1f} {t.p95:>8.1f} {queries:>8}  "
            f"{verdict} (median < {MEDIAN_TARGET_MS} ms, p95 < {P95_TARGET_MS} ms)"
        )
