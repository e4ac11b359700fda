from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.crypto import constant_time_compare
from django.views.decorators.http import require_GET
from rest_framework.authtoken.models import Token

from portal import health, metrics
from portal.access import access_for
from portal.models import Role


@login_required
def profile(request):
    access = access_for(request.user)
    token = Token.objects.filter(user=request.user).first()
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
            },
        )
    return render(
        request,
        "portal/profile.html",
        {"access": access, "has_token": token is not None, "roles": _role_labels(access)},
    )


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
