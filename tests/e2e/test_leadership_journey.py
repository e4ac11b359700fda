"""Leadership reads the portfolio, follows a figure to its list, and signs the board pack, in a
real browser (issue 17).

Lena leads in Retail Banking and sees its use cases: three high risk, two of them live, one of
which the go-live gate refused; Corporate Banking's high-risk model is not hers to see. She
opens the portfolio, follows the high-risk count and the go-live figure to the register
filtered behind them, whose rows match the figures. Then she opens the board packs, makes last
month's, signs it with her password (a wrong one is refused first), sees it signed with its
SHA-256 verified, and downloads the signed PDF: it names her and carries the same hash.
"""

import io
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect
from pypdf import PdfReader

from dashboard.board_pack import previous_month
from portal.models import Role
from registry.models import GateCheck, RiskTier
from tests.e2e.journey_helpers import sign_in
from tests.factories import ProductionUseCaseFactory, UseCaseFactory, UserFactory
from tests.readiness import DEADLINE_SECONDS

pytestmark = [
    pytest.mark.e2e,
    # The live server is another thread with its own connection: data must be committed, and
    # serialized_rollback puts back what migrations made.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

LEADER = "Lena Hughes"
PASSING = "Mortgage affordability check"
FAILING = "Card fraud scoring"
PROPOSED = "Credit limit advisor"
LIMITED = "Branch chatbot"
HIDDEN = "Trade surveillance"
NOTE = "Discuss card fraud scoring before the board."


@pytest.fixture
def leader(retail):
    return UserFactory(
        username="lena.lead",
        first_name="Lena",
        last_name="Hughes",
        roles=[Role.LEADERSHIP],
        units=[retail],
    )


@pytest.fixture
def firm(retail, corporate, product_owner):
    """Retail's three high-risk use cases (two live: the gate passed one and refused the
    other) and one limited-risk one; Corporate's high-risk live one, which Lena cannot see."""
    high = {"business_unit": retail, "owner": product_owner, "risk_tier": RiskTier.HIGH}
    passing = ProductionUseCaseFactory(title=PASSING, **high)
    failing = ProductionUseCaseFactory(title=FAILING, **high)
    UseCaseFactory(title=PROPOSED, **high)
    UseCaseFactory(
        title=LIMITED, business_unit=retail, owner=product_owner, risk_tier=RiskTier.LIMITED
    )
    hidden = ProductionUseCaseFactory(
        title=HIDDEN, business_unit=corporate, risk_tier=RiskTier.HIGH
    )
    GateCheck.objects.create(use_case=passing, source="page", passed=True, checks=[])
    GateCheck.objects.create(use_case=failing, source="page", passed=False, checks=[])
    GateCheck.objects.create(use_case=hidden, source="page", passed=False, checks=[])


def pdf_text(content: bytes) -> str:
    reader = PdfReader(io.BytesIO(content))
    return " ".join(" ".join((page.extract_text() or "").split()) for page in reader.pages)


def open_portfolio(page: Page) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Portfolio").click()
    expect(page.get_by_role("heading", name="Portfolio", level=1)).to_be_visible()


def the_register_shows(page: Page, count: int, titles: list[str]) -> None:
    """The filtered register: its count, and exactly these rows."""
    expect(page.get_by_role("heading", name="Use-case register", level=1)).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="use case")).to_have_text(
        f"{count} use case{'s' if count != 1 else ''}"
    )
    table = page.get_by_role("table", name=re.compile("^Use cases"))
    rows = table.locator("tbody tr")
    expect(rows).to_have_count(count)
    for title in titles:
        expect(rows.filter(has=page.get_by_role("link", name=title, exact=True))).to_have_count(1)


def back_to_the_list(page: Page, reference: str):
    """From a pack's page to the list, by the breadcrumb: the pack's row."""
    crumbs = page.get_by_role("navigation", name="Breadcrumb")
    crumbs.get_by_role("link", name="Board packs").click()
    expect(page.get_by_role("heading", name="Board packs", level=1)).to_be_visible()
    return page.get_by_role("row").filter(has=page.get_by_role("link", name=reference))


# The data fixtures come before `page`: the browser must not be open while they write.
def test_leadership_follows_the_figures_then_signs_and_downloads_the_board_pack(
    leader, password, firm, live_server, page: Page, page_log
):
    sign_in(page, leader, password)
    open_portfolio(page)

    # A headline figure: high-risk use cases, in the tier table.
    tiers = page.get_by_role("region", name="By risk tier")
    high_row = tiers.get_by_role("row").filter(
        has=page.get_by_role("cell", name="High risk", exact=True)
    )
    high_link = high_row.get_by_role("link")
    expect(high_link).to_have_text("3")
    high_count = int(high_link.inner_text())
    high_link.click()
    expect(page).to_have_url(re.compile(r"/register/use-cases/\?tier=high$"))
    the_register_shows(page, high_count, [PASSING, FAILING, PROPOSED])
    expect(page.get_by_label("Tier", exact=True)).to_have_value("high")
    rows = page.get_by_role("table", name=re.compile("^Use cases")).locator("tbody tr")
    expect(rows.filter(has_text="High risk")).to_have_count(high_count)
    expect(page.get_by_role("link", name=HIDDEN)).to_have_count(0)
    expect(page.get_by_role("link", name=LIMITED)).to_have_count(0)

    # Another: live use cases passing the go-live gate, and the one that fails it.
    open_portfolio(page)
    gate = page.get_by_role("link", name=re.compile("live use cases? pass the go-live gate"))
    expect(page.locator("#kpi-gate")).to_have_text("50.0%")
    expect(gate).to_contain_text("of 2 live use cases pass the go-live gate")
    failing = page.get_by_role("region", name="Live but failing the gate")
    expect(failing.get_by_role("listitem")).to_have_count(1)
    expect(failing.get_by_role("listitem")).to_contain_text(FAILING)
    live_count = int(re.search(r"of (\d+) live", gate.inner_text()).group(1))
    gate.click()
    expect(page).to_have_url(re.compile(r"/register/use-cases/\?lifecycle=production$"))
    the_register_shows(page, live_count, [PASSING, FAILING])
    expect(page.get_by_label("Lifecycle", exact=True)).to_have_value("production")

    # The board packs: none yet; last month's is made from the page.
    open_portfolio(page)
    page.get_by_role("link", name="Board packs").click()
    expect(page.get_by_role("heading", name="Board packs", level=1)).to_be_visible()
    expect(page.get_by_role("cell", name="No board pack yet.")).to_be_visible()
    # The form's dates come prefilled as 01/11/2026 (en-gb), which a date input does not
    # take, so Chromium shows them empty; she types last month's in.
    start, end = previous_month(timezone.localdate())
    page.get_by_label("Start").fill(start.isoformat())
    page.get_by_label("End").fill(end.isoformat())
    page.get_by_role("button", name="Make it").click()
    expect(page.locator(".messages")).to_contain_text("made; read it, then sign it.")
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_contain_text(
        f" board pack, {start.day} {start:%b %Y} – {end.day} {end:%b %Y}"
    )
    reference = heading.inner_text().split(" ", 1)[0]
    assert re.fullmatch(r"BP-\d+", reference), reference
    expect(page.locator(".messages")).to_have_text(f"{reference} made; read it, then sign it.")

    # It is listed as a draft.
    listed = back_to_the_list(page, reference)
    expect(listed).to_contain_text("Draft")
    listed.get_by_role("link", name=reference).click()

    # Signing: a wrong password is refused, hers is taken.
    secret = page.get_by_label("Your password")
    secret.fill("not-my-password")
    page.get_by_label("Note (optional)").fill(NOTE)
    page.get_by_role("button", name="Sign", exact=True).click()
    expect(page.locator("#id_password_errors")).to_have_text("Enter your own password to sign.")
    expect(secret).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Note (optional)")).to_have_value(NOTE)
    secret.fill(password)
    page.get_by_role("button", name="Sign", exact=True).click()
    expect(page.locator(".messages")).to_have_text(f"You signed {reference}.")
    expect(page.get_by_role("button", name="Sign", exact=True)).to_have_count(0)
    expect(page.get_by_text(f"Signed by {LEADER}")).to_be_visible()
    expect(page.get_by_text(f"“{NOTE}”")).to_be_visible()
    signed = page.locator("section").filter(has_text="SHA-256 of exactly what was signed")
    sha256 = signed.locator("code")
    expect(sha256).to_have_text(re.compile(r"^[0-9a-f]{64}$"))
    expect(signed).to_contain_text("verified")
    expect(signed).not_to_contain_text("does not verify")
    shown_hash = sha256.inner_text()

    # The PDF: signed, naming her, with the hash shown on the page.
    link = page.get_by_role("link", name="Download the board pack (PDF)")
    # Laying out the pack takes a while on a loaded machine; the click starts it.
    with page.expect_download(timeout=DEADLINE_SECONDS * 1000) as download_info:
        link.click()
    download = download_info.value
    assert download.suggested_filename == f"{reference}-board-pack-signed.pdf"
    assert download.suggested_filename.endswith("-signed.pdf")
    content = Path(download.path()).read_bytes()
    assert content.startswith(b"%PDF")
    text = pdf_text(content)
    assert f"Signed by {LEADER}" in text
    assert NOTE in text
    assert shown_hash in "".join(text.split())
    assert "DRAFT" not in text

    # The list says who signed it.
    listed = back_to_the_list(page, reference)
    expect(listed).to_contain_text(f"by {LEADER}")
    expect(listed).not_to_contain_text("Draft")

    # Everything came from the live server (data: URIs are inline images in Bootstrap's CSS).
    server = urlsplit(live_server.url)
    outside = [
        url
        for url in page_log.requests
        if urlsplit(url).scheme != "data" and urlsplit(url).netloc != server.netloc
    ]
    assert not outside, "\n".join(outside)
    # The PDF link's navigation, which became the download, is abandoned by the browser.
    errors = [e for e in page_log.errors if not e.endswith(" net::ERR_ABORTED")]
    assert not errors, "\n".join(errors)
