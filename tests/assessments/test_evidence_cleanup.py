"""Uploaded evidence that no answer ever pointed at is removed after a grace period; what
an answer names, or once named, is kept (assessments/services/evidence.py)."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from assessments import services
from assessments.models import EvidenceFile
from assessments.tasks import prune_unattached_evidence
from tests.assessments.test_evidence import EVIDENCE_TEMPLATE

pytestmark = pytest.mark.django_db


@pytest.fixture
def evidence_case(use_case, product_owner, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    template, _ = services.template_import(actor=None, definition=EVIDENCE_TEMPLATE)
    return services.assessment_start(actor=product_owner, use_case=use_case, template=template)


def upload(assessment, person, name: str) -> EvidenceFile:
    return services.evidence_upload(
        actor=person,
        assessment=assessment,
        upload=SimpleUploadedFile(name, b"%PDF-1.4 " + name.encode()),
    )


def attach(assessment, person, *files: EvidenceFile):
    return services.assessment_save_answers(
        actor=person,
        assessment=assessment,
        answers={"evidence": [{"file": f.pk} for f in files]},
        base_revision=assessment.revision,
    )


def on_disk(evidence: EvidenceFile) -> bool:
    return Path(evidence.file.path).exists()


def test_an_abandoned_upload_is_removed_with_its_file_after_the_grace_period(
    evidence_case, product_owner, django_capture_on_commit_callbacks
):
    a = evidence_case
    abandoned = upload(a, product_owner, "draft.pdf")
    attached = upload(a, product_owner, "pentest.pdf")
    attach(a, product_owner, attached)
    assert on_disk(abandoned)

    # Within the grace period the person may still be attaching it.
    assert services.evidence_prune_unattached() == 0
    later = timezone.now() + timedelta(hours=25)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.evidence_prune_unattached(now=later) == 1
    assert not EvidenceFile.objects.filter(pk=abandoned.pk).exists()
    assert not on_disk(abandoned)
    assert EvidenceFile.objects.filter(pk=attached.pk).exists() and on_disk(attached)


def test_a_file_an_earlier_revision_named_is_kept(evidence_case, product_owner):
    a = evidence_case
    first = upload(a, product_owner, "v1.pdf")
    second = upload(a, product_owner, "v2.pdf")
    a = attach(a, product_owner, first)
    attach(a, product_owner, second)  # the answer now names the second file only
    later = timezone.now() + timedelta(hours=25)
    assert services.evidence_prune_unattached(now=later) == 0
    assert on_disk(first)


def test_the_periodic_task_prunes(evidence_case, product_owner, settings):
    settings.EVIDENCE_UNATTACHED_HOURS = 0
    upload(evidence_case, product_owner, "gone.pdf")
    assert prune_unattached_evidence.delay().get() == 1
