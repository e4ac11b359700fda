"""The nightly gate check: every production use case is asked the go-live gate again; what now
fails is flagged once per cause, and resolved by itself when it passes again."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from incidents.models import Runbook
from monitoring.models import Flag, FlagStatus
from monitoring.services.gate_watch import gate_watch
from monitoring.tasks import watch_live_gate
from registry.gate import check_go_live
from registry.models import UseCase
from tests.factories import UseCaseFactory, ready_for_production

pytestmark = pytest.mark.django_db


@pytest.fixture
def live(retail, product_owner, admin_user):
    use_case = UseCaseFactory(business_unit=retail, owner=product_owner)
    ready_for_production(use_case, admin_user)
    UseCase.objects.filter(pk=use_case.pk).update(lifecycle="production")
    use_case.refresh_from_db()
    assert check_go_live(use_case).passed, check_go_live(use_case).as_dict()["reasons"]
    return use_case


def _expire_runbook(use_case):
    Runbook.objects.filter(use_case=use_case).update(
        reviewed_at=timezone.now() - timedelta(days=800)
    )


def test_a_passing_live_use_case_raises_nothing(live):
    report = gate_watch()
    assert report.checked == 1 and report.raised == []
    assert not Flag.objects.exists()


def test_an_expired_runbook_is_flagged_once(live, mailoutbox, django_capture_on_commit_callbacks):
    _expire_runbook(live)
    with django_capture_on_commit_callbacks(execute=True):
        first = gate_watch()
    [flag] = Flag.objects.all()
    assert first.raised == [flag.reference]
    assert flag.cause == "gate:runbook" and flag.is_open
    assert flag.reason.startswith("Live but failing the go-live gate: A current runbook")
    assert live.owner.email in {m.to[0] for m in mailoutbox}
    assert UseCase.objects.get(pk=live.pk).needs_reassessment

    second = gate_watch()
    assert second.raised == [] and second.still_open == 1
    assert Flag.objects.count() == 1


def test_each_failing_check_is_its_own_cause(live):
    _expire_runbook(live)
    live.model_approvals.all().delete()  # the model's approval for the use case lapsed
    gate_watch()
    causes = set(Flag.objects.values_list("cause", flat=True))
    assert {"gate:runbook", "gate:models"} <= causes
    gate_watch()
    assert Flag.objects.count() == len(causes)


def test_the_flag_resolves_itself_when_the_gate_passes_again(live):
    _expire_runbook(live)
    gate_watch()
    Runbook.objects.filter(use_case=live).update(reviewed_at=timezone.now())
    report = gate_watch()
    flag = Flag.objects.get()
    assert report.resolved == [flag.reference]
    assert flag.status == FlagStatus.RESOLVED and flag.resolved_by is None
    assert "passes again" in flag.resolution
    # Failing again later raises a new flag.
    _expire_runbook(live)
    assert len(gate_watch().raised) == 1
    assert Flag.objects.filter(status=FlagStatus.OPEN).count() == 1


def test_only_production_is_checked_and_a_kill_switch_is_no_lapse(live, retail, product_owner):
    UseCaseFactory(business_unit=retail, owner=product_owner, lifecycle="pilot")
    UseCase.objects.filter(pk=live.pk).update(kill_switch_engaged=True)
    report = gate_watch()
    assert report.checked == 1
    assert not Flag.objects.exists()


def test_the_beat_task_runs_the_check(live):
    _expire_runbook(live)
    assert len(watch_live_gate()["raised"]) == 1


def test_the_dashboard_lists_live_but_failing(live, client, risk_officer, outsider):
    _expire_runbook(live)
    gate_watch()
    flag = Flag.objects.get()
    client.force_login(risk_officer)
    page = client.get(reverse("dashboard")).content.decode()
    assert "Live but failing the gate" in page
    assert flag.reference in page and live.reference in page
    client.force_login(outsider)
    assert flag.reference not in client.get(reverse("dashboard")).content.decode()
