"""Each kept source's depth, not one for the list (dashboard/work_store.py): the dashboard,
after a change, gathers the sources it changed five deep, and My work's page gathers only
those again. What was kept is a cache, dropped here and gathered again on the next request."""

from django.db import migrations, models


def drop_kept(apps, schema_editor):
    apps.get_model("dashboard", "WorkSnapshot").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("dashboard", "0005_kept_by_table"),
    ]

    operations = [
        migrations.RunPython(drop_kept, migrations.RunPython.noop),
        migrations.RemoveField(model_name="worksnapshot", name="depth"),
        migrations.AddField(
            model_name="worksnapshot", name="depths", field=models.JSONField(default=dict),
            preserve_default=False,
        ),
    ]
