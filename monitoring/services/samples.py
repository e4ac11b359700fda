"""Writing metric samples: one check of what a sample is, one way into the table.

Every path in (the push API, a pull, drift computed from distributions) comes through
``samples_write``; a series instant holds one value, so writing the same window again adds
nothing (``ON CONFLICT DO NOTHING`` on the unique series-instant constraint).
"""

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from operator import itemgetter, methodcaller
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
# The widest offset from UTC PostgreSQL reads (Python's go to 24 hours).
MAX_OFFSET = timedelta(hours=15, minutes=59, seconds=59)
OFFSET_MESSAGE = "Give an offset from UTC between -15:59 and +15:59."


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
        if abs(at.utcoffset() or timedelta()) > MAX_OFFSET:
            raise ValueError(OFFSET_MESSAGE)
        return at
    raise ValueError("Give the time as ISO 8601 with an offset, or seconds since 1970.")


def parse_value(raw) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise ValueError("The value must be a number.")
    try:
        value = float(raw)
    except (ValueError, OverflowError):  # OverflowError: an int past float's range
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
    offset = instant.utcoffset()
    if offset is None or instant > latest or abs(offset) > MAX_OFFSET:
        return None
    return Sample(metric=metric, at=instant, value=value, feature=feature.strip())


@dataclass(frozen=True, slots=True)
class CheckedSamples:
    """A batch checked in bulk (_checked_quickly), kept as columns and written by COPY as text.

    ``ats`` are the sender's own ISO 8601 texts, each of a form PostgreSQL reads as the instant
    Python reads (_PLAIN_INSTANT); ``metrics`` match [a-z][a-z0-9_.]*; ``values`` are finite
    ints and floats; ``features`` is None when no sample has one. Only the features can hold
    a character COPY's text format escapes.
    """

    metrics: Sequence[str]
    ats: Sequence[str]
    values: Sequence[float | int]
    features: Sequence[str] | None = None

    def __len__(self) -> int:
        return len(self.metrics)

    def feature_column(self) -> Sequence[str]:
        return self.features if self.features is not None else [""] * len(self.metrics)

    def as_samples(self) -> list[Sample]:
        return [
            Sample(metric, datetime.fromisoformat(at), float(value), feature)
            for metric, at, value, feature in zip(
                self.metrics, self.ats, self.values, self.feature_column(), strict=True
            )
        ]

    def copy_text(self, deployment_id: int, source_id: int | None) -> bytes:
        """The rows as COPY's text format: deployment, metric, feature, at, value, source."""
        head = f"{int(deployment_id)}\t"
        tail = "\t" + (r"\N" if source_id is None else str(int(source_id))) + "\n"
        if self.features is None:
            lines = [
                f"{head}{metric}\t\t{at}\t{value!r}{tail}"
                for metric, at, value in zip(self.metrics, self.ats, self.values, strict=True)
            ]
        else:
            features = [feature.translate(_COPY_ESCAPES) for feature in self.features]
            lines = [
                f"{head}{metric}\t{feature}\t{at}\t{value!r}{tail}"
                for metric, feature, at, value in zip(
                    self.metrics, features, self.ats, self.values, strict=True
                )
            ]
        return "".join(lines).encode()


# COPY's text format: a backslash, tab, newline or carriage return in a value is escaped.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
# A time PostgreSQL reads as the same instant as datetime.fromisoformat: a date, "T", a time
# to the second with at most six decimals (more, and Python cuts where PostgreSQL rounds),
# and "Z" or an offset within PostgreSQL's range (Python's goes to 24 hours).
_PLAIN_INSTANT = re.compile(
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-](?:0\d|1[0-5]):[0-5]\d)", re.ASCII
).fullmatch
# METRIC_NAME's pattern without the newline its "$" lets through at the end (that name still
# goes the slow way, and psycopg escapes it).
_PLAIN_METRIC = re.compile(r"[a-z][a-z0-9_.]{0,63}", re.ASCII).fullmatch
_METRIC, _AT, _VALUE = itemgetter("metric"), itemgetter("at"), itemgetter("value")
_FEATURE = methodcaller("get", "feature", "")
_HAS_FEATURE = methodcaller("__contains__", "feature")
_NUMBERS = frozenset({float, int})  # bool is neither
_TEXT = frozenset({str})


def _checked_quickly(rows: list, latest: datetime) -> CheckedSamples | None:
    """The common batch checked column by column, each check one loop in C: every row a
    mapping of exactly metric, at, value (and perhaps feature); names of METRIC_NAME's form;
    plain ISO 8601 times (_PLAIN_INSTANT) no later than ``latest``; finite numbers. None when
    anything is otherwise, and the batch is then checked row by row, where each fault is
    named. Whatever this accepts, parse_sample accepts with the same meaning."""
    count = len(rows)
    try:
        metrics = list(map(_METRIC, rows))
        ats = list(map(_AT, rows))
        values = list(map(_VALUE, rows))
        keys = sum(map(len, rows))
        names = set(metrics)
    except (TypeError, KeyError):  # a row that is not a mapping, or lacks a field
        return None
    features = None
    if keys != 3 * count:
        if keys != 3 * count + sum(map(_HAS_FEATURE, rows)):
            return None  # a key other than feature (the deployment, labels, ...)
        given = list(map(_FEATURE, rows))
        if not _TEXT.issuperset(map(type, given)):
            return None
        if max(map(len, given)) > 120 or "\x00" in "".join(given):
            return None
        features = list(map(str.strip, given))
    for name in names - _known_metrics:
        if type(name) is not str or not _PLAIN_METRIC(name):
            return None
        try:
            METRIC_NAME(name)
        except ValidationError:
            return None
        if len(_known_metrics) < KNOWN_METRICS_MAX:
            _known_metrics.add(name)
    if not _NUMBERS.issuperset(map(type, values)):
        return None
    try:
        finite = math.isfinite(sum(values)) or all(map(math.isfinite, values))
        plain = all(map(_PLAIN_INSTANT, ats))
    except (TypeError, OverflowError):  # a time that is not text; an int past float's range
        return None
    if not finite or not plain:
        return None
    try:
        if count and max(map(datetime.fromisoformat, ats)) > latest:
            return None
    except ValueError:  # the 30th of February, the 25th hour
        return None
    return CheckedSamples(metrics=metrics, ats=ats, values=values, features=features)


def parse_samples(rows) -> CheckedSamples | list[Sample]:
    """A batch of samples, or InvalidSamples naming each bad one by its index and field."""
    if not isinstance(rows, list):
        raise InvalidSamples({"samples": ["Send a list of samples."]})
    limit = settings.MONITORING_MAX_BATCH
    if len(rows) > limit:
        raise InvalidSamples({"samples": [f"Send at most {limit:,} samples at a time."]})
    now = timezone.now()
    latest = now + FUTURE_SLACK
    checked = _checked_quickly(rows, latest)
    if checked is not None:
        return checked
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


def samples_write(
    *, deployment_id: int, samples: CheckedSamples | Iterable[Sample], source_id=None
) -> int:
    """Insert the samples whose series instant holds no value yet. Returns how many were new.

    Runs in the caller's transaction, so a pull writes its samples and its source's health
    together. On PostgreSQL the batch goes in by COPY, the fastest way in, inside a savepoint:
    a batch holding an instant already stored (a retry) makes COPY fail, and then goes in as
    one ``INSERT ... SELECT FROM unnest(...) ON CONFLICT DO NOTHING``, which skips the
    repeats. A batch checked in bulk (CheckedSamples) is COPYed as text built in one go, its
    times as sent. Elsewhere row by row.
    """
    table = MetricSample._meta.db_table
    columns = "deployment_id, metric, feature, at, value, source_id"
    if isinstance(samples, CheckedSamples):
        if not samples:
            return 0
        if connection.vendor == "postgresql":
            payload = samples.copy_text(deployment_id, source_id)
            if _copy_new(table, columns, lambda copy: copy.write(payload)):
                return len(samples)
            return _insert_new(
                table,
                columns,
                deployment_id,
                source_id,
                [samples.metrics, samples.feature_column(), samples.ats, samples.values],
            )
        samples = samples.as_samples()
    rows = [(s.metric, s.feature, s.at, float(s.value)) for s in samples]
    if not rows:
        return 0
    if connection.vendor == "postgresql":

        def write_rows(copy) -> None:
            for metric, feature, at, value in rows:
                copy.write_row((deployment_id, metric, feature, at, value, source_id))

        if _copy_new(table, columns, write_rows):
            return len(rows)
        return _insert_new(
            table, columns, deployment_id, source_id, [list(c) for c in zip(*rows, strict=True)]
        )
    inserted = 0
    with connection.cursor() as cursor:
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


def _insert_new(table: str, columns: str, deployment_id, source_id, cols: list) -> int:
    """The rows whose series instant is free, by INSERT ... ON CONFLICT DO NOTHING (a retry).
    ``cols`` are the metric, feature, at (datetimes or ISO 8601 texts) and value columns."""
    metrics, features, ats, values = (list(c) for c in cols)
    values = [float(v) for v in values]
    inserted = 0
    with connection.cursor() as cursor:
        for start in range(0, len(metrics), 20_000):
            end = start + 20_000
            cursor.execute(
                f"INSERT INTO {table} ({columns}) "
                "SELECT %s, m, f, a, v, %s FROM unnest(%s::varchar[], %s::varchar[], "
                "%s::timestamptz[], %s::float8[]) AS t(m, f, a, v) "
                "ON CONFLICT DO NOTHING",
                [
                    deployment_id,
                    source_id,
                    metrics[start:end],
                    features[start:end],
                    ats[start:end],
                    values[start:end],
                ],
            )
            inserted += cursor.rowcount
    return inserted


def _copy_new(table: str, columns: str, write) -> bool:
    """COPY in what ``write(copy)`` writes: True, or False (and nothing written) when one of the
    rows is already stored."""
    try:
        with transaction.atomic(), connection.cursor() as cursor, connection.wrap_database_errors:
            raw = cursor.cursor  # the driver's own cursor: Django's wrapper has no COPY
            with raw.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                write(copy)
    except IntegrityError:
        return False  # a repeat: the savepoint is rolled back
    return True


def source_mark_received(*, source, count: int) -> None:
    """A push source's health: when it last delivered and how much (no history version)."""

    now = timezone.now()
    MetricSource.objects.filter(pk=source.pk).update(
        last_attempt_at=now, last_success_at=now, last_sample_count=count, failures_in_row=0
    )


@transaction.atomic
def samples_push(*, source, samples: CheckedSamples | list[Sample]) -> int:
    """A deployed system's batch, written to its token's deployment. Returns how many were new."""
    new = samples_write(deployment_id=source.deployment_id, samples=samples, source_id=source.pk)
    source_mark_received(source=source, count=len(samples))
    return new
