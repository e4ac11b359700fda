"""A signed-off assessment's content never changes, on SQLite too (the embedded default).

0004 guards PostgreSQL with a PL/pgSQL trigger; this is the same rule as SQLite triggers:
once an assessment is signed off (or superseded), its answers, result, template, use case
and version stay as signed, and it cannot go back to another status. The sign-offs
themselves are append-only on both databases through the ledger's guard
(portal/ledger/triggers.py), installed after every migrate.
"""

from django.db import migrations

MESSAGE = "A signed-off assessment is never changed"
SQLITE_GUARD = f"""
CREATE TRIGGER IF NOT EXISTS assessments_signed_content_immutable
    BEFORE UPDATE ON assessments_assessment
    WHEN OLD.status IN ('signed_off', 'superseded') AND (
        NEW.answers IS NOT OLD.answers
        OR NEW.result IS NOT OLD.result
        OR NEW.template_id IS NOT OLD.template_id
        OR NEW.use_case_id IS NOT OLD.use_case_id
        OR NEW.version IS NOT OLD.version
        OR NEW.status NOT IN ('signed_off', 'superseded')
    )
BEGIN
    SELECT RAISE(ABORT, '{MESSAGE}');
END
"""
SQLITE_UNGUARD = "DROP TRIGGER IF EXISTS assessments_signed_content_immutable"


def guard(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(SQLITE_GUARD)


def unguard(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(SQLITE_UNGUARD)


class Migration(migrations.Migration):
    dependencies = [("assessments", "0004_contributors_and_guards")]
    operations = [migrations.RunPython(guard, unguard)]
