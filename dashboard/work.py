"""My work: what waits for one person, gathered from every app.

Each source is a function ``(user, today) -> list[WorkItem]`` registered in ``SOURCES``; the
page and the dashboard's top panel ask them all and sort the items by due date, then age.
Each source runs a fixed number of queries whatever the data size (at most ``LIMIT`` items
each), so the page does too; ``tests/dashboard/test_my_work.py`` asserts it.

Eligibility is the apps' own: reviews and sign-offs are ``assessments.selectors.awaiting``
(routing, four eyes, one decision per person per round); promotion approvals follow
``registry.release_policy.role_to_answer`` (asked in one query for all pending requests
rather than one per request).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db.models import Prefetch, Q
from django.urls import reverse
from django.utils import timezone

from assessments.models import Assessment, ReviewAssignment, Status
from assessments.selectors import awaiting, to_revise, written_by
from compliance.models import Evidence
from compliance.services.expiry import notice_days
from incidents.models import Incident
from incidents.models import Status as IncidentStatus
from incidents.services.deadlines import deadlines
from monitoring.models import Flag, FlagStatus
from portal.access import access_for
from portal.models import Role
from registry.models import PromotionRequest, UseCase
from registry.models.releases import ApproverRole
from registry.release_policy import ROLE_PREFERENCE, outstanding_roles

# Items per source at most: a person with more sees the first ones and the full list's link.
LIMIT = 100
# A use case's review date or an assessment's re-assessment date this close is listed.
SOON_DAYS = 30


@dataclass(frozen=True)
class WorkItem:
    kind: str  # a key of KINDS
    title: str
    why: str
    link: str
    due: date | None = None
    since: datetime | None = None

    @property
    def kind_label(self) -> str:
        return KINDS[self.kind]

    def is_overdue(self, today: date) -> bool:
        return self.due is not None and self.due < today

    @property
    def age_days(self) -> int | None:
        if self.since is None:
            return None
        return max(0, (timezone.now() - self.since).days)


KINDS = {
    "review": "Review",
    "sign": "Sign-off",
    "changes": "Changes requested",
    "draft": "Draft to finish",
    "flag": "Flag",
    "incident": "Incident",
    "deadline": "Deadline",
    "reassess": "Re-assessment due",
    "evidence": "Evidence expiring",
    "approval": "Release approval",
}


def _waiting_due(since: datetime | None) -> date | None:
    """A review or sign-off is expected within ASSESSMENT_STUCK_DAYS (the dashboard calls it
    stuck after that)."""
    if since is None:
        return None
    return timezone.localdate(since) + timedelta(days=settings.ASSESSMENT_STUCK_DAYS)


def _lean(qs):
    return qs.select_related(None).select_related("use_case").prefetch_related(None)


def _awaiting(user, stage: str, kind: str, why: str, link, since: str) -> list[WorkItem]:
    """Assessments waiting for the person's decision at ``stage`` (assessments' own rule)."""
    items = []
    for a in _lean(awaiting(user, stage))[:LIMIT]:
        at = getattr(a, since)
        items.append(
            WorkItem(
                kind,
                f"{a.reference} {a.get_kind_display()} of {a.use_case.reference}",
                f"{why}: {a.use_case.title}",
                link(a),
                _waiting_due(at),
                at,
            )
        )
    return items


def reviews(user, today: date) -> list[WorkItem]:
    return _awaiting(
        user, "review", "review", "Submitted for review", Assessment.get_absolute_url,
        "submitted_at",
    )  # fmt: skip


def sign_offs(user, today: date) -> list[WorkItem]:
    return _awaiting(
        user, "approve", "sign", "Every reviewer approved",
        lambda a: reverse("assessments:sign-off", args=[a.pk]), "approved_at",
    )  # fmt: skip


def _written_by(user, status: str):
    """Assessments in ``status`` the person wrote: the author, or a contributor."""
    return (
        Assessment.objects.filter(status=status)
        .filter(written_by(user, [status]))
        .select_related("use_case")
        .order_by("updated_at", "pk")
    )


def changes_requested(user, today: date) -> list[WorkItem]:
    asked = Prefetch(
        "reviews",
        queryset=ReviewAssignment.objects.filter(
            decision=ReviewAssignment.Decision.CHANGES_REQUESTED
        )
        .select_related("decided_by")
        .order_by("-decided_at"),
        to_attr="changes_asked",
    )
    items = []
    for a in _lean(to_revise(user)).prefetch_related(asked)[:LIMIT]:
        last = a.changes_asked[0] if a.changes_asked else None
        who = (last.decided_by.get_full_name() or last.decided_by.username) if last else ""
        why = f"{who}: {last.note}" if last and last.decided_by else "Revise and submit again"
        since = last.decided_at if last and last.decided_at else a.updated_at
        items.append(
            WorkItem(
                "changes",
                f"{a.reference} {a.get_kind_display()} of {a.use_case.reference}",
                why,
                a.get_absolute_url(),
                None,
                since,
            )
        )
    return items


def drafts(user, today: date) -> list[WorkItem]:
    return [
        WorkItem(
            "draft",
            f"{a.reference} {a.get_kind_display()} of {a.use_case.reference}",
            f"Not submitted yet: {a.use_case.title}",
            a.get_absolute_url(),
            None,
            a.created_at,
        )
        for a in _written_by(user, Status.DRAFT)[:LIMIT]
    ]


def flags(user, today: date) -> list[WorkItem]:
    open_flags = (
        Flag.objects.filter(status=FlagStatus.OPEN)
        .filter(Q(use_case__owner=user) | Q(model_version__model__owner=user))
        .select_related("use_case", "rule")
        .order_by("raised_at", "pk")[:LIMIT]
    )
    return [
        WorkItem(
            "flag",
            f"{f.reference} on {f.use_case.reference}",
            f"{f.get_severity_display()} severity: {f.title}",
            reverse("monitoring:flag-detail", args=[f.reference]),
            None,
            f.raised_at,
        )
        for f in open_flags
    ]


def incidents(user, today: date) -> list[WorkItem]:
    """Open incidents the person owns, each with its regulatory clocks still running."""
    now = timezone.now()
    items = []
    owned = (
        Incident.objects.filter(owner=user)
        .exclude(status=IncidentStatus.CLOSED)
        .select_related("use_case")
        .order_by("opened_at", "pk")[:LIMIT]
    )
    for incident in owned:
        link = incident.get_absolute_url()
        items.append(
            WorkItem(
                "incident",
                f"{incident.reference} {incident.title}",
                f"{incident.get_severity_display()}, {incident.get_status_display().lower()}, "
                f"on {incident.use_case.reference}",
                link,
                None,
                incident.opened_at,
            )
        )
        for clock in deadlines(incident, now=now):
            if clock.is_met:
                continue
            items.append(
                WorkItem(
                    "deadline",
                    f"{incident.reference}: {clock.label}",
                    f"{clock.basis} ({clock.state_label})",
                    link,
                    timezone.localdate(clock.due_at),
                    incident.aware_at,
                )
            )
    return items


def reassessments(user, today: date) -> list[WorkItem]:
    """Use cases the person owns whose review date is near or past, or that are marked as
    needing re-assessment; signed-off assessments they own or wrote that expire soon."""
    soon = today + timedelta(days=SOON_DAYS)
    items = [
        WorkItem(
            "reassess",
            f"{uc.reference} {uc.title}",
            "Marked as needing re-assessment"
            if uc.needs_reassessment
            else "Its review date is coming",
            uc.get_absolute_url(),
            uc.next_review_date,
            None,
        )
        for uc in UseCase.objects.filter(owner=user)
        .exclude(lifecycle="retired")
        .filter(Q(needs_reassessment=True) | Q(next_review_date__lte=soon))
        .order_by("next_review_date", "pk")[:LIMIT]
    ]
    expiring = (
        Assessment.objects.filter(status=Status.SIGNED_OFF, valid_until__lte=soon)
        .filter(Q(author=user) | Q(use_case__owner=user))
        .exclude(use_case__lifecycle="retired")
        .select_related("use_case")
        .order_by("valid_until", "pk")[:LIMIT]
    )
    items += [
        WorkItem(
            "reassess",
            f"{a.reference} {a.get_kind_display()} of {a.use_case.reference}",
            f"Signed off; valid until {a.valid_until:%d %b %Y}: start a re-assessment",
            a.get_absolute_url(),
            a.valid_until,
            None,
        )
        for a in expiring
    ]
    return items


def evidence(user, today: date) -> list[WorkItem]:
    """Evidence about to expire (COMPLIANCE_EXPIRY_NOTICE_DAYS) for controls the person owns,
    or that they attested."""
    expiring = (
        Evidence.objects.filter(
            expires_on__gte=today, expires_on__lte=today + timedelta(days=notice_days())
        )
        .filter(Q(controls__owner=user) | Q(attested_by=user))
        .distinct()
        .order_by("expires_on", "pk")[:LIMIT]
    )
    return [
        WorkItem(
            "evidence",
            f"{e.reference} {e.title}",
            "Attach its successor before it expires",
            e.get_absolute_url(),
            e.expires_on,
            None,
        )
        for e in expiring
    ]


def approvals(user, today: date) -> list[WorkItem]:
    """Pending release promotions this person may approve (registry.decide_promotion: never
    the requester, never twice, in a role still open, not an auditor)."""
    access = access_for(user)
    if access.has_role(Role.AUDITOR):
        return []
    held = set()
    if access.has_role(Role.RISK_OFFICER):
        held.add(ApproverRole.RISK_OFFICER)
    if access.has_role(Role.DPO):
        held.add(ApproverRole.DPO)
    pending = list(
        PromotionRequest.objects.filter(status="pending")
        .exclude(requested_by=user)
        .exclude(approvals__approver=user)
        .select_related("model_version__model")
        .prefetch_related("approvals")
        .order_by("requested_at", "pk")[: LIMIT * 2]
    )
    if not pending:
        return []
    # "The use-case owner" (release_policy.owner_ids): owners of the use cases the model
    # serves or is approved for, else the model's owner; asked once for every model.
    model_ids = {r.model_version.model_id for r in pending}
    served = UseCase.objects.filter(
        Q(deployments__model_version__model_id__in=model_ids, deployments__active=True)
        | Q(model_approvals__model_id__in=model_ids)
    ).values_list("deployments__model_version__model_id", "model_approvals__model_id", "owner_id")
    owners: dict[int, set[int]] = {}
    for deployed, approved, owner in served:
        for model_id in {deployed, approved} & model_ids:
            owners.setdefault(model_id, set()).add(owner)
    items = []
    for request in pending:
        model = request.model_version.model
        mine = held | (
            {ApproverRole.OWNER} if user.pk in owners.get(model.pk, {model.owner_id}) else set()
        )
        open_roles = set(outstanding_roles(request)) & mine
        role = next((r for r in ROLE_PREFERENCE if r in open_roles), None)
        if role is None:
            continue
        items.append(
            WorkItem(
                "approval",
                f"{request.model_version} {request.get_from_stage_display()} → "
                f"{request.get_to_stage_display()}",
                f"Your approval as {ApproverRole(role).label.lower()}: {request.reason}",
                request.get_absolute_url(),
                None,
                request.requested_at,
            )
        )
    return items[:LIMIT]


SOURCES: list[Callable[..., list[WorkItem]]] = [
    reviews,
    sign_offs,
    changes_requested,
    drafts,
    flags,
    incidents,
    reassessments,
    evidence,
    approvals,
]


def _order(item: WorkItem):
    far = datetime.max.replace(tzinfo=timezone.get_current_timezone())
    return (item.due is None, item.due or date.max, item.since or far, item.title)


def my_work(user, today: date | None = None) -> list[WorkItem]:
    """Everything waiting for the person, soonest due first, then oldest."""
    today = today or timezone.localdate()
    items = [item for source in SOURCES for item in source(user, today)]
    return sorted(items, key=_order)


__all__ = ["KINDS", "SOURCES", "WorkItem", "my_work"]
