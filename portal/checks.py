"""Django system checks: what must be true before Steward serves.

- ``front_end_packages`` (tag ``staticfiles``): the front-end files the pages load come from
  node_modules, put there by ``npm ci``. Without them ``collectstatic`` would exit 0 and every
  page would then answer 500 (the manifest has no entry for them), so the check fails
  ``collectstatic``, ``runserver`` and ``manage.py check`` instead.
- ``production_settings`` (``manage.py check --deploy``, tag ``steward``): missing or weak
  production settings. An error (steward.E…) is something the portal cannot work without, or
  a secret anyone can read; a warning (steward.W…) is something that works but is weaker than
  it should be. ``check --deploy`` exits non-zero on any error.

Every setting the deploy checks read must appear in deploy/steward.env.example (a test
holds it).
"""

import ipaddress
from urllib.parse import urlsplit

from cryptography.fernet import Fernet
from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured

# The files templates/base.html loads from node_modules (through STATICFILES_DIRS' prefixes).
FRONT_END_FILES = (
    "vendor/bootstrap/css/bootstrap.min.css",
    "vendor/bootstrap/js/bootstrap.bundle.min.js",
    "vendor/htmx/htmx.min.js",
)

# Secret keys published in this repository (the embedded default, tests, lint, benchmarks).
PUBLISHED_SECRET_KEYS = {
    "insecure-dev-key-only-for-the-embedded-default",
    "test-only-secret",
    "lint-only",
    "bench-only-secret",
}
MIN_SECRET_KEY_LENGTH = 50
MIN_METRICS_TOKEN_LENGTH = 32
# Email backends that never deliver a message.
NON_DELIVERING_EMAIL = {
    "django.core.mail.backends.console.EmailBackend",
    "django.core.mail.backends.locmem.EmailBackend",
    "django.core.mail.backends.dummy.EmailBackend",
    "django.core.mail.backends.filebased.EmailBackend",
}
IN_PROCESS_BROKERS = ("memory://", "filesystem://")


def front_end_packages(app_configs=None, **kwargs) -> list[CheckMessage]:
    missing = [path for path in FRONT_END_FILES if not finders.find(path)]
    if not missing:
        return []
    return [
        Error(
            f"The front-end packages are missing: {', '.join(missing)} not found "
            f"(looked in {settings.NODE_MODULES}).",
            hint="Run `npm ci` (or `make setup`) in the repository, then collectstatic again.",
            id="steward.E010",
        )
    ]


def _secret_key() -> str:
    try:
        return settings.SECRET_KEY
    except ImproperlyConfigured:  # Django refuses to read an empty key
        return ""


def _secret_key_checks() -> list[CheckMessage]:
    key = _secret_key()
    if not key:
        return [
            Error(
                "SECRET_KEY is not set: the web process refuses to start.",
                hint="Set SECRET_KEY to at least 50 random characters, e.g. from "
                "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`.",
                id="steward.E001",
            )
        ]
    if key in PUBLISHED_SECRET_KEYS or key.startswith("django-insecure-"):
        return [
            Error(
                "SECRET_KEY is a value published with Steward's source: anyone can forge "
                "sessions and password-reset links with it.",
                hint="Set SECRET_KEY to at least 50 random characters of your own.",
                id="steward.E002",
            )
        ]
    if len(key) < MIN_SECRET_KEY_LENGTH or len(set(key)) < 5:
        return [
            Warning(
                f"SECRET_KEY has {len(key)} characters; it should have at least "
                f"{MIN_SECRET_KEY_LENGTH} random ones.",
                hint="Generate one with `python -c 'import secrets; "
                "print(secrets.token_urlsafe(50))'` and move the old one to "
                "SECRET_KEY_FALLBACKS until sessions signed with it have expired.",
                id="steward.W001",
            )
        ]
    return []


def _credential_key_checks() -> list[CheckMessage]:
    keys = [k.strip() for k in settings.MONITORING_CREDENTIAL_KEYS if k.strip()]
    if not keys:
        return [
            Warning(
                "MONITORING_CREDENTIAL_KEYS is not set: metric-source credentials and webhook "
                "secrets are encrypted with a key derived from SECRET_KEY, so changing "
                "SECRET_KEY makes them unreadable.",
                hint="Set MONITORING_CREDENTIAL_KEYS to a Fernet key: `python -c 'from "
                "cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`. "
                "Back it up with the database.",
                id="steward.W002",
            )
        ]
    bad = []
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except ValueError:
            bad.append(str(position))
    if bad:
        return [
            Error(
                f"MONITORING_CREDENTIAL_KEYS: key {', '.join(bad)} is not a Fernet key "
                "(32 url-safe base64-encoded bytes); nothing encrypted can be read or written.",
                hint="Generate one with `python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'`.",
                id="steward.E003",
            )
        ]
    return []


def _is_loopback(host: str) -> bool:
    if host in {"localhost", ""} or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def _site_url_checks() -> list[CheckMessage]:
    url = urlsplit(settings.SITE_URL)
    if not url.scheme or not url.hostname or _is_loopback(url.hostname):
        return [
            Error(
                f"SITE_URL is {settings.SITE_URL!r}: links in emails (invitations, password "
                "resets, notices) would point there, not at the portal.",
                hint="Set SITE_URL to the address people reach the portal at, e.g. "
                "https://steward.example.com.",
                id="steward.E004",
            )
        ]
    if settings.SECURE and url.scheme != "https":
        return [
            Warning(
                f"SITE_URL is {settings.SITE_URL!r} while SECURE is on: links in emails use "
                "plain HTTP, and are redirected to HTTPS only after the request went out.",
                hint="Use https:// in SITE_URL (or set SECURE=false if the portal really is "
                "served over plain HTTP).",
                id="steward.W004",
            )
        ]
    return []


def _email_checks() -> list[CheckMessage]:
    if settings.DEBUG:
        return []
    if settings.EMAIL_BACKEND in NON_DELIVERING_EMAIL:
        return [
            Warning(
                f"EMAIL_BACKEND is {settings.EMAIL_BACKEND}: no email leaves the portal, so "
                "invitations, password resets and alerts never arrive.",
                hint="Set EMAIL_HOST (and EMAIL_PORT, EMAIL_HOST_USER, EMAIL_HOST_PASSWORD, "
                "EMAIL_USE_TLS) to your SMTP server; SMTP is then chosen by itself.",
                id="steward.W005",
            )
        ]
    if settings.EMAIL_BACKEND.endswith("smtp.EmailBackend") and settings.EMAIL_HOST in {
        "",
        "localhost",
    }:
        return [
            Warning(
                "EMAIL_HOST is not set: email goes to an SMTP server on localhost:"
                f"{settings.EMAIL_PORT}.",
                hint="Set EMAIL_HOST to your SMTP server, or ignore this if a mail relay "
                "listens on this machine.",
                id="steward.W006",
            )
        ]
    return []


def _broker_checks() -> list[CheckMessage]:
    if settings.DEBUG or not settings.CELERY_BROKER_URL.startswith(IN_PROCESS_BROKERS):
        return []
    return [
        Warning(
            f"CELERY_BROKER_URL is {settings.CELERY_BROKER_URL.split('://')[0]}://, the "
            "embedded default: tasks run inside the web process (memory://) or through files "
            "on this machine (filesystem://), not on workers that scale.",
            hint="Set CELERY_BROKER_URL to Redis, e.g. redis://127.0.0.1:6379/0, and run "
            "workers and one beat (docs/operations.md).",
            id="steward.W007",
        )
    ]


def _metrics_token_checks() -> list[CheckMessage]:
    token = settings.METRICS_TOKEN
    if not token or len(token) >= MIN_METRICS_TOKEN_LENGTH:
        return []
    return [
        Warning(
            f"METRICS_TOKEN has {len(token)} characters; it can be guessed.",
            hint=f"Use at least {MIN_METRICS_TOKEN_LENGTH} random characters, e.g. "
            "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`.",
            id="steward.W008",
        )
    ]


def kill_switch_cache(app_configs=None, **kwargs) -> list[CheckMessage]:
    """The poll answers' copy must stay well inside a poll interval: a switch-off reaches
    every poller within KILL_SWITCH_CACHE_SECONDS plus one interval."""
    cache, interval = settings.KILL_SWITCH_CACHE_SECONDS, settings.KILL_SWITCH_POLL_SECONDS
    if 0 <= cache <= interval / 2:
        return []
    return [
        Error(
            f"KILL_SWITCH_CACHE_SECONDS is {cache:g}: it must be between 0 and half of "
            f"KILL_SWITCH_POLL_SECONDS ({interval / 2:g}).",
            hint="A switch-off must reach every poller within about one poll interval.",
            id="steward.E011",
        )
    ]


def production_settings(app_configs=None, **kwargs) -> list[CheckMessage]:
    return [
        *_secret_key_checks(),
        *_credential_key_checks(),
        *_site_url_checks(),
        *_email_checks(),
        *_broker_checks(),
        *_metrics_token_checks(),
    ]


def register_all() -> None:
    """Called from PortalConfig.ready()."""
    register(front_end_packages, Tags.staticfiles)
    register(kill_switch_cache, "steward")
    register(production_settings, "steward", deploy=True)
