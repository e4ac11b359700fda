from django.conf import settings
from django.urls import reverse

from portal.access import access_for, can
from portal.models import Role


def navigation(request) -> dict:
    """The main navigation, drawn from what the person may do."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"site_name": settings.SITE_NAME, "nav": []}
    access = access_for(user)
    nav = [
        ("Dashboard", reverse("dashboard")),
        ("Portfolio", reverse("portfolio")),
        ("Use cases", reverse("registry:use-case-list")),
        ("Data sources", reverse("registry:data-source-list")),
        ("Models", reverse("registry:model-list")),
        ("Assessments", reverse("assessments:list")),
        ("Monitoring", reverse("monitoring:flag-list")),
        ("Incidents", reverse("incidents:incident-list")),
        ("Compliance", reverse("compliance:coverage")),
        ("Business units", reverse("registry:business-unit-list")),
    ]
    if access.has_role(Role.LEADERSHIP):
        nav.insert(2, ("Sign-off queue", reverse("assessments:queue")))
    if can(user, "portal.view_audit_log"):
        nav.append(("Audit log", reverse("audit-log")))
    if can(user, "people.manage"):
        nav.append(("People", reverse("people:person-list")))
    nav.append(("API", reverse("api-docs")))
    if access.is_admin and user.is_staff:
        nav.append(("Admin", reverse("admin:index")))
    return {"site_name": settings.SITE_NAME, "nav": nav, "access": access}
