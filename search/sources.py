"""What the search box searches: one declared entry per kind of record.

Each source names the selector of the app that owns the records (who may see what is decided
there, once), the fields whose words are searched, and how a hit is titled, summarised and
linked. The search page, the API, the migration's indexes and the tests all walk SOURCES, so
a new kind of record is one entry here (and, on PostgreSQL, its index in a migration).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import QuerySet

from assessments.selectors import assessments_visible_to
from incidents.selectors import incidents_visible_to
from registry.selectors import (
    ai_models_visible_to,
    data_sources_visible_to,
    use_cases_visible_to,
)


@dataclass(frozen=True)
class Source:
    kind: str  # in URLs and the API: ?kind=use_case
    label: str  # a heading on the results page
    visible: Callable[[Any], QuerySet]  # the owning app's selector: what the person may see
    rule: str  # the owning app's rule for reading one record (the tests hold hits to it)
    fields: tuple[str, ...]  # the record's own fields whose words are searched
    title: Callable[[Any], str]
    summary: Callable[[Any], str]  # the longer text a hit is shown with (a snippet of it)
    facts: Callable[[Any], list[str]]  # short labels beside the title: state, unit
    related: tuple[str, ...] = ()  # select_related for title, summary and facts
    reference: str | None = "reference"  # also matched by substring (trigram index)
    # A foreign key to a use case: the record also matches when its use case does.
    through_use_case: str | None = None
    order: tuple[str, ...] = field(default=("-updated_at", "-pk"))

    def queryset(self, user) -> QuerySet:
        """What the person may see of this kind, loading only what a hit shows."""
        qs = self.visible(user).select_related(None).prefetch_related(None)
        if self.related:
            qs = qs.select_related(*self.related)
        return qs.order_by(*self.order)


# The use case's own searched fields; assessments reuse them through their use case.
USE_CASE_FIELDS = ("reference", "title", "purpose")

SOURCES: tuple[Source, ...] = (
    Source(
        kind="use_case",
        label="Use cases",
        visible=use_cases_visible_to,
        rule="registry.view_usecase",
        fields=USE_CASE_FIELDS,
        title=lambda o: o.title,
        summary=lambda o: o.purpose,
        facts=lambda o: [o.get_lifecycle_display(), o.business_unit.name],
        related=("business_unit",),
    ),
    Source(
        kind="ai_model",
        label="AI models",
        visible=ai_models_visible_to,
        rule="registry.view_aimodel",
        fields=("reference", "name", "provider", "vendor", "description"),
        title=lambda o: o.name,
        summary=lambda o: o.description or f"{o.provider}",
        facts=lambda o: [o.provider, o.get_approval_status_display()],
    ),
    Source(
        kind="assessment",
        label="Assessments",
        visible=assessments_visible_to,
        rule="assessments.view_assessment",
        fields=(),
        title=lambda o: f"{o.get_kind_display()} v{o.version}",
        summary=lambda o: f"{o.use_case.reference} {o.use_case.title}",
        facts=lambda o: [o.get_status_display()],
        related=("use_case",),
        through_use_case="use_case",
    ),
    Source(
        kind="incident",
        label="Incidents",
        visible=incidents_visible_to,
        rule="incidents.view_incident",
        fields=("reference", "title", "description"),
        title=lambda o: o.title,
        summary=lambda o: o.description,
        facts=lambda o: [o.get_severity_display(), o.get_status_display()],
    ),
    Source(
        kind="data_source",
        label="Data sources",
        visible=data_sources_visible_to,
        rule="registry.view_datasource",
        fields=("reference", "name", "description"),
        title=lambda o: o.name,
        summary=lambda o: o.description,
        facts=lambda o: [o.get_classification_display(), o.business_unit.name],
        related=("business_unit",),
    ),
)
BY_KIND = {s.kind: s for s in SOURCES}
