"""The dashboard's panels that do not depend on the hour, rendered and kept.

Most of the dashboard counts or lists over the register: the figures and the table by
lifecycle and unit, the obligations met, the open incidents, what needs re-assessment, what
fails the go-live gate, and the assessments past or near their valid-until date. None of it
moves with the clock within a day, and the dashboard opens far more often than any of it
changes. So each person's panels are rendered once, kept as HTML (``PanelSnapshot``), and
read back in one query under the same change log as My work (dashboard/work_store.py): each
panel kept while no table it reads has changed (``PARTS`` say which), on the same day, with
the same settings; a panel whose table changed is rendered afresh, the others read back.

What moves with the clock is read on every request (dashboard/views.py): the assessments
stuck for days (measured to the hour, and shown as "3 weeks, 2 days") and the incidents'
reporting deadlines. On SQLite nothing is kept: the panels are rendered on every request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from assessments import selectors as assessment_selectors
from compliance.selectors import coverage_total
from dashboard import work_store
from dashboard.work import ASSESSMENT_TABLES, lean, reread_person
from incidents.selectors import open_incidents_visible_to
from monitoring.selectors import failing_gate_visible_to
from registry.models import Lifecycle
from registry.selectors import use_case_counts, use_cases_visible_to


@dataclass(frozen=True)
class Part:
    """What the panels show, read for the person (``read``), and the tables it is read from
    besides who the person is (work_store.EVERYONE_READS)."""

    read: Callable[[Any, date], Any]
    tables: tuple[str, ...]


def _attention(user, today: date) -> list:
    return list(
        use_cases_visible_to(user)
        .filter(needs_reassessment=True)
        .select_related(None)
        .select_related("business_unit")
        # What a line shows: not the rest of the use case, nor its owner.
        .only("reference", "title", "reassessment_reasons", "business_unit__name")
        .order_by("next_review_date", "reference")[:10]
    )


def _due_soon(user, today: date) -> list:
    return list(
        lean(assessment_selectors.assessments_visible_to(user))
        .filter(
            status="signed_off",
            valid_until__gte=today,
            valid_until__lte=today + timedelta(days=30),
        )
        .order_by("valid_until")[:10]
    )


# Each part by the name the panels' templates know it by. tests/dashboard/test_panels_kept.py
# walks each panel's SQL (its parts, its template), for every persona, against their tables.
PARTS = {
    "counts": Part(lambda user, today: use_case_counts(user), ("registry_usecase",)),
    "attention": Part(_attention, ("registry_usecase",)),
    "compliance": Part(
        lambda user, today: coverage_total(user),
        ("compliance_applicability", "compliance_obligation", "compliance_framework",
         "compliance_obligationexception", "registry_usecase"),
    ),
    "open_incidents": Part(
        lambda user, today: open_incidents_visible_to(user),
        ("incidents_incident", "registry_usecase"),
    ),
    "failing_gate": Part(
        lambda user, today: failing_gate_visible_to(user), ("monitoring_flag", "registry_usecase")
    ),
    "overdue": Part(
        lambda user, today: list(lean(assessment_selectors.overdue(user, today))[:10]),
        ASSESSMENT_TABLES,
    ),
    "due_soon": Part(_due_soon, ASSESSMENT_TABLES),
}  # fmt: skip


@dataclass(frozen=True)
class Panel:
    template: str
    parts: tuple[str, ...]


# Each kept panel by name (in the page's order; the live panels sit between them), the
# template that renders it and the parts it shows: a change to a table a part reads outdates
# the panels that show it, and only those.
PANELS = {
    "figures": Panel("dashboard/panels/_figures.html", ("counts",)),
    "breakdown": Panel("dashboard/panels/_breakdown.html", ("counts",)),
    "obligations": Panel("dashboard/panels/_obligations.html", ("compliance",)),
    "incidents": Panel("dashboard/panels/_incidents.html", ("open_incidents",)),
    "attention": Panel("dashboard/panels/_attention.html", ("attention",)),
    "gate": Panel("dashboard/panels/_gate.html", ("failing_gate",)),
    "validity": Panel("dashboard/panels/_validity.html", ("overdue", "due_soon")),
}

# The tables each panel reads.
READS = {
    name: sorted({t for part in panel.parts for t in PARTS[part].tables})
    for name, panel in PANELS.items()
}


def context(user, today: date, parts=None) -> dict:
    """What the kept panels show (the ``parts`` named, or all), read for the person now."""
    shown = {name: PARTS[name].read(user, today) for name in parts or PARTS}
    if "counts" in shown:
        by_lifecycle = shown["counts"]["by_lifecycle"]
        lifecycles = [(v, label, by_lifecycle.get(v, 0)) for v, label in Lifecycle.choices]
        biggest = max([n for _, _, n in lifecycles] + [1])
        shown["lifecycles"] = [(v, lb, n, round(100 * n / biggest)) for v, lb, n in lifecycles]
        shown["lifecycle_choices"] = Lifecycle.choices
    return shown


def render(user, today: date, names=None) -> dict[str, str]:
    """The panels named (or every kept panel) rendered for the person now, nothing kept."""
    names = list(names or PANELS)
    shown = context(user, today, {part for name in names for part in PANELS[name].parts})
    return {name: render_to_string(PANELS[name].template, shown) for name in names}


def panels(user, today: date) -> dict[str, SafeString]:
    """The person's kept panels by name, as HTML: read back if nothing they rest on has
    changed, the others rendered afresh, and all kept."""
    if not work_store.keeps():
        return _safe(render(user, today))
    kept = work_store.read_panels(user, today)
    outdated = kept.outdated(READS)
    if not outdated:
        return _safe(kept.panels)
    reread_person(user, kept.mark)
    rendered = {
        name: html for name, html in kept.panels.items() if name in PANELS and name not in outdated
    } | render(user, today, [name for name in PANELS if name in outdated])
    work_store.keep_panels(user, today, kept.mark, rendered)
    return _safe(rendered)


def _safe(rendered: dict[str, str]) -> dict[str, SafeString]:
    # Rendered by our own templates, escaped there: the page includes them as they are.
    return {name: mark_safe(html) for name, html in rendered.items()}  # noqa: S308
