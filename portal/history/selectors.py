"""Reads of history: one record's versions, and the audit log across every governed model."""

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from django.db.models import CharField, F, QuerySet, Value, Window
from django.db.models.functions import Lag
from django.utils import timezone

from portal.history.changes import (
    PREVIOUS,
    Version,
    before,
    build_versions,
    newest_first,
    with_previous,
)
from portal.history.tracked import HISTORY_REGISTRY, HistoryEntry

EXPORT_CHUNK = 500


def rows_of(entry: HistoryEntry, pk: int) -> QuerySet:
    """Every historical row of one record, newest first, with who made it."""
    hm = entry.history_model
    pk_name = entry.model._meta.pk.attname
    return newest_first(hm._default_manager.filter(**{pk_name: pk}).select_related("history_user"))


def versions_of(entry: HistoryEntry, pk: int) -> QuerySet:
    """Every version of one record, newest first, each knowing the version before it.

    The version before is the previous row of the record's own versions in time (``LAG``
    over them), as ``with_previous`` finds it for rows of many records with a subquery per
    row: the same answer, cheaper to build and to run. The window is worked out before any
    page is cut, so the oldest row of a page knows its predecessor on the next page. A
    filter that drops older rows would hide them from the window: page with slices, or
    with ``before`` (which drops only newer ones), never a filter on ids (``rows_of``).
    """
    in_time = [F("history_date").asc(), F("history_id").asc()]
    return rows_of(entry, pk).annotate(**{PREVIOUS: Window(Lag("history_id"), order_by=in_time)})


def iter_versions(entry: HistoryEntry, pk: int, chunk: int = EXPORT_CHUNK) -> Iterator[Version]:
    """All versions of a record in chunks (for exports), newest first."""
    qs = versions_of(entry, pk)
    last = None
    while True:
        page = qs.filter(before(*last)) if last else qs
        rows = list(page[:chunk])
        if not rows:
            return
        yield from build_versions(entry, rows)
        last = (rows[-1].history_date, rows[-1].history_id)


# The audit log -------------------------------------------------------------------------------
@dataclass(frozen=True)
class AuditFilters:
    models: tuple[str, ...] = ()
    user_id: int | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None


def _start_of(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _audit_part(entry: HistoryEntry, filters: AuditFilters, cursor) -> QuerySet:
    qs = entry.history_model._default_manager.all()
    if filters.user_id:
        qs = qs.filter(history_user_id=filters.user_id)
    if filters.date_from:
        qs = qs.filter(history_date__gte=_start_of(filters.date_from))
    if filters.date_to:
        qs = qs.filter(history_date__lt=_start_of(filters.date_to + dt.timedelta(days=1)))
    if cursor:
        qs = qs.filter(before(*cursor))
    # No ORDER BY inside a part of the UNION (SQLite refuses it; the union is ordered whole).
    return (
        qs.order_by()
        .annotate(model_key=Value(entry.key, output_field=CharField()))
        .values_list("history_date", "history_id", "model_key")
    )


def audit_entries(filters: AuditFilters) -> list[HistoryEntry]:
    keys = filters.models or tuple(HISTORY_REGISTRY)
    return [HISTORY_REGISTRY[k] for k in keys if k in HISTORY_REGISTRY]


def audit_rows(filters: AuditFilters, cursor: tuple | None = None) -> QuerySet | list:
    """(date, history_id, model key) of every change matching the filters, newest first.

    One UNION across the governed models' history tables, so paging and counting happen
    in the database. Only admins and auditors read it (``portal.view_audit_log``): they read
    every unit, so no per-record filter applies.
    """
    parts = [_audit_part(entry, filters, cursor) for entry in audit_entries(filters)]
    if not parts:
        return []
    first, *rest = parts
    qs = first.union(*rest, all=True) if rest else first
    return qs.order_by("-history_date", "-history_id")


def audit_versions(rows: Sequence[tuple]) -> list[Version]:
    """Versions with changes for a page of ``audit_rows``, in the same order."""
    by_model: dict[str, list[int]] = defaultdict(list)
    for _date, history_id, key in rows:
        by_model[key].append(history_id)
    found: dict[tuple[str, int], Version] = {}
    for key, ids in by_model.items():
        entry = HISTORY_REGISTRY[key]
        hm_rows = with_previous(
            entry, entry.history_model._default_manager.filter(history_id__in=ids)
        )
        for version in build_versions(entry, list(hm_rows)):
            found[(key, version.history_id)] = version
    return [found[(key, hid)] for _d, hid, key in rows if (key, hid) in found]


def iter_audit_versions(filters: AuditFilters, chunk: int = EXPORT_CHUNK) -> Iterator[Version]:
    cursor = None
    while True:
        rows = list(audit_rows(filters, cursor)[:chunk])
        if not rows:
            return
        yield from audit_versions(rows)
        cursor = (rows[-1][0], rows[-1][1])
