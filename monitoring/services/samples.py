"""Writing metric samples: one check of what a sample is, one way into the table.

Every path in (the push API, a pull, drift computed from distributions) comes through
``samples_write``; a series instant holds one value, so writing the same window again adds
nothing (``ON CONFLICT DO NOTHING`` on the unique series-instant constraint).
"""

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from monitoring.models import METRIC_NAME, MetricSample, MetricSource
from portal.parsers import NUL_MESSAGE, depth, holds_nul, too_deep_message

# How far ahead of the portal's clock a sample may be stamped (clocks drift a little).
FUTURE_SLACK = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Sample:
    metric: str
    at: datetime
    value: float
    feature: str = ""


def parse_instant(raw) -> datetime:
    """An ISO 8601 time with its offset, or seconds since the epoch (int or float)."""
    if isinstance(raw, bool):
        raise ValueError("Give the time as ISO 8601 with an offset, or seconds since 1970.")
    if isinstance(raw, int | float):
        if not math.isfinite(raw):
            raise ValueError("The time is not a number.")
        return datetime.fromtimestamp(raw, tz=UTC)
    if isinstance(raw, str):
        try:
            at = parse_datetime(raw.strip())
        except ValueError:
            at = None
        if at is None:
            raise ValueError(f"{raw[:40]!r} is not an ISO 8601 time.")
        if timezone.is_naive(at):
            raise ValueError("Give the time with its offset (e.g. 2026-11-23T10:00:00Z).")
        return at
    raise ValueError("Give the time as ISO 8601 with an offset, or seconds since 1970.")


def parse_value(raw) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise ValueError("The value must be a number.")
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{str(raw)[:40]!r} is not a number.") from None
    if not math.isfinite(value):
        raise ValueError("The value must be a finite number.")
    return value


def parse_metric(raw) -> str:
    if not isinstance(raw, str):
        raise ValueError("The metric must be a name.")
    try:
        METRIC_NAME(raw)
    except ValidationError as exc:
        raise ValueError(exc.messages[0]) from None
    return raw


def parse_sample(raw, *, now: datetime | None = None) -> Sample:
    """One sample from a mapping, or ValidationError keyed by the field at fault."""
    if not isinstance(raw, dict):
        raise ValidationError({"sample": "Each sample is an object with metric, at and value."})
    errors: dict[str, str] = {}
    parsed: dict[str, Any] = {}
    for field, parse in (("metric", parse_metric), ("at", parse_instant), ("value", parse_value)):
        if field not in raw or raw[field] in (None, ""):
            errors[field] = "This field is required."
            continue
        try:
            parsed[field] = parse(raw[field])
        except ValueError as exc:
            errors[field] = str(exc)
    feature = raw.get("feature") or ""
    if not isinstance(feature, str) or len(feature) > 120 or "\x00" in feature:
        errors["feature"] = "The feature is a name of at most 120 characters (no NUL)."
    now = now or timezone.now()
    if "at" in parsed and parsed["at"] > now + FUTURE_SLACK:
        errors["at"] = "The time is in the future."
    if errors:
        raise ValidationError(errors)
    return Sample(feature=feature.strip(), **parsed)


class InvalidSamples(ValueError):
    """A batch with bad samples: ``errors`` is {"samples": message} or {index: {field: [msg]}}."""

    def __init__(self, errors: dict):
        super().__init__(f"{len(errors)} bad sample(s)")
        self.errors = errors


# Metric names already checked against METRIC_NAME in this process (a handful in practice).
_known_metrics: set[str] = set()
KNOWN_METRICS_MAX = 10_000


SAMPLE_KEYS = frozenset({"metric", "at", "value", "feature", "deployment"})


def _sample_quickly(raw, latest: datetime) -> Sample | None:
    """The common sample (a number, an ISO 8601 time with its offset, a known metric name,
    nothing else) checked in a few operations; None when it is anything else, and
    parse_sample then decides and names what is wrong. Whatever this accepts, parse_sample
    accepts as the same Sample."""
    if type(raw) is not dict or not SAMPLE_KEYS.issuperset(raw):
        return None
    metric, at, value = raw.get("metric"), raw.get("at"), raw.get("value")
    feature = raw.get("feature") or ""
    if type(value) is not float and type(value) is not int:
        return None
    value = float(value)
    if not math.isfinite(value) or type(at) is not str or type(feature) is not str:
        return None
    if len(feature) > 120 or "\x00" in feature:
        return None
    if type(metric) is not str:
        return None
    if metric not in _known_metrics:
        try:
            METRIC_NAME(metric)
        except ValidationError:
            return None
        if len(_known_metrics) < KNOWN_METRICS_MAX:
            _known_metrics.add(metric)
    try:
        instant = datetime.fromisoformat(at)
    except ValueError:
        return None
    if instant.tzinfo is None or instant > latest:
        return None
    return Sample(metric=metric, at=instant, value=value, feature=feature.strip())


def parse_samples(rows) -> list[Sample]:
    """A batch of samples, or InvalidSamples naming each bad one by its index and field."""
    if not isinstance(rows, list):
        raise InvalidSamples({"samples": ["Send a list of samples."]})
    limit = settings.MONITORING_MAX_BATCH
    if len(rows) > limit:
        raise InvalidSamples({"samples": [f"Send at most {limit:,} samples at a time."]})
    now = timezone.now()
    latest = now + FUTURE_SLACK
    samples, errors = [], {}
    for index, row in enumerate(rows):
        sample = _sample_quickly(row, latest)
        if sample is not None:
            samples.append(sample)
            continue
        # The body's parser left the rows' nesting and NUL checks to here (BatchJSONParser).
        if depth(row) > settings.API_JSON_MAX_DEPTH - 2:  # the body and its list hold it
            errors[str(index)] = {"sample": [too_deep_message(settings.API_JSON_MAX_DEPTH)]}
            continue
        if holds_nul(row):
            errors[str(index)] = {"sample": [NUL_MESSAGE]}
            continue
        try:
            samples.append(parse_sample(row, now=now))
        except ValidationError as exc:
            errors[str(index)] = exc.message_dict
    if errors:
        raise InvalidSamples(errors)
    return samples


def samples_write(*, deployment_id: int, samples: Iterable[Sample], source_id=None) -> int:
    """Insert the samples whose series instant holds no value yet. Returns how many were new.

    Runs in the caller's transaction, so a pull writes its samples and its source's health
    together. On PostgreSQL the batch goes in by COPY, the fastest way in, inside a savepoint:
    a batch holding an instant already stored (a retry) makes COPY fail, and then goes in as
    one ``INSERT ... SELECT FROM unnest(...) ON CONFLICT DO NOTHING``, which skips the
    repeats. Elsewhere row by row.
    """
    rows = [(s.metric, s.feature, s.at, float(s.value)) for s in samples]
    if not rows:
        return 0
    table = MetricSample._meta.db_table
    columns = "deployment_id, metric, feature, at, value, source_id"
    if connection.vendor == "postgresql":
        copied = _copy_new(table, columns, deployment_id, source_id, rows)
        if copied is not None:
            return copied
    inserted = 0
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for start in range(0, len(rows), 20_000):
                chunk = rows[start : start + 20_000]
                metrics, features, ats, values = (list(c) for c in zip(*chunk, strict=True))
                cursor.execute(
                    f"INSERT INTO {table} ({columns}) "
                    "SELECT %s, m, f, a, v, %s FROM unnest(%s::varchar[], %s::varchar[], "
                    "%s::timestamptz[], %s::float8[]) AS t(m, f, a, v) "
                    "ON CONFLICT DO NOTHING",
                    [deployment_id, source_id, metrics, features, ats, values],
                )
                inserted += cursor.rowcount
        else:
            for metric, feature, at, value in rows:
                cursor.execute(
                    f"INSERT OR IGNORE INTO {table} ({columns}) VALUES (%s, %s, %s, %s, %s, %s)",
                    [
                        deployment_id,
                        metric,
                        feature,
                        connection.ops.adapt_datetimefield_value(at),
                        value,
                        source_id,
                    ],
                )
                inserted += cursor.rowcount
    return inserted


def _copy_new(table: str, columns: str, deployment_id, source_id, rows: list) -> int | None:
    """COPY the rows in, or None (and nothing written) when one of them is already stored."""
    try:
        with transaction.atomic(), connection.cursor() as cursor, connection.wrap_database_errors:
            # The driver's own cursor: Django's wrapper has no COPY.
            raw = cursor.cursor
            with raw.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for metric, feature, at, value in rows:
                    copy.write_row((deployment_id, metric, feature, at, value, source_id))
    except IntegrityError:
        return None  # a repeat: the savepoint is rolled back
    return len(rows)


def source_mark_received(*, source, count: int) -> None:
    """A push source's health: when it last delivered and how much (no history version)."""

    now = timezone.now()
    MetricSource.objects.filter(pk=source.pk).update(
        last_attempt_at=now, last_success_at=now, last_sample_count=count, failures_in_row=0
    )


@transaction.atomic
def samples_push(*, source, samples: list[Sample]) -> int:
    """A deployed system's batch, written to its token's deployment. Returns how many were new."""
    new = samples_write(deployment_id=source.deployment_id, samples=samples, source_id=source.pk)
    source_mark_received(source=source, count=len(samples))
    return new
