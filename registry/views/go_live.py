"""The go-live record: who moved a use case or a deployment into production, when, and what
the gate said then, on a page of its own and as JSON; and the lists of records and gate
decisions an auditor reads on the use case. Whoever reads the use case reads these."""

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from registry.models import GateCheck
from registry.selectors import (
    access_go_live_record,
    access_use_case,
    gate_decisions_of,
    go_live_records_of,
)
from registry.serializers.go_live import GoLiveRecordSerializer

PAGE_SIZE = 50
# How many of each the use case page shows; the rest are one click away.
ON_USE_CASE_PAGE = 10


def _failing(checks: list[dict]) -> list[dict]:
    return [c for c in checks if c.get("applies", True) and not c.get("holds")]


def go_live_context(use_case) -> dict:
    """The use case page's newest go-live records and gate decisions (two queries)."""
    decisions = list(gate_decisions_of(use_case)[: ON_USE_CASE_PAGE + 1])
    records = list(go_live_records_of(use_case.go_live_records.all())[: ON_USE_CASE_PAGE + 1])
    return {
        "go_live_records": records[:ON_USE_CASE_PAGE],
        "more_go_live_records": len(records) > ON_USE_CASE_PAGE,
        "gate_decisions": [(d, _failing(d.checks)) for d in decisions[:ON_USE_CASE_PAGE]],
        "more_gate_decisions": len(decisions) > ON_USE_CASE_PAGE,
    }


@login_required
@require_GET
def go_live_record(request, pk: int):
    record = access_go_live_record(request.user, pk)
    return render(
        request,
        "registry/go_live_record.html",
        {"record": record, "use_case": record.use_case, "missing": _failing(record.checks)},
    )


@login_required
@require_GET
def go_live_record_json(request, pk: int):
    record = access_go_live_record(request.user, pk)
    response = JsonResponse(GoLiveRecordSerializer(record).data, json_dumps_params={"indent": 2})
    response["Content-Disposition"] = (
        f'attachment; filename="{record.use_case.reference}-go-live-{record.pk}.json"'
    )
    return response


@login_required
@require_GET
def use_case_go_live_records(request, pk: int):
    use_case = access_use_case(request.user, pk)
    records = go_live_records_of(use_case.go_live_records.all())
    page = Paginator(records, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "registry/go_live_list.html",
        {"use_case": use_case, "page": page, "showing": "records"},
    )


@login_required
@require_GET
def use_case_gate_decisions(request, pk: int):
    use_case = access_use_case(request.user, pk)
    page = Paginator(gate_decisions_of(use_case), PAGE_SIZE).get_page(request.GET.get("page"))
    decisions: list[tuple[GateCheck, list[dict]]] = [(d, _failing(d.checks)) for d in page]
    return render(
        request,
        "registry/go_live_list.html",
        {"use_case": use_case, "page": page, "decisions": decisions, "showing": "decisions"},
    )
