"""Runbooks: one per use case, every change a version with history, a save unchanged confirms
it, and the go-live gate's question 'is it current?'."""

from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from incidents.models import Runbook
from incidents.services.runbooks import runbook_is_current, runbook_save
from tests.incidents.incident_helpers import RUNBOOK

pytestmark = pytest.mark.django_db


def test_writing_a_runbook_makes_version_one_reviewed_now(use_case, product_owner):
    runbook = runbook_save(actor=product_owner, use_case=use_case, data=RUNBOOK)
    assert (runbook.version, runbook.updated_by) == (1, product_owner)
    assert abs(runbook.reviewed_at - timezone.now()) < timedelta(seconds=5)
    assert runbook.contacts[1] == {
        "name": "On-call SRE",
        "role": "Platform",
        "email": "",
        "phone": "+44 20 7946 0000",
    }
    latest = runbook.history.latest()
    assert (latest.history_user, latest.history_change_reason) == (
        product_owner,
        "Runbook written (v1)",
    )


def test_a_change_is_a_new_version_and_an_unchanged_save_confirms_it(use_case, product_owner, dpo):
    runbook = runbook_save(actor=product_owner, use_case=use_case, data=RUNBOOK)
    Runbook.objects.filter(pk=runbook.pk).update(reviewed_at=timezone.now() - timedelta(days=200))
    runbook = runbook_save(
        actor=dpo, use_case=use_case, data={"communicate_dpo": "Tell the DPO at once."}
    )
    assert (runbook.version, runbook.updated_by) == (2, dpo)
    assert runbook.disable_how == RUNBOOK["disable_how"]  # fields not given are kept
    assert runbook.history.latest().history_change_reason == (
        "Runbook v2: changed who tells the data protection officer"
    )
    runbook = runbook_save(actor=product_owner, use_case=use_case, data={})
    assert runbook.version == 2
    assert runbook.history.latest().history_change_reason == "Runbook v2 confirmed as still right"
    assert Runbook.objects.filter(use_case=use_case).count() == 1
    assert runbook.history.count() == 3


def test_a_runbook_needs_its_four_answers_and_a_contact_to_reach(use_case, product_owner):
    with pytest.raises(ValidationError) as err:
        runbook_save(actor=product_owner, use_case=use_case, data={**RUNBOOK, "fallback": " "})
    assert set(err.value.message_dict) == {"fallback"}
    with pytest.raises(ValidationError) as err:
        runbook_save(actor=product_owner, use_case=use_case, data={**RUNBOOK, "contacts": []})
    assert "at least one contact" in err.value.message_dict["contacts"][0]
    bad = [
        {"name": "", "email": "ops@example.com"},
        {"name": "Nobody", "role": "Ghost"},
        {"name": "Typo", "email": "not-an-address"},
        {"name": "Extra", "email": "x@example.com", "pager": "42"},
    ]
    with pytest.raises(ValidationError) as err:
        runbook_save(actor=product_owner, use_case=use_case, data={**RUNBOOK, "contacts": bad})
    messages = err.value.message_dict["contacts"]
    assert [m.split(":")[0] for m in messages] == [
        "Contact 1",
        "Contact 2",
        "Contact 3",
        "Contact 4",
    ]
    assert not Runbook.objects.exists()


def test_a_runbook_is_current_for_runbook_valid_months(use_case, product_owner, settings):
    settings.RUNBOOK_VALID_MONTHS = 12
    current, reason = runbook_is_current(use_case)
    assert not current and reason.startswith("No runbook yet")
    runbook = runbook_save(actor=product_owner, use_case=use_case, data=RUNBOOK)
    today = timezone.localdate()
    assert runbook_is_current(use_case, today)[0]
    due = timezone.localdate(runbook.review_due)
    assert due == timezone.localdate(runbook.reviewed_at + timedelta(days=360))
    assert runbook_is_current(use_case, due)[0]  # the last day it holds
    current, reason = runbook_is_current(use_case, due + timedelta(days=1))
    assert not current and "review it" in reason
    assert runbook_is_current(use_case, date.today(), runbook=runbook)[0]
