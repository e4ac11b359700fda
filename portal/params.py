"""Ids in URLs and query strings, read one way everywhere.

``str.isdigit()`` is true of superscripts (``¹``) that ``int()`` refuses, and a number past
a database integer overflowed its query: both answered 500. Here an id is ASCII digits
within PostgreSQL's bigint; anything else is not an id. A path that names a record by id or
reference then looks for a reference (so 404), and a query parameter that must be an id
answers 400 with a field error.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from drf_spectacular.utils import extend_schema_field

MAX_ID = 2**63 - 1  # PostgreSQL's bigint, Django's BigAutoField
NOT_AN_ID = "Give a record's id: a whole number from 1 to 9223372036854775807."


def as_id(value: Any) -> int | None:
    """``value`` as a record id, or None when it is not one."""
    text = str(value).strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 19:
        return None
    number = int(text)
    return number if 0 < number <= MAX_ID else None


def id_or_reference(key: Any, field: str = "reference") -> dict[str, Any]:
    """The lookup for a record named by its id or its reference (UC-0042). A key with a NUL
    character names nothing (PostgreSQL refuses it in a query: a 500 rather than a 404)."""
    pk = as_id(key)
    if pk is not None:
        return {"pk": pk}
    text = str(key).strip()
    if "\x00" in text:
        return {"pk__in": []}
    return {f"{field}__iexact": text}


def id_param(params, name: str, *, required: bool = False) -> int | None:
    """The id in query parameter ``name``; a ValidationError naming it when it is not one
    (the API answers 400 with that field error)."""
    raw = str(params.get(name) or "").strip()
    if not raw:
        if required:
            raise ValidationError({name: ["This parameter is required."]})
        return None
    pk = as_id(raw)
    if pk is None:
        raise ValidationError({name: [NOT_AN_ID]})
    return pk


class IdField(forms.IntegerField):
    default_error_messages = {"invalid": NOT_AN_ID}

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)

    def to_python(self, value):
        if value in self.empty_values:
            return None
        pk = as_id(value)
        if pk is None:
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        return pk


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": MAX_ID})
class IdFilter(django_filters.NumberFilter):
    """A filter on a record's id: anything but an id is a 400 naming the parameter."""

    field_class = IdField
