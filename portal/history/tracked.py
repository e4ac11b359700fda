"""Which records have a history browser, and how a person reaches one.

Each governed model is one line: the model, the rule that lets a person view a record,
and the selector that returns the records the person may see. Each app adds its own in its
AppConfig.ready(), as Django's admin does::

    register(Assessment, rule="assessments.view_assessment", selector=assessments_visible_to)

The history page, its CSV, the audit log and the API all read this registry.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from django.db import models
from django.db.models import QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404

from portal.access import can

# Bookkeeping that changes on every save and says nothing an auditor needs.
DEFAULT_EXCLUDE = ("id", "created_at", "updated_at")


@dataclass(frozen=True)
class HistoryEntry:
    key: str
    model: type[models.Model]
    rule: str
    selector: Callable[..., QuerySet]
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE
    # Labels for values that are lists of choices kept in a JSON field (people affected).
    value_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @property
    def history_model(self) -> type[models.Model]:
        # A manager of a class made once per model (portal/history/managers.py).
        return self.model.history.model  # type: ignore[attr-defined]  # django-simple-history

    @property
    def label(self) -> str:
        return str(self.model._meta.verbose_name).capitalize()

    @property
    def label_plural(self) -> str:
        return str(self.model._meta.verbose_name_plural).capitalize()


HISTORY_REGISTRY: dict[str, HistoryEntry] = {}


def register(
    model: type[models.Model],
    *,
    rule: str,
    selector: Callable[..., QuerySet],
    key: str | None = None,
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE,
    value_labels: Mapping[str, Mapping[str, str]] | None = None,
) -> HistoryEntry:
    if not hasattr(model, "history"):
        raise TypeError(f"{model.__name__} keeps no history (add HistoricalRecords).")
    key = key or model._meta.model_name
    assert key is not None  # a concrete model always has a model_name
    entry = HistoryEntry(
        key=key,
        model=model,
        rule=rule,
        selector=selector,
        exclude=exclude,
        value_labels=value_labels or {},
    )
    HISTORY_REGISTRY[entry.key] = entry
    return entry


def get_entry(key: str) -> HistoryEntry:
    try:
        return HISTORY_REGISTRY[key]
    except KeyError:
        raise Http404("No history is kept for that kind of record.") from None


def access_history_record(user, key: str, pk: int) -> tuple[HistoryEntry, models.Model]:
    """The record whose history the person asks for; 404 if missing or not theirs to see."""
    entry = get_entry(key)
    record = get_object_or_404(entry.selector(user), pk=pk)
    if not can(user, entry.rule, record):
        raise Http404("No such record.")
    return entry, record
