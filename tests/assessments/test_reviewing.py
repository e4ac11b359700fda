"""Which assessments a person's reviewer group was asked to review: written as SQL in
assessments.selectors._reviewing, and the same rows as the ORM's version of it."""

from datetime import timedelta

from django.contrib.auth.models import Group
from django.db.models import OuterRef, Q, Subquery
from django.db.models.functions import JSONObject
from django.utils import timezone

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


def test_the_last_request_for_changes_written_as_sql_is_the_orms(retail, product_owner):
    """assessments.selectors._LastAskedForChanges: when each assessment's newest request for
    changes was made and who made it, as the ORM's subqueries find them (none recorded, one,
    two by different people, one by someone whose account is gone, other decisions beside)."""
    template = AssessmentTemplate.objects.filter(kind="screening", active=True).first()
    use_case = UseCaseFactory(business_unit=retail, owner=product_owner)
    made = [
        Assessment.objects.create(
            reference=unique_reference("AS"),
            template=template,
            kind="screening",
            use_case=use_case,
            author=product_owner,
        )
        for _ in range(4)
    ]
    ann = UserFactory(first_name="Ann", last_name="Lee")
    bob = UserFactory(first_name="", last_name="")
    now = timezone.now()
    changes, approved = (
        ReviewAssignment.Decision.CHANGES_REQUESTED,
        ReviewAssignment.Decision.APPROVED,
    )

    def decided(assessment, by, decision, hours_ago, note):
        return ReviewAssignment.objects.create(
            assessment=assessment,
            stage="review",
            decision=decision,
            decided_by=by,
            decided_at=now - timedelta(hours=hours_ago),
            note=note,
        )

    decided(made[1], ann, changes, 5, "Name the data")
    decided(made[2], ann, changes, 9, "Older")
    decided(made[2], bob, changes, 2, "Newer, by Bob")
    decided(made[2], ann, approved, 1, "An approval, later")
    decided(made[3], None, changes, 3, "No one recorded")

    last = ReviewAssignment.objects.filter(assessment=OuterRef("pk"), decision=changes).order_by(
        "-decided_at"
    )
    who = JSONObject(
        note="note",
        username="decided_by__username",
        first_name="decided_by__first_name",
        last_name="decided_by__last_name",
    )
    orm = Assessment.objects.filter(pk__in=[a.pk for a in made]).annotate(
        when=Subquery(last.values("decided_at")[:1]), who=Subquery(last.values(asked=who)[:1])
    )
    sql = Assessment.objects.filter(pk__in=[a.pk for a in made]).annotate(
        when=selectors.last_asked_for_changes("when"), who=selectors.last_asked_for_changes("who")
    )
    expected = {(a.pk, a.when, tuple(sorted((a.who or {}).items()))) for a in orm}
    found = {(a.pk, a.when, tuple(sorted((a.who or {}).items()))) for a in sql}
    assert found == expected
    by_pk = {a.pk: a for a in sql}
    assert by_pk[made[0].pk].when is None and by_pk[made[0].pk].who is None
    assert by_pk[made[2].pk].who["note"] == "Newer, by Bob"
    assert by_pk[made[1].pk].who["first_name"] == "Ann"
    assert by_pk[made[3].pk].who == {
        "note": "No one recorded",
        "username": None,
        "first_name": None,
        "last_name": None,
    }
