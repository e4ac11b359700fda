"""The demo firm's obligations are believable: some met, some overdue, one exception."""

import pytest

from compliance.models import Applicability, ObligationException, Status

pytestmark = pytest.mark.django_db


def test_demo_has_met_overdue_and_one_exception(demo_firm):
    statuses = set(Applicability.objects.filter(applicable=True).values_list("status", flat=True))
    assert {Status.MET, Status.OVERDUE, Status.IN_PROGRESS} <= statuses
    assert ObligationException.objects.count() == 1
    # The logging standard is mapped to ISO A.6.2.8 only; the crosswalk makes Art. 12 or
    # 26(6) met wherever they apply to a live system.
    assert Applicability.objects.filter(obligation__ref="Art. 26(6)", status=Status.MET).exists()
