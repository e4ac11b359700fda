"""The history browser: a record's versions, comparisons, CSV exports and the audit log."""

from collections.abc import Iterable

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from portal.access import can
from portal.csvexport import stream_csv
from portal.history.asof import DELETED, first_version_date, version_at
from portal.history.changes import (
    Version,
    compare,
    related_in_memory,
    snapshot,
)
from portal.history.forms import AsOfForm, AuditFilterForm, CompareForm
from portal.history.selectors import (
    RecordVersions,
    VersionPaginator,
    audit_rows,
    audit_versions,
    iter_audit_versions,
    iter_versions,
    page_versions,
    versions_of,
)
from portal.history.tracked import access_history_record

PAGE_SIZE = 50
RECORD_CSV_COLUMNS = ["version", "date", "user", "change", "reason", "field", "old", "new"]
AUDIT_CSV_COLUMNS = ["record_type", "record_id", "record", *RECORD_CSV_COLUMNS]


def _query_without_page(request) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


@login_required
@require_GET
def record_history(request, model: str, pk: int):
    entry, record = access_history_record(request.user, model, pk)
    page = VersionPaginator(RecordVersions(entry, pk), PAGE_SIZE).get_page(request.GET.get("page"))
    versions = page_versions(entry, page, related_in_memory(record))
    context = {
        "entry": entry,
        "record": record,
        "page": page,
        "versions": versions,
        "query": _query_without_page(request),
        # Preselect the newest change against the version before it.
        "default_a": versions[1].history_id if len(versions) > 1 else None,
        "default_b": versions[0].history_id if versions else None,
    }
    return render(request, "history/record_history.html", context)


@login_required
@require_GET
def record_compare(request, model: str, pk: int):
    entry, record = access_history_record(request.user, model, pk)
    form = CompareForm(request.GET or None, versions=versions_of(entry, pk))
    context = {"entry": entry, "record": record, "form": form}
    status = 200
    if form.is_valid():
        older, newer, changes = compare(entry, form.cleaned_data["a"], form.cleaned_data["b"])
        context.update({"older": older, "newer": newer, "changes": changes})
    elif form.is_bound:
        status = 400
    return render(request, "history/record_compare.html", context, status=status)


@login_required
@require_GET
def record_as_of(request, model: str, pk: int):
    """The record as it stood at a moment: its newest version then, every field readable."""
    entry, record = access_history_record(request.user, model, pk)
    form = AsOfForm(request.GET or None)
    context = {"entry": entry, "record": record, "form": form}
    status = 200
    if form.is_valid():
        moment = form.cleaned_data["at"]
        context["moment"] = moment
        row = version_at(entry, pk, moment)
        if row is None:
            # Nothing to show at that moment: a clear page, with the status of a missing one.
            status = 404
            context["created_at"] = first_version_date(entry, pk)
        else:
            version, values = snapshot(entry, row)
            context.update(
                {"version": version, "values": values, "deleted": row.history_type == DELETED}
            )
    elif form.is_bound:
        status = 400
    return render(request, "history/record_as_of.html", context, status=status)


@login_required
@require_GET
def record_history_export(request, model: str, pk: int):
    entry, record = access_history_record(request.user, model, pk)
    rows = (record_csv_rows(v) for v in iter_versions(entry, pk))
    filename = f"history-{entry.key}-{pk}.csv"
    return _csv_response(RECORD_CSV_COLUMNS, (r for chunk in rows for r in chunk), filename)


@login_required
@require_GET
def audit_log(request):
    if not can(request.user, "portal.view_audit_log"):
        raise PermissionDenied
    form = AuditFilterForm(request.GET or None)
    filters = form.filters()
    paginator = Paginator(audit_rows(filters), PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    versions = audit_versions(list(page.object_list))
    for version in versions:
        version.history_url = reverse("history", args=[version.model_key, version.record_pk])
    query = _query_without_page(request)
    context = {
        "form": form,
        "page": page,
        "versions": versions,
        "query": query,
        "export_url": reverse("audit-log-export") + (f"?{query}" if query else ""),
    }
    return render(request, "history/audit_log.html", context)


@login_required
@require_GET
def audit_log_export(request):
    if not can(request.user, "portal.view_audit_log"):
        raise PermissionDenied
    filters = AuditFilterForm(request.GET or None).filters()

    def rows():
        for version in iter_audit_versions(filters):
            prefix = [version.model_label, version.record_pk, version.record_label]
            for row in record_csv_rows(version):
                yield prefix + row

    stamp = timezone.localdate().isoformat()
    return _csv_response(AUDIT_CSV_COLUMNS, rows(), f"audit-log-{stamp}.csv")


# CSV -----------------------------------------------------------------------------------------
def record_csv_rows(version: Version) -> list[list]:
    """One row per changed field; a version that changed no tracked field still gets a row."""
    head = [
        version.history_id,
        timezone.localtime(version.date).isoformat(),
        version.user_label,
        version.change_type_label,
        version.reason,
    ]
    if not version.changes:
        return [[*head, "", "", ""]]
    return [[*head, c.label, c.old, c.new] for c in version.changes]


def _csv_response(columns: list[str], rows: Iterable[list], filename: str):
    return stream_csv(filename, columns, rows)
