"""The dashboard: what needs attention across the register, assessments and incidents."""

from collections.abc import Sequence
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_safe

from assessments import selectors as assessment_selectors
from dashboard.evidence import evidence_pack
from dashboard.panels import panels
from dashboard.work import KINDS, work
from incidents.services.deadlines import deadlines_due
from registry.selectors import access_use_case, sees_every_use_case

# The dashboard's top panel shows this many of My work's items, then links to the page.
TOP_PANEL_ITEMS = 5
# My work lists this many items a page (a product owner of a third of the register has hundreds).
MY_WORK_PAGE_SIZE = 50


class _Listed(Sequence):
    """My work's list for the paginator: as long as the whole list, of which only the
    items up to the page asked for were built (dashboard.work.work)."""

    def __init__(self, items: list, length: int):
        self.items, self.length = items, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index):
        return self.items[index]


def _page_number(raw: str | None) -> int:
    """The page asked for, as the paginator reads it (anything else is the first page)."""
    try:
        return max(1, int(raw or 1))
    except ValueError:
        return 1


@login_required
def dashboard(request):
    today = timezone.localdate()
    waiting = work(request.user, today, limit=TOP_PANEL_ITEMS)
    # Everything below counts over what the person sees: for someone in every unit, that is
    # everything, and no panel needs a visibility filter (read with the person: portal.access).
    sees_every_use_case(request.user)
    return render(
        request,
        "dashboard/dashboard.html",
        {
            "work": waiting.items,
            "work_count": waiting.total,
            "today": today,
            "to_review": waiting.waiting["review"],
            "to_sign": waiting.waiting["sign"],
            # The panels that do not move with the clock, kept (dashboard/panels.py) ...
            "panels": panels(request.user, today),
            # ... and the two that do, read each time.
            "stuck": assessment_selectors.stuck(
                request.user, timezone.now(), settings.ASSESSMENT_STUCK_DAYS, limit=10
            ),
            "stuck_days": settings.ASSESSMENT_STUCK_DAYS,
            "deadlines_due": deadlines_due(request.user, limit=10),
        },
    )


@login_required
@require_safe
def my_work_page(request):
    """Everything waiting for the person (dashboard/work.py), soonest due first."""
    today = timezone.localdate()
    kind = request.GET.get("kind", "")
    kind = kind if kind in KINDS else ""
    # Only the items up to the page asked for are built (a page past the end shows the last,
    # which the limit per source still covers).
    asked = _page_number(request.GET.get("page")) * MY_WORK_PAGE_SIZE
    mine = work(request.user, today, limit=asked, kind=kind)
    counts = mine.counts
    length = counts[kind] if kind else mine.total
    page = Paginator(_Listed(mine.items, length), MY_WORK_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "dashboard/my_work.html",
        {
            "items": page.object_list,
            "page": page,
            "query": urlencode({"kind": kind}) if kind else "",
            "total": mine.total,
            "kind": kind,
            "kinds": [(k, label, counts[k]) for k, label in KINDS.items() if counts[k]],
            "today": today,
        },
    )


@login_required
@require_safe
def evidence_pack_download(request, pk: int):
    """The use case's evidence pack (dashboard/evidence.py), for whoever may read it."""
    use_case = access_use_case(request.user, pk)
    response = HttpResponse(
        evidence_pack(use_case, by=request.user), content_type="application/zip"
    )
    stamp = timezone.localdate().isoformat()
    response["Content-Disposition"] = (
        f'attachment; filename="{use_case.reference}-evidence-{stamp}.zip"'
    )
    response["Cache-Control"] = "private"
    return response
