"""The one-page summary as an executive reads it (issue 17, item 5): the decision asked of
them, the result in plain words, the duties or the top risks, open questions, the signer's
conditions, DRAFT until signed, and always exactly one A4 page. Read back with pypdf."""

import io
import re
import subprocess
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.urls import reverse
from pypdf import PdfReader

from assessments import pdf, services
from assessments.models import Assessment, AssessmentTemplate, Status
from devtools.demo.assessments import NO_AI_ACT_GROUND
from tests.assessments.builders import COMPLETE, draft, move, to_status
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

A4 = (595, 842)  # points, give or take rounding


def read(content: bytes) -> tuple[PdfReader, str]:
    reader = PdfReader(io.BytesIO(content))
    return reader, "\n".join(page.extract_text() for page in reader.pages)


def words(text: str) -> str:
    return " ".join(text.split())


def flat(text: str) -> str:
    return "".join(text.split())


def one_a4_page(reader: PdfReader) -> bool:
    if len(reader.pages) != 1:
        return False
    box = reader.pages[0].mediabox
    return (round(float(box.width)), round(float(box.height))) in {A4, (596, 842)}


HIGH_RISK = {
    **NO_AI_ACT_GROUND,
    "annex_iii_areas": ["4a"],
    "exceptions": ["none"],
    "profiling": "no",
}


def screening(use_case, screeners, answers=HIGH_RISK, status=Status.APPROVED, note=""):
    template = AssessmentTemplate.objects.get(key="eu-ai-act-screening", active=True)
    a = services.assessment_start(actor=screeners["author"], use_case=use_case, template=template)
    a = services.assessment_save_answers(
        actor=screeners["author"], assessment=a, answers=answers, base_revision=a.revision
    )
    a = move(a, screeners["author"], "submit")
    if status == Status.SUBMITTED:
        return a
    a = move(a, screeners["reviewers"][0], "start_review")
    for r in screeners["reviewers"]:
        a = move(a, r, "approve")
    if status == Status.APPROVED or a.status != Status.APPROVED:
        return a
    return services.assessment_transition(
        actor=screeners["approver"],
        assessment=a,
        action="sign_off",
        password=PASSWORD,
        reason=note,
        acknowledged_questions=services.open_question_ids(a),
    )


@pytest.fixture(autouse=True)
def _builtins():
    services.sync_builtin_templates()


@pytest.fixture
def screeners(product_owner, risk_officer, legal_reviewer, leadership):
    # A high-risk screening is reviewed by a risk officer and the legal group.
    return {
        "author": product_owner,
        "reviewers": [risk_officer, legal_reviewer],
        "approver": leadership,
    }


# A high-risk screening (the AS-0005) ----------------------------------------------------
def test_a_high_risk_screening_awaiting_signature_asks_for_a_decision_in_plain_words(
    use_case, screeners
):
    a = screening(use_case, screeners)
    assert a.status == Status.APPROVED and a.result_value == "high"
    reader, text = read(pdf.summary_pdf(a))
    assert one_a4_page(reader)
    said = words(text)
    assert "Decision requested: Leadership: sign off AI risk screening" in said
    assert "Signing commits the firm to treating" in said
    assert "as high risk under the EU AI Act" in said
    assert "What it means: The AI Act's high-risk requirements apply" in said
    # Duties follow, not a share of questions that reads as low risk.
    assert "Duties that follow" in said
    assert not re.search(r"\d+ of \d+ \(\d+(\.\d+)?%\)", said)
    assert "Annex III areas" not in said
    assert "No risks are recorded" not in said
    assert "DRAFT" in text
    assert "Annex III point 4(a)" in said  # the reason cited


def test_a_signed_screening_prints_the_signers_conditions_and_is_not_a_draft(
    use_case, screeners, leadership
):
    a = screening(
        use_case,
        screeners,
        status=Status.SIGNED_OFF,
        note="Only for shortlisting. "
        "A recruiter reads every rejected CV before the candidate is told.",
    )
    assert a.status == Status.SIGNED_OFF
    reader, text = read(pdf.summary_pdf(a))
    assert one_a4_page(reader)
    said = words(text)
    assert "Decision taken:" in said and leadership.get_full_name() in said
    assert "This commits the firm to" in said
    assert "Conditions set by the signer:" in said
    assert "A recruiter reads every rejected CV before the candidate is told." in said
    assert "DRAFT" not in text
    assert a.sign_off_record.sha256 in flat(text)
    assert pdf.summary_filename(a) == f"{a.reference}-summary-signed.pdf"


def test_a_draft_and_a_signed_copy_never_share_a_file_name(use_case, screeners, client):
    a = screening(use_case, screeners)
    client.force_login(screeners["approver"])
    url = reverse("assessments:pdf-summary", args=[a.pk])
    response = client.get(url)
    assert response["Content-Disposition"] == (
        f'attachment; filename="{a.reference}-summary-draft.pdf"'
    )
    services.assessment_transition(
        actor=screeners["approver"], assessment=a, action="sign_off", password=PASSWORD
    )
    response = client.get(url)
    assert response["Content-Disposition"] == (
        f'attachment; filename="{a.reference}-summary-signed.pdf"'
    )
    _, text = read(response.content)
    assert "DRAFT" not in text


def test_a_dpia_shows_scores_and_top_risks_with_residual_ratings(use_case, people):
    a = to_status(Status.APPROVED, use_case=use_case, **people)
    _, text = read(pdf.summary_pdf(a))
    said = words(text)
    assert "Top risks" in said and "Residual" in said
    assert "Signing commits the firm to accepting the residual risks listed below" in said
    assert "DRAFT" in text


def test_open_reviewer_questions_are_on_the_page(use_case, screeners):
    a = screening(use_case, screeners, status=Status.SUBMITTED)
    services.assessment_comment(
        actor=screeners["reviewers"][0],
        assessment=a,
        question_key="",
        body="Who reads the rejected CVs? Name the team.",
    )
    _, text = read(pdf.summary_pdf(a))
    said = words(text)
    assert "Open reviewer questions (1)" in said
    assert "Who reads the rejected CVs? Name the team." in said
    assert "Decision to come" in said


# Never cut mid-sentence -------------------------------------------------------------------------
def test_summarise_keeps_whole_sentences_and_says_when_it_left_some_out():
    text = "First sentence is here. Second one follows it. Third is the last one."
    assert pdf.summarise(text, 200) == pdf.Summary(text, False)
    assert pdf.summarise(text, 50) == pdf.Summary(
        "First sentence is here. Second one follows it.", True
    )
    # A citation's "Art. 6" does not end a sentence.
    assert pdf.summarise("Art. 6 applies here. More.", 22).text == "Art. 6 applies here."


def test_summarise_shortens_one_long_sentence_at_a_clause_and_marks_it():
    text = (
        "The model scores applicants, ranks them by fit, and filters out the weakest "
        "before a recruiter sees them."
    )
    short = pdf.summarise(text, 60)
    assert short.cut and short.text.endswith("…")
    assert short.text == "The model scores applicants, ranks them by fit…"


# Always one page -------------------------------------------------------------------------------
def test_the_longest_demo_answers_each_fit_one_page(demo_firm, settings):
    settings.DEBUG = True
    summarised = 0
    for a in Assessment.objects.exclude(status=Status.DRAFT).select_related("use_case"):
        reader, text = read(pdf.summary_pdf(a))
        assert one_a4_page(reader), a.reference
        said = words(text)
        assert re.search(r"Decision (requested|taken|to come)|No decision requested", said)
        assert ("DRAFT" in text) != hasattr(a, "sign_off_record"), a.reference
        summarised += 1
    assert summarised >= 3


def test_synthetic_very_long_content_still_fits_one_page(use_case, screeners):
    use_case.title = ("Recruitment screening " + "with a very long name " * 12)[:200]
    use_case.purpose = "It ranks applicants. " * 500
    use_case.save()
    a = screening(use_case, screeners, status=Status.SUBMITTED)
    a = move(a, screeners["reviewers"][0], "start_review")
    for n in range(15):
        services.assessment_comment(
            actor=screeners["reviewers"][n % 2],
            assessment=a,
            question_key="annex_iii_areas" if n % 2 else "",
            body=f"QUESTION-{n:02d} " + "Please say who checks the ranking and how often. " * 40,
        )
    for r in screeners["reviewers"]:
        a = move(a, r, "approve", reason="Agreed. " * 200)
    a = services.assessment_transition(
        actor=screeners["approver"],
        assessment=a,
        action="sign_off",
        password=PASSWORD,
        reason="CONDITIONS " + "A recruiter reads every rejected CV first. " * 46,
        acknowledged_questions=services.open_question_ids(a),
    )
    reader, text = read(pdf.summary_pdf(a))
    assert one_a4_page(reader)
    said = words(text)
    assert "Decision taken:" in said and "Conditions set by the signer:" in said
    assert "QUESTION-00" in said and re.search(r"and \d+ more questions", said)
    assert "see the full report" in said
    assert pdf.full_report_url(a) in flat(text)


# Links point at SITE_URL, and `make run PORT=…` sets it -------------------------------------
def test_links_in_the_pdf_use_site_url(use_case, people, settings):
    settings.SITE_URL = "http://127.0.0.1:8765"
    a = to_status(Status.IN_REVIEW, use_case=use_case, **people)
    _, text = read(pdf.summary_pdf(a))
    assert f"http://127.0.0.1:8765/assessments/{a.pk}/report.pdf" in flat(text)
    assert "127.0.0.1:8000" not in flat(text)


def test_make_run_sets_site_url_to_the_port_it_serves():
    root = Path(django_settings.BASE_DIR)
    out = subprocess.run(
        ["make", "-n", "run", "PORT=8765"], cwd=root, capture_output=True, text=True, timeout=60
    ).stdout
    serve = [line for line in out.splitlines() if "manage.py serve" in line]
    assert serve, out
    assert "SITE_URL=http://127.0.0.1:8765" in serve[0]
    assert "serve 127.0.0.1:8765" in serve[0]


def test_a_draft_still_has_no_summary(use_case, people):
    a = draft(use_case, people["author"], answers=COMPLETE)
    assert not pdf.summary_available(a)
