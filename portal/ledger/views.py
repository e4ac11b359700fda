"""The ledger's pages and API: verify it, export it, and take the offline verifier.

Admins and auditors only (``portal.view_audit_log``), like the audit log: the ledger spans
every business unit.
"""

from pathlib import Path

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.access import can
from portal.forms import HtmlDateInput, StyledFormMixin
from portal.ledger import chain
from portal.ledger.export import export_lines

RULE = "portal.view_audit_log"
# The API names the period's fields as its query does, and errors of both as DRF does.
KEYS = {"date_from": "from", "date_to": "to", "__all__": "non_field_errors"}
VERIFIER = Path(__file__).with_name("verify_export.py")


class PeriodForm(StyledFormMixin, forms.Form):
    date_from = forms.DateField(label="From", required=False, widget=HtmlDateInput())
    date_to = forms.DateField(label="To", required=False, widget=HtmlDateInput())

    def clean(self):
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            raise forms.ValidationError("The period ends before it starts.")
        return data


def _require(user) -> None:
    if not can(user, RULE):
        raise PermissionDenied


def export_response(date_from=None, date_to=None) -> StreamingHttpResponse:
    response = StreamingHttpResponse(
        export_lines(date_from, date_to), content_type="application/x-ndjson; charset=utf-8"
    )
    stamp = timezone.localdate().isoformat()
    response["Content-Disposition"] = f'attachment; filename="steward-ledger-{stamp}.jsonl"'
    return response


@login_required
@require_GET
def ledger_page(request):
    _require(request.user)
    form = PeriodForm(request.GET or None)
    if form.is_bound and form.is_valid() and "export" in request.GET:
        return export_response(form.cleaned_data["date_from"], form.cleaned_data["date_to"])
    report = chain.verify() if "verify" in request.GET else None
    return render(
        request,
        "history/ledger.html",
        {"form": form, "report": report, "head": chain.head()},
        status=400 if form.is_bound and not form.is_valid() else 200,
    )


@login_required
@require_GET
def verifier_script(request):
    _require(request.user)
    return FileResponse(
        VERIFIER.open("rb"),
        as_attachment=True,
        filename="verify_export.py",
        content_type="text/x-python",
    )


class LedgerVerifyView(APIView):
    """Walk the ledger: how far it is intact, and the first entry that breaks it."""

    @extend_schema(
        tags=["audit"],
        summary="Verify the tamper-evident ledger",
        parameters=[
            OpenApiParameter(
                "chain_only", OpenApiTypes.BOOL, description="Skip re-reading the recorded rows."
            )
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        _require(request.user)
        chain_only = request.query_params.get("chain_only", "").lower() in ("1", "true", "yes")
        return Response(chain.verify(check_sources=not chain_only).as_dict())


class LedgerExportView(APIView):
    """The ledger for a period as JSON Lines: a manifest line, then one line per entry."""

    @extend_schema(
        tags=["audit"],
        summary="Export the ledger (JSON Lines) for offline verification",
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATE, description="First day (inclusive)."),
            OpenApiParameter("to", OpenApiTypes.DATE, description="Last day (inclusive)."),
        ],
        responses={(200, "application/x-ndjson"): OpenApiTypes.STR},
    )
    def get(self, request):
        _require(request.user)
        form = PeriodForm(
            {
                "date_from": request.query_params.get("from"),
                "date_to": request.query_params.get("to"),
            }
        )
        if not form.is_valid():
            return Response({KEYS.get(k, k): v for k, v in form.errors.items()}, status=400)
        return export_response(form.cleaned_data["date_from"], form.cleaned_data["date_to"])
