"""The demo makes a superuser and people with a published password: never by accident on a
database real people use."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from registry.models import UseCase

User = get_user_model()


@pytest.mark.django_db
def test_seed_demo_refuses_with_debug_off(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG off.*--allow-production"):
        call_command("seed_demo", verbosity=0)
    assert not User.objects.filter(username="admin").exists()
    assert not UseCase.objects.exists()


@pytest.mark.django_db
def test_seed_demo_runs_with_debug_off_when_told_so(settings):
    settings.DEBUG = False
    call_command("seed_demo", allow_production=True, verbosity=0)
    assert User.objects.filter(username="admin").exists()


@pytest.mark.django_db
def test_seed_demo_runs_in_development(settings):
    settings.DEBUG = True
    out = io.StringIO()
    call_command("seed_demo", verbosity=0, stdout=out)
    assert UseCase.objects.exists()
    # It says what it made and how to sign in (the password is the demo's, published).
    assert "Demo data created." in out.getvalue()
    assert "steward-demo" in out.getvalue() and "auditor" in out.getvalue()
