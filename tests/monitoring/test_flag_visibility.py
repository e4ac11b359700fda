"""A flag is read by its own unit only; what it writes on a firm-wide model version (and on
the use cases of other units the version serves) must not tell them the rule or the value."""

import re

import pytest
from django.urls import reverse

from monitoring.models import Flag
from monitoring.services.evaluation import rules_evaluate
from monitoring.services.flags import flag_resolve
from registry.models import UseCase
from tests.factories import DeploymentFactory, ModelVersionFactory, RuleFactory, UseCaseFactory
from tests.monitoring.evaluation_helpers import NOW, record, switch_off_shipped_rules

pytestmark = pytest.mark.django_db

RULE = "Retail fraud errors"


def tells_value(text: str) -> bool:
    """Whether the text gives the breach's value, 0.37, as a number of its own (a time's
    microseconds, as in 17:20:20.374780, can hold the same digits)."""
    return re.search(r"(?<![\d.])0\.37(?!\d)", text) is not None


@pytest.fixture
def flagged(retail, corporate, product_owner, outsider):
    switch_off_shipped_rules()
    version = ModelVersionFactory(model__business_unit=retail)
    ours = DeploymentFactory(
        model_version=version,
        use_case=UseCaseFactory(business_unit=retail, owner=product_owner, lifecycle="production"),
    )
    theirs = DeploymentFactory(
        model_version=version,
        use_case=UseCaseFactory(business_unit=corporate, owner=outsider, lifecycle="production"),
    )
    record(ours, "error_rate", [0.37] * 5)
    RuleFactory(
        name=RULE, subject="model_version", min_samples=5, window_minutes=15, threshold=0.05
    )
    rules_evaluate(now=NOW)
    flag = Flag.objects.get()
    assert flag.use_case == ours.use_case
    return flag, version, ours.use_case, theirs.use_case


def test_the_version_and_other_units_use_cases_name_the_flag_only(flagged):
    flag, version, ours, theirs = flagged
    version.refresh_from_db()
    theirs = UseCase.objects.get(pk=theirs.pk)
    for text in (
        version.reassessment_reasons,
        version.history.latest().history_change_reason,
        theirs.reassessment_reasons,
        theirs.history.latest().history_change_reason,
    ):
        assert flag.reference in text
        assert RULE not in text and not tells_value(text)
    # The flag's own unit reads the whole reason on its use case.
    ours = UseCase.objects.get(pk=ours.pk)
    assert RULE in ours.reassessment_reasons and tells_value(ours.reassessment_reasons)


def test_an_outsider_reads_neither_the_flag_nor_its_reason_in_the_versions_history(
    client, flagged, outsider, risk_officer
):
    flag, version, _ours, _theirs = flagged
    flag_resolve(actor=risk_officer, flag=flag, reason="Rolled back the bad threshold 0.37")
    client.force_login(outsider)
    assert client.get(reverse("monitoring:flag-detail", args=[flag.reference])).status_code == 404
    page = client.get(reverse("history", args=["modelversion", version.pk]))
    assert page.status_code == 200
    assert flag.reference in page.text
    assert RULE not in page.text and not tells_value(page.text)
