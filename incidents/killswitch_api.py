"""``GET /api/v1/kill-switch/``: a deployed system polls its use case's kill switch.

Authenticated by a kill-switch token (``Authorization: Bearer sks_...``) and nothing else: a
session cookie or a personal API token is not accepted, and the token reads its own use case
only (the URL names none). A bad, unknown or revoked token answers 401.

The answer carries a strong ETag and ``Cache-Control: no-cache``: a client (or a cache in
between) may keep the answer but must revalidate it on every poll, and gets a 304 with no
body while nothing changed. A poll costs one query; ``last_polled_at`` is written in batches
(see incidents.services.killswitch).

The view is a DRF view for the schema and the 401s, but a poll with a live token never enters
DRF: ``KillSwitchView.as_view`` answers it in plain Django (DRF's request wrapping, content
negotiation and authentication were most of a poll's cost) and hands everything else (no
token, a bad one, another method) to DRF, which answers as before.

Most polls do not even enter Django: ``PollShortcut`` (installed around the WSGI application
by portal/wsgi.py, from settings.WSGI_SHORTCUTS) answers a poll that needs no query, with the
headers Django's middleware gave the same kind of answer to the same scheme and host, the
access log line and the request metrics (see its docstring).
"""

import time
from functools import update_wrapper

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http import HttpResponse
from django.urls import NoReverseMatch, resolve, reverse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import exceptions, serializers
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import BasePermission
from rest_framework.views import APIView

from incidents.services.killswitch import (
    PollAnswer,
    PollState,
    kill_switch_answer,
    known_poll_answer,
    poll_state_for_raw,
)
from portal import metrics
from portal.observability import access_log, request_id_from

KEYWORD = "Bearer"


class KillSwitchTokenAuthentication(BaseAuthentication):
    """``request.auth`` is the token's PollState (with its use case); the user is anonymous."""

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != KEYWORD.lower().encode():
            return None  # no credentials: IsKillSwitchToken refuses with 401
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Send 'Authorization: Bearer sks_...'.")
        try:
            raw = parts[1].decode()
        except UnicodeError:
            raise exceptions.AuthenticationFailed("The token is not valid.") from None
        state = poll_state_for_raw(raw)
        if state is None:
            raise exceptions.AuthenticationFailed("The token is not valid, or it was revoked.")
        return AnonymousUser(), state

    def authenticate_header(self, request) -> str:
        return f'{KEYWORD} realm="kill-switch"'


class IsKillSwitchToken(BasePermission):
    message = "Send the deployed system's kill-switch token: 'Authorization: Bearer sks_...'."

    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, PollState)


class KillSwitchTokenScheme(OpenApiAuthenticationExtension):
    target_class = "incidents.killswitch_api.KillSwitchTokenAuthentication"
    name = "killSwitchToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A deployed system's kill-switch token (sks_...), shown once when "
            "it is created. It reads its own use case's kill switch and nothing else.",
        }


KillSwitchStateSerializer = inline_serializer(
    "KillSwitchState",
    {
        "use_case": serializers.CharField(help_text="The use case's reference, e.g. UC-0007."),
        "enabled": serializers.BooleanField(
            help_text="Run the AI: the kill switch is released and the use case is live "
            "(pilot or production). When false, run the runbook's fallback."
        ),
        "kill_switch_engaged": serializers.BooleanField(),
        "lifecycle": serializers.CharField(),
        "changed_at": serializers.DateTimeField(
            help_text="When the kill switch last moved (the use case's creation if never)."
        ),
        "poll_seconds": serializers.IntegerField(help_text="How often to poll."),
    },
)


class KillSwitchView(APIView):
    authentication_classes = [KillSwitchTokenAuthentication]
    permission_classes = [IsKillSwitchToken]
    throttle_classes: list = []

    @extend_schema(
        tags=["Kill switch"],
        summary="Poll the kill switch (deployed systems, with their kill-switch token)",
        description="`Authorization: Bearer sks_...`. Send the last ETag in `If-None-Match`: "
        "the answer is 304 with no body while nothing changed. Poll every `poll_seconds`; "
        "when `enabled` is false, stop calling the AI and run the fallback.",
        parameters=[
            OpenApiParameter(
                "If-None-Match", OpenApiTypes.STR, OpenApiParameter.HEADER, required=False
            )
        ],
        responses={
            200: KillSwitchStateSerializer,
            304: OpenApiResponse(description="Nothing changed since the ETag sent."),
            401: OpenApiResponse(description="No token, an unknown one, or a revoked one."),
        },
    )
    def get(self, request):
        return _answer(request.auth, request)

    @classmethod
    def as_view(cls, **initkwargs):
        drf_view = super().as_view(**initkwargs)

        def poll(request, *args, **kwargs):
            if request.method == "GET":
                state = _live_token(request)
                if state is not None:
                    return _answer(state, request)
            return drf_view(request, *args, **kwargs)

        # What DRF and drf-spectacular read off the view (cls, initkwargs, csrf_exempt).
        update_wrapper(poll, drf_view, assigned=("__module__", "__name__", "__doc__"))
        poll.__dict__.update(drf_view.__dict__)
        return csrf_exempt(poll)


def _bearer(meta) -> str:
    """The raw token of a well-formed ``Authorization: Bearer <token>``, else ''."""
    keyword, _, raw = meta.get("HTTP_AUTHORIZATION", "").partition(" ")
    if keyword.lower() != "bearer" or " " in raw:
        return ""
    return raw


def _live_token(request) -> PollState | None:
    """The poll's token when the request carries a well-formed live one, else None (DRF then
    answers, with its 401 and the reason)."""
    raw = _bearer(request.META)
    return poll_state_for_raw(raw) if raw else None


def _answer(state: PollState, request) -> HttpResponse:
    answer = kill_switch_answer(state, request.META.get("HTTP_IF_NONE_MATCH"))
    # The bytes are made once by the service (the ETag is their hash), so they are sent as
    # they are rather than rendered again by DRF.
    response = HttpResponse(answer.body, status=answer.status, content_type="application/json")
    response["ETag"] = answer.etag
    response["Cache-Control"] = "no-cache"
    response["Vary"] = "Authorization"
    return response


# What the middleware's answer to a poll depends on besides the token (which the view reads):
# the scheme (the HTTPS redirect, HSTS) and the host (ALLOWED_HOSTS, PREPEND_WWW). A poll is
# answered before Django only with headers Django gave a poll with these same values.
_DECIDING = (
    "wsgi.url_scheme",
    "HTTP_HOST",
    "SERVER_NAME",
    "SERVER_PORT",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PORT",
)
# Headers that are the answer's own, filled in for each (the rest are the same every time).
_PER_ANSWER = frozenset({"etag", "content-length", "x-request-id"})
# Kinds of answer remembered (status, scheme, host...): a few per deployment; a flood of
# made-up Host headers must not grow the memory without end.
_MAX_LEARNT = 256


class PollShortcut:
    """WSGI: a poll answered before Django when it needs no query, exactly as Django would.

    A ``GET /api/v1/kill-switch/`` with ``Authorization: Bearer sks_...`` is answered here when
    this process's copy is fresh and knows the token and its poll time need not be written now
    (incidents.services.killswitch.known_poll_answer): at 20,000 systems polling, nearly every
    poll. Anything else (no token, an unknown or revoked one, a stale copy, another method, a
    query string) goes to Django as before, so the 401s, the copy's reads and the batched
    writes all happen inside Django's request cycle, with its database connection handling.

    The headers are the ones Django's middleware gave (security headers, CSP, X-Frame-Options,
    ...), learnt from a poll Django answered with the same status for the same scheme and
    host, with the ETag, Content-Length and X-Request-ID made for this answer: until Django has
    answered such a poll in this process, it answers this one too. So a change of middleware
    or of a security setting changes these answers with it, and a host Django would refuse
    (ALLOWED_HOSTS) or redirect (SECURE_SSL_REDIRECT, PREPEND_WWW) never gets one here. The
    access log line and the request metrics are written as RequestLogMiddleware writes them.
    """

    def __init__(self, application) -> None:
        self.application = application
        self._route: tuple[str, str] | None = None  # the poll's path, and its view's name
        self._learnt: dict[tuple, tuple[str, list[tuple[str, str | None]]]] = {}
        proxy = settings.SECURE_PROXY_SSL_HEADER  # the header saying the request was HTTPS
        self._deciding = _DECIDING + ((proxy[0],) if proxy else ())

    def _resolve(self) -> tuple[str, str]:
        try:
            path = reverse("api-kill-switch")
        except NoReverseMatch:  # URLs without the API: nothing to answer, ever
            self._route = ("", "")
            return self._route
        self._route = (path, resolve(path).view_name)
        return self._route

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") != "GET":
            return self.application(environ, start_response)
        path, view = self._route or self._resolve()
        if not path or environ.get("PATH_INFO") != path:
            return self.application(environ, start_response)
        started = time.monotonic()
        key = tuple(environ.get(name) for name in self._deciding)
        raw = _bearer(environ)
        answer = self._known(environ, raw) if raw else None
        learnt = self._learnt.get((answer.status, *key)) if answer is not None else None
        if answer is None or learnt is None:
            # Only a poll the plain view answers (not DRF) teaches the headers.
            learning = self._learning(key, start_response) if raw else start_response
            return self.application(environ, learning)
        status, template = learnt
        rid = request_id_from(environ.get("HTTP_X_REQUEST_ID", ""))
        own = {"etag": answer.etag, "content-length": str(len(answer.body)), "x-request-id": rid}
        start_response(status, [(n, own[n.lower()] if v is None else v) for n, v in template])
        seconds = time.monotonic() - started
        metrics.observe_request("GET", answer.status, view, seconds)
        access_log.info(
            "%s %s %s %.1fms",
            "GET",
            path,
            answer.status,
            seconds * 1000,
            extra={
                "request_id": rid,
                "method": "GET",
                "path": path,
                "status": answer.status,
                "duration_ms": round(seconds * 1000, 1),
                "user": "",
                "view": view,
            },
        )
        return [answer.body]

    def _known(self, environ, raw: str) -> PollAnswer | None:
        # Cases Django answers differently from a plain poll, or that need its request: a
        # query string (logged), a script prefix, refused user agents (CommonMiddleware).
        if environ.get("QUERY_STRING") or environ.get("SCRIPT_NAME"):
            return None
        if settings.FORCE_SCRIPT_NAME or settings.DISALLOWED_USER_AGENTS:
            return None
        return known_poll_answer(raw, environ.get("HTTP_IF_NONE_MATCH"))

    def _learning(self, key: tuple, start_response):
        """start_response, remembering the headers of a poll Django answered (200 or 304)."""

        def learn(status: str, headers, exc_info=None):
            code = int(status.split(" ", 1)[0])
            if (
                code in (200, 304)
                and exc_info is None
                and len(self._learnt) < _MAX_LEARNT
                and not any(name.lower() == "set-cookie" for name, _ in headers)
            ):
                template = [(n, None if n.lower() in _PER_ANSWER else v) for n, v in headers]
                self._learnt.setdefault((code, *key), (status, template))
            return start_response(status, headers, exc_info)

        return learn
