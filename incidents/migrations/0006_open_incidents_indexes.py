"""The open incidents by severity (the dashboard's panel) and by owner (My work), each a
partial index of the incidents not closed."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("incidents", "0005_timeline_guard_again_on_sqlite"),
        ("monitoring", "0010_reference_keeps_current"),
        ("registry", "0013_use_case_owner_reviews_index"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddIndex(
            model_name="incident",
            index=models.Index(
                condition=models.Q(("status", "closed"), _negated=True),
                fields=["severity", "-opened_at"],
                name="incidents_open_by_severity",
            ),
        ),
        migrations.AddIndex(
            model_name="incident",
            index=models.Index(
                condition=models.Q(("status", "closed"), _negated=True),
                fields=["owner", "opened_at", "id"],
                name="incidents_open_by_owner",
            ),
        ),
    ]
