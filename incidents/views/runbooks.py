"""A use case's runbook: read it, write a new version of it."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_safe

from incidents import selectors
from incidents.forms import RunbookForm
from incidents.models import Runbook
from incidents.services.runbooks import runbook_is_current, runbook_save
from portal.access import can
from portal.forms import apply_validation_error
from registry.selectors import access_use_case


@login_required
@require_safe
def runbook_detail(request, use_case_id: int):
    use_case = access_use_case(request.user, use_case_id)
    if not can(request.user, "incidents.view_runbook", use_case):
        raise PermissionDenied
    runbook = selectors.runbook_of(use_case)
    current, reason = runbook_is_current(use_case, runbook=runbook)
    return render(
        request,
        "incidents/runbook_detail.html",
        {
            "use_case": use_case,
            "runbook": runbook,
            "current": current,
            "current_reason": reason,
            "can_change": can(request.user, "incidents.change_runbook", use_case),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def runbook_edit(request, use_case_id: int):
    use_case = access_use_case(request.user, use_case_id)
    if not can(request.user, "incidents.change_runbook", use_case):
        raise PermissionDenied
    runbook = selectors.runbook_of(use_case) or Runbook(use_case=use_case)
    form = RunbookForm(request.POST or None, instance=runbook)
    if request.method == "POST" and form.is_valid():
        try:
            saved = runbook_save(actor=request.user, use_case=use_case, data=form.service_data())
        except ValidationError as exc:
            # The service names the contacts list; the page shows it as a textarea.
            if hasattr(exc, "error_dict") and "contacts" in exc.error_dict:
                exc.error_dict["contacts_text"] = exc.error_dict.pop("contacts")
            apply_validation_error(form, exc)
        else:
            messages.success(request, f"Runbook of {use_case.reference} saved as v{saved.version}.")
            return redirect("incidents:runbook", use_case_id=use_case.pk)
    return render(
        request,
        "incidents/runbook_form.html",
        {"use_case": use_case, "runbook": runbook if runbook.pk else None, "form": form},
        status=400 if request.method == "POST" else 200,
    )
