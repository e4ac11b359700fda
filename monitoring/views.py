"""Pages of monitoring: a deployment's charts and sources, flags, rules, budgets, the report.

Thin views: a selector fetches what the person may see (404 otherwise), a rule decides what
they may do (403), a service writes. Charts are inline SVG drawn on the server
(monitoring/charts.py), so the pages and the PDF show the same figures without scripts.
"""

from datetime import datetime, timedelta
from functools import partial

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from monitoring import catalogue, charts, selectors
from monitoring.forms import BudgetForm, FlagFilterForm, ReasonForm, RuleForm, SourceForm
from monitoring.models import Budget, FlagStatus, MetricSource, Rule, SourceKind
from monitoring.pages import flag_panels
from monitoring.report import report_context
from monitoring.services import costs, flags, metric_rules, sources
from portal.access import can
from portal.confirm import confirm_page, confirmed
from portal.forms import apply_validation_error, error_messages
from portal.htmx import is_htmx, vary_on_htmx
from portal.pdf import pdf_response, render_pdf
from registry.selectors import access_use_case


def _deployment_url(deployment_id: int) -> str:
    return reverse("monitoring:deployment-detail", args=[deployment_id])


# A deployment's monitoring page --------------------------------------------------------------
@login_required
@require_safe
def deployment_detail(request, pk: int):
    deployment = selectors.deployment_for_metrics(request.user, pk)
    range_key = request.GET.get("range")
    if range_key not in selectors.RANGES:
        range_key = selectors.DEFAULT_RANGE
    end = timezone.now()
    start = end - selectors.RANGES[range_key][1]
    series_charts = selectors.series_charts(deployment, start, end)
    context = {
        "deployment": deployment,
        "use_case": deployment.use_case,
        "ranges": [(key, label) for key, (label, _) in selectors.RANGES.items()],
        "range_key": range_key,
        "start": start,
        "end": end,
        "series_charts": series_charts,
    }
    if is_htmx(request):
        response = render(request, "monitoring/partials/_charts.html", context)
        vary_on_htmx(response)
        return response
    cost_rows = selectors.cost_days(deployment)
    spent = selectors.month_spend_of([deployment.use_case_id]).get(deployment.use_case_id, 0.0)
    context |= {
        "sources": list(deployment.metric_sources.all()),
        "open_flags": selectors.open_flags_of_deployment(deployment),
        "cost_rows": cost_rows,
        "cost_chart": selectors.cost_chart(cost_rows, "Cost per day, last 30 days"),
        "drift": selectors.drift_table(deployment, now=end),
        "costs": selectors.budget_status(deployment.use_case, spent),
        "can_manage": can(request.user, "monitoring.manage_source", deployment),
        "can_set_budget": can(request.user, "monitoring.set_budget", deployment.use_case),
        "push_url": request.build_absolute_uri(reverse("api-push-samples")),
    }
    response = render(request, "monitoring/deployment_detail.html", context)
    vary_on_htmx(response)
    return response


# Sources -------------------------------------------------------------------------------------
def _token_page(request, source: MetricSource, token: str, *, created: bool):
    """The one page that ever shows a push token: it is not stored, only its hash."""
    response = render(
        request,
        "monitoring/source_token.html",
        {
            "source": source,
            "deployment": source.deployment,
            "token": token,
            "created": created,
            "push_url": request.build_absolute_uri(reverse("api-push-samples")),
        },
    )
    # Nobody's cache, nor the browser's history, keeps the token.
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_http_methods(["GET", "POST"])
def source_create(request, pk: int):
    deployment = selectors.deployment_for_metrics(request.user, pk)
    if not can(request.user, "monitoring.manage_source", deployment):
        raise PermissionDenied
    form = SourceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            source, token = sources.source_create(
                actor=request.user,
                deployment=deployment,
                credentials=form.credentials() or None,
                **form.service_fields(),
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            if token:
                return _token_page(request, source, token, created=True)
            messages.success(request, f"Source {source.name} added.")
            return redirect(_deployment_url(deployment.pk))
    return render(
        request,
        "monitoring/source_form.html",
        {"form": form, "deployment": deployment, "source": None},
        status=400 if request.method == "POST" else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def source_edit(request, pk: int):
    source = selectors.access_source(request.user, pk, "monitoring.manage_source")
    form = SourceForm(request.POST or None, instance=source)
    if request.method == "POST" and form.is_valid():
        try:
            sources.source_update(
                actor=request.user,
                source=source,
                credentials=form.credentials(),
                **form.service_fields(),
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, f"Source {source.name} saved.")
            return redirect(_deployment_url(source.deployment_id))
    return render(
        request,
        "monitoring/source_form.html",
        {"form": form, "deployment": source.deployment, "source": source},
        status=400 if request.method == "POST" else 200,
    )


@login_required
@require_POST
def source_test(request, pk: int):
    """What the source would give now, read and shown, never written."""

    source = selectors.access_source(request.user, pk, "monitoring.manage_source")
    result = sources.source_test(actor=request.user, source=source)
    context = {"source": source, "deployment": source.deployment, "result": result}
    if is_htmx(request):
        return render(request, "monitoring/partials/_source_test.html", context)
    return render(request, "monitoring/source_test.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def source_rotate_token(request, pk: int):
    """GET (or a POST without confirm=1): what a new token changes; its POST issues one."""
    source = selectors.access_source(request.user, pk, "monitoring.manage_source")
    if source.kind != SourceKind.PUSH:
        raise PermissionDenied("Only push sources have a token.")
    if not confirmed(request):
        deployment = source.deployment
        return confirm_page(
            request,
            question=f"Issue a new push token for {source.name}?",
            crumbs=[
                (deployment.use_case.reference, deployment.use_case.get_absolute_url()),
                ("Monitoring", reverse("monitoring:deployment-detail", args=[deployment.pk])),
            ],
            crumb="New push token",
            subject=f"{deployment.use_case.title} · {deployment.model_version}",
            changes=[
                "The source's current token stops working at once: pushes that send it are "
                "refused (401) until the system is given the new one.",
                "The new token is shown once, on the next page. Copy it then.",
                "Who issued it and when is recorded in the source's history.",
            ],
            action=reverse("monitoring:source-rotate", args=[source.pk]),
            button="Issue a new token",
            cancel=reverse("monitoring:deployment-detail", args=[deployment.pk]),
            style="warning",
        )
    token = sources.source_rotate_token(actor=request.user, source=source)
    return _token_page(request, source, token, created=False)


# Flags ---------------------------------------------------------------------------------------
@login_required
@require_safe
def flag_list(request):
    form = FlagFilterForm(request.GET or {"status": FlagStatus.OPEN}, user=request.user)
    found = form.apply(selectors.flags_visible_to(request.user)).order_by("-raised_at", "-pk")
    page = Paginator(found, 25).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "monitoring/flag_list.html",
        {"form": form, "page": page, "query": query.urlencode()},
    )


def _flag_chart(flag) -> str | None:
    """The flagged series around its window, the window shaded and the breach marked."""
    evidence = flag.evidence or {}
    if flag.deployment is None or not evidence.get("metric"):
        return None
    try:
        window_start = datetime.fromisoformat(evidence["window_start"])
        window_end = datetime.fromisoformat(evidence["window_end"])
    except (KeyError, TypeError, ValueError):
        return None
    span = max(window_end - window_start, timedelta(minutes=5))
    start = window_start - 2 * span
    end = min(timezone.now(), window_end + span)
    points = selectors.series(
        flag.deployment, evidence["metric"], evidence.get("feature", ""), start, end, points=200
    )
    value = selectors.evidence_value(flag)
    metric = evidence["metric"]
    value_format = partial(catalogue.format_value, metric)
    thresholds = []
    if isinstance(evidence.get("threshold"), int | float):
        threshold = float(evidence["threshold"])
        thresholds.append(charts.Threshold(threshold, f"threshold {value_format(threshold)}"))
    return charts.line_chart(
        points,
        title=f"{catalogue.describe(metric, evidence.get('feature', ''))} around {flag.reference}",
        value_format=value_format,
        thresholds=thresholds,
        markers=[charts.Marker(flag.raised_at, value, flag.reference)] if value is not None else [],
        start=start,
        end=end,
        shade=(window_start, window_end),
    )


def _flag_page(request, flag, form=None, status: int = 200):
    can_resolve = flag.is_open and can(request.user, "monitoring.resolve_flag", flag)
    start_from = None
    if flag.is_open and flag.reassessment_id is None:
        signed = flags.last_signed_off(flag.use_case)
        if signed is not None and can(request.user, "assessments.reassess", signed):
            start_from = signed
    context = {
        "start_from": start_from,
        "flag": flag,
        "evidence": flag.evidence or {},
        "chart": _flag_chart(flag),
        "evidence_rows": [] if flag.rule_id else selectors.cause_evidence_rows(flag.evidence),
        "can_resolve": can_resolve,
        "form": form or (ReasonForm() if can_resolve else None),
    }
    # Cards other apps add (incidents: open an incident from the flag), monitoring/pages.py.
    context["panels"] = flag_panels.render(request.user, flag, context)
    return render(request, "monitoring/flag_detail.html", context, status=status)


@login_required
@require_safe
def flag_detail(request, reference: str):
    return _flag_page(request, selectors.flag_by_key(request.user, reference))


@login_required
@require_POST
def flag_resolve(request, reference: str):
    flag = selectors.flag_by_key(request.user, reference)
    if not can(request.user, "monitoring.resolve_flag", flag):
        raise PermissionDenied
    form = ReasonForm(request.POST)
    if form.is_valid():
        try:
            flags.flag_resolve(actor=request.user, flag=flag, reason=form.cleaned_data["reason"])
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, f"{flag.reference} resolved.")
            return redirect(reverse("monitoring:flag-detail", args=[flag.reference]))
    return _flag_page(request, flag, form=form, status=400)


@login_required
@require_POST
def flag_reassess(request, reference: str):
    """Start the re-assessment the flag asks for (from the last signed-off assessment)."""
    flag = selectors.flag_by_key(request.user, reference)
    try:
        draft = flags.flag_start_reassessment(actor=request.user, flag=flag)
    except ValidationError as exc:
        error_messages(request, exc)
        return redirect(reverse("monitoring:flag-detail", args=[flag.reference]))
    messages.success(request, f"{draft.reference} started for {flag.reference}.")
    return redirect(draft)


# Rules ---------------------------------------------------------------------------------------
@login_required
@require_safe
def rule_list(request):
    if not can(request.user, "monitoring.view_rule"):
        raise PermissionDenied
    rules = list(selectors.rules_visible_to(request.user).order_by("name", "pk"))
    for rule in rules:
        rule.can_change = can(request.user, "monitoring.change_rule", rule)
    return render(
        request,
        "monitoring/rule_list.html",
        {"rules": rules, "can_add": can(request.user, "monitoring.add_rule")},
    )


@login_required
@require_http_methods(["GET", "POST"])
def rule_create(request):
    if not can(request.user, "monitoring.add_rule"):
        raise PermissionDenied
    form = RuleForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            rule = metric_rules.rule_create(actor=request.user, **form.service_fields())
        except ValidationError as exc:
            apply_validation_error(form, exc)
        except PermissionDenied:
            form.add_error("use_case", "You may not write rules for this use case.")
        else:
            messages.success(request, f"Rule {rule.name} added.")
            return redirect("monitoring:rule-list")
    return render(
        request,
        "monitoring/rule_form.html",
        {"form": form, "rule": None},
        status=400 if request.method == "POST" else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def rule_edit(request, pk: int):
    rule = get_object_or_404(selectors.rules_visible_to(request.user), pk=pk)
    if not can(request.user, "monitoring.change_rule", rule):
        raise PermissionDenied
    form = RuleForm(request.POST or None, instance=Rule.objects.get(pk=rule.pk), user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            rule = metric_rules.rule_update(actor=request.user, rule=rule, **form.service_fields())
        except ValidationError as exc:
            apply_validation_error(form, exc)
        except PermissionDenied:
            form.add_error("use_case", "You may not move the rule to this use case.")
        else:
            messages.success(request, f"Rule {rule.name} saved.")
            return redirect("monitoring:rule-list")
    return render(
        request,
        "monitoring/rule_form.html",
        {"form": form, "rule": rule},
        status=400 if request.method == "POST" else 200,
    )


# Budgets and the report ----------------------------------------------------------------------
@login_required
@require_http_methods(["GET", "POST"])
def budget_edit(request, pk: int):
    use_case = access_use_case(request.user, pk)
    if not can(request.user, "monitoring.set_budget", use_case):
        raise PermissionDenied
    budget = Budget.objects.filter(use_case=use_case).first()
    form = BudgetForm(
        request.POST or None, initial={"monthly_amount": budget.monthly_amount if budget else None}
    )
    if request.method == "POST" and form.is_valid():
        try:
            budget = costs.budget_set(
                actor=request.user,
                use_case=use_case,
                monthly_amount=form.cleaned_data["monthly_amount"],
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(
                request,
                f"Budget of {use_case.reference} set to {budget.monthly_amount}."
                if budget
                else f"Budget of {use_case.reference} removed.",
            )
            return redirect(use_case)
    return render(
        request,
        "registry/models/use_case_action_form.html",
        {
            "use_case": use_case,
            "form": form,
            "title": "Monthly AI budget",
            "action": "Save the budget",
        },
        status=400 if request.method == "POST" else 200,
    )


@login_required
@require_safe
def use_case_report(request, pk: int):
    """One page for leadership: trends, open flags, cost against budget."""

    use_case = access_use_case(request.user, pk)
    if not can(request.user, "monitoring.view_metrics", use_case):
        raise PermissionDenied
    content = render_pdf("monitoring/pdf/report.html", report_context(use_case), request=request)
    return pdf_response(content, f"{use_case.reference}-monitoring.pdf")
