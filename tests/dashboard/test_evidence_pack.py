"""The evidence pack: one zip per use case with its signed assessments, history, go-live
records, ledger entries and a manifest of SHA-256 sums, for whoever may read the use case."""

import hashlib
import io
import json
import zipfile

import pytest
from django.urls import reverse

from assessments.models import SignOff
from portal.models import LedgerLink
from registry.models import UseCase
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_use_case(demo_firm):
    signoff = SignOff.objects.select_related("assessment__use_case").first()
    assert signoff is not None, "the demo signs off an assessment"
    return signoff.assessment.use_case, signoff


def _pack(client, use_case) -> zipfile.ZipFile:
    response = client.get(reverse("evidence-pack", args=[use_case.pk]))
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"] == "application/zip"
    assert use_case.reference in response["Content-Disposition"]
    return zipfile.ZipFile(io.BytesIO(response.content))


def test_the_pack_holds_signed_assessments_history_ledger_and_sums(client, signed_use_case):
    use_case, signoff = signed_use_case
    client.force_login(UserFactory(username="pack.auditor", roles=["auditor"]))
    pack = _pack(client, use_case)
    names = set(pack.namelist())
    assessment = signoff.assessment
    folder = f"assessments/{assessment.reference}-v{assessment.version}"
    assert {
        "manifest.json",
        "SHA256SUMS",
        "history/use-case.csv",
        "ledger.jsonl",
        f"{folder}/summary.pdf",
        f"{folder}/report.pdf",
        f"{folder}/signed-content.json",
        f"history/{assessment.reference}.csv",
    } <= names
    manifest = json.loads(pack.read("manifest.json"))
    assert manifest["use_case"]["reference"] == use_case.reference
    listed = {f["name"]: f["sha256"] for f in manifest["files"]}
    assert set(listed) == names - {"manifest.json", "SHA256SUMS"}
    for name, digest in listed.items():
        assert hashlib.sha256(pack.read(name)).hexdigest() == digest, name
    sums = dict(line.split("  ")[::-1] for line in pack.read("SHA256SUMS").decode().splitlines())
    assert sums == listed
    # Exactly what was signed: its hash is the sign-off's.
    assert hashlib.sha256(pack.read(f"{folder}/signed-content.json")).hexdigest() == signoff.sha256
    assert pack.read(f"{folder}/summary.pdf").startswith(b"%PDF")
    history = pack.read("history/use-case.csv").decode().splitlines()
    assert history[0].startswith("version,date,user") and len(history) > 1
    entries = [json.loads(line) for line in pack.read("ledger.jsonl").decode().splitlines()]
    assert entries and {e["use_case_id"] for e in entries} == {use_case.pk}
    chained = dict(LedgerLink.objects.values_list("seq", "hash"))
    assert all(chained[e["seq"]] == e["hash"] for e in entries)


@pytest.mark.parametrize(
    "persona, status",
    [
        ("admin", 200),
        ("auditor", 200),
        ("risk_officer", 200),
        ("product_owner", 200),
        ("leadership", 200),
        ("dpo", 200),
        ("outsider", 404),
    ],
)
def test_who_may_download_a_pack(client, personas, retail, persona, status):
    use_case = UseCase.objects.create(
        reference="UC-0900",
        title="Packed",
        purpose="p",
        business_unit=retail,
        owner=personas["product_owner"],
        people_affected=["staff"],
        decision_impact="assists",
        human_oversight="before_action",
    )
    client.force_login(personas[persona])
    assert client.get(reverse("evidence-pack", args=[use_case.pk])).status_code == status


def test_anonymous_is_sent_to_sign_in(client, retail, product_owner):
    response = client.get(reverse("evidence-pack", args=[1]))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
