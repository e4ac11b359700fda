"""What is kept is kept under the change log's rows for each table, not their number alone
(dashboard/work_store.py): a change outdates only what reads its table. What was kept is a
cache, dropped here and gathered again on the next request."""

from django.db import migrations, models


def drop_kept(apps, schema_editor):
    for name in ("WorkSnapshot", "PanelSnapshot"):
        apps.get_model("dashboard", name).objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("dashboard", "0004_dashboard_panels_kept"),
    ]

    operations = [
        migrations.RunPython(drop_kept, migrations.RunPython.noop),
        migrations.RemoveField(model_name="worksnapshot", name="changes"),
        migrations.AddField(
            model_name="worksnapshot", name="changes", field=models.JSONField(default=dict),
            preserve_default=False,
        ),
        migrations.RemoveField(model_name="panelsnapshot", name="changes"),
        migrations.AddField(
            model_name="panelsnapshot", name="changes", field=models.JSONField(default=dict),
            preserve_default=False,
        ),
    ]
