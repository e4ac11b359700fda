"""Canonical JSON: one text for one value, so that anyone can hash it again and compare.

Keys sorted, separators ``,`` and ``:`` with no spaces, UTF-8 as is; datetimes in UTC ISO
8601, dates ISO, decimals and UUIDs as text, sets as sorted lists.

A row is read field by field through a converter per field (``converters``) that turns the
value into what the database stores and gives back (a decimal at its places, a JSON value
after a round trip, a datetime in UTC), so the payload written when a row is recorded (from
the instance just saved) equals the one read when it is verified (from the database).
"""

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Callable, Sequence
from decimal import Decimal
from functools import cache
from typing import Any

from django.db import models

Converter = Callable[[Any], Any]


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return utc_iso(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} has no canonical JSON form")


def utc_iso(value: dt.datetime) -> str:
    return (value.astimezone(dt.UTC) if value.tzinfo is not None else value).isoformat()


def normalized(value: Any) -> Any:
    """A value as plain JSON types, as canonical() writes it."""
    return json.loads(canonical(value))


def canonical(value: Any) -> str:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_default
    )


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _or_none(convert: Converter) -> Converter:
    return lambda value: None if value is None else convert(value)


def converter(field: models.Field) -> Converter:
    """How one field's value is written in a payload, from an instance or from the database."""
    if isinstance(field, models.JSONField):
        encoder = field.encoder
        return _or_none(lambda v: json.loads(json.dumps(v, cls=encoder, default=_default)))
    if isinstance(field, models.DecimalField):
        places = field.decimal_places
        step = Decimal(1).scaleb(-places) if places else None
        return _or_none(lambda v: str(Decimal(str(v)).quantize(step) if step else Decimal(str(v))))
    if isinstance(field, models.DateTimeField):
        return _or_none(lambda v: utc_iso(field.to_python(v)))
    if isinstance(field, models.DateField):
        return _or_none(lambda v: field.to_python(v).isoformat())
    if isinstance(field, models.TimeField):
        return _or_none(lambda v: field.to_python(v).isoformat())
    if isinstance(field, models.FloatField):
        return _or_none(float)
    if isinstance(field, models.BooleanField):
        return _or_none(bool)
    if isinstance(field, models.UUIDField):
        return _or_none(str)
    if isinstance(field, models.IntegerField | models.AutoField) or (
        # A concrete relation is a foreign key, which has a target_field.
        field.is_relation and isinstance(field.target_field, models.IntegerField | models.AutoField)  # type: ignore[attr-defined]
    ):
        return _or_none(int)
    if isinstance(field, models.FileField):
        return lambda v: str(v) or None if v is not None else None
    return _or_none(str)


@cache
def row_shape(model: type[models.Model]) -> tuple[tuple[str, ...], tuple[Converter, ...]]:
    """A model's column names and their converters, in one order."""
    fields = model._meta.concrete_fields
    return tuple(f.attname for f in fields), tuple(converter(f) for f in fields)


def payload_from_values(model: type[models.Model], values: Sequence[Any]) -> dict[str, Any]:
    """A row's payload from its values in ``row_shape`` order (a values_list row)."""
    names, converts = row_shape(model)
    return {
        name: convert(value) for name, convert, value in zip(names, converts, values, strict=True)
    }


def row_payload(instance: models.Model) -> dict[str, Any]:
    """Every concrete column of a row, by column name, as the database holds it."""
    names, _ = row_shape(type(instance))
    return payload_from_values(type(instance), [getattr(instance, n) for n in names])
