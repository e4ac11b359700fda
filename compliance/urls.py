from django.urls import path

from compliance import soa_views as soa
from compliance import views

app_name = "compliance"

urlpatterns = [
    path("", views.coverage, name="coverage"),
    path("frameworks/", views.framework_list, name="framework-list"),
    path("frameworks/<int:pk>/", views.framework_detail, name="framework-detail"),
    path("frameworks/<int:pk>/export.json", views.framework_download, name="framework-export"),
    path("frameworks/<int:pk>/soa/", soa.framework_soa, name="framework-soa"),
    path("frameworks/<int:pk>/soa.csv", soa.framework_soa_csv, name="framework-soa-csv"),
    path("frameworks/<int:pk>/soa.pdf", soa.framework_soa_pdf, name="framework-soa-pdf"),
    path("frameworks/<int:pk>/soa/sign/", soa.framework_soa_sign, name="framework-soa-sign"),
    path("use-cases/<int:use_case_id>/", views.use_case_obligations, name="use-case-obligations"),
    path("use-cases/<int:use_case_id>/recompute/", views.use_case_recompute, name="recompute"),
    path("use-cases/<int:use_case_id>/soa/", soa.use_case_soa, name="use-case-soa"),
    path("use-cases/<int:use_case_id>/soa.csv", soa.use_case_soa_csv, name="use-case-soa-csv"),
    path("use-cases/<int:use_case_id>/soa.pdf", soa.use_case_soa_pdf, name="use-case-soa-pdf"),
    path("use-cases/<int:use_case_id>/soa/sign/", soa.use_case_soa_sign, name="use-case-soa-sign"),
    path("statements/<int:pk>/", soa.statement_detail, name="statement"),
    path("statements/<int:pk>/statement.pdf", soa.statement_signed_pdf, name="statement-pdf"),
    path(
        "exclusions/<int:obligation_id>/", views.obligation_exclusion, name="obligation-exclusion"
    ),
    path("obligations/<int:pk>/accept/", views.exception_accept, name="exception-accept"),
    path("controls/", views.control_list, name="control-list"),
    path("controls/new/", views.control_edit, name="control-new"),
    path("controls/<int:pk>/", views.control_detail, name="control-detail"),
    path("controls/<int:pk>/edit/", views.control_edit, name="control-edit"),
    path("evidence/", views.evidence_list, name="evidence-list"),
    path("evidence/new/", views.evidence_new, name="evidence-new"),
    path("evidence/<int:pk>/", views.evidence_detail, name="evidence-detail"),
    path("evidence/<int:pk>/file/", views.evidence_download, name="evidence-file"),
]
