"""Turn historical rows into versions with readable, field-by-field changes.

Everything here works on a batch of rows at once so that a page costs the same number of
queries whatever its length: previous versions in one query, each many-to-many field's
snapshots in one query, and the labels of every related record in one query per model.
"""

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.db import connections, models, router
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.text import capfirst

from portal.history.tracked import HistoryEntry

CHANGE_TYPES = {"+": "Created", "~": "Changed", "-": "Deleted"}
SYSTEM = "System"


@dataclass(frozen=True)
class FieldChange:
    field: str
    label: str
    old: str
    new: str
    many: bool = False
    # For many-to-many fields: every item before and after, and what was added or removed.
    old_items: tuple[str, ...] = ()
    new_items: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()

    @property
    def old_marked(self) -> list[tuple[str, bool]]:
        removed = set(self.removed)
        return [(item, item in removed) for item in self.old_items]

    @property
    def new_marked(self) -> list[tuple[str, bool]]:
        added = set(self.added)
        return [(item, item in added) for item in self.new_items]


@dataclass(frozen=True)
class FieldValue:
    """One field of a record as it stood in one version, readable."""

    field: str
    label: str
    value: str
    # The stored value (a related record's id, a list of ids for a many-to-many field).
    raw: object = None
    many: bool = False
    items: tuple[str, ...] = ()


@dataclass
class Version:
    model_key: str
    model_label: str
    record_pk: int
    history_id: int
    date: dt.datetime
    user_id: int | None
    user_label: str
    change_type: str
    reason: str
    previous_id: int | None
    changes: list[FieldChange] = field(default_factory=list)
    # The historical row it was built from.
    row: models.Model | None = field(default=None, repr=False, compare=False)

    @cached_property
    def record_label(self) -> str:
        """The record's name as it stood in this version: built only where a page shows it
        (the audit log, the export), since it means the record made anew from the row."""
        return "" if self.row is None else str(self.row.instance)  # type: ignore[attr-defined]

    @property
    def change_type_label(self) -> str:
        return CHANGE_TYPES.get(self.change_type, self.change_type)


# What ``person_label`` reads of a person: a read meant for it need load no more of them.
PERSON_LABEL_FIELDS = ("username", "first_name", "last_name")


def person_label(user) -> str:
    if user is None:
        return SYSTEM
    return user.get_full_name() or user.get_username()


def object_label(obj) -> str:
    if isinstance(obj, get_user_model()):
        return person_label(obj)
    return str(obj)


def newest_first(qs: QuerySet) -> QuerySet:
    return qs.order_by("-history_date", "-history_id")


def before(date: dt.datetime, history_id: int) -> Q:
    """Rows older than the given one, in newest-first order (for keyset iteration)."""
    return Q(history_date__lt=date) | Q(history_date=date, history_id__lt=history_id)


# The annotation's name: a governed model may have a field of its own called "previous"
# (an assessment points at the version it re-assesses), whose column is previous_id.
PREVIOUS = "history_previous_id"


def with_previous(entry: HistoryEntry, qs: QuerySet) -> QuerySet:
    """Annotate each historical row with the history_id of the version before it."""
    hm = entry.history_model
    pk_name = entry.model._meta.pk.attname
    previous = newest_first(
        hm._default_manager.filter(**{pk_name: OuterRef(pk_name)}).filter(
            Q(history_date__lt=OuterRef("history_date"))
            | Q(history_date=OuterRef("history_date"), history_id__lt=OuterRef("history_id"))
        )
    ).values("history_id")[:1]
    return qs.select_related("history_user").annotate(**{PREVIOUS: Subquery(previous)})


def _read_with(row: models.Model, name: str) -> bool:
    """Whether the record ``row`` points at through ``name`` was read with it."""
    field = row._meta.get_field(name)
    return isinstance(field, models.ForeignKey) and field.is_cached(row)


def related_in_memory(record: models.Model) -> list[models.Model]:
    """The records ``record`` points at that were read with it (select_related)."""
    return [
        getattr(record, f.name)
        for f in record._meta.concrete_fields
        if isinstance(f, models.ForeignKey)
        and f.is_cached(record)
        and getattr(record, f.attname) is not None
    ]


class _Differ:
    """Compares historical rows of one model; resolves labels for a whole batch."""

    def __init__(
        self,
        entry: HistoryEntry,
        rows: Iterable[models.Model],
        held: Iterable[models.Model] = (),
    ):
        self.entry = entry
        self.hm = entry.history_model
        # tracked_fields and _history_m2m_fields: set by django-simple-history at run time.
        tracked = self.hm.tracked_fields  # type: ignore[attr-defined]
        m2m_fields = self.hm._history_m2m_fields  # type: ignore[attr-defined]
        self.fields = [f for f in tracked if f.name not in entry.exclude]
        self.m2m_fields = [f for f in m2m_fields if f.name not in entry.exclude]
        self.rows = {row.pk: row for row in rows}  # a historical row's pk is its history_id
        self.m2m: dict[str, dict[int, set]] = {}
        self.labels: dict[type[models.Model], dict] = {}
        self.held = list(held)

    # Loading -----------------------------------------------------------------------------
    def load(self) -> "_Differ":
        self._load_m2m()
        self._load_labels()
        return self

    def _load_m2m(self) -> None:
        ids = list(self.rows)
        for m2m_field in self.m2m_fields:
            snapshot: dict[int, set] = defaultdict(set)
            if ids:
                for history_id, target_pk in self._m2m_pairs(m2m_field, ids):
                    if target_pk is not None:
                        snapshot[history_id].add(target_pk)
            self.m2m[m2m_field.name] = snapshot

    def _m2m_pairs(self, m2m_field, ids: list[int]) -> list[tuple[int, int | None]]:
        """(history_id, related pk) of each item in the snapshots of ``ids``, in SQL: the
        ORM took longer to build the query than the database to answer it, on every page
        of history (issue 19)."""
        m2m_history_model = self.hm.__dict__[m2m_field.name].model
        meta = m2m_history_model._meta
        target = meta.get_field(m2m_field.m2m_reverse_field_name())
        using = router.db_for_read(m2m_history_model)
        quote = connections[using].ops.quote_name
        marks = ", ".join(["%s"] * len(ids))
        sql = (
            f"SELECT {quote(meta.get_field('history').column)}, {quote(target.column)} "
            f"FROM {quote(meta.db_table)} "
            f"WHERE {quote(meta.get_field('history').column)} IN ({marks})"
        )
        with connections[using].cursor() as cursor:
            cursor.execute(sql, ids)
            return cursor.fetchall()

    def _load_labels(self) -> None:
        wanted: dict[type[models.Model], set] = defaultdict(set)
        for f in self.fields:
            if f.is_relation and f.related_model is not None:
                for row in self.rows.values():
                    value = getattr(row, f.attname)
                    if value is not None:
                        wanted[f.related_model].add(value)
        for m2m_field in self.m2m_fields:
            for pks in self.m2m[m2m_field.name].values():
                wanted[m2m_field.related_model].update(pks)
        self._labels_in_memory()
        for model, pks in wanted.items():
            labels = self.labels.setdefault(model, {})
            missing = pks - labels.keys()
            if missing:
                objects = model._base_manager.filter(pk__in=missing)
                labels.update((obj.pk, object_label(obj)) for obj in objects)

    def _labels_in_memory(self) -> None:
        """Labels of related records already read: who made each version (read with it) and
        what the caller holds (the record's unit and owner as they are now). Most versions
        name only those, so most pages need no query for labels at all."""
        held = list(self.held)
        for row in self.rows.values():
            if getattr(row, "history_user_id", None) is not None and _read_with(
                row, "history_user"
            ):
                held.append(row.history_user)  # type: ignore[attr-defined]
        for obj in held:
            self.labels.setdefault(type(obj), {})[obj.pk] = object_label(obj)

    # Values ------------------------------------------------------------------------------
    def display(self, f: models.Field, value) -> str:
        if value is None or value == "" or value == []:
            return ""
        if f.is_relation and f.related_model is not None:
            label = self.labels.get(f.related_model, {}).get(value)
            return label or f"Deleted {f.related_model._meta.verbose_name} #{value}"
        if f.choices:
            return str(dict(f.flatchoices).get(value, value))
        mapping = self.entry.value_labels.get(f.name)
        if mapping is not None and isinstance(value, list):
            return ", ".join(str(mapping.get(v, v)) for v in value)
        if isinstance(value, bool):
            return "Yes" if value else "No"
        if isinstance(value, dt.datetime):
            return timezone.localtime(value).isoformat() if timezone.is_aware(value) else str(value)
        if isinstance(value, dt.date):
            return value.isoformat()
        if isinstance(value, (list, dict)):
            return json.dumps(value, ensure_ascii=False)
        return str(value)

    def _items(self, m2m_field, pks: set) -> list[str]:
        labels = self.labels.get(m2m_field.related_model, {})
        meta = m2m_field.related_model._meta
        return sorted(labels.get(pk) or f"Deleted {meta.verbose_name} #{pk}" for pk in pks)

    # One version whole -------------------------------------------------------------------
    def values(self, row) -> list[FieldValue]:
        """Every tracked field of one version, many-to-many items as they stood then."""
        result = [
            FieldValue(
                field=f.name,
                label=capfirst(f.verbose_name),
                value=self.display(f, getattr(row, f.attname)),
                raw=getattr(row, f.attname),
            )
            for f in self.fields
        ]
        for m2m_field in self.m2m_fields:
            pks = self.m2m[m2m_field.name].get(row.history_id, set())
            items = self._items(m2m_field, pks)
            result.append(
                FieldValue(
                    field=m2m_field.name,
                    label=capfirst(m2m_field.verbose_name),
                    value="; ".join(items),
                    raw=sorted(pks),
                    many=True,
                    items=tuple(items),
                )
            )
        return result

    # Comparing ---------------------------------------------------------------------------
    def changes(self, old, new) -> list[FieldChange]:
        """What differs from ``old`` to ``new``; ``old`` None means the record was created."""
        result = []
        for f in self.fields:
            before = getattr(old, f.attname) if old is not None else None
            after = getattr(new, f.attname)
            if before == after or (old is None and after in (None, "", [])):
                continue
            result.append(
                FieldChange(
                    field=f.name,
                    label=capfirst(f.verbose_name),
                    old=self.display(f, before),
                    new=self.display(f, after),
                )
            )
        for m2m_field in self.m2m_fields:
            snapshot = self.m2m[m2m_field.name]
            before = snapshot.get(old.history_id, set()) if old is not None else set()
            after = snapshot.get(new.history_id, set())
            if before == after:
                continue
            old_items, new_items = self._items(m2m_field, before), self._items(m2m_field, after)
            result.append(
                FieldChange(
                    field=m2m_field.name,
                    label=capfirst(m2m_field.verbose_name),
                    old="; ".join(old_items),
                    new="; ".join(new_items),
                    many=True,
                    old_items=tuple(old_items),
                    new_items=tuple(new_items),
                    added=tuple(self._items(m2m_field, after - before)),
                    removed=tuple(self._items(m2m_field, before - after)),
                )
            )
        return result

    def version(self, row, changes: list[FieldChange]) -> Version:
        pk_name = self.entry.model._meta.pk.attname
        return Version(
            model_key=self.entry.key,
            model_label=self.entry.label,
            record_pk=getattr(row, pk_name),
            history_id=row.history_id,
            date=row.history_date,
            user_id=row.history_user_id,
            user_label=person_label(row.history_user) if row.history_user_id else SYSTEM,
            change_type=row.history_type,
            reason=row.history_change_reason or "",
            previous_id=getattr(row, PREVIOUS, None),
            changes=changes,
            row=row,
        )


def in_sequence(rows: Iterable[models.Model], older: models.Model | None) -> list[models.Model]:
    """Consecutive versions of one record, newest first, each told the version before it
    (``PREVIOUS``, as ``with_previous`` does): the next row, and for the last, ``older`` (the
    version just before it; None if the last is the record's first)."""
    rows = list(rows)
    for row, before in zip(rows, [*rows[1:], older][: len(rows)], strict=True):
        setattr(row, PREVIOUS, None if before is None else before.pk)
    return rows


def build_versions(
    entry: HistoryEntry,
    rows: Sequence[models.Model],
    held: Iterable[models.Model] = (),
    older: Iterable[models.Model] = (),
) -> list[Version]:
    """Versions with their changes, for rows annotated by ``with_previous`` or ``in_sequence``.

    ``held``: related records already read (``related_in_memory(record)``), whose labels
    need not be read again. ``older``: historical rows already read that some row's version
    before may be (not themselves built)."""
    rows, older = list(rows), list(older)
    # A historical row's pk is its history_id.
    known = {row.pk for row in [*rows, *older]}
    before_of = {row.pk: getattr(row, PREVIOUS) for row in rows}
    missing = {pid for pid in before_of.values() if pid and pid not in known}
    previous = older
    if missing:
        previous += entry.history_model._default_manager.filter(history_id__in=missing)
    differ = _Differ(entry, [*rows, *previous], held).load()
    return [
        differ.version(row, differ.changes(differ.rows.get(before_of[row.pk]), row)) for row in rows
    ]


def compare(entry: HistoryEntry, a, b) -> tuple[Version, Version, list[FieldChange]]:
    """Two versions of one record, oldest first, and every field that differs between them."""
    older, newer = sorted([a, b], key=lambda row: (row.history_date, row.history_id))
    differ = _Differ(entry, [older, newer]).load()
    return (
        differ.version(older, []),
        differ.version(newer, []),
        differ.changes(older, newer),
    )


def snapshot(entry: HistoryEntry, row) -> tuple[Version, list[FieldValue]]:
    """One version of a record and every tracked field as it stood in it (a few queries)."""
    differ = _Differ(entry, [row]).load()
    return differ.version(row, []), differ.values(row)
