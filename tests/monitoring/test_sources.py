"""Connecting metric sources: who may, what each kind needs, tokens, credentials, testing."""

import hashlib

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection

from monitoring.models import MetricSample, MetricSource
from monitoring.services.sources import (
    source_create,
    source_for_token,
    source_rotate_token,
    source_test,
    source_update,
)
from portal.crypto import CredentialsUnreadable, decrypt, encrypt
from tests.factories import DeploymentFactory
from tests.monitoring.servers import TestServer

pytestmark = pytest.mark.django_db

SECRET = "tok-3f9a7c1e-do-not-leak"


@pytest.fixture
def deployment(retail):
    return DeploymentFactory(use_case__business_unit=retail)


@pytest.fixture
def server(settings):
    settings.MONITORING_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    with TestServer() as running:
        yield running


def _json_source(actor, deployment, url="http://metrics.example.com/stats", config=None, **extra):
    source, _ = source_create(
        actor=actor,
        deployment=deployment,
        name="Stats endpoint",
        kind="http_json",
        url=url,
        config=config or {"metrics": {"error_rate": "errors.rate"}},
        **extra,
    )
    return source


# Who may ------------------------------------------------------------------------------------
@pytest.mark.parametrize("persona", ["product_owner", "risk_officer", "admin"])
def test_editors_of_the_use_case_connect_sources(personas, persona, deployment):
    source = _json_source(personas[persona], deployment)
    assert source.created_by == personas[persona]


@pytest.mark.parametrize("persona", ["outsider", "auditor", "leadership"])
def test_others_cannot_connect_sources(personas, persona, deployment):
    with pytest.raises(PermissionDenied):
        _json_source(personas[persona], deployment)
    assert not MetricSource.objects.exists()


@pytest.mark.parametrize("persona", ["outsider", "auditor", "leadership"])
def test_others_cannot_change_or_test_a_source(personas, persona, product_owner, deployment):
    source = _json_source(product_owner, deployment)
    with pytest.raises(PermissionDenied):
        source_update(actor=personas[persona], source=source, name="Mine now")
    with pytest.raises(PermissionDenied):
        source_test(actor=personas[persona], source=source)


# What each kind needs -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "url", "config", "field", "message"),
    [
        ("prometheus", "", {"queries": {"error_rate": "x"}}, "url", "Give the URL"),
        ("prometheus", "http://prom:9090", {}, "config", '"queries"'),
        (
            "prometheus",
            "http://prom:9090",
            {"queries": {"Error Rate": "x"}},
            "config",
            "lower-case",
        ),
        ("prometheus", "http://prom:9090", {"queries": {"e": " "}}, "config", "empty"),
        (
            "prometheus",
            "http://prom:9090",
            {"queries": {"e": "up"}, "step_seconds": 0},
            "config",
            "step_seconds",
        ),
        ("http_json", "http://m/x", {"metrics": {"e": "a..b"}}, "config", "empty step"),
        ("http_json", "http://m/x", {"metrics": {"e": "a"}, "colour": 1}, "config", "colour"),
        ("http_json", "ftp://m/x", {"metrics": {"e": "a"}}, "url", "http://"),
        ("http_json", "http://m:99999/x", {"metrics": {"e": "a"}}, "url", "valid URL"),
        ("http_json", "http://10.0.0.5/x", {"metrics": {"e": "a"}}, "url", "private address"),
        ("mlflow", "http://mlflow:5000", {"metrics": ["loss"]}, "config", "run_id"),
        ("mlflow", "http://mlflow:5000", {"run_id": "abc", "metrics": []}, "config", "metrics"),
        ("push", "http://m/x", {}, "url", "no URL"),
    ],
)
def test_each_kind_checks_its_url_and_config(
    product_owner, deployment, kind, url, config, field, message
):
    with pytest.raises(ValidationError) as invalid:
        source_create(
            actor=product_owner, deployment=deployment, name="S", kind=kind, url=url, config=config
        )
    assert field in invalid.value.message_dict
    assert message in " ".join(invalid.value.message_dict[field])


@pytest.mark.parametrize(
    "url",
    [
        "http://prometheus:9090",
        "https://prom.monitoring.svc.cluster.local/",
        "http://[2606:4700::1111]:9090",
    ],
)
def test_short_cluster_names_and_public_addresses_are_accepted(product_owner, deployment, url):
    source, _ = source_create(
        actor=product_owner,
        deployment=deployment,
        name="Prometheus",
        kind="prometheus",
        url=url,
        config={"queries": {"error_rate": "sum(rate(errors[5m]))"}, "step_seconds": 60},
    )
    assert source.url == url


def test_an_interval_under_a_minute_is_refused(product_owner, deployment):
    with pytest.raises(ValidationError) as invalid:
        _json_source(product_owner, deployment, interval_seconds=10)
    assert "interval_seconds" in invalid.value.message_dict


@pytest.mark.parametrize(
    "credentials",
    [
        {"password": "x"},
        {"bearer_token": "a\r\nX-Evil: 1"},
        {"headers": {"Bad Header": "x"}},
        {"bearer_token": "x", "username": "y"},
        "token",
    ],
)
def test_malformed_credentials_are_refused(product_owner, deployment, credentials):
    with pytest.raises(ValidationError) as invalid:
        _json_source(product_owner, deployment, credentials=credentials)
    assert "credentials" in invalid.value.message_dict


# Push tokens --------------------------------------------------------------------------------
def test_a_push_source_gets_a_token_once_and_stores_only_its_hash(product_owner, deployment):
    source, token = source_create(
        actor=product_owner, deployment=deployment, name="Pushed", kind="push"
    )

    assert token.startswith("stw_") and len(token) > 40
    source.refresh_from_db()
    assert source.token_prefix == token[:8]
    assert source.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(MetricSource.objects.filter(pk=source.pk).values().get())
    assert source_for_token(token) == source


def test_a_token_finds_nothing_once_rotated_or_disabled(product_owner, deployment):
    source, old = source_create(
        actor=product_owner, deployment=deployment, name="Pushed", kind="push"
    )
    new = source_rotate_token(actor=product_owner, source=source)

    assert source_for_token(old) is None
    assert source_for_token(new) == source
    source_update(actor=product_owner, source=source, enabled=False)
    assert source_for_token(new) is None
    assert source_for_token("stw_made-up") is None
    assert source_for_token("") is None


def test_a_pulled_source_has_no_token(product_owner, deployment):
    source = _json_source(product_owner, deployment)
    with pytest.raises(ValidationError):
        source_rotate_token(actor=product_owner, source=source)


# Credentials --------------------------------------------------------------------------------
def test_credentials_are_encrypted_at_rest_and_never_in_history_or_repr(product_owner, deployment):
    source = _json_source(product_owner, deployment, credentials={"bearer_token": SECRET})

    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM monitoring_metricsource WHERE id = %s", [source.pk])
        row = cursor.fetchone()
        cursor.execute("SELECT * FROM monitoring_historicalmetricsource WHERE id = %s", [source.pk])
        history = cursor.fetchall()
    assert SECRET not in repr(row)
    assert history and SECRET not in repr(history)
    assert SECRET not in repr(source) + str(source) + repr(source.__dict__.get("config"))
    assert source.has_credentials
    assert decrypt(source.credentials_encrypted) == {"bearer_token": SECRET}


def test_credentials_are_kept_replaced_or_cleared(product_owner, deployment):
    source = _json_source(product_owner, deployment, credentials={"bearer_token": SECRET})

    source = source_update(actor=product_owner, source=source, name="Renamed")
    assert decrypt(source.credentials_encrypted) == {"bearer_token": SECRET}

    source = source_update(
        actor=product_owner, source=source, credentials={"username": "u", "password": "p"}
    )
    assert decrypt(source.credentials_encrypted) == {"username": "u", "password": "p"}
    assert source.history.first().history_change_reason == "Credentials replaced"

    source = source_update(actor=product_owner, source=source, credentials={})
    assert not source.has_credentials
    assert source.history.first().history_change_reason == "Credentials removed"


def test_credentials_need_the_key_they_were_encrypted_with(settings):
    token = encrypt({"bearer_token": SECRET})
    assert SECRET not in token

    settings.SECRET_KEY = "another secret key"
    with pytest.raises(CredentialsUnreadable, match="cannot be decrypted"):
        decrypt(token)


def test_credential_keys_rotate_newest_first(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.MONITORING_CREDENTIAL_KEYS = [old]
    token = encrypt({"bearer_token": SECRET})

    settings.MONITORING_CREDENTIAL_KEYS = [new, old]
    assert decrypt(token) == {"bearer_token": SECRET}
    settings.MONITORING_CREDENTIAL_KEYS = [new]
    with pytest.raises(CredentialsUnreadable):
        decrypt(token)


# History ------------------------------------------------------------------------------------
def test_changes_are_recorded_with_who_and_why(product_owner, risk_officer, deployment):
    source = _json_source(product_owner, deployment)
    source_update(actor=risk_officer, source=source, interval_seconds=300, enabled=False)

    versions = list(source.history.order_by("history_id"))
    assert [v.history_change_reason for v in versions] == [
        "Source 'Stats endpoint' connected",
        "Changed interval_seconds, enabled",
    ]
    assert versions[1].history_user == risk_officer


def test_an_update_with_nothing_new_writes_no_version(product_owner, deployment):
    source = _json_source(product_owner, deployment)
    source_update(actor=product_owner, source=source, name="Stats endpoint", credentials=None)
    assert source.history.count() == 1


def test_the_kind_cannot_change(product_owner, deployment):
    source = _json_source(product_owner, deployment)
    with pytest.raises(ValidationError) as invalid:
        source_update(actor=product_owner, source=source, kind="push")
    assert "kind" in invalid.value.message_dict


# Test connection ----------------------------------------------------------------------------
@pytest.mark.slow
def test_testing_a_source_reads_it_with_its_credentials_and_writes_nothing(
    product_owner, deployment, server
):
    server.answer("/stats", json={"errors": {"rate": 0.031}})
    source = _json_source(
        product_owner, deployment, url=server.url("/stats"), credentials={"bearer_token": SECRET}
    )
    history_before = source.history.count()

    result = source_test(actor=product_owner, source=source)

    assert result.ok, result.error
    assert [(s.metric, s.value) for s in result.samples] == [("error_rate", 0.031)]
    assert server.requests[0].headers["authorization"] == f"Bearer {SECRET}"
    assert SECRET not in repr(result) + repr(result.as_dict())
    assert not MetricSample.objects.exists()
    source.refresh_from_db()
    assert source.last_attempt_at is None and source.last_success_at is None
    assert source.history.count() == history_before


@pytest.mark.slow
def test_testing_a_source_shows_why_it_fails(product_owner, deployment, server):
    server.answer("/stats", json={"errors": {}})
    source = _json_source(product_owner, deployment, url=server.url("/stats"))

    result = source_test(actor=product_owner, source=source)

    assert not result.ok
    assert result.error == "nothing at 'errors.rate' in the answer"


def test_testing_a_source_on_a_private_address_shows_the_refusal(product_owner, deployment):
    source = _json_source(product_owner, deployment, url="http://localhost/stats")
    result = source_test(actor=product_owner, source=source)
    assert not result.ok
    assert result.error.startswith("refused: localhost resolves to")


@pytest.mark.slow
def test_testing_an_unsaved_source_works_for_the_form(product_owner, deployment, server):
    server.answer(
        "/stats",
        json={
            "rows": [
                {"f": "age", "psi": 0.1, "t": 1_700_000_000},
                {"f": "income", "psi": 0.4, "t": 1_700_000_000},
            ]
        },
    )
    unsaved = MetricSource(
        deployment=deployment,
        name="Draft",
        kind="http_json",
        url=server.url("/stats"),
        config={"items": "rows", "metrics": {"drift.psi": "psi"}, "feature": "f", "timestamp": "t"},
    )

    result = source_test(actor=product_owner, source=unsaved)

    assert result.ok, result.error
    assert [(s.feature, s.value, int(s.at.timestamp())) for s in result.samples] == [
        ("age", 0.1, 1_700_000_000),
        ("income", 0.4, 1_700_000_000),
    ]
    assert not MetricSource.objects.exists()


# Credentials follow the address they were given for ----------------------------------------
def test_moving_a_source_with_credentials_to_another_host_needs_them_again(
    product_owner, deployment
):
    source = _json_source(product_owner, deployment, credentials={"bearer_token": SECRET})

    for url in ("http://collector.attacker.net/stats", "https://metrics.example.com/stats"):
        with pytest.raises(ValidationError) as invalid:
            source_update(actor=product_owner, source=source, url=url)
        host = url.split("/")[2]
        assert invalid.value.message_dict == {
            "credentials": [
                f"The address changed: enter the credentials again for {host} (or clear them)."
            ]
        }
    source.refresh_from_db()
    assert source.url == "http://metrics.example.com/stats"
    assert decrypt(source.credentials_encrypted) == {"bearer_token": SECRET}


def test_a_source_moves_with_new_or_cleared_credentials_or_within_its_origin(
    product_owner, deployment
):
    source = _json_source(product_owner, deployment, credentials={"bearer_token": SECRET})

    source = source_update(actor=product_owner, source=source, url="http://metrics.example.com/v2")
    assert decrypt(source.credentials_encrypted) == {"bearer_token": SECRET}
    source = source_update(
        actor=product_owner, source=source, url="http://metrics.example.com:80/v3"
    )
    assert decrypt(source.credentials_encrypted) == {"bearer_token": SECRET}
    source = source_update(
        actor=product_owner,
        source=source,
        url="http://other.example.com/stats",
        credentials={"bearer_token": "new-one"},
    )
    assert decrypt(source.credentials_encrypted) == {"bearer_token": "new-one"}
    source = source_update(
        actor=product_owner, source=source, url="http://third.example.com/", credentials={}
    )
    assert not source.has_credentials
    source = source_update(actor=product_owner, source=source, url="http://fourth.example.com/")
    assert source.url == "http://fourth.example.com/"


@pytest.mark.slow
def test_testing_a_source_moved_in_memory_sends_no_stored_credentials(
    product_owner, deployment, server
):
    server.answer("/stats", json={"errors": {"rate": 0.031}})
    source = _json_source(product_owner, deployment, credentials={"bearer_token": SECRET})
    source.url = server.url("/stats")  # as a bound edit form leaves its instance

    result = source_test(actor=product_owner, source=source)

    assert not result.ok
    assert result.error == (
        "The address changed: save the source with credentials for 127.0.0.1 before testing it."
    )
    assert server.requests == []


# URLs -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    [
        "https://reader:pw-hunter2@metrics.example.com/stats",
        "https://reader@metrics.example.com/stats",
        "http://:pw@metrics.example.com/",
    ],
)
def test_a_url_with_a_user_or_password_is_refused(product_owner, deployment, url):
    with pytest.raises(ValidationError) as invalid:
        _json_source(product_owner, deployment, url=url)
    assert invalid.value.message_dict["url"] == [
        "Put credentials in the credentials fields, not the URL."
    ]
    assert "hunter2" not in str(invalid.value.message_dict)


def test_a_numeric_loopback_address_is_refused_when_saved(product_owner, deployment):
    with pytest.raises(ValidationError) as invalid:
        _json_source(product_owner, deployment, url="http://2130706433/stats")
    assert invalid.value.message_dict["url"] == [
        "refused: 2130706433 (127.0.0.1) is a loopback address"
    ]


def test_items_need_a_timestamp_or_a_feature_to_tell_them_apart(product_owner, deployment):
    with pytest.raises(ValidationError) as invalid:
        _json_source(
            product_owner,
            deployment,
            config={"items": "rows", "metrics": {"error_rate": "rate"}},
        )
    assert invalid.value.message_dict["config"] == [
        'With "items", give "timestamp" or "feature" (or both) to tell them apart.'
    ]
    for extra in ({"timestamp": "t"}, {"feature": "f"}):
        _json_source(
            product_owner,
            deployment,
            config={"items": "rows", "metrics": {"error_rate": "rate"}, **extra},
        )
