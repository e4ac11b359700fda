"""Start-up and deploy checks (portal/checks.py): collectstatic refuses to run without the
front-end packages, and `manage.py check --deploy` names each missing or weak production
setting before the first start.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.checks import run_checks

from portal.checks import FRONT_END_FILES

ROOT = Path(__file__).resolve().parents[2]

# Settings a production deployment is expected to pass with (each test breaks one).
GOOD = {
    "DEBUG": False,
    "SECURE": True,
    "SECRET_KEY": "k" * 20 + "an-actual-random-looking-secret-key-of-length-60-chars",
    "MONITORING_CREDENTIAL_KEYS": [Fernet.generate_key().decode()],
    "SITE_URL": "https://steward.example.com",
    "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
    "EMAIL_HOST": "smtp.example.com",
    "CELERY_BROKER_URL": "redis://redis.example.com:6379/0",
    "METRICS_TOKEN": "",
}


@pytest.fixture
def production(settings):
    for name, value in GOOD.items():
        setattr(settings, name, value)
    return settings


def deploy_findings() -> dict[str, str]:
    """The Steward deploy checks' findings, by id: message and hint."""
    return {
        message.id: f"{message.msg} {message.hint}"
        for message in run_checks(include_deployment_checks=True, tags=["steward"])
    }


def test_a_well_configured_production_passes_every_steward_check(production):
    assert deploy_findings() == {}


@pytest.mark.parametrize(
    ("override", "expected_id", "says"),
    [
        ({"SECRET_KEY": "test-only-secret"}, "steward.E002", "published"),
        ({"SECRET_KEY": "insecure-dev-key-only-for-the-embedded-default"}, "steward.E002", ""),
        ({"SECRET_KEY": "django-insecure-" + "x" * 50}, "steward.E002", ""),
        ({"SECRET_KEY": "too-short-but-mine"}, "steward.W001", "at least 50"),
        ({"MONITORING_CREDENTIAL_KEYS": []}, "steward.W002", "derived from SECRET_KEY"),
        ({"MONITORING_CREDENTIAL_KEYS": ["not-a-key"]}, "steward.E003", "not a Fernet key"),
        ({"SITE_URL": "http://127.0.0.1:8000"}, "steward.E004", "links in emails"),
        ({"SITE_URL": "https://localhost"}, "steward.E004", "https://steward.example.com"),
        ({"SITE_URL": "steward.example.com"}, "steward.E004", ""),
        ({"SITE_URL": "http://steward.example.com"}, "steward.W004", "https://"),
        (
            {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"},
            "steward.W005",
            "invitations",
        ),
        (
            {"EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend"},
            "steward.W005",
            "EMAIL_HOST",
        ),
        ({"EMAIL_HOST": "localhost"}, "steward.W006", "localhost:"),
        ({"CELERY_BROKER_URL": "memory://"}, "steward.W007", "redis://"),
        ({"CELERY_BROKER_URL": "filesystem://"}, "steward.W007", "workers"),
        ({"METRICS_TOKEN": "short"}, "steward.W008", "at least 32"),
    ],
)
def test_each_weak_production_setting_is_named_with_a_hint(production, override, expected_id, says):
    for name, value in override.items():
        setattr(production, name, value)
    findings = deploy_findings()
    assert list(findings) == [expected_id]
    assert says in findings[expected_id]


def test_plain_http_site_url_is_fine_when_the_portal_is_not_served_over_https(production):
    production.SECURE = False
    production.SITE_URL = "http://steward.intranet.example"
    assert deploy_findings() == {}


def test_console_email_and_embedded_broker_are_fine_in_development(production):
    production.DEBUG = True
    production.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    production.CELERY_BROKER_URL = "filesystem://"
    assert deploy_findings() == {}


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    """manage.py in a fresh process with only these Steward settings (none from the caller)."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SECRET_KEY", "SITE_URL", "EMAIL_", "CELERY_", "MONITORING_"))
        and k not in {"DEBUG", "SECURE", "METRICS_TOKEN", "DATABASE_URL", "NODE_MODULES"}
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "portal.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_fails_on_the_embedded_defaults_naming_what_to_set(tmp_path):
    done = _manage("check", "--deploy", DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    assert done.returncode != 0
    assert "steward.E001" in done.stderr  # no SECRET_KEY
    assert "steward.E004" in done.stderr  # SITE_URL is 127.0.0.1
    assert "steward.W002" in done.stderr  # no MONITORING_CREDENTIAL_KEYS


def test_collectstatic_fails_without_the_front_end_packages(tmp_path):
    empty = tmp_path / "node_modules"
    empty.mkdir()
    done = _manage(
        "collectstatic",
        "--noinput",
        SECRET_KEY="x" * 60,
        NODE_MODULES=str(empty),
        STATIC_ROOT=str(tmp_path / "static"),
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
    )
    assert done.returncode != 0
    assert "steward.E010" in done.stderr
    assert "npm ci" in done.stderr and "make setup" in done.stderr
    assert not (tmp_path / "static").exists()


def test_every_front_end_file_a_template_loads_is_checked():
    loaded = {
        match
        for template in ROOT.glob("**/templates/**/*.html")
        if "node_modules" not in template.parts and ".venv" not in template.parts
        for match in re.findall(r"""\{%\s*static\s+['"](vendor/[^'"]+)['"]""", template.read_text())
    }
    assert loaded and loaded <= set(FRONT_END_FILES)
