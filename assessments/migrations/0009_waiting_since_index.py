"""The assessments waiting for a decision, in the order they have waited (models.waiting_since):
the dashboard walks it for the ten waiting longest (selectors.stuck)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("assessments", "0008_risk_tier_outside_the_act"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="assessment",
            index=models.Index(
                models.Case(
                    models.When(status="approved", then=models.F("approved_at")),
                    default=models.F("submitted_at"),
                ),
                models.F("id"),
                condition=models.Q(("status__in", ("submitted", "in_review", "approved"))),
                name="assessments_waiting_since",
            ),
        ),
    ]
