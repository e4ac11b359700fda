"""The material-change rules Steward ships (issue 15). A firm switches them off, changes their
severity and whether they start a draft, or adds its own.

Each names a change the EU AI Act or data protection law treats as possibly substantial: what
the system decides and about whom, how people oversee it, what it is for, what data it uses,
and which model runs it and where that model sends data.
"""

from django.db import migrations

SHIPPED = [
    {
        "builtin": "decision-impact",
        "name": "Decision impact changed",
        "description": "The AI now decides differently (e.g. it decides automatically where a "
        "person decided): what the assessment rests on no longer holds.",
        "change": "use_case.decision_impact",
        "condition": "any",
        "severity": "high",
        "start_draft": False,
    },
    {
        "builtin": "people-affected",
        "name": "People affected changed",
        "description": "The AI reaches other people (e.g. customers as well as staff).",
        "change": "use_case.people_affected",
        "condition": "any",
        "severity": "high",
        "start_draft": False,
    },
    {
        "builtin": "human-oversight",
        "name": "Human oversight changed",
        "description": "People review the AI's output differently (Art. 14).",
        "change": "use_case.human_oversight",
        "condition": "any",
        "severity": "high",
        "start_draft": False,
    },
    {
        "builtin": "purpose",
        "name": "Purpose changed",
        "description": "The intended purpose is what the risk tier is decided on (Art. 3(12)).",
        "change": "use_case.purpose",
        "condition": "any",
        "severity": "medium",
        "start_draft": False,
    },
    {
        "builtin": "data-source-added",
        "name": "Data source added",
        "description": "The use case uses a data source it did not use before.",
        "change": "use_case.data_sources",
        "condition": "increase",
        "severity": "medium",
        "start_draft": False,
    },
    {
        "builtin": "data-source-reclassified",
        "name": "Data source reclassified higher",
        "description": "A data source the use case uses moved to a higher class, or to "
        "special-category personal data (GDPR Art. 9).",
        "change": "data_source.classification",
        "condition": "increase",
        "severity": "high",
        "start_draft": True,
    },
    {
        "builtin": "personal-data-on",
        "name": "Personal data switched on",
        "description": "A data source the use case uses now holds personal data: a DPIA may "
        "be needed.",
        "change": "data_source.personal_data",
        "condition": "becomes",
        "value": "true",
        "severity": "high",
        "start_draft": True,
    },
    {
        "builtin": "new-model",
        "name": "New model or provider serving the use case",
        "description": "A model (and so perhaps a provider) that never served the use case "
        "now does.",
        "change": "use_case.model",
        "condition": "increase",
        "severity": "high",
        "start_draft": False,
    },
    {
        "builtin": "provider-changed",
        "name": "Model provider changed",
        "description": "A model serving the use case now comes from another provider.",
        "change": "ai_model.provider",
        "condition": "any",
        "severity": "high",
        "start_draft": False,
    },
    {
        "builtin": "version-in-production",
        "name": "Model version promoted to production",
        "description": "A version of a model serving the use case reached production.",
        "change": "model_version.stage",
        "condition": "becomes",
        "value": "production",
        "severity": "medium",
        "start_draft": False,
    },
    {
        "builtin": "data-leaves-firm",
        "name": "Hosting now sends data outside",
        "description": "A model serving the use case now sends data to an external API.",
        "change": "ai_model.data_destination",
        "condition": "becomes",
        "value": "external_api",
        "severity": "high",
        "start_draft": False,
    },
]


def add_rules(apps, schema_editor):
    MaterialChangeRule = apps.get_model("monitoring", "MaterialChangeRule")
    for fields in SHIPPED:
        MaterialChangeRule.objects.update_or_create(
            builtin=fields["builtin"], defaults={k: v for k, v in fields.items() if k != "builtin"}
        )


def remove_rules(apps, schema_editor):
    MaterialChangeRule = apps.get_model("monitoring", "MaterialChangeRule")
    MaterialChangeRule.objects.filter(builtin__in=[r["builtin"] for r in SHIPPED]).delete()


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0008_material_change_rules")]

    operations = [migrations.RunPython(add_rules, remove_rules)]
