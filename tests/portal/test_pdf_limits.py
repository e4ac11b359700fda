"""PDFs cannot run away: long unbroken words are laid out in linear time, and a layout past
PDF_RENDER_TIMEOUT_SECONDS is stopped and answered with 503 and a message, on the pages and
the API alike (issue 13, finding 1)."""

import io
import logging
import re
import time

import pytest
from django.urls import reverse
from pypdf import PdfReader
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from portal.pdf import BREAK, breakable, run_with_deadline
from registry.models import MODEL_CARD_SECTIONS, ModelCard
from tests.factories import AIModelFactory, ModelVersionFactory

pytestmark = pytest.mark.django_db

# The most a card section accepts (registry/forms/ai_models.py), with no space anywhere.
LONG_WORD = "W" * 20_000


@pytest.fixture
def version(retail, product_owner):
    model = AIModelFactory(business_unit=retail, owner=product_owner, name="Scorer")
    return ModelVersionFactory(model=model, version="1.0", stage="canary")


def card_pdf_url(version) -> str:
    return reverse("registry:model-version-card-export", args=[version.pk, "pdf"])


def pdf_text(content: bytes) -> str:
    reader = PdfReader(io.BytesIO(content))
    text = "".join(page.extract_text() for page in reader.pages)
    return "".join(text.replace(BREAK, "").split())


def test_long_words_get_break_opportunities_and_hashes_stay_whole():
    sha = "ab" * 32  # a SHA-256 in hex, as sign-offs print it
    text = f"{sha} {'x' * 100} short words"
    broken = breakable(text)
    assert broken.startswith(sha + " ")
    assert broken.replace(BREAK, "") == text
    assert max(len(run) for run in broken.replace(" ", BREAK).split(BREAK)) <= 64


@pytest.mark.django_db(transaction=False)
def test_a_card_of_unbroken_20000_character_sections_renders_quickly_and_whole(
    client, auditor, version, settings
):
    # Before: WeasyPrint broke such words in quadratic time (73 s for a card like this one).
    settings.PDF_RENDER_TIMEOUT_SECONDS = 60
    ModelCard.objects.create(
        model_version=version,
        sections={key: LONG_WORD for key, _, _ in MODEL_CARD_SECTIONS[:3]},
    )
    client.force_login(auditor)
    started = time.monotonic()
    response = client.get(card_pdf_url(version))
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    # Every character printed, across lines and pages (footers come between the pages' parts).
    runs = re.findall(r"W{20,}", pdf_text(response.content))
    assert sum(len(run) for run in runs) == 3 * len(LONG_WORD)
    assert elapsed < 30, f"the card took {elapsed:.0f} s"


@pytest.fixture
def slow_card(version):
    """A card far from quick to lay out: every section full of prose."""
    prose = "Written out in full for the reviewers who rely on this model card. " * 250
    return ModelCard.objects.create(
        model_version=version, sections={key: prose for key, _, _ in MODEL_CARD_SECTIONS}
    )


def test_a_pdf_past_its_deadline_answers_503_with_a_message_and_is_logged(
    client, auditor, version, slow_card, settings, caplog
):
    settings.PDF_RENDER_TIMEOUT_SECONDS = 0.05
    client.force_login(auditor)
    with caplog.at_level(logging.WARNING, logger="portal.pdf"):
        response = client.get(card_pdf_url(version))
    assert response.status_code == 503
    assert response["Content-Type"].startswith("text/html")
    assert "took longer than 0.05 seconds" in response.content.decode()
    assert "timed out" in caplog.text and "card" in caplog.text


def test_the_api_answers_a_pdf_past_its_deadline_with_503_json(
    auditor, version, slow_card, settings
):
    settings.PDF_RENDER_TIMEOUT_SECONDS = 0.05
    token, _ = Token.objects.get_or_create(user=auditor)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    url = reverse("api-model-version-card-export", args=[version.pk])
    response = api.get(f"{url}?format=pdf")
    assert response.status_code == 503
    assert "took longer than 0.05 seconds" in response.json()["detail"]
    assert response["Retry-After"] == "60"


def test_the_deadline_kills_the_child_and_its_errors_come_back_as_text():
    with pytest.raises(Exception, match="took longer than 0.2 s"):
        run_with_deadline(lambda: time.sleep(30), 0.2, "a sleeper")
    with pytest.raises(Exception, match="ZeroDivisionError"):
        run_with_deadline(lambda: 1 / 0, 5, "a divider")
    assert run_with_deadline(lambda: b"%PDF" * 300_000, 5, "a big answer") == b"%PDF" * 300_000
