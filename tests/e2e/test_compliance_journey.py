"""From a signed EU AI Act screening to the Statement of Applicability, in a real browser
(issue 16).

A deployer ranks CVs for graduate hiring: high risk under Annex III point 4(a). The screening
has been reviewed and waits for leadership, who sign it with their password (the routing gives
every screening's sign-off to leadership, migration assessments 0004). The Art. 26 deployer
duties then appear on the use case, none met; the risk officer finds the control mapped to
Art. 26(2), attaches evidence to it, watches the obligation become met and the coverage rise,
and downloads the statement as a PDF that names the obligation.
"""

import io
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect
from pypdf import PdfReader

from assessments import services
from assessments.models import AssessmentTemplate, Status
from compliance.models import Control, Framework, Obligation
from compliance.services import library
from registry.models import UseCase
from tests.assessments.builders import NOTHING_APPLIES, move
from tests.e2e.journey_helpers import sign_in, sign_out
from tests.factories import PASSWORD, UseCaseFactory

pytestmark = [
    pytest.mark.e2e,
    # The live server is another thread with its own connection: data must be committed, and
    # serialized_rollback puts back what migrations made (the frameworks, the templates).
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

# A private deployer in the EU ranking CVs: Annex III point 4(a), no exception claimed.
CV_RANKING = {**NOTHING_APPLIES, "annex_iii_areas": ["4a"], "exceptions": ["none"]}
OVERSIGHT = "Art. 26(2)"
OVERSIGHT_TITLE = "Human oversight assigned to competent, trained people"
CONTROL = "Recruiter oversight rota"
EVIDENCE = "Oversight training for the recruiting team, 2025"
EVIDENCE_LINK = "https://wiki.example.com/recruiting/oversight-training-2025"


@pytest.fixture
def eu_ai_act() -> Framework:
    """The EU AI Act's library, loaded by a migration (compliance/frameworks)."""
    return Framework.objects.get(key="eu-ai-act", active=True)


@pytest.fixture
def cv_ranking(retail, product_owner) -> UseCase:
    return UseCaseFactory(
        business_unit=retail,
        owner=product_owner,
        title="CV ranking for graduate hiring",
        purpose="Ranks graduate applications so recruiters read the strongest first.",
        people_affected=["public"],
    )


def screening_approved(use_case, author, reviewers, approver=None):
    """The use case's EU AI Act screening, answered, submitted and approved by every reviewer
    the routing names (the workflow is tested in tests/assessments); signed too if ``approver``
    is given, as leadership's sign-off in the browser would."""
    template = AssessmentTemplate.objects.get(key="eu-ai-act-screening", active=True)
    a = services.assessment_start(actor=author, use_case=use_case, template=template)
    a = services.assessment_save_answers(
        actor=author, assessment=a, answers=CV_RANKING, base_revision=a.revision
    )
    a = move(a, author, "submit")
    a = move(a, reviewers[0], "start_review")
    for reviewer in reviewers:
        if any(action == "approve" for action, _ in services.available_transitions(a, reviewer)):
            a = move(a, reviewer, "approve")
    assert a.status == Status.APPROVED
    if approver is not None:
        a = move(a, approver, "sign_off", password=PASSWORD)
        assert a.status == Status.SIGNED_OFF
    return a


@pytest.fixture
def screening(cv_ranking, product_owner, risk_officer, legal_reviewer, leadership):
    """Approved by the risk officer and legal, waiting for leadership's sign-off."""
    return screening_approved(cv_ranking, product_owner, [risk_officer, legal_reviewer])


@pytest.fixture
def signed_screening(cv_ranking, product_owner, risk_officer, legal_reviewer, leadership):
    """Signed off by leadership: the obligations are computed."""
    return screening_approved(
        cv_ranking, product_owner, [risk_officer, legal_reviewer], approver=leadership
    )


@pytest.fixture
def oversight_control(risk_officer, cv_ranking, eu_ai_act) -> Control:
    """The firm's control for Art. 26(2), owned by the risk officer, for the CV ranking only."""
    return library.control_create(
        actor=risk_officer,
        data={
            "title": CONTROL,
            "kind": "procedure",
            "description": "A trained recruiter reviews every ranking before anyone is rejected.",
            "owner": risk_officer,
            "frequency": "annual",
            "active": True,
        },
        obligations=[Obligation.objects.get(framework=eu_ai_act, ref=OVERSIGHT)],
        use_cases=[cv_ranking],
    )


# Helpers -------------------------------------------------------------------------------------
def pdf_text(content: bytes) -> str:
    reader = PdfReader(io.BytesIO(content))
    return " ".join(" ".join((page.extract_text() or "").split()) for page in reader.pages)


def nav(page: Page, link: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name=link).click()


def open_use_case(page: Page, use_case: UseCase) -> None:
    nav(page, "Use cases")
    page.get_by_role("link", name=use_case.title).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(use_case.title)


def obligation_row(page: Page, ref: str, title: str):
    """The obligation's row, by its reference and title (“Art. 26(1)” is in “Art. 26(11)”)."""
    return page.get_by_role("row").filter(has_text=f"{ref} {title}")


def open_control(page: Page, control: Control) -> None:
    nav(page, "Compliance")
    page.get_by_role("navigation", name="Compliance").get_by_role("link", name="Controls").click()
    page.get_by_role("link", name=f"{control.reference} {control.title}").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"{control.reference} {control.title}"
    )


def download_statement(page: Page, use_case: UseCase) -> str:
    """From the use case's obligations page: the statement's page, then its PDF, as text."""
    page.get_by_role("link", name="Statement of Applicability").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Statement of Applicability: {use_case.reference} {use_case.title}"
    )
    with page.expect_download() as download_info:
        page.get_by_role("link", name="PDF (unsigned)").click()
    download = download_info.value
    assert download.suggested_filename == f"soa-{use_case.reference}.pdf"
    content = Path(download.path()).read_bytes()
    assert content.startswith(b"%PDF")
    return pdf_text(content)


def no_errors(page_log) -> None:
    # The PDF link's navigation, which became the download, is abandoned by the browser.
    errors = [e for e in page_log.errors if not e.endswith(" net::ERR_ABORTED")]
    assert not errors, "\n".join(errors)


# The journeys --------------------------------------------------------------------------------
# The data fixtures come before `page`: the browser must not be open while they write.
def test_a_signed_screening_brings_the_obligations_and_the_statement_names_them(
    risk_officer,
    leadership,
    password,
    cv_ranking,
    oversight_control,
    screening,
    live_server,
    page,
    page_log,
):
    reference = screening.reference
    owner = risk_officer.get_full_name()

    # 1. Leadership signs the screening, re-entering their password -----------------------------
    sign_in(page, leadership, password)
    nav(page, "Sign-off queue")
    queued = page.get_by_role("listitem").filter(has_text=reference)
    expect(queued).to_contain_text(f"{cv_ranking.reference} {cv_ranking.title}")
    expect(queued).to_contain_text("High risk")
    queued.get_by_role("link", name="Review and sign").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Sign off {reference}")
    secret = page.get_by_label("Your password")
    secret.fill("not-my-password")
    page.get_by_role("button", name="Sign off").click()
    expect(page.locator("#id_password_errors")).to_have_text("Enter your own password to sign.")
    secret.fill(password)
    page.get_by_role("button", name="Sign off").click()
    expect(page.locator(".messages")).to_have_text(f"You signed off {reference}.")
    expect(page.get_by_test_id("status")).to_have_text("Signed off")
    sign_out(page)

    # 2. The risk officer sees the obligations appear, none met ---------------------------------
    sign_in(page, risk_officer, password)
    expect(page.locator("#dashboard-coverage")).to_contain_text(
        "0% of applicable obligations met (0 of 6)"
    )
    open_use_case(page, cv_ranking)
    duties = page.get_by_role("region", name="Obligations")
    expect(duties).to_contain_text("0 of 6 applicable obligations met (0%); 23 do not apply.")
    for ref, title in (
        ("Art. 4", "AI literacy"),
        ("Art. 26(1)", "Use in accordance with the instructions for use"),
        ("Art. 26(4)", "Input data relevant and representative"),
        ("Art. 26(11)", "Inform the people affected"),
    ):
        expect(obligation_row(duties, ref, title)).to_contain_text(
            "Not started No control covers it yet."
        )
    # Its control exists but has no evidence yet.
    expect(obligation_row(duties, OVERSIGHT, OVERSIGHT_TITLE)).to_contain_text(
        f"In progress {oversight_control.reference}: no current evidence yet."
    )
    duties.get_by_role("link", name="All obligations, with reasons").click()

    # Every item of the Act, with why it applies or not.
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Obligations of {cv_ranking.reference} {cv_ranking.title}"
    )
    expect(page.locator("#coverage-summary")).to_have_text(
        "0 of 6 applicable obligations met (0%); 0 overdue; 0 accepted by a risk officer."
    )
    expect(obligation_row(page, "Art. 26(1)", "Use in accordance")).to_contain_text(
        "We are its deployer, it is high risk."
    )
    expect(obligation_row(page, "Art. 9", "Risk management system")).to_contain_text(
        "No Not applicable Applies to the provider; our role is deployer."
    )

    # 3. The statement, downloaded as a PDF, names the obligations and where each stands -------
    text = download_statement(page, cv_ranking)
    assert f"Statement of Applicability: {cv_ranking.reference} {cv_ranking.title}" in text
    assert "29 items, 6 applicable, 0 met" in text
    assert (
        f"{OVERSIGHT} {OVERSIGHT_TITLE} Yes We are its deployer, it is high risk. In progress"
        in text
    )
    assert "Art. 26(1) Use in accordance with the instructions for use Yes" in text
    assert owner in text
    assert f"risk screening {reference}" in text
    assert "DRAFT: not signed" in text

    # 4. The control that meets Art. 26(2), and whose it is -----------------------------------
    open_control(page, oversight_control)
    facts = page.locator("dl")
    expect(facts).to_contain_text(re.compile(rf"Owner\s*{owner}"))
    expect(facts).to_contain_text(re.compile(rf"Covers\s*{cv_ranking.reference}"))
    expect(page.get_by_role("listitem").filter(has_text=OVERSIGHT)).to_have_text(
        f"eu-ai-act {OVERSIGHT} {OVERSIGHT_TITLE}"
    )
    no_errors(page_log)


def test_evidence_attached_to_the_control_meets_the_obligation_and_coverage_rises(
    risk_officer,
    password,
    cv_ranking,
    oversight_control,
    signed_screening,
    live_server,
    page,
    page_log,
):
    today = timezone.localdate()
    expires = today + timedelta(days=365)

    sign_in(page, risk_officer, password)
    open_use_case(page, cv_ranking)
    duties = page.get_by_role("region", name="Obligations")
    expect(duties).to_contain_text("0 of 6 applicable obligations met (0%)")
    expect(obligation_row(duties, OVERSIGHT, OVERSIGHT_TITLE)).to_contain_text("In progress")

    # The risk officer attaches a link to the control, with when it took effect and expires.
    open_control(page, oversight_control)
    expect(page.get_by_role("listitem").filter(has_text="None yet.")).to_be_visible()
    page.get_by_role("link", name="Attach evidence").click()
    expect(page.get_by_role("heading", name="Attach evidence", level=1)).to_be_visible()
    page.get_by_label("Title").fill(EVIDENCE)
    page.get_by_label("Link", exact=True).fill(EVIDENCE_LINK)
    page.get_by_label("Effective on").fill(today.isoformat())
    page.get_by_label("Expires on").fill(expires.isoformat())
    # The control whose page it came from is chosen already.
    expect(page.get_by_label("Controls", exact=True)).to_have_values([str(oversight_control.pk)])
    page.get_by_role("button", name="Attach").click()

    expect(page.locator(".messages")).to_contain_text(re.compile(r"EV-\d{4} attached\."))
    evidence = re.search(r"EV-\d{4}", page.locator(".messages").inner_text()).group()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"{evidence} {EVIDENCE}")
    facts = page.locator("dl")
    expect(facts).to_contain_text(re.compile(rf"Expires\s*{expires:%-d %b %Y}"))
    expect(facts.get_by_role("link", name=oversight_control.reference)).to_be_visible()
    facts.get_by_role("link", name=oversight_control.reference).click()
    expect(page.get_by_role("listitem").filter(has_text=evidence)).to_have_text(
        f"{evidence} {EVIDENCE}, effective {today:%-d %b %Y}, expires {expires:%-d %b %Y}"
    )

    # The obligation is met and the use case's coverage rises.
    open_use_case(page, cv_ranking)
    duties = page.get_by_role("region", name="Obligations")
    expect(duties).to_contain_text("1 of 6 applicable obligations met (17%)")
    expect(obligation_row(duties, OVERSIGHT, OVERSIGHT_TITLE)).to_contain_text(
        f"Met {evidence} ({oversight_control.reference}) until {expires:%d %b %Y}"
    )
    nav(page, "Compliance")
    expect(page.locator("#coverage-total")).to_contain_text(
        "17% of applicable obligations met: 1 of 6; 5 missing"
    )

    # The statement says so.
    page.get_by_role("link", name=f"{cv_ranking.reference} {cv_ranking.title}").click()
    text = download_statement(page, cv_ranking)
    assert "29 items, 6 applicable, 1 met" in text
    assert f"{OVERSIGHT} {OVERSIGHT_TITLE} Yes We are its deployer, it is high risk. Met" in text
    assert evidence in text
    no_errors(page_log)
