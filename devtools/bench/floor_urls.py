"""The portal's URLs plus the floors the kill-switch poll is compared with (benchmark only).

``/bench/constant-json/`` answers a constant JSON body of the poll's size through the same
Django, the same middleware and the same gunicorn: the least a Django view can cost, so the
poll's requests per second divided by this one's says how close the poll is to the floor.

``/bench/constant-json-wsgi/`` answers the same body before Django (ConstantShortcut, a WSGI
wrapper as the poll's own shortcut is, with the headers Django's middleware gives the floor
view, the access log line and the request metrics): the least an answer can cost on this
server at all.
"""

import json
import time

from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import include, path

from portal import metrics
from portal import settings as deployed
from portal.observability import access_log, request_id_from

FLOOR_PATH = "/bench/constant-json/"
WSGI_FLOOR_PATH = "/bench/constant-json-wsgi/"
BODY = json.dumps(
    {
        "changed_at": "2026-01-01T00:00:00+00:00",
        "enabled": True,
        "kill_switch_engaged": False,
        "lifecycle": "production",
        "poll_seconds": 10,
        "use_case": "UC-0001",
    },
    sort_keys=True,
    separators=(",", ":"),
).encode()


def constant_json(request):
    return HttpResponse(BODY, content_type="application/json")


urlpatterns = [
    path(FLOOR_PATH.strip("/") + "/", constant_json),
    path("", include(deployed.ROOT_URLCONF)),  # the portal's own URLs, all of them
]


class ConstantShortcut:
    """WSGI: the constant body at WSGI_FLOOR_PATH, answered before Django (the floor of the
    poll's shortcut); every other request goes to Django."""

    def __init__(self, application) -> None:
        self.application = application
        self.headers: list[tuple[str, str]] | None = None

    def _headers(self) -> list[tuple[str, str]]:
        """The floor view's headers, as Django's middleware makes them, asked once."""
        learnt: list = []

        def start_response(status, headers, exc_info=None):
            learnt.extend(headers)

        environ = RequestFactory().get(FLOOR_PATH, SERVER_NAME="127.0.0.1").environ
        b"".join(self.application(environ, start_response))
        return [(n, v) for n, v in learnt if n.lower() not in {"x-request-id", "set-cookie"}]

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") != WSGI_FLOOR_PATH:
            return self.application(environ, start_response)
        started = time.monotonic()
        if self.headers is None:
            self.headers = self._headers()
        rid = request_id_from(environ.get("HTTP_X_REQUEST_ID", ""))
        start_response("200 OK", [*self.headers, ("X-Request-ID", rid)])
        seconds = time.monotonic() - started
        metrics.observe_request("GET", 200, "bench-floor", seconds)
        access_log.info(
            "%s %s %s %.1fms",
            "GET",
            WSGI_FLOOR_PATH,
            200,
            seconds * 1000,
            extra={
                "request_id": rid,
                "method": "GET",
                "path": WSGI_FLOOR_PATH,
                "status": 200,
                "duration_ms": round(seconds * 1000, 1),
                "user": "",
                "view": "bench-floor",
            },
        )
        return [BODY]
