"""Evidence answers: files uploaded to an assessment, refused when forged or too big, kept
through autosave, re-assessment and a failed upload."""

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from assessments import services
from tests.assessments.builders import move

pytestmark = pytest.mark.django_db


EVIDENCE_TEMPLATE = {
    "format": 1,
    "key": "tiny-evidence",
    "version": 1,
    "kind": "other",
    "title": "Evidence check",
    "sections": [
        {
            "key": "proof",
            "title": "Proof",
            "questions": [
                {"key": "note", "type": "long_text", "label": "Note"},
                {"key": "evidence", "type": "evidence", "label": "Test report"},
            ],
        }
    ],
}


@pytest.fixture
def evidence_case(use_case, product_owner):
    template, _ = services.template_import(actor=None, definition=EVIDENCE_TEMPLATE)
    return services.assessment_start(actor=product_owner, use_case=use_case, template=template)


def test_a_forged_file_reference_is_refused_and_names_come_from_the_stored_file(
    evidence_case, product_owner, settings, tmp_path
):
    settings.MEDIA_ROOT = str(tmp_path)
    a = evidence_case
    with pytest.raises(ValidationError) as err:
        services.assessment_save_answers(
            actor=product_owner,
            assessment=a,
            answers={"evidence": [{"file": 999999, "filename": "pentest.pdf", "sha256": "ab"}]},
            base_revision=a.revision,
        )
    assert "not uploaded to this assessment" in err.value.message_dict["evidence"][0]
    stored = services.evidence_upload(
        actor=product_owner,
        assessment=a,
        upload=SimpleUploadedFile("report.pdf", b"%PDF-1.4 real"),
    )
    a = services.assessment_save_answers(
        actor=product_owner,
        assessment=a,
        answers={"evidence": [{"file": stored.pk, "filename": "forged.pdf", "sha256": "00"}]},
        base_revision=a.revision,
    )
    item = a.answers["evidence"][0]
    assert (item["filename"], item["sha256"]) == ("report.pdf", stored.sha256)


def test_a_file_uploaded_on_the_page_downloads_from_the_re_assessment_too(
    client, evidence_case, product_owner, risk_officer, leadership, settings, tmp_path, password
):
    settings.MEDIA_ROOT = str(tmp_path)
    a = evidence_case
    client.force_login(product_owner)
    url = reverse("assessments:section", args=[a.pk, "proof"])
    response = client.post(
        url,
        {
            "revision": a.revision,
            "q-note": "See the report.",
            "q-evidence-0-title": "Pen test",
            "q-evidence-0-expires": "2030-01-01",
            "q-evidence-0-upload": SimpleUploadedFile("pentest.pdf", b"%PDF-1.4 pentest"),
        },
    )
    assert response.status_code == 302
    a.refresh_from_db()
    file_pk = a.answers["evidence"][0]["file"]
    download = client.get(reverse("assessments:evidence-download", args=[a.pk, file_pk]))
    assert b"".join(download.streaming_content) == b"%PDF-1.4 pentest"
    # Sign it off (the default routing: a risk officer reviews, leadership signs).
    a = move(a, product_owner, "submit")
    a = move(a, risk_officer, "start_review")
    a = move(a, risk_officer, "approve")
    a = move(a, leadership, "sign_off", password=password)
    again = services.assessment_reassess(actor=product_owner, assessment=a)
    assert again.answers["evidence"][0]["file"] == file_pk
    download = client.get(reverse("assessments:evidence-download", args=[again.pk, file_pk]))
    assert download.status_code == 200


def test_a_failed_upload_keeps_what_was_typed_and_says_which_question(
    client, evidence_case, product_owner, settings, tmp_path
):
    settings.MEDIA_ROOT = str(tmp_path)
    settings.EVIDENCE_MAX_BYTES = 10
    a = evidence_case
    client.force_login(product_owner)
    response = client.post(
        reverse("assessments:section", args=[a.pk, "proof"]),
        {
            "revision": a.revision,
            "q-note": "A note I typed",
            "q-evidence-0-title": "Pen test",
            "q-evidence-0-upload": SimpleUploadedFile("big.pdf", b"x" * 100),
        },
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "A note I typed" in page and 'value="Pen test"' in page
    assert "Files up to" in page
    a.refresh_from_db()
    assert a.answers == {} and not a.evidence_files.exists()


def test_autosave_skips_a_half_made_evidence_row(client, evidence_case, product_owner):
    a = evidence_case
    client.force_login(product_owner)
    response = client.post(
        reverse("assessments:section", args=[a.pk, "proof"]),
        {"revision": a.revision, "q-note": "Typed", "q-evidence-0-title": "Report to come"},
        HTTP_X_AUTOSAVE="1",
    )
    assert response.status_code == 200
    a.refresh_from_db()
    assert a.answers == {"note": "Typed"}
