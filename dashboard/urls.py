from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.urls import include, path
from django.utils.functional import lazy
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.permissions import IsAuthenticated

from dashboard import board_pack_views
from dashboard import portfolio as portfolio_views
from dashboard import views as dashboard_views
from portal import views
from portal.forms import SignInForm, ThrottledPasswordResetForm

urlpatterns = [
    path("", dashboard_views.dashboard, name="dashboard"),
    path("my-work/", dashboard_views.my_work_page, name="my-work"),
    path("notifications/", views.notification_list, name="notifications"),
    path("notifications/<int:pk>/", views.notification_detail, name="notification"),
    path(
        "notifications/read-all/", views.notification_mark_all_read, name="notifications-read-all"
    ),
    path("portfolio/", portfolio_views.portfolio, name="portfolio"),
    path("portfolio/snapshot/", portfolio_views.snapshot_now, name="portfolio-snapshot"),
    path("portfolio/board-packs/", board_pack_views.board_pack_list, name="board-pack-list"),
    path("portfolio/board-packs/<int:pk>/", board_pack_views.board_pack_detail, name="board-pack"),
    path(
        "portfolio/board-packs/<int:pk>/board-pack.pdf",
        board_pack_views.board_pack_pdf,
        name="board-pack-pdf",
    ),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", views.metrics_view, name="metrics"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(
            redirect_authenticated_user=True,
            authentication_form=SignInForm,
            # LoginView names the site after the request's host otherwise, and the page
            # title read "Sign in · 127.0.0.1:8000".
            extra_context={"site_name": lazy(lambda: settings.SITE_NAME, str)()},
        ),
        name="login",
    ),
    # Before django.contrib.auth.urls, whose own password_reset has no limit on requests.
    path(
        "accounts/password_reset/",
        auth_views.PasswordResetView.as_view(form_class=ThrottledPasswordResetForm),
        name="password_reset",
    ),
    path("accounts/", include("django.contrib.auth.urls")),
    path("accounts/profile/", views.profile, name="profile"),
    path(
        "register/use-cases/<int:pk>/evidence-pack.zip",
        dashboard_views.evidence_pack_download,
        name="evidence-pack",
    ),
    path("register/", include("registry.urls")),
    path("assessments/", include("assessments.urls")),
    path("monitoring/", include("monitoring.urls")),
    path("incidents/", include("incidents.urls")),
    path("compliance/", include("compliance.urls")),
    path("history/", include("portal.history_urls")),
    path("people/", include("people.urls")),
    path("search/", include("search.urls")),
    path("api/v1/", include("dashboard.api_urls")),
    # For signed-in people and API tokens only: the schema maps every operation and field,
    # which helps nobody who may not call them (docs/security/threat-model.md).
    path(
        "api/schema/",
        SpectacularAPIView.as_view(permission_classes=[IsAuthenticated]),
        name="api-schema",
    ),
    path(
        "api/docs/",
        login_required(SpectacularSwaggerSplitView.as_view(url_name="api-schema")),
        name="api-docs",
    ),
    path("admin/", admin.site.urls),
]
