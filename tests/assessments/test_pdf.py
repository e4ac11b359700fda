"""The one-page summary for leadership and the full report, read back with pypdf."""

import io
import re

import pytest
from django.urls import reverse
from pypdf import PdfReader

from assessments import pdf, services
from assessments.models import SignOff, Status
from portal.pdf import LocalStaticFetcher, static_prefix
from tests.assessments.builders import COMPLETE, draft, move, to_status
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed(use_case, people):
    return to_status(Status.SIGNED_OFF, use_case=use_case, **people)


def read(content: bytes) -> tuple[int, str]:
    """(pages, text) of a PDF."""
    reader = PdfReader(io.BytesIO(content))
    return len(reader.pages), "\n".join(page.extract_text() for page in reader.pages)


def words(text: str) -> str:
    """Text with each run of whitespace as one space."""
    return " ".join(text.split())


def flat(text: str) -> str:
    """Text without whitespace: line breaks fall wherever the layout puts them."""
    return "".join(text.split())


# Long answers: every text at the most a form accepts, and far more risks than fit a page.
LONG_AIMS = (
    "AIMS-START "
    + " ".join(f"word{n}" for n in range(4000))[: 20_000 - len("AIMS-START  AIMS-END")]
    + " AIMS-END"
)
RATINGS = ["remote", "possible", "probable"]


def long_risks(n=40) -> list[dict]:
    rows = []
    for i in range(1, n + 1):
        rows.append(
            {
                "risk": f"RISK-{i:02d} " + "the model may treat some customers unfairly " * 14,
                "likelihood": RATINGS[i % 3],
                "severity": "significant",
                "measures": f"MEASURE-{i:02d} "
                + "a person checks the outcome and can undo it " * 14,
                "effect": "reduced",
                "residual": "low" if i % 2 else "medium",
                "approved": True,
            }
        )
    # The one that matters most sits in the middle: residual high.
    rows[16] = {
        "risk": "TOP-RISK customers are locked out of their money " + "for days " * 60,
        "likelihood": "probable",
        "severity": "severe",
        "measures": "TOP-MEASURE a fallback rule lets payments through " + "while staff look " * 40,
        "effect": "accepted",
        "residual": "high",
        "approved": True,
    }
    return rows


@pytest.fixture
def long_signed(use_case, people):
    use_case.title = "Card fraud scoring " + "with an unusually long title " * 6
    use_case.title = use_case.title[:200]
    use_case.purpose = "PURPOSE-START " + "It scores every payment in real time. " * 400
    use_case.risk_tier_basis = "Annex III point 5(b). " * 80
    use_case.save()
    answers = {**COMPLETE, "aims": LONG_AIMS, "automated": "yes", "risks": long_risks()}
    answers["why_automated"] = "Fraud settles in seconds; " * 19
    a = draft(use_case, people["author"], answers=answers)
    a = move(a, people["author"], "submit")
    reviewer = people["reviewers"][0]
    a = move(a, reviewer, "start_review")
    for n in range(12):
        services.assessment_comment(
            actor=reviewer,
            assessment=a,
            question_key="aims" if n % 2 else "risks",
            body=f"COMMENT-{n:02d} " + "Please say who confirms each block and how fast. " * 30,
        )
    for r in people["reviewers"]:
        a = move(a, r, "approve", reason="Fine. " * 200)
    return services.assessment_transition(
        actor=people["approver"],
        assessment=a,
        action="sign_off",
        password=PASSWORD,
        reason="CONDITION-START " + "Review the block rate every month. " * 50,
        acknowledged_questions=services.open_question_ids(a),
    )


# The one-page summary ---------------------------------------------------------------------
def test_summary_of_a_signed_off_assessment_is_one_page_with_what_leadership_needs(
    signed, use_case, leadership
):
    record = SignOff.objects.get(assessment=signed)
    pages, text = read(pdf.summary_pdf(signed))
    assert pages == 1
    assert use_case.reference in text
    assert "Card fraud scoring" in words(text)
    assert signed.result_label == "Low residual risk"
    assert signed.result_label in text
    # The risk, its inherent rating, its measures, then its residual rating, in one row.
    assert re.search(
        r"Acustomeriswronglyblocked.*?Medium.*?Analystconfirmseveryblock.*?Low", flat(text)
    )
    assert leadership.get_full_name() in words(text)
    assert record.sha256 in flat(text)
    assert pdf.full_report_url(signed) in flat(text)
    assert "Risk officer" in text and "Data protection officer" in text  # the reviewers
    assert "see the full report" not in text  # nothing had to be cut


# The long documents take seconds to render, many more on a loaded machine running the suite
# on several processes: their tests are about what the PDF holds, so the render timeout (a
# guard for the server, tested on its own) is given room here.
LONG_RENDER_SECONDS = 300


def test_summary_stays_one_page_however_long_the_answers(long_signed, caplog, settings):
    settings.PDF_RENDER_TIMEOUT_SECONDS = LONG_RENDER_SECONDS
    pages, text = read(pdf.summary_pdf(long_signed))
    assert pages == 1
    assert "kept the first" not in caplog.text  # the limits fitted it, not the last resort
    assert "see the full report" in text
    assert re.search(r"and \d+ more risks", text)
    assert "TOP-RISK" in text  # the highest residual risk comes first
    assert "High" in text
    assert "AIMS-END" not in text
    sha = SignOff.objects.get(assessment=long_signed).sha256
    assert sha in flat(text)


def test_summary_is_still_one_page_when_even_the_tightest_limits_overflow(
    long_signed, monkeypatch, caplog
):
    loose = pdf.Limits(
        text=50_000, line=50_000, basis=50_000, risks=40, reasons=40, issues=40, reviews=40, why=9
    )
    monkeypatch.setattr(pdf, "SUMMARY_LIMITS", (loose,))
    pages, text = read(pdf.summary_pdf(long_signed))
    assert pages == 1
    assert "kept the first" in caplog.text
    assert long_signed.reference in text
    assert pdf.full_report_url(long_signed) in flat(text)  # the pointer is at the top


def test_summary_of_an_assessment_in_review_says_who_is_to_sign(use_case, people):
    a = to_status(Status.IN_REVIEW, use_case=use_case, **people)
    pages, text = read(pdf.summary_pdf(a))
    assert pages == 1
    assert "Awaiting sign-off by Leadership" in text
    assert "Pending" in text


def test_summary_lists_open_issues(use_case, people):
    a = to_status(Status.IN_REVIEW, use_case=use_case, **people)
    services.assessment_comment(
        actor=people["reviewers"][0], assessment=a, question_key="aims", body="Who confirms?"
    )
    _, text = read(pdf.summary_pdf(a))
    assert "Open reviewer questions (1)" in text
    assert "on “What is it for?”: Who confirms?" in words(text)


# The full report --------------------------------------------------------------------------
def test_full_report_has_every_answer_over_many_pages(long_signed, settings):
    settings.PDF_RENDER_TIMEOUT_SECONDS = LONG_RENDER_SECONDS
    pages, text = read(pdf.full_pdf(long_signed))
    assert pages > 1
    body = flat(text)
    assert flat(LONG_AIMS[:200]) in body
    assert flat(LONG_AIMS[-200:]) in body
    for i in range(1, 41):
        if i != 17:
            assert f"RISK-{i:02d}" in body and f"MEASURE-{i:02d}" in body, i
    assert "TOP-RISK" in body and "TOP-MEASURE" in body
    assert "1,000ormore" in body  # a choice shows its label
    assert "Fraudsettlesinseconds" in body  # a conditional question that is shown
    for n in range(12):
        assert f"COMMENT-{n:02d}" in body
    assert SignOff.objects.get(assessment=long_signed).sha256 in body
    assert flat("The signed content still matches this hash and the answers") in body


def test_full_report_of_a_draft(use_case, people):
    a = draft(use_case, people["author"], answers={"aims": "Spot fraud.", "automated": "no"})
    pages, text = read(pdf.full_pdf(a))
    assert pages == 1
    assert "Spot fraud." in text
    assert "Not answered." in text  # the risks
    assert "Not signed." in text


# Downloading: who may, and what they get ---------------------------------------------------
READERS = ["product_owner", "risk_officer", "dpo", "leadership", "auditor"]


@pytest.mark.parametrize("which", ["summary", "full"])
@pytest.mark.parametrize("who", [*READERS, "outsider"])
def test_who_may_download_the_pdfs(which, who, signed, personas, client):
    client.force_login(personas[who])
    response = client.get(reverse(f"assessments:pdf-{which}", args=[signed.pk]))
    if who == "outsider":
        assert response.status_code == 404
        return
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    name = f"{signed.reference}-{'summary-signed' if which == 'summary' else 'report'}.pdf"
    assert response["Content-Disposition"] == f'attachment; filename="{name}"'
    assert response.content.startswith(b"%PDF-")


@pytest.mark.parametrize("which", ["summary", "full"])
def test_anonymous_is_sent_to_sign_in(which, signed, client):
    url = reverse(f"assessments:pdf-{which}", args=[signed.pk])
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_a_drafts_summary_is_refused_with_a_reason_and_its_full_report_offered(
    use_case, people, client
):
    a = draft(use_case, people["author"], answers=COMPLETE)
    client.force_login(people["author"])
    response = client.get(reverse("assessments:pdf-summary", args=[a.pk]))
    assert response.status_code == 400
    assert "still a draft" in response.content.decode()
    assert reverse("assessments:pdf-full", args=[a.pk]) in response.content.decode()
    assert client.get(reverse("assessments:pdf-full", args=[a.pk])).status_code == 200


def test_a_missing_assessment_is_404(client, auditor):
    client.force_login(auditor)
    assert client.get(reverse("assessments:pdf-summary", args=[987654])).status_code == 404


# Nothing from the network ------------------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/style.css",
        "http://127.0.0.1:9/static/css/pdf.css",
        "file:///etc/passwd",
        "data:text/css,body{}",
        "{static}../../portal/settings.py",
        "{static}css/../../portal/settings.py",
    ],
)
def test_the_pdf_fetcher_refuses_anything_but_local_static_files(url):
    with pytest.raises(ValueError):
        LocalStaticFetcher().fetch(url.replace("{static}", static_prefix()))


def test_the_pdf_fetcher_serves_local_static_files():
    response = LocalStaticFetcher().fetch(static_prefix() + "css/pdf.css")
    assert response.content_type == "text/css"
    assert b"@page" in response.read()
