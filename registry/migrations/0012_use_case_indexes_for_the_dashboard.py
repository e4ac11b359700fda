"""Two indexes the dashboard reads after a change instead of the register's rows: the use cases
a person owns, by key (it replaces the owner's own index), and those marked as needing
re-assessment, in the order the dashboard lists them."""

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
                condition=models.Q(("needs_reassessment", True)),
                fields=["next_review_date", "reference"],
                name="registry_usecase_to_reassess",
            ),
        ),
    ]
