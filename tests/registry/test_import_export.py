import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from registry.csvio import IMPORT_OPTIONAL, IMPORT_REQUIRED
from registry.models import RegisterImport, UseCase
from tests.factories import DataSourceFactory, UseCaseFactory

HEADER = IMPORT_REQUIRED + IMPORT_OPTIONAL


def _csv(rows: list[dict]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=HEADER)
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    return out.getvalue().encode()


def _row(owner, **extra):
    row = {
        "title": "Invoice reading",
        "purpose": "Reads supplier invoices into the ledger.",
        "business_unit": "RETAIL",
        "owner": owner.username,
        "decision_impact": "Assists a person who decides",
        "human_oversight": "sampled",
        "people_affected": "staff;customers",
        "lifecycle": "production",
        "data_sources": "",
        "next_review_date": "2027-03-31",
    }
    row.update(extra)
    return row


def _upload(client, content: bytes, name="register.csv"):
    return client.post(
        reverse("registry:import-upload"),
        {"file": SimpleUploadedFile(name, content, content_type="text/csv")},
    )


@pytest.fixture
def source(retail):
    return DataSourceFactory(business_unit=retail)


def test_good_file_previews_then_imports_every_row(client, product_owner, source):
    client.force_login(product_owner)
    rows = [
        _row(product_owner, data_sources=source.reference),
        _row(product_owner, title="Fraud scoring", lifecycle="", human_oversight="before_action"),
    ]
    response = _upload(client, _csv(rows))
    assert response.status_code == 302
    preview = client.get(response.url)
    assert preview.context["report"].ok
    assert not UseCase.objects.exists(), "the preview imports nothing"

    done = client.post(response.url, follow=True)
    assert "Imported 2 use cases" in done.content.decode()
    imported = {uc.title: uc for uc in UseCase.objects.all()}
    assert imported["Invoice reading"].lifecycle == "production"
    assert imported["Invoice reading"].people_affected == ["staff", "customers"]
    assert list(imported["Invoice reading"].data_sources.all()) == [source]
    assert imported["Fraud scoring"].lifecycle == "proposed"
    batch = RegisterImport.objects.get()
    assert batch.status == "imported"
    assert sorted(batch.imported_references) == sorted(uc.reference for uc in imported.values())


def test_one_bad_row_imports_nothing_and_names_each_problem(
    client, product_owner, outsider, corporate
):
    client.force_login(product_owner)
    foreign = DataSourceFactory(business_unit=corporate)
    rows = [
        _row(product_owner),
        _row(product_owner, title="", purpose=""),
        _row(product_owner, title="Bad choice", decision_impact="sometimes"),
        _row(outsider, title="Wrong owner"),
        _row(product_owner, title="Bad date", next_review_date="31/03/2027"),
        _row(product_owner, title="Other unit", business_unit="CORP"),
        _row(product_owner, title="Foreign data", data_sources=foreign.reference),
        _row(product_owner, title="Robot", decision_impact="automatic", human_oversight="none"),
        _row(product_owner),  # a duplicate of the first row
    ]
    response = _upload(client, _csv(rows))
    report = client.get(response.url).context["report"]
    errors = {r.number: " ".join(r.errors) for r in report.rows}
    assert errors[2] == ""
    assert "title: This column is required." in errors[3]
    assert "sometimes" in errors[4]
    assert "owner" in errors[5] and "member" in errors[5]
    assert "next_review_date" in errors[6]
    assert "business_unit" in errors[7]
    assert foreign.reference in errors[8]
    assert "human_oversight" in errors[9]
    assert "twice" in errors[10]

    result = client.post(response.url, follow=True)
    assert "Nothing was imported" in result.content.decode()
    assert not UseCase.objects.exists()
    assert RegisterImport.objects.get().status == "failed"


def test_a_file_without_required_columns_is_refused(client, product_owner):
    client.force_login(product_owner)
    response = _upload(client, b"title,purpose\nA,B\n")
    report = client.get(response.url).context["report"]
    assert "Missing columns" in report.file_errors[0]


def test_a_file_that_is_not_utf8_keeps_the_form(client, product_owner):
    client.force_login(product_owner)
    response = _upload(client, "title\nCafé\n".encode("utf-16"))
    assert response.status_code == 200
    assert "not UTF-8" in response.content.decode()


def test_an_imported_file_cannot_be_imported_twice(client, product_owner):
    client.force_login(product_owner)
    response = _upload(client, _csv([_row(product_owner)]))
    client.post(response.url)
    client.post(response.url)
    assert UseCase.objects.count() == 1


def test_auditor_cannot_import(client, auditor):
    client.force_login(auditor)
    assert client.get(reverse("registry:import-upload")).status_code == 403


def test_someone_elses_import_is_not_found(client, product_owner, risk_officer):
    client.force_login(product_owner)
    response = _upload(client, _csv([_row(product_owner)]))
    client.force_login(risk_officer)
    assert client.get(response.url).status_code == 404


def test_export_follows_the_filters(client, risk_officer, retail):
    live = UseCaseFactory(business_unit=retail, lifecycle="production", title="Live one")
    UseCaseFactory(business_unit=retail, lifecycle="pilot", title="Pilot one")
    client.force_login(risk_officer)
    response = client.get(reverse("registry:use-case-export"), {"lifecycle": "production"})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r["reference"] for r in rows] == [live.reference]
    assert rows[0]["business_unit"] == "RETAIL"


def test_an_export_imports_back_into_an_empty_register(client, product_owner, retail, source):
    UseCaseFactory(
        business_unit=retail, owner=product_owner, title="Round trip", data_sources=[source]
    )
    client.force_login(product_owner)
    exported = b"".join(client.get(reverse("registry:use-case-export")).streaming_content)
    UseCase.objects.all().delete()
    response = _upload(client, exported)
    client.post(response.url)
    again = UseCase.objects.get()
    assert again.title == "Round trip"
    assert list(again.data_sources.all()) == [source]


def test_export_defuses_formulas_and_imports_them_back(client, product_owner, retail):
    UseCaseFactory(
        business_unit=retail, owner=product_owner, title='=HYPERLINK("http://x")', purpose="-1"
    )
    client.force_login(product_owner)
    exported = b"".join(client.get(reverse("registry:use-case-export")).streaming_content)
    row = next(csv.DictReader(io.StringIO(exported.decode())))
    assert row["title"].startswith("'=") and row["purpose"] == "'-1"
    UseCase.objects.all().delete()
    client.post(_upload(client, exported).url)
    again = UseCase.objects.get()
    assert again.title.startswith("=HYPERLINK") and again.purpose == "-1"


def test_viewing_the_preview_does_not_check_the_file_again(
    client, product_owner, django_assert_max_num_queries
):
    client.force_login(product_owner)
    response = _upload(client, _csv([_row(product_owner), _row(product_owner, title="")]))
    with django_assert_max_num_queries(8):
        report = client.get(response.url).context["report"]
    assert [r.ok for r in report.rows] == [True, False]
    assert not UseCase.objects.exists()


def test_import_does_not_reveal_titles_of_other_units(client, product_owner, corporate):
    UseCaseFactory(business_unit=corporate, title="Secret merger model")
    client.force_login(product_owner)
    response = _upload(
        client, _csv([_row(product_owner, title="Secret merger model", business_unit="CORP")])
    )
    errors = " ".join(client.get(response.url).context["report"].rows[0].errors)
    assert "Already in the register" not in errors
    assert "business_unit" in errors
