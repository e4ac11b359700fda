"""Uploaded evidence that no answer ever pointed at is removed, file and row.

An upload is stored at once (so an answer can point at it), but a person may upload and then
leave the page, or pick another file: without pruning, those files stay on disk for ever,
and anyone with edit rights could fill the disk. A file is kept while any answer refers to
it: the assessment's current answers or any saved revision (history), of its own assessment
or of a later version started from it (which inherits its evidence). Only a file that no
answer has ever named, older than ``settings.EVIDENCE_UNATTACHED_HOURS``, is deleted, so a
file someone is still attaching is never taken from under them, and what was once answered
(and perhaps signed) keeps its file.
"""

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from assessments.models import Assessment, EvidenceFile

log = logging.getLogger(__name__)


def _referenced(answers: dict | None) -> set[int]:
    ids: set[int] = set()
    for value in (answers or {}).values():
        if isinstance(value, list):
            ids.update(
                item["file"]
                for item in value
                if isinstance(item, dict) and isinstance(item.get("file"), int)
            )
    return ids


def _chain_down(assessment_id: int) -> set[int]:
    """The assessment and every later version started from it."""
    found = {assessment_id}
    frontier = {assessment_id}
    while frontier:
        frontier = (
            set(Assessment.objects.filter(previous_id__in=frontier).values_list("pk", flat=True))
            - found
        )
        found |= frontier
    return found


def _ever_referenced(assessment_ids: Iterable[int]) -> set[int]:
    ids: set[int] = set()
    for answers in Assessment.objects.filter(pk__in=assessment_ids).values_list(
        "answers", flat=True
    ):
        ids |= _referenced(answers)
    for answers in Assessment.history.filter(id__in=assessment_ids).values_list(
        "answers", flat=True
    ):
        ids |= _referenced(answers)
    return ids


def evidence_prune_unattached(*, now: datetime | None = None) -> int:
    """Delete evidence files no answer ever referred to, older than the grace period."""
    now = now or timezone.now()
    cutoff = now - timedelta(hours=settings.EVIDENCE_UNATTACHED_HOURS)
    removed = 0
    candidates = EvidenceFile.objects.filter(uploaded_at__lt=cutoff).order_by("assessment_id")
    by_assessment: dict[int, list[EvidenceFile]] = {}
    for evidence in candidates:
        by_assessment.setdefault(evidence.assessment_id, []).append(evidence)
    for assessment_id, files in by_assessment.items():
        kept = _ever_referenced(_chain_down(assessment_id))
        for evidence in files:
            if evidence.pk in kept:
                continue
            with transaction.atomic():
                name = evidence.file.name or ""
                evidence.delete()
                # The file goes once the row is gone for good: a rollback keeps both.
                transaction.on_commit(partial(evidence_storage_delete, name))
            log.info("Removed unattached evidence %s (%s)", name, evidence.filename)
            removed += 1
    return removed


def evidence_storage_delete(name: str) -> None:
    EvidenceFile._meta.get_field("file").storage.delete(name)
