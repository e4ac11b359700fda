"""The indexes the search box reads, on PostgreSQL only (SQLite searches by scanning).

For each kind of record: a GIN index on its full-text document, exactly the expression
``portal.textsearch.document(*FIELDS[...])`` builds (PostgreSQL uses an expression index only
for a query that spells the same expression, so the fields and their order here must equal
those in search/sources.py; tests/search/test_search.py checks both and that the planner
uses them), and a trigram GIN index on ``UPPER(reference)`` for references typed in part
("0042"), the form Django's ``icontains`` takes on PostgreSQL.

Trigram indexes need the pg_trgm extension. ``CREATE EXTENSION`` needs a role that may create
it (the database owner on PostgreSQL 13 and later, pg_trgm being a trusted extension);
docs/operations.md says what to do where the application's role may not.
"""

from django.contrib.postgres.indexes import GinIndex
from django.db import migrations

from portal.textsearch import document

# (app, model): the fields of its document, in search/sources.py's order.
FIELDS = {
    ("registry", "UseCase"): ("reference", "title", "purpose"),
    ("registry", "AIModel"): ("reference", "name", "provider", "vendor", "description"),
    ("registry", "DataSource"): ("reference", "name", "description"),
    ("incidents", "Incident"): ("reference", "title", "description"),
    ("assessments", "Assessment"): (),  # found by its reference or its use case's words
}


def _document_index(model_name: str, fields: tuple[str, ...]) -> GinIndex:
    # Built by Django from the same expression the queries use, so the two spell it alike.
    return GinIndex(document(*fields), name=f"search_{model_name.lower()}_doc")


def _reference_index(model_name: str) -> str:
    return f"search_{model_name.lower()}_ref"


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    quote = schema_editor.quote_name
    for (app, model_name), fields in FIELDS.items():
        model = apps.get_model(app, model_name)
        # Raw SQL: Django wraps an OpClass expression in a second pair of brackets, which
        # PostgreSQL refuses. UPPER(...) LIKE UPPER(...) is Django's icontains.
        schema_editor.execute(
            f"CREATE INDEX {quote(_reference_index(model_name))} "
            f"ON {quote(model._meta.db_table)} USING gin (UPPER({quote('reference')}) gin_trgm_ops)"
        )
        if fields:
            schema_editor.add_index(model, _document_index(model_name, fields))


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for (_app, model_name), fields in FIELDS.items():
        schema_editor.execute(
            f"DROP INDEX IF EXISTS {schema_editor.quote_name(_reference_index(model_name))}"
        )
        if fields:
            schema_editor.execute(
                "DROP INDEX IF EXISTS "
                + schema_editor.quote_name(_document_index(model_name, fields).name)
            )


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0010_seed_release_policies"),
        ("assessments", "0008_risk_tier_outside_the_act"),
        ("incidents", "0005_timeline_guard_again_on_sqlite"),
    ]

    operations = [migrations.RunPython(create, drop)]
