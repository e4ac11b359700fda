"""An incident's timeline is append-only: PostgreSQL refuses to change or delete an entry."""

from django.db import migrations

GUARD = """
CREATE OR REPLACE FUNCTION incidents_timeline_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'An incident timeline entry is never changed or deleted';
END;
$$ LANGUAGE plpgsql
--
CREATE TRIGGER incidents_timeline_append_only
    BEFORE UPDATE OR DELETE ON incidents_timelineentry
    FOR EACH ROW EXECUTE FUNCTION incidents_timeline_append_only()
"""
UNGUARD = """
DROP TRIGGER IF EXISTS incidents_timeline_append_only ON incidents_timelineentry
--
DROP FUNCTION IF EXISTS incidents_timeline_append_only()
"""


def _run(schema_editor, script: str) -> None:
    if schema_editor.connection.vendor == "postgresql":
        for statement in script.split("\n--\n"):
            schema_editor.execute(statement.strip(), params=None)


def guard(apps, schema_editor):
    _run(schema_editor, GUARD)


def unguard(apps, schema_editor):
    _run(schema_editor, UNGUARD)


class Migration(migrations.Migration):
    dependencies = [("incidents", "0001_initial")]
    operations = [migrations.RunPython(guard, unguard)]
