"""Reading a metric source: per kind, the requests to make and how the answers become samples.

The config each kind takes is described (and checked) in monitoring.services.sources. Every
request goes through portal.outbound.fetch; an answer that cannot be read as samples (not
JSON, a path with nothing at it, a value that is not a number) raises ReadError, whose
message says where. A reading is all or nothing: the pull writes its samples only if every
request and every value was good.
"""

import base64
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any
from urllib.parse import urlencode

from monitoring.models import MetricSource, SourceKind
from monitoring.services.samples import Sample, parse_instant, parse_value
from portal.crypto import CredentialsUnreadable, decrypt
from portal.outbound import OutboundError, fetch, redact

# A first pull (or one after a long pause) reads at most this far back.
FIRST_WINDOW_SECONDS = 3600
# Prometheus refuses a range query of more than 11,000 points per series.
MAX_POINTS = 10_000
MAX_FEATURE_LENGTH = 120
MLFLOW_PAGE_SIZE = 25_000
MLFLOW_MAX_PAGES = 20


class ReadError(OutboundError):
    """The source answered, but not with what its config says to read."""


@dataclass(frozen=True)
class Reading:
    samples: list[Sample]
    # What the source's pulled_until becomes when these samples are written (None: unchanged
    # from nothing, for an MLflow run with no points yet).
    until: datetime | None


def auth_headers(credentials: Mapping[str, Any]) -> dict[str, str]:
    """Request headers for a credentials dict (see sources.validate_credentials)."""
    if "bearer_token" in credentials:
        return {"Authorization": f"Bearer {credentials['bearer_token']}"}
    if "username" in credentials:
        pair = f"{credentials['username']}:{credentials.get('password', '')}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
    return {str(k): str(v) for k, v in (credentials.get("headers") or {}).items()}


def resolve_path(document: Any, path: str) -> Any:
    """The value at a dotted path (``a.b.0.c``); KeyError if there is none."""
    current = document
    for segment in path.split("."):
        if isinstance(current, dict) and segment in current:
            current = current[segment]
        elif (
            isinstance(current, list)
            and segment.lstrip("-").isascii()
            and segment.lstrip("-").isdigit()
        ):
            index = int(segment)
            if not -len(current) <= index < len(current):
                raise KeyError(path)
            current = current[index]
        else:
            raise KeyError(path)
    return current


def _json(body: bytes, url: str) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReadError(f"the answer from {redact(url)} is not JSON ({exc})") from None


def _at_path(document: Any, path: str, where: str) -> Any:
    try:
        return resolve_path(document, path)
    except KeyError:
        raise ReadError(f"nothing at {path!r} in {where}") from None


def _value(raw: Any, path: str, where: str) -> float:
    try:
        return parse_value(raw)
    except ValueError as exc:
        raise ReadError(f"{path!r} in {where}: {exc}") from None


def _instant(raw: Any, path: str, where: str) -> datetime:
    try:
        return parse_instant(raw)
    except (ValueError, OverflowError, OSError) as exc:
        raise ReadError(f"{path!r} in {where}: {exc}") from None


# Prometheus ---------------------------------------------------------------------------------
def series_features(label_sets: list[dict[str, str]]) -> list[str]:
    """The feature each series is about.

    A ``feature`` label names it. Without one, a single series is the whole deployment's ('');
    several series are told apart by the values of the labels that differ between them,
    joined with ',' (e.g. ``model_a,eu``).
    """
    if any("feature" in labels for labels in label_sets):
        return [labels.get("feature", "")[:MAX_FEATURE_LENGTH] for labels in label_sets]
    if len(label_sets) <= 1:
        return [""] * len(label_sets)
    keys = sorted({k for labels in label_sets for k in labels if k != "__name__"})
    differing = [k for k in keys if len({labels.get(k, "") for labels in label_sets}) > 1]
    return [
        ",".join(labels.get(k, "") for k in differing)[:MAX_FEATURE_LENGTH] for labels in label_sets
    ]


def prometheus_window(source: MetricSource, now: datetime) -> tuple[int, int, int]:
    """(start, end, step) in epoch seconds, on the step's grid so re-reads hit the same instants."""
    step = int(source.config.get("step_seconds") or source.interval_seconds)
    end = int(now.timestamp()) // step * step
    since = source.pulled_until.timestamp() if source.pulled_until else end - FIRST_WINDOW_SECONDS
    start = int(since) // step * step
    start = min(max(start, end - MAX_POINTS * step), end)
    return start, end, step


def _read_prometheus(source: MetricSource, headers: dict[str, str], now: datetime) -> Reading:
    start, end, step = prometheus_window(source, now)
    base = source.url.rstrip("/")
    samples: list[Sample] = []
    for metric, query in source.config["queries"].items():
        params = urlencode({"query": query, "start": start, "end": end, "step": step})
        url = f"{base}/api/v1/query_range?{params}"
        document = _json(fetch(url, headers=headers).body, base)
        where = f"Prometheus's answer to {metric!r}"
        if not isinstance(document, dict) or document.get("status") != "success":
            error = document.get("error") if isinstance(document, dict) else None
            raise ReadError(f"{where} is not a success: {error or document!r:.200}")
        series = _at_path(document, "data.result", where)
        if not isinstance(series, list) or not all(isinstance(s, dict) for s in series):
            raise ReadError(f"{where} holds no list of series at 'data.result'")
        features = series_features([s.get("metric") or {} for s in series])
        for one, feature in zip(series, features, strict=True):
            points = one.get("values")
            if points is None and "value" in one:  # an instant vector
                points = [one["value"]]
            if not isinstance(points, list):
                raise ReadError(f"{where} has a series without values")
            for point in points:
                try:
                    timestamp, raw = point
                    value = float(raw)
                    at = datetime.fromtimestamp(float(timestamp), tz=UTC)
                except (TypeError, ValueError, OverflowError, OSError):
                    raise ReadError(f"{where} has a point that is not [time, value]") from None
                if math.isfinite(value):  # NaN and ±Inf are Prometheus's "no value"
                    samples.append(Sample(metric, at, value, feature))
    return Reading(samples, datetime.fromtimestamp(end, tz=UTC))


# HTTP JSON ----------------------------------------------------------------------------------
def _read_http_json(source: MetricSource, headers: dict[str, str], now: datetime) -> Reading:
    config = source.config
    document = _json(fetch(source.url, headers=headers).body, source.url)
    items_path = config.get("items")
    if items_path:
        records = _at_path(document, items_path, "the answer")
        if not isinstance(records, list):
            raise ReadError(f"{items_path!r} in the answer is not a list")
    else:
        records = [document]
    stamp = now.replace(microsecond=0)
    samples = []
    for index, record in enumerate(records):
        where = f"item {index}" if items_path else "the answer"
        timestamp = config.get("timestamp")
        at = _instant(_at_path(record, timestamp, where), timestamp, where) if timestamp else stamp
        feature = ""
        if config.get("feature"):
            raw = _at_path(record, config["feature"], where)
            feature = ("" if raw is None else str(raw))[:MAX_FEATURE_LENGTH]
        for metric, path in config["metrics"].items():
            samples.append(
                Sample(metric, at, _value(_at_path(record, path, where), path, where), feature)
            )
    return Reading(samples, now)


# MLflow -------------------------------------------------------------------------------------
def mlflow_metrics(config: Mapping[str, Any]) -> dict[str, str]:
    """{portal metric name: MLflow metric key}; a list of keys reads each under its own name."""
    metrics = config["metrics"]
    return {key: key for key in metrics} if isinstance(metrics, list) else dict(metrics)


def _read_mlflow(source: MetricSource, headers: dict[str, str], now: datetime) -> Reading:
    """The run's points logged after the last pull's newest one.

    get-history has no "since": it pages through a key's whole history. Points at or before
    ``pulled_until`` (the newest point an earlier pull read) are dropped, so a pull writes and
    reports only new points; and when the server pages newest first, paging stops at the first
    page that reaches back to ``pulled_until``. (MLflow's SQL store pages oldest first, where
    every page must still be read.)
    """
    base = source.url.rstrip("/")
    run_id = source.config["run_id"]
    since = source.pulled_until
    samples = []
    newest = since
    for metric, key in mlflow_metrics(source.config).items():
        where = f"MLflow's history of {key!r}"
        page_token = ""
        for _page in range(MLFLOW_MAX_PAGES):
            params = {"run_id": run_id, "metric_key": key, "max_results": MLFLOW_PAGE_SIZE}
            if page_token:
                params["page_token"] = page_token
            url = f"{base}/api/2.0/mlflow/metrics/get-history?{urlencode(params)}"
            document = _json(fetch(url, headers=headers).body, base)
            if not isinstance(document, dict):
                raise ReadError(f"{where} is not an object")
            # MLflow leaves out an empty list altogether.
            times = []
            for index, point in enumerate(document.get("metrics") or []):
                if not isinstance(point, dict) or "timestamp" not in point or "value" not in point:
                    raise ReadError(f"{where}: point {index} has no timestamp and value")
                value = _value(point["value"], "value", f"{where}, point {index}")
                try:
                    at = datetime.fromtimestamp(int(point["timestamp"]) / 1000, tz=UTC)  # ms
                except (TypeError, ValueError, OverflowError, OSError):
                    raise ReadError(f"{where}: point {index} has a bad timestamp") from None
                times.append(at)
                if since is not None and at <= since:
                    continue  # written by an earlier pull
                samples.append(Sample(metric, at, value))
                newest = at if newest is None else max(newest, at)
            page_token = document.get("next_page_token") or ""
            if not page_token:
                break
            # Newest first: never rising, and falling somewhere (all equal says nothing).
            newest_first = bool(times) and times[0] > times[-1]
            newest_first = newest_first and all(a >= b for a, b in pairwise(times))
            if since is not None and newest_first and times[-1] <= since:
                break  # the pages after this one are older still
    return Reading(samples, newest)


READERS: dict[str, Callable[[MetricSource, dict[str, str], datetime], Reading]] = {
    SourceKind.PROMETHEUS: _read_prometheus,
    SourceKind.HTTP_JSON: _read_http_json,
    SourceKind.MLFLOW: _read_mlflow,
}


def request_count(source: MetricSource) -> int:
    """How many requests one reading makes at least (for the claim's lease)."""
    if source.kind == SourceKind.PROMETHEUS:
        return max(1, len(source.config.get("queries") or {}))
    if source.kind == SourceKind.MLFLOW:
        return max(1, len(source.config.get("metrics") or []))
    return 1


def read(source: MetricSource, *, now: datetime) -> Reading:
    """Everything a pull of this source would write; OutboundError (or ReadError) if not."""
    reader = READERS.get(source.kind)
    if reader is None:
        raise ReadError(f"a {source.get_kind_display()} source is not pulled")
    try:
        credentials = decrypt(source.credentials_encrypted) if source.credentials_encrypted else {}
    except CredentialsUnreadable as exc:
        raise ReadError(str(exc)) from None
    return reader(source, auth_headers(credentials), now)
