"""Regulatory change: a template's new version lists the assessments signed off on older versions,
and a risk officer flags their use cases for re-assessment in one action."""

import copy

import pytest
from django.urls import reverse

from assessments.models import AssessmentTemplate
from assessments.services.templates import template_import
from monitoring.models import Flag
from monitoring.services.template_changes import flag_superseded, superseded_sign_offs
from registry.models import UseCase
from tests.factories import ProductionUseCaseFactory, signed_off

pytestmark = pytest.mark.django_db


@pytest.fixture
def screening_v2(admin_user):
    """A new version of the shipped EU AI Act screening (a built-in template)."""
    current = AssessmentTemplate.objects.filter(kind="screening", active=True).first()
    definition = copy.deepcopy(current.definition)
    definition["version"] = current.version + 1
    definition["title"] = current.title + " (updated guidelines)"
    template, _ = template_import(actor=admin_user, definition=definition, builtin=True)
    return template


@pytest.fixture
def signed_on_v1(retail, product_owner):
    use_case = ProductionUseCaseFactory(business_unit=retail, owner=product_owner)
    return signed_off(use_case, "screening", result_value="minimal")


def test_a_new_version_lists_the_sign_offs_on_older_ones(signed_on_v1, risk_officer):
    old_template = signed_on_v1.template
    current = AssessmentTemplate.objects.filter(key=old_template.key, active=True).get()
    assert superseded_sign_offs(risk_officer, current) == []
    definition = copy.deepcopy(old_template.definition)
    definition["version"] = old_template.version + 1
    new, _ = template_import(actor=None, definition=definition, builtin=True)
    [row] = superseded_sign_offs(risk_officer, new)
    assert row == signed_on_v1 and row.can_flag and not row.already_flagged


def test_flagging_on_request_flags_each_use_case_once(
    signed_on_v1, screening_v2, risk_officer, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        [flag] = flag_superseded(actor=risk_officer, template=screening_v2, note="New guidance")
    assert flag.cause == f"template_change:{screening_v2.key}-v{screening_v2.version}"
    assert signed_on_v1.reference in flag.reason and "New guidance" in flag.reason
    assert flag.history.latest().history_user == risk_officer
    assert UseCase.objects.get(pk=signed_on_v1.use_case_id).needs_reassessment
    assert signed_on_v1.use_case.owner.email in {m.to[0] for m in mailoutbox}
    assert flag_superseded(actor=risk_officer, template=screening_v2) == []
    assert Flag.objects.count() == 1


def test_a_use_case_signed_off_on_the_new_version_is_not_listed(
    signed_on_v1, screening_v2, risk_officer
):
    again = signed_off(signed_on_v1.use_case, "screening")
    again.template = screening_v2
    again.save(update_fields=["template"])
    assert superseded_sign_offs(risk_officer, screening_v2) == []


def test_nothing_until_asked(signed_on_v1, screening_v2):
    assert not Flag.objects.exists()


def test_another_units_risk_officer_sees_nothing(signed_on_v1, screening_v2, personas):
    outsider_officer = personas["outsider"]
    assert superseded_sign_offs(outsider_officer, screening_v2) == []


PERSONAS = ["admin", "risk_officer", "dpo", "product_owner", "leadership", "auditor", "outsider"]
MAY_VIEW = {"admin", "risk_officer", "auditor"}
MAY_FLAG = {"admin", "risk_officer"}


@pytest.mark.parametrize("persona", PERSONAS)
def test_who_may_see_and_flag_template_changes(
    persona, personas, client, signed_on_v1, screening_v2
):
    client.force_login(personas[persona])
    page = client.get(reverse("monitoring:template-change-detail", args=[screening_v2.pk]))
    index = client.get(reverse("monitoring:template-change-list"))
    api = client.get(f"/api/v1/template-changes/{screening_v2.pk}/")
    views = persona in MAY_VIEW
    assert page.status_code == index.status_code == api.status_code == (200 if views else 403)
    if views:
        assert signed_on_v1.reference in page.content.decode()
    posted = client.post(f"/api/v1/template-changes/{screening_v2.pk}/flag/", {})
    assert posted.status_code == (200 if persona in MAY_FLAG else 403)
    assert Flag.objects.exists() == (persona in MAY_FLAG)
    if persona in MAY_FLAG:
        assert posted.json()[0]["cause"].startswith("template_change:")


def test_the_page_flags_in_one_action(client, risk_officer, signed_on_v1, screening_v2):
    client.force_login(risk_officer)
    url = reverse("monitoring:template-change-detail", args=[screening_v2.pk])
    assert "Flag 1 use case" in client.get(url).content.decode()
    response = client.post(url, {"note": "Guidelines on Art. 6"}, follow=True)
    assert "1 use case flagged" in response.content.decode()
    flag = Flag.objects.get()
    assert "Guidelines on Art. 6" in flag.reason
    assert "Flagged" in client.get(url).content.decode()


def test_an_unknown_template_is_404(client, risk_officer):
    client.force_login(risk_officer)
    assert client.get("/api/v1/template-changes/999999/").status_code == 404
    assert client.get("/monitoring/template-changes/999999/").status_code == 404
