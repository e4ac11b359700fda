"""What every API view shares: the permission class over the named rules, errors, a base.

The API asks the same named rules (``registry.change_usecase``) the pages ask, and calls the
same services. ``RulePermission`` is the default permission class (settings.REST_FRAMEWORK) and
``portal.api_views.exception_handler`` the exception handler, so a viewset declares only its
rules: a
service's django ``ValidationError`` becomes a 400 with field errors, its ``PermissionDenied``
a 403; a record the person may not see answers 404, as on the pages.
"""

import logging
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions, serializers
from rest_framework.permissions import BasePermission
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from portal.access import can, prime, with_access

# A rule name, None (any signed-in person: the queryset already holds only what they may
# see), or a function of the view that names the rule (e.g. one per lifecycle transition).
ActionRule = str | None | Callable[..., str]

log = logging.getLogger("steward.security")


class RulePermission(BasePermission):
    """Allow a viewset action when the person passes the named rule mapped to it.

    A viewset declares ``action_rules`` (action name -> rule) and ``view_rule`` (the rule
    for reading one record). Actions on the collection (list, create) are checked without a
    record; actions on a record are checked against it once it is fetched. A record the
    person may not read answers 404 so nothing leaks that it exists; one they may read but
    not change answers 403. An action missing from ``action_rules`` is refused.
    """

    message = "You may not do this."

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        if not hasattr(view, "action_rules") and not hasattr(view, "action"):
            # A plain APIView (the gate, costs, history): it asks its rules itself.
            return True
        if view.action is None:
            # The HTTP method has no action (e.g. DELETE): let the view answer 405.
            return True
        if view.action == "metadata" or getattr(view, "detail", False):
            return True
        rule = self._rule(view)
        return rule is None or can(request.user, rule)

    def has_object_permission(self, request, view, obj) -> bool:
        if not hasattr(view, "action_rules") and not hasattr(view, "action"):
            return True
        view_rule = getattr(view, "view_rule", None)
        if view_rule and not can(request.user, view_rule, obj):
            raise exceptions.NotFound
        if view.action == "metadata":
            return True
        rule = self._rule(view)
        return rule is None or can(request.user, rule, obj)

    @staticmethod
    def _rule(view) -> str | None:
        rules: dict[str, ActionRule] = getattr(view, "action_rules", {})
        if view.action not in rules:
            raise exceptions.PermissionDenied(f"No rule is set for {view.action!r}.")
        rule = rules[view.action]
        return rule(view) if callable(rule) else rule


class TokenAuthentication(authentication.TokenAuthentication):
    """A person's API token (``Authorization: Token ...``), as DRF reads it, with the
    person's roles and units read in the same query (portal.access.with_access)."""

    def authenticate_credentials(self, key):
        model = self.get_model()
        tokens = with_access(model.objects.select_related("user"), "user")
        try:
            token = tokens.get(key=key)
        except model.DoesNotExist:
            raise exceptions.AuthenticationFailed(_("Invalid token.")) from None
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        prime(token.user, token)
        return (token.user, token)


def as_api_error(exc: Exception) -> Exception:
    """The DRF error for a service's django exception (others are returned unchanged)."""
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            detail = {
                (api_settings.NON_FIELD_ERRORS_KEY if field == NON_FIELD_ERRORS else field): msgs
                for field, msgs in exc.message_dict.items()
            }
        else:
            detail = {api_settings.NON_FIELD_ERRORS_KEY: exc.messages}
        return exceptions.ValidationError(detail)
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied(str(exc) or None)
    if isinstance(exc, exceptions.Throttled):
        # DRF adds "Expected available in N seconds." and the Retry-After header.
        wait = getattr(exc, "wait", None)
        return exceptions.Throttled(wait=wait, detail="Too many requests for this token.")
    return exc


class TokenRateThrottle(SimpleRateThrottle):
    """At most ``settings.API_RATE_PER_TOKEN`` requests per token: a person's API token or a
    push source's. Requests signed in with a session are not counted here (sign-in itself is
    limited, portal/throttle.py); the push API and the kill-switch poll, which deployed
    systems call on a schedule, set no throttle.

    The counts are in the default cache, shared by every web process.
    """

    scope = "token"

    def get_rate(self) -> str:
        return settings.API_RATE_PER_TOKEN  # read per request, so a test may change it

    def get_cache_key(self, request, view) -> str | None:
        auth = request.auth
        if auth is None or not hasattr(auth, "pk"):
            return None
        # A personal token is one per person (a new one replaces the old): count by person, so
        # the token itself is never a cache key.
        user_id = getattr(auth, "user_id", None)
        ident = f"user-{user_id}" if user_id is not None else f"{type(auth).__name__}-{auth.pk}"
        return self.cache_format % {"scope": self.scope, "ident": ident.lower()}

    def allow_request(self, request, view) -> bool:
        allowed = super().allow_request(request, view)
        if not allowed:
            log.warning("API request refused for %s: over %s", self.key, self.rate)
        return allowed


def datetimes(serializer: serializers.BaseSerializer) -> serializers.DateTimeField:
    """DRF's DateTimeField for the current time zone, made once per serializer (so once per
    response) and kept on it, for representations written by hand: a DateTimeField without
    a time zone of its own asks for the current one for every value it renders, a tenth of
    the register list's time (issue 19)."""
    field = serializer.__dict__.get("_steward_datetimes")
    if field is None:
        zone = timezone.get_current_timezone() if settings.USE_TZ else None
        field = serializers.DateTimeField(default_timezone=zone)
        serializer.__dict__["_steward_datetimes"] = field
    return field
