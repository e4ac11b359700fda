"""Connecting metric sources to a deployment, and testing them.

Kinds and their config:

- ``prometheus``: ``url`` is the server's base URL (``http://prometheus:9090``); config
  ``{"queries": {metric: promql}, "step_seconds": 60}``. Each query is read with
  ``/api/v1/query_range`` over the time since the last pull (the last hour on the first), one
  point per step (default: the pull interval). A series' ``feature`` label names its feature;
  without one, a lone series is the whole deployment's, and several are told apart by the
  values of the labels that differ between them.
- ``http_json``: ``url`` is the endpoint itself; config ``{"metrics": {metric: path},
  "timestamp": path, "items": path, "feature": path}``; only ``metrics`` is required. Without
  ``timestamp`` the samples are stamped with the time of the pull. With ``items`` the path
  leads to a list of records, each read with the other paths (relative to the record).
- ``mlflow``: ``url`` is the tracking server; config ``{"run_id": "...", "metrics": [key, ...]}``
  (or ``{metric: key}`` to rename), read from ``/api/2.0/mlflow/metrics/get-history``.
- ``push``: no URL or config; the system posts samples with the token it was given when the
  source was created (``stw_...``, shown once; only its SHA-256 and first 8 characters are kept).

A path is a dotted list of object keys and list positions: ``data.results.0.value`` reads
``{"data": {"results": [{"value": 0.1}]}}``; ``-1`` is a list's last item. Keys that contain
dots cannot be reached.

A metric is a portal metric name (lower case, digits, '_' and '.', e.g. ``error_rate``,
``drift.psi``; see monitoring.models.Metric for the known ones).

Credentials are one of ``{"bearer_token": "..."}``, ``{"username": "...", "password":
"..."}`` or ``{"headers": {"X-Api-Key": "..."}}``; they are stored encrypted
(portal.crypto), never returned, and decrypted only by the puller.
"""

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from monitoring import connectors
from monitoring.models import METRIC_NAME, MetricSource, SourceKind
from monitoring.services.samples import Sample
from portal.access import require
from portal.crypto import encrypt
from portal.outbound import OutboundError, check_literal, origin
from portal.records import save_with_history

TOKEN_PREFIX = "stw_"
PULLED_KINDS = {SourceKind.PROMETHEUS, SourceKind.HTTP_JSON, SourceKind.MLFLOW}
EDITABLE = ("name", "url", "config", "interval_seconds", "enabled")
MAX_PATH = 200
MAX_URL = 500
HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")


# Checking what a person typed ---------------------------------------------------------------
def _metric_error(name: Any) -> str | None:
    if not isinstance(name, str):
        return "A metric must be a name."
    try:
        METRIC_NAME(name)
    except ValidationError as exc:
        return f"{name!r}: {exc.messages[0]}"
    return None


def _path_error(path: Any) -> str | None:
    if not isinstance(path, str) or not path or len(path) > MAX_PATH:
        return f"A path is a non-empty text of at most {MAX_PATH} characters, e.g. data.0.value."
    if any(segment == "" for segment in path.split(".")):
        return f"{path!r} has an empty step (two dots, or a dot at an end)."
    return None


def _url_error(url: str) -> str | None:
    if len(url) > MAX_URL or any(c.isspace() for c in url):
        return f"A URL is at most {MAX_URL} characters, without spaces."
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError:
        return "Enter a valid URL."
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "Enter an http:// or https:// URL with a host name."
    if "@" in parts.netloc:
        # They would be stored in the clear, shown on pages and in messages.
        return "Put credentials in the credentials fields, not the URL."
    return None


def _check_prometheus(config: dict) -> dict[str, str]:
    queries = config.get("queries")
    if not isinstance(queries, dict) or not queries:
        return {"config": 'Give "queries": {metric name: PromQL query}.'}
    for metric, query in queries.items():
        problem = _metric_error(metric)
        if problem:
            return {"config": problem}
        if not isinstance(query, str) or not query.strip():
            return {"config": f"The query for {metric!r} is empty."}
    step = config.get("step_seconds")
    if step is not None and (isinstance(step, bool) or not isinstance(step, int) or step < 1):
        return {"config": '"step_seconds" is a whole number of seconds, at least 1.'}
    unknown = set(config) - {"queries", "step_seconds"}
    return {"config": f"Unknown keys: {', '.join(sorted(unknown))}."} if unknown else {}


def _check_http_json(config: dict) -> dict[str, str]:
    metrics = config.get("metrics")
    if not isinstance(metrics, dict) or not metrics:
        return {"config": 'Give "metrics": {metric name: path in the JSON}.'}
    for metric, path in metrics.items():
        problem = _metric_error(metric) or _path_error(path)
        if problem:
            return {"config": problem}
    for key in ("timestamp", "items", "feature"):
        if config.get(key) not in (None, ""):
            problem = _path_error(config[key])
            if problem:
                return {"config": f'"{key}": {problem}'}
    if config.get("items") and not (config.get("timestamp") or config.get("feature")):
        # Every item would be stamped with the pull's time and no feature: one series, one
        # instant, so all items but the first would be dropped as duplicates.
        return {
            "config": 'With "items", give "timestamp" or "feature" (or both) to tell them apart.'
        }
    unknown = set(config) - {"metrics", "timestamp", "items", "feature"}
    return {"config": f"Unknown keys: {', '.join(sorted(unknown))}."} if unknown else {}


def _check_mlflow(config: dict) -> dict[str, str]:
    run_id = config.get("run_id")
    if not isinstance(run_id, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", run_id):
        return {"config": 'Give "run_id": the MLflow run whose metrics to read.'}
    metrics = config.get("metrics")
    if isinstance(metrics, list) and metrics:
        pairs = [(key, key) for key in metrics]
    elif isinstance(metrics, dict) and metrics:
        pairs = list(metrics.items())
    else:
        return {"config": 'Give "metrics": [MLflow metric keys] (or {metric name: key}).'}
    for metric, key in pairs:
        problem = _metric_error(metric)
        if problem:
            return {"config": problem}
        if not isinstance(key, str) or not key.strip() or len(key) > 250:
            return {"config": "An MLflow metric key is a non-empty text."}
    unknown = set(config) - {"run_id", "metrics"}
    return {"config": f"Unknown keys: {', '.join(sorted(unknown))}."} if unknown else {}


CONFIG_CHECKS: dict[str, Callable[[dict], dict[str, str]]] = {
    SourceKind.PROMETHEUS: _check_prometheus,
    SourceKind.HTTP_JSON: _check_http_json,
    SourceKind.MLFLOW: _check_mlflow,
}


def validate_credentials(credentials: Any) -> str | None:
    """Why a credentials dict is not one of the three shapes, or None."""
    shapes = (
        'Credentials are {"bearer_token": ...}, {"username": ..., "password": ...} or '
        '{"headers": {name: value}}.'
    )
    if not isinstance(credentials, dict):
        return shapes
    keys = set(credentials)
    if keys == {"bearer_token"}:
        values = [credentials["bearer_token"]]
    elif keys in ({"username", "password"}, {"username"}):
        values = [credentials["username"], credentials.get("password", "")]
        if not credentials["username"]:
            return "Give a user name."
    elif (
        keys == {"headers"} and isinstance(credentials["headers"], dict) and credentials["headers"]
    ):
        for name in credentials["headers"]:
            if not isinstance(name, str) or not HEADER_NAME.match(name):
                return "A header name is letters, digits and - (e.g. X-Api-Key)."
        values = list(credentials["headers"].values())
    else:
        return shapes
    for value in values:
        # A line break would let a value write headers of its own.
        if not isinstance(value, str) or "\r" in value or "\n" in value or len(value) > 4000:
            return "Each credential is one line of text."
    if keys == {"bearer_token"} and not credentials["bearer_token"]:
        return "Give the token."
    return None


def _validate(source: MetricSource, credentials: dict | None) -> None:
    """Field errors for a source about to be saved, as one ValidationError."""
    errors: dict[str, list[str]] = {}
    try:
        # The URL is checked below: Django's URLValidator wants a dotted domain, and sources
        # are commonly reached by a cluster's short names (http://prometheus:9090).
        source.full_clean(exclude=["deployment", "created_by", "url"])
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if not isinstance(source.config, dict):
        errors.setdefault("config", []).append("The config is a JSON object.")
    elif source.kind in PULLED_KINDS:
        if not source.url:
            errors.setdefault("url", []).append("Give the URL to read.")
        else:
            problem = _url_error(source.url) or check_literal(source.url)
            if problem:
                errors["url"] = [problem]
        for name, message in CONFIG_CHECKS[source.kind](source.config).items():
            errors.setdefault(name, []).append(message)
    elif source.kind == SourceKind.PUSH:
        if source.url:
            errors.setdefault("url", []).append("A push source has no URL.")
        if source.config:
            errors.setdefault("config", []).append("A push source has no config.")
        if credentials:
            errors.setdefault("credentials", []).append("A push source has no credentials.")
    if credentials:
        problem = validate_credentials(credentials)
        if problem:
            errors["credentials"] = [problem]
    if errors:
        raise ValidationError(errors)


def _set_credentials(source: MetricSource, credentials: dict | None) -> str | None:
    """Apply the credentials argument: None keeps, {} clears, a dict replaces. Says what changed."""
    if credentials is None:
        return None
    if not credentials:
        if not source.credentials_encrypted:
            return None
        source.credentials_encrypted = ""
        source.credentials_set_at = None
        return "credentials removed"
    source.credentials_encrypted = encrypt(credentials)
    source.credentials_set_at = timezone.now()
    return "credentials replaced"


def _new_token(source: MetricSource) -> str:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    source.token_prefix = token[:8]
    source.token_hash = hashlib.sha256(token.encode()).hexdigest()
    return token


# Writes -------------------------------------------------------------------------------------
@transaction.atomic
def source_create(
    *,
    actor,
    deployment,
    name: str,
    kind: str,
    url: str = "",
    config: dict | None = None,
    credentials: dict | None = None,
    interval_seconds: int = 60,
    enabled: bool = True,
) -> tuple[MetricSource, str | None]:
    """Connect a source to a deployment. A push source's token is returned here, and only here."""
    require(actor, "monitoring.manage_source", deployment)
    source = MetricSource(
        deployment=deployment,
        name=(name or "").strip(),
        kind=kind,
        url=(url or "").strip(),
        config=config if config is not None else {},
        interval_seconds=interval_seconds,
        enabled=enabled,
        created_by=actor,
    )
    _validate(source, credentials)
    if kind != SourceKind.PUSH:
        _set_credentials(source, credentials or None)
    token = _new_token(source) if kind == SourceKind.PUSH else None
    save_with_history(source, actor=actor, reason=f"Source {source.name!r} connected")
    return source, token


@transaction.atomic
def source_update(*, actor, source: MetricSource, **fields: Any) -> MetricSource:
    """Change a source. ``credentials``: None (or absent) keeps them, {} clears, a dict replaces."""
    source = MetricSource.objects.select_for_update().get(pk=source.pk)
    require(actor, "monitoring.manage_source", source)
    credentials = fields.pop("credentials", None)
    stored_origin = origin(source.url)
    if "kind" in fields and fields.pop("kind") != source.kind:
        raise ValidationError({"kind": "A source's kind cannot change; connect a new source."})
    unknown = set(fields) - set(EDITABLE)
    if unknown:
        raise TypeError(f"source_update() cannot change {', '.join(sorted(unknown))}")
    changed = []
    for name, value in fields.items():
        if isinstance(value, str):
            value = value.strip()
        if getattr(source, name) != value:
            setattr(source, name, value)
            changed.append(name)
    _validate(source, credentials or None)
    if (
        "url" in changed
        and source.credentials_encrypted
        and credentials is None
        and origin(source.url) != stored_origin
    ):
        # Otherwise anyone who may edit the source could point it at their own server and press
        # "Test connection" to be sent the stored secret.
        host = urlsplit(source.url).hostname
        raise ValidationError(
            {
                "credentials": (
                    f"The address changed: enter the credentials again for {host} (or clear them)."
                )
            }
        )
    credentials_change = _set_credentials(source, credentials)
    if not changed and not credentials_change:
        return source
    reason = "Changed " + ", ".join(changed) if changed else ""
    if credentials_change:
        reason = f"{reason}; {credentials_change}" if reason else credentials_change.capitalize()
    save_with_history(source, actor=actor, reason=reason)
    if {"url", "config", "enabled"} & set(changed) or credentials_change:
        # What is read changed: read it at the next dispatch, not after a failure's back-off;
        # a new URL or new queries start again from the last hour.
        health: dict[str, Any] = {"next_due_at": None}
        if {"url", "config"} & set(changed):
            health["pulled_until"] = None
        MetricSource.objects.filter(pk=source.pk).update(**health)
        for name, value in health.items():
            setattr(source, name, value)
    return source


@transaction.atomic
def source_rotate_token(*, actor, source: MetricSource) -> str:
    """A new push token; the old one stops working at once. Returned here, and only here."""
    source = MetricSource.objects.select_for_update().get(pk=source.pk)
    require(actor, "monitoring.manage_source", source)
    if source.kind != SourceKind.PUSH:
        raise ValidationError({"kind": "Only a push source has a token."})
    token = _new_token(source)
    save_with_history(source, actor=actor, reason="Push token replaced")
    return token


def source_for_token(raw: str | None) -> MetricSource | None:
    """The enabled push source of a live deployment a token belongs to, or None."""
    if not raw or not isinstance(raw, str) or not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        return None
    digest = hashlib.sha256(raw.encode()).hexdigest()
    source = (
        MetricSource.objects.select_related("deployment")
        .filter(token_hash=digest, kind=SourceKind.PUSH, enabled=True, deployment__active=True)
        .first()
    )
    # The look-up is by hash already; compare again in constant time all the same.
    if source is None or not hmac.compare_digest(source.token_hash, digest):
        return None
    return source


# Test connection ----------------------------------------------------------------------------
@dataclass(frozen=True)
class SourceTest:
    ok: bool
    samples: list[Sample] = field(default_factory=list)
    error: str = ""

    def as_dict(self) -> dict:
        return {
            "ok": self.ok,
            "error": self.error,
            "samples": [
                {"metric": s.metric, "feature": s.feature, "at": s.at.isoformat(), "value": s.value}
                for s in self.samples
            ],
        }


def source_test(*, actor, source: MetricSource) -> SourceTest:
    """Read the source the way a pull does and say what would be written; writes nothing.

    Works on an unsaved source too (the form's "test" before saving).
    """
    require(actor, "monitoring.manage_source", source)
    if source.kind not in PULLED_KINDS:
        return SourceTest(ok=False, error="A push source is not pulled; the system sends samples.")
    try:
        _validate(source, None)
    except ValidationError as exc:
        return SourceTest(ok=False, error=" ".join(exc.messages))
    if source.pk and source.credentials_encrypted:
        # A saved source changed in memory (a bound form, say) to another address must not carry
        # the credentials stored for the old one there.
        stored = MetricSource.objects.filter(pk=source.pk).values_list("url", flat=True).first()
        if stored is not None and origin(stored) != origin(source.url):
            return SourceTest(
                ok=False,
                error=(
                    f"The address changed: save the source with credentials for "
                    f"{urlsplit(source.url).hostname} before testing it."
                ),
            )
    try:
        reading = connectors.read(source, now=timezone.now())
    except OutboundError as exc:
        return SourceTest(ok=False, error=exc.message)
    return SourceTest(ok=True, samples=reading.samples)
