"""Reads of history: one record's versions, and the audit log across every governed model."""

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import cast

from django.core.paginator import EmptyPage, Page, PageNotAnInteger, Paginator
from django.db.models import CharField, Count, QuerySet, Value, Window
from django.utils import timezone

from portal.history.changes import (
    Version,
    before,
    build_versions,
    in_sequence,
    newest_first,
    with_previous,
)
from portal.history.tracked import HISTORY_REGISTRY, HistoryEntry

EXPORT_CHUNK = 500


def versions_of(entry: HistoryEntry, pk: int) -> QuerySet:
    """Every version of one record, newest first, with who made it. Read them a page at a
    time with ``VersionPaginator`` (then ``page_versions``) or all with ``iter_versions``:
    each then knows the version before it, read in the same query."""
    hm = entry.history_model
    pk_name = entry.model._meta.pk.attname
    return newest_first(hm._default_manager.filter(**{pk_name: pk}).select_related("history_user"))


# The largest offset PostgreSQL takes (a bigint), less a page.
MAX_OFFSET = 2**63 - 2**20


class VersionPage(Page):
    """A page of a record's versions, and the version just before its oldest (``older``;
    None on the last page, whose oldest is the record's first version)."""

    def __init__(self, object_list, number: int, paginator: Paginator, older=None):
        super().__init__(object_list, number, paginator)
        self.older = older


class VersionPaginator(Paginator):
    """Pages of one record's versions (``versions_of``), each page read in one query: its
    rows, how many versions there are (``COUNT(*) OVER ()`` on each row) and one row more,
    the version just before the page's oldest (``Page.older``, None on the last page).

    Each version is shown with what changed from the one before it; the one before is the
    next row, and for the page's last row that extra one, so no version needs a query of
    its own (issue 19: a window or a subquery per row cost more to build than to run).
    """

    TOTAL = "paged_total"

    def page(self, number) -> VersionPage:
        try:
            if isinstance(number, float) and not number.is_integer():
                raise ValueError
            number = int(number)
        except (TypeError, ValueError):
            raise PageNotAnInteger(self.error_messages["invalid_page"]) from None
        if number < 1:
            raise EmptyPage(self.error_messages["min_page"])
        bottom = (number - 1) * self.per_page
        if bottom > MAX_OFFSET:
            # More versions than any table holds: past the end (the database would refuse
            # an offset this large with an error, not an empty page).
            raise EmptyPage(self.error_messages["no_results"])
        versions = cast(QuerySet, self.object_list)
        counted = versions.annotate(**{self.TOTAL: Window(Count("*"))})
        rows = list(counted[bottom : bottom + self.per_page + 1])
        if not rows and number > 1:
            self.validate_number(number)  # past the end: Django's EmptyPage, as Django asks
        self.count = getattr(rows[0], self.TOTAL) if rows else 0
        older = rows[self.per_page] if len(rows) > self.per_page else None
        return VersionPage(rows[: self.per_page], number, self, older)

    def get_page(self, number) -> VersionPage:
        """As Django's: the first page for anything but a number, the last past the end; but
        the page asked for is read first (with its count), not counted before it is read."""
        try:
            return self.page(number)
        except PageNotAnInteger:
            return self.page(1)
        except EmptyPage:
            return self.page(self.num_pages)


def page_versions(entry: HistoryEntry, page: VersionPage, held: Iterable = ()) -> list[Version]:
    """The versions of a ``VersionPaginator`` page, each with its changes. ``held``: related
    records already read (``related_in_memory(record)``)."""
    rows = in_sequence(page.object_list, page.older)
    return build_versions(entry, rows, held, older=[page.older] if page.older else [])


def iter_versions(entry: HistoryEntry, pk: int, chunk: int = EXPORT_CHUNK) -> Iterator[Version]:
    """All versions of a record in chunks (for exports), newest first; each chunk is read
    with the version before its oldest, as a page is."""
    qs = versions_of(entry, pk)
    last = None
    while True:
        part = qs.filter(before(*last)) if last else qs
        rows = list(part[: chunk + 1])
        rows, older = rows[:chunk], (rows[chunk] if len(rows) > chunk else None)
        if rows:
            linked = in_sequence(rows, older)
            yield from build_versions(entry, linked, older=[older] if older else [])
        if older is None:
            return
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
