"""JSON read with bounded nesting, for the API (the default parser) and for uploaded files.

Python's json module recurses once per level of nesting, so a body of a thousand ``[`` made
every JSON endpoint raise RecursionError (500). Here a body nested past
``settings.API_JSON_MAX_DEPTH`` is refused with a clear message: 400 from the API, a field
error from an upload. The depth is measured on the parsed value, without recursion. An API
body with a NUL character in any string is refused too (400): PostgreSQL refuses NUL in text,
so it would otherwise fail as a server error wherever the string reached a query.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import orjson
from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class JSONTooDeep(ValueError):
    pass


def depth(value: Any) -> int:
    """How deeply arrays and objects nest in ``value`` (a scalar is 0, ``[]`` is 1)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Iterable[Any] = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children if isinstance(child, dict | list))
    return deepest


def holds_nul(value: Any) -> bool:
    """Whether any string in ``value`` (keys included) has a NUL character, which PostgreSQL
    refuses in every text column and every query parameter."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


NUL_MESSAGE = "Text may not contain the NUL character (\\u0000)."


def too_deep_message(limit: int) -> str:
    return f"JSON may nest arrays and objects at most {limit} levels deep."


def loads_bounded(text: str | bytes, max_depth: int | None = None) -> Any:
    """``json.loads``, refusing nesting deeper than ``max_depth`` with JSONTooDeep."""
    limit = settings.API_JSON_MAX_DEPTH if max_depth is None else max_depth
    try:
        value = json.loads(text)
    except RecursionError:
        raise JSONTooDeep(too_deep_message(limit)) from None
    if depth(value) > limit:
        raise JSONTooDeep(too_deep_message(limit))
    return value


class BatchJSONParser(JSONParser):
    """For the push API's batches of samples: orjson, and the nesting and NUL checks of the
    default parser on everything but the batch's rows, which the endpoint checks row by row
    as it reads them (monitoring.services.samples.parse_samples: a row's fault is then named
    by its index). Walking 10,000 rows twice cost more than reading them."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            value = orjson.loads(stream.read())
        except orjson.JSONDecodeError as exc:
            if "recursion" in str(exc).lower():
                raise ParseError(too_deep_message(settings.API_JSON_MAX_DEPTH)) from None
            raise ParseError(f"JSON parse error - {exc}") from None
        rest = value
        if isinstance(value, dict) and isinstance(value.get("samples"), list):
            # The rows are two levels down; the rest is checked here like any body.
            rest = {key: item for key, item in value.items() if key != "samples"}
            rest["samples"] = []
        if depth(rest) > settings.API_JSON_MAX_DEPTH:
            raise ParseError(too_deep_message(settings.API_JSON_MAX_DEPTH))
        if holds_nul(rest):
            raise ParseError(NUL_MESSAGE)
        return value


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser, answering 400 for JSON nested past API_JSON_MAX_DEPTH."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            value = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(too_deep_message(settings.API_JSON_MAX_DEPTH)) from None
        if depth(value) > settings.API_JSON_MAX_DEPTH:
            raise ParseError(too_deep_message(settings.API_JSON_MAX_DEPTH))
        if holds_nul(value):
            raise ParseError(NUL_MESSAGE)
        return value
