"""Pages of the model registry: models, versions and their cards, and on the use case page
its models, deployments, data policy and go-live gate. Every write goes through a service."""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, IntegerField, OuterRef, Q, Subquery, prefetch_related_objects
from django.db.models.functions import Coalesce
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from portal.access import can
from portal.confirm import confirm_page, confirmed
from portal.csvexport import stream_csv
from portal.forms import apply_validation_error
from registry import gate, services
from registry.forms.ai_models import (
    AIModelForm,
    DeploymentChangeForm,
    DeploymentForm,
    ModelApprovalDecisionForm,
    ModelCardForm,
    ModelFilterForm,
    ModelVersionForm,
    PolicyExceptionForm,
    UseCaseModelApprovalForm,
    deployable_versions,
)
from registry.model_cards import card_document, card_facts, export_response
from registry.models import (
    MODEL_CARD_SECTIONS,
    AIModel,
    Deployment,
    Lifecycle,
    ModelCard,
    ModelVersion,
    UseCase,
)
from registry.selectors import (
    access_deployment,
    access_model,
    access_use_case,
    access_version,
    use_cases_visible_to,
)
from registry.selectors import ai_models_visible_to as models_visible_to
from registry.views.releases import release_context


# Models ------------------------------------------------------------------------------------------
def _inventory(user, form: ModelFilterForm):
    # A correlated count per row: PostgreSQL counts only the rows of the page, instead of
    # grouping every version of the catalogue before it sorts and slices.
    versions = (
        ModelVersion.objects.filter(model=OuterRef("pk"))
        .order_by()
        .values("model")
        .annotate(n=Count("pk"))
        .values("n")
    )
    qs = models_visible_to(user).annotate(
        n_versions=Coalesce(Subquery(versions, output_field=IntegerField()), 0)
    )
    qs = form.apply(qs) if form.is_bound else qs
    return qs.order_by("name", "pk")


def _deployed_in(user, model_ids=None) -> dict[int, list[str]]:
    """Model → references of the use cases it serves that the person may see."""
    rows = Deployment.objects.filter(
        active=True, use_case__in=use_cases_visible_to(user).values("pk")
    )
    if model_ids is not None:
        rows = rows.filter(model_version__model_id__in=model_ids)
    served: dict[int, set[str]] = {}
    for model_id, ref in rows.values_list("model_version__model_id", "use_case__reference"):
        served.setdefault(model_id, set()).add(ref)
    return {k: sorted(v) for k, v in served.items()}


@login_required
def model_list(request):
    form = ModelFilterForm(request.GET or None)
    page = Paginator(_inventory(request.user, form), settings.REGISTER_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    served = _deployed_in(request.user, [m.pk for m in page.object_list])
    for model in page.object_list:
        model.served = served.get(model.pk, [])
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "registry/models/model_list.html",
        {
            "form": form,
            "page": page,
            "query": query.urlencode(),
            "can_add": can(request.user, "registry.add_aimodel"),
        },
    )


EXPORT_COLUMNS = [
    "reference",
    "name",
    "provider",
    "hosting_pattern",
    "data_destination",
    "vendor",
    "licence",
    "approval_status",
    "approved_by",
    "approved_at",
    "risk_tier",
    "owner",
    "business_unit",
    "versions",
    "use_cases_deployed",
]


@login_required
def model_export(request):
    if not can(request.user, "registry.view_aimodel"):
        raise PermissionDenied
    form = ModelFilterForm(request.GET or None)
    qs = _inventory(request.user, form)
    served = _deployed_in(request.user)

    def rows():
        for m in qs.iterator(chunk_size=500):
            yield [
                m.reference,
                m.name,
                m.provider,
                m.get_hosting_pattern_display(),
                m.get_data_destination_display(),
                m.vendor,
                m.licence,
                m.get_approval_status_display(),
                m.approved_by.username if m.approved_by else "",
                m.approved_at.isoformat() if m.approved_at else "",
                m.get_risk_tier_display(),
                m.owner.username,
                m.business_unit.name,
                m.n_versions,
                " ".join(served.get(m.pk, [])),
            ]

    return stream_csv("model-inventory.csv", EXPORT_COLUMNS, rows())


def _approval_history(model: AIModel) -> list:
    """Each change of approval status, oldest first: who decided, when and why."""
    decisions, last = [], None
    records = model.history.select_related("history_user").order_by("history_date", "history_id")
    for h in records:
        if h.approval_status != last:
            decisions.append(h)
            last = h.approval_status
    return decisions[::-1]


def _model_detail(request, model: AIModel, decision_form=None, status: int = 200):
    user = request.user
    visible = use_cases_visible_to(user).values("pk")
    versions = list(
        model.versions.select_related("card").annotate(
            # Only deployments of use cases the person sees: counts leak nothing either.
            n_deployed=Count(
                "deployments",
                filter=Q(deployments__active=True, deployments__use_case__in=visible),
            )
        )
    )
    for v in versions:
        card = getattr(v, "card", None)
        v.completeness = card.completeness if card else 0  # type: ignore[attr-defined]
    return render(
        request,
        "registry/models/model_detail.html",
        {
            "model": model,
            "versions": versions,
            "deployments": Deployment.objects.filter(
                model_version__model=model, active=True, use_case__in=visible
            ).select_related("use_case", "model_version"),
            "approvals": model.use_case_approvals.filter(use_case__in=visible).select_related(
                "use_case", "approved_by"
            ),
            "decisions": _approval_history(model),
            "can_change": can(user, "registry.change_aimodel", model),
            "can_approve": can(user, "registry.approve_aimodel", model),
            "decision_form": decision_form or ModelApprovalDecisionForm(),
            "card_threshold": settings.MODEL_CARD_MIN_COMPLETENESS,
        },
        status=status,
    )


@login_required
def model_detail(request, pk: int):
    return _model_detail(request, access_model(request.user, pk))


@login_required
@require_POST
def model_approval(request, pk: int):
    model = access_model(request.user, pk, "registry.approve_aimodel")
    form = ModelApprovalDecisionForm(request.POST)
    if form.is_valid():
        try:
            model = services.model_set_approval(
                actor=request.user,
                model=model,
                status=form.cleaned_data["status"],
                note=form.cleaned_data["note"],
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(
                request, f"{model.reference} is {model.get_approval_status_display().lower()}."
            )
            return redirect(model)
    return _model_detail(request, model, decision_form=form, status=400)


@login_required
@require_http_methods(["GET", "POST"])
def model_create(request):
    if not can(request.user, "registry.add_aimodel"):
        raise PermissionDenied
    form = AIModelForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            model = services.model_create(actor=request.user, data=form.service_data())
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, f"{model.reference} registered.")
            return redirect(model)
    return render(request, "registry/models/model_form.html", {"form": form, "creating": True})


@login_required
@require_http_methods(["GET", "POST"])
def model_edit(request, pk: int):
    model = access_model(request.user, pk, "registry.change_aimodel")
    form = AIModelForm(request.POST or None, instance=model, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            services.model_update(actor=request.user, model=model, data=form.service_data())
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, f"{model.reference} saved.")
            return redirect(model)
    return render(
        request,
        "registry/models/model_form.html",
        {"form": form, "model": model, "creating": False},
    )


# Versions and their cards ------------------------------------------------------------------------
@login_required
@require_http_methods(["GET", "POST"])
def version_create(request, pk: int):
    model = access_model(request.user, pk, "registry.change_aimodel")
    form = ModelVersionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            version = services.model_version_create(
                actor=request.user, model=model, data=form.service_data()
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, f"{model.name} {version.version} added.")
            return redirect(model)
    return render(
        request,
        "registry/models/version_form.html",
        {"form": form, "model": model, "version": None},
    )


@login_required
@require_http_methods(["GET", "POST"])
def version_edit(request, pk: int):
    version = access_version(request.user, pk, "registry.change_aimodel")
    form = ModelVersionForm(request.POST or None, instance=version)
    if request.method == "POST" and form.is_valid():
        try:
            services.model_version_update(
                actor=request.user, version=version, data=form.service_data()
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, f"{version} saved.")
            return redirect(version.model)
    return render(
        request,
        "registry/models/version_form.html",
        {"form": form, "model": version.model, "version": version},
    )


@login_required
@require_http_methods(["GET", "POST"])
def version_detail(request, pk: int):
    """The model card of a version: its sections, what is missing, and the known facts."""
    version = access_version(request.user, pk)
    card = ModelCard.objects.filter(model_version=version).first()
    can_change = can(request.user, "registry.change_aimodel", version.model)
    if request.method == "POST" and not can_change:
        raise PermissionDenied
    form = ModelCardForm(request.POST or None, card=card)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.model_card_update(
                    actor=request.user, version=version, sections=form.cleaned_data
                )
            except ValidationError as exc:
                apply_validation_error(form, exc)
            else:
                messages.success(request, f"The card of {version} is saved.")
                return redirect(version)
        status = 400
    shown = card or ModelCard(model_version=version)
    return render(
        request,
        "registry/models/version_detail.html",
        {
            "version": version,
            "model": version.model,
            "card": shown,
            "sections": [
                (title, shown.sections.get(key, ""), help_text)
                for key, title, help_text in MODEL_CARD_SECTIONS
            ],
            "facts": card_facts(version, request.user),
            "form": form,
            "can_change": can_change,
            "card_threshold": settings.MODEL_CARD_MIN_COMPLETENESS,
            "card_history": (
                card.history.select_related("history_user")[:10] if card is not None else []
            ),
            "release": release_context(request.user, version),
            "can_manage_tokens": can(request.user, "registry.manage_model_tokens", version.model),
        },
        status=status,
    )


@login_required
@require_safe
def version_card_export(request, pk: int, fmt: str):
    """The card as a file (html, md or pdf), for anyone who may read the model."""
    version = access_version(request.user, pk)
    return export_response(card_document(version, request.user), fmt)


# On the use case page ----------------------------------------------------------------------------
def use_case_models_context(user, use_case: UseCase) -> dict:
    """The use case page's models, deployments, data policy and go-live gate cards."""
    deployments = list(
        use_case.deployments.filter(active=True).select_related(
            "model_version__model", "previous_version"
        )
    )
    can_deploy = can(user, "registry.deploy_usecase", use_case)
    can_approve = can(user, "registry.approve_model_for_usecase", use_case)
    can_except = can(user, "registry.approve_policy_exception", use_case)
    # The gate and the data policy each read the sources; one prefetch serves them all.
    prefetch_related_objects([use_case], "data_sources")
    breaches = gate.data_policy_breaches(use_case)
    versions = list(deployable_versions(use_case)) if can_deploy else []
    deployment_form = None
    if can_deploy:
        deployment_form = DeploymentForm(use_case=use_case)
        # Drawn from the list already read, rather than reading the versions again.
        version_field = deployment_form.fields["model_version"]
        assert isinstance(version_field, forms.ModelChoiceField)
        version_field.choices = [("", "---------")] + [(v.pk, str(v)) for v in versions]
    return {
        "model_approvals": use_case.model_approvals.select_related("model", "approved_by"),
        "deployments": deployments,
        "deployment_history": Deployment.history.filter(use_case_id=use_case.pk)
        .select_related("history_user", "model_version")
        .order_by("-history_date", "-history_id")[:10],
        "deployable_versions": versions,
        "can_deploy": can_deploy,
        "can_approve_model": can_approve,
        "model_approval_form": UseCaseModelApprovalForm(use_case=use_case) if can_approve else None,
        "deployment_form": deployment_form,
        "breaches": breaches,
        "can_record_exception": can_except and bool(breaches),
        "exception_form": PolicyExceptionForm(breaches=breaches) if can_except else None,
        "gate": gate.check_go_live(use_case),
        "gate_matters": use_case.lifecycle in (Lifecycle.PILOT, Lifecycle.SUSPENDED),
    }


def _use_case_form_page(request, use_case, form, title: str, action: str, status: int = 400):
    """A form of the use case page on a page of its own: where errors show next to fields."""
    return render(
        request,
        "registry/models/use_case_action_form.html",
        {"use_case": use_case, "form": form, "title": title, "action": action},
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def use_case_approve_model(request, pk: int):
    use_case = access_use_case(request.user, pk, "registry.approve_model_for_usecase")
    form = UseCaseModelApprovalForm(request.POST or None, use_case=use_case)
    if request.method == "POST" and form.is_valid():
        try:
            approval = services.model_approval_grant(
                actor=request.user,
                use_case=use_case,
                model=form.cleaned_data["model"],
                note=form.cleaned_data["note"],
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(
                request, f"{approval.model.name} is approved for {use_case.reference}."
            )
            return redirect(use_case)
    return _use_case_form_page(
        request,
        use_case,
        form,
        "Approve a model for this use case",
        "Approve",
        status=400 if request.method == "POST" else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def use_case_deploy(request, pk: int):
    use_case = access_use_case(request.user, pk, "registry.deploy_usecase")
    form = DeploymentForm(request.POST or None, use_case=use_case)
    if request.method == "POST" and form.is_valid():
        try:
            deployment = services.deployment_create(
                actor=request.user, use_case=use_case, data=form.cleaned_data
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(
                request,
                f"{deployment.model_version} deployed to "
                f"{deployment.get_environment_display().lower()}.",
            )
            return redirect(use_case)
    return _use_case_form_page(
        request,
        use_case,
        form,
        "Deploy a model version",
        "Deploy",
        status=400 if request.method == "POST" else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def deployment_change(request, pk: int):
    deployment = access_deployment(request.user, pk)
    use_case = deployment.use_case
    form = DeploymentChangeForm(request.POST or None, deployment=deployment)
    if request.method == "POST" and form.is_valid():
        data = {k: form.cleaned_data[k] for k in ("model_version", "traffic_share")}
        try:
            services.deployment_update(
                actor=request.user,
                deployment=deployment,
                data=data,
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, f"Deployment of {use_case.reference} changed.")
            return redirect(use_case)
    return _use_case_form_page(
        request,
        use_case,
        form,
        f"Change the deployment of {deployment.model_version} "
        f"({deployment.get_environment_display().lower()})",
        "Save",
        status=400 if request.method == "POST" else 200,
    )


def _deployment_confirmed_action(request, deployment, action, page: dict) -> HttpResponse:
    """The confirmation page until its own POST; then the action, or the page again with
    the service's refusal (the reason typed kept)."""
    if not confirmed(request):
        return confirm_page(request, **page)
    try:
        message = action(deployment, request.POST.get("reason", ""))
    except ValidationError as exc:
        return confirm_page(request, **page, reason_error=" ".join(exc.messages), status=400)
    messages.success(request, message)
    return redirect(deployment.use_case)


def _deployment_crumbs(deployment) -> list[tuple[str, str]]:
    use_case = deployment.use_case
    return [
        ("Use cases", reverse("registry:use-case-list")),
        (use_case.reference, use_case.get_absolute_url()),
    ]


@login_required
@require_http_methods(["GET", "POST"])
def deployment_rollback(request, pk: int):
    """GET: what rolling back changes; its POST rolls the deployment back."""
    deployment = access_deployment(request.user, pk)
    now, previous = deployment.model_version, deployment.previous_version
    if previous is None:
        messages.error(request, f"{now} has no earlier version here to roll back to.")
        return redirect(deployment.use_case)

    def run(deployment, reason):
        before = deployment.model_version.version
        deployment = services.deployment_rollback(
            actor=request.user, deployment=deployment, reason=reason
        )
        return f"Rolled back {before} → {deployment.model_version.version}."

    env = deployment.get_environment_display().lower()
    page = {
        "question": f"Roll {now.model.name} back from {now.version} to {previous.version}?",
        "crumbs": _deployment_crumbs(deployment),
        "crumb": "Roll back",
        "subject": f"{deployment.use_case.reference} {deployment.use_case.title} · {env}",
        "changes": [
            f"The {env} deployment serves {previous.version} again, with the same traffic "
            f"share ({deployment.traffic_share}%); {now.version} stops serving here.",
            "In production the go-live gate is asked about the version rolled back to, and a "
            "go-live record keeps what it said.",
            "The rollback, your name and your reason are recorded in the deployment's history.",
        ],
        "action": reverse("registry:deployment-rollback", args=[deployment.pk]),
        "reason_label": f"Why roll back to {previous.version}",
        "button": f"Yes, roll back to {previous.version}",
        "style": "warning",
        "cancel": deployment.use_case.get_absolute_url(),
    }
    return _deployment_confirmed_action(request, deployment, run, page)


@login_required
@require_http_methods(["GET", "POST"])
def deployment_retire(request, pk: int):
    """GET: what retiring the deployment changes; its POST retires it."""
    deployment = access_deployment(request.user, pk)

    def run(deployment, reason):
        services.deployment_retire(actor=request.user, deployment=deployment, reason=reason)
        return f"Deployment of {deployment.model_version} retired."

    version = deployment.model_version
    env = deployment.get_environment_display().lower()
    page = {
        "question": f"Retire the {env} deployment of {version.model.name} {version.version}?",
        "crumbs": _deployment_crumbs(deployment),
        "crumb": "Retire deployment",
        "subject": f"{deployment.use_case.reference} {deployment.use_case.title}",
        "changes": [
            f"{version} stops serving {deployment.use_case.reference} in {env}: the "
            "deployment is no longer active.",
            "If it was the only deployment in production, the go-live gate no longer finds "
            "a deployed model for the use case.",
            "It cannot be undone here: deploying again makes a new deployment. The retirement, "
            "your name and your reason are recorded.",
        ],
        "action": reverse("registry:deployment-retire", args=[deployment.pk]),
        "reason_label": "Why it ends",
        "button": "Yes, retire the deployment",
        "cancel": deployment.use_case.get_absolute_url(),
    }
    return _deployment_confirmed_action(request, deployment, run, page)


@login_required
@require_http_methods(["GET", "POST"])
def use_case_policy_exception(request, pk: int):
    use_case = access_use_case(request.user, pk, "registry.approve_policy_exception")
    form = PolicyExceptionForm(request.POST or None, breaches=gate.data_policy_breaches(use_case))
    if request.method == "POST" and form.is_valid():
        breach = form.chosen()
        try:
            services.policy_exception_record(
                actor=request.user,
                use_case=use_case,
                data_source=breach.data_source,
                model=breach.model,
                justification=form.cleaned_data["justification"],
                expires_on=form.cleaned_data["expires_on"],
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(
                request,
                f"Exception recorded: {breach.data_source.reference} → {breach.model.name} "
                f"until {form.cleaned_data['expires_on']:%d %b %Y}.",
            )
            return redirect(use_case)
    return _use_case_form_page(
        request,
        use_case,
        form,
        "Record a data-policy exception",
        "Record the exception",
        status=400 if request.method == "POST" else 200,
    )
