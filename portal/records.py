"""Writing governed records: every save and delete keeps one history version with who and why.

Every service in every app writes through these, so a record's history always says who made
each change and the reason they gave. django-simple-history reads the person and the reason
from attributes it sets on the instance; they are set here and nowhere else.
"""

from collections.abc import Iterable

from django.core.exceptions import ObjectDoesNotExist
from django.db import connection, models
from simple_history.signals import pre_create_historical_record

from portal.models import Sequence


def _stamp(obj: models.Model, *, actor, reason: str) -> None:
    # The names django-simple-history reads when it writes the version (see its
    # HistoricalRecords.get_history_user and get_change_reason_for_object).
    obj._change_reason = reason  # type: ignore[attr-defined]
    obj._history_user = actor  # type: ignore[attr-defined]


def save_with_history(
    obj: models.Model,
    *,
    actor,
    reason: str,
    update_fields: Iterable[str] | None = None,
    m2m: dict | None = None,
) -> None:
    """Save with who and why, writing exactly one history version.

    Many-to-many changes are applied first without history, so the one version written by
    the save holds the fields and the links together, as the person made them.
    """
    created = obj.pk is None
    if m2m:
        if created:
            obj.save_without_historical_record()  # type: ignore[attr-defined]
        obj.skip_history_when_saving = True  # type: ignore[attr-defined]
        try:
            for name, values in m2m.items():
                getattr(obj, name).set(values)
        finally:
            del obj.skip_history_when_saving  # type: ignore[attr-defined]
    _stamp(obj, actor=actor, reason=reason)
    if created and m2m:
        # The save below updates the row just inserted; it is the record's creation, and
        # its history version says so from the start (history rows are never updated).
        obj._steward_creating = True  # type: ignore[attr-defined]
    try:
        obj.save(update_fields=update_fields)
    finally:
        obj.__dict__.pop("_steward_creating", None)


def _creation_version(sender, instance, history_instance, **kwargs) -> None:
    if getattr(instance, "_steward_creating", False):
        history_instance.history_type = "+"


def connect() -> None:
    """Mark the creating version of a record saved with its links (see save_with_history)."""
    pre_create_historical_record.connect(_creation_version, dispatch_uid="records:creation")


def delete_with_history(obj: models.Model, *, actor, reason: str) -> None:
    """Delete a record, leaving a last history version ("-") that says who removed it and why."""
    _stamp(obj, actor=actor, reason=reason)
    obj.delete()


def assign_fields(obj: models.Model, data: dict, allowed: Iterable[str]) -> list[str]:
    """Copy the allowed keys of ``data`` onto ``obj``; return the names that changed."""
    changed = []
    for field in allowed:
        if field not in data:
            continue
        try:
            current = getattr(obj, field)
        except ObjectDoesNotExist:  # an unset foreign key on a new record
            current = None
        if current != data[field]:
            setattr(obj, field, data[field])
            changed.append(field)
    return changed


def reserve_numbers(name: str, count: int) -> range:
    """``count`` consecutive values of a named counter, the counter made at its first use.
    One statement (an upsert, on PostgreSQL and SQLite alike) that locks the counter's row
    until commit, so numbers of one name are handed out in commit order."""
    if count < 1:
        raise ValueError("count must be at least 1")
    table = connection.ops.quote_name(Sequence._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (name, last_value) VALUES (%s, %s) "
            f"ON CONFLICT (name) DO UPDATE SET last_value = {table}.last_value + %s "
            "RETURNING last_value",
            [name, count, count],
        )
        (last,) = cursor.fetchone()
    return range(last - count + 1, last + 1)


def next_number(name: str) -> int:
    """The next value of a named counter (see reserve_numbers)."""
    return reserve_numbers(name, 1)[0]


def next_reference(prefix: str) -> str:
    """The next number for a prefix, e.g. UC-0042. Locks the counter row until commit."""
    return f"{prefix}-{next_number(prefix):04d}"
