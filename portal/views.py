from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.crypto import constant_time_compare
from django.views.decorators.http import require_GET, require_POST, require_safe
from rest_framework.authtoken.models import Token

from portal import health, metrics, notify
from portal.access import access_for
from portal.confirm import confirm_page, confirmed
from portal.forms import NotificationPreferenceForm
from portal.models import Notification, Role


@login_required
def profile(request):
    access = access_for(request.user)
    token = Token.objects.filter(user=request.user).first()
    form = NotificationPreferenceForm(initial={"email": notify.preference(request.user)})
    if request.method == "POST" and "email" in request.POST:
        form = NotificationPreferenceForm(request.POST)
        if form.is_valid():
            notify.set_preference(user=request.user, choice=form.cleaned_data["email"])
            messages.success(request, "Saved: how you are emailed about your notifications.")
            return redirect("profile")
        return render(
            request,
            "portal/profile.html",
            {
                "access": access,
                "has_token": token is not None,
                "roles": _role_labels(access),
                "form": form,
            },
            status=400,
        )
    if request.method == "POST" and token is not None and not confirmed(request):
        # Replacing a token breaks every script that uses it: ask first (portal.confirm).
        return confirm_page(
            request,
            question="Replace your API token?",
            crumbs=[("Your account", reverse("profile"))],
            crumb="Replace the API token",
            changes=[
                "Your current token stops working at once: every script or pipeline that "
                "uses it is refused (401) until it is given the new one.",
                "The new token is shown once, on the next page. Copy it then.",
            ],
            action=reverse("profile"),
            button="Replace my token",
            cancel=reverse("profile"),
            style="warning",
        )
    if request.method == "POST":
        if token:
            token.delete()
        token = Token.objects.create(user=request.user)
        messages.success(
            request, "A new API token was made. Copy it now: it replaces any older one."
        )
        return render(
            request,
            "portal/profile.html",
            {
                "access": access,
                "new_token": token.key,
                "has_token": True,
                "roles": _role_labels(access),
                "form": form,
            },
        )
    return render(
        request,
        "portal/profile.html",
        {
            "access": access,
            "has_token": token is not None,
            "roles": _role_labels(access),
            "form": form,
        },
    )


# Notifications: each person's own; another person's answers 404 like a missing one. -------
@login_required
@require_safe
def notification_list(request):
    qs = Notification.objects.filter(recipient=request.user).defer("body")
    if request.GET.get("show") == "unread":
        qs = qs.filter(read_at__isnull=True)
    page = Paginator(qs, settings.REGISTER_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "portal/notification_list.html",
        {
            "page": page,
            "notifications": page.object_list,
            "show": request.GET.get("show", ""),
            "preference": notify.preference(request.user),
        },
    )


@login_required
@require_safe
def notification_detail(request, pk: int):
    """Opening a notification marks it read and goes to what it is about (a path in the
    portal only), else shows it."""
    notification = get_object_or_404(Notification, pk=pk, recipient=request.user)
    notify.mark_read(notification)
    target = notify.local_path(notification.url)
    if target and request.GET.get("show") != "text":
        return redirect(target)
    return render(request, "portal/notification_detail.html", {"notification": notification})


@login_required
@require_POST
def notification_mark_all_read(request):
    marked = notify.mark_all_read(request.user)
    messages.success(request, f"{marked} notification{'s' if marked != 1 else ''} marked read.")
    return redirect("notifications")


def _role_labels(access) -> list[str]:
    labels = dict(Role.choices)
    return [labels.get(r, r.title()) for r in sorted(access.roles)]


@require_GET
def healthz(request):
    """Liveness: this process answers. It touches nothing else (not even the database), so
    a database outage never gets a healthy web process restarted."""
    return JsonResponse({"status": "ok"})


@require_GET
def readyz(request):
    """Readiness: the database, the broker, a worker, beat and the outbox, each with its
    detail; 503 when any is not ready (docs/operations.md says what each means)."""
    ready, checks = health.readiness()
    return JsonResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status=200 if ready else 503,
    )


@require_GET
def metrics_view(request):
    """Prometheus's scrape: off (404) unless METRICS_TOKEN is set, then that bearer token."""
    token = settings.METRICS_TOKEN
    if not token:
        raise Http404("Metrics are off: set METRICS_TOKEN to turn them on.")
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not constant_time_compare(given, token):
        return JsonResponse(
            {"detail": "Send the metrics token as 'Authorization: Bearer <token>'."},
            status=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    return HttpResponse(metrics.render(), content_type=metrics.CONTENT_TYPE)
