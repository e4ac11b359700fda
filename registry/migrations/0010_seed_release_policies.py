"""The release policy each risk tier ships with (registry/release_policy.py DEFAULT_POLICIES,
copied here as it stood, so later edits of the defaults do not rewrite history). A firm edits
the rows afterwards (the admin, or PATCH /api/v1/release-policies/<id>/); an existing row is
never overwritten."""

from django.db import migrations

STRICT = {
    "approvers": ["risk_officer", "owner"],
    "min_shadow_hours": 72,
    "min_canary_hours": 72,
    "canary_max_traffic": 10,
    "require_evaluation": True,
    "blocking_severity": "high",
}
POLICIES = {
    "prohibited": {**STRICT, "require_fairness": True, "protected_groups": ["sex", "age"]},
    "high": {**STRICT, "require_fairness": True, "protected_groups": ["sex", "age"]},
    "unscreened": {**STRICT, "require_fairness": False, "protected_groups": []},
    "limited": {
        "approvers": ["risk_officer"],
        "min_shadow_hours": 24,
        "min_canary_hours": 24,
        "canary_max_traffic": 25,
        "require_evaluation": False,
        "require_fairness": False,
        "protected_groups": [],
        "blocking_severity": "critical",
    },
}
for tier in ("minimal", "outside"):
    POLICIES[tier] = {
        "approvers": ["owner"],
        "min_shadow_hours": 0,
        "min_canary_hours": 0,
        "canary_max_traffic": 50,
        "require_evaluation": False,
        "require_fairness": False,
        "protected_groups": [],
        "blocking_severity": "critical",
    }


def seed(apps, schema_editor):
    ReleasePolicy = apps.get_model("registry", "ReleasePolicy")
    Historical = apps.get_model("registry", "HistoricalReleasePolicy")
    for tier, values in POLICIES.items():
        policy, created = ReleasePolicy.objects.get_or_create(tier=tier, defaults=values)
        if created:
            # The first version in its history, as save_with_history would keep it.
            Historical.objects.create(
                id=policy.pk,
                tier=policy.tier,
                updated_at=policy.updated_at,
                history_date=policy.updated_at,
                history_type="+",
                history_change_reason="Shipped default",
                **values,
            )


class Migration(migrations.Migration):
    dependencies = [("registry", "0009_releases")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
