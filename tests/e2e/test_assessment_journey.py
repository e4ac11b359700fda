"""A DPIA from first answer to signed PDF, in a real browser, by the people the routing names.

A risk officer fills the ICO DPIA of a Retail use case that reads personal data, the DPO asks
for a change, the author makes it and resubmits, the DPO and a second risk officer approve,
and leadership signs off with their password and downloads the one-page summary.
"""

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from assessments.models import AssessmentTemplate
from portal.models import Role
from registry.models import Classification
from tests.e2e.journey_helpers import sign_in, sign_out
from tests.factories import DataSourceFactory, UseCaseFactory, UserFactory

pytestmark = [
    pytest.mark.e2e,
    # The live server is another thread with its own connection: data must be committed. The
    # flush after a transactional test also empties what migrations made (role groups, routing
    # rules, built-in templates); serialized_rollback puts them back for the tests that follow.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

SHOTS = Path("/tmp/e2e-shots")  # for people to look at; not kept in the repository
WIDTH = 1366

MEASURES_PLAN = "The fraud team adds analyst review to the release plan before the pilot."
MEASURES_FIXED = (
    "The fraud team lead owns the analyst-review rota; it is live before the pilot starts "
    "on 1 March, and the DPO checks it monthly."
)
COMMENT = "Who owns the analyst review, and by when is it in place?"
REPLY = "Named the owner and the date in the answer."
CHANGES = "Name an owner and a date for the measures."


@pytest.fixture
def dpia() -> AssessmentTemplate:
    """The built-in ICO DPIA a migration loaded, in its active version."""
    return AssessmentTemplate.objects.get(key="ico-dpia", active=True)


@pytest.fixture
def second_risk_officer(retail):
    # The author is a risk officer and may not review their own work: another one must.
    return UserFactory(username="ross.risk", roles=[Role.RISK_OFFICER], units=[retail])


@pytest.fixture
def card_fraud(retail, product_owner):
    payments = DataSourceFactory(
        business_unit=retail,
        owner=product_owner,
        name="Card payments",
        classification=Classification.CONFIDENTIAL,
        personal_data=True,
    )
    return UseCaseFactory(
        business_unit=retail,
        owner=product_owner,
        title="Card fraud scoring",
        purpose="Scores card payments for fraud so analysts can hold suspicious ones.",
        data_sources=[payments],
    )


# Helpers -------------------------------------------------------------------------------------
def answer(page: Page, label: str):
    """The control answering a question, by the start of its label.

    Anchored at the start: once comments are open, each question also has a box labelled
    “Comment on “<label>””.
    """
    return page.get_by_label(re.compile("^" + re.escape(label)))


def choose(page: Page, question: str, option: str) -> None:
    page.get_by_role("group", name=question).get_by_label(option, exact=True).check()


def save_and_continue(page: Page, next_title: str) -> None:
    page.get_by_role("button", name="Save and continue").click()
    expect(page.get_by_role("heading", name=next_title, level=1)).to_be_visible()
    expect(page.locator(".messages")).to_contain_text("Saved.")


def open_assessment(page: Page, reference: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Assessments").click()
    page.get_by_role("table").get_by_role("link", name=reference).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(reference)


def take_action(page: Page, action: str, reason: str = "") -> None:
    steps = page.get_by_role("region", name="Next step")
    if reason:
        steps.get_by_label(f"Reason ({action.lower()})").fill(reason)
    steps.get_by_role("button", name=action, exact=True).click()
    expect(page.locator(".messages")).to_contain_text(f"{action}: done.")


def status(page: Page):
    return page.get_by_test_id("status")


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / f"{name}.png", full_page=True)


# The journey ---------------------------------------------------------------------------------
# The data fixtures come before `page`: the browser must not be open while they write.
def test_a_dpia_goes_from_first_answer_to_a_signed_pdf(
    risk_officer,
    second_risk_officer,
    dpo,
    leadership,
    password,
    dpia,
    card_fraud,
    live_server,
    page,
    page_log,
):
    page.set_viewport_size({"width": WIDTH, "height": 900})

    # 1. The risk officer starts the DPIA from the use case ------------------------------------
    sign_in(page, risk_officer, password)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Use cases").click()
    page.get_by_role("link", name=card_fraud.title).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(card_fraud.title)
    page.get_by_role("region", name="Assessments").get_by_role(
        "link", name="Start an assessment"
    ).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Start an assessment of {card_fraud.reference} {card_fraud.title}"
    )
    page.get_by_label(re.compile(rf"^{re.escape(dpia.title)} \(version {dpia.version},")).check()
    page.get_by_role("button", name="Start").click()

    expect(page.get_by_role("heading", name="Step 1: Identify the need", level=1)).to_be_visible()
    started = page.locator(".messages").inner_text()
    reference = re.search(r"AS-\d{4}", started).group()
    expect(page.locator(".messages")).to_have_text(f"{reference} started. It saves as you type.")
    sections = page.get_by_role("navigation", name="Sections")
    expect(sections.get_by_role("listitem")).to_have_count(7)

    # Step 1, with "Save and continue".
    answer(page, "What does the project aim to achieve").fill(
        "Score every card payment for fraud in real time so analysts can hold suspicious ones."
    )
    kinds = page.get_by_role("group", name="Which of these kinds of processing")
    kinds.get_by_label("Innovative technology, including AI and machine learning").check()
    kinds.get_by_label("Combining, comparing or matching data from several sources").check()
    answer(page, "Why did you identify the need for a DPIA?").fill(
        "Machine learning over customers' payments, matched with device data."
    )
    save_and_continue(page, "Step 2: Describe the processing")

    # Step 2.
    answer(page, "The nature of the processing").fill(
        "Payments stream from the card platform; scores are kept 13 months, then deleted."
    )
    answer(page, "The scope of the processing").fill(
        "Every card payment of retail customers in the UK, about 2 million a day."
    )
    choose(page, "Does the data include special category data", "No")
    answer(page, "About how many people are affected?").fill("4000000")
    answer(page, "The context of the processing").fill(
        "Customers expect fraud checks; the bank's terms say payments are screened."
    )
    choose(page, "Do the people include children", "No")
    answer(page, "The purposes of the processing").fill(
        "Fewer fraud losses for customers and the bank, and fewer payments held wrongly."
    )
    choose(page, "Will decisions with legal or similarly significant effects", "No")
    save_and_continue(page, "Step 3: Consultation process")

    # Step 3, saved by autosave alone: type, wait for the save, reload, and it is still there.
    views = answer(page, "When and how will you seek the views")
    internal = answer(page, "Who else do you need to involve")
    views.fill("A customer panel in January; complaints about held payments are reviewed.")
    internal.fill("Information security, the fraud operations team and the model vendor.")
    saving = page.locator("#autosave-status")
    expect(saving).to_contain_text("All changes saved")
    # The section's progress counts the two answers without a reload.
    expect(sections.locator("[data-progress=consultation]")).to_have_text(re.compile(r"^2/"))
    page.reload()
    expect(page.get_by_role("heading", name="Step 3: Consultation process")).to_be_visible()
    expect(views).to_have_value(
        "A customer panel in January; complaints about held payments are reviewed."
    )
    expect(internal).to_have_value(
        "Information security, the fraud operations team and the model vendor."
    )
    expect(saving).to_be_empty()  # nothing restored from this browser: the server had it all
    sections.get_by_role("link", name="Step 4: Assess necessity and proportionality").click()

    # Step 4: the questions that depend on earlier answers stay hidden.
    expect(page.get_by_role("heading", name="Step 4: Assess necessity", level=1)).to_be_visible()
    choose(page, "What is your lawful basis for processing?", "Contract (Article 6(1)(b))")
    expect(page.get_by_role("group", name="Legitimate interests assessment")).to_be_hidden()
    expect(answer(page, "Which condition for processing special category")).to_be_hidden()
    answer(page, "Does the processing actually achieve your purpose?").fill(
        "Rules alone miss new fraud patterns; the model only scores, analysts decide."
    )
    answer(page, "How will you ensure data quality").fill(
        "Only payment fields the model needs; features are reviewed each quarter."
    )
    answer(page, "What information will you give people").fill(
        "The privacy notice explains screening; held payments can be released by phone."
    )
    choose(page, "Will personal data be transferred outside the UK?", "No")
    expect(answer(page, "How do you safeguard the international transfers?")).to_be_hidden()
    save_and_continue(page, "Step 5: Identify and assess risks")

    # Step 5: the risk table.
    page.get_by_label("Risk 1", exact=True).fill(
        "A genuine payment is held and the customer cannot pay"
    )
    page.get_by_label("Likelihood of risk 1", exact=True).select_option(label="Possible")
    page.get_by_label("Severity of risk 1", exact=True).select_option(label="Significant")
    page.get_by_label("Measures for risk 1", exact=True).fill(
        "An analyst reviews every hold within 15 minutes"
    )
    page.get_by_label("Effect on risk 1", exact=True).select_option(label="Reduced")
    page.get_by_label("Residual risk 1", exact=True).select_option(label="Low")
    page.get_by_label("Measure 1 approved", exact=True).check()
    save_and_continue(page, "Step 6: Identify measures to reduce risk")
    # Back to the table: the row was kept, and the server rated it (possible × significant).
    page.get_by_role("link", name="Previous section").click()
    expect(page.get_by_label("Likelihood of risk 1", exact=True)).to_have_value("possible")
    expect(page.get_by_label("Residual risk 1", exact=True)).to_have_value("low")
    risk_rows = page.get_by_role("table").get_by_role("row")
    expect(risk_rows.nth(1)).to_contain_text("Medium")
    expect(risk_rows).to_have_count(3)  # the header, the risk, and a blank row for another
    shot(page, "section-risk-table")
    sections.get_by_role("link", name="Step 6: Identify measures to reduce risk").click()

    # Step 6.
    expect(page.get_by_role("heading", name="Step 6: Identify measures", level=1)).to_be_visible()
    answer(page, "How will the measures in the risk table be built into the project plan").fill(
        MEASURES_PLAN
    )
    save_and_continue(page, "Step 7: Sign off and record outcomes")

    # Step 7: the reasons question appears only once the DPO's advice is said to be refused.
    answer(page, "Measures approved by").fill("Sam Patel, Head of Fraud Operations")
    answer(page, "Residual risks approved by").fill("Jo Reid, Chief Risk Officer")
    answer(page, "Summary of the DPO's advice").fill(
        "Proceed; publish the screening in the privacy notice first."
    )
    overruled = answer(page, "Who overruled the DPO's advice, and why?")
    expect(overruled).to_be_hidden()
    choose(page, "Was the DPO's advice accepted?", "No")
    expect(overruled).to_be_visible()
    choose(page, "Was the DPO's advice accepted?", "Yes")
    expect(overruled).to_be_hidden()
    answer(page, "Consultation responses reviewed by").fill("Sam Patel, Head of Fraud Operations")
    answer(page, "This DPIA will be kept under review by").fill("Dana, Data Protection Officer")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".messages")).to_contain_text("Saved.")
    expect(answer(page, "This DPIA will be kept under review by")).to_have_value(
        "Dana, Data Protection Officer"
    )
    shot(page, "section-sign-off")
    page.get_by_role("link", name="Back to the overview").click()

    # 2. The author submits from the overview ----------------------------------------------------
    expect(page.get_by_role("heading", level=1)).to_contain_text(reference)
    expect(status(page)).to_have_text("Draft")
    expect(page.locator("#missing")).to_have_count(0)
    expect(page.get_by_test_id("result")).to_contain_text("Low residual risk")
    take_action(page, "Submit for review")
    expect(status(page)).to_have_text("Submitted")
    # Routed by role, each to the one person who fits: the author may not review their own.
    reviewers = page.get_by_role("region", name="Reviewers and approver")
    ross, dana, lee = (p.get_full_name() for p in (second_risk_officer, dpo, leadership))
    expect(reviewers).to_contain_text(f"Risk officer — {ross} (review) Pending")
    expect(reviewers).to_contain_text(f"Data protection officer — {dana} (review) Pending")
    expect(reviewers).to_contain_text(f"Leadership — {lee} (approve and sign off) Pending")
    shot(page, "overview-submitted")
    sign_out(page)

    # The DPO starts the review, comments on one question and asks for changes.
    sign_in(page, dpo, password)
    page.get_by_role("link", name="1 assessment waiting for your review").click()
    page.get_by_role("table").get_by_role("link", name=reference).click()
    take_action(page, "Start review")
    expect(status(page)).to_have_text("In review")
    page.get_by_role("region", name="Sections").get_by_role(
        "link", name="Step 6: Identify measures to reduce risk"
    ).click()
    expect(page.get_by_role("status").filter(has_text="you are reading it")).to_be_visible()
    measures = page.locator("#q-measures_plan")
    expect(measures).to_contain_text(MEASURES_PLAN)
    measures.get_by_text("Comment on this question").click()
    measures.get_by_label("Comment on “How will the measures").fill(COMMENT)
    measures.get_by_role("button", name="Add comment").click()
    expect(page.locator(".messages")).to_have_text("Comment added.")
    expect(page.locator("#q-measures_plan article")).to_contain_text(COMMENT)
    page.get_by_role("link", name="Back to the overview").click()
    take_action(page, "Request changes", reason=CHANGES)
    expect(status(page)).to_have_text("Changes requested")
    sign_out(page)

    # 3. The author sees the comment, fixes the answer, replies and resubmits --------------------
    sign_in(page, risk_officer, password)
    open_assessment(page, reference)
    expect(status(page)).to_have_text("Changes requested")
    expect(reviewers).to_contain_text(f"(review) Changes requested {dana},")
    expect(reviewers).to_contain_text(CHANGES)
    comments = page.get_by_role("region", name="Review comments")
    expect(comments).to_contain_text("1 open")
    thread = comments.get_by_role("article").filter(has_text=COMMENT)
    expect(thread).to_contain_text(dana)
    thread.get_by_role("link", name=re.compile("^How will the measures")).click()

    expect(page.get_by_role("heading", name="Step 6: Identify measures", level=1)).to_be_visible()
    plan = answer(page, "How will the measures in the risk table be built into the project plan")
    expect(plan).to_have_value(MEASURES_PLAN)
    plan.fill(MEASURES_FIXED)
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".messages")).to_have_text("Saved.")
    expect(plan).to_have_value(MEASURES_FIXED)
    thread = page.locator("#q-measures_plan").get_by_role("article")
    thread.get_by_label("Reply").fill(REPLY)
    thread.get_by_role("button", name="Reply").click()
    expect(page.locator(".messages")).to_have_text("Comment added.")
    expect(page.locator("#q-measures_plan").get_by_role("article")).to_contain_text(REPLY)
    page.get_by_role("link", name="Back to the overview").click()
    take_action(page, "Submit for review")
    expect(status(page)).to_have_text("Submitted")
    sign_out(page)

    # 4. Both reviewers approve ------------------------------------------------------------------
    sign_in(page, dpo, password)
    open_assessment(page, reference)
    thread = page.get_by_role("region", name="Review comments").get_by_role("article")
    expect(thread).to_contain_text(REPLY)
    thread.get_by_role("button", name="Mark resolved").click()
    expect(page.locator(".messages")).to_have_text("Comment resolved.")
    expect(page.get_by_role("region", name="Review comments")).to_contain_text("0 open")
    take_action(page, "Start review")
    take_action(page, "Approve")
    expect(status(page)).to_have_text("In review")  # the other risk officer has yet to approve
    sign_out(page)

    sign_in(page, second_risk_officer, password)
    open_assessment(page, reference)
    expect(status(page)).to_have_text("In review")
    take_action(page, "Approve")
    expect(status(page)).to_have_text("Approved")
    expect(reviewers).to_contain_text(f"Risk officer — {ross} (review) Approved")
    expect(reviewers).to_contain_text(f"Data protection officer — {dana} (review) Approved")
    sign_out(page)

    # 5. Leadership signs off, after one wrong password, and downloads the summary -------------
    sign_in(page, leadership, password)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Sign-off queue").click()
    expect(page.get_by_role("heading", name="Awaiting your sign-off", level=1)).to_be_visible()
    queued = page.get_by_role("listitem").filter(has_text=reference)
    expect(queued).to_contain_text(card_fraud.title)
    queued.get_by_role("link", name="Review and sign").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Sign off {reference}")

    note = "Proceed once the privacy notice is updated."
    secret = page.get_by_label("Your password")
    secret.fill("not-my-password")
    page.get_by_label("Note (optional)").fill(note)
    page.get_by_role("button", name="Sign off").click()
    expect(page.get_by_role("alert")).to_contain_text("Please fix 1 problem below.")
    expect(secret).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#id_password_errors")).to_have_text("Enter your own password to sign.")
    expect(page.get_by_label("Note (optional)")).to_have_value(note)
    expect(secret).to_have_value("")
    shot(page, "sign-off-wrong-password")
    expect(secret).to_have_accessible_description(re.compile("Enter your own password to sign."))
    secret.fill(password)
    page.get_by_role("button", name="Sign off").click()

    expect(page.locator(".messages")).to_have_text(f"You signed off {reference}.")
    expect(status(page)).to_have_text("Signed off")
    signed = page.get_by_role("region", name="Sign-off")
    expect(signed).to_contain_text(f"I, {lee}, sign off {reference}")
    expect(page.get_by_test_id("sha256")).to_have_text(re.compile(r"^[0-9a-f]{64}$"))
    expect(signed).to_contain_text("verified")
    expect(reviewers).to_contain_text(f"Leadership — {lee} (approve and sign off) Signed off")
    expect(reviewers).to_contain_text(note)
    shot(page, "overview-signed-off")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="One-page summary (PDF)").click()
    download = download_info.value
    assert download.suggested_filename == f"{reference}-summary-signed.pdf"
    assert Path(download.path()).read_bytes().startswith(b"%PDF")

    # Everything came from the live server (data: URIs are inline images in Bootstrap's CSS).
    server = urlsplit(live_server.url)
    outside = [
        url
        for url in page_log.requests
        if urlsplit(url).scheme != "data" and urlsplit(url).netloc != server.netloc
    ]
    assert not outside, "\n".join(outside)
    assert any(url.endswith("/js/assessment.js") for url in page_log.requests)
    # No console errors: Content-Security-Policy violations would show here. Requests the
    # browser itself abandoned are left out: the PDF link's navigation, which became the
    # download, and a favicon still loading when a quick test moves to the next page. A
    # server error shows as its HTTP status, and a blocked request with a reason of its own.
    errors = [e for e in page_log.errors if not e.endswith(" net::ERR_ABORTED")]
    assert not errors, "\n".join(errors)
