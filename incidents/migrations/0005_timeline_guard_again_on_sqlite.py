"""0004 changed a column of the timeline table; SQLite makes such a change by rebuilding the
table, which drops its triggers. This puts 0002's guard back (SQLite only)."""

import importlib

from django.db import migrations

earlier = importlib.import_module("incidents.migrations.0002_append_only_timeline")


def guard(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        earlier.unguard(apps, schema_editor)  # DROP ... IF EXISTS: whatever survived
        earlier.guard(apps, schema_editor)


class Migration(migrations.Migration):
    dependencies = [("incidents", "0004_text_limits")]
    operations = [migrations.RunPython(guard, migrations.RunPython.noop)]
