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
"""

from functools import update_wrapper

from django.contrib.auth.models import AnonymousUser
from django.http import HttpResponse
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

from incidents.services.killswitch import PollState, kill_switch_answer, poll_state_for_raw

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


def _live_token(request) -> PollState | None:
    """The poll's token when the request carries a well-formed live one, else None (DRF then
    answers, with its 401 and the reason)."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    keyword, _, raw = header.partition(" ")
    if keyword.lower() != "bearer" or not raw or " " in raw:
        return None
    return poll_state_for_raw(raw)


def _answer(state: PollState, request) -> HttpResponse:
    answer = kill_switch_answer(state, request.META.get("HTTP_IF_NONE_MATCH"))
    # The bytes are made once by the service (the ETag is their hash), so they are sent as
    # they are rather than rendered again by DRF.
    response = HttpResponse(answer.body, status=answer.status, content_type="application/json")
    response["ETag"] = answer.etag
    response["Cache-Control"] = "no-cache"
    response["Vary"] = "Authorization"
    return response
