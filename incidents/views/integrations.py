"""What deployed systems and other tools are given: kill-switch tokens and webhook endpoints.

A token and a webhook's signing secret are shown once, on the answer that made them, with
``Cache-Control: no-store`` so that no cache or browser history keeps them.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from incidents import selectors
from incidents.forms import TokenForm, WebhookForm
from incidents.services import killswitch
from incidents.services.webhooks import webhook_endpoint_create, webhook_endpoint_set_active
from portal.access import can
from portal.confirm import confirm_page, confirmed
from portal.forms import apply_validation_error
from registry.selectors import access_use_case


def _no_store(response):
    response["Cache-Control"] = "no-store"
    return response


# Kill-switch tokens --------------------------------------------------------------------------
@login_required
@require_http_methods(["GET", "POST"])
def kill_switch_tokens(request, use_case_id: int):
    use_case = access_use_case(request.user, use_case_id)
    if not can(request.user, "incidents.manage_kill_switch_tokens", use_case):
        raise PermissionDenied
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            token, raw = killswitch.kill_switch_token_create(
                actor=request.user, use_case=use_case, name=form.cleaned_data["name"]
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            return _no_store(
                render(
                    request,
                    "incidents/kill_switch_token_created.html",
                    {
                        "use_case": use_case,
                        "token": token,
                        "raw": raw,
                        "poll_url": request.build_absolute_uri(reverse("api-kill-switch")),
                        "poll_seconds": settings.KILL_SWITCH_POLL_SECONDS,
                    },
                )
            )
    return render(
        request,
        "incidents/kill_switch_tokens.html",
        {
            "use_case": use_case,
            "tokens": selectors.kill_switch_tokens_of(use_case),
            "form": form,
        },
        status=400 if request.method == "POST" else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def kill_switch_token_revoke(request, pk: int):
    """GET: what revoking the token changes; its confirmation's POST revokes it."""
    token = get_object_or_404(selectors.kill_switch_tokens_visible_to(request.user), pk=pk)
    if not can(request.user, "incidents.manage_kill_switch_tokens", token.use_case):
        raise PermissionDenied
    use_case = token.use_case
    tokens_url = reverse("incidents:kill-switch-tokens", args=[use_case.pk])
    if not confirmed(request):
        return confirm_page(
            request,
            question=f"Revoke the kill-switch token of {token.name}?",
            crumbs=[
                (use_case.reference, use_case.get_absolute_url()),
                ("Kill-switch tokens", tokens_url),
            ],
            crumb="Revoke",
            subject=f"{use_case.reference} {use_case.title} · token {token.token_prefix}…",
            changes=[
                f"{token.name} can no longer read {use_case.reference}'s kill switch: its "
                "next poll is refused, and it runs whatever it does when it cannot ask "
                "(its fallback, if it was built to fail safe).",
                "It cannot be switched back on; make a new token for the system instead.",
            ],
            action=reverse("incidents:kill-switch-token-revoke", args=[token.pk]),
            button="Yes, revoke the token",
            cancel=tokens_url,
        )
    killswitch.kill_switch_token_revoke(actor=request.user, token=token)
    messages.success(request, f"Token {token.name} revoked: it no longer reads the switch.")
    return redirect("incidents:kill-switch-tokens", use_case_id=token.use_case_id)


# Webhook endpoints ---------------------------------------------------------------------------
@login_required
@require_http_methods(["GET", "POST"])
def webhook_list(request):
    if not can(request.user, "incidents.manage_webhooks"):
        raise PermissionDenied
    form = WebhookForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            endpoint, secret = webhook_endpoint_create(actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            return _no_store(
                render(
                    request,
                    "incidents/webhook_created.html",
                    {"endpoint": endpoint, "secret": secret},
                )
            )
    return render(
        request,
        "incidents/webhook_list.html",
        {"endpoints": selectors.webhook_endpoints_visible_to(request.user), "form": form},
        status=400 if request.method == "POST" else 200,
    )


@login_required
@require_safe
def webhook_detail(request, pk: int):
    endpoint = get_object_or_404(selectors.webhook_endpoints_visible_to(request.user), pk=pk)
    return render(
        request,
        "incidents/webhook_detail.html",
        {"endpoint": endpoint, "deliveries": selectors.deliveries_of(endpoint)},
    )


@login_required
@require_POST
def webhook_set_active(request, pk: int):
    endpoint = get_object_or_404(selectors.webhook_endpoints_visible_to(request.user), pk=pk)
    active = request.POST.get("active") == "1"
    webhook_endpoint_set_active(actor=request.user, endpoint=endpoint, active=active)
    messages.success(request, f"{endpoint.name} {'resumed' if active else 'paused'}.")
    return redirect("incidents:webhook-detail", pk=endpoint.pk)
