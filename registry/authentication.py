"""A model-scoped token: a training pipeline posts evaluations of one model's versions.

The pipeline sends ``Authorization: Bearer stm_...``. The token names one AI model
(registry.services.releases.model_token_for: not revoked), so the request may post
evaluations of that model's versions and nothing else: only the evaluations endpoint accepts
this authentication, ``request.user`` is anonymous and ``request.auth`` is the token, and any
other version answers 404 as if it did not exist.
"""

from django.contrib.auth.models import AnonymousUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from registry.services.releases import TOKEN_PREFIX, model_token_for

KEYWORD = "Bearer"


class ModelTokenAuthentication(BaseAuthentication):
    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != KEYWORD.lower().encode():
            return None  # a personal token or a session may still answer
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Send 'Authorization: Bearer <token>'.")
        try:
            raw = parts[1].decode()
        except UnicodeError:
            raise exceptions.AuthenticationFailed("The token is not valid.") from None
        token = model_token_for(raw)
        if token is None:
            raise exceptions.AuthenticationFailed("The token is not valid, or it was revoked.")
        return AnonymousUser(), token

    def authenticate_header(self, request) -> str:
        return f'{KEYWORD} realm="model"'


class ModelTokenScheme(OpenApiAuthenticationExtension):
    target_class = "registry.authentication.ModelTokenAuthentication"
    name = "modelToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": f"A model's token ({TOKEN_PREFIX}...), shown once when it is made. It "
            "posts evaluations of that model's versions and does nothing else.",
        }
