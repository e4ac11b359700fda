"""The routing rules Steward starts with, and a database guard on sign-offs.

Firms change the routing rules in the admin; these are a sensible start. The guard makes
PostgreSQL refuse to update or delete a sign-off, whatever the code above it does.
"""

from django.db import migrations

DEFAULT_RULES = [
    # name, stage, kinds, tiers, levels, personal_data, role, group, reason
    ("Risk officers review every assessment", "review", [], [], [], False, "risk_officer", None,
     "Every assessment is reviewed by a risk officer of the use case's unit."),
    ("DPIAs go to the DPO", "review", ["dpia"], [], [], False, "dpo", None,
     "A DPIA always goes to the data protection officer (UK/EU GDPR Article 35(2))."),
    ("Personal data goes to the DPO", "review", ["screening", "impact"], [], [], True, "dpo", None,
     "The use case processes personal data."),
    ("High risk goes to legal", "review", [], ["high", "prohibited"], [], False, "", "legal",
     "The use case is high-risk (or screened as prohibited) under the EU AI Act."),
    ("High impact goes to legal", "review", ["impact"], [], ["III", "IV"], False, "", "legal",
     "The impact assessment gives level III or IV."),
    ("Leadership signs DPIAs and impact assessments", "approve", ["dpia", "impact"], [], [],
     False, "leadership", None, "Leadership signs off DPIAs and AI impact assessments."),
    ("Leadership signs high-risk screenings", "approve", ["screening"], ["high", "prohibited"],
     [], False, "leadership", None, "A high-risk or prohibited result is signed off by leadership."),
    ("Risk officers sign low-risk screenings", "approve", ["screening"], ["limited", "minimal"],
     [], False, "risk_officer", None,
     "A limited or minimal-risk screening is signed off by a risk officer."),
]


def create_rules(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    RoutingRule = apps.get_model("assessments", "RoutingRule")
    ReviewerGroup = apps.get_model("portal", "ReviewerGroup")
    for order, (name, stage, kinds, tiers, levels, personal, role, group, reason) in enumerate(
        DEFAULT_RULES, start=1
    ):
        group_obj = None
        if group:
            group_obj, _ = Group.objects.get_or_create(name=group)
            ReviewerGroup.objects.get_or_create(
                group=group_obj, defaults={"description": "Reviews high-risk AI (added by Steward)."}
            )
        RoutingRule.objects.create(
            name=name, stage=stage, kinds=kinds, tiers=tiers, levels=levels,
            personal_data=personal, role=role, group=group_obj, reason=reason, order=order * 10,
        )


GUARD = """
CREATE OR REPLACE FUNCTION assessments_signoff_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'A sign-off is never changed or deleted';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER assessments_signoff_immutable
    BEFORE UPDATE OR DELETE ON assessments_signoff
    FOR EACH ROW EXECUTE FUNCTION assessments_signoff_immutable();
"""
UNGUARD = """
DROP TRIGGER IF EXISTS assessments_signoff_immutable ON assessments_signoff;
DROP FUNCTION IF EXISTS assessments_signoff_immutable();
"""


def guard(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(GUARD)


def unguard(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(UNGUARD)


class Migration(migrations.Migration):
    dependencies = [
        ("assessments", "0001_initial"),
        ("portal", "0002_roles"),
    ]

    operations = [
        migrations.RunPython(create_rules, migrations.RunPython.noop),
        migrations.RunPython(guard, unguard),
    ]
