"""An incident's timeline is append-only on every database: the model, its querysets and the
database's own triggers (PostgreSQL and SQLite) all refuse to change or delete an entry.

Run on SQLite too: DATABASE_URL=sqlite:////tmp/hy.sqlite3 pytest tests/incidents/test_timeline.py
"""

import pytest
from django.db import DatabaseError, connection, transaction

from incidents.models import TimelineEntry
from incidents.services.incidents import incident_add_note

pytestmark = pytest.mark.django_db

REFUSED = "never changed or deleted"


@pytest.fixture
def entry(incident, product_owner):
    return incident_add_note(actor=product_owner, incident=incident, text="Original.")


def _unchanged(entry) -> None:
    stored = TimelineEntry.objects.get(pk=entry.pk)  # still there
    assert stored.text == "Original."


def test_an_entry_cannot_be_saved_again_or_deleted(entry):
    entry.text = "Rewritten."
    with pytest.raises(TimelineEntry.Refused, match=REFUSED), transaction.atomic():
        entry.save()
    with pytest.raises(TimelineEntry.Refused, match=REFUSED), transaction.atomic():
        entry.save(update_fields=["text"])
    with pytest.raises(TimelineEntry.Refused, match=REFUSED), transaction.atomic():
        entry.delete()
    _unchanged(entry)


def test_querysets_refuse_update_and_delete(entry, incident):
    for queryset in (
        TimelineEntry.objects.filter(pk=entry.pk),
        TimelineEntry.objects.all(),
        incident.timeline.all(),
    ):
        with pytest.raises(TimelineEntry.Refused, match=REFUSED), transaction.atomic():
            queryset.update(text="Rewritten.")
        with pytest.raises(TimelineEntry.Refused, match=REFUSED), transaction.atomic():
            queryset.delete()
    entry.text = "Rewritten."
    with pytest.raises(TimelineEntry.Refused, match=REFUSED), transaction.atomic():
        TimelineEntry.objects.bulk_update([entry], ["text"])
    _unchanged(entry)


def test_the_database_refuses_raw_sql_update_and_delete(entry):
    assert connection.vendor in {"postgresql", "sqlite"}
    table = TimelineEntry._meta.db_table
    with (
        pytest.raises(DatabaseError, match=REFUSED),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(f"UPDATE {table} SET text = %s WHERE id = %s", ["Rewritten.", entry.pk])
    with (
        pytest.raises(DatabaseError, match=REFUSED),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(f"DELETE FROM {table} WHERE id = %s", [entry.pk])
    _unchanged(entry)


def test_new_entries_are_still_added(entry, incident, product_owner):
    incident_add_note(actor=product_owner, incident=incident, text="Second.")
    assert list(incident.timeline.order_by("pk").values_list("text", flat=True))[-2:] == [
        "Original.",
        "Second.",
    ]
