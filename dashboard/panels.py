"""The dashboard's panels that do not depend on the hour, rendered and kept.

Most of the dashboard counts or lists over the register: the figures and the table by
lifecycle and unit, the obligations met, the open incidents, what needs re-assessment, what
fails the go-live gate, and the assessments past or near their valid-until date. None of it
moves with the clock within a day, and the dashboard opens far more often than any of it
changes. So each person's panels are rendered once, kept as HTML (``PanelSnapshot``), and
read back in one query under the same change log as My work (dashboard/work_store.py): kept
only while no table they read has changed, on the same day, with the same settings.

What moves with the clock is read on every request (dashboard/views.py): the assessments
stuck for days (measured to the hour, and shown as "3 weeks, 2 days") and the incidents'
reporting deadlines. On SQLite nothing is kept: the panels are rendered on every request.
"""

from __future__ import annotations

from datetime import date, timedelta

from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from assessments import selectors as assessment_selectors
from compliance.selectors import coverage_total
from dashboard import work_store
from dashboard.work import lean, reread_person
from incidents.selectors import open_incidents_visible_to
from monitoring.selectors import failing_gate_visible_to
from registry.models import Lifecycle
from registry.selectors import use_case_counts, use_cases_visible_to

# Each kept panel by name, and the template that renders it (in the page's order; the live
# panels sit between them).
PANELS = {
    "figures": "dashboard/panels/_figures.html",
    "breakdown": "dashboard/panels/_breakdown.html",
    "watch": "dashboard/panels/_watch.html",
    "validity": "dashboard/panels/_validity.html",
}


def context(user, today: date) -> dict:
    """What the kept panels show, read for the person now (a dozen queries)."""
    counts = use_case_counts(user)
    lifecycles = [
        (value, label, counts["by_lifecycle"].get(value, 0)) for value, label in Lifecycle.choices
    ]
    biggest = max([n for _, _, n in lifecycles] + [1])
    return {
        "counts": counts,
        "lifecycles": [(v, label, n, round(100 * n / biggest)) for v, label, n in lifecycles],
        "lifecycle_choices": Lifecycle.choices,
        "attention": list(
            use_cases_visible_to(user)
            .filter(needs_reassessment=True)
            .select_related(None)
            .select_related("business_unit")
            # What a line shows: not the rest of the use case, nor its owner.
            .only("reference", "title", "reassessment_reasons", "business_unit__name")
            .order_by("next_review_date", "reference")[:10]
        ),
        "compliance": coverage_total(user),
        "open_incidents": open_incidents_visible_to(user),
        "failing_gate": failing_gate_visible_to(user),
        "overdue": list(lean(assessment_selectors.overdue(user, today))[:10]),
        "due_soon": list(
            lean(assessment_selectors.assessments_visible_to(user))
            .filter(
                status="signed_off",
                valid_until__gte=today,
                valid_until__lte=today + timedelta(days=30),
            )
            .order_by("valid_until")[:10]
        ),
    }


def render(user, today: date) -> dict[str, str]:
    """Every kept panel rendered for the person now, nothing kept."""
    shown = context(user, today)
    return {name: render_to_string(template, shown) for name, template in PANELS.items()}


def panels(user, today: date) -> dict[str, SafeString]:
    """The person's kept panels by name, as HTML: read back if nothing they rest on has
    changed, else rendered afresh and kept."""
    if not work_store.keeps():
        return _safe(render(user, today))
    mark, kept = work_store.read_panels(user, today)
    if kept is None or set(kept) != set(PANELS):
        reread_person(user, mark)
        kept = render(user, today)
        work_store.keep_panels(user, today, mark, kept)
    return _safe(kept)


def _safe(rendered: dict[str, str]) -> dict[str, SafeString]:
    # Rendered by our own templates, escaped there: the page includes them as they are.
    return {name: mark_safe(html) for name, html in rendered.items()}  # noqa: S308
