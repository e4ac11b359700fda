"""What the ledger records, and how each kind of row is read again to verify it.

Every history row of every model with django-simple-history is recorded (``kind`` "history"),
found from simple-history's own registration, so a model that gains history is covered
without a line here. Apps add their other append-only records at start-up with ``register``
(assessments: sign-offs; incidents: timeline entries; registry: gate decisions). Permission
changes are events: recorded, but their rows are meant to change (a grant is revoked), so
they are not read again.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.db import models
from simple_history.models import HistoricalChanges

from portal.ledger.canonical import payload_from_values, row_payload, row_shape

# Called with a row of the model it was registered for: (subject, use case id).
Subject = Callable[[Any], tuple[str, int | None]]


@dataclass(frozen=True)
class Source:
    model: type[models.Model]
    kind: str
    subject: Subject
    m2m: tuple[tuple[str, type[models.Model]], ...] = ()  # history: (field, m2m history model)
    append_only: bool = True  # its table is guarded by the triggers (triggers.py)

    @property
    def table(self) -> str:
        return self.model._meta.db_table

    def payload(self, row: models.Model, m2m_ids: dict[str, list] | None = None) -> dict:
        return self._with_m2m(row_payload(row), m2m_ids)

    def payload_from_values(self, values, m2m_ids: dict[str, list] | None = None) -> dict:
        """The same payload from a row read with ``values_list(*self.columns)``."""
        return self._with_m2m(payload_from_values(self.model, values), m2m_ids)

    @property
    def columns(self) -> tuple[str, ...]:
        return row_shape(self.model)[0]

    def _with_m2m(self, data: dict, m2m_ids: dict[str, list] | None) -> dict:
        for name, _model in self.m2m:
            data[f"m2m:{name}"] = sorted((m2m_ids or {}).get(name, []))
        return data

    def m2m_written(self, row: models.Model) -> dict[str, list] | None:
        """The snapshot simple-history wrote for a history row it has just made, when it
        handed over every field's (hooks._m2m_snapshot_written); None otherwise."""
        written = row.__dict__.get(M2M_WRITTEN)
        if written is None or any(name not in written for name, _model in self.m2m):
            return None
        return {name: ids for name, ids in written.items() if ids}

    def m2m_ids(self, history_ids: Iterable[int]) -> dict[int, dict[str, list]]:
        """The many-to-many snapshot of each history row, in one query per field."""
        found: dict[int, dict[str, list]] = {}
        ids = list(history_ids)
        for name, m2m_model in self.m2m:
            target = m2m_target_column(m2m_model)
            for history_id, target_id in m2m_model._default_manager.filter(
                history_id__in=ids
            ).values_list("history_id", target):
                found.setdefault(history_id, {}).setdefault(name, []).append(target_id)
        return found


_SOURCES: dict[str, Source] = {}
# Where a history row just written carries its many-to-many snapshot (Source.m2m_written).
M2M_WRITTEN = "_ledger_m2m_written"
# Set once every history model has its source: the models do not change after start-up.
_HISTORY_FOUND: list[bool] = []


def m2m_target_column(m2m_model: type[models.Model]) -> str:
    # The through row's key that is neither the history link nor the recorded model's own.
    names = [
        f.attname
        for f in m2m_model._meta.concrete_fields
        if f.is_relation and f.name != "history" and not f.primary_key
    ]
    return names[-1]


def _history_subject(row: models.Model) -> tuple[str, int | None]:
    original = row.instance_type  # type: ignore[attr-defined]
    pk = getattr(row, original._meta.pk.attname)
    if original._meta.label_lower == "registry.usecase":
        use_case = pk
    else:
        use_case = getattr(row, "use_case_id", None)
    return f"{original._meta.label_lower}:{pk}", use_case


def register(
    model: type[models.Model], *, kind: str, subject: Subject, append_only: bool = True
) -> None:
    """Record every row ``model`` gains under ``kind``; ``append_only`` has the database
    refuse changes to its rows (a log whose rows may be removed with what they log, such as
    gate decisions, is recorded but not guarded)."""
    _SOURCES[model._meta.db_table] = Source(model, kind, subject, append_only=append_only)


def history_models() -> list[type[models.Model]]:
    """Every history model (the many-to-many snapshot models, which track no fields, aside)."""
    return [
        m
        for m in apps.get_models()
        if issubclass(m, HistoricalChanges) and hasattr(m, "tracked_fields")
    ]


def m2m_history_models() -> list[type[models.Model]]:
    found = []
    for history_model in history_models():
        for field in getattr(history_model, "_history_m2m_fields", []):
            found.append(getattr(history_model, field.name).model)
    return found


def _history_sources() -> None:
    if _HISTORY_FOUND:
        return
    for history_model in history_models():
        if history_model._meta.db_table in _SOURCES:
            continue
        m2m = tuple(
            (field.name, getattr(history_model, field.name).model)
            for field in getattr(history_model, "_history_m2m_fields", [])
        )
        _SOURCES[history_model._meta.db_table] = Source(
            history_model, "history", _history_subject, m2m
        )
    if apps.ready:
        _HISTORY_FOUND.append(True)


def sources() -> dict[str, Source]:
    _history_sources()
    return _SOURCES


def source_for(model: type[models.Model]) -> Source | None:
    return sources().get(model._meta.db_table)
