"""`manage.py bench --only compliance`: applicability for every seeded use case, and the
coverage page and API at that size.

The register's benchmark seeds 10,000 use cases in bulk (no signals run), most with a tier and
no screening: the role is taken as deployer, as the pages say. This module

1. removes the compliance rows of a previous run (applicability rows; their history stays,
   append-only) and times ``applicability_compute_all`` over every use case, as a framework
   update or a rebuild would run it: rows written with their history versions, in batches;
2. adds a firm-wide control with current evidence for Art. 4 and one for Art. 26(1), so that
   coverage has met, missing and overdue obligations to count, and times the status refresh
   (the nightly check) over every row;
3. leaves the timing of the coverage page and API to the bench command (median, p95,
   queries per request), which reports them like every page.
"""

import datetime
import time
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone

from compliance.models import Applicability, Control, Evidence, Obligation
from compliance.services.applicability import applicability_compute_all, statuses_refresh
from portal.records import next_reference

BENCH_TITLE = "bench control"


@dataclass
class Figures:
    use_cases: int
    rows: int
    applicable: int
    compute_seconds: float
    refresh_seconds: float
    changed: int
    compute_queries: int = 0
    refresh_queries: int = 0


class _Counter:
    """Counts every statement the connection runs (the query log keeps only 9,000)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


@transaction.atomic
def _controls(owner) -> None:
    """Two firm-wide controls with current evidence (bulk, shaped as the services write)."""
    Control.objects.filter(title__startswith=BENCH_TITLE).delete()
    Evidence.objects.filter(title__startswith=BENCH_TITLE).delete()
    today = timezone.localdate()
    for key in ("art-4", "art-26-1"):
        obligation = Obligation.objects.get(
            framework__key="eu-ai-act", framework__active=True, key=key
        )
        control = Control.objects.create(
            reference=next_reference("CT"),
            title=f"{BENCH_TITLE} {key}",
            kind="procedure",
            owner=owner,
            frequency="annual",
        )
        control.obligations.set([obligation])
        evidence = Evidence.objects.create(
            reference=next_reference("EV"),
            title=f"{BENCH_TITLE} evidence {key}",
            url="https://bench.example/evidence",
            effective_on=today - datetime.timedelta(days=10),
            expires_on=today + datetime.timedelta(days=200),
            attested_by=owner,
            uploaded_by=owner,
        )
        evidence.controls.set([control])


def run(use_cases: int) -> Figures:
    Applicability.objects.all().delete()
    computed = _Counter()
    with connection.execute_wrapper(computed):
        started = time.perf_counter()
        counts = applicability_compute_all(why="Benchmark: computed for every use case")
        compute = time.perf_counter() - started
    owner = get_user_model().objects.filter(is_active=True).order_by("pk").first()
    _controls(owner)
    # A third of the applicable rows are past their due date.
    past = timezone.localdate() - datetime.timedelta(days=1)
    ids = list(Applicability.objects.filter(applicable=True).values_list("pk", flat=True)[::3])
    Applicability.objects.filter(pk__in=ids).update(due_on=past)
    refreshed = _Counter()
    with connection.execute_wrapper(refreshed):
        started = time.perf_counter()
        changed = statuses_refresh(why="Benchmark: nightly check")
        refresh = time.perf_counter() - started
    return Figures(
        use_cases=use_cases,
        rows=counts["created"],
        applicable=Applicability.objects.filter(applicable=True).count(),
        compute_seconds=compute,
        refresh_seconds=refresh,
        changed=changed,
        compute_queries=computed.count,
        refresh_queries=refreshed.count,
    )
