from datetime import date
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import Http404, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_http_methods, require_POST

from portal.access import can
from portal.confirm import confirm_page, confirmed
from portal.csvexport import stream_csv
from portal.forms import apply_validation_error, error_messages
from portal.htmx import is_htmx, vary_on_htmx
from registry import csvio, services
from registry.csvio import REGISTER_COLUMNS, register_rows
from registry.forms.use_cases import (
    SORTS,
    DataSourceForm,
    ImportUploadForm,
    ReasonForm,
    RegisterFilterForm,
    UseCaseForm,
)
from registry.gate import check_go_live
from registry.models import (
    LIFECYCLE_TRANSITIONS,
    Classification,
    Lifecycle,
    RegisterImport,
    RiskTier,
)
from registry.pages import use_case_panels
from registry.selectors import (
    access_data_source,
    access_use_case,
    business_units_visible_to,
    data_sources_visible_to,
    use_cases_as_of,
    use_cases_visible_to,
)
from registry.services.use_cases import GATE_NOT_MET
from registry.views.go_live import go_live_context


# Register ------------------------------------------------------------------------------------
def _register(user, form: RegisterFilterForm, *, for_export: bool = False):
    """The filtered register and its as-of day: today's use cases, or (with ``as_of``) their
    versions as they stood at the end of that day, filtered on the values of the time."""
    if not form.is_bound:
        qs = use_cases_visible_to(user)
        return (qs.prefetch_related("data_sources") if for_export else qs).order_by("pk"), None
    moment = form.as_of_moment()
    if moment is None:
        qs = use_cases_visible_to(user)
        return form.apply(qs.prefetch_related("data_sources") if for_export else qs), None
    versions = use_cases_as_of(user, moment, with_sources=for_export)
    return form.apply(versions, key="id"), form.cleaned_data["as_of"]


def _without(query, name: str) -> str:
    query = query.copy()
    query.pop(name, None)
    return query.urlencode()


@login_required
def use_case_list(request):
    form = RegisterFilterForm(request.GET or None, user=request.user)
    qs, as_of = _register(request.user, form)
    paginator = Paginator(qs, settings.REGISTER_PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    sort_query = query.copy()
    sort_query.pop("sort", None)
    context = {
        "form": form,
        "page": page,
        "use_cases": page.object_list,
        "query": query.urlencode(),
        "sort_query": sort_query.urlencode(),
        "current_sort": request.GET.get("sort")
        if request.GET.get("sort") in SORTS
        else "reference",
        "can_add": can(request.user, "registry.add_usecase"),
        "can_import": can(request.user, "registry.import_usecases"),
        "as_of": as_of,
        "today_query": _without(query, "as_of"),
    }
    template = (
        "registry/partials/_register_table.html"
        if is_htmx(request)
        else ("registry/use_case_list.html")
    )
    response = render(request, template, context)
    vary_on_htmx(response)
    return response


@login_required
def use_case_export(request):
    if not can(request.user, "registry.export_usecases"):
        raise PermissionDenied
    form = RegisterFilterForm(request.GET or None, user=request.user)
    qs, as_of = _register(request.user, form, for_export=True)
    filename = (
        f"use-case-register-as-of-{as_of.isoformat()}.csv" if as_of else "use-case-register.csv"
    )
    return stream_csv(filename, REGISTER_COLUMNS, register_rows(qs.iterator(chunk_size=500)))


@login_required
def use_case_detail(request, pk: int):
    # What the panels read of the use case (the incidents card: its runbook) comes in one join.
    visible = use_cases_visible_to(request.user)
    if (
        relations := use_case_panels.relations()
    ):  # select_related() with no names would join them all
        visible = visible.select_related(*relations)
    use_case = get_object_or_404(visible, pk=pk)
    data_sources = use_case.data_sources.select_related("business_unit", "owner")
    context = {
        "use_case": use_case,
        "data_sources": data_sources,
        "transitions": services.available_transitions(use_case, request.user),
        "can_change": can(request.user, "registry.change_usecase", use_case),
        "can_flag": can(request.user, "registry.flag_usecase", use_case),
        "can_kill": can(request.user, "registry.kill_switch_usecase", use_case),
        "ask_first": sorted(ASK_FIRST),
        "can_set_tier": can(request.user, "registry.set_tier_usecase", use_case),
        "tiers": RiskTier.choices,
        "recent_history": use_case.history.select_related("history_user")[:5],
        "reason_form": ReasonForm(),
    }
    # How it went into production and every answer of the gate, for auditors and the unit.
    context.update(go_live_context(use_case))
    # Cards of the models, assessments, monitoring and incidents (registry/pages.py).
    context["panels"] = use_case_panels.render(request.user, use_case, context)
    context["blocked"] = _blocked_by_gate(use_case, context["transitions"], context.get("gate"))
    context["can_retire"] = any(name == "retire" for name, _ in context["transitions"])
    return render(request, "registry/use_case_detail.html", context)


def _blocked_by_gate(use_case, transitions, shown) -> list[str]:
    """The moves into production the gate refuses now, drawn disabled (the service refuses
    them too). A suspended use case is asked as the move would ask, which is how it resumes."""
    into_production = [name for name, t in transitions if t.target == Lifecycle.PRODUCTION]
    if not into_production:
        return []
    if shown is None or use_case.lifecycle == Lifecycle.SUSPENDED:
        shown = check_go_live(use_case, moving=True)
    return [] if shown.passed else into_production


@login_required
@require_http_methods(["GET", "POST"])
def use_case_create(request):
    if not can(request.user, "registry.add_usecase"):
        raise PermissionDenied
    form = UseCaseForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            use_case = services.use_case_register(actor=request.user, data=form.service_data())
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, f"{use_case.reference} registered.")
            return redirect(use_case)
    return render(request, "registry/use_case_form.html", {"form": form, "creating": True})


@login_required
@require_http_methods(["GET", "POST"])
def use_case_edit(request, pk: int):
    use_case = access_use_case(request.user, pk, "registry.change_usecase")
    form = UseCaseForm(request.POST or None, instance=use_case, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            saved = services.use_case_update(
                actor=request.user,
                use_case=use_case,
                data=form.service_data(),
                reason=request.POST.get("change_reason", ""),
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, f"{use_case.reference} saved.")
            for flag in getattr(saved, "flags_raised", []):
                # The flag named as a link: its page starts the re-assessment.
                messages.warning(
                    request,
                    format_html(
                        'Material change: <a href="{}">{}</a> flags {} for re-assessment. {}',
                        flag["url"],
                        flag["reference"],
                        use_case.reference,
                        flag["reason"],
                    ),
                )
            return redirect(use_case)
    return render(
        request,
        "registry/use_case_form.html",
        {"form": form, "use_case": use_case, "creating": False},
    )


def _reason_action(request, pk: int, perm: str, action) -> HttpResponse:
    use_case = access_use_case(request.user, pk, perm)
    form = ReasonForm(request.POST)
    form.is_valid()
    try:
        message = action(use_case, form.cleaned_data.get("reason", ""))
    except ValidationError as exc:
        error_messages(request, exc)
    else:
        messages.success(request, message)
    return redirect(use_case)


# Lifecycle moves that ask first on a page of their own (issue 18): the use case page offers
# them in its Actions menu as links, and a POST without the page's confirm=1 gets the page.
ASK_FIRST = {"retire"}


def _retire_page(request, use_case, reason_error: str = "", status: int = 200) -> HttpResponse:
    return confirm_page(
        request,
        question=f"Retire {use_case.reference}?",
        crumbs=[
            ("Use cases", reverse("registry:use-case-list")),
            (use_case.reference, use_case.get_absolute_url()),
        ],
        crumb="Retire",
        subject=f"{use_case.reference} {use_case.title} · {use_case.business_unit.name} · "
        f"now {use_case.get_lifecycle_display().lower()}",
        changes=[
            "The use case leaves service for good: its AI stops, deployed systems polling "
            "the kill switch are told at their next poll, and subscribed systems by webhook.",
            "No lifecycle move leads back out of Retired; the record, its assessments and its "
            "history stay for audit.",
            "The move, your name and your reason are recorded in the use case's history.",
        ],
        action=reverse("registry:use-case-transition", args=[use_case.pk, "retire"]),
        reason_label="Why it is retired",
        reason_error=reason_error,
        button=f"Yes, retire {use_case.reference}",
        cancel=use_case.get_absolute_url(),
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def use_case_transition(request, pk: int, action: str):
    transition = LIFECYCLE_TRANSITIONS.get(action)
    if transition is None:
        raise Http404
    if action in ASK_FIRST and not confirmed(request):
        use_case = access_use_case(request.user, pk, transition.rule)
        if use_case.lifecycle not in transition.source:
            state = use_case.get_lifecycle_display().lower()
            messages.error(request, f"{use_case.reference} is {state}: it cannot be retired.")
            return redirect(use_case)
        return _retire_page(request, use_case)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if action in ASK_FIRST and not request.POST.get("reason", "").strip():
        use_case = access_use_case(request.user, pk, transition.rule)
        return _retire_page(request, use_case, "Say why it is retired.", status=400)

    def run(use_case, reason):
        try:
            services.use_case_transition(
                actor=request.user, use_case=use_case, action=action, reason=reason
            )
        except ValidationError as exc:
            gate = getattr(exc, "error_dict", {}).get("action")
            if transition.target != Lifecycle.PRODUCTION or not gate:
                raise
            # One banner naming what is missing, not one red banner per requirement.
            missing = [m.removeprefix(GATE_NOT_MET).strip() for e in gate for m in e]
            raise ValidationError(
                format_html(
                    '{} does not move to production: {} Missing:<ul class="mb-1">{}</ul>'
                    '<a href="#gate">The go-live gate, with where to put each right</a>',
                    use_case.reference,
                    GATE_NOT_MET[0].lower() + GATE_NOT_MET[1:],
                    format_html_join("", "<li>{}</li>", ((m,) for m in missing)),
                )
            ) from exc
        return f"{use_case.reference}: {transition.label.lower()} done."

    return _reason_action(request, pk, transition.rule, run)


@login_required
@require_POST
def use_case_flag(request, pk: int):
    def run(use_case, reason):
        services.use_case_flag_for_reassessment(
            actor=request.user, use_case=use_case, reason=reason
        )
        return f"{use_case.reference} flagged for re-assessment."

    return _reason_action(request, pk, "registry.flag_usecase", run)


@login_required
@require_POST
def use_case_clear_flag(request, pk: int):
    def run(use_case, reason):
        raw = request.POST.get("next_review_date", "").strip()
        try:
            review = date.fromisoformat(raw) if raw else None
        except ValueError:
            raise ValidationError({"next_review_date": f"{raw!r} is not a date."}) from None
        services.use_case_clear_reassessment(
            actor=request.user, use_case=use_case, reason=reason, next_review_date=review
        )
        return f"{use_case.reference}: re-assessment cleared."

    return _reason_action(request, pk, "registry.flag_usecase", run)


@login_required
@require_http_methods(["GET", "POST"])
def use_case_kill_switch(request, pk: int):
    """The confirmation page, saying what switching changes and for whom; its POST switches."""
    if not confirmed(request):
        # A POST without the page's confirm=1 (a form posting straight here) gets the page.
        use_case = access_use_case(request.user, pk, "registry.kill_switch_usecase")
        return render(
            request,
            "registry/kill_switch_confirm.html",
            {
                "use_case": use_case,
                "engage": not use_case.kill_switch_engaged,
                "reason": request.POST.get("reason", ""),
            },
        )
    engage = request.POST.get("engage") == "1"

    def run(use_case, reason):
        services.use_case_set_kill_switch(
            actor=request.user, use_case=use_case, engaged=engage, reason=reason
        )
        state = "switched off" if engage else "switched back on"
        return f"{use_case.reference}: AI {state}."

    return _reason_action(request, pk, "registry.kill_switch_usecase", run)


@login_required
@require_POST
def use_case_risk_tier(request, pk: int):
    def run(use_case, reason):
        services.use_case_record_risk_tier(
            actor=request.user,
            use_case=use_case,
            tier=request.POST.get("tier", ""),
            justification=reason,
        )
        return f"{use_case.reference}: risk tier recorded."

    return _reason_action(request, pk, "registry.set_tier_usecase", run)


# Data sources --------------------------------------------------------------------------------
@login_required
def data_source_list(request):
    qs = data_sources_visible_to(request.user).order_by("name")
    q = request.GET.get("q", "").strip()
    if q:
        qs = qs.filter(name__icontains=q)
    classification = request.GET.get("classification", "")
    if classification:
        qs = qs.filter(classification=classification)
    page = Paginator(qs, settings.REGISTER_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "registry/data_source_list.html",
        {
            "page": page,
            "q": q,
            "classification": classification,
            "classifications": Classification.choices,
            "query": urlencode(
                {k: v for k, v in (("q", q), ("classification", classification)) if v}
            ),
            "can_add": can(request.user, "registry.add_datasource"),
        },
    )


@login_required
def data_source_detail(request, pk: int):
    source = access_data_source(request.user, pk)
    use_cases = use_cases_visible_to(request.user).filter(data_sources=source)
    return render(
        request,
        "registry/data_source_detail.html",
        {
            "source": source,
            "use_cases": use_cases,
            "can_change": can(request.user, "registry.change_datasource", source),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def data_source_create(request):
    if not can(request.user, "registry.add_datasource"):
        raise PermissionDenied
    form = DataSourceForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            source = services.data_source_create(actor=request.user, data=form.cleaned_data)
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, f"{source.reference} registered.")
            return redirect(source)
    return render(request, "registry/data_source_form.html", {"form": form, "creating": True})


@login_required
@require_http_methods(["GET", "POST"])
def data_source_edit(request, pk: int):
    source = access_data_source(request.user, pk, "registry.change_datasource")
    form = DataSourceForm(request.POST or None, instance=source, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            services.data_source_update(
                actor=request.user, data_source=source, data=form.cleaned_data
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, f"{source.reference} saved.")
            return redirect(source)
    return render(
        request,
        "registry/data_source_form.html",
        {"form": form, "source": source, "creating": False},
    )


# Business units ------------------------------------------------------------------------------
@login_required
def business_unit_list(request):
    units = list(business_units_visible_to(request.user).annotate(n_members=Count("members")))
    visible = dict(
        use_cases_visible_to(request.user)
        .order_by()
        .values_list("business_unit_id")
        .annotate(n=Count("pk"))
    )
    for unit in units:
        unit.n_use_cases = visible.get(unit.pk, 0)  # only the use cases this person may see
    return render(request, "registry/business_unit_list.html", {"units": units})


@login_required
def business_unit_detail(request, pk: int):
    unit = get_object_or_404(business_units_visible_to(request.user), pk=pk)
    use_cases = use_cases_visible_to(request.user).filter(business_unit=unit).order_by("pk")
    return render(
        request,
        "registry/business_unit_detail.html",
        {
            "unit": unit,
            "use_cases": use_cases[:100],
            "members": unit.members.order_by("first_name").prefetch_related("groups"),
        },
    )


# Import --------------------------------------------------------------------------------------
@login_required
@require_http_methods(["GET", "POST"])
def import_upload(request):
    if not can(request.user, "registry.import_usecases"):
        raise PermissionDenied
    form = ImportUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        if upload.size > settings.IMPORT_MAX_BYTES:
            form.add_error("file", f"The file is over {settings.IMPORT_MAX_BYTES // 1024} KB.")
        else:
            try:
                content = upload.read().decode("utf-8-sig")
            except UnicodeDecodeError:
                form.add_error("file", "The file is not UTF-8 text. Save it as CSV UTF-8.")
            else:
                batch, _ = csvio.import_preview(
                    actor=request.user, filename=upload.name, content=content
                )
                return redirect("registry:import-preview", pk=batch.pk)
    return render(request, "registry/import_upload.html", {"form": form})


@login_required
def import_template(request):
    response = HttpResponse(csvio.template_csv(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="register-import-template.csv"'
    return response


@login_required
@require_http_methods(["GET", "POST"])
def import_preview(request, pk: int):
    batch = get_object_or_404(RegisterImport, pk=pk, created_by=request.user)
    report: csvio.ImportReport | None
    if request.method == "POST":
        try:
            report = csvio.import_commit(actor=request.user, batch=batch)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("registry:use-case-list")
        if report.ok:
            messages.success(request, f"Imported {len(report.rows)} use cases.")
            return redirect("registry:import-preview", pk=batch.pk)
        messages.error(request, "Nothing was imported: fix the rows below and upload again.")
    else:
        # Shown from what the last check found: viewing the page locks and writes nothing.
        # Once imported, the report says which rows edited a use case and what that raised.
        report = csvio.ImportReport.from_json(batch.report)
    batch.refresh_from_db()
    return render(request, "registry/import_preview.html", {"batch": batch, "report": report})
