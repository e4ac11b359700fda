"""Assessment templates: browse, import a file, export a version as a file."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from assessments import engine, services
from assessments.forms import TemplateImportForm
from assessments.models import AssessmentTemplate
from portal.access import can
from portal.forms import apply_validation_error


def _require(user, perm: str) -> None:
    if not can(user, perm):
        raise PermissionDenied


@login_required
def template_list(request):
    _require(request.user, "assessments.view_template")
    templates = AssessmentTemplate.objects.annotate(used=Count("assessments")).order_by(
        "kind", "key", "-version"
    )
    return render(
        request,
        "assessments/template_list.html",
        {
            "templates": templates,
            "can_manage": can(request.user, "assessments.manage_templates"),
        },
    )


@login_required
def template_detail(request, pk: int):
    _require(request.user, "assessments.view_template")
    template = get_object_or_404(AssessmentTemplate, pk=pk)
    qs = engine.questions(template.definition)
    return render(
        request,
        "assessments/template_detail.html",
        {
            "template": template,
            "sections": [
                (s, [q for q in qs if q.section == s["key"]])
                for s in template.definition["sections"]
            ],
            "used": template.assessments.count(),
            "versions": AssessmentTemplate.objects.filter(key=template.key).order_by("-version"),
        },
    )


@login_required
def template_export(request, pk: int):
    _require(request.user, "assessments.view_template")
    template = get_object_or_404(AssessmentTemplate, pk=pk)
    response = HttpResponse(
        services.template_export(template), content_type="application/json; charset=utf-8"
    )
    response["Content-Disposition"] = (
        f'attachment; filename="{template.key}-v{template.version}.json"'
    )
    return response


@login_required
@require_http_methods(["GET", "POST"])
def template_import(request):
    _require(request.user, "assessments.manage_templates")
    form = TemplateImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            if upload.size > 2 * 1024 * 1024:
                raise ValidationError({"file": "A template file is at most 2 MB."})
            definition = services.parse_template_file(upload.read())
            template, outcome = services.template_import(actor=request.user, definition=definition)
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, f"{template.title} version {template.version}: {outcome}.")
            return redirect(template.get_absolute_url())
    return render(request, "assessments/template_import.html", {"form": form})
