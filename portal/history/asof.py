"""Records as they stood at a chosen moment, read from their history.

A moment is what a person asks for: a date and time, or a date alone, which means the end of
that day in the portal's time zone (settings.TIME_ZONE), so "as of 31 March" includes every
change made on 31 March. One record's version at a moment is its newest version at or before
it; a whole table as of a moment is one query over the history table, so a list page costs
the same whatever the number of records.
"""

import datetime as dt
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import models
from django.db.models import Exists, OuterRef, Prefetch, QuerySet
from django.utils import timezone

from portal.history.changes import newest_first
from portal.history.tracked import HistoryEntry

DELETED = "-"


def portal_zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def end_of_day(day: dt.date) -> dt.datetime:
    """The last instant of a day in the portal's time zone."""
    return dt.datetime.combine(day, dt.time.max, tzinfo=portal_zone())


def parse_moment(raw: str) -> dt.datetime:
    """An ISO date (the end of that day) or date and time; naive times are the portal's.

    Raises ValueError for anything else. A "+" of an offset that reached us unencoded in a
    query string arrives as a space, so that reading is tried too.
    """
    moment = _read_moment((raw or "").strip())
    try:
        # The database compares in UTC: a moment at the edge of the calendar must convert.
        moment.astimezone(dt.UTC)
    except OverflowError:
        raise ValueError(f"{raw!r} is out of range") from None
    return moment


def _read_moment(text: str) -> dt.datetime:
    if not text:
        raise ValueError("empty")
    try:
        return end_of_day(dt.date.fromisoformat(text))
    except ValueError:
        pass
    candidates = [text]
    head, sep, tail = text.rpartition(" ")
    if sep and head and tail[:1].isdigit() and ":" in tail and "T" in head:
        candidates.append(f"{head}+{tail}")
    for candidate in candidates:
        try:
            moment = dt.datetime.fromisoformat(candidate)
        except ValueError:
            continue
        if timezone.is_naive(moment):
            moment = moment.replace(tzinfo=portal_zone())
        return moment
    raise ValueError(f"{text!r} is not a date or a date and time")


def version_at(entry: HistoryEntry, pk: int, moment: dt.datetime):
    """The record's newest version at or before ``moment``; None if it did not exist yet."""
    hm = entry.history_model
    pk_name = entry.model._meta.pk.attname
    rows = hm._default_manager.filter(**{pk_name: pk, "history_date__lte": moment})
    return newest_first(rows.select_related("history_user")).first()


def first_version_date(entry: HistoryEntry, pk: int) -> dt.datetime | None:
    hm = entry.history_model
    pk_name = entry.model._meta.pk.attname
    rows = hm._default_manager.filter(**{pk_name: pk}).order_by("history_date", "history_id")
    return rows.values_list("history_date", flat=True).first()


def rows_as_of(
    model: type[models.Model], moment: dt.datetime, *, among: QuerySet | None = None
) -> QuerySet:
    """Every record of ``model`` as it stood at ``moment``: one historical row per record.

    The row is the record's highest history_id at or before the moment. A record's versions
    are written one after another (each save inserts its row as it stamps the date), so that
    is its newest version then. Records whose newest version is a deletion, and those not yet
    created, are left out. The rows carry the record's fields (its key under the field's own
    name, ``id``: a historical row's ``pk`` is its history_id) and can be filtered, ordered
    and paginated like the model's own queryset. ``among`` (a queryset of the records' keys)
    keeps only those records, before their versions are grouped: cheaper than filtering after.
    """
    hm = model.history.model  # type: ignore[attr-defined]  # django-simple-history
    pk_name = model._meta.pk.attname
    versions = hm._default_manager.filter(history_date__lte=moment)
    # "No later version by then" rather than "history_id IN (each record's MAX)": PostgreSQL
    # cannot tell how many ids the grouped subquery yields (it guesses 200), so it looked each
    # of them up by key one at a time (10,000 index probes for the register as of a day);
    # NOT EXISTS is a hash anti-join over the versions, read once.
    later = versions.filter(
        **{pk_name: OuterRef(pk_name)}, history_id__gt=OuterRef("history_id")
    ).values("history_id")
    if among is not None:
        versions = versions.filter(**{f"{pk_name}__in": among})
    return versions.filter(~Exists(later)).exclude(history_type=DELETED)


def snapshot_prefetch(model: type[models.Model], field_name: str, *, to_attr: str) -> Prefetch:
    """For historical rows of ``model`` (``rows_as_of``): each version's snapshot of a
    many-to-many field, put in ``to_attr`` as the links of the time, each with its target
    loaded (``link.<target model name>``; None if that record is gone)."""
    hm = model.history.model  # type: ignore[attr-defined]  # django-simple-history
    snapshots = hm.__dict__[field_name].model  # the field's history of links
    accessor = snapshots._meta.get_field("history").remote_field.get_accessor_name()
    field = model._meta.get_field(field_name)
    assert isinstance(field, models.ManyToManyField)
    target = field.m2m_reverse_field_name()
    return Prefetch(
        accessor, queryset=snapshots._default_manager.select_related(target), to_attr=to_attr
    )
