"""The push API's authentication: a push source's bearer token, and nothing else.

A deployed system sends ``Authorization: Bearer stw_...``. The token names one push source
(monitoring.services.sources.source_for_token: enabled, on a live deployment), so the
request may write to that source's deployment only. ``request.user`` is anonymous and
``request.auth`` is the source; sessions and personal API tokens are not accepted here, so
a browser's cookie can never push samples.
"""

from django.contrib.auth.models import AnonymousUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import BasePermission

from monitoring.models import MetricSource
from monitoring.services.sources import source_for_token

KEYWORD = "Bearer"


class PushTokenAuthentication(BaseAuthentication):
    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != KEYWORD.lower().encode():
            return None  # no credentials: IsPushSource refuses with 401 and the header below
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Send 'Authorization: Bearer <token>'.")
        try:
            raw = parts[1].decode()
        except UnicodeError:
            raise exceptions.AuthenticationFailed("The token is not valid.") from None
        source = source_for_token(raw)
        if source is None:
            raise exceptions.AuthenticationFailed(
                "The token is not valid, or its source is disabled."
            )

        return AnonymousUser(), source

    def authenticate_header(self, request) -> str:
        return f'{KEYWORD} realm="push"'


class IsPushSource(BasePermission):
    """The request carries a push source's token (request.auth is the source)."""

    message = "Send the push source's token: 'Authorization: Bearer stw_...'."

    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, MetricSource)


class PushTokenScheme(OpenApiAuthenticationExtension):
    target_class = "monitoring.authentication.PushTokenAuthentication"
    name = "pushToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A push source's token (stw_...), shown once when the source is "
            "created or its token replaced. It writes to that source's deployment only.",
        }
