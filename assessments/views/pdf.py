"""The one-page summary and the full report of an assessment, as PDF downloads.

Whoever may read the assessment may download both. The summary is of an assessment put
forward for review, so a draft's is refused with 400 and a page that says why and offers
the full report instead (a 404 would wrongly suggest the assessment does not exist).
"""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_safe

from assessments import pdf
from assessments.selectors import access_assessment
from portal.pdf import pdf_response


@login_required
@require_safe
def summary_pdf(request, pk):
    assessment = access_assessment(request.user, pk)
    if not pdf.summary_available(assessment):
        return render(
            request,
            "assessments/pdf/summary_unavailable.html",
            {"assessment": assessment},
            status=400,
        )
    # A draft and a signed copy never share a file name: <ref>-summary-draft.pdf until signed.
    return pdf_response(pdf.summary_pdf(assessment), pdf.summary_filename(assessment))


@login_required
@require_safe
def full_pdf(request, pk):
    assessment = access_assessment(request.user, pk)
    return pdf_response(pdf.full_pdf(assessment), f"{assessment.reference}-report.pdf")
