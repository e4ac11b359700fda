"""Indexes the dashboard reads after a change instead of the register's rows: the use cases a
person owns, by key (in place of the owner's own index); those marked as needing
re-assessment, in the order the dashboard lists them; and, by unit and lifecycle, what the
figures count and who sees each (in place of the index by unit and lifecycle alone)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0011_use_case_joined_index"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # The new index first: an owner's use cases are never without one.
        migrations.AddIndex(
            model_name="usecase",
            index=models.Index(fields=["owner", "id"], name="registry_usecase_owned"),
        ),
        migrations.AlterField(
            model_name="usecase",
            name="owner",
            field=models.ForeignKey(
                db_index=False,
                help_text="The accountable product owner.",
                on_delete=django.db.models.deletion.PROTECT,
                related_name="owned_use_cases",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddIndex(
            model_name="usecase",
            index=models.Index(
                fields=["business_unit", "lifecycle"],
                include=("risk_tier", "needs_reassessment", "kill_switch_engaged", "owner", "id"),
                name="registry_usecase_counted",
            ),
        ),
        migrations.RemoveIndex(model_name="usecase", name="registry_us_busines_6290c3_idx"),
        migrations.AddIndex(
            model_name="usecase",
            index=models.Index(
                condition=models.Q(("needs_reassessment", True)),
                fields=["next_review_date", "reference"],
                name="registry_usecase_to_reassess",
            ),
        ),
    ]
