"""0006 changed columns of the assessment table; SQLite makes such a change by rebuilding the
table, which drops its triggers. This puts 0005's guard back (SQLite only)."""

import importlib

from django.db import migrations

earlier = importlib.import_module("assessments.migrations.0005_signed_content_guard_on_sqlite")


class Migration(migrations.Migration):
    dependencies = [("assessments", "0006_text_limits")]
    operations = [migrations.RunPython(earlier.guard, migrations.RunPython.noop)]
