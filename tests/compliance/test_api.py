"""The compliance API: same rules as the pages, field errors for bad input, never a 500."""

import datetime
import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from compliance.models import Applicability, Framework, Status
from tests.monitoring.ui_helpers import token_client

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()


@pytest.fixture
def credit(screened):
    return screened("high", role="provider", annex_iii_areas=["5b"])


def test_frameworks_and_obligations_are_listed_with_the_nist_core(product_owner):
    api = token_client(product_owner)
    frameworks = api.get("/api/v1/frameworks/").json()["results"]
    assert {f["key"] for f in frameworks} >= {
        "eu-ai-act", "nist-ai-rmf", "iso-42001", "crosswalk-eu-nist-iso",
    }  # fmt: skip
    nist = api.get("/api/v1/obligations/?framework=nist-ai-rmf&page_size=200").json()
    assert nist["count"] == 72
    iso = api.get("/api/v1/obligations/?framework=iso-42001").json()
    assert iso["count"] == 38


def test_importing_a_changed_file_under_a_used_version_is_refused(risk_officer, credit):
    api = token_client(risk_officer)
    eu = Framework.objects.get(key="eu-ai-act", active=True)
    exported = api.get(f"/api/v1/frameworks/{eu.pk}/export/").json()
    assert exported["key"] == "eu-ai-act"
    # The same file again changes nothing.
    again = api.post("/api/v1/frameworks/", exported, format="json")
    assert again.status_code == 200 and again.json()["outcome"] == "unchanged"
    changed = {**exported, "title": "EU AI Act, retitled"}
    refused = api.post("/api/v1/frameworks/", changed, format="json")
    assert refused.status_code == 400
    assert "in use and never changes" in refused.json()["file"][0]
    bumped = api.post("/api/v1/frameworks/", {**changed, "version": 2}, format="json")
    assert bumped.status_code == 201
    assert not Framework.objects.get(pk=eu.pk).active
    bad = api.post("/api/v1/frameworks/", {"format": 1, "kind": "framework"}, format="json")
    assert bad.status_code == 400 and "file" in bad.json()


def test_product_owner_may_not_import_frameworks(product_owner):
    api = token_client(product_owner)
    assert api.post("/api/v1/frameworks/", {"format": 1}, format="json").status_code == 403


def test_controls_evidence_applicability_and_coverage(risk_officer, credit, outsider):
    api = token_client(risk_officer)
    art9 = Applicability.objects.get(use_case=credit, obligation__ref="Art. 9")
    created = api.post(
        "/api/v1/controls/",
        {
            "title": "AI risk management procedure",
            "kind": "procedure",
            "owner": risk_officer.username,
            "frequency": "annual",
            "obligations": [art9.obligation_id],
        },  # fmt: skip
        format="json",
    )
    assert created.status_code == 201, created.content
    control = created.json()["reference"]
    assert api.get("/api/v1/coverage/?use_case=" + credit.reference).json()["met"] == 0
    evidence = api.post(
        "/api/v1/evidence/",
        {
            "title": "Risk procedure v3, approved",
            "url": "https://intranet.example/rm",
            "effective_on": TODAY.isoformat(),
            "controls": [control],
        },  # fmt: skip
        format="json",
    )
    assert evidence.status_code == 201, evidence.content
    rows = api.get(f"/api/v1/applicability/?use_case={credit.reference}&status=met").json()
    assert [r["ref"] for r in rows["results"]] == ["Art. 9"]
    coverage = api.get("/api/v1/coverage/").json()
    assert coverage["total"]["met"] == 1 and coverage["total"]["applicable"] == 12
    # Bad input: field errors, not a 500.
    bad = api.post("/api/v1/controls/", {"title": "", "kind": "poem"}, format="json")
    assert bad.status_code == 400 and {"title", "kind", "owner"} <= set(bad.json())
    bad = api.post("/api/v1/evidence/", {"title": "x", "effective_on": "soon"}, format="json")
    assert bad.status_code == 400 and "effective_on" in bad.json()
    # An exception through the API, then the outsider sees none of it.
    row = Applicability.objects.get(use_case=credit, obligation__ref="Art. 10")
    accepted = api.post(
        f"/api/v1/applicability/{row.pk}/exceptions/",
        {
            "reason": "Data work under way.",
            "expires_on": (TODAY + datetime.timedelta(days=30)).isoformat(),
        },  # fmt: skip
        format="json",
    )
    assert accepted.status_code == 201, accepted.content
    other = token_client(outsider)
    assert other.get(f"/api/v1/applicability/{row.pk}/").status_code == 404
    assert other.get("/api/v1/coverage/").json()["total"]["applicable"] == 0
    assert other.get("/api/v1/coverage/?use_case=" + credit.reference).status_code == 404
    assert Applicability.objects.get(pk=art9.pk).status == Status.MET


def test_only_a_risk_officer_accepts_an_exception_through_the_api(admin_user, credit):
    row = Applicability.objects.get(use_case=credit, obligation__ref="Art. 10")
    response = token_client(admin_user).post(
        f"/api/v1/applicability/{row.pk}/exceptions/",
        {"reason": "x", "expires_on": (TODAY + datetime.timedelta(days=3)).isoformat()},
        format="json",
    )
    assert response.status_code == 403


def test_the_command_exports_and_imports_a_file(tmp_path):
    out = tmp_path / "nist.json"
    call_command("frameworks", "export", "nist-ai-rmf", "-o", str(out))
    definition = json.loads(out.read_text())
    assert len(definition["items"]) == 72
    assert {i["key"] for i in definition["items"]} >= {"GOVERN-1.1", "MANAGE-4.3", "MEASURE-2.13"}
    definition["version"] = 2
    out.write_text(json.dumps(definition))
    stdout = io.StringIO()
    call_command("frameworks", "import", str(out), stdout=stdout)
    assert "nist-ai-rmf v2: created" in stdout.getvalue()
    with pytest.raises(CommandError):
        call_command("frameworks", "import", str(tmp_path / "missing.json"))
