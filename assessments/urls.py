from django.urls import path

from assessments.views import pages, pdf, templates

app_name = "assessments"

urlpatterns = [
    path("", pages.assessment_list, name="list"),
    path("sign-off-queue/", pages.sign_off_queue, name="queue"),
    path("start/<int:use_case_pk>/", pages.assessment_start, name="start"),
    path("<int:pk>/", pages.assessment_detail, name="detail"),
    path("<int:pk>/section/<slug:section>/", pages.assessment_section, name="section"),
    path("<int:pk>/actions/<slug:action>/", pages.assessment_transition, name="transition"),
    path("<int:pk>/sign-off/", pages.assessment_sign_off, name="sign-off"),
    path("<int:pk>/comments/", pages.assessment_comment, name="comment"),
    path(
        "<int:pk>/comments/<int:comment_pk>/resolve/",
        pages.comment_resolve,
        name="comment-resolve",
    ),
    path("<int:pk>/compare/", pages.assessment_compare, name="compare"),
    path("<int:pk>/reassess/", pages.assessment_reassess, name="reassess"),
    path("<int:pk>/override-tier/", pages.assessment_override_tier, name="override-tier"),
    path(
        "<int:pk>/reviews/<int:review_pk>/delegate/",
        pages.review_delegate,
        name="review-delegate",
    ),
    path("<int:pk>/evidence/", pages.evidence_upload, name="evidence-upload"),
    path("<int:pk>/evidence/<int:file_pk>/", pages.evidence_download, name="evidence-download"),
    path("<int:pk>/signed-content.json", pages.signed_content, name="signed-content"),
    path("<int:pk>/summary.pdf", pdf.summary_pdf, name="pdf-summary"),
    path("<int:pk>/report.pdf", pdf.full_pdf, name="pdf-full"),
    path("templates/", templates.template_list, name="template-list"),
    path("templates/import/", templates.template_import, name="template-import"),
    path("templates/<int:pk>/", templates.template_detail, name="template-detail"),
    path("templates/<int:pk>/export/", templates.template_export, name="template-export"),
]
