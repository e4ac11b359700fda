"""An incident's timeline is append-only: the database refuses to change or delete an entry.

The model refuses it too (TimelineEntry.save/delete and its queryset), but raw SQL, a shell or
another program would go round the ORM, so the guard is also a trigger, on PostgreSQL and on
SQLite (the embedded default) alike.

No BEFORE TRUNCATE trigger on PostgreSQL, on purpose: Django's test runner empties the tables
between transactional tests with TRUNCATE (its flush), and such a trigger would make every
one of them fail. A TRUNCATE needs the table owner's rights; row-level UPDATE and DELETE are
what an application account could do, and those are refused.

SQLite's triggers are row-level only, so its flush (a DELETE) fails only on a database that
holds timeline entries. A later migration that makes SQLite rebuild the table (most column
changes do) drops these triggers with the old table: such a migration must create them again.
"""

from django.db import migrations

MESSAGE = "An incident timeline entry is never changed or deleted"

POSTGRESQL_GUARD = f"""
CREATE OR REPLACE FUNCTION incidents_timeline_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '{MESSAGE}';
END;
$$ LANGUAGE plpgsql
--
CREATE TRIGGER incidents_timeline_append_only
    BEFORE UPDATE OR DELETE ON incidents_timelineentry
    FOR EACH ROW EXECUTE FUNCTION incidents_timeline_append_only()
"""
POSTGRESQL_UNGUARD = """
DROP TRIGGER IF EXISTS incidents_timeline_append_only ON incidents_timelineentry
--
DROP FUNCTION IF EXISTS incidents_timeline_append_only()
"""
SQLITE_GUARD = f"""
CREATE TRIGGER incidents_timeline_no_update
    BEFORE UPDATE ON incidents_timelineentry
BEGIN
    SELECT RAISE(ABORT, '{MESSAGE}');
END
--
CREATE TRIGGER incidents_timeline_no_delete
    BEFORE DELETE ON incidents_timelineentry
BEGIN
    SELECT RAISE(ABORT, '{MESSAGE}');
END
"""
SQLITE_UNGUARD = """
DROP TRIGGER IF EXISTS incidents_timeline_no_update
--
DROP TRIGGER IF EXISTS incidents_timeline_no_delete
"""
SCRIPTS = {
    "postgresql": (POSTGRESQL_GUARD, POSTGRESQL_UNGUARD),
    "sqlite": (SQLITE_GUARD, SQLITE_UNGUARD),
}


def _run(schema_editor, which: int) -> None:
    scripts = SCRIPTS.get(schema_editor.connection.vendor)
    if scripts is None:
        return  # another database: the model's own guard still holds
    for statement in scripts[which].split("\n--\n"):
        schema_editor.execute(statement.strip(), params=None)


def guard(apps, schema_editor):
    _run(schema_editor, 0)


def unguard(apps, schema_editor):
    _run(schema_editor, 1)


class Migration(migrations.Migration):
    dependencies = [("incidents", "0001_initial")]
    operations = [migrations.RunPython(guard, unguard)]
