"""The REST API's routes. Each app's api.py registers its viewsets on the one router."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from assessments import api as assessments_api
from compliance import api as compliance_api
from dashboard.portfolio import KpiView
from incidents import api as incidents_api
from incidents.killswitch_api import KillSwitchView
from monitoring import api as monitoring_api
from portal.ledger.views import LedgerExportView, LedgerVerifyView
from portal.notifications_api import NotificationViewSet
from registry import api as registry_api
from registry.api.ai_models import GateView

router = DefaultRouter()
registry_api.register(router)
assessments_api.register(router)
monitoring_api.register(router)
incidents_api.register(router)
compliance_api.register(router)
router.register("notifications", NotificationViewSet, basename="notification")

urlpatterns = [
    path("", include("portal.history_api")),
    path("audit/verify/", LedgerVerifyView.as_view(), name="api-ledger-verify"),
    path("audit/export/", LedgerExportView.as_view(), name="api-ledger-export"),
    path("gate/<str:use_case>/", GateView.as_view(), name="api-gate"),
    path("kill-switch/", KillSwitchView.as_view(), name="api-kill-switch"),
    path("costs/", monitoring_api.CostView.as_view(), name="api-costs"),
    path("kpis/", KpiView.as_view(), name="api-kpis"),
    path("coverage/", compliance_api.CoverageView.as_view(), name="api-coverage"),
    path("push/samples/", monitoring_api.PushSamplesView.as_view(), name="api-push-samples"),
    path(
        "push/distributions/",
        monitoring_api.PushDistributionsView.as_view(),
        name="api-push-distributions",
    ),
    path("", include(router.urls)),
    # By name: people shares the top layer with dashboard, which may not import it.
    path("", include("people.api_urls")),
    path("", include("search.api_urls")),
]
