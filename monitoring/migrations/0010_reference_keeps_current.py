from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0009_shipped_material_change_rules"),
    ]

    operations = [
        migrations.AddField(
            model_name="referencedistribution",
            name="current",
            field=models.JSONField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="referencedistribution",
            name="current_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
    ]
