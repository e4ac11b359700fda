"""The Statement of Applicability: every obligation, applicable or not with the reason, as a
page, a CSV and a PDF that reads back."""

import csv
import io
import json

import pytest
from django.urls import reverse
from pypdf import PdfReader

from compliance.models import (
    Applicability,
    Exclusion,
    Framework,
    ImmutableStatement,
    Obligation,
    SignedStatement,
)
from compliance.services import statements
from compliance.soa import use_case_statement
from portal.models import Role
from tests.factories import UseCaseFactory, UserFactory

pytestmark = pytest.mark.django_db


def pdf_text(content: bytes) -> str:
    reader = PdfReader(io.BytesIO(content))
    return " ".join(" ".join((page.extract_text() or "").split()) for page in reader.pages)


def test_use_case_soa_pdf_lists_every_obligation(client, risk_officer, screened):
    credit = screened("high", role="provider", annex_iii_areas=["5b"])
    client.force_login(risk_officer)
    response = client.get(reverse("compliance:use-case-soa-pdf", args=[credit.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    text = pdf_text(response.content)
    refs = Obligation.objects.filter(framework__key="eu-ai-act", framework__active=True)
    for obligation in refs:
        assert obligation.ref in text, obligation.ref
    assert "Applies to the deployer" in text  # a not-applicable row with its reason
    assert credit.reference in text


def test_framework_soa_csv_and_pdf_cover_all_72_nist_subcategories(client, auditor):
    nist = Framework.objects.get(key="nist-ai-rmf", active=True)
    client.force_login(auditor)
    response = client.get(reverse("compliance:framework-soa-csv", args=[nist.pk]))
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:4] == ["Framework", "Reference", "Title", "Applicable"]
    assert len(rows) == 73
    assert {r[5] for r in rows[1:]} == {"Not started"}
    text = pdf_text(client.get(reverse("compliance:framework-soa-pdf", args=[nist.pk])).content)
    for ref in ("GOVERN 1.1", "MAP 5.2", "MEASURE 2.13", "MANAGE 4.3"):
        assert ref in text


def test_outsider_gets_no_statement_of_a_use_case_they_cannot_see(client, outsider, screened):
    credit = screened("high", role="provider", annex_iii_areas=["5b"])
    client.force_login(outsider)
    for name in ("use-case-soa", "use-case-soa-csv", "use-case-soa-pdf"):
        assert client.get(reverse(f"compliance:{name}", args=[credit.pk])).status_code == 404


# Signing ------------------------------------------------------------------------------------
def _sign_page(client, user, use_case, password, note="Reviewed with the DPO."):
    client.force_login(user)
    return client.post(
        reverse("compliance:use-case-soa-sign", args=[use_case.pk]),
        {"password": password, "note": note},
    )


def test_a_risk_officer_signs_a_use_cases_statement_and_the_pdf_carries_it(
    client, risk_officer, password, screened
):
    credit = screened("high", role="provider", annex_iii_areas=["5b"])
    response = _sign_page(client, risk_officer, credit, password)
    signed = SignedStatement.objects.get(use_case=credit)
    assert response.status_code == 302 and response.url == signed.get_absolute_url()
    page = client.get(signed.get_absolute_url())
    assert page.status_code == 200
    assert signed.sha256 in page.content.decode()
    assert "verified" in page.content.decode()
    # What was signed is the statement as it stood: the same rows, the screening it rests on.
    now = use_case_statement(credit)
    assert [r["ref"] for r in signed.rows] == [r.ref for r in now.rows]
    assert signed.basis["assessment"] == now.basis["assessment"]
    assert json.loads(signed.content)["rows_sha256"] == now.sha256

    pdf = client.get(reverse("compliance:statement-pdf", args=[signed.pk]))
    assert pdf.status_code == 200
    assert pdf["Content-Disposition"].endswith(
        f'{signed.reference}-soa-{credit.reference}-signed.pdf"'
    )
    text = pdf_text(pdf.content)
    assert signed.sha256 in text
    assert risk_officer.get_full_name() in text
    assert "Reviewed with the DPO." in text
    assert "DRAFT" not in text
    # The live statement's PDF says it is not signed.
    draft = client.get(reverse("compliance:use-case-soa-pdf", args=[credit.pk]))
    assert "DRAFT: not signed" in pdf_text(draft.content)


def test_a_signed_statement_keeps_its_rows_when_the_obligations_change(
    client, risk_officer, password, screened
):
    credit = screened("high", role="provider", annex_iii_areas=["5b"])
    _sign_page(client, risk_officer, credit, password)
    signed = SignedStatement.objects.get(use_case=credit)
    before = signed.rows
    # The firm's role changes: the statement now computed differs from the one signed.
    Applicability.objects.filter(use_case=credit, applicable=True).update(status="met")
    assert [r.status for r in use_case_statement(credit).rows] != [r["status"] for r in before]
    signed.refresh_from_db()
    assert signed.rows == before
    assert statements.verified(signed)
    with pytest.raises(ImmutableStatement):
        signed.save()
    with pytest.raises(ImmutableStatement):
        signed.delete()


def test_a_wrong_password_signs_nothing_and_keeps_the_note(client, risk_officer, screened):
    credit = screened("high", role="provider", annex_iii_areas=["5b"])
    response = _sign_page(client, risk_officer, credit, "not-my-password", note="Keep me")
    assert response.status_code == 400
    body = response.content.decode()
    assert "Enter your own password to sign." in body
    assert "Keep me" in body
    assert not SignedStatement.objects.exists()


def test_a_use_case_without_a_signed_screening_has_no_statement_to_sign(
    client, risk_officer, password, retail, product_owner
):
    bare = UseCaseFactory(business_unit=retail, owner=product_owner)
    client.force_login(risk_officer)
    page = client.get(reverse("compliance:use-case-soa", args=[bare.pk]))
    assert "Sign this statement" not in page.content.decode()
    response = _sign_page(client, risk_officer, bare, password)
    assert response.status_code == 400
    assert "no signed-off screening" in response.content.decode()
    assert not SignedStatement.objects.exists()


def test_a_framework_statement_is_signed_by_an_admin_for_the_whole_firm(
    client, admin_user, password
):
    act = Framework.objects.get(key="eu-ai-act", active=True)
    client.force_login(admin_user)
    response = client.post(
        reverse("compliance:framework-soa-sign", args=[act.pk]), {"password": password}
    )
    signed = SignedStatement.objects.get(framework=act)
    assert response.url == signed.get_absolute_url()
    assert signed.subject == "the firm"
    assert len(signed.rows) == Obligation.objects.filter(framework=act).count()
    page = client.get(reverse("compliance:framework-soa", args=[act.pk])).content.decode()
    assert signed.reference in page  # listed with the statements signed before


# Who may sign: page and API alike; everyone else is refused and nothing is signed.
SIGNERS = {
    "admin": True,
    "risk_officer": True,
    "risk_officer_elsewhere": False,
    "dpo": False,
    "product_owner": False,
    "leadership": False,
    "auditor": False,
    "outsider": False,
}


@pytest.mark.parametrize("persona", sorted(SIGNERS))
@pytest.mark.parametrize("channel", ["page", "api"])
def test_who_may_sign_a_use_cases_statement(
    persona, channel, personas, corporate, password, screened, client
):
    credit = screened("high", role="provider", annex_iii_areas=["5b"])
    people = dict(personas)
    people["risk_officer_elsewhere"] = UserFactory(
        username="ro.corporate", roles=[Role.RISK_OFFICER], units=[corporate]
    )
    user = people[persona]
    client.force_login(user)
    if channel == "page":
        response = client.post(
            reverse("compliance:use-case-soa-sign", args=[credit.pk]), {"password": password}
        )
        refused = {403, 404}
    else:
        response = client.post(
            "/api/v1/signed-statements/",
            {"use_case": credit.reference, "password": password},
            content_type="application/json",
        )
        refused = {400, 403, 404}
    if SIGNERS[persona]:
        assert response.status_code in (201, 302), response.content[:300]
        assert SignedStatement.objects.filter(use_case=credit, signed_by=user).exists()
    else:
        assert response.status_code in refused, (persona, response.status_code)
        assert not SignedStatement.objects.exists()


def test_the_api_lists_only_the_statements_a_person_may_read(
    client, risk_officer, admin_user, outsider, password, screened
):
    credit = screened("high", role="provider", annex_iii_areas=["5b"])
    act = Framework.objects.get(key="eu-ai-act", active=True)
    statements.statement_sign(actor=risk_officer, password=password, use_case=credit)
    statements.statement_sign(actor=admin_user, password=password, framework=act)
    client.force_login(outsider)
    listed = client.get("/api/v1/signed-statements/").json()["results"]
    assert [s["framework"] for s in listed] == ["eu-ai-act"]
    own = SignedStatement.objects.get(use_case=credit)
    assert client.get(f"/api/v1/signed-statements/{own.pk}/").status_code == 404
    assert client.get(reverse("compliance:statement", args=[own.pk])).status_code == 404
    assert client.get(reverse("compliance:statement-pdf", args=[own.pk])).status_code == 404
    client.force_login(risk_officer)
    body = client.get(f"/api/v1/signed-statements/{own.pk}/").json()
    assert body["verified"] is True and body["sha256"] == own.sha256
    assert body["use_case"] == credit.reference


# Firm-wide frameworks: an item marked not applicable, with why --------------------------------
def _soa_rows(client, framework) -> dict:
    response = client.get(reverse("compliance:framework-soa-csv", args=[framework.pk]))
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    return {r[1]: r for r in rows[1:]}


def test_a_risk_officer_marks_an_iso_control_not_applicable_and_back(client, risk_officer):
    iso = Framework.objects.get(key="iso-42001", active=True)
    customers = Obligation.objects.get(framework=iso, key="A.10.4")
    client.force_login(risk_officer)
    page = client.get(reverse("compliance:framework-detail", args=[iso.pk])).content.decode()
    assert "Why A.10.4 does not apply" in page
    why = "We sell no AI system to other firms."
    client.post(reverse("compliance:obligation-exclusion", args=[customers.pk]), {"reason": why})
    row = _soa_rows(client, iso)["A.10.4"]
    assert row[3:6] == ["No", why, "Not applicable"]
    assert risk_officer.get_full_name() in row[6]
    assert _soa_rows(client, iso)["A.10.3"][3] == "Yes"  # the others still apply
    client.post(reverse("compliance:obligation-exclusion", args=[customers.pk]), {"applies": "yes"})
    assert _soa_rows(client, iso)["A.10.4"][3] == "Yes"
    # Both decisions are history, with who and why.
    versions = Exclusion.history.filter(obligation_id=customers.pk).order_by("history_date")
    assert [v.history_type for v in versions] == ["+", "-"]
    assert versions[0].history_change_reason == f"Not applicable: {why}"


def test_an_exclusion_needs_a_reason_and_a_firm_wide_framework(client, risk_officer):
    iso = Framework.objects.get(key="iso-42001", active=True)
    customers = Obligation.objects.get(framework=iso, key="A.10.4")
    client.force_login(risk_officer)
    response = client.post(
        reverse("compliance:obligation-exclusion", args=[customers.pk]),
        {"reason": "  "},
        follow=True,
    )
    assert "Say why it does not apply to the firm." in response.content.decode()
    art26 = Obligation.objects.filter(framework__key="eu-ai-act", framework__active=True).first()
    api = client.post(
        f"/api/v1/obligations/{art26.pk}/exclusion/",
        {"reason": "Not for us"},
        content_type="application/json",
    )
    assert api.status_code == 400
    assert "applies per use case" in api.json()["obligation"][0]
    assert not Exclusion.objects.exists()


@pytest.mark.parametrize(
    "persona, allowed",
    [("admin", True), ("risk_officer", True), ("dpo", False), ("product_owner", False),
     ("leadership", False), ("auditor", False), ("outsider", False)],
)  # fmt: skip
def test_who_may_mark_an_item_not_applicable(persona, allowed, personas, client):
    customers = Obligation.objects.get(
        framework__key="iso-42001", framework__active=True, key="A.10.4"
    )
    client.force_login(personas[persona])
    api = client.post(
        f"/api/v1/obligations/{customers.pk}/exclusion/",
        {"reason": "Not for us"},
        content_type="application/json",
    )
    page = client.post(
        reverse("compliance:obligation-exclusion", args=[customers.pk]), {"reason": "Nope"}
    )
    if allowed:
        assert api.status_code == 200 and api.json()["exclusion"]["reason"] == "Not for us"
        assert page.status_code == 302
        assert Exclusion.objects.get().reason == "Nope"
    else:
        assert api.status_code == 403 and page.status_code == 403
        assert not Exclusion.objects.exists()
    # Everyone signed in reads the firm's decision.
    read = client.get(f"/api/v1/obligations/{customers.pk}/").json()
    assert (read["exclusion"] is not None) == allowed
