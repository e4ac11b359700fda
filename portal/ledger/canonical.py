"""Canonical JSON: one text for one value, so that anyone can hash it again and compare.

Keys sorted, no spaces, UTF-8 as is; datetimes in UTC ISO 8601, dates ISO, decimals and UUIDs
as text, sets as sorted lists. ``row_payload`` reads a model row field by field and normalises
each value as the database gives it back (a decimal at its places, a JSON value after a round
trip), so the payload written when a row is recorded equals the one read when it is verified.
"""

import datetime as dt
import hashlib
import json
import uuid
from decimal import Decimal
from typing import Any

from django.db import models


def normalized(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
        return value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): normalized(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [normalized(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(normalized(v) for v in value)
    return value


def canonical(value: Any) -> str:
    return json.dumps(normalized(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def field_value(field: models.Field, value: Any) -> Any:
    """A field's value as the database stores and gives it back."""
    if value is None:
        return None
    if isinstance(field, models.JSONField):
        return json.loads(json.dumps(value, cls=field.encoder)) if field.encoder else value
    if isinstance(field, models.DecimalField):
        number = Decimal(str(value))
        return (
            number.quantize(Decimal(1).scaleb(-field.decimal_places))
            if field.decimal_places
            else number
        )
    if isinstance(field, models.DateTimeField):
        return field.to_python(value)
    if isinstance(field, models.DateField):
        return field.to_python(value)
    if isinstance(field, models.FloatField):
        return float(value)
    if isinstance(field, models.BooleanField):
        return bool(value)
    if isinstance(field, models.IntegerField | models.AutoField) or field.is_relation:
        return int(value) if not isinstance(value, str) or value.lstrip("-").isdigit() else value
    if isinstance(field, models.FileField):
        return str(value) or None
    if isinstance(field, models.CharField | models.TextField):
        return str(value)
    return value


def row_payload(instance: models.Model) -> dict[str, Any]:
    """Every concrete column of a row, by column name, normalised."""
    return {
        f.attname: normalized(field_value(f, getattr(instance, f.attname)))
        for f in instance._meta.concrete_fields
    }
