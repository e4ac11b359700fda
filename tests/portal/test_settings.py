"""Production settings are safe by default; the embedded default needs nothing installed."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.urls import reverse

from assessments.models import Assessment
from incidents.models import Incident, Runbook
from monitoring.models import BudgetAlert, Flag, MetricSample
from portal.models import Role
from registry import gate
from registry.models import (
    AIModel,
    BusinessUnit,
    Classification,
    DataSource,
    Deployment,
    Lifecycle,
    UseCase,
)

ROOT = Path(__file__).resolve().parents[2]
PROBE = (
    "import json, django; from django.conf import settings; django.setup(); "
    "print(json.dumps({k: getattr(settings, k) for k in ["
    "'DEBUG', 'SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE', 'SECURE_HSTS_SECONDS', "
    "'SECURE_SSL_REDIRECT', 'CELERY_TASK_ALWAYS_EAGER', 'CELERY_BROKER_URL', "
    "'EMAIL_BACKEND']} | {'ENGINE': settings.DATABASES['default']['ENGINE']}))"
)


def _settings_with(env: dict, probe: str = PROBE) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {
            "DEBUG",
            "SECURE",
            "DATABASE_URL",
            "CELERY_BROKER_URL",
            "CELERY_TASK_ALWAYS_EAGER",
            "SECRET_KEY",
            "SECURE_SSL_REDIRECT",
            "EMAIL_HOST",
            "SECURE_HSTS_SECONDS",
        }
    }
    clean.update(env, DJANGO_SETTINGS_MODULE="portal.settings")
    return subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=clean, capture_output=True, text=True
    )


def test_production_defaults_are_safe():
    result = _settings_with(
        {
            "SECRET_KEY": "a-real-secret",
            "DATABASE_URL": "postgres://steward@db:5432/steward",
            "CELERY_BROKER_URL": "redis://redis:6379/0",
        }
    )
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["DEBUG"] is False
    assert values["SESSION_COOKIE_SECURE"] and values["CSRF_COOKIE_SECURE"]
    assert values["SECURE_HSTS_SECONDS"] >= 31536000
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["CELERY_TASK_ALWAYS_EAGER"] is False
    assert values["ENGINE"] == "django.db.backends.postgresql"


def test_production_refuses_to_start_without_a_secret_key():
    result = _settings_with({}, probe="import portal.wsgi")
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_embedded_default_is_sqlite_with_tasks_in_process():
    values = json.loads(_settings_with({"DEBUG": "true"}).stdout)
    assert values["ENGINE"] == "django.db.backends.sqlite3"
    assert values["CELERY_TASK_ALWAYS_EAGER"] is True
    assert values["EMAIL_BACKEND"].endswith("console.EmailBackend")


def test_pages_send_a_strict_content_security_policy(client, product_owner):
    client.force_login(product_owner)
    response = client.get(reverse("registry:use-case-list"))
    policy = response["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";") if d.strip())
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert "unsafe-inline" not in policy and "http" not in policy
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_front_end_assets_are_served_from_this_origin(client, product_owner):
    client.force_login(product_owner)
    html = client.get(reverse("dashboard")).content.decode()
    for asset in [
        "vendor/bootstrap/css/bootstrap.min.css",
        "vendor/bootstrap/js/bootstrap.bundle.min.js",
        "vendor/htmx/htmx.min.js",
        "css/steward.css",
        "js/steward.js",
    ]:
        assert f"/static/{asset}" in html
        assert finders.find(asset), f"{asset} is not installed (run make setup)"
    assert "//cdn" not in html and "https://" not in html


def test_api_docs_load_only_local_assets(client, product_owner):
    client.force_login(product_owner)
    html = client.get(reverse("api-docs")).content.decode()
    assert "swagger-ui" in html
    assert "https://" not in html.replace("https://swagger.io", "")


@pytest.mark.django_db
def test_healthz_answers_without_signing_in(client):
    response = client.get(reverse("healthz"))
    assert response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_demo_data_is_a_believable_firm(demo_firm, capsys):
    # The demo as seed_demo made it (tests/demo.py); seeding again changes nothing.
    call_command("seed_demo", allow_production=True)  # safe to run twice
    out = capsys.readouterr().out
    assert "Demo data already present." in out
    assert "steward-demo" in out and "auditor" in out
    assert BusinessUnit.objects.count() == 3
    assert 24 <= UseCase.objects.count() <= 30
    assert set(UseCase.objects.values_list("lifecycle", flat=True)) == set(Lifecycle.values)
    assert set(DataSource.objects.values_list("classification", flat=True)) == set(
        Classification.values
    )

    for role in Role.values:
        assert Group.objects.get(name=role).user_set.exists(), role
    assert UseCase.objects.filter(needs_reassessment=True).exists()

    # One assessment in each state a demo visitor should see, with leadership's queue not empty.
    assert set(Assessment.objects.values_list("status", flat=True)) == {
        "draft",
        "in_review",
        "approved",
        "signed_off",
    }
    chatbot = UseCase.objects.get(title="Customer support chatbot")
    assert chatbot.risk_tier == "limited" and "Article 50(1)" in chatbot.risk_tier_basis

    # Models in every approval state; live deployments and a pilot's staging one.
    assert set(AIModel.objects.values_list("approval_status", flat=True)) == {
        "approved",
        "under_evaluation",
        "banned",
    }
    assert set(Deployment.objects.values_list("environment", flat=True)) == {
        "production",
        "staging",
    }
    # The chatbot sends chat transcripts (private VPC only) to an external API: a breach
    # the demo shows on its page.
    assert [b.data_source.name for b in gate.data_policy_breaches(chatbot)] == ["Chat transcripts"]

    # A month of metrics from every live deployment, the drift and error-rate rules'
    # flags open, and the chatbot's budget alerts sent.
    live = Deployment.objects.filter(active=True, environment="production")
    assert all(MetricSample.objects.filter(deployment=d).exists() for d in live)
    open_flags = Flag.objects.filter(status="open")
    assert set(open_flags.filter(rule__isnull=False).values_list("rule__builtin", flat=True)) == {
        "drift-psi",
        "error-rate",
    }
    # The material-change loop: the chatbot's widened purpose raised the tuned purpose rule's
    # flag (high, starting a draft), the only open flag that no metric rule raised.
    [material] = open_flags.filter(rule__isnull=True)
    assert material.cause == "material_change:purpose" and material.use_case == chatbot
    assert material.severity == "high" and material.reassessment is not None
    assert BudgetAlert.objects.filter(use_case=chatbot).exists()

    # Runbooks for the live use cases, and the drift flag's incident being worked.
    assert Runbook.objects.filter(use_case__lifecycle="production").count() >= 2
    assert Incident.objects.filter(flag__rule__builtin="drift-psi", status="triaged").exists()
