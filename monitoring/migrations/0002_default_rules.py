"""The rules Steward ships with. A firm changes their thresholds or switches them off."""

from django.db import migrations

MONTH_MINUTES = 31 * 24 * 60

DEFAULT_RULES = [
    {
        "builtin": "drift-psi",
        "name": "Input drift (PSI above 0.25)",
        "description": (
            "A Population Stability Index above 0.25 on any feature is the usual sign of a "
            "significant shift in the data the model now sees: re-assess the use case."
        ),
        "metric": "drift.psi",
        "aggregation": "max",
        "window_minutes": 60,
        "comparison": "gt",
        "threshold": 0.25,
        "min_samples": 1,
        "severity": "high",
        "action": "flag",
        "subject": "use_case",
    },
    {
        "builtin": "error-rate",
        "name": "Error rate above 5%",
        "description": (
            "The mean error rate over the last 15 minutes is above 5% (0.05) on at least five "
            "samples: the model version needs looking at."
        ),
        "metric": "error_rate",
        "aggregation": "mean",
        "window_minutes": 15,
        "comparison": "gt",
        "threshold": 0.05,
        "min_samples": 5,
        "severity": "high",
        "action": "flag",
        "subject": "model_version",
    },
    {
        "builtin": "budget",
        "name": "Monthly budget spent",
        "description": "The use case has spent its whole monthly budget.",
        "metric": "budget_used_pct",
        "aggregation": "last",
        "window_minutes": MONTH_MINUTES,
        "comparison": "gte",
        "threshold": 100,
        "min_samples": 1,
        "severity": "medium",
        "action": "flag",
        "subject": "use_case",
    },
]


def add_rules(apps, schema_editor):
    Rule = apps.get_model("monitoring", "Rule")
    for fields in DEFAULT_RULES:
        Rule.objects.get_or_create(builtin=fields["builtin"], defaults=fields)


def remove_rules(apps, schema_editor):
    apps.get_model("monitoring", "Rule").objects.filter(
        builtin__in=[r["builtin"] for r in DEFAULT_RULES], flags__isnull=True
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0001_initial")]
    operations = [migrations.RunPython(add_rules, remove_rules)]
