from django.urls import path

from incidents.views import incidents, integrations, runbooks

app_name = "incidents"

# References look like INC-0001; the fixed paths come first so they are never read as one.
urlpatterns = [
    path("", incidents.incident_list, name="incident-list"),
    path("export.csv", incidents.incident_export, name="incident-export"),
    path("runbooks/<int:use_case_id>/", runbooks.runbook_detail, name="runbook"),
    path("runbooks/<int:use_case_id>/edit/", runbooks.runbook_edit, name="runbook-edit"),
    path("use-cases/<int:use_case_id>/new/", incidents.incident_open, name="incident-open"),
    path(
        "use-cases/<int:use_case_id>/kill-switch-tokens/",
        integrations.kill_switch_tokens,
        name="kill-switch-tokens",
    ),
    path(
        "kill-switch-tokens/<int:pk>/revoke/",
        integrations.kill_switch_token_revoke,
        name="kill-switch-token-revoke",
    ),
    path(
        "from-flag/<str:reference>/",
        incidents.incident_open_from_flag,
        name="incident-open-from-flag",
    ),
    path("webhooks/", integrations.webhook_list, name="webhook-list"),
    path("webhooks/<int:pk>/", integrations.webhook_detail, name="webhook-detail"),
    path("webhooks/<int:pk>/active/", integrations.webhook_set_active, name="webhook-active"),
    path("<str:reference>/", incidents.incident_detail, name="incident-detail"),
    path(
        "<str:reference>/transitions/<slug:action>/",
        incidents.incident_transition,
        name="incident-transition",
    ),
    path("<str:reference>/notes/", incidents.incident_note, name="incident-note"),
    path("<str:reference>/edit/", incidents.incident_edit, name="incident-edit"),
    path("<str:reference>/regulatory/", incidents.incident_regulatory, name="incident-regulatory"),
    path("<str:reference>/review/", incidents.incident_review, name="incident-review"),
    path(
        "<str:reference>/actions/kill-switch/",
        incidents.action_kill_switch,
        name="incident-kill-switch",
    ),
    path("<str:reference>/actions/rollback/", incidents.action_rollback, name="incident-rollback"),
    path("<str:reference>/actions/reassess/", incidents.action_reassess, name="incident-reassess"),
]
