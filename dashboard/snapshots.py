"""Monthly snapshots of the KPIs (dashboard/kpis.py) and the trends read from them.

``take_snapshots`` keeps the current month's figures for the firm and each business unit
(the beat task runs it each day, so a month ends with its last day's figures; people with
the right take one on demand); ``backfill`` fills past months from history. A viewer's trend
is the firm's if they read everything, otherwise the sum of the units they belong to (the
additive figures only, percentages recomputed from them), so no trend shows a unit the
viewer may not see.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, time

from django.db import transaction
from django.utils import timezone

from dashboard import kpis
from dashboard.models import KpiSnapshot, SnapshotSource
from portal.access import access_for
from registry.models import BusinessUnit, UseCase
from registry.services.gate_log import gate_check


def month_start(day: date) -> date:
    return day.replace(day=1)


def month_end(first: date) -> date:
    return first.replace(day=calendar.monthrange(first.year, first.month)[1])


def add_months(first: date, n: int) -> date:
    index = first.year * 12 + first.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


@transaction.atomic
def _keep(month: date, unit_id: int | None, figures: dict, now: datetime, source: str) -> None:
    KpiSnapshot.objects.update_or_create(
        month=month,
        business_unit_id=unit_id,
        defaults={"figures": figures, "taken_at": now, "source": source},
    )


def take_snapshots(*, now: datetime | None = None, source: str = SnapshotSource.SCHEDULE) -> int:
    """The current month's KPIs for the firm and every unit, replacing any taken before this
    month. Returns how many snapshots were kept."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    first = month_start(today)
    kept = 0
    for unit_id in [None, *BusinessUnit.objects.order_by("pk").values_list("pk", flat=True)]:
        scope = kpis.Scope(unit_id=unit_id, start=first, end=today, now=now)
        _keep(first, unit_id, kpis.compute(scope), now, source)
        kept += 1
    return kept


def backfill(*, months: int | None = None, now: datetime | None = None) -> int:
    """Past months (before the current one) from history, for the firm and every unit; a
    month already snapshotted by the schedule or on demand is left alone. ``months`` bounds
    how far back; by default, back to the first use case. Returns how many were kept."""
    now = now or timezone.now()
    current = month_start(timezone.localdate(now))
    earliest = UseCase.history.order_by("history_date").values_list("history_date", flat=True)
    first_seen = earliest.first()
    if first_seen is None:
        return 0
    start = month_start(timezone.localdate(first_seen))
    if months is not None:
        start = max(start, add_months(current, -months))
    taken = {
        (s.month, s.business_unit_id)
        for s in KpiSnapshot.objects.exclude(source=SnapshotSource.BACKFILL).only(
            "month", "business_unit_id"
        )
    }
    units = [None, *BusinessUnit.objects.order_by("pk").values_list("pk", flat=True)]
    kept = 0
    month = start
    while month < current:
        end = month_end(month)
        moment = timezone.make_aware(datetime.combine(end, time.max))
        for unit_id in units:
            if (month, unit_id) in taken:
                continue
            figures = kpis.figures_as_of(moment, unit_id=unit_id, start=month)
            _keep(month, unit_id, figures, now, SnapshotSource.BACKFILL)
            kept += 1
        month = add_months(month, 1)
    return kept


def recheck_live_gates(*, now: datetime | None = None) -> int:
    """Ask the go-live gate again for every live use case and keep the answer (source
    "schedule"), so the gate KPI reads an answer no older than a day."""
    n = 0
    for use_case in UseCase.objects.filter(lifecycle=kpis.LIVE).order_by("pk").iterator():
        gate_check(use_case=use_case, actor=None, source="schedule")
        n += 1
    return n


# Trends ----------------------------------------------------------------------------------
def trend(viewer, *, unit_id: int | None = None, months: int = 12, today: date | None = None):
    """The additive figures per month over the last ``months`` months, for what the viewer
    may see: [{"month": date, "<figure>": number, ...}], oldest first."""
    today = today or timezone.localdate()
    since = add_months(month_start(today), -(months - 1))
    # None: the firm as a whole (the board pack, jobs).
    everything = viewer is None or access_for(viewer).reads_everything
    units = frozenset() if viewer is None else access_for(viewer).unit_ids
    qs = KpiSnapshot.objects.filter(month__gte=since)
    if unit_id is not None:
        if not everything and unit_id not in units:
            return []
        qs = qs.filter(business_unit_id=unit_id)
    elif everything:
        qs = qs.filter(business_unit__isnull=True)
    else:
        qs = qs.filter(business_unit_id__in=units)
    by_month: dict[date, dict] = {}
    for month, figures in qs.values_list("month", "figures"):
        row = by_month.setdefault(month, {"month": month})
        for name, (kpi, key) in kpis.ADDITIVE.items():
            value = (figures.get(kpi) or {}).get(key)
            if value is not None:
                row[name] = row.get(name, 0) + value
    rows = [by_month[m] for m in sorted(by_month)]
    for row in rows:
        row["gate.percent"] = kpis.pct(row.get("gate.passing", 0), row.get("gate.live", 0))
        row["signed_off.percent"] = kpis.pct(
            row.get("signed_off.signed", 0), row.get("signed_off.in_use", 0)
        )
    return rows
