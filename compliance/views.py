"""Pages: frameworks, a use case's obligations, controls, evidence and coverage."""

from collections.abc import Iterable

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from compliance import selectors
from compliance.forms import ControlForm, EvidenceForm, ExceptionForm, FrameworkImportForm
from compliance.models import Applicability, CrosswalkLink, FrameworkKind, Scope
from compliance.services import library
from compliance.services.frameworks import (
    framework_export,
    framework_import,
    parse_framework_file,
)
from portal.access import can, require
from portal.forms import apply_validation_error, error_messages
from portal.params import as_id
from registry.selectors import business_units_visible_to, use_cases_visible_to


# Frameworks ---------------------------------------------------------------------------------
@login_required
@require_http_methods(["GET", "POST"])
def framework_list(request):
    require(request.user, "compliance.view_framework")
    form = FrameworkImportForm(request.POST or None, request.FILES or None)
    can_manage = can(request.user, "compliance.manage_frameworks")
    if request.method == "POST":
        require(request.user, "compliance.manage_frameworks")
        if form.is_valid():
            try:
                definition = parse_framework_file(form.cleaned_data["file"].read())
                framework, outcome = framework_import(actor=request.user, definition=definition)
            except ValidationError as exc:
                apply_validation_error(form, exc)
            else:
                messages.success(request, f"{framework}: {outcome}.")
                return redirect(framework)
    frameworks = selectors.frameworks_visible_to(request.user).order_by("kind", "key", "-version")
    return render(
        request,
        "compliance/framework_list.html",
        {"frameworks": frameworks, "form": form, "can_manage": can_manage},
    )


@login_required
@require_safe
def framework_detail(request, pk: int):
    framework = selectors.access_framework(request.user, pk)
    require(request.user, "compliance.view_framework", framework)
    links: Iterable[CrosswalkLink] = ()
    if framework.kind == FrameworkKind.CROSSWALK:
        links = framework.links.select_related("source__framework", "target__framework")
    return render(
        request,
        "compliance/framework_detail.html",
        {
            "framework": framework,
            "items": framework.obligations.select_related("exclusion__excluded_by"),
            "links": links,
            "may_exclude": framework.scope == Scope.ORGANISATION
            and can(request.user, "compliance.manage_frameworks"),
        },
    )


@login_required
@require_POST
def obligation_exclusion(request, obligation_id: int):
    """Mark an item of a firm-wide framework not applicable (with why), or applicable again."""
    obligation = get_object_or_404(
        selectors.obligations_visible_to(request.user).select_related("framework"),
        pk=obligation_id,
    )
    require(request.user, "compliance.manage_frameworks")
    back = reverse("compliance:framework-detail", args=[obligation.framework_id])
    try:
        if request.POST.get("applies") == "yes":
            library.exclusion_remove(
                actor=request.user, obligation=obligation, reason=request.POST.get("reason", "")
            )
            messages.success(request, f"{obligation.ref} applies to the firm again.")
        else:
            library.exclusion_set(
                actor=request.user, obligation=obligation, reason=request.POST.get("reason", "")
            )
            messages.success(request, f"{obligation.ref} marked not applicable.")
    except ValidationError as exc:
        error_messages(request, exc)
    return redirect(f"{back}#item-{obligation.pk}")


@login_required
@require_safe
def framework_download(request, pk: int):
    framework = selectors.access_framework(request.user, pk)
    response = HttpResponse(framework_export(framework), content_type="application/json")
    response["Content-Disposition"] = (
        f'attachment; filename="{framework.key}.v{framework.version}.json"'
    )
    return response


# A use case's obligations -------------------------------------------------------------------
@login_required
@require_safe
def use_case_obligations(request, use_case_id: int):
    use_case = selectors.access_use_case_obligations(request.user, use_case_id)
    require(request.user, "compliance.view_applicability", use_case)
    rows = selectors.use_case_obligations(use_case)
    return render(
        request,
        "compliance/use_case_obligations.html",
        {
            "use_case": use_case,
            "rows": rows,
            "share": selectors.use_case_coverage(use_case),
            "can_accept": can(request.user, "compliance.accept_exception", use_case),
            "can_recompute": can(request.user, "compliance.recompute_applicability", use_case),
            "form": ExceptionForm(),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def exception_accept(request, pk: int):
    row = get_object_or_404(
        selectors.applicability_visible_to(request.user).select_related("use_case"), pk=pk
    )
    require(request.user, "compliance.accept_exception", row.use_case)
    form = ExceptionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            library.exception_accept(
                actor=request.user,
                applicability=row,
                reason=form.cleaned_data["reason"],
                expires_on=form.cleaned_data["expires_on"],
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, f"{row.obligation.ref} accepted until it expires.")
            return redirect("compliance:use-case-obligations", use_case_id=row.use_case_id)
    return render(request, "compliance/exception_form.html", {"row": row, "form": form})


@login_required
@require_POST
def use_case_recompute(request, use_case_id: int):
    use_case = selectors.access_use_case_obligations(request.user, use_case_id)
    try:
        counts = library.applicability_recompute(actor=request.user, use_case=use_case)
    except ValidationError as exc:
        error_messages(request, exc)
    else:
        messages.success(
            request, f"Recomputed: {counts['created']} new, {counts['changed']} changed."
        )
    return redirect("compliance:use-case-obligations", use_case_id=use_case.pk)


# Controls -----------------------------------------------------------------------------------
@login_required
@require_safe
def control_list(request):
    require(request.user, "compliance.view_control")
    controls = selectors.controls_visible_to(request.user).prefetch_related("obligations")
    return render(
        request,
        "compliance/control_list.html",
        {
            "controls": controls,
            "can_manage": can(request.user, "compliance.manage_controls"),
        },
    )


@login_required
@require_safe
def control_detail(request, pk: int):
    control = selectors.access_control(request.user, pk)
    evidence = selectors.evidence_visible_to(request.user).filter(controls=control)
    return render(
        request,
        "compliance/control_detail.html",
        {
            "control": control,
            "obligations": control.obligations.select_related("framework"),
            "use_cases": use_cases_visible_to(request.user).filter(controls=control),
            "evidence": evidence,
            "can_manage": can(request.user, "compliance.manage_controls", control),
            "can_add_evidence": can(request.user, "compliance.add_evidence"),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def control_edit(request, pk: int | None = None):
    control = selectors.access_control(request.user, pk) if pk else None
    require(request.user, "compliance.manage_controls", control)
    visible = use_cases_visible_to(request.user)
    form = ControlForm(request.POST or None, instance=control, use_cases=visible)
    if request.method == "POST" and form.is_valid():
        data = {f: form.cleaned_data[f] for f in form.Meta.fields}
        try:
            if control is None:
                control = library.control_create(
                    actor=request.user,
                    data=data,
                    obligations=form.cleaned_data["obligations"],
                    use_cases=form.cleaned_data["use_cases"],
                )
            else:
                control = library.control_update(
                    actor=request.user,
                    control=control,
                    data=data,
                    obligations=form.cleaned_data["obligations"],
                    use_cases=form.cleaned_data["use_cases"],
                )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, f"{control.reference} saved.")
            return redirect(control)
    return render(request, "compliance/control_form.html", {"form": form, "control": control})


# Evidence -----------------------------------------------------------------------------------
@login_required
@require_safe
def evidence_list(request):
    evidence = selectors.evidence_visible_to(request.user).prefetch_related("controls")
    page = Paginator(evidence, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "compliance/evidence_list.html",
        {
            "page": page,
            "evidence": page.object_list,
            "can_add": can(request.user, "compliance.add_evidence"),
        },
    )


@login_required
@require_safe
def evidence_detail(request, pk: int):
    evidence = selectors.access_evidence(request.user, pk)
    return render(
        request,
        "compliance/evidence_detail.html",
        {
            "evidence": evidence,
            "controls": evidence.controls.all(),
            "obligations": evidence.obligations.select_related("framework"),
            "use_cases": evidence.use_cases.all(),
            "can_change": can(request.user, "compliance.change_evidence", evidence),
        },
    )


@login_required
@require_safe
def evidence_download(request, pk: int):
    evidence = selectors.access_evidence(request.user, pk)
    if not evidence.file:
        raise Http404("No file.")
    return FileResponse(evidence.file.open("rb"), as_attachment=True, filename=evidence.filename)


@login_required
@require_http_methods(["GET", "POST"])
def evidence_new(request):
    require(request.user, "compliance.add_evidence")
    visible = use_cases_visible_to(request.user)
    initial = {}
    control = as_id(request.GET.get("control", ""))
    if control is not None:
        initial["controls"] = [control]
    form = EvidenceForm(
        request.POST or None, request.FILES or None, use_cases=visible, initial=initial
    )
    if request.method == "POST" and form.is_valid():
        data = {f: form.cleaned_data[f] for f in form.Meta.fields}
        if data["attested_by"] is None:
            data.pop("attested_by")
        try:
            evidence = library.evidence_add(
                actor=request.user,
                data=data,
                upload=form.cleaned_data["upload"],
                controls=form.cleaned_data["controls"],
                obligations=form.cleaned_data["obligations"],
                use_cases=form.cleaned_data["use_cases"],
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, f"{evidence.reference} attached.")
            return redirect(evidence)
    return render(request, "compliance/evidence_form.html", {"form": form})


# Coverage -----------------------------------------------------------------------------------
@login_required
@require_safe
def coverage(request):
    require(request.user, "compliance.view_coverage")
    unit = request.GET.get("unit")
    unit_id = as_id(unit) if unit else None
    return render(
        request,
        "compliance/coverage.html",
        {
            "coverage": selectors.coverage(request.user, unit=unit_id),
            "units": business_units_visible_to(request.user),
            "unit": unit_id,
        },
    )


def applicability_for(user, pk: int) -> Applicability:
    row = get_object_or_404(selectors.applicability_visible_to(user), pk=pk)
    if not can(user, "compliance.view_applicability", row.use_case):
        raise PermissionDenied
    return row
