"""Logs an operator can read: every line with its time, level and request id; an access log
line per request; JSON lines as an option (LOG_FORMAT=json) for a log shipper.

The request id is the caller's ``X-Request-ID`` when it is a sane token (a proxy's), else a
new one; it is sent back in the answer's ``X-Request-ID`` and is on every log line written
while the request is handled.

The access line never keeps a secret a URL carries: a path's ``token`` (an invitation's
one-time link, a password reset's) and the values of query parameters named like a secret
are written as ``[redacted]``, so reading the logs never lets anyone set a password.
"""

import contextvars
import json
import logging
import re
import time
import uuid
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode

from django.utils.encoding import escape_uri_path, iri_to_uri

from portal import metrics

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
access_log = logging.getLogger("steward.access")
REDACTED = "[redacted]"
# URL parts (a path's keyword arguments) that are secrets: people:join, auth's password reset.
_SECRET_KWARGS = frozenset({"token"})
_SECRET_QUERY = re.compile(r"token|key|secret|password|signature|code", re.IGNORECASE)


def loggable_path(request) -> tuple[str, str]:
    """The path, and the path with its query string, with their secrets redacted."""
    path = request.path
    shown = escape_uri_path(path)  # as get_full_path: no newline reaches a text log
    match = getattr(request, "resolver_match", None)
    for name, value in match.kwargs.items() if match is not None else ():
        if name in _SECRET_KWARGS and value:
            path = path.replace(str(value), REDACTED)
            shown = shown.replace(escape_uri_path(str(value)), REDACTED)
    query = request.META.get("QUERY_STRING", "")
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(_SECRET_QUERY.search(name) for name, _ in pairs):
            pairs = [(n, REDACTED if _SECRET_QUERY.search(n) else v) for n, v in pairs]
            query = urlencode(pairs, safe="[]")
        shown = f"{shown}?{iri_to_uri(query)}"
    return path[:500], shown[:500]


def request_id_from(given: str) -> str:
    """The request's id: the caller's X-Request-ID when it is a sane token (a proxy's), else
    a new one."""
    return given if _SANE_ID.match(given) else uuid.uuid4().hex


class RequestIdFilter(logging.Filter):
    """Puts the current request's id on every record (``-`` outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):  # the access line brings its own
            record.request_id = request_id.get()
        return True


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, request id,
    and the access log's fields or an exception's traceback where there is one."""

    FIELDS = ("method", "path", "status", "duration_ms", "user", "view")

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        for name in self.FIELDS:
            if hasattr(record, name):
                line[name] = getattr(record, name)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class RequestLogMiddleware:
    """The request id, the access log line and the request metrics, for every request."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        rid = request_id_from(request.headers.get("X-Request-ID", ""))
        token = request_id.set(rid)
        started = time.monotonic()
        try:
            response = self.get_response(request)
        finally:
            request_id.reset(token)
        seconds = time.monotonic() - started
        response["X-Request-ID"] = rid
        match = getattr(request, "resolver_match", None)
        view = match.view_name if match is not None and match.view_name else "unmatched"
        metrics.observe_request(request.method, response.status_code, view, seconds)
        user = getattr(request, "user", None)
        path, full_path = loggable_path(request)
        access_log.info(
            "%s %s %s %.1fms",
            request.method,
            full_path,
            response.status_code,
            seconds * 1000,
            extra={
                "request_id": rid,
                "method": request.method,
                "path": path,
                "status": response.status_code,
                "duration_ms": round(seconds * 1000, 1),
                "user": user.get_username() if user is not None and user.is_authenticated else "",
                "view": view,
            },
        )
        return response
