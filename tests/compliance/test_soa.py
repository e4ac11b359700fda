"""The Statement of Applicability: every obligation, applicable or not with the reason, as a
page, a CSV and a PDF that reads back."""

import csv
import io

import pytest
from django.urls import reverse
from pypdf import PdfReader

from compliance.models import Framework, Obligation

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
