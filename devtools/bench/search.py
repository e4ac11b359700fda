"""`manage.py bench --only search`: the navigation bar's search at 10,000 use cases with
20,000 assessments, then at 100,000 use cases (issue 18; issue 19 goal 4: median under 50 ms).

On top of the register's seeded 10,000 use cases (and its 2,000 models), inside one
transaction that is rolled back at the end, so the benchmark database is left as it was:

1. 20,000 assessments (two per use case: a signed-off screening and a DPIA in some state) and
   1,000 incidents are bulk-created; the search page and ``GET /api/v1/search/`` are timed as
   a product owner (who sees a third of the register) and as the auditor (all of it);
2. 90,000 more use cases are bulk-created (100,000 in all), the tables analysed, and the same
   requests timed again.

Each request's SQL is captured and replayed straight away on the same database connection's
psycopg cursor (no Django around it, every row fetched): the floor. Requests and replays
alternate, so load on a shared machine weighs on both. The queries searched mix a common word
(one use case in twenty), two words typed in part, a full reference, part of a reference and
a word that matches nothing.

Rows written in the still-open transaction are the searcher's own, so PostgreSQL checks their
visibility cheaply and no index-only scan is possible; the indexes and plans are the ones
committed rows would get (the GIN pending lists are flushed before timing).
"""

from __future__ import annotations

import os
import random
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, reset_queries, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings
from django.utils import timezone

from assessments.models import Assessment, AssessmentTemplate, Kind, Status
from devtools.bench import register as register_bench
from devtools.bench.stats import p95
from incidents.models import DetectedBy, Incident, Severity
from registry.models import (
    AIModel,
    BusinessUnit,
    DataSource,
    DecisionImpact,
    HumanOversight,
    Lifecycle,
    RiskTier,
    UseCase,
)

ASSESSMENTS = 20_000
INCIDENTS = 1_000
LARGE = 100_000
MEDIAN_TARGET_MS = 50  # issue 19, goal 4, at 100,000 use cases
QUERIES = [
    "fraud",  # a common word: one use case in twenty
    "loan appl",  # two words typed in part
    "UC-04242",  # a full reference
    "0424",  # part of a reference
    "zzyzx",  # nothing
]
BATCH = 5_000
FROM = re.compile(r'\bFROM "(\w+)"')
INDEXES = [
    "search_usecase_doc",
    "search_usecase_ref",
    "search_assessment_ref",
    "search_incident_doc",
    "search_incident_ref",
]


TABLES = (UseCase, Assessment, Incident, AIModel, DataSource)


@dataclass
class Timing:
    label: str
    times_ms: list[float] = field(default_factory=list)
    floor_ms: list[float] = field(default_factory=list)
    queries: list[int] = field(default_factory=list)
    problem: str = ""
    by_table: dict[str, list[float]] = field(default_factory=dict)  # SQL ms by FROM table

    @property
    def median(self) -> float:
        return statistics.median(self.times_ms)

    @property
    def p95(self) -> float:
        return p95(self.times_ms)

    @property
    def floor(self) -> float:
        return statistics.median(self.floor_ms)


class _Rollback(Exception):
    pass


def run(seeded, *, requests: int, warmup: int, out: Callable[[str], None]) -> None:
    owner = Client(raise_request_exception=True)
    owner.force_login(seeded.product_owner)
    auditor = Client(raise_request_exception=True)
    auditor.force_login(seeded.auditor)
    hosts = [*settings.ALLOWED_HOSTS, "testserver"]
    _vacuum()  # what an interrupted run left behind would slow the indexes down
    try:
        with override_settings(ALLOWED_HOSTS=hosts), transaction.atomic():
            started = time.perf_counter()
            made = _assessments_and_incidents()
            _analyse()
            out(
                f"Search: {made[0]:,} assessments and {made[1]:,} incidents bulk-created in "
                f"{time.perf_counter() - started:.1f} s (rolled back at the end)."
            )
            _report(out, seeded.use_cases, _time_all(owner, auditor, requests, warmup))
            started = time.perf_counter()
            added = _more_use_cases(seeded.use_cases, LARGE)
            _analyse()
            out(
                f"{added:,} more use cases bulk-created and analysed in "
                f"{time.perf_counter() - started:.1f} s."
            )
            _report(out, UseCase.objects.count(), _time_all(owner, auditor, requests, warmup))
            raise _Rollback
    except _Rollback:
        pass
    # The rolled-back rows are dead but still in the heap and the GIN indexes until vacuumed;
    # left there, they would slow the next run (and every other benchmark) down.
    _vacuum()


def _vacuum() -> None:
    tables = ", ".join(connection.ops.quote_name(m._meta.db_table) for m in TABLES)
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM (ANALYZE) {tables}")


def _time_all(owner: Client, auditor: Client, requests: int, warmup: int) -> list[Timing]:
    cases = [
        ("page, product owner", owner, "/search/"),
        ("page, auditor (all)", auditor, "/search/"),
        ("API, product owner", owner, "/api/v1/search/"),
        ("API, auditor (all)", auditor, "/api/v1/search/"),
        ("page of one kind (use cases), auditor", auditor, "/search/?kind=use_case"),
    ]
    return [_time(label, client, path, requests, warmup) for label, client, path in cases]


def _time(label: str, client: Client, path: str, requests: int, warmup: int) -> Timing:
    timing = Timing(label)
    joiner = "&" if "?" in path else "?"
    raw = connection.cursor().cursor  # the psycopg cursor under Django's wrapper
    for k in range(warmup + requests):
        q = QUERIES[k % len(QUERIES)]
        url = f"{path}{joiner}q={q}"
        reset_queries()
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(url)
            elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            timing.problem = f"answered {response.status_code} ({url})"
            return timing
        statements = [c["sql"] for c in captured.captured_queries]
        started = time.perf_counter()
        for sql in statements:
            raw.execute(sql.encode())
            if raw.description is not None:
                raw.fetchall()
        floor = (time.perf_counter() - started) * 1000
        if k < warmup:
            continue
        timing.times_ms.append(elapsed)
        timing.floor_ms.append(floor)
        timing.queries.append(len(statements))
        for query in captured.captured_queries:
            found = FROM.search(query["sql"])
            if found:
                ms = float(query["time"]) * 1000
                timing.by_table.setdefault(found.group(1), []).append(ms)
    return timing


def _report(out: Callable[[str], None], use_cases: int, timings: list[Timing]) -> None:
    load = os.getloadavg()[0]
    out("")
    out(
        f"Search at {use_cases:,} use cases, {Assessment.objects.count():,} assessments, "
        f"{Incident.objects.count():,} incidents; {os.cpu_count()} CPUs, load average "
        f"{load:.2f}. Queries searched in turn: {', '.join(repr(q) for q in QUERIES)}."
    )
    out(
        "floor: the same SQL statements, replayed at once on the same connection's psycopg "
        "cursor (every row fetched)."
    )
    header = (
        f"{'request':<40} {'reqs':>5} {'median ms':>10} {'p95 ms':>8} {'queries':>8} "
        f"{'floor ms':>9} {'x floor':>8}  result"
    )
    out(header)
    out("-" * len(header))
    target = MEDIAN_TARGET_MS if use_cases >= LARGE else 100
    for t in timings:
        if t.problem:
            out(f"{t.label:<40} not timed: {t.problem}")
            continue
        lo, hi = min(t.queries), max(t.queries)
        queries = str(lo) if lo == hi else f"{lo}-{hi}"
        verdict = "PASS" if t.median < target and t.p95 < 200 else "FAIL"
        out(
            f"{t.label:<40} {len(t.times_ms):>5} {t.median:>10.1f} {t.p95:>8.1f} {queries:>8} "
            f"{t.floor:>9.1f} {t.median / max(t.floor, 0.001):>8.1f}  {verdict} "
            f"(median < {target} ms, p95 < 200 ms)"
        )
    slowest = max((t for t in timings if not t.problem), key=lambda t: t.median, default=None)
    if slowest is not None:
        parts = sorted(
            ((table, statistics.median(ms)) for table, ms in slowest.by_table.items()),
            key=lambda p: -p[1],
        )
        out(
            f"SQL of the slowest ({slowest.label}), median ms by table: "
            + ", ".join(f"{table} {ms:.1f}" for table, ms in parts if ms >= 0.5)
            + "."
        )


def _analyse() -> None:
    with connection.cursor() as cursor:
        for index in INDEXES:
            cursor.execute("SELECT gin_clean_pending_list(%s::regclass)", [index])
        for model in TABLES:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")


def _assessments_and_incidents() -> tuple[int, int]:
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
    states = [Status.DRAFT, Status.SUBMITTED, Status.IN_REVIEW, Status.APPROVED, Status.SIGNED_OFF]
    rows = []
    n = 0
    for pk, owner_id in use_cases:
        for kind, status in ((Kind.SCREENING, Status.SIGNED_OFF), (Kind.DPIA, rng.choice(states))):
            n += 1
            rows.append(
                Assessment(
                    reference=f"AS-S{n:05d}",
                    template=templates[kind],
                    kind=kind,
                    use_case_id=pk,
                    author_id=owner_id,
                    status=status,
                )
            )
    Assessment.objects.bulk_create(rows, batch_size=BATCH)
    now = timezone.now()
    incidents = [
        Incident(
            reference=f"INC-S{i + 1:04d}",
            title=f"{rng.choice(register_bench.SUBJECTS).capitalize()} "
            f"{rng.choice(['outage', 'wrong answers', 'drift', 'bias complaint'])}",
            description="Found by the on-call engineer; the kill switch was considered.",
            use_case_id=use_cases[(i * 7) % len(use_cases)][0],
            detected_by=DetectedBy.STAFF,
            severity=rng.choice(Severity.values),
            owner_id=use_cases[(i * 7) % len(use_cases)][1],
            aware_at=now - timedelta(days=i % 300),
        )
        for i in range(INCIDENTS)
    ]
    Incident.objects.bulk_create(incidents, batch_size=BATCH)
    return len(rows), len(incidents)


def _more_use_cases(have: int, want: int) -> int:
    """Use cases numbered on from the seeded ones, spread over the same units and owners."""
    rng = random.Random(19)
    units = list(BusinessUnit.objects.filter(code__in=[c for c, _ in register_bench.UNITS]))
    by_code = {u.code: u for u in units}
    owners = dict(
        get_user_model()
        .objects.filter(username__in=register_bench.UNIT_OWNER.values())
        .values_list("username", "pk")
    )
    made = 0
    for start in range(have, want, BATCH):
        rows = []
        for i in range(start, min(want, start + BATCH)):
            code = register_bench.UNITS[register_bench.unit_index(i)][0]
            subject = rng.choice(register_bench.SUBJECTS)
            word = rng.choice(register_bench.WORDS)
            rows.append(
                UseCase(
                    reference=register_bench.reference(i),
                    title=f"{subject.capitalize()} {word} {i + 1}",
                    purpose=f"Uses AI for {word} of {subject} so that staff can act faster. "
                    f"Case {i + 1}; reviewed by the unit's product owner.",
                    business_unit=by_code[code],
                    owner_id=owners[register_bench.UNIT_OWNER[code]],
                    lifecycle=rng.choice(Lifecycle.values),
                    people_affected=["staff"],
                    decision_impact=DecisionImpact.ASSISTS,
                    human_oversight=HumanOversight.BEFORE_ACTION,
                    risk_tier=RiskTier.UNSCREENED,
                )
            )
        UseCase.objects.bulk_create(rows, batch_size=BATCH)
        made += len(rows)
    return made
