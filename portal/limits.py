"""How long free text may be: the limits models, forms, serializers and imports share.

Every free-text model field has a ``max_length`` from here, so the forms and serializers
built from the models refuse longer text with a field error ("Ensure this field has no
more than 10000 characters") and keep what was typed; hand-written fields use the same
names. What the portal writes itself is bounded too: accumulated reasons keep their
newest lines (``keep_last``). Long texts also reach PDFs, whose layout is bounded on its own
(portal/pdf.py).
"""

from datetime import UTC, datetime

from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator
from django.db import models

SHORT_TEXT = 2_000  # a reason, a note, a justification
LONG_TEXT = 10_000  # prose: a purpose, a description, a runbook step, a review, a comment
ANSWER_TEXT = 20_000  # an assessment's long answer, a model card section
LOG_TEXT = 10_000  # lines the portal adds up (re-assessment reasons): the oldest go first
# What the portal writes itself from bounded parts: signed content, a kept CSV import, a
# ledger entry's copy of a row. Its inputs are bounded; this bounds the sum.
MACHINE_TEXT = 16 * 1024 * 1024


# Moments people give (when the firm became aware, when a regulator was told) fall in this
# range: far older ones have local-mean-time offsets such as -00:01:15 in Europe/London,
# which no ISO 8601 reader accepts back.
EARLIEST_MOMENT = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_MOMENT = datetime(2100, 1, 1, tzinfo=UTC)


def plausible_moment(value: datetime | None) -> None:
    """A validator: ``value`` between EARLIEST_MOMENT and LATEST_MOMENT."""
    if value is not None and not EARLIEST_MOMENT <= value < LATEST_MOMENT:
        raise ValidationError("Give a date and time from 2000 to 2099.")


def keep_last(text: str, limit: int = LOG_TEXT) -> str:
    """``text`` cut to its last ``limit`` characters, starting at a line where it can."""
    if len(text) <= limit:
        return text
    cut = text[-limit:]
    newline = cut.find("\n")
    return cut[newline + 1 :] if 0 <= newline < len(cut) - 1 else cut


class BoundedTextField(models.TextField):
    """A TextField whose ``max_length`` also holds in ``full_clean``: Django's TextField checks
    it only in forms built from it, so a service or an import (registry/csvio.py) that cleans
    the model would let longer text through."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.max_length is not None:
            self.validators.append(MaxLengthValidator(self.max_length))
