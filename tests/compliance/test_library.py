"""Controls and evidence: one file attached once carries through the crosswalk; exceptions;
the go-live gate names what is missing; the pages and the permissions matrix."""

import datetime
import re

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from compliance.models import Applicability, Control, Obligation, Status
from compliance.services import expiry, library
from compliance.services.applicability import statuses_refresh
from monitoring.models import Flag
from portal.access import can
from registry import gate

pytestmark = pytest.mark.django_db

PERSONAS = ["admin", "risk_officer", "product_owner", "leadership", "dpo", "auditor", "outsider"]
TODAY = timezone.localdate()


def item(framework: str, key: str) -> Obligation:
    return Obligation.objects.get(framework__key=framework, framework__active=True, key=key)


def status(use_case, ref: str) -> str:
    return Applicability.objects.get(use_case=use_case, obligation__ref=ref).status


@pytest.fixture
def credit(screened):
    return screened("high", role="provider", annex_iii_areas=["5b"])


@pytest.fixture
def logging_control(risk_officer):
    # Mapped to ISO/IEC 42001 A.6.2.8 only: the crosswalk carries it to Art. 12.
    return library.control_create(
        actor=risk_officer,
        data={
            "title": "Event logging standard",
            "kind": "procedure",
            "owner": risk_officer,
            "frequency": "annual",
        },  # fmt: skip
        obligations=[item("iso-42001", "A.6.2.8")],
    )


def test_one_evidence_file_meets_every_obligation_the_crosswalk_links(
    credit, logging_control, risk_officer
):
    assert status(credit, "Art. 12") == Status.IN_PROGRESS
    evidence = library.evidence_add(
        actor=risk_officer,
        data={"title": "Log retention test 2026", "effective_on": TODAY},
        upload=SimpleUploadedFile("logs.pdf", b"%PDF-1.4 retention test"),
        controls=[logging_control],
    )
    assert evidence.sha256 and evidence.filename == "logs.pdf"
    assert status(credit, "Art. 12") == Status.MET
    row = Applicability.objects.get(use_case=credit, obligation__ref="Art. 12")
    assert evidence.reference in row.status_detail
    # Art. 26(6) (deployers keep logs) maps to the same ISO control, but does not apply here.
    assert status(credit, "Art. 26(6)") == Status.NOT_APPLICABLE
    assert "met" in row.history.latest().history_change_reason


def test_evidence_that_expires_stops_counting(credit, logging_control, risk_officer):
    library.evidence_add(
        actor=risk_officer,
        data={
            "title": "Log retention test",
            "url": "https://intranet.example/logs",
            "effective_on": TODAY - datetime.timedelta(days=30),
            "expires_on": TODAY + datetime.timedelta(days=5),
        },  # fmt: skip
        controls=[logging_control],
    )
    assert status(credit, "Art. 12") == Status.MET
    statuses_refresh(why="Nightly", today=TODAY + datetime.timedelta(days=6))
    assert status(credit, "Art. 12") == Status.IN_PROGRESS


def test_evidence_needs_a_file_or_a_link_and_sane_dates(risk_officer):
    with pytest.raises(ValidationError) as err:
        library.evidence_add(
            actor=risk_officer,
            data={
                "title": "Nothing",
                "effective_on": TODAY,
                "expires_on": TODAY - datetime.timedelta(days=1),
            },  # fmt: skip
        )
    assert {"file", "expires_on"} <= set(err.value.message_dict)


def test_overdue_when_the_due_date_passes(credit):
    Applicability.objects.filter(use_case=credit).update(due_on=TODAY - datetime.timedelta(days=1))
    statuses_refresh(why="Nightly")
    assert status(credit, "Art. 9") == Status.OVERDUE


def test_gate_refuses_naming_the_missing_obligations(credit, risk_officer):
    check = next(c for c in gate.check_go_live(credit).checks if c.key == "obligations")
    assert not check.holds
    assert any(i.startswith("Art. 9 Risk management system") for i in check.items)
    assert "Art. 73" in check.detail
    # A named risk officer accepts them all until a date: the check holds.
    for row in Applicability.objects.filter(use_case=credit, applicable=True):
        library.exception_accept(
            actor=risk_officer, applicability=row, reason="Programme under way; board aware.",
            expires_on=TODAY + datetime.timedelta(days=60),
        )  # fmt: skip
    check = next(c for c in gate.check_go_live(credit).checks if c.key == "obligations")
    assert check.holds, check.detail
    assert check.evidence["accepted"][0]["accepted_by"]["username"] == risk_officer.username


def test_only_a_risk_officer_of_the_unit_accepts_an_exception(credit, personas):
    row = Applicability.objects.get(use_case=credit, obligation__ref="Art. 9")
    for name in PERSONAS:
        allowed = name == "risk_officer"
        assert can(personas[name], "compliance.accept_exception", credit) is allowed, name
    with pytest.raises(PermissionDenied):
        library.exception_accept(
            actor=personas["admin"], applicability=row, reason="x",
            expires_on=TODAY + datetime.timedelta(days=5),
        )  # fmt: skip
    with pytest.raises(ValidationError) as err:
        library.exception_accept(
            actor=personas["risk_officer"], applicability=row, reason=" ", expires_on=TODAY
        )
    assert {"reason", "expires_on"} <= set(err.value.message_dict)


GLOBAL_MATRIX = {
    "compliance.view_framework": set(PERSONAS),
    "compliance.manage_frameworks": {"admin", "risk_officer"},
    "compliance.view_control": set(PERSONAS),
    "compliance.manage_controls": {"admin", "risk_officer", "dpo"},
    "compliance.add_evidence": {"admin", "risk_officer", "dpo", "product_owner", "outsider"},
    "compliance.view_coverage": set(PERSONAS),
    "compliance.sign_soa": {"admin", "risk_officer"},
}
RECORD_MATRIX = {
    "compliance.view_applicability": {
        "admin", "risk_officer", "product_owner", "leadership", "dpo", "auditor",
    },
    "compliance.recompute_applicability": {"admin", "risk_officer", "dpo"},
    "compliance.accept_exception": {"risk_officer"},
}  # fmt: skip


@pytest.mark.parametrize("rule", sorted(GLOBAL_MATRIX))
def test_global_permissions_matrix(rule, personas):
    allowed = {name for name in PERSONAS if can(personas[name], rule)}
    assert allowed == GLOBAL_MATRIX[rule]


@pytest.mark.parametrize("rule", sorted(RECORD_MATRIX))
def test_use_case_permissions_matrix(rule, personas, screened):
    use_case = screened("high", role="deployer", annex_iii_areas=["4a"])
    allowed = {name for name in PERSONAS if can(personas[name], rule, use_case)}
    assert allowed == RECORD_MATRIX[rule]


def test_scoped_evidence_is_hidden_from_other_units(credit, risk_officer, outsider, auditor):
    evidence = library.evidence_add(
        actor=risk_officer,
        data={
            "title": "Credit model validation",
            "url": "https://intranet.example/v",
            "effective_on": TODAY,
        },  # fmt: skip
        use_cases=[credit],
        obligations=[item("eu-ai-act", "art-15")],
    )
    url = reverse("compliance:evidence-detail", args=[evidence.pk])
    for user, code in ((risk_officer, 200), (auditor, 200), (outsider, 404)):
        assert can(user, "compliance.view_evidence", evidence) is (code == 200)
        client = Client()
        client.force_login(user)
        assert client.get(url).status_code == code


def test_pages_answer_for_every_persona(client, personas, credit, logging_control):
    framework = item("eu-ai-act", "art-9").framework
    urls = [
        reverse("compliance:coverage"),
        reverse("compliance:framework-list"),
        reverse("compliance:framework-detail", args=[framework.pk]),
        reverse("compliance:framework-soa", args=[framework.pk]),
        reverse("compliance:control-list"),
        reverse("compliance:control-detail", args=[logging_control.pk]),
        reverse("compliance:evidence-list"),
    ]
    own = [
        reverse("compliance:use-case-obligations", args=[credit.pk]),
        reverse("compliance:use-case-soa", args=[credit.pk]),
        credit.get_absolute_url(),
    ]
    for name in PERSONAS:
        client.force_login(personas[name])
        for url in urls:
            assert client.get(url).status_code == 200, (name, url)
        for url in own:
            assert client.get(url).status_code == (404 if name == "outsider" else 200), (
                name,
                url,
            )


def test_control_form_keeps_what_was_typed(client, risk_officer, product_owner):
    client.force_login(product_owner)
    assert client.get(reverse("compliance:control-new")).status_code == 403
    client.force_login(risk_officer)
    response = client.post(
        reverse("compliance:control-new"), {"title": "AI literacy training", "kind": "training"}
    )
    assert response.status_code == 200
    assert b"AI literacy training" in response.content
    assert not Control.objects.exists()


def test_expiring_evidence_flags_the_use_case_and_tells_the_owner_ahead(
    credit, logging_control, risk_officer, mailoutbox, django_capture_on_commit_callbacks
):
    evidence = library.evidence_add(
        actor=risk_officer,
        data={
            "title": "Log retention test",
            "url": "https://intranet.example/logs",
            "effective_on": TODAY,
            "expires_on": TODAY + datetime.timedelta(days=10),
        },  # fmt: skip
        controls=[logging_control],
    )
    with django_capture_on_commit_callbacks(execute=True):
        counts = expiry.nightly()
    assert counts["evidence_notices"] == 1
    flag = Flag.objects.get(use_case=credit, cause__startswith="obligation:evidence-expiring")
    assert evidence.reference in flag.reason and "Art. 12" in flag.reason
    owner_mail = [m for m in mailoutbox if m.to == [risk_officer.email]]
    assert any(evidence.reference in m.subject for m in owner_mail)
    # Told once: the next night adds nothing.
    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert expiry.nightly()["evidence_notices"] == 0
    assert not [m for m in mailoutbox if evidence.reference in m.subject]


def test_an_expired_exception_flags_the_use_case(credit, risk_officer):
    row = Applicability.objects.get(use_case=credit, obligation__ref="Art. 9")
    library.exception_accept(
        actor=risk_officer, applicability=row, reason="Programme under way.",
        expires_on=TODAY + datetime.timedelta(days=3),
    )  # fmt: skip
    later = TODAY + datetime.timedelta(days=4)
    check = next(c for c in gate.check_go_live(credit, later).checks if c.key == "obligations")
    assert any(i.startswith("Art. 9 ") for i in check.items)
    assert expiry.flag_expired_exceptions(today=later) == 1
    flag = Flag.objects.get(use_case=credit, cause="obligation:exception-expired:art-9")
    assert "rita.risk" in flag.reason or risk_officer.get_full_name() in flag.reason
    assert expiry.flag_expired_exceptions(today=later) == 0


def test_the_control_and_evidence_forms_offer_their_links_as_multiple_selects(client, risk_officer):
    """They rendered as bare <option> tags outside any <select> (found by the compliance
    journey): nothing could be linked from the pages."""
    client.force_login(risk_officer)
    control = client.get(reverse("compliance:control-new")).content.decode()
    evidence = client.get(reverse("compliance:evidence-new")).content.decode()
    for page, names in ((control, ("obligations", "use_cases")),
                        (evidence, ("controls", "obligations", "use_cases"))):  # fmt: skip
        for name in names:
            assert re.search(rf'<select name="{name}"[^>]*multiple', page), name
