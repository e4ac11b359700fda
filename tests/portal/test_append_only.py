"""The database refuses to rewrite what Steward keeps append-only: every guarded table
(history, many-to-many snapshots, sign-offs, incident timelines, the ledger) refuses a raw
UPDATE and DELETE, walked from the guard's own list. This file also runs on SQLite, from
test_history_walk.py's SQLite run."""

import pytest
from django.db import DatabaseError, connection, transaction

from assessments.models import Assessment, Status
from portal.ledger import chain
from portal.ledger.triggers import guarded_tables

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(demo_firm):
    chain.seal()


def _refused(sql: str) -> bool:
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)
    except DatabaseError as exc:
        return "never changed" in str(exc) or "append-only" in str(exc)
    return False


def test_every_guarded_table_with_rows_refuses_raw_updates_and_deletes(demo):
    checked, problems = 0, []
    with connection.cursor() as cursor:
        for table in guarded_tables():
            cursor.execute(f'SELECT COUNT(*) FROM "{table}"')
            if not cursor.fetchone()[0]:
                continue
            column = connection.introspection.get_primary_key_column(cursor, table)
            checked += 1
            if not _refused(f'UPDATE "{table}" SET "{column}" = "{column}" + 1000000000'):
                problems.append(f"{table}: UPDATE went through")
            if not _refused(f'DELETE FROM "{table}"'):
                problems.append(f"{table}: DELETE went through")
    assert not problems, problems
    assert checked >= 10  # the demo fills most of them: a walk over nothing proves nothing
    assert {"assessments_signoff", "incidents_timelineentry"} <= set(guarded_tables())


def test_an_update_that_changes_nothing_goes_through(demo):
    # Django's test runner reloads saved rows with such updates (serialized rollback).
    with connection.cursor() as cursor:
        cursor.execute("UPDATE portal_ledgerentry SET kind = kind")


def test_a_signed_off_assessments_answers_cannot_be_rewritten(demo):
    signed = Assessment.objects.filter(status=Status.SIGNED_OFF).first()
    assert signed is not None
    assert _refused(f"UPDATE assessments_assessment SET answers = '{{}}' WHERE id = {signed.pk}")
