"""`manage.py bench --only gatewatch`: the nightly re-check of the go-live gate at scale.

The nightly task (monitoring.tasks.watch_live_gate) asks the go-live gate again of every use
case in production and raises a flag per failing check (monitoring/services/gate_watch.py).
This module runs it over the use cases the register's benchmark seeds (10,000), all of them
moved into production for the run:

1. it writes, in bulk, what the gate asks for, so that most use cases pass and a realistic
   share fails: a signed-off screening each (one in twenty expired), a DPIA where personal
   data is processed and an impact assessment where the tier is high (one in twenty-five
   missing), a runbook (one in ten past its review), and, where the register seeded no
   deployment, a production deployment of an approved, on-premises model with a complete
   card and a passing evaluation, approved for the use case. The register's own deployments
   (every fifth use case) keep their half-written cards, and its prohibited and switched-off
   use cases stay so: they fail as they would;
2. times one full nightly run (seconds, queries, flags raised per check), then a second run,
   which has nothing new to flag (every failure is already an open flag);
3. puts back the use cases' lifecycles and re-assessment marks and removes the rows it wrote
   (the gate flags and the gate data above), so the other benches find the register as they
   seeded it. History is append-only (a trigger refuses deletes): the flags' history and the
   use cases' "flagged for re-assessment" versions stay, and the ledger entries.

``live`` below the number seeded moves only the first ``live`` use cases into production
(the rest sit in pilot for the run), to compare query counts at two sizes on the same data.
"""

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.test.utils import override_settings
from django.utils import timezone

from assessments.models import Assessment, AssessmentTemplate, Kind, Status
from incidents.models import Runbook
from monitoring.models import Flag
from monitoring.services.gate_watch import CAUSE_PREFIX, GateWatchReport, gate_watch
from registry.models import (
    MODEL_CARD_SECTIONS,
    AIModel,
    ApprovalStatus,
    BusinessUnit,
    Deployment,
    Destination,
    Environment,
    EvaluationRecord,
    HostingPattern,
    Lifecycle,
    ModelApproval,
    ModelCard,
    ModelVersion,
    ReleaseStage,
    RiskTier,
    UseCase,
)

BATCH = 2000
MODEL_REFERENCE = "AI-GATEWATCH"  # the bench's own model; removed after the run
REFERENCE_PREFIX = "GW"  # its assessments' references: GW + kind letter + number
RUNBOOK_MARK = "Gate-watch benchmark runbook."
EXPIRED_SCREENING_EVERY = 20
MISSING_ASSESSMENT_EVERY = 25
LAPSED_RUNBOOK_EVERY = 10


@dataclass
class Run:
    seconds: float
    queries: int
    report: GateWatchReport
    raised_by_check: Counter = field(default_factory=Counter)


@dataclass
class Figures:
    live: int
    passing: int  # of the live use cases, how many pass every check before the first run
    first: Run
    second: Run
    seed_seconds: float


class QueryCounter:
    """Counts every statement the connection runs (the query log keeps only 9,000)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def wipe() -> None:
    """Remove what an earlier (perhaps interrupted) run left: gate flags and the gate data."""
    Flag.objects.filter(cause__startswith=CAUSE_PREFIX).delete()
    Assessment.objects.filter(reference__startswith=REFERENCE_PREFIX).delete()
    Runbook.objects.filter(disable_who=RUNBOOK_MARK).delete()
    versions = ModelVersion.objects.filter(model__reference=MODEL_REFERENCE)
    Deployment.objects.filter(model_version__in=versions).delete()
    ModelApproval.objects.filter(model__reference=MODEL_REFERENCE).delete()
    EvaluationRecord.objects.filter(model_version__in=versions).delete()
    ModelCard.objects.filter(model_version__in=versions).delete()
    versions.delete()
    AIModel.objects.filter(reference=MODEL_REFERENCE).delete()


def _model(owner, unit: BusinessUnit, now: datetime) -> ModelVersion:
    """An approved on-premises model (no data policy breach) with one complete, evaluated
    version: what a use case that passes the gate has deployed."""
    model = AIModel.objects.create(
        reference=MODEL_REFERENCE,
        name="Gate-watch bench model",
        provider="In-house data science",
        hosting_pattern=HostingPattern.IN_HOUSE,
        data_destination=Destination.ON_PREMISES,
        business_unit=unit,
        owner=owner,
        risk_tier=RiskTier.MINIMAL,
        approval_status=ApprovalStatus.APPROVED,
        approved_by=owner,
        approved_at=now - timedelta(days=30),
    )
    version = ModelVersion.objects.create(
        model=model,
        version="1.0",
        artefact="s3://models/gatewatch/v1",
        training_data=["s3://datasets/gatewatch/train"],
        evaluation={"auc": 0.9},
        stage=ReleaseStage.PRODUCTION,
    )
    text = "Written out in full for the reviewers who rely on this model card. "
    ModelCard.objects.create(
        model_version=version, sections={key: text for key, _, _ in MODEL_CARD_SECTIONS}
    )
    EvaluationRecord.objects.create(
        model_version=version,
        name="Holdout",
        dataset="gatewatch-holdout",
        metrics=[{"name": "auc", "value": 0.9, "threshold": 0.85, "passed": True}],
        fairness=[
            {
                "attribute": attribute,
                "group": group,
                "metric": "recall",
                "value": 0.9,
                "gap": 0.01,
                "threshold": 0.05,
                "passed": True,
            }
            for attribute in ("sex", "age")
            for group in ("a", "b")
        ],
        source="person",
        ran_by=owner,
        ran_at=now - timedelta(days=10),
        passed=True,
    )
    return version


@transaction.atomic
def seed(live: int) -> None:
    """Move the first ``live`` use cases into production (the rest into pilot) and write what
    the gate asks of them, in bulk."""
    now = timezone.now()
    today = timezone.localdate()
    owner = get_user_model().objects.get(username="bench.admin")
    rows = list(
        UseCase.objects.order_by("pk").values_list(
            "pk", "owner_id", "risk_tier", "business_unit_id"
        )
    )
    ids = [pk for pk, *_ in rows]
    UseCase.objects.filter(pk__in=ids[:live]).update(lifecycle=Lifecycle.PRODUCTION)
    UseCase.objects.filter(pk__in=ids[live:]).update(lifecycle=Lifecycle.PILOT)
    rows = rows[:live]
    version = _model(owner, BusinessUnit.objects.get(pk=rows[0][3]), now)
    deployed = set(
        Deployment.objects.filter(active=True, use_case_id__in=ids[:live]).values_list(
            "use_case_id", flat=True
        )
    )
    personal = set(
        UseCase.data_sources.through.objects.filter(
            usecase_id__in=ids[:live], datasource__personal_data=True
        ).values_list("usecase_id", flat=True)
    )
    has_runbook = set(
        Runbook.objects.filter(use_case_id__in=ids[:live]).values_list("use_case_id", flat=True)
    )
    templates = {
        kind: AssessmentTemplate.objects.filter(kind=kind, active=True).order_by("pk").first()
        for kind in (Kind.SCREENING, Kind.DPIA, Kind.IMPACT)
    }
    assessments, runbooks, approvals, deployments = [], [], [], []
    for n, (pk, owner_id, tier, _unit) in enumerate(rows):
        wanted = [Kind.SCREENING]
        if pk in personal:
            wanted.append(Kind.DPIA)
        if tier == RiskTier.HIGH:
            wanted.append(Kind.IMPACT)
        for kind in wanted:
            if kind != Kind.SCREENING and n % MISSING_ASSESSMENT_EVERY == 1:
                continue  # the DPIA or impact assessment was never signed off
            expired = kind == Kind.SCREENING and n % EXPIRED_SCREENING_EVERY == 2
            assessments.append(
                Assessment(
                    reference=f"{REFERENCE_PREFIX}{kind[0].upper()}{n + 1:07d}",
                    template=templates[kind],
                    kind=kind,
                    use_case_id=pk,
                    author_id=owner_id,
                    status=Status.SIGNED_OFF,
                    result_value=tier if kind == Kind.SCREENING else "",
                    valid_until=today + timedelta(days=-30 if expired else 300),
                )
            )
        lapsed = n % LAPSED_RUNBOOK_EVERY == 3
        if pk not in has_runbook:
            runbooks.append(
                Runbook(
                    use_case_id=pk,
                    disable_who=RUNBOOK_MARK,
                    disable_how="Engage the kill switch on the use case page.",
                    rollback_how="Roll the production deployment back to its previous version.",
                    fallback="Requests go to the manual queue and staff answer them.",
                    contacts=[{"name": "On-call", "role": "SRE", "email": "oncall@example.com"}],
                    reviewed_at=now - timedelta(days=800 if lapsed else 20),
                    updated_by_id=owner_id,
                )
            )
        if pk not in deployed:
            approvals.append(ModelApproval(use_case_id=pk, model=version.model, approved_by=owner))
            deployments.append(
                Deployment(
                    use_case_id=pk,
                    model_version=version,
                    environment=Environment.PRODUCTION,
                    traffic_share=100,
                )
            )
    Assessment.objects.bulk_create(assessments, batch_size=BATCH)
    Runbook.objects.bulk_create(runbooks, batch_size=BATCH)
    ModelApproval.objects.bulk_create(approvals, batch_size=BATCH)
    Deployment.objects.bulk_create(deployments, batch_size=BATCH)


def _timed(today) -> Run:
    counter = QueryCounter()
    with connection.execute_wrapper(counter):
        started = time.perf_counter()
        report = gate_watch(today=today)
        seconds = time.perf_counter() - started
    raised = Counter(
        Flag.objects.filter(reference__in=report.raised).values_list("cause", flat=True)
    )
    return Run(seconds, counter.count, report, raised)


def run(live: int | None = None) -> Figures:
    """Seed, time two nightly runs, and put the register back as it was."""
    table = UseCase._meta.db_table
    saved = list(
        UseCase.objects.order_by("pk").values_list(
            "pk", "lifecycle", "needs_reassessment", "reassessment_reasons", "updated_at"
        )
    )
    live = len(saved) if live is None else min(live, len(saved))
    wipe()
    try:
        started = time.perf_counter()
        seed(live)
        seed_seconds = time.perf_counter() - started
        with connection.cursor() as cursor:
            cursor.execute("VACUUM (ANALYZE)")
        today = timezone.localdate()
        # The flags email the owners and risk officers: kept in memory here.
        with override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"):
            first = _timed(today)
            second = _timed(today)
        return Figures(
            live=live,
            passing=first.report.checked - first.report.failing,
            first=first,
            second=second,
            seed_seconds=seed_seconds,
        )
    finally:
        wipe()
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                UPDATE {table} AS u
                   SET lifecycle = v.lifecycle, needs_reassessment = v.needs,
                       reassessment_reasons = v.reasons, updated_at = v.updated
                  FROM unnest(%s::bigint[], %s::text[], %s::boolean[], %s::text[],
                              %s::timestamptz[]) AS v(id, lifecycle, needs, reasons, updated)
                 WHERE u.id = v.id
                """,
                [list(column) for column in zip(*saved, strict=True)],
            )
