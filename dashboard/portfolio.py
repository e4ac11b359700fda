"""The portfolio dashboard for leadership and risk officers, and the same figures in the API
(``GET /api/v1/kpis/``). Both read dashboard/kpis.py over what the viewer may see; the page
draws the trends from the monthly snapshots (dashboard/snapshots.py) as server-side SVG."""

from __future__ import annotations

from datetime import date, timedelta
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import APIView

from dashboard import charts, kpis, snapshots
from dashboard.models import SnapshotSource
from incidents.models import Severity as IncidentSeverity
from monitoring.models import Severity as FlagSeverity
from portal.access import can
from portal.forms import HtmlDateInput, StyledFormMixin
from portal.params import MAX_ID
from registry.models import BusinessUnit, Lifecycle, RiskTier

PERIODS = {"30d": 30, "90d": 90, "365d": 365}


class KpiFilterForm(StyledFormMixin, forms.Form):
    """Unit, owner and period. A period is a span back from today or explicit dates."""

    unit = forms.ModelChoiceField(
        queryset=BusinessUnit.objects.order_by("name"), required=False, empty_label="All units"
    )
    owner = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    period = forms.ChoiceField(
        choices=[("30d", "Last 30 days"), ("90d", "Last 90 days"), ("365d", "Last 12 months")],
        required=False,
    )
    start = forms.DateField(required=False, widget=HtmlDateInput())
    end = forms.DateField(required=False, widget=HtmlDateInput())

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end and start > end:
            self.add_error("end", "The end comes after the start.")
        if end and end > timezone.localdate():
            self.add_error("end", "The period ends today at the latest.")
        if start and end and (end - start).days > 3660:
            self.add_error("start", "A period of at most ten years.")
        owner = data.get("owner")
        if owner and not get_user_model().objects.filter(pk=owner).exists():
            self.add_error("owner", "No such person.")
        return data

    def scope(self, viewer) -> kpis.Scope:
        data = self.cleaned_data if self.is_valid() else {}
        today = timezone.localdate()
        end: date = data.get("end") or today
        start: date = data.get("start") or end - timedelta(
            days=PERIODS.get(data.get("period") or "30d", 30) - 1
        )
        unit = data.get("unit")
        return kpis.Scope(
            viewer=viewer,
            unit_id=unit.pk if unit else None,
            owner_id=data.get("owner"),
            start=start,
            end=end,
        )


def _links(scope: kpis.Scope) -> dict:
    """The filtered lists behind the numbers."""
    base = {}
    if scope.unit_id:
        base["unit"] = scope.unit_id
    if scope.owner_id:
        base["owner"] = scope.owner_id

    def use_cases(**extra) -> str:
        return reverse("registry:use-case-list") + "?" + urlencode({**base, **extra})

    return {
        "all": use_cases(),
        "tier": {t: use_cases(tier=t) for t in RiskTier.values},
        "lifecycle": {lc: use_cases(lifecycle=lc) for lc in Lifecycle.values},
        "live": use_cases(lifecycle=Lifecycle.PRODUCTION),
        "reassess": use_cases(needs_reassessment="yes"),
        "flags": reverse("monitoring:flag-list") + "?status=open",
        "flag_severity": {
            s: reverse("monitoring:flag-list") + f"?status=open&severity={s}"
            for s in FlagSeverity.values
        },
        "incident_severity": {
            s: reverse("incidents:incident-list") + f"?severity={s}"
            for s in IncidentSeverity.values
        },
        "incidents": reverse("incidents:incident-list"),
        "open_incidents": reverse("incidents:incident-list") + "?open_only=on",
        "assessments": reverse("assessments:list"),
    }


def _month_label(d: date) -> str:
    return d.strftime("%b %y")


def portfolio_charts(figures: dict, trend: list[dict]) -> dict:
    tiers = figures["tiers"]["by_tier"]
    labels = [_month_label(r["month"]) for r in trend]
    overdue = figures["overdue"]["buckets"]
    spend = figures["spend"]["by_unit"]
    return {
        "tiers": charts.bars(
            "Use cases by risk tier", [(RiskTier(t).label, n) for t, n in tiers.items()]
        ),
        "gate": charts.columns(
            "Live use cases passing the go-live gate, by month",
            labels,
            [("Passing (%)", [r.get("gate.percent") for r in trend])],
            unit="%",
        ),
        "overdue": charts.bars("Overdue reviews and re-assessments by age", list(overdue.items())),
        "flags_incidents": charts.columns(
            "Flags raised and incidents opened, by month",
            labels,
            [
                ("Flags raised", [r.get("flags.raised_in_period") for r in trend]),
                ("Incidents opened", [r.get("incidents.opened_in_period") for r in trend]),
            ],
        ),
        "spend": charts.columns(
            "This month's spend against budget, by unit",
            [u["unit"][:12] for u in spend],
            [("Spent", [u["spent"] for u in spend]), ("Budget", [u["budget"] for u in spend])],
        ),
    }


@login_required
@require_safe
def portfolio(request):
    form = KpiFilterForm(request.GET or None)
    scope = form.scope(request.user)
    figures = kpis.compute(scope)
    trend = snapshots.trend(request.user, unit_id=scope.unit_id)
    return render(
        request,
        "dashboard/portfolio.html",
        {
            "form": form,
            "figures": figures,
            "kpis": kpis.KPIS,
            "links": _links(scope),
            "failing": kpis.live_failing_gate(scope, limit=25),
            "charts": portfolio_charts(figures, trend),
            "trend": trend,
            "tiers": [(t, RiskTier(t).label, n) for t, n in figures["tiers"]["by_tier"].items()],
            "lifecycles": [
                (lc, Lifecycle(lc).label, n) for lc, n in figures["tiers"]["by_lifecycle"].items()
            ],
            "can_snapshot": can(request.user, "dashboard.take_kpi_snapshot"),
        },
    )


@login_required
@require_POST
def snapshot_now(request):
    if not can(request.user, "dashboard.take_kpi_snapshot"):
        raise PermissionDenied
    kept = snapshots.take_snapshots(source=SnapshotSource.ON_DEMAND)
    messages.success(
        request, f"Snapshot taken: this month's KPIs for the firm and {kept - 1} units."
    )
    return redirect("portfolio")


class KpiView(APIView):
    """``GET /api/v1/kpis/``: every KPI over what the caller may see, with the same filters
    as the page (``unit``, ``owner``, ``period``, ``start``, ``end``), the definitions, and
    the monthly trend."""

    @extend_schema(
        tags=["kpis"],
        summary="The governance KPIs over what you may see",
        description="Every KPI (keyed as in ``definitions``) for the firm, a business "
        "unit or an owner over a period (``period`` back from today, or ``start`` and "
        "``end``), the live use cases failing the go-live gate, each KPI's definition "
        "and the monthly trend.",
        parameters=[
            OpenApiParameter("unit", OpenApiTypes.INT, description="A business unit's id."),
            OpenApiParameter(
                "owner",
                {"type": "integer", "minimum": 1, "maximum": MAX_ID},
                description="An owner's (person's) id.",
            ),
            OpenApiParameter(
                "period",
                OpenApiTypes.STR,
                enum=["30d", "90d", "365d"],
                description="A span back from today (30 days when left out).",
            ),
            OpenApiParameter("start", OpenApiTypes.DATE, description="First day."),
            OpenApiParameter("end", OpenApiTypes.DATE, description="Last day (today)."),
        ],
        responses={
            200: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="scope, period, one object per KPI, live_failing_gate, "
                "definitions and trend.",
            ),
            400: OpenApiResponse(description="A filter is invalid; the body names it."),
        },
    )
    def get(self, request):
        form = KpiFilterForm(request.query_params)
        if not form.is_valid():
            raise exceptions.ValidationError(
                {f: [e["message"] for e in errs] for f, errs in form.errors.get_json_data().items()}
            )
        scope = form.scope(request.user)
        figures = kpis.compute(scope)
        return Response(
            {
                "scope": {"unit": scope.unit_id, "owner": scope.owner_id},
                **figures,
                "live_failing_gate": [
                    {
                        "reference": uc.reference,
                        "title": uc.title,
                        "business_unit": uc.business_unit.name,
                        "gate_asked_at": uc.gate_asked_at,
                    }
                    for uc in kpis.live_failing_gate(scope)
                ],
                "definitions": {
                    k.key: {"label": k.label, "definition": k.definition} for k in kpis.KPIS
                },
                "trend": [
                    {**row, "month": row["month"].isoformat()}
                    for row in snapshots.trend(request.user, unit_id=scope.unit_id)
                ],
            }
        )
