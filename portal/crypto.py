"""Encrypting metric-source credentials at rest.

Credentials (a bearer token, a user name and password, or extra headers) are stored as one
Fernet token over their JSON. The keys are ``settings.MONITORING_CREDENTIAL_KEYS`` (Fernet keys,
newest first): new secrets are encrypted with the first, and any of them decrypts, so a key is
rotated by putting the new one first and dropping the old one once ``reencrypt`` has run over
the stored rows (``manage.py reencrypt_credentials``, over the fields apps register with
``register_field``). With no keys configured, one key is derived from ``SECRET_KEY`` (HKDF-SHA256
with a fixed label), so changing SECRET_KEY makes stored credentials unreadable: set
MONITORING_CREDENTIAL_KEYS in production.
"""

import base64
import json

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

# Changing this label changes the derived key, and so loses every stored credential.
_DERIVATION_LABEL = b"steward.monitoring.credentials.v1"


class CredentialsUnreadable(Exception):
    """Stored credentials could not be decrypted with any configured key."""


def _derived_key() -> bytes:
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_DERIVATION_LABEL).derive(
        settings.SECRET_KEY.encode()
    )
    return base64.urlsafe_b64encode(raw)


def _fernet() -> MultiFernet:
    # Built on each call (cheap): tests and key rotation change the settings at run time.
    keys = [k.strip() for k in settings.MONITORING_CREDENTIAL_KEYS if k.strip()]
    try:
        fernets = [Fernet(key) for key in keys] or [Fernet(_derived_key())]
    except ValueError as exc:
        raise ImproperlyConfigured(
            "MONITORING_CREDENTIAL_KEYS must hold Fernet keys (32 url-safe base64 bytes, e.g. "
            "from cryptography.fernet.Fernet.generate_key())."
        ) from exc
    return MultiFernet(fernets)


def encrypt(data: dict) -> str:
    """The credentials as one token, encrypted with the newest key."""
    return _fernet().encrypt(json.dumps(data, sort_keys=True).encode()).decode()


def decrypt(token: str) -> dict:
    """The credentials a token holds; CredentialsUnreadable if no configured key opens it."""
    try:
        plain = _fernet().decrypt(token.encode())
    except InvalidToken:
        raise CredentialsUnreadable(
            "The stored credentials cannot be decrypted with the configured keys "
            "(was MONITORING_CREDENTIAL_KEYS or SECRET_KEY changed?). Enter them again."
        ) from None
    return json.loads(plain)


def reencrypt(token: str) -> str:
    """The same credentials under the newest key (for rotating keys out)."""
    try:
        return _fernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise CredentialsUnreadable(
            "The stored credentials cannot be decrypted with the configured keys."
        ) from None


# The fields holding tokens made by ``encrypt``, as apps register them at start-up.
_fields: list[tuple[type[models.Model], str]] = []


def register_field(model: type[models.Model], field: str) -> None:
    """Name a field that holds ``encrypt`` tokens, so ``reencrypt_all`` rotates it."""
    if (model, field) not in _fields:
        _fields.append((model, field))


def reencrypt_all() -> dict[str, dict[str, int]]:
    """Every registered field's tokens under the newest key; per field, how many were
    rotated and how many no configured key opens (those are left as they are).

    Each row is rewritten only if its token is still the one read (a secret re-entered
    meanwhile is already under the newest key). The fields are kept out of history, so this
    writes no version.
    """
    report = {}
    for model, field in _fields:
        rotated = unreadable = 0
        rows = model._default_manager.exclude(**{field: ""}).values_list("pk", field)
        for pk, token in rows.iterator():
            try:
                fresh = reencrypt(token)
            except CredentialsUnreadable:
                unreadable += 1
                continue
            rotated += model._default_manager.filter(pk=pk, **{field: token}).update(
                **{field: fresh}
            )
        report[f"{model._meta.label}.{field}"] = {"rotated": rotated, "unreadable": unreadable}
    return report
