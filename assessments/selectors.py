"""Reads of assessments that depend on who asks."""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import (
    DateTimeField,
    JSONField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.expressions import BaseExpression, RawSQL
from django.db.models.functions import JSONObject
from django.http import Http404
from django.shortcuts import get_object_or_404

from assessments.models import (
    OPEN,
    WAITING_FOR_DECISION,
    Assessment,
    AssessmentTemplate,
    ReviewAssignment,
    Status,
    waiting_since,
)
from portal.access import access_for, can, require
from portal.expressions import AroundKey
from registry.selectors import (
    known_in_every_unit,
    known_to_see_every_use_case,
    use_case_visible_q,
    use_cases_visible_to,
)


def _reviews() -> Prefetch:
    return Prefetch(
        "reviews", queryset=ReviewAssignment.objects.select_related("group", "decided_by")
    )


def _assessments() -> QuerySet[Assessment]:
    return Assessment.objects.select_related(
        "template", "use_case__business_unit", "use_case__owner", "author"
    ).prefetch_related(_reviews())


def _reviewing(user) -> Q:
    """Assessments the person's reviewer group was asked to review (to them, or to no one in
    the group by name).

    Written as SQL: built and compiled by the ORM (a subquery over two joins) it cost a
    quarter of a millisecond or more each time, and the dashboard asks it of every list of
    assessments it shows (issue 19). The same rows as
    ``ReviewAssignment.objects.filter(group__user=user).filter(Q(assignee__isnull=True) |
    Q(assignee=user)).values("assessment_id")`` (tests/assessments compare them)."""
    members = get_user_model().groups.through._meta.db_table
    sql = (
        f'SELECT ra."assessment_id" FROM "{ReviewAssignment._meta.db_table}" ra '
        f'INNER JOIN "{members}" ug ON (ra."group_id" = ug."group_id") '
        'WHERE ug."user_id" = %s AND (ra."assignee_id" IS NULL OR ra."assignee_id" = %s)'
    )
    return Q(pk__in=RawSQL(sql, (user.pk, user.pk)))


class _LastAskedForChanges(AroundKey):
    """Of each assessment, its newest request for changes: when it was made (``what="when"``),
    or who made it and why (``what="who"``: a JSON object of the note and the reviewer's
    username and names), by a subquery per row written as SQL around the row's key (an ORM
    expression, so that it holds under any alias); NULL if none was recorded.

    The same as ``ReviewAssignment.objects.filter(assessment=OuterRef("pk"), decision=
    CHANGES_REQUESTED).order_by("-decided_at")`` and its ``decided_at``, or a ``JSONObject``
    of those fields, ``[:1]``: built and compiled by the ORM, the two cost a millisecond on
    each gathering of My work's changes requested (tests/assessments/test_reviewing.py
    compares them)."""

    def __init__(self, what: str):
        super().__init__({"when": DateTimeField(), "who": JSONField()}[what])
        self.what = what

    def around(self, key: str, connection) -> tuple[str, tuple]:
        reviews, people = ReviewAssignment._meta.db_table, get_user_model()._meta.db_table
        if self.what == "when":
            shown, joined = 'ra."decided_at"', ""
        else:
            shown = (
                "jsonb_build_object('note', ra.\"note\", 'username', u.\"username\", "
                "'first_name', u.\"first_name\", 'last_name', u.\"last_name\")"
            )
            joined = f' LEFT OUTER JOIN "{people}" u ON (ra."decided_by_id" = u."id")'
        sql = (
            f'(SELECT {shown} FROM "{reviews}" ra{joined} WHERE ra."assessment_id" = {key} '
            'AND ra."decision" = %s ORDER BY ra."decided_at" DESC LIMIT 1)'
        )
        return sql, (ReviewAssignment.Decision.CHANGES_REQUESTED.value,)


def last_asked_for_changes(what: str) -> BaseExpression:
    """When each assessment's newest request for changes was made (``"when"``), or who made
    it and why (``"who"``); see ``_LastAskedForChanges``."""
    if connection.vendor != "postgresql":  # jsonb_build_object is PostgreSQL's
        last = ReviewAssignment.objects.filter(
            assessment=OuterRef("pk"), decision=ReviewAssignment.Decision.CHANGES_REQUESTED
        ).order_by("-decided_at")
        if what == "when":
            return Subquery(last.values("decided_at")[:1])
        who = JSONObject(
            note="note",
            username="decided_by__username",
            first_name="decided_by__first_name",
            last_name="decided_by__last_name",
        )
        return Subquery(last.values(asked=who)[:1])
    return _LastAskedForChanges(what)


def assessments_visible_to(user) -> QuerySet[Assessment]:
    """What the person may read: assessments of use cases they see, ones they wrote, and ones
    their reviewer group was asked to review."""
    qs = _assessments()
    if known_to_see_every_use_case(user):
        return qs  # every use case's assessments (registry.selectors.sees_every_use_case)
    if not user.is_authenticated:
        return qs.none()
    return qs.filter(
        # On the joined use case: not a list of every use case the person sees (see there).
        use_case_visible_q(user, via="use_case__") | Q(author=user) | _reviewing(user)
    )


def awaiting(user, stage: str) -> QuerySet[Assessment]:
    """Assessments waiting for this person's decision at a stage (review or approve)."""
    access = access_for(user)
    states = [Status.SUBMITTED, Status.IN_REVIEW] if stage == "review" else [Status.APPROVED]
    pending = ReviewAssignment.objects.filter(
        stage=stage, decision=ReviewAssignment.Decision.PENDING
    )
    # Routed to them: by name, to a reviewer group they are in, or to a role they hold in
    # the use case's unit. Each is its own subquery (PostgreSQL hashes each once), and the
    # unit is asked of the use case the assessment row is joined to already: one OR over a
    # join of every pending assignment to its assessment and use case cost 15 to 30 ms.
    by_role = Q(
        pk__in=pending.filter(
            assignee__isnull=True, group__isnull=True, role__in=access.roles
        ).values("assessment_id")
    )
    if not known_in_every_unit(user):
        # (For a member of every unit the use case's unit is one of theirs whichever it is:
        # asked, it joined every row to the use cases, where the list needs none of them.)
        by_role &= Q(use_case__business_unit_id__in=access.unit_ids)
    routed = (
        Q(pk__in=pending.filter(assignee=user).values("assessment_id"))
        | Q(
            pk__in=pending.filter(assignee__isnull=True, group__name__in=access.roles).values(
                "assessment_id"
            )
        )
        | by_role
    )
    # Not what they wrote or already decided this round: the rules would refuse them, so
    # it is not waiting for them.
    decided = ReviewAssignment.objects.filter(decided_by=user).values("assessment_id")
    return (
        assessments_visible_to(user)
        .filter(routed, status__in=states)
        .exclude(written_by(user, states))
        .exclude(pk__in=decided)
        .order_by("submitted_at", "pk")
    )


_ROUTED = "_steward_routed"


def stages_routed_to(user) -> frozenset[str]:
    """The stages (review, approve) at which some pending decision is routed to the person:
    by name, to a reviewer group they are in, or to a role they hold (in any unit: a
    superset of what ``awaiting`` finds). A stage not in it has nothing waiting for them, so
    ``awaiting`` need not be asked. One query, kept on the person's object until
    ``forget_routed`` (My work forgets it each time it gathers)."""
    memo = user.__dict__
    if _ROUTED not in memo:
        roles = access_for(user).roles
        memo[_ROUTED] = frozenset(
            ReviewAssignment.objects.filter(decision=ReviewAssignment.Decision.PENDING)
            .filter(
                Q(assignee=user)
                | Q(assignee__isnull=True, group__name__in=roles)
                | Q(assignee__isnull=True, group__isnull=True, role__in=roles)
            )
            .order_by()
            .values_list("stage", flat=True)
            .distinct()
        )
    return memo[_ROUTED]


def forget_routed(user) -> None:
    user.__dict__.pop(_ROUTED, None)


def written_by(user, statuses) -> Q:
    """Assessments in ``statuses`` the person wrote: the author, or a contributor.

    Contributors are a JSON list. PostgreSQL looks inside it (``@>``) in the query itself;
    SQLite, the embedded default, cannot, so there the lists of assessments in ``statuses``
    are read and checked in Python (a small register's worth).
    """
    if connection.vendor == "postgresql":
        return Q(author=user) | Q(contributor_ids__contains=[user.pk])
    contributed = [
        pk
        for pk, ids in Assessment.objects.filter(status__in=statuses).values_list(
            "pk", "contributor_ids"
        )
        if user.pk in (ids or [])
    ]
    return Q(author=user) | Q(pk__in=contributed)


def to_revise(user) -> QuerySet[Assessment]:
    """Assessments the person wrote (author or contributor) that reviewers sent back with
    changes requested: theirs to revise and submit again, oldest first. Only those they may
    read (assessments_visible_to): what they wrote as its author, whatever its use case; what
    they contributed to, if they see its use case or their reviewer group was asked.

    The same as the visible ones they wrote, asked so that the use case is asked of the
    assessments they contributed to only (as a set, if any is): asked of every one they wrote,
    it joined them all to every use case, by a hash of all 10,000."""
    wrote = written_by(user, [Status.CHANGES_REQUESTED])
    if known_to_see_every_use_case(user) or not user.is_authenticated:
        qs = assessments_visible_to(user).filter(wrote)
    else:
        seen = Q(use_case_id__in=use_cases_visible_to(user).values("pk")) | _reviewing(user)
        qs = _assessments().filter(Q(author=user) | (wrote & seen))
    return qs.filter(status=Status.CHANGES_REQUESTED).order_by("updated_at", "pk")


def open_assessment(use_case, kind: str) -> Assessment | None:
    return Assessment.objects.filter(use_case=use_case, kind=kind, status__in=OPEN).first()


def versions_of(assessment: Assessment) -> QuerySet[Assessment]:
    """Every version of the same kind of assessment of the same use case, oldest first."""
    return (
        Assessment.objects.filter(use_case_id=assessment.use_case_id, kind=assessment.kind)
        .select_related("template", "author")
        .order_by("version", "pk")
    )


def templates_offered(kind: str | None = None) -> QuerySet[AssessmentTemplate]:
    qs = AssessmentTemplate.objects.filter(active=True)
    return qs.filter(kind=kind) if kind else qs


def overdue(user, today) -> QuerySet[Assessment]:
    return (
        assessments_visible_to(user)
        .filter(status=Status.SIGNED_OFF, valid_until__lt=today)
        .order_by("valid_until")
    )


# What an assessment's item shows: not its answers, its scores or the rest of its use case.
LEAN_FIELDS = (
    "id", "reference", "kind", "status", "use_case_id", "submitted_at", "approved_at",
    "created_at", "valid_until", "use_case__reference", "use_case__title",
)  # fmt: skip


# The same without its use case's (dashboard/work.py reads those for the rows it lists only).
ITEM_FIELDS = tuple(name for name in LEAN_FIELDS if not name.startswith("use_case__"))


def lean(qs):
    """Assessments with their use case's reference and title only (an item, a panel row)."""
    return (
        qs.select_related(None).select_related("use_case").prefetch_related(None).only(*LEAN_FIELDS)
    )


def stuck(user, now, days: int, limit: int) -> list[Assessment]:
    """The first ``limit`` assessments waiting in review, or for sign-off, for more than
    ``days``, oldest first, each with ``waiting_since`` (when it was submitted, or approved).

    One query: the first ``limit`` chosen among the assessments alone, walking the index on
    ``waiting_since`` (models.WAITING_FOR_DECISION) oldest first and asking of each whether
    the person sees it, until ``limit`` are found; then only those joined to their use cases.
    Without that index PostgreSQL read every waiting assessment the person sees (some 4,000
    of 20,000 for a product owner) and sorted them, on every request of the dashboard: 6 ms,
    where walking it takes 0.2. (Walking two partial indexes, one per wait, was tried before
    and dropped: with them PostgreSQL also walked the first index for My work's reviews, whose
    count over every row the LIMIT does not shorten. This index is on the wait itself, an
    expression no other query orders by.)"""
    since = now - timedelta(days=days)
    first = (
        assessments_visible_to(user)
        # As the index is defined: its condition, and its expression (so that PostgreSQL can
        # walk it in order from the oldest and stop at the first ``limit``).
        .filter(status__in=WAITING_FOR_DECISION)
        .alias(waiting_since=waiting_since())
        .filter(waiting_since__lt=since)
        .order_by("waiting_since", "pk")
        .values("pk")[:limit]
    )
    return list(
        lean(Assessment.objects.filter(pk__in=first))
        .annotate(waiting_since=waiting_since())
        .order_by("waiting_since", "pk")
    )


def templates_visible_to(user) -> QuerySet[AssessmentTemplate]:
    """Templates are the firm's shared forms: every signed-in person may read them."""
    if not user.is_authenticated:
        return AssessmentTemplate.objects.none()
    return AssessmentTemplate.objects.all()


def access_assessment(user, pk: int, perm: str = "assessments.view_assessment") -> Assessment:
    """The assessment if the person may see it (404 otherwise), checked against ``perm``."""
    assessment = get_object_or_404(assessments_visible_to(user), pk=pk)
    if not can(user, "assessments.view_assessment", assessment):
        raise Http404("No such assessment.")
    if perm != "assessments.view_assessment":
        require(user, perm, assessment)
    return assessment
