"""Rotating MONITORING_CREDENTIAL_KEYS (docs/operations.md#rotating-keys): put a new key first,
run `manage.py reencrypt_credentials`, drop the old key, and every metric source's credentials
and webhook endpoint's secret still work.
"""

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command

from incidents.services.webhooks import endpoint_secret, webhook_endpoint_create
from monitoring.services.sources import source_create
from portal.crypto import CredentialsUnreadable, decrypt
from tests.factories import DeploymentFactory

pytestmark = pytest.mark.django_db

BEARER = {"bearer_token": "tok-rotate-me"}


def _source(actor, unit):
    source, _ = source_create(
        actor=actor,
        deployment=DeploymentFactory(use_case__business_unit=unit),
        name="Stats",
        kind="http_json",
        url="http://metrics.example.com/stats",
        config={"metrics": {"error_rate": "errors.rate"}},
        credentials=BEARER,
    )
    return source


def test_after_reencrypting_the_old_key_can_go(settings, admin_user, product_owner, retail, capsys):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.MONITORING_CREDENTIAL_KEYS = [old]
    source = _source(product_owner, retail)
    endpoint, secret = webhook_endpoint_create(
        actor=admin_user, name="On-call", url="https://hooks.example.com/steward"
    )

    settings.MONITORING_CREDENTIAL_KEYS = [new, old]
    call_command("reencrypt_credentials")
    out = capsys.readouterr().out
    assert "monitoring.MetricSource.credentials_encrypted: 1 re-encrypted, 0 unreadable" in out
    assert "incidents.WebhookEndpoint.secret_encrypted: 1 re-encrypted, 0 unreadable" in out

    settings.MONITORING_CREDENTIAL_KEYS = [new]
    source.refresh_from_db()
    endpoint.refresh_from_db()
    assert decrypt(source.credentials_encrypted) == BEARER
    assert endpoint_secret(endpoint) == secret
    assert source.history.count() == 1  # the rotation is no change to the record


def test_without_reencrypting_dropping_the_old_key_loses_the_secrets(
    settings, product_owner, retail
):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.MONITORING_CREDENTIAL_KEYS = [old]
    source = _source(product_owner, retail)

    settings.MONITORING_CREDENTIAL_KEYS = [new]
    with pytest.raises(CredentialsUnreadable):
        decrypt(source.credentials_encrypted)


def test_a_secret_no_key_opens_is_reported_and_left_alone(settings, product_owner, retail):
    lost, current = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.MONITORING_CREDENTIAL_KEYS = [lost]
    source = _source(product_owner, retail)
    before = source.credentials_encrypted

    settings.MONITORING_CREDENTIAL_KEYS = [current]
    with pytest.raises(CommandError, match="1 stored secrets cannot be decrypted"):
        call_command("reencrypt_credentials")
    source.refresh_from_db()
    assert source.credentials_encrypted == before
