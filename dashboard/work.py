"""My work: what waits for one person, gathered from every app.

Each source is a function ``(user, today, limit) -> Batch`` registered in ``SOURCES``: its
first ``limit`` items in the order the page shows them (soonest due, then oldest), and how
many it has of each kind, counted in the same query (``COUNT(*) OVER ()``). The page and the
dashboard's top panel ask every source for as many as they show (five for the panel, a page of
fifty for My work), merge and sort them, and count the rest without building it. Each source
runs a fixed number of queries whatever the data size, so the page does too;
``tests/dashboard/test_my_work.py`` asserts it. A source lists at most ``LIMIT`` items; a person
with more sees the first ones and is told how many wait (reviews and sign-offs are counted in
full).

Eligibility is the apps' own: reviews and sign-offs are ``assessments.selectors.awaiting``
(routing, four eyes, one decision per person per round); promotion approvals follow
``registry.release_policy.role_to_answer`` (asked in one query for all pending requests
rather than one per request).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery, Window
from django.db.models.functions import Coalesce
from django.utils import timezone

from assessments.models import Assessment, Status
from assessments.selectors import (
    ITEM_FIELDS,
    awaiting,
    forget_routed,
    last_asked_for_changes,
    lean,
    stages_routed_to,
    to_revise,
    written_by,
)
from compliance.models import Evidence
from compliance.services.expiry import notice_days
from dashboard import work_store
from incidents.models import Incident
from incidents.models import Status as IncidentStatus
from incidents.services.deadlines import CLOCK_FIELDS, deadlines
from monitoring.models import Flag, FlagStatus
from portal.access import access_for, read_again
from portal.links import link
from portal.models import Role
from registry.models import ModelVersion, PromotionApproval, PromotionRequest, UseCase
from registry.models.releases import ApproverRole
from registry.release_policy import ROLE_PREFERENCE, outstanding_roles
from registry.selectors import (
    forget_every_use_case,
    give_use_cases_shown,
    sees_every_use_case,
    use_case_shown,
)

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


@dataclass
class Batch:
    """One source's answer: its first items in the page's order, and per kind how many the
    page lists (``counts``, at most ``LIMIT`` a query) and how many there are (``totals``)."""

    items: list[WorkItem]
    counts: Counter = field(default_factory=Counter)
    totals: Counter = field(default_factory=Counter)

    def add(self, kind: str, items: list[WorkItem], total: int) -> Batch:
        self.items += items
        self.counts[kind] += min(total, LIMIT)
        self.totals[kind] += total
        return self

    @classmethod
    def whole(cls, items: list[WorkItem]) -> Batch:
        """A source that builds its whole (bounded) list: every item counted as listed."""
        counts = Counter(item.kind for item in items)
        return cls(items, counts, Counter(counts))


# What an item shows of its use case.
SHOWN = ("reference", "title")


def _first(qs: QuerySet, limit: int, use_case: tuple[str, ...] = ()) -> tuple[list, int]:
    """The first ``min(limit, LIMIT)`` rows of ``qs`` and how many rows it has, in one query.

    ``use_case`` names the fields of each row's use case an item shows (``row.use_case``; of a
    use case, its own), read for the rows listed only (registry.selectors.use_case_shown): the
    count is over every row, and joined, every row (some thousands of reviews) was joined to
    every use case."""
    rows = list(
        use_case_shown(qs, use_case).annotate(work_total=Window(Count("*")))[: min(limit, LIMIT)]
    )
    give_use_cases_shown(rows, use_case, qs.db)
    return rows, (rows[0].work_total if rows else 0)


def _listed(qs: QuerySet) -> QuerySet:
    """Assessments with what an item shows of them: as ``lean``, but their use case left to
    ``_first`` (``use_case=SHOWN``)."""
    return qs.select_related(None).prefetch_related(None).only(*ITEM_FIELDS)


def _owned(user) -> QuerySet:
    """The use cases the person owns, as a set for ``__in`` (their owner's index): asked of
    each row's joined use case instead, every row was joined to every use case first."""
    return UseCase.objects.filter(owner=user).values("pk")


def _waiting_due(since: datetime | None) -> date | None:
    """A review or sign-off is expected within ASSESSMENT_STUCK_DAYS (the dashboard calls it
    stuck after that)."""
    if since is None:
        return None
    return timezone.localdate(since) + timedelta(days=settings.ASSESSMENT_STUCK_DAYS)


def _awaiting(user, limit: int, stage: str, kind: str, why: str, view: str, since: str) -> Batch:
    """Assessments waiting for the person's decision at ``stage`` (assessments' own rule),
    longest waiting first (its due date follows from ``since``)."""
    if stage not in stages_routed_to(user):
        # Nothing at this stage is routed to them (one query for both stages): no need to
        # look through every assessment waiting at it (most people decide on none).
        return Batch([]).add(kind, [], 0)
    rows, total = _first(_listed(awaiting(user, stage)).order_by(since, "pk"), limit, SHOWN)
    items = []
    for a in rows:
        at = getattr(a, since)
        items.append(
            WorkItem(
                kind,
                f"{a.reference} {a.get_kind_display()} of {a.use_case.reference}",
                f"{why}: {a.use_case.title}",
                link(view, a.pk),
                _waiting_due(at),
                at,
            )
        )
    return Batch([]).add(kind, items, total)


def reviews(user, today: date, limit: int = LIMIT) -> Batch:
    return _awaiting(
        user, limit, "review", "review", "Submitted for review", "assessments:detail",
        "submitted_at",
    )  # fmt: skip


def sign_offs(user, today: date, limit: int = LIMIT) -> Batch:
    return _awaiting(
        user, limit, "approve", "sign", "Every reviewer approved",
        "assessments:sign-off", "approved_at",
    )  # fmt: skip


def _written_by(user, status: str):
    """Assessments in ``status`` the person wrote: the author, or a contributor."""
    return (
        Assessment.objects.filter(status=status)
        .filter(written_by(user, [status]))
        .select_related("use_case")
    )


def changes_requested(user, today: date, limit: int = LIMIT) -> Batch:
    # The newest request for changes of each assessment: when (the item's ``since``, and the
    # list's order, oldest first), and who asked and why, read for the listed rows only in one
    # subquery each (a prefetch was a query of its own, and a list of reviews each).
    rows, total = _first(
        _listed(to_revise(user))
        # When the changes were asked for (else when it was last submitted): not when it was
        # last saved, which an autosave moves without outdating the kept list.
        .annotate(
            asked_since=Coalesce(
                last_asked_for_changes("when"), F("submitted_at"), F("created_at")
            ),
            asked_by=last_asked_for_changes("who"),
        )
        .order_by("asked_since", "pk"),
        limit,
        SHOWN,
    )
    items = []
    for a in rows:
        asked = a.asked_by or {}
        if asked.get("username"):
            who = f"{asked['first_name']} {asked['last_name']}".strip() or asked["username"]
            why = f"{who}: {asked['note']}"
        else:  # no reviewer recorded (or none left): the general request
            why = "Revise and submit again"
        items.append(
            WorkItem(
                "changes",
                f"{a.reference} {a.get_kind_display()} of {a.use_case.reference}",
                why,
                a.get_absolute_url(),
                None,
                a.asked_since,
            )
        )
    return Batch([]).add("changes", items, total)


def drafts(user, today: date, limit: int = LIMIT) -> Batch:
    rows, total = _first(
        _listed(_written_by(user, Status.DRAFT)).order_by("created_at", "pk"), limit, SHOWN
    )
    items = [
        WorkItem(
            "draft",
            f"{a.reference} {a.get_kind_display()} of {a.use_case.reference}",
            f"Not submitted yet: {a.use_case.title}",
            a.get_absolute_url(),
            None,
            a.created_at,
        )
        for a in rows
    ]
    return Batch([]).add("draft", items, total)


FLAG_ITEM_FIELDS = (
    "id", "reference", "severity", "raised_at", "reason", "cause", "rule_id", "use_case_id",
    "rule__name",
)  # fmt: skip


def flags(user, today: date, limit: int = LIMIT) -> Batch:
    # The model's owner of each flag's own version, asked row by row (two index lookups) and
    # only of flags on a use case the person does not own: not every version of their models
    # gathered first (as EXISTS or IN made PostgreSQL do), which took longer than the flags
    # to read. (An OR across joins made PostgreSQL join every model version.)
    model_owner = (
        ModelVersion.objects.filter(pk=OuterRef("model_version_id"))
        .order_by()
        .values("model__owner_id")[:1]
    )
    owned = _owned(user)
    rows, total = _first(
        Flag.objects.filter(status=FlagStatus.OPEN)
        .alias(model_owner=Subquery(model_owner))
        .filter(Q(use_case_id__in=owned) | Q(model_owner=user.pk))
        .select_related("rule")
        # What an item shows (its title is the rule's name, or the reason, or the cause): not
        # the evidence, the rule's definition or the rest of the use case.
        .only(*FLAG_ITEM_FIELDS)
        .order_by("raised_at", "pk"),
        limit,
        ("reference",),
    )
    items = [
        WorkItem(
            "flag",
            f"{f.reference} on {f.use_case.reference}",
            f"{f.get_severity_display()} severity: {f.title}",
            link("monitoring:flag-detail", f.reference),
            None,
            f.raised_at,
        )
        for f in rows
    ]
    return Batch([]).add("flag", items, total)


INCIDENT_ITEM_FIELDS = (
    "id", "reference", "title", "severity", "status", "opened_at", "use_case_id",
)  # fmt: skip


def incidents(user, today: date, limit: int = LIMIT) -> Batch:
    """Open incidents the person owns (the first ``LIMIT`` by when they were opened), and
    each one's regulatory clocks still running.

    The first ``limit`` incidents are built, and counted in the same query; the clocks are
    worked out in Python, so only the few incidents with a report still due are read whole.
    """
    now = timezone.now()
    owned = (
        Incident.objects.filter(owner=user)
        .exclude(status=IncidentStatus.CLOSED)
        # What an item shows: not the description, the timeline or the rest of the use case.
        .only(*INCIDENT_ITEM_FIELDS)
        .order_by("opened_at", "pk")
    )
    rows, total = _first(owned, limit, ("reference",))
    batch = Batch([]).add(
        "incident",
        [
            WorkItem(
                "incident",
                f"{incident.reference} {incident.title}",
                f"{incident.get_severity_display()}, {incident.get_status_display().lower()}, "
                f"on {incident.use_case.reference}",
                incident.get_absolute_url(),
                None,
                incident.opened_at,
            )
            for incident in rows
        ],
        total,
    )
    # Of the same first LIMIT incidents, those with a report not yet recorded (a clock not
    # met: incidents.services.deadlines.deadlines).
    unreported = Q(~Q(serious_harm=""), regulator_reported_at__isnull=True) | Q(
        personal_data_breach=True, dpa_reported_at__isnull=True
    )
    clocked = (
        Incident.objects.filter(unreported, pk__in=owned.values("pk")[:LIMIT])
        .only(*CLOCK_FIELDS)  # what the clocks are worked out from, and what an item shows
        .order_by("opened_at", "pk")
    )
    for incident in clocked:
        url = incident.get_absolute_url()
        for clock in deadlines(incident, now=now):
            if clock.is_met:
                continue
            batch.add(
                "deadline",
                [
                    WorkItem(
                        "deadline",
                        f"{incident.reference}: {clock.label}",
                        f"{clock.basis} ({clock.state_label})",
                        url,
                        timezone.localdate(clock.due_at),
                        incident.aware_at,
                    )
                ],
                1,
            )
    return batch


def reassessments(user, today: date, limit: int = LIMIT) -> Batch:
    """Use cases the person owns whose review date is near or past, or that are marked as
    needing re-assessment; signed-off assessments they own or wrote that expire soon."""
    soon = today + timedelta(days=SOON_DAYS)
    use_cases, total = _first(
        UseCase.objects.filter(owner=user)
        .exclude(lifecycle="retired")
        .filter(Q(needs_reassessment=True) | Q(next_review_date__lte=soon))
        # What they are counted and sorted by, from the owner's index
        # (registry_usecase_owner_reviews); what an item shows, of the listed ones only.
        .only("id", "needs_reassessment", "next_review_date")
        .order_by(F("next_review_date").asc(nulls_last=True), "pk"),
        limit,
        SHOWN,
    )
    batch = Batch([]).add(
        "reassess",
        [
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
            for uc in use_cases
        ],
        total,
    )
    # The use cases they own, and the retired ones, as sets read once each: asked of each
    # assessment's joined use case, every use case was hashed first (2.3 ms for someone who
    # owns none and wrote none, who now needs the owner's and the lifecycle's index only).
    owned = _owned(user)
    retired = UseCase.objects.filter(lifecycle="retired").values("pk")
    expiring, total = _first(
        _listed(
            Assessment.objects.filter(status=Status.SIGNED_OFF, valid_until__lte=soon)
            .filter(Q(author=user) | Q(use_case_id__in=owned))
            .exclude(use_case_id__in=retired)
        ).order_by("valid_until", "pk"),
        limit,
        ("reference",),
    )
    return batch.add(
        "reassess",
        [
            WorkItem(
                "reassess",
                f"{a.reference} {a.get_kind_display()} of {a.use_case.reference}",
                f"Signed off; valid until {a.valid_until:%d %b %Y}: start a re-assessment",
                a.get_absolute_url(),
                a.valid_until,
                None,
            )
            for a in expiring
        ],
        total,
    )


def evidence(user, today: date, limit: int = LIMIT) -> Batch:
    """Evidence about to expire (COMPLIANCE_EXPIRY_NOTICE_DAYS) for controls the person owns,
    or that they attested."""
    rows, total = _first(
        Evidence.objects.filter(
            expires_on__gte=today, expires_on__lte=today + timedelta(days=notice_days())
        )
        # A subquery, not a join: a row per evidence, so the count is of evidence.
        .filter(
            Q(
                pk__in=Evidence.controls.through.objects.filter(control__owner=user).values(
                    "evidence_id"
                )
            )
            | Q(attested_by=user)
        )
        .order_by("expires_on", "pk"),
        limit,
    )
    items = [
        WorkItem(
            "evidence",
            f"{e.reference} {e.title}",
            "Attach its successor before it expires",
            e.get_absolute_url(),
            e.expires_on,
            None,
        )
        for e in rows
    ]
    return Batch([]).add("evidence", items, total)


def approvals(user, today: date, limit: int = LIMIT) -> Batch:
    """Pending release promotions this person may approve (registry.decide_promotion: never
    the requester, never twice, in a role still open, not an auditor)."""
    access = access_for(user)
    if access.has_role(Role.AUDITOR):
        return Batch([])
    held = set()
    if access.has_role(Role.RISK_OFFICER):
        held.add(ApproverRole.RISK_OFFICER)
    if access.has_role(Role.DPO):
        held.add(ApproverRole.DPO)
    pending = list(
        PromotionRequest.objects.filter(status="pending")
        .exclude(requested_by=user)
        # As a set of their own answers: excluded across the relation, the ORM built the same
        # subquery at several times the cost of the (usually empty) query it is part of.
        .exclude(pk__in=PromotionApproval.objects.filter(approver=user).values("request_id"))
        .select_related("model_version__model")
        .prefetch_related("approvals")
        .order_by("requested_at", "pk")[: LIMIT * 2]
    )
    if not pending:
        return Batch([])
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
    return Batch.whole(items[:LIMIT])


SOURCES: list[Callable[..., Batch]] = [
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


def _in_order(items: list[WorkItem]) -> list[WorkItem]:
    """The items in the page's order: soonest due first, then oldest, then by title."""
    # The far end of time once a sort, not once an item: the current time zone is looked up
    # through a context-local, which cost more than the comparison itself (a gathering sorts
    # several hundred items, a read of My work as many).
    far = datetime.max.replace(tzinfo=timezone.get_current_timezone())
    return sorted(
        items,
        key=lambda item: (item.due is None, item.due or date.max, item.since or far, item.title),
    )


@dataclass(frozen=True)
class Work:
    """What waits for a person: the first items in the page's order, and how many of each
    kind the full list has (``counts``; ``waiting`` also counts past ``LIMIT``)."""

    items: list[WorkItem]
    counts: Counter
    waiting: Counter

    @property
    def total(self) -> int:
        return sum(self.counts.values())


# What depends on the clock is gathered on every request, never kept (dashboard/work_store.py):
# an incident's reporting clocks go from running to overdue by the hour.
LIVE_SOURCES = (incidents,)


@dataclass(frozen=True)
class Reads:
    """What a kept source lists (its kinds of item) and the tables it reads them from, besides
    who the person is (work_store.EVERYONE_READS)."""

    kinds: tuple[str, ...]
    tables: tuple[str, ...]


# What a list of assessments reads: the assessments, their reviews (who may see them) and their
# use cases (the panels' lists too: dashboard/panels.py).
ASSESSMENT_TABLES = (
    "assessments_assessment",
    "assessments_reviewassignment",
    "registry_usecase",
)

# Each kept source by name: a change to one of its tables outdates its items, and only its
# (dashboard/work_store.py). tests/dashboard/test_work_store.py walks each source's SQL, for
# every persona, against its tables, and its items against its kinds.
KEPT: dict[str, Reads] = {
    "reviews": Reads(("review",), ASSESSMENT_TABLES),
    "sign_offs": Reads(("sign",), ASSESSMENT_TABLES),
    "changes_requested": Reads(("changes",), ASSESSMENT_TABLES),
    "drafts": Reads(("draft",), ASSESSMENT_TABLES),
    "flags": Reads(
        ("flag",), ("monitoring_flag", "monitoring_rule", "registry_usecase",
                    "registry_modelversion", "registry_aimodel"),
    ),
    "reassessments": Reads(("reassess",), ("registry_usecase", "assessments_assessment")),
    "evidence": Reads(
        ("evidence",),
        ("compliance_evidence", "compliance_evidence_controls", "compliance_control"),
    ),
    "approvals": Reads(
        ("approval",), ("registry_promotionrequest", "registry_promotionapproval",
                        "registry_modelversion", "registry_aimodel", "registry_usecase",
                        "registry_deployment", "registry_modelapproval"),
    ),
}  # fmt: skip
KEPT_TABLES = {name: reads.tables for name, reads in KEPT.items()}


def _gather(user, today: date, sources, limit: int, kind: str) -> tuple[list, Counter, Counter]:
    """The sources' first ``limit`` items each (of one ``kind``, or all), in the page's
    order, and their counts."""
    items: list[WorkItem] = []
    counts: Counter = Counter()
    waiting: Counter = Counter()
    for source in sources:
        batch = source(user, today, limit)
        items += [i for i in batch.items if i.kind == kind] if kind else batch.items
        counts += batch.counts
        waiting += batch.totals
    return _in_order(items), counts, waiting


def reread_person(user, mark: work_store.Mark) -> None:
    """Read again what the sources take from the person object, which the request read before
    the change log: their account's flags, roles and units (a list gathered with an older
    copy would be kept under the newer log, and outlive the change). Before anything kept
    under the log at ``mark`` is gathered: My work, the dashboard's panels
    (dashboard/panels.py). Once for a mark: read again after the log read ``mark``, the person
    is as new as anything kept under that same mark (the dashboard's two misses, one reading)."""
    if user.pk is None or getattr(user, "_steward_read_under", None) == mark:
        return
    read_again(user)  # their flags, roles and units, in one statement
    forget_every_use_case(user)
    sees_every_use_case(user)  # asked again, so that the sources may filter nothing
    user._steward_read_under = mark


def _regather(user, today: date, depth: int, kept: work_store.Kept) -> work_store.Kept:
    """The kept list with the sources it names as outdated gathered afresh, ``depth`` items
    each (every source, if nothing usable was kept), kept again under the log as just read.

    A source is gathered as deep as the request asks, not as deep as the others were kept:
    the dashboard, after a change, gathers its five a source where My work's page keeps fifty
    (a page), and the page then gathers those sources again (``Kept.outdated``), not every one.
    """
    outdated = kept.outdated(KEPT_TABLES)
    base = work_store.read_whole(user, kept) if outdated != set(KEPT) else None
    if base is None:
        # Nothing to build on (or it was kept again since it was read): every source.
        outdated, base = set(KEPT), work_store.Kept(kept.mark, [])
    reread_person(user, kept.mark)
    gathered, counts, waiting = _gather(
        user, today, [s for s in SOURCES if s.__name__ in outdated], depth, ""
    )
    gone = {kind for name in outdated for kind in KEPT[name].kinds}
    items = _in_order([i for i in base.items if i.kind not in gone] + gathered)
    counts += Counter({k: n for k, n in base.counts.items() if k not in gone})
    waiting += Counter({k: n for k, n in base.waiting.items() if k not in gone})
    depths = {name: depth if name in outdated else base.depths[name] for name in KEPT}
    work_store.keep(user, today, kept.mark, depths, items, counts, waiting)
    return work_store.Kept(kept.mark, items, counts, waiting, set(), depths=depths, asked=depth)


def work(user, today: date | None = None, *, limit: int = LIMIT, kind: str = "") -> Work:
    """The first ``limit`` items waiting for the person (of one ``kind``, or all), soonest
    due first, then oldest, with every kind counted. Each source is asked for its own first
    ``limit`` in the same order, so the first ``limit`` of them all are among them.

    On PostgreSQL the sources that do not depend on the clock are gathered for every kind,
    each source's first ``limit``, and kept: a source is gathered again when a table it reads
    changes (or a page asks for more: dashboard/work_store.py), the others read back as kept;
    the incidents source is asked each time."""
    today = today or timezone.localdate()
    forget_routed(user)  # asked afresh for each gathering (the person object may be reused)
    if not work_store.keeps():
        sees_every_use_case(user)  # so that the sources may filter nothing for such a person
        items, counts, waiting = _gather(user, today, SOURCES, limit, kind)
        return Work(items[:limit], counts, waiting)
    depth = min(limit, LIMIT)  # what each source gives at most
    # The kept list in full for one kind, or for more than one source's worth (a page far
    # down the list): else only its first ``limit`` items are read.
    first = None if kind or limit > LIMIT else limit
    kept = work_store.read(user, today, first=first, depth=depth)
    if kept.outdated(KEPT_TABLES):  # every source, when nothing usable was kept
        kept = _regather(user, today, depth, kept)
    live, live_counts, live_waiting = _gather(user, today, LIVE_SOURCES, limit, kind)
    items = [i for i in kept.items if i.kind == kind] if kind else kept.items
    return Work(
        _in_order(items + live)[:limit],
        kept.counts + live_counts,
        kept.waiting + live_waiting,
    )


def my_work(user, today: date | None = None) -> list[WorkItem]:
    """Everything waiting for the person, soonest due first, then oldest."""
    return _gather(user, today or timezone.localdate(), SOURCES, LIMIT, "")[0]


__all__ = [
    "ASSESSMENT_TABLES", "KEPT", "KEPT_TABLES", "KINDS", "LIMIT", "SOURCES", "Batch", "Reads",
    "Work", "WorkItem", "lean", "my_work", "reread_person", "work",
]  # fmt: skip
