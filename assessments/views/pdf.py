"""The one-page summary and the full report of an assessment, as PDF (written next)."""

from django.http import Http404


def summary_pdf(request, pk):
    raise Http404


def full_pdf(request, pk):
    raise Http404
