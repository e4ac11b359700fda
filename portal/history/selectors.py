"""Reads of history: one record's versions, and the audit log across every governed model."""

import datetime as dt
import functools
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import cast, overload

from django.core.paginator import EmptyPage, Page, PageNotAnInteger, Paginator
from django.db import connections, models, router
from django.db.models import CharField, Count, QuerySet, Value, Window
from django.db.models.query import get_related_populators
from django.utils import timezone

from portal.history.changes import (
    PERSON_LABEL_FIELDS,
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
    return _every_version(entry.history_model).filter(**{_record_key(entry.history_model): pk})


def _record_key(history_model: type[models.Model]) -> str:
    """The column of a historical row that holds its record's key (the record's own pk)."""
    return history_model.instance_type._meta.pk.attname  # type: ignore[attr-defined]


# What a version shows of the person who made it: their name (changes.person_label).
_MADE_BY = tuple(f"history_user__{name}" for name in PERSON_LABEL_FIELDS)


@functools.cache
def _every_version(history_model: type[models.Model]) -> QuerySet:
    """Every version of every record of one kind, newest first, each with the name of who
    made it, not the rest of their row (their password hash among it). Built once per kind:
    select_related(), only() and order_by() cost as much to build, page after page, as a
    page's rows to read (issue 19). Never evaluated itself: ``versions_of`` narrows a copy.
    """
    own = [f.name for f in history_model._meta.concrete_fields]
    return newest_first(
        history_model._default_manager.select_related("history_user").only(*own, *_MADE_BY)
    )


# Where a page's rows say how many versions there are in all (COUNT(*) OVER ()).
TOTAL = "paged_total"


class RecordVersions(Sequence[models.Model]):
    """Every version of one record, newest first, with who made it: ``versions_of``'s rows,
    as ``VersionPaginator`` reads them a page at a time (the history page and its API).

    Read in the SQL the ORM writes for ``versions_of`` counted as the paginator counts it,
    written once per kind of record (``_PageReader``), with the record's key, the page's size
    and its offset as parameters: built and compiled page after page, the same query made
    the page's read 1.4 ms of the history API's 5.8; read this way, 0.8 (issue 19). The rows
    are made as the ORM makes them, converters and the person who made each version
    included; tests/portal/test_history_walk.py compares the two for every kind of record.
    """

    def __init__(self, entry: HistoryEntry, pk: int):
        self.entry = entry
        self.pk = pk

    def rows(self, offset: int, limit: int) -> list[models.Model]:
        """Up to ``limit`` versions from the ``offset``-th, each with the count (TOTAL)."""
        hm = self.entry.history_model
        return _page_reader(hm, router.db_for_read(hm))(self.pk, offset, limit)

    # A sequence, as a paginator may treat it (VersionPaginator reads ``rows``).
    def __len__(self) -> int:
        return versions_of(self.entry, self.pk).count()

    def __iter__(self) -> Iterator[models.Model]:
        return iter(versions_of(self.entry, self.pk))

    @overload
    def __getitem__(self, index: int) -> models.Model: ...
    @overload
    def __getitem__(self, index: slice) -> list[models.Model]: ...
    def __getitem__(self, index):
        if isinstance(index, slice):
            if index.step not in (None, 1):
                return list(self)[index]
            start, stop, _ = index.indices(len(self))
            return self.rows(start, max(stop - start, 0))
        if index < 0:
            index += len(self)
        rows = self.rows(index, 1) if index >= 0 else []
        if not rows:
            raise IndexError(index)
        return rows[0]


class _PageReader:
    """Reads pages of versions of one kind of record on one database: the SQL and the
    compiler's map of its columns (which are the row's, which the person's, where the count
    is), worked out once by compiling the ORM's query for a record whose key is a parameter."""

    def __init__(self, history_model: type[models.Model], using: str):
        key = _record_key(history_model)
        query = (
            _every_version(history_model)
            .filter(**{key: 0})
            .annotate(**{TOTAL: Window(Count("*"))})
            .query
        )
        compiler = query.get_compiler(using=using)
        sql, params = compiler.as_sql()
        if list(params) != [0]:  # the record's key, and nothing else
            raise ValueError(f"Unexpected parameters in the versions of {history_model}: {params}")
        self.model = history_model
        self.using = using
        self.sql = f"{sql} LIMIT %s OFFSET %s"
        self.compiler = compiler
        select, klass_info = compiler.select, compiler.klass_info
        assert klass_info is not None and compiler.annotation_col_map is not None
        fields = klass_info["select_fields"]
        self.own = slice(fields[0], fields[-1] + 1)
        self.init_list = [column[0].target.attname for column in select[self.own]]
        # Django 5.2's signature (the stubs follow a later Django's, with a fetch mode).
        self.related = get_related_populators(klass_info, select, using)  # type: ignore[call-arg]
        self.total_at = compiler.annotation_col_map[TOTAL]

    def __call__(self, pk: int, offset: int, limit: int) -> list[models.Model]:
        with connections[self.using].cursor() as cursor:
            cursor.execute(self.sql, [pk, limit, offset])
            fetched = cursor.fetchall()
        rows = []
        # As the ORM's ModelIterable: each value through the field's converters, the row
        # and the person who made it built from their columns.
        for values in self.compiler.results_iter(results=[fetched]):
            row = self.model.from_db(self.using, self.init_list, values[self.own])
            for populator in self.related:
                populator.populate(values, row)
            setattr(row, TOTAL, values[self.total_at])
            rows.append(row)
        return rows


@functools.cache
def _page_reader(history_model: type[models.Model], using: str) -> _PageReader:
    return _PageReader(history_model, using)


# The largest offset PostgreSQL takes (a bigint), less a page.
MAX_OFFSET = 2**63 - 2**20


class VersionPage(Page):
    """A page of a record's versions, and the version just before its oldest (``older``;
    None on the last page, whose oldest is the record's first version)."""

    def __init__(self, object_list, number: int, paginator: Paginator, older=None):
        super().__init__(object_list, number, paginator)
        self.older = older


class VersionPaginator(Paginator):
    """Pages of one record's versions (``RecordVersions``), each page read in one query: its
    rows, how many versions there are (``COUNT(*) OVER ()`` on each row) and one row more,
    the version just before the page's oldest (``Page.older``, None on the last page).

    Each version is shown with what changed from the one before it; the one before is the
    next row, and for the page's last row that extra one, so no version needs a query of
    its own (issue 19: a window or a subquery per row cost more to build than to run).
    """

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
        rows = cast(RecordVersions, self.object_list).rows(bottom, self.per_page + 1)
        if not rows and number > 1:
            self.validate_number(number)  # past the end: Django's EmptyPage, as Django asks
        self.count = getattr(rows[0], TOTAL) if rows else 0
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
