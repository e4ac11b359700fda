from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from rest_framework.authtoken.models import Token

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
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
