"""A CSV import near the size limit is answered at once and in bounded memory: rows past
IMPORT_MAX_ROWS are refused before any row is checked, and an over-long cell is a file error."""

import csv
import io
import time
import tracemalloc

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from registry import csvio
from registry.models import RegisterImport, UseCase

pytestmark = pytest.mark.django_db

TWO_MB = 2 * 1024 * 1024


def csv_of(rows: int, purpose: str = "Scores card payments for fraud; analysts confirm.") -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(csvio.IMPORT_REQUIRED)
    for n in range(rows):
        writer.writerow(
            [f"Use case {n}", purpose, "RETAIL", "ada.admin", "assists", "before_action", "staff"]
        )
    return out.getvalue()


def near_two_mb() -> str:
    content = csv_of(30_000)[:TWO_MB]
    return content[: content.rfind("\n") + 1]


def test_a_2_mb_file_is_refused_at_once(client, admin_user, settings):
    settings.IMPORT_MAX_ROWS = 500
    content = near_two_mb()
    assert len(content) > TWO_MB - 1000
    client.force_login(admin_user)
    started = time.monotonic()
    response = client.post(
        reverse("registry:import-upload"),
        {"file": SimpleUploadedFile("register.csv", content.encode())},
        follow=True,
    )
    took = time.monotonic() - started
    assert response.status_code == 200
    assert "The file has more than 500 rows: split it into files of at most 500 rows" in (
        response.text
    )
    assert not UseCase.objects.exists()
    # Checking every row through the service took minutes before; refusing takes a moment.
    assert took < 10


def test_reading_a_2_mb_file_holds_no_more_than_a_few_copies_of_it(admin_user, settings):
    settings.IMPORT_MAX_ROWS = 500
    content = near_two_mb()
    tracemalloc.start()
    csvio.import_preview(actor=admin_user, filename="register.csv", content=content)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # The text and its reader's buffer; not an object per row of the whole file.
    assert peak < 6 * len(content), f"{peak / 1e6:.1f} MB for a {len(content) / 1e6:.1f} MB file"


def test_a_file_within_the_row_limit_is_checked_row_by_row(admin_user, settings):
    settings.IMPORT_MAX_ROWS = 3
    batch, report = csvio.import_preview(actor=admin_user, filename="r.csv", content=csv_of(3))
    assert [r.number for r in report.rows] == [2, 3, 4]
    assert report.file_errors == []
    batch, report = csvio.import_preview(actor=admin_user, filename="r.csv", content=csv_of(4))
    assert report.rows == [] and "more than 3 rows" in report.file_errors[0]
    assert RegisterImport.objects.get(pk=batch.pk).row_count == 0


def test_a_cell_longer_than_the_csv_limit_is_a_file_error_not_a_crash(admin_user):
    batch, report = csvio.import_preview(
        actor=admin_user, filename="r.csv", content=csv_of(1, purpose="x" * 200_000)
    )
    assert report.rows == []
    assert report.file_errors == [
        "Line 2 could not be read as CSV: field larger than field limit (131072)."
    ]
