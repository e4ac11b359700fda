"""`manage.py bench --only leadership`: the portfolio dashboard, the KPI API and the board
pack, at 10,000 use cases with a year of monthly KPI snapshots.

The register's benchmark seeds the use cases (and their two years of history) and the model
registry. This module

1. replaces the KPI snapshots with a year of them, as the portal makes them: the eleven past
   months backfilled from history (``snapshots.backfill``) and the current month taken as the
   daily job takes it (``snapshots.take_snapshots``), for the firm and every unit;
2. makes the board pack of the previous month as leadership (``board_pack_make``, a new one
   each run, timed too) and times its ``render`` (the PDF, median
   and p95 seconds; the issue asks for a median under 2 s);
3. leaves the timing of the portfolio page and ``GET /api/v1/kpis/`` to the bench command,
   which requests them as a risk officer and as leadership and reports them like every page.
"""

import statistics
import time
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from devtools.bench.stats import p95


def _dashboard(module: str) -> Any:
    """A dashboard module, by name: devtools shares the top layer with the dashboard, which
    it may not import (import-linter's one-way app graph)."""
    return import_module(f"dashboard.{module}")


RISK_OFFICER = "bench.risk"
LEADER = "bench.leader"
MONTHS = 12
RENDER_MEDIAN_TARGET_S = 2.0


@dataclass
class Figures:
    snapshots: int
    snapshot_seconds: float
    pack: str
    make_seconds: float  # board_pack_make: the KPIs frozen and the pack saved
    renders: list[float]  # seconds
    pdf: bytes  # the last render
    make_queries: int = 0
    render_queries: list[int] = field(default_factory=list)  # per timed render

    @property
    def median(self) -> float:
        return statistics.median(self.renders)

    @property
    def p95(self) -> float:
        return p95(self.renders)


def seed_snapshots(months: int = MONTHS) -> tuple[int, float]:
    """A year of monthly snapshots for the firm and every unit; returns (kept, seconds)."""
    snapshots = _dashboard("snapshots")
    apps.get_model("dashboard", "KpiSnapshot").objects.all().delete()
    started = time.perf_counter()
    kept = snapshots.backfill(months=months - 1)
    kept += snapshots.take_snapshots()
    return kept, time.perf_counter() - started


def pack_of_last_month() -> Any:
    """A new pack each run: one kept from an earlier run froze the figures of its data."""
    board_pack = _dashboard("board_pack")
    leader = get_user_model().objects.get(username=LEADER)
    start, end = board_pack.previous_month(timezone.localdate())
    return board_pack.board_pack_make(actor=leader, start=start, end=end)


def run(renders: int = 10, warmup: int = 1) -> Figures:
    kept, seconds = seed_snapshots()
    with CaptureQueriesContext(connection) as made:
        started = time.perf_counter()
        pack = pack_of_last_month()
        make_seconds = time.perf_counter() - started
    times, queries, pdf = [], [], b""
    for k in range(warmup + max(1, renders)):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            pdf = _dashboard("board_pack").render(pack)
            elapsed = time.perf_counter() - started
        if k >= warmup:
            times.append(elapsed)
            queries.append(len(captured.captured_queries))
    return Figures(
        snapshots=kept,
        snapshot_seconds=seconds,
        pack=pack.reference,
        make_seconds=make_seconds,
        renders=times,
        pdf=pdf,
        make_queries=len(made.captured_queries),
        render_queries=queries,
    )
