"""Pages of what triggers a re-assessment besides metrics: the firm's material-change rules,
and a template's new version calling the assessments signed off on older ones back.

Thin views, as in monitoring/views.py: a selector fetches, a rule decides, a service writes.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_safe

from assessments.models import AssessmentTemplate
from monitoring import selectors
from monitoring.forms import MaterialRuleForm
from monitoring.models import MaterialChangeRule
from monitoring.services import material_changes, template_changes
from portal.access import can
from portal.forms import apply_validation_error


@login_required
@require_safe
def material_rule_list(request):
    if not can(request.user, "monitoring.view_material_rule"):
        raise PermissionDenied
    rules = list(selectors.material_rules_visible_to(request.user).order_by("name", "pk"))
    return render(
        request,
        "monitoring/material_rule_list.html",
        {"rules": rules, "can_change": can(request.user, "monitoring.change_material_rule")},
    )


def _form_page(request, form, rule):
    return render(
        request,
        "monitoring/material_rule_form.html",
        {"form": form, "rule": rule},
        status=400 if request.method == "POST" else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def material_rule_create(request):
    if not can(request.user, "monitoring.change_material_rule"):
        raise PermissionDenied
    form = MaterialRuleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            rule = material_changes.material_rule_create(
                actor=request.user, **form.service_fields()
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, f"Material-change rule {rule.name} added.")
            return redirect("monitoring:material-rule-list")
    return _form_page(request, form, None)


@login_required
@require_http_methods(["GET", "POST"])
def material_rule_edit(request, pk: int):
    rule = get_object_or_404(selectors.material_rules_visible_to(request.user), pk=pk)
    if not can(request.user, "monitoring.change_material_rule", rule):
        raise PermissionDenied
    form = MaterialRuleForm(
        request.POST or None, instance=MaterialChangeRule.objects.get(pk=rule.pk)
    )
    if request.method == "POST" and form.is_valid():
        try:
            rule = material_changes.material_rule_update(
                actor=request.user, rule=rule, **form.service_fields()
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, f"Material-change rule {rule.name} saved.")
            return redirect("monitoring:material-rule-list")
    return _form_page(request, form, rule)


# A template's new version ------------------------------------------------------------------
@login_required
@require_safe
def template_change_list(request):
    if not can(request.user, "monitoring.view_template_changes"):
        raise PermissionDenied
    return render(
        request,
        "monitoring/template_change_list.html",
        {"templates": template_changes.templates_with_superseded(request.user)},
    )


@login_required
@require_http_methods(["GET", "POST"])
def template_change_detail(request, pk: int):
    if not can(request.user, "monitoring.view_template_changes"):
        raise PermissionDenied
    template = get_object_or_404(AssessmentTemplate, pk=pk)
    may_flag = can(request.user, "monitoring.flag_template_change")
    if request.method == "POST":
        if not may_flag:
            raise PermissionDenied
        note = request.POST.get("note", "")[:500]
        flags = template_changes.flag_superseded(actor=request.user, template=template, note=note)
        messages.success(
            request,
            f"{len(flags)} use case{'s' if len(flags) != 1 else ''} flagged for re-assessment"
            + (f": {', '.join(f.reference for f in flags)}." if flags else "."),
        )
        return redirect("monitoring:template-change-detail", pk=template.pk)
    assessments = template_changes.superseded_sign_offs(request.user, template)
    return render(
        request,
        "monitoring/template_change_detail.html",
        {
            "template": template,
            "assessments": assessments,
            "may_flag": may_flag,
            "flaggable": [a for a in assessments if a.can_flag and not a.already_flagged],
        },
    )
