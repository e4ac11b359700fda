"""Seed data for `manage.py bench`: a firm with many use cases, written in bulk.

The services write one record at a time with its checks and history; that is right for the
portal and far too slow for 10,000 rows. Here the rows, their data-source links and their
history (a "+" row and some edits each, with the m2m snapshot simple_history keeps) are
bulk-created directly, shaped like what the services would have written. The model registry
is seeded the same way; the signed-off DPIA whose PDF is timed goes through the services.
"""

import random
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.utils import timezone

from assessments import engine, services
from assessments.models import Assessment, AssessmentTemplate, Status
from devtools.demo.assessments import CREDIT_DPIA
from portal.models import Role, Sequence
from registry.models import (
    DEFAULT_DESTINATION,
    MODEL_CARD_SECTIONS,
    AIModel,
    ApprovalStatus,
    BusinessUnit,
    Classification,
    DataPolicyException,
    DataSource,
    DecisionImpact,
    Deployment,
    Destination,
    Environment,
    GateCheck,
    HostingPattern,
    HumanOversight,
    Lifecycle,
    ModelApproval,
    ModelCard,
    ModelVersion,
    PeopleAffected,
    ReleaseStage,
    RiskTier,
    UseCase,
)

User = get_user_model()
if TYPE_CHECKING:
    from django.contrib.auth.models import User as AuthUser

UNITS = [
    ("RETAIL", "Retail Banking"),
    ("OPS", "Operations"),
    ("LEGAL", "Legal & Compliance"),
]
SOURCES_PER_UNIT = 8
BATCH = 2000
# Every HEAVY_EVERY-th use case gets HEAVY_EDITS edits; the others 0 to 2.
HEAVY_EVERY = 100
HEAVY_EDITS = 5

# username: (role, codes of the units the person belongs to)
PEOPLE = {
    "bench.admin": (Role.ADMIN, ["RETAIL", "OPS", "LEGAL"]),
    "bench.risk": (Role.RISK_OFFICER, ["RETAIL", "OPS", "LEGAL"]),
    "bench.owner": (Role.PRODUCT_OWNER, ["RETAIL"]),
    "bench.owner.ops": (Role.PRODUCT_OWNER, ["OPS"]),
    "bench.owner.legal": (Role.PRODUCT_OWNER, ["LEGAL"]),
    "bench.leader": (Role.LEADERSHIP, ["RETAIL", "OPS", "LEGAL"]),
    "bench.dpo": (Role.DPO, ["RETAIL", "OPS", "LEGAL"]),
    "bench.auditor": (Role.AUDITOR, []),
}
UNIT_OWNER = {"RETAIL": "bench.owner", "OPS": "bench.owner.ops", "LEGAL": "bench.owner.legal"}
PRODUCT_OWNER = "bench.owner"
AUDITOR = "bench.auditor"

WORDS = [
    "fraud",
    "scoring",
    "triage",
    "chatbot",
    "forecasting",
    "extraction",
    "summarisation",
    "screening",
    "assistant",
    "routing",
    "pricing",
    "detection",
    "drafting",
    "translation",
    "search",
    "ranking",
    "classification",
    "matching",
    "monitoring",
    "review",
]
SUBJECTS = [
    "card payments",
    "support tickets",
    "supplier contracts",
    "loan applications",
    "branch sales",
    "complaints",
    "CVs",
    "invoices",
    "sanctions lists",
    "policy library",
    "chat transcripts",
    "emails",
]


@dataclass
class Seeded:
    """What the benchmark needs to know about the seeded data."""

    use_cases: int
    product_owner: "AuthUser"
    auditor: "AuthUser"
    unit_pk: int


def reference(i: int) -> str:
    """The reference of the i-th (0-based) seeded use case."""
    return f"UC-{i + 1:05d}"


def unit_index(i: int) -> int:
    return i % len(UNITS)


def edits_for(i: int) -> int:
    # Keyed on the row's place within its unit so that each unit gets every mix.
    return HEAVY_EDITS if i % HEAVY_EVERY == 0 else (i // len(UNITS)) % 3


def sources_for(i: int) -> int:
    return (i // len(UNITS)) % 4


def is_seeded(n: int) -> bool:
    return (
        User.objects.filter(username__in=PEOPLE).count() == len(PEOPLE)
        and UseCase.objects.count() == n
        and UseCase.history.model.objects.count() >= n
    )


def load(n: int) -> Seeded:
    unit = BusinessUnit.objects.get(code=UNITS[0][0])
    return Seeded(
        use_cases=n,
        product_owner=User.objects.get(username=PRODUCT_OWNER),
        auditor=User.objects.get(username=AUDITOR),
        unit_pk=unit.pk,
    )


def wipe() -> None:
    """Empty every registry table (and what refers to it) and reset the counters."""
    tables = sorted({m._meta.db_table for m in apps.get_app_config("registry").get_models(True)})
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE " + ", ".join(connection.ops.quote_name(t) for t in tables) + " CASCADE"
        )
    Sequence.objects.filter(name__in=["UC", "DS"]).delete()


@transaction.atomic
def seed(n: int) -> Seeded:
    rng = random.Random(42)
    now = timezone.now()
    units = _units()
    people = _people(units)
    sources = _data_sources(units, people, now)
    use_cases = _use_cases(n, units, people, rng, now)
    _links_and_history(use_cases, sources, rng, now)
    Sequence.objects.update_or_create(name="UC", defaults={"last_value": n})
    Sequence.objects.update_or_create(name="DS", defaults={"last_value": sum(map(len, sources))})
    return load(n)


def _units() -> list[BusinessUnit]:
    units = []
    for code, name in UNITS:
        unit, _ = BusinessUnit.objects.get_or_create(code=code, defaults={"name": name})
        units.append(unit)
    return units


def _people(units: list[BusinessUnit]) -> "dict[str, AuthUser]":
    by_code = {u.code: u for u in units}
    groups = {g.name: g for g in Group.objects.filter(name__in=Role.values)}
    people = {}
    for username, (role, codes) in PEOPLE.items():
        first, _, last = username.partition(".")
        user, made = User.objects.get_or_create(
            username=username,
            defaults={
                "first_name": first.title(),
                "last_name": (last or "user").title(),
                "email": f"{username}@example.com",
            },
        )
        if made:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        user.groups.add(groups[role])
        for code in codes:
            by_code[code].members.add(user)
        people[username] = user
    return people


def _data_sources(units, people, now: datetime) -> list[list[DataSource]]:
    """SOURCES_PER_UNIT data sources per unit, returned per unit."""
    classes = Classification.values
    dests = Destination.values
    objs = []
    for u, unit in enumerate(units):
        for k in range(SOURCES_PER_UNIT):
            number = u * SOURCES_PER_UNIT + k + 1
            objs.append(
                DataSource(
                    reference=f"DS-{number:04d}",
                    name=f"{unit.name} data {k + 1}",
                    business_unit=unit,
                    owner=people[UNIT_OWNER[unit.code]],
                    classification=classes[k % len(classes)],
                    personal_data=classes[k % len(classes)] == Classification.SPECIAL_CATEGORY
                    or k % 2 == 0,
                    allowed_destination=dests[k % len(dests)],
                    retention_days=365 * (1 + k % 7),
                )
            )
    DataSource.objects.bulk_create(objs)
    DataSource.history.bulk_history_create(
        objs,
        default_user=people["bench.admin"],
        default_change_reason="Registered",
        default_date=now - timedelta(days=800),
    )
    return [objs[u * SOURCES_PER_UNIT : (u + 1) * SOURCES_PER_UNIT] for u in range(len(units))]


def _initial(i: int, units, people, rng: random.Random, now: datetime) -> dict:
    unit = units[unit_index(i)]
    impact = rng.choice(DecisionImpact.values)
    affected = sorted(rng.sample(PeopleAffected.values, rng.randint(1, 2)))
    oversight = rng.choice(HumanOversight.values)
    if impact == DecisionImpact.AUTOMATIC and oversight == HumanOversight.NONE:
        oversight = HumanOversight.SAMPLED  # the model's clean() rule for outward-facing AI
    subject = rng.choice(SUBJECTS)
    word = rng.choice(WORDS)
    return {
        "reference": reference(i),
        "title": f"{subject.capitalize()} {word} {i + 1}",
        "purpose": f"Uses AI for {word} of {subject} so that staff can act faster. "
        f"Case {i + 1}; reviewed by the unit's product owner.",
        "business_unit_id": unit.pk,
        "owner_id": people[UNIT_OWNER[unit.code]].pk,
        "lifecycle": rng.choices(Lifecycle.values, weights=[3, 3, 6, 1, 1])[0],
        "people_affected": affected,
        "decision_impact": impact,
        "human_oversight": oversight,
        "risk_tier": rng.choices(RiskTier.values, weights=[4, 0, 2, 3, 3, 1])[0],
        "next_review_date": date(2025, 1, 1) + timedelta(days=rng.randint(0, 900)),
        "needs_reassessment": False,
        "reassessment_reasons": "",
        "kill_switch_engaged": rng.random() < 0.01,
        "created_at": _version_date(i, 0, now),
    }


# Each edit changes a field the way a service would, with the reason it would record.
EDITS = [
    ("Edited purpose", lambda s: s.update(purpose=s["purpose"] + " Scope widened.")),
    (
        "Edited next review date",
        lambda s: s.update(next_review_date=s["next_review_date"] + timedelta(days=90)),
    ),
    (
        "Flagged for re-assessment: model drift above threshold",
        lambda s: s.update(
            needs_reassessment=True, reassessment_reasons="2025-03-01: model drift above threshold"
        ),
    ),
    (
        "Re-assessment cleared: retrained and re-validated",
        lambda s: s.update(needs_reassessment=False, reassessment_reasons=""),
    ),
    ("Edited title", lambda s: s.update(title=s["title"] + " (v2)")),
]


def _use_cases(n: int, units, people, rng: random.Random, now: datetime) -> list[tuple]:
    """Bulk-create the use cases; returns (use case, its versions) per row."""
    rows = []
    objs = []
    for i in range(n):
        state = _initial(i, units, people, rng, now)
        versions = [("Registered", "+", dict(state))]
        for k in range(edits_for(i)):
            reason, change = EDITS[k % len(EDITS)]
            change(state)
            versions.append((reason, "~", dict(state)))
        objs.append(UseCase(**state))
        rows.append(versions)
    UseCase.objects.bulk_create(objs, batch_size=BATCH)
    return list(zip(objs, rows, strict=True))


def _version_date(i: int, v: int, now: datetime) -> datetime:
    """When version v of the i-th use case was written: registered in order, edited later."""
    return now - timedelta(days=700 - 100 * v) + timedelta(minutes=i)


def _links_and_history(use_cases, sources, rng, now: datetime) -> None:
    through = UseCase.data_sources.through
    history_model = UseCase.history.model
    m2m_history = apps.get_model("registry", "HistoricalUseCase_data_sources")
    links = []
    history = []
    snapshots = []
    for i, (use_case, versions) in enumerate(use_cases):
        chosen = [
            through(usecase_id=use_case.pk, datasource_id=ds.pk)
            for ds in rng.sample(sources[unit_index(i)], sources_for(i))
        ]
        links.extend(chosen)
        for v, (reason, kind, state) in enumerate(versions):
            history.append(
                history_model(
                    id=use_case.pk,
                    history_date=_version_date(i, v, now),
                    history_user_id=use_case.owner_id,
                    history_change_reason=reason,
                    history_type=kind,
                    **state,
                    updated_at=_version_date(i, v, now),
                )
            )
            snapshots.append(chosen)
    # Both inserts return the new primary keys, which the snapshots refer to.
    through.objects.bulk_create(links, batch_size=BATCH)
    history_model.objects.bulk_create(history, batch_size=BATCH)
    m2m_history.objects.bulk_create(
        [
            m2m_history(
                id=link.pk,
                history_id=h.pk,
                usecase_id=link.usecase_id,
                datasource_id=link.datasource_id,
            )
            for h, snapshot in zip(history, snapshots, strict=True)
            for link in snapshot
        ],
        batch_size=BATCH,
    )
    # auto_now stamped every row with the present; give them the dates their history says.
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {UseCase._meta.db_table} AS u
               SET created_at = h.first, updated_at = h.last
              FROM (SELECT id, min(history_date) AS first, max(history_date) AS last
                      FROM {history_model._meta.db_table} GROUP BY id) AS h
             WHERE u.id = h.id
            """
        )


# The one-page summary PDF ---------------------------------------------------------------------
PDF_TEMPLATE_KEY = "ico-dpia"
PDF_SIGNER = "bench.leader"
PDF_REVIEWERS = ("bench.risk", "bench.dpo")


def pdf_answers(definition: dict) -> dict:
    """The demo firm's credit DPIA, written out the way a real one is: paragraphs, not
    one-liners, and eight risks rather than two."""
    qmap = engine.question_map(definition)
    answers = {k: v for k, v in CREDIT_DPIA.items() if k in qmap}
    for key, value in answers.items():
        if qmap[key].type == "long_text":
            answers[key] = " ".join(
                [value, "It was discussed with the teams that run it and the data it uses."] * 4
            )
    answers["risks"] = [
        {**row, "risk": f"{row['risk']} (case {n + 1})", "measures": f"{row['measures']}. " * 3}
        for n, row in enumerate(CREDIT_DPIA["risks"] * 4)
    ]
    return answers


def pdf_assessment():
    """A signed-off DPIA of a Retail use case, made once through the services and reused.

    A low-tier use case is chosen so that the default routing asks only the bench people
    (a high-risk one would also wait for the legal reviewer group).
    """
    existing = Assessment.objects.filter(
        status=Status.SIGNED_OFF,
        template__key=PDF_TEMPLATE_KEY,
        use_case__business_unit__code=UNITS[0][0],
        author__username=PRODUCT_OWNER,
    ).first()
    if existing is not None:
        return existing
    template = AssessmentTemplate.objects.get(key=PDF_TEMPLATE_KEY, active=True)
    use_case = (
        UseCase.objects.filter(
            business_unit__code=UNITS[0][0],
            owner__username=PRODUCT_OWNER,
            risk_tier__in=[RiskTier.MINIMAL, RiskTier.LIMITED],
        )
        .exclude(lifecycle=Lifecycle.RETIRED)
        .exclude(assessments__kind=template.kind)
        .order_by("pk")
        .first()
    )
    owner = User.objects.get(username=PRODUCT_OWNER)
    signer = User.objects.get(username=PDF_SIGNER)
    a = services.assessment_start(actor=owner, use_case=use_case, template=template)
    a = services.assessment_save_answers(
        actor=owner,
        assessment=a,
        answers=pdf_answers(template.definition),
        base_revision=a.revision,
    )
    a = services.assessment_transition(actor=owner, assessment=a, action="submit")
    for username in PDF_REVIEWERS:
        reviewer = User.objects.get(username=username)
        for action in ("start_review", "approve"):
            if any(name == action for name, _ in services.available_transitions(a, reviewer)):
                a = services.assessment_transition(actor=reviewer, assessment=a, action=action)
    # Bench people have no usable password; signing asks for one, so the signer gets one
    # for this call only (set on the object in memory, never saved).
    secret = secrets.token_urlsafe()
    signer.set_password(secret)
    return services.assessment_transition(
        actor=signer, assessment=a, action="sign_off", password=secret
    )


# AI models, versions, cards and deployments -------------------------------------------------
MODELS = 2_000
VERSIONS_PER_MODEL = 10
# Every DEPLOYED_EVERY-th use case has two models approved and deployed (one in production,
# one in staging), so the gate and the model pages have deployments to read.
DEPLOYED_EVERY = 5
PROVIDERS = ["OpenAI", "Anthropic", "Meta", "Mistral", "Google", "In-house data science"]


def model_reference(i: int) -> str:
    return f"AI-{i + 1:05d}"


def model_tables() -> list[str]:
    """The tables of the model registry, with their history tables."""
    kinds = [AIModel, ModelVersion, ModelCard, Deployment, ModelApproval, DataPolicyException]
    return (
        [m._meta.db_table for m in kinds]
        + [m.history.model._meta.db_table for m in kinds]  # type: ignore[attr-defined]
        + [GateCheck._meta.db_table]
    )


def models_seeded(n_models: int) -> bool:
    return (
        AIModel.objects.count() == n_models
        and ModelVersion.objects.count() == n_models * VERSIONS_PER_MODEL
        and Deployment.objects.exists()
    )


def wipe_models() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE "
            + ", ".join(connection.ops.quote_name(t) for t in model_tables())
            + " CASCADE"
        )
    Sequence.objects.filter(name="AI").delete()


def _card_sections(complete: bool) -> dict:
    text = "Written out for the reviewers who rely on this card, with figures and sources. "
    keys = [key for key, _, _ in MODEL_CARD_SECTIONS]
    return {key: text for key in (keys if complete else keys[: len(keys) // 2])}


@transaction.atomic
def seed_models(n_models: int) -> None:
    """n_models models of VERSIONS_PER_MODEL versions each, half the versions with a card,
    and deployments on every DEPLOYED_EVERY-th use case (which needs the use cases seeded)."""
    rng = random.Random(7)
    now = timezone.now()
    units = _units()
    people = _people(units)
    risk = people["bench.risk"]
    patterns = HostingPattern.values
    models = []
    for i in range(n_models):
        unit = units[unit_index(i)]
        pattern = patterns[i % len(patterns)]
        status = rng.choices(ApprovalStatus.values, weights=[2, 7, 1])[0]
        decided = status != ApprovalStatus.UNDER_EVALUATION
        models.append(
            AIModel(
                reference=model_reference(i),
                name=f"{rng.choice(WORDS).capitalize()} model {i + 1}",
                provider=rng.choice(PROVIDERS),
                hosting_pattern=pattern,
                data_destination=DEFAULT_DESTINATION[pattern],
                vendor=rng.choice(PROVIDERS),
                licence=rng.choice(["Apache-2.0", "MIT", "Commercial", ""]),
                description=f"Serves {rng.choice(SUBJECTS)} for the {unit.name} unit.",
                business_unit=unit,
                owner=people[UNIT_OWNER[unit.code]],
                risk_tier=rng.choices(RiskTier.values, weights=[4, 0, 2, 3, 3, 1])[0],
                approval_status=status,
                approved_by=risk if decided else None,
                approved_at=now - timedelta(days=rng.randint(1, 600)) if decided else None,
                approval_note="Reviewed by model risk." if decided else "",
            )
        )
    AIModel.objects.bulk_create(models, batch_size=BATCH)
    AIModel.history.bulk_history_create(
        models,
        default_user=risk,
        default_change_reason="Registered",
        default_date=now - timedelta(days=700),
    )
    versions = []
    stages = [s for s in ReleaseStage.values if s != ReleaseStage.PRODUCTION]
    for i, model in enumerate(models):
        for k in range(VERSIONS_PER_MODEL):
            latest = k == VERSIONS_PER_MODEL - 1
            versions.append(
                ModelVersion(
                    model=model,
                    version=f"{1 + i % 3}.{k}",
                    artefact=f"s3://models/{model.reference.lower()}/v{k}",
                    training_data=[f"s3://datasets/{model.reference.lower()}/train-{k}"],
                    evaluation={"auc": round(0.7 + rng.random() / 4, 3), "n": 1000 + k},
                    stage=ReleaseStage.PRODUCTION if latest else stages[k % len(stages)],
                )
            )
    ModelVersion.objects.bulk_create(versions, batch_size=BATCH)
    ModelVersion.history.bulk_history_create(
        versions, default_user=risk, default_change_reason="Registered", batch_size=BATCH
    )
    # Half the versions have a card: a quarter complete, a quarter half written.
    ModelCard.objects.bulk_create(
        [
            ModelCard(model_version=v, sections=_card_sections(complete=n % 4 == 0))
            for n, v in enumerate(versions)
            if n % 2 == 0
        ],
        batch_size=BATCH,
    )
    _approvals_and_deployments(models, versions, risk, rng)
    Sequence.objects.update_or_create(name="AI", defaults={"last_value": n_models})


def _approvals_and_deployments(models, versions, approver, rng: random.Random) -> None:
    approved = [i for i, m in enumerate(models) if m.approval_status == ApprovalStatus.APPROVED]
    per = VERSIONS_PER_MODEL
    approvals, deployments = [], []
    use_cases = UseCase.objects.order_by("pk").values_list("pk", flat=True)
    for n, use_case_id in enumerate(use_cases):
        if n % DEPLOYED_EVERY:
            continue
        first, second = rng.sample(approved, 2)
        for i in (first, second):
            approvals.append(
                ModelApproval(use_case_id=use_case_id, model=models[i], approved_by=approver)
            )
        deployments.append(
            Deployment(
                use_case_id=use_case_id,
                model_version=versions[first * per + per - 1],
                # Every other one was moved on from an earlier version: it can roll back.
                previous_version=versions[first * per + per - 2] if n % 2 else None,
                environment=Environment.PRODUCTION,
                traffic_share=90,
            )
        )
        deployments.append(
            Deployment(
                use_case_id=use_case_id,
                model_version=versions[second * per + rng.randrange(per)],
                environment=Environment.STAGING,
                traffic_share=100,
            )
        )
    ModelApproval.objects.bulk_create(approvals, batch_size=BATCH)
    Deployment.objects.bulk_create(deployments, batch_size=BATCH)
    ModelApproval.history.bulk_history_create(
        approvals, default_user=approver, default_change_reason="Approved", batch_size=BATCH
    )
    Deployment.history.bulk_history_create(
        deployments, default_user=approver, default_change_reason="Deployed", batch_size=BATCH
    )
