"""Assessments are found through their use case (its words, its reference) or by their own
reference, only those the person may read, newest first with a reference typed in full first.

On PostgreSQL the matching use cases are read as an array and their assessments found along
the foreign key (search/selectors.py); these tests hold that query to what the search did
before, whatever way the person may read an assessment."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.utils import timezone

from assessments.models import Assessment, AssessmentTemplate, ReviewAssignment
from portal import textsearch
from portal.access import can
from search import selectors
from search.sources import BY_KIND
from tests.factories import UseCaseFactory, unique_reference

pytestmark = pytest.mark.django_db
SOURCE = BY_KIND["assessment"]


def _assessment(use_case, *, author=None, updated_days_ago: int = 0) -> Assessment:
    template = AssessmentTemplate.objects.filter(kind="screening", active=True).first()
    assessment = Assessment.objects.create(
        reference=unique_reference("AS"),
        template=template,
        kind="screening",
        use_case=use_case,
        author=author or use_case.owner,
    )
    # A queryset update: save() would stamp updated_at with now again.
    Assessment.objects.filter(pk=assessment.pk).update(
        updated_at=timezone.now() - timedelta(days=updated_days_ago)
    )
    return assessment


def _found(user, q: str) -> list[str]:
    return [a.reference for a in selectors.matches(SOURCE, user, textsearch.parse(q))]


def test_found_by_the_use_cases_words_its_reference_or_its_own(auditor, retail):
    wombat = UseCaseFactory(business_unit=retail, title="Wombat triage", purpose="Sorts mail.")
    other = UseCaseFactory(business_unit=retail, title="Other", purpose="Nothing alike.")
    by_words = _assessment(wombat)
    unrelated = _assessment(other)

    assert _found(auditor, "womb") == [by_words.reference]
    assert _found(auditor, "wombat sorts") == [by_words.reference]
    assert _found(auditor, "wombat nothing") == []  # every word must match
    # Part of the use case's reference finds its assessments (and only those).
    digits = wombat.reference.split("-")[1]
    assert by_words.reference in _found(auditor, digits)
    assert unrelated.reference not in _found(auditor, digits)
    # Part of the assessment's own reference, whatever its use case says.
    own = unrelated.reference.split("-")[1]
    assert _found(auditor, own) == [unrelated.reference]
    assert _found(auditor, "zzyzx") == []


def test_newest_first_and_a_reference_typed_in_full_first(auditor, retail):
    use_case = UseCaseFactory(business_unit=retail, title="Numbat scoring")
    old = _assessment(use_case, updated_days_ago=30)
    newest = _assessment(use_case, updated_days_ago=1)
    middle = _assessment(use_case, updated_days_ago=10)
    assert _found(auditor, "numbat") == [newest.reference, middle.reference, old.reference]
    # The old one's reference also matches its own text; typed in full, it comes first.
    assert _found(auditor, old.reference)[0] == old.reference


def test_only_the_assessments_the_person_may_read(outsider, retail, corporate):
    """Of a unit the person does not see, only one they wrote or were asked to review."""
    theirs = _assessment(UseCaseFactory(business_unit=corporate, title="Quoll ledger"))
    hidden_case = UseCaseFactory(business_unit=retail, title="Quoll pricing")
    hidden = _assessment(hidden_case)
    written = _assessment(hidden_case, author=outsider)
    to_review = _assessment(hidden_case)
    group = Group.objects.create(name="search-test-reviewers")
    outsider.groups.add(group)
    ReviewAssignment.objects.create(assessment=to_review, stage="review", group=group)

    found = _found(outsider, "quoll")
    assert set(found) == {theirs.reference, written.reference, to_review.reference}
    assert hidden.reference not in found
    for reference in found:
        assert can(outsider, SOURCE.rule, Assessment.objects.get(reference=reference))
    # Not by its reference either.
    assert _found(outsider, hidden.reference) == []


def test_more_assessments_than_shown_are_offered_on_their_own_pages(auditor, retail):
    use_case = UseCaseFactory(business_unit=retail, title="Bilby forecasting")
    made = [_assessment(use_case, updated_days_ago=n) for n in range(selectors.PER_KIND + 2)]
    overview = selectors.search(auditor, textsearch.parse("bilby"), sources=(SOURCE,))[0]
    assert [h.reference for h in overview.hits] == [a.reference for a in made][: selectors.PER_KIND]
    assert overview.more
    page_2 = selectors.search(
        auditor, textsearch.parse("bilby"), sources=(SOURCE,), limit=selectors.PER_KIND, page=2
    )[0]
    assert [h.reference for h in page_2.hits] == [a.reference for a in made][selectors.PER_KIND :]
    assert not page_2.more


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the plan is PostgreSQL's")
def test_postgresql_reads_the_matching_use_cases_once_as_an_array(auditor, retail):
    """Not ``use_case_id IN (SELECT ...)``: that let PostgreSQL merge-join every use case in
    key order, building each one's document as it went (2 s at 100,000 use cases)."""
    _assessment(UseCaseFactory(business_unit=retail, title="Dibbler"))
    sql = str(selectors.matches(SOURCE, auditor, textsearch.parse("dibbler")).query)
    assert '"use_case_id" = ANY(ARRAY(SELECT' in sql
    plan = selectors.matches(SOURCE, auditor, textsearch.parse("dibbler")).explain()
    assert "InitPlan" in plan, plan
