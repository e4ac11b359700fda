"""The incident log as CSV: the page's and the API's, with the list's filters, only what the
person may see, formulas defused, and the regulatory clocks with their reported times."""

import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from incidents.models import Severity
from incidents.selectors import EXPORT_COLUMNS
from incidents.services.incidents import incident_transition, incident_update
from tests.factories import ProductionUseCaseFactory
from tests.incidents.incident_helpers import open_incident
from tests.monitoring.ui_helpers import token_client

pytestmark = pytest.mark.django_db


def rows(response) -> list[dict]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


@pytest.fixture
def log(use_case, product_owner, corporate, outsider):
    """Three Retail incidents (one closed) and one of Corporate's."""
    sev1 = open_incident(use_case, product_owner, title="Leak", severity=Severity.SEV1)
    sev3 = open_incident(use_case, product_owner, title="Slow", severity=Severity.SEV3)
    closed = open_incident(use_case, product_owner, title="Typo", severity=Severity.SEV4)
    incident_transition(actor=product_owner, incident=closed, action="resolve")
    incident_transition(actor=product_owner, incident=closed, action="close")
    theirs = ProductionUseCaseFactory(business_unit=corporate, owner=outsider)
    other = open_incident(theirs, outsider, title="Corporate's own")
    return {"sev1": sev1, "sev3": sev3, "closed": closed, "other": other}


def test_the_page_export_follows_the_filters(client, product_owner, log):
    client.force_login(product_owner)
    url = reverse("incidents:incident-export")
    everything = rows(client.get(url))
    assert list(everything[0]) == EXPORT_COLUMNS
    assert {r["reference"] for r in everything} == {
        log[k].reference for k in ("sev1", "sev3", "closed")
    }
    assert [r["title"] for r in rows(client.get(url, {"severity": "sev1"}))] == ["Leak"]
    assert {r["title"] for r in rows(client.get(url, {"open_only": "on"}))} == {"Leak", "Slow"}
    assert [r["title"] for r in rows(client.get(url, {"status": "closed"}))] == ["Typo"]
    # A use case the person cannot see is no choice: the filter is refused, nothing leaks.
    unseen = rows(client.get(url, {"use_case": log["other"].use_case.reference}))
    assert {r["reference"] for r in unseen} == {r["reference"] for r in everything}
    # The list page's download link carries the same filters.
    page = client.get(reverse("incidents:incident-list"), {"severity": "sev3"}).content.decode()
    assert f"{url}?severity=sev3" in page


def test_the_export_holds_only_what_the_person_may_see(client, outsider, auditor, log):
    client.force_login(outsider)
    assert [r["title"] for r in rows(client.get(reverse("incidents:incident-export")))] == [
        "Corporate's own"
    ]
    client.force_login(auditor)
    assert len(rows(client.get(reverse("incidents:incident-export")))) == 4


def test_the_export_defuses_formulas(client, product_owner, use_case):
    open_incident(use_case, product_owner, title='=HYPERLINK("http://evil","x")')
    open_incident(use_case, product_owner, title="+1+1")
    client.force_login(product_owner)
    titles = sorted(r["title"] for r in rows(client.get(reverse("incidents:incident-export"))))
    assert titles == ["'+1+1", '\'=HYPERLINK("http://evil","x")']
    api = token_client(product_owner)
    api_titles = sorted(r["title"] for r in rows(api.get("/api/v1/incidents/export.csv")))
    assert api_titles == titles


def test_the_export_has_clocks_and_reported_times(client, product_owner, use_case):
    aware = timezone.now() - timedelta(hours=100)
    incident = open_incident(
        use_case, product_owner, aware_at=aware, personal_data_breach=True, serious_harm="death"
    )
    incident_update(
        actor=product_owner, incident=incident, dpa_reported_at=aware + timedelta(hours=10)
    )
    client.force_login(product_owner)
    (row,) = rows(client.get(reverse("incidents:incident-export")))
    assert row["personal data breach"] == "yes"
    assert row["GDPR deadline state"] == "met"
    assert row["reported to the data protection authority at"]
    assert row["EU AI Act deadline state"] == "open"  # 10 days, 4 gone
    assert row["reported to the market surveillance authority at"] == ""
    assert row["owner"] == product_owner.get_full_name()
    assert row["detected by"] == "Staff"


def test_the_api_export_follows_filters_and_permissions(product_owner, outsider, log):
    api = token_client(product_owner)
    assert {r["title"] for r in rows(api.get("/api/v1/incidents/export.csv?open_only=true"))} == {
        "Leak",
        "Slow",
    }
    as_format = rows(api.get("/api/v1/incidents/?format=csv&severity=sev3"))
    assert [r["title"] for r in as_format] == ["Slow"]
    assert [r["title"] for r in rows(api.get("/api/v1/incidents/export/?status=closed"))] == [
        "Typo"
    ]
    # Naming a use case the person cannot see answers 404, as everywhere.
    theirs = log["other"].use_case.reference
    assert api.get(f"/api/v1/incidents/export.csv?use_case={theirs}").status_code == 404
    other = token_client(outsider)
    assert [r["title"] for r in rows(other.get("/api/v1/incidents/export.csv"))] == [
        "Corporate's own"
    ]
