"""The index of the use cases a person owns also holds what My work asks of each for its
re-assessments (lifecycle, the re-assessment mark, the review date), so that their count is
read from the index alone: in place of the owner's index by key alone."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0012_use_case_indexes_for_the_dashboard"),
    ]

    operations = [
        # The new index first: an owner's use cases are never without one.
        migrations.AddIndex(
            model_name="usecase",
            index=models.Index(
                fields=["owner", "id"],
                include=("lifecycle", "needs_reassessment", "next_review_date"),
                name="registry_usecase_owner_reviews",
            ),
        ),
        migrations.RemoveIndex(model_name="usecase", name="registry_usecase_owned"),
    ]
