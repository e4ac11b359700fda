"""The board pack (issue 17, item 4): two to four A4 pages whose figures equal the API's,
signed with the password and a verifiable hash, kept with history, made monthly with an email
to leadership; who may make, read and sign it."""

import io
import json
from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from assessments.models import sha256_of
from dashboard import board_pack
from dashboard.models import BoardPack
from registry.models import GateCheck, RiskTier
from tests.factories import PASSWORD, ProductionUseCaseFactory, UseCaseFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def firm(retail, corporate):
    for n in range(3):
        uc = ProductionUseCaseFactory(business_unit=retail, risk_tier=RiskTier.HIGH)
        GateCheck.objects.create(use_case=uc, source="page", passed=n != 0, checks=[])
    UseCaseFactory(business_unit=corporate, risk_tier=RiskTier.LIMITED)


def period():
    end = timezone.localdate()
    return end - timedelta(days=29), end


def read(content: bytes) -> tuple[int, str]:
    reader = PdfReader(io.BytesIO(content))
    return len(reader.pages), " ".join(" ".join(p.extract_text().split()) for p in reader.pages)


def test_a_pack_is_two_to_four_pages_with_the_apis_figures(firm, leadership, auditor):
    start, end = period()
    pack = board_pack.board_pack_make(actor=leadership, start=start, end=end)
    pages, text = read(board_pack.render(pack))
    assert 2 <= pages <= 4
    token, _ = Token.objects.get_or_create(user=auditor)  # reads everything, as the pack does
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    api = client.get("/api/v1/kpis/", {"start": start.isoformat(), "end": end.isoformat()}).json()
    for kpi in ("tiers", "gate", "signed_off", "overdue", "flags", "deadlines"):
        assert pack.figures[kpi] == api[kpi], kpi
    assert f"{api['gate']['percent']}%" in text
    assert f"({api['gate']['passing']} of {api['gate']['live']})" in text
    assert "DRAFT" in text
    assert "Appendix: the register by tier" in text


def test_a_pack_stays_within_four_pages_with_a_large_register(retail, leadership):
    for _ in range(150):
        UseCaseFactory(business_unit=retail, title="A use case with a rather long name " * 3)
    start, end = period()
    pack = board_pack.board_pack_make(actor=leadership, start=start, end=end)
    pages, text = read(board_pack.render(pack))
    assert 2 <= pages <= 4
    assert "more use cases" in text


def test_signing_needs_the_password_and_keeps_a_verifiable_hash(firm, leadership):
    start, end = period()
    pack = board_pack.board_pack_make(actor=leadership, start=start, end=end)
    with pytest.raises(ValidationError) as refused:
        board_pack.board_pack_sign(actor=leadership, pack=pack, password="wrong")
    assert "password" in refused.value.message_dict
    pack = board_pack.board_pack_sign(
        actor=leadership, pack=pack, password=PASSWORD, note="Discuss CV screening first."
    )
    assert pack.sha256 == sha256_of(pack.content)
    signed = json.loads(pack.content)
    assert signed["figures"] == pack.figures and signed["signed_by"] == leadership.username
    assert signed["note"] == "Discuss CV screening first."
    assert board_pack.verified(pack)
    assert board_pack.filename(pack) == f"{pack.reference}-board-pack-signed.pdf"
    pages, text = read(board_pack.render(pack))
    assert "DRAFT" not in text and pack.sha256 in text.replace(" ", "")
    # Signed once: never again, and history keeps both versions.
    with pytest.raises(PermissionDenied):
        board_pack.board_pack_sign(actor=leadership, pack=pack, password=PASSWORD)
    assert pack.history.count() == 2


@pytest.mark.parametrize(
    "who, read, make",
    [
        ("leadership", 200, True),
        ("admin", 200, True),
        ("risk_officer", 200, False),
        ("auditor", 200, False),
        ("product_owner", 403, False),
        ("dpo", 403, False),
        ("outsider", 403, False),
    ],
)
def test_who_may_read_make_and_sign_board_packs(who, read, make, personas, leadership, client):
    start, end = period()
    pack = board_pack.board_pack_make(actor=leadership, start=start, end=end)
    client.force_login(personas[who])
    assert client.get(reverse("board-pack-list")).status_code == read
    detail = client.get(reverse("board-pack", args=[pack.pk]))
    assert detail.status_code == (200 if read == 200 else 404)
    pdf = client.get(reverse("board-pack-pdf", args=[pack.pk]))
    assert pdf.status_code == (200 if read == 200 else 404)
    made = client.post(
        reverse("board-pack-list"), {"start": start.isoformat(), "end": end.isoformat()}
    )
    assert made.status_code == (302 if make else 403)
    signed = client.post(reverse("board-pack", args=[pack.pk]), {"password": PASSWORD})
    assert signed.status_code == (302 if make else (403 if read == 200 else 404))
    pack.refresh_from_db()
    assert pack.is_signed == make


def test_the_pdf_downloads_as_a_draft_then_signed(leadership, client, firm):
    start, end = period()
    pack = board_pack.board_pack_make(actor=leadership, start=start, end=end)
    client.force_login(leadership)
    url = reverse("board-pack-pdf", args=[pack.pk])
    assert client.get(url)["Content-Disposition"].endswith(
        f'{pack.reference}-board-pack-draft.pdf"'
    )
    response = client.post(reverse("board-pack", args=[pack.pk]), {"password": "nope"})
    assert response.status_code == 200
    assert "Enter your own password to sign." in response.content.decode()
    client.post(reverse("board-pack", args=[pack.pk]), {"password": PASSWORD})
    assert client.get(url)["Content-Disposition"].endswith(
        f'{pack.reference}-board-pack-signed.pdf"'
    )


def test_the_monthly_pack_is_made_once_and_leadership_gets_a_site_url_link(
    firm, leadership, settings, django_capture_on_commit_callbacks
):
    settings.SITE_URL = "http://127.0.0.1:8765"
    with django_capture_on_commit_callbacks(execute=True):
        pack = board_pack.send_monthly()
    assert pack is not None
    start, end = board_pack.previous_month(timezone.localdate())
    assert (pack.period_start, pack.period_end) == (start, end)
    assert board_pack.send_monthly() is None  # once a month
    assert BoardPack.objects.count() == 1
    sent = [m for m in mail.outbox if leadership.email in m.to]
    assert sent and f"http://127.0.0.1:8765/portfolio/board-packs/{pack.pk}/" in sent[0].body
