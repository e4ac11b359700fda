from django.urls import path

from monitoring import change_views, views

app_name = "monitoring"

urlpatterns = [
    path("deployments/<int:pk>/", views.deployment_detail, name="deployment-detail"),
    path("deployments/<int:pk>/sources/new/", views.source_create, name="source-create"),
    path("sources/<int:pk>/edit/", views.source_edit, name="source-edit"),
    path("sources/<int:pk>/test/", views.source_test, name="source-test"),
    path("sources/<int:pk>/rotate-token/", views.source_rotate_token, name="source-rotate"),
    path("flags/", views.flag_list, name="flag-list"),
    path("flags/<str:reference>/", views.flag_detail, name="flag-detail"),
    path("flags/<str:reference>/resolve/", views.flag_resolve, name="flag-resolve"),
    path("flags/<str:reference>/reassess/", views.flag_reassess, name="flag-reassess"),
    path("rules/", views.rule_list, name="rule-list"),
    path("rules/new/", views.rule_create, name="rule-create"),
    path("rules/<int:pk>/edit/", views.rule_edit, name="rule-edit"),
    path(
        "material-change-rules/",
        change_views.material_rule_list,
        name="material-rule-list",
    ),
    path(
        "material-change-rules/new/",
        change_views.material_rule_create,
        name="material-rule-create",
    ),
    path("template-changes/", change_views.template_change_list, name="template-change-list"),
    path(
        "template-changes/<int:pk>/",
        change_views.template_change_detail,
        name="template-change-detail",
    ),
    path(
        "material-change-rules/<int:pk>/edit/",
        change_views.material_rule_edit,
        name="material-rule-edit",
    ),
    path("use-cases/<int:pk>/budget/", views.budget_edit, name="budget"),
    path("use-cases/<int:pk>/report.pdf", views.use_case_report, name="report"),
]
