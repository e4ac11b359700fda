"""Model card exports: HTML, Markdown and PDF from the page and the API, with the registry's
facts, each section, the completeness score; card text escaped; who may download them."""

import io
import re

import pytest
from django.urls import reverse
from pypdf import PdfReader
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from registry import model_cards
from registry.models import MODEL_CARD_SECTIONS, Deployment, ModelApproval, ModelCard
from tests.factories import (
    AIModelFactory,
    ModelVersionFactory,
    PilotUseCaseFactory,
    complete_card,
)

pytestmark = pytest.mark.django_db

CONTENT_TYPES = {
    "html": "text/html; charset=utf-8",
    "md": "text/markdown; charset=utf-8",
    "pdf": "application/pdf",
}
INTENDED_USE = "Scores card payments for fraud so analysts look at the riskiest ones first."


@pytest.fixture
def model(retail, product_owner):
    return AIModelFactory(
        business_unit=retail,
        owner=product_owner,
        name="Fraud scorer",
        provider="Acme AI",
        hosting_pattern="api_first",
        data_destination="external_api",
        risk_tier="high",
    )


@pytest.fixture
def version(model):
    return ModelVersionFactory(model=model, version="1.2", stage="canary")


@pytest.fixture
def older_version(model):
    return ModelVersionFactory(model=model, version="1.1", stage="retired")


@pytest.fixture
def deployment(retail, product_owner, version, admin_user):
    use_case = PilotUseCaseFactory(business_unit=retail, owner=product_owner)
    ModelApproval.objects.create(use_case=use_case, model=version.model, approved_by=admin_user)
    return Deployment.objects.create(
        use_case=use_case, model_version=version, environment="staging", traffic_share=25
    )


@pytest.fixture
def card(version):
    """Two sections written, one too short, the rest empty."""
    return ModelCard.objects.create(
        model_version=version,
        sections={
            "intended_use": INTENDED_USE,
            "metrics": "Precision at the top 1% of alerts, recall, and the false-positive rate.",
            "factors": "Too short.",
        },
    )


def export_url(version, fmt: str) -> str:
    return reverse("registry:model-version-card-export", args=[version.pk, fmt])


def api_url(version, fmt: str | None = None) -> str:
    base = reverse("api-model-version-card-export", args=[version.pk])
    return f"{base}?format={fmt}" if fmt else base


def token_client(user) -> APIClient:
    token, _ = Token.objects.get_or_create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def pdf_text(content: bytes) -> str:
    reader = PdfReader(io.BytesIO(content))
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


def flat(text: str) -> str:
    return "".join(text.split())


def text_of(response) -> str:
    if response["Content-Type"] == "application/pdf":
        return pdf_text(response.content)
    return response.content.decode()


def facts_in(text: str, version, deployment) -> None:
    """The facts the registry fills in, in whichever format (compared without spaces, as a
    PDF breaks lines where its layout does)."""
    model = version.model
    owner = model.owner.get_full_name() or model.owner.username
    for fact in [
        model.reference,
        model.name,
        "Acme AI",  # provider
        "API-first",  # hosting
        owner,
        "High",  # risk tier
        "1.2 (canary)",
        "1.1 (retired)",  # every version
        deployment.use_case.reference,
        "staging, 25%",
    ]:
        assert flat(fact) in flat(text), fact


# Each format -----------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["html", "md", "pdf"])
def test_export_downloads_with_content_type_filename_facts_and_sections(
    client, product_owner, version, older_version, deployment, card, fmt
):
    client.force_login(product_owner)
    response = client.get(export_url(version, fmt))
    assert response.status_code == 200
    assert response["Content-Type"] == CONTENT_TYPES[fmt]
    reference = version.model.reference
    assert response["Content-Disposition"] == (
        f'attachment; filename="{reference}-1.2-model-card.{fmt}"'
    )
    assert response["Cache-Control"] == "private"
    text = text_of(response)
    facts_in(text, version, deployment)
    assert flat(INTENDED_USE) in flat(text)
    assert flat("Precision at the top 1% of alerts") in flat(text)
    assert "Completeness: 20%" in text  # two of ten sections written
    assert "Not written yet" in text
    for title in ("Factors", "Training data", "Caveats and recommendations"):
        assert title in text  # among the missing, and a section heading of its own
    assert "Too short to count as written" in text


@pytest.mark.parametrize("fmt", ["html", "md", "pdf"])
def test_export_carries_the_date(client, auditor, version, card, fmt):
    client.force_login(auditor)
    text = text_of(client.get(export_url(version, fmt)))
    made = model_cards.timezone.localtime(card.updated_at)
    assert made.strftime("%Y") in text
    assert re.search(r"Exported (from \S+ )?on", text)


def test_a_version_without_a_card_exports_every_section_as_not_written(client, auditor, version):
    client.force_login(auditor)
    text = client.get(export_url(version, "md")).content.decode()
    assert "**Completeness: 0%**" in text
    assert text.count("_Not written yet._") == len(MODEL_CARD_SECTIONS)
    assert "The card has not been edited yet." in text


def test_a_complete_card_says_every_section_is_written(client, auditor, version):
    complete_card(version)
    client.force_login(auditor)
    for fmt in ("html", "md"):
        text = text_of(client.get(export_url(version, fmt)))
        assert "Completeness: 100%" in text
        assert "Every section is written." in text
        assert "Not written yet" not in text


def test_markdown_has_a_heading_per_section_and_a_facts_table(client, auditor, version, card):
    client.force_login(auditor)
    text = client.get(export_url(version, "md")).content.decode()
    lines = text.splitlines()
    assert lines[0] == f"# Model card: {version.model.reference} Fraud scorer 1.2"
    headings = [line for line in lines if line.startswith("## ")]
    assert headings == ["## What the registry knows"] + [
        f"## {title}" for _, title, _ in MODEL_CARD_SECTIONS
    ]
    assert "| Fact | Value |" in lines
    assert "| Provider | Acme AI |" in lines


def test_pdf_reads_back_with_the_model_name_and_a_section(client, auditor, version, card):
    client.force_login(auditor)
    response = client.get(export_url(version, "pdf"))
    reader = PdfReader(io.BytesIO(response.content))
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (595, 842)  # A4
    text = pdf_text(response.content)
    assert "Fraud scorer" in text
    assert flat(INTENDED_USE) in flat(text)
    assert "Still missing" in text


def test_html_export_is_self_contained(client, auditor, version, card):
    client.force_login(auditor)
    html = client.get(export_url(version, "html")).content.decode()
    assert html.startswith("<!doctype html>")
    assert "<style>" in html
    # Nothing is fetched when the file opens: no scripts, stylesheets, images or imports.
    for loads in ("<link", "<script", "<img", "src=", "@import", "url("):
        assert loads not in html


def test_unknown_format_is_not_found(client, auditor, version):
    client.force_login(auditor)
    assert client.get(export_url(version, "docx")).status_code == 404


# Escaping --------------------------------------------------------------------------------
HOSTILE = {
    "intended_use": "<script>alert(1)</script> is what this section says, and a bit more.",
    "metrics": "# not a heading\n## nor this\n```\n> not a quote\n- not a list\n1. nor this\n"
    "[a link](javascript:alert(1)) ![pixel](https://tracker.example/p.png) | a | cell |\n"
    "Setext underline below\n---",
    "caveats": "    indented\n===",
}


def section_lines(lines: list[str], title: str) -> list[str]:
    start = lines.index(f"## {title}") + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("## ")), len(lines))
    return [line for line in lines[start:end] if line]


@pytest.fixture
def hostile_card(version):
    return ModelCard.objects.create(model_version=version, sections=HOSTILE)


def test_card_text_is_escaped_in_the_html_export(client, auditor, version, hostile_card):
    client.force_login(auditor)
    html = client.get(export_url(version, "html")).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_card_text_cannot_make_structure_in_the_markdown_export(
    client, auditor, version, hostile_card
):
    client.force_login(auditor)
    text = client.get(export_url(version, "md")).content.decode()
    lines = text.splitlines()
    assert "\\# not a heading\\" in lines
    assert not any(line.startswith(("# not", "## nor")) for line in lines)
    # No line of the card's text opens a fence, a quote, a list, a setext underline or code.
    written = section_lines(lines, "Metrics") + section_lines(lines, "Caveats and recommendations")
    assert len(written) == 9 + 2 + 1  # the lines typed, and the "too short" note
    assert not any(re.match(r"(```|>|- |1\.|---$|===$| {4})", line) for line in written)
    # No raw HTML, link or image survives.
    assert "<script>" not in text
    assert "\\<script\\>alert(1)\\</script\\>" in text
    assert "](javascript:" in text and "\\[a link\\](javascript:" in text
    assert "!\\[pixel\\]" in text
    assert "\\| a \\| cell \\|" in text
    # The section headings are all still there, in order.
    assert [line for line in lines if line.startswith("## ")][1:] == [
        f"## {title}" for _, title, _ in MODEL_CARD_SECTIONS
    ]


def test_markdown_block_escaping():
    assert model_cards.md_block("# one\n\n\n+ two\n3) three\n  ~~~") == (
        "\\# one\n\n\\+ two\\\n3\\) three\\\n\\~~~"
    )
    assert model_cards.md_inline("a_b *c* `d` #e") == "a\\_b \\*c\\* \\`d\\` \\#e"


def test_hostile_card_still_renders_a_pdf(client, auditor, version, hostile_card):
    client.force_login(auditor)
    response = client.get(export_url(version, "pdf"))
    assert response.status_code == 200
    assert "<script>alert(1)</script>" in pdf_text(response.content)  # shown as text


# Who may download ------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["html", "md", "pdf"])
def test_outsider_may_export_the_firm_wide_catalogue(client, outsider, version, card, fmt):
    client.force_login(outsider)
    response = client.get(export_url(version, fmt))
    assert response.status_code == 200
    assert flat(INTENDED_USE) in flat(text_of(response))


def test_outsider_export_does_not_name_use_cases_they_may_not_see(
    client, outsider, version, deployment, card
):
    client.force_login(outsider)
    text = client.get(export_url(version, "md")).content.decode()
    assert deployment.use_case.reference not in text
    assert "| Deployed in | Not deployed |" in text


@pytest.mark.parametrize("fmt", ["html", "md", "pdf"])
def test_anonymous_export_is_redirected_to_sign_in(client, version, card, fmt):
    response = client.get(export_url(version, fmt))
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


def test_export_of_a_missing_version_is_not_found(client, auditor):
    client.force_login(auditor)
    assert (
        client.get(reverse("registry:model-version-card-export", args=[999999, "md"])).status_code
        == 404
    )


def test_version_page_links_the_three_exports(client, outsider, version):
    client.force_login(outsider)
    page = client.get(version.get_absolute_url()).content.decode()
    for fmt in ("html", "md", "pdf"):
        assert f'href="{export_url(version, fmt)}"' in page


def test_export_reads_a_bounded_number_of_queries(
    client, auditor, version, older_version, deployment, card, django_assert_max_num_queries
):
    client.force_login(auditor)
    with django_assert_max_num_queries(12):
        assert client.get(export_url(version, "md")).status_code == 200


# The API ---------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["html", "md", "pdf"])
def test_api_export_answers_each_format(
    product_owner, version, older_version, deployment, card, fmt
):
    response = token_client(product_owner).get(api_url(version, fmt))
    assert response.status_code == 200
    assert response["Content-Type"] == CONTENT_TYPES[fmt]
    assert response["Content-Disposition"] == (
        f'attachment; filename="{version.model.reference}-1.2-model-card.{fmt}"'
    )
    text = text_of(response)
    facts_in(text, version, deployment)
    assert flat(INTENDED_USE) in flat(text)


def test_api_export_defaults_to_html(auditor, version):
    response = token_client(auditor).get(api_url(version))
    assert response.status_code == 200
    assert response["Content-Type"] == CONTENT_TYPES["html"]


def test_api_export_refuses_an_unknown_format(auditor, version):
    response = token_client(auditor).get(api_url(version, "docx"))
    assert response.status_code == 400
    assert "format" in response.json()


def test_api_outsider_may_export(outsider, version, card):
    response = token_client(outsider).get(api_url(version, "md"))
    assert response.status_code == 200
    assert INTENDED_USE in response.content.decode()


def test_api_anonymous_export_gets_401(version):
    assert APIClient().get(api_url(version, "md")).status_code == 401


def test_api_export_of_a_missing_version_is_404(auditor):
    url = reverse("api-model-version-card-export", args=[999999]) + "?format=md"
    assert token_client(auditor).get(url).status_code == 404


def test_schema_documents_the_export(auditor):
    schema = token_client(auditor).get(reverse("api-schema"), {"format": "json"}).json()
    path = next(p for p in schema["paths"] if p.endswith("/model-versions/{id}/card/export/"))
    operation = schema["paths"][path]["get"]
    assert set(operation["responses"]["200"]["content"]) == {
        "text/html",
        "text/markdown",
        "application/pdf",
    }
    (param,) = [p for p in operation["parameters"] if p["name"] == "format"]
    assert param["schema"]["enum"] == ["html", "md", "pdf"]
