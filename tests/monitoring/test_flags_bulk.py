"""A rules cycle raises its flags in bulk (issue 19): each flag still has its history, its
ledger entry and its marks, each person is emailed once per cycle, and the cycle's queries do
not grow with the number of breaches."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from monitoring.models import Flag, FlagStatus, Rule
from monitoring.services.evaluation import rules_evaluate
from monitoring.services.flags import Breach, Notices, flags_raise_bulk
from portal.models import LedgerEntry
from registry.models import UseCase
from tests.factories import (
    BusinessUnitFactory,
    DataSourceFactory,
    DeploymentFactory,
    RuleFactory,
    UserFactory,
)
from tests.monitoring.evaluation_helpers import NOW, raise_flag, record, switch_off_shipped_rules

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _only_the_tests_rules(db):
    switch_off_shipped_rules()


@pytest.fixture
def unit():
    return BusinessUnitFactory()


@pytest.fixture
def owner(unit):
    return UserFactory(units=[unit])


def breaching(owner, unit, n: int, *, value: float = 0.5, model_owner=None) -> list:
    """n live deployments of use cases ``owner`` owns, each over a 0.1 error-rate rule (and
    of models ``model_owner`` owns, if given)."""
    more = {"model_version__model__owner": model_owner} if model_owner else {}
    deployments = [
        DeploymentFactory(use_case__owner=owner, use_case__business_unit=unit, **more)
        for _ in range(n)
    ]
    for d in deployments:
        record(d, "error_rate", [value] * 3)
    return deployments


def cycle(capture):
    with capture(execute=True):
        return rules_evaluate(now=NOW)


def test_several_breaches_for_one_owner_send_one_email_listing_every_flag(
    owner, unit, mailoutbox, django_capture_on_commit_callbacks
):
    deployments = breaching(owner, unit, 3)
    RuleFactory(name="Error rate above 10%", subject="use_case")
    RuleFactory(name="Error rate of the version", subject="model_version", threshold=0.2)

    summary = cycle(django_capture_on_commit_callbacks)

    assert summary.flags_raised == 6
    to_owner = [m for m in mailoutbox if m.to == [owner.email]]
    assert len(to_owner) == 1
    [message] = to_owner
    assert "6 flags" in message.subject
    for flag in Flag.objects.all():
        assert flag.reference in message.body
    # Each model's owner is told once too, of the flag on their version only.
    for d in deployments:
        model_owner = d.model_version.model.owner
        [told] = [m for m in mailoutbox if m.to == [model_owner.email]]
        [flag] = Flag.objects.filter(model_version=d.model_version)
        assert flag.reference in told.subject
    assert len(mailoutbox) == 1 + len(deployments)


def test_bulk_raised_flags_have_history_ledger_entries_and_marks(
    owner, unit, django_capture_on_commit_callbacks
):
    deployments = breaching(owner, unit, 2)
    source = DataSourceFactory(business_unit=unit)
    deployments[0].use_case.data_sources.add(source)
    before = {d.use_case_id: d.use_case.history.count() for d in deployments}
    rule = RuleFactory(name="Error rate above 10%", subject="use_case")

    cycle(django_capture_on_commit_callbacks)

    flags = list(Flag.objects.order_by("pk"))
    assert len(flags) == 2
    for flag in flags:
        [version] = flag.history.all()
        assert version.history_type == "+"
        assert version.history_change_reason == f"Raised by rule {rule.name!r}"
        assert LedgerEntry.objects.filter(
            source=version._meta.db_table, source_id=str(version.history_id)
        ).exists()
        use_case = UseCase.objects.get(pk=flag.use_case_id)
        assert use_case.needs_reassessment
        assert flag.reference in use_case.reassessment_reasons
        assert use_case.history.count() == before[use_case.pk] + 1
        marked = use_case.history.latest()
        assert marked.history_change_reason.startswith(
            f"Flagged for re-assessment: {flag.reference}"
        )
        assert marked.needs_reassessment and flag.reference in marked.reassessment_reasons
        entry = LedgerEntry.objects.get(
            source=marked._meta.db_table, source_id=str(marked.history_id)
        )
        # The version keeps the use case's data sources, as a save would, in history and ledger.
        links = sorted(use_case.data_sources.values_list("pk", flat=True))
        assert sorted(marked.data_sources.values_list("datasource_id", flat=True)) == links
        assert f'"m2m:data_sources":{links}'.replace(" ", "") in entry.payload.replace(" ", "")


def test_a_version_flag_marks_the_version_and_every_use_case_it_serves(
    owner, unit, django_capture_on_commit_callbacks
):
    [deployment] = breaching(owner, unit, 1)
    other = DeploymentFactory(model_version=deployment.model_version)  # another unit's use case
    RuleFactory(name="Version error rate", subject="model_version")

    cycle(django_capture_on_commit_callbacks)

    flag = Flag.objects.get()
    version = type(deployment.model_version).objects.get(pk=deployment.model_version_id)
    assert version.needs_reassessment and flag.reference in version.reassessment_reasons
    assert version.history.latest().history_change_reason.startswith("Flagged for re-assessment")
    elsewhere = UseCase.objects.get(pk=other.use_case_id)
    assert elsewhere.needs_reassessment
    # Told only which flag, never the rule or the value (it is another unit's use case).
    assert "Version error rate" not in elsewhere.reassessment_reasons
    assert flag.reference in elsewhere.reassessment_reasons


def test_a_second_cycle_raises_nothing_new_and_sends_nothing(
    owner, unit, mailoutbox, django_capture_on_commit_callbacks
):
    breaching(owner, unit, 3)
    RuleFactory(subject="use_case")
    first = cycle(django_capture_on_commit_callbacks)
    sent = len(mailoutbox)

    second = cycle(django_capture_on_commit_callbacks)

    assert (first.flags_raised, second.flags_raised) == (3, 0)
    assert second.flags_still_open == 3
    assert Flag.objects.filter(status=FlagStatus.OPEN).count() == 3
    assert len(mailoutbox) == sent == 1


def test_the_cycles_queries_do_not_grow_with_the_number_of_breaches(
    owner, unit, django_capture_on_commit_callbacks
):
    counts = []
    for added, total in ((2, 2), (8, 10)):
        # Fresh rules each time, so every deployment so far breaches them: 2, then 10.
        Rule.objects.update(enabled=False)
        RuleFactory(subject="use_case")
        RuleFactory(subject="model_version", threshold=0.2)
        for d in breaching(owner, unit, added, model_owner=owner):
            # Linked data sources: the marks' history keeps them, without a query per link.
            d.use_case.data_sources.add(DataSourceFactory(business_unit=unit))
        with CaptureQueriesContext(connection) as captured:
            summary = cycle(django_capture_on_commit_callbacks)
        assert summary.flags_raised == 2 * total
        counts.append(len(captured))
    # Five times the breaches, no more queries (the first cycle also makes the FL counter).
    assert counts[1] <= counts[0]


def test_a_flag_raised_meanwhile_is_skipped_and_the_others_still_raised(owner, unit):
    a, b = breaching(owner, unit, 2)
    rule = RuleFactory(subject="use_case")
    raise_flag(a, rule)  # as if a concurrent evaluation had raised it first
    breaches = [
        Breach(
            rule=rule,
            use_case=d.use_case,
            model_version=d.model_version,
            deployment=d,
            evidence={**Flag.objects.get().evidence, "deployment": d.pk},
        )
        for d in (a, b)
    ]
    notices = Notices()

    raised = flags_raise_bulk(breaches=breaches, now=NOW, notices=notices)

    assert [f.use_case_id for f in raised] == [b.use_case_id]
    assert Flag.objects.filter(rule=rule, status=FlagStatus.OPEN).count() == 2
    assert list(notices.people) == [owner.pk]
