"""Every free-text model field has a limit, which the forms and serializers built from the
models inherit (issue 13, "bounded work"); portal.limits.BoundedTextField holds it in
full_clean too. The models are walked from the app registry, so a new field
cannot escape."""

from django.apps import apps
from django.db import models

APPS = ("portal", "registry", "assessments", "monitoring", "incidents")
# simple-history adds it to every history table; what people type there is bounded where
# they type it (each form and serializer's reason field, 1,000 or 2,000 characters).
ADDED_BY_SIMPLE_HISTORY = {"history_change_reason"}


def test_every_text_field_of_every_model_has_a_max_length():
    unbounded = [
        f"{model._meta.label}.{field.name}"
        for label in APPS
        for model in apps.get_app_config(label).get_models()
        for field in model._meta.get_fields()
        if isinstance(field, models.TextField)
        and not field.max_length
        and field.name not in ADDED_BY_SIMPLE_HISTORY
    ]
    assert not unbounded, f"TextFields without max_length: {unbounded}"
