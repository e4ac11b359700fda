from django.urls import path

from registry.views import ai_models as model_views
from registry.views import go_live
from registry.views import releases as release_views
from registry.views import use_cases as views

app_name = "registry"

urlpatterns = [
    path("use-cases/", views.use_case_list, name="use-case-list"),
    path("use-cases/new/", views.use_case_create, name="use-case-create"),
    path("use-cases/export.csv", views.use_case_export, name="use-case-export"),
    path("use-cases/import/", views.import_upload, name="import-upload"),
    path("use-cases/import/template.csv", views.import_template, name="import-template"),
    path("use-cases/import/<int:pk>/", views.import_preview, name="import-preview"),
    path("use-cases/<int:pk>/", views.use_case_detail, name="use-case-detail"),
    path("use-cases/<int:pk>/edit/", views.use_case_edit, name="use-case-edit"),
    path(
        "use-cases/<int:pk>/transitions/<slug:action>/",
        views.use_case_transition,
        name="use-case-transition",
    ),
    path("use-cases/<int:pk>/risk-tier/", views.use_case_risk_tier, name="use-case-risk-tier"),
    path(
        "use-cases/<int:pk>/go-live-records/",
        go_live.use_case_go_live_records,
        name="use-case-go-live-records",
    ),
    path(
        "use-cases/<int:pk>/gate-decisions/",
        go_live.use_case_gate_decisions,
        name="use-case-gate-decisions",
    ),
    path("go-live/<int:pk>/", go_live.go_live_record, name="go-live-record"),
    path("go-live/<int:pk>.json", go_live.go_live_record_json, name="go-live-record-json"),
    path("use-cases/<int:pk>/flag/", views.use_case_flag, name="use-case-flag"),
    path("use-cases/<int:pk>/clear-flag/", views.use_case_clear_flag, name="use-case-clear-flag"),
    path(
        "use-cases/<int:pk>/kill-switch/", views.use_case_kill_switch, name="use-case-kill-switch"
    ),
    path(
        "use-cases/<int:pk>/models/approve/",
        model_views.use_case_approve_model,
        name="use-case-approve-model",
    ),
    path(
        "use-cases/<int:pk>/deployments/new/", model_views.use_case_deploy, name="use-case-deploy"
    ),
    path(
        "use-cases/<int:pk>/policy-exceptions/new/",
        model_views.use_case_policy_exception,
        name="use-case-policy-exception",
    ),
    path("deployments/<int:pk>/change/", model_views.deployment_change, name="deployment-change"),
    path(
        "deployments/<int:pk>/rollback/",
        model_views.deployment_rollback,
        name="deployment-rollback",
    ),
    path("deployments/<int:pk>/retire/", model_views.deployment_retire, name="deployment-retire"),
    path("models/", model_views.model_list, name="model-list"),
    path("models/new/", model_views.model_create, name="model-create"),
    path("models/export.csv", model_views.model_export, name="model-export"),
    path("models/<int:pk>/", model_views.model_detail, name="model-detail"),
    path("models/<int:pk>/edit/", model_views.model_edit, name="model-edit"),
    path("models/<int:pk>/approval/", model_views.model_approval, name="model-approval"),
    path("models/<int:pk>/versions/new/", model_views.version_create, name="model-version-create"),
    path("model-versions/<int:pk>/", model_views.version_detail, name="model-version-detail"),
    path(
        "model-versions/<int:pk>/card.<slug:fmt>",
        model_views.version_card_export,
        name="model-version-card-export",
    ),
    path("model-versions/<int:pk>/edit/", model_views.version_edit, name="model-version-edit"),
    path(
        "model-versions/<int:pk>/promote/",
        release_views.version_promote,
        name="model-version-promote",
    ),
    path("promotions/", release_views.promotion_list, name="promotion-list"),
    path("release-policies/", release_views.release_policy_list, name="release-policy-list"),
    path(
        "release-policies/<int:pk>/edit/",
        release_views.release_policy_edit,
        name="release-policy-edit",
    ),
    path("promotions/<int:pk>/", release_views.promotion_detail, name="promotion-detail"),
    path(
        "promotions/<int:pk>/withdraw/",
        release_views.promotion_withdraw,
        name="promotion-withdraw",
    ),
    path(
        "promotions/<int:pk>/<slug:decision>/",
        release_views.promotion_decide,
        name="promotion-decide",
    ),
    path("models/<int:pk>/tokens/", release_views.model_tokens, name="model-tokens"),
    path(
        "models/<int:pk>/tokens/<int:token_pk>/revoke/",
        release_views.model_token_revoke,
        name="model-token-revoke",
    ),
    path("data-sources/", views.data_source_list, name="data-source-list"),
    path("data-sources/new/", views.data_source_create, name="data-source-create"),
    path("data-sources/<int:pk>/", views.data_source_detail, name="data-source-detail"),
    path("data-sources/<int:pk>/edit/", views.data_source_edit, name="data-source-edit"),
    path("business-units/", views.business_unit_list, name="business-unit-list"),
    path("business-units/<int:pk>/", views.business_unit_detail, name="business-unit-detail"),
]
