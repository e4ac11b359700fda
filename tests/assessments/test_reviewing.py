"""Which assessments a person's reviewer group was asked to review: written as SQL in
assessments.selectors._reviewing, and the same rows as the ORM's version of it."""

from django.contrib.auth.models import Group
from django.db.models import Q

from assessments import selectors
from assessments.models import Assessment, AssessmentTemplate, ReviewAssignment
from tests.factories import UseCaseFactory, UserFactory, unique_reference


def _orm(user) -> set[int]:
    """The ORM's version: the reference the SQL is checked against."""
    ids = (
        ReviewAssignment.objects.filter(group__user=user)
        .filter(Q(assignee__isnull=True) | Q(assignee=user))
        .values("assessment_id")
    )
    return set(Assessment.objects.filter(pk__in=ids).values_list("pk", flat=True))


def _sql(user) -> set[int]:
    return set(Assessment.objects.filter(selectors._reviewing(user)).values_list("pk", flat=True))


def test_the_written_sql_finds_what_the_orm_finds(retail, product_owner):
    template = AssessmentTemplate.objects.filter(kind="screening", active=True).first()
    use_case = UseCaseFactory(business_unit=retail, owner=product_owner)

    def assessment():
        return Assessment.objects.create(
            reference=unique_reference("AS"),
            template=template,
            kind="screening",
            use_case=use_case,
            author=product_owner,
        )

    first = Group.objects.create(name="reviewers-a")
    second = Group.objects.create(name="reviewers-b")
    ann, bob, both, outsider = (UserFactory() for _ in range(4))
    ann.groups.add(first)
    bob.groups.add(first)
    both.groups.add(first, second)
    to_group, to_ann, to_bob, to_second, to_no_group = (assessment() for _ in range(5))
    ReviewAssignment.objects.create(assessment=to_group, stage="review", group=first)
    ReviewAssignment.objects.create(assessment=to_ann, stage="review", group=first, assignee=ann)
    ReviewAssignment.objects.create(assessment=to_bob, stage="approve", group=first, assignee=bob)
    ReviewAssignment.objects.create(assessment=to_second, stage="review", group=second)
    ReviewAssignment.objects.create(assessment=to_no_group, stage="review", assignee=ann)

    expected = {
        ann: {to_group.pk, to_ann.pk},  # not Bob's, nor one asked of her by name alone
        bob: {to_group.pk, to_bob.pk},
        both: {to_group.pk, to_second.pk},
        outsider: set(),
    }
    for person, found in expected.items():
        assert _sql(person) == _orm(person) == found, person.username
