from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def require_secret_key() -> None:
    """Refuse to serve without a secret key: sessions and password resets are signed with it.

    Django checks the key only when something first reads it, which may be the first request;
    reading it here makes the web process fail at start instead (ImproperlyConfigured).
    """
    if not settings.SECRET_KEY:  # reading it raises already; this stays if Django changes
        raise ImproperlyConfigured("Set the SECRET_KEY environment variable.")
