"""What every assessment page shares: fetching a record the person may see, in one call."""

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404

from assessments.models import Assessment
from assessments.selectors import assessments_visible_to
from portal.access import can


def access_assessment(user, pk: int, perm: str = "assessments.view_assessment") -> Assessment:
    """The assessment if the person may see it (404 otherwise), checked against ``perm``."""
    assessment = get_object_or_404(assessments_visible_to(user), pk=pk)
    if not can(user, "assessments.view_assessment", assessment):
        raise Http404("No such assessment.")
    if perm != "assessments.view_assessment" and not can(user, perm, assessment):
        raise PermissionDenied
    return assessment
