"""Pages of releases: promote a version, the approvers' page, a promotion request, a model's
tokens. Each parses the form, calls one service in registry/services/releases.py and renders.
"""

import math

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Prefetch
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from portal.access import can, get_visible_or_404
from portal.confirm import confirm_page, confirmed
from portal.forms import apply_validation_error, error_messages
from registry import release_policy
from registry.forms.releases import DecisionForm, ModelTokenForm, PromoteForm, ReleasePolicyForm
from registry.models import (
    ApproverRole,
    Decision,
    ModelVersion,
    PromotionApproval,
    PromotionRequest,
    PromotionStatus,
    ReleasePolicy,
)
from registry.selectors import (
    access_model,
    access_version,
    model_tokens_visible_to,
    promotions_visible_to,
)
from registry.services import releases as services


def release_context(user, version: ModelVersion) -> dict:
    """The release card of a version's page: where it stands, what a promotion needs, the
    requests and the evaluations."""
    tier = release_policy.version_tier(version)
    policy = release_policy.policy_for(tier)
    promotions = list(
        version.promotions.select_related("requested_by").prefetch_related(
            Prefetch("approvals", queryset=PromotionApproval.objects.select_related("approver"))
        )[:10]
    )
    evaluations = list(
        version.evaluations.select_related("ran_by").prefetch_related("findings")[:10]
    )
    pending = next((p for p in promotions if p.is_pending), None)
    return {
        "tier": tier,
        "policy": policy,
        "in_stage_since": release_policy.in_stage_since(version),
        "hours_left": math.ceil(
            release_policy.time_left_in_stage(version, policy).total_seconds() / 3600
        ),
        "evaluation_problems": release_policy.evaluation_problems(version, policy),
        "promotions": promotions,
        "pending": pending,
        "pending_waiting_for": release_policy.outstanding_roles(pending) if pending else [],
        "evaluations": evaluations,
        "can_promote": can(user, "registry.promote_modelversion", version.model)
        and bool(release_policy.next_stages(version.stage)),
        "can_decide": pending is not None and can(user, "registry.decide_promotion", pending),
    }


@login_required
@require_http_methods(["GET", "POST"])
def version_promote(request, pk: int):
    version = access_version(request.user, pk, "registry.promote_modelversion")
    form = PromoteForm(request.POST or None, version=version)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            try:
                made = services.promotion_request(
                    actor=request.user,
                    version=version,
                    to_stage=data["to_stage"],
                    reason=data["reason"],
                    evidence=data["evidence"],
                    traffic_share=data["traffic_share"],
                )
            except ValidationError as exc:
                apply_validation_error(form, exc)
            else:
                if made.status == PromotionStatus.DONE:
                    messages.success(request, f"{version} is now {made.get_to_stage_display()}.")
                else:
                    messages.success(request, "Asked for approval: the approvers see it now.")
                return redirect(version)
    policy = release_policy.policy_for(release_policy.version_tier(version))
    return render(
        request,
        "registry/releases/promote.html",
        {
            "form": form,
            "version": version,
            "model": version.model,
            "policy": policy,
            "problems": release_policy.evaluation_problems(version, policy),
        },
        status=status,
    )


@login_required
def promotion_list(request):
    """The approvers' page: what waits for them first, then everything waiting, then the
    latest decided."""
    visible = promotions_visible_to(request.user).prefetch_related(
        Prefetch("approvals", queryset=PromotionApproval.objects.select_related("approver"))
    )
    pending = list(visible.filter(status=PromotionStatus.PENDING).order_by("requested_at"))
    mine = [p for p in pending if can(request.user, "registry.decide_promotion", p)]
    others = [p for p in pending if p not in mine]
    decided = list(visible.exclude(status=PromotionStatus.PENDING).order_by("-decided_at")[:20])
    for p in pending:
        p.waiting_for = release_policy.outstanding_roles(p)
    return render(
        request,
        "registry/releases/promotion_list.html",
        {"mine": mine, "others": others, "decided": decided},
    )


def _access_promotion(user, pk: int) -> PromotionRequest:
    return get_visible_or_404(
        promotions_visible_to(user).prefetch_related(
            Prefetch("approvals", queryset=PromotionApproval.objects.select_related("approver"))
        ),
        user,
        pk=pk,
    )


@login_required
def promotion_detail(request, pk: int, form=None, status: int = 200):
    promotion = _access_promotion(request.user, pk)
    version = promotion.model_version
    role = release_policy.role_to_answer(request.user, promotion)
    return render(
        request,
        "registry/releases/promotion_detail.html",
        {
            "promotion": promotion,
            "version": version,
            "model": version.model,
            "waiting_for": release_policy.outstanding_roles(promotion)
            if promotion.is_pending
            else [],
            "role_label": ApproverRole(role).label.lower() if role else "",
            "can_decide": can(request.user, "registry.decide_promotion", promotion),
            "form": form or DecisionForm(),
            "is_requester": promotion.requested_by_id == request.user.pk,
        },
        status=status,
    )


@login_required
@require_POST
def promotion_decide(request, pk: int, decision: str):
    promotion = _access_promotion(request.user, pk)
    if decision not in Decision.values:
        raise Http404("No such answer.")
    form = DecisionForm(request.POST)
    if form.is_valid():
        try:
            done = services.promotion_decide(
                actor=request.user,
                request=promotion,
                decision=decision,
                note=form.cleaned_data["note"],
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            if done.status == PromotionStatus.DONE:
                messages.success(
                    request, f"Approved: {done.model_version} is now {done.get_to_stage_display()}."
                )
            elif done.status == PromotionStatus.REJECTED:
                messages.success(request, "Rejected; the requester sees why.")
            else:
                messages.success(request, "Approved; it waits for the other approvers.")
            return redirect(done)
    return promotion_detail(request, pk, form=form, status=400)


@login_required
@require_POST
def promotion_withdraw(request, pk: int):
    promotion = _access_promotion(request.user, pk)
    try:
        services.promotion_withdraw(
            actor=request.user, request=promotion, reason=request.POST.get("reason", "")
        )
    except ValidationError as exc:
        error_messages(request, exc)
    else:
        messages.success(request, "Withdrawn.")
    return redirect(promotion)


# Model tokens ------------------------------------------------------------------------------
@login_required
@require_http_methods(["GET", "POST"])
def model_tokens(request, pk: int):
    """A model's CI tokens: make one (shown once), revoke one."""
    model = access_model(request.user, pk, "registry.manage_model_tokens")
    form = ModelTokenForm(request.POST or None)
    raw = None
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                _, raw = services.model_token_create(
                    actor=request.user, model=model, name=form.cleaned_data["name"]
                )
            except ValidationError as exc:
                apply_validation_error(form, exc)
            else:
                status = 200
                form = ModelTokenForm()
    tokens = model_tokens_visible_to(request.user).filter(model=model)
    return render(
        request,
        "registry/releases/model_tokens.html",
        {"model": model, "form": form, "raw": raw, "tokens": tokens},
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def model_token_revoke(request, pk: int, token_pk: int):
    """GET: what revoking the token changes; its confirmation's POST revokes it."""
    model = access_model(request.user, pk, "registry.manage_model_tokens")
    token = get_visible_or_404(
        model_tokens_visible_to(request.user).filter(model=model), request.user, pk=token_pk
    )
    tokens_url = reverse("registry:model-tokens", args=[model.pk])
    if not confirmed(request):
        return confirm_page(
            request,
            question=f"Revoke the pipeline token {token.name}?",
            crumbs=[
                ("AI models", reverse("registry:model-list")),
                (model.reference, model.get_absolute_url()),
                ("Tokens", tokens_url),
            ],
            crumb="Revoke",
            subject=f"{model.name} · token {token.token_prefix}…",
            changes=[
                f"The pipeline holding {token.name} can no longer post evaluations of "
                f"{model.name}'s versions: its next call is refused (401).",
                "It cannot be switched back on; make a new token for the pipeline instead.",
                "The revocation and your name are recorded in the token's history.",
            ],
            action=reverse("registry:model-token-revoke", args=[model.pk, token.pk]),
            button="Yes, revoke the token",
            cancel=tokens_url,
        )
    services.model_token_revoke(actor=request.user, token=token)
    messages.success(request, f"Token {token.name} revoked: it stops working now.")
    return redirect("registry:model-tokens", pk=model.pk)


# Release policies ---------------------------------------------------------------------------
@login_required
@require_safe
def release_policy_list(request):
    """What a release needs at each tier; admins edit them."""
    policies = sorted(
        ReleasePolicy.objects.all(),
        key=lambda p: (
            release_policy.TIER_STRICTNESS.index(p.tier)
            if p.tier in release_policy.TIER_STRICTNESS
            else len(release_policy.TIER_STRICTNESS)
        ),
    )
    return render(
        request,
        "registry/releases/policy_list.html",
        {
            "policies": policies,
            "can_change": can(request.user, "registry.change_releasepolicy"),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def release_policy_edit(request, pk: int):
    policy = get_object_or_404(ReleasePolicy, pk=pk)
    if not can(request.user, "registry.change_releasepolicy", policy):
        raise PermissionDenied
    form = ReleasePolicyForm(request.POST or None, instance=policy)
    if request.method == "POST" and form.is_valid():
        try:
            services.release_policy_update(
                actor=request.user, policy=policy, data=form.service_data()
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, f"{policy.get_tier_display()}: release policy saved.")
            return redirect("registry:release-policy-list")
    return render(
        request,
        "registry/releases/policy_form.html",
        {"form": form, "policy": policy},
        status=400 if form.errors else 200,
    )
