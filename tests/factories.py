from datetime import timedelta

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from assessments.models import Assessment, AssessmentTemplate
from compliance.models import Applicability, Evidence
from compliance.services.applicability import statuses_refresh
from incidents.models import Runbook
from portal.records import next_reference
from registry.models import (
    MODEL_CARD_SECTIONS,
    BusinessUnit,
    Classification,
    DataSource,
    DecisionImpact,
    Deployment,
    Destination,
    EvaluationRecord,
    HumanOversight,
    Lifecycle,
    ModelApproval,
    ModelCard,
    UseCase,
)

PASSWORD = "correct-horse-battery-staple"


def unique_reference(prefix: str) -> str:
    # The same counter the services use, so factories and services never collide.
    with transaction.atomic():
        return next_reference(prefix)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"person{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    # Hashed before the first save (the tests' fast hasher), so making a person is one save
    # and one version in their history; password=None gives an unusable password.
    password = factory.Transformer(PASSWORD, transform=make_password)

    # Roles and units are set-up data here: their link rows are written in one statement each,
    # as an import would, with no history version or ledger entry of their own (a third of the
    # time most tests spent setting up their people). Adding a role or a unit the way the
    # product does, with its history and ledger entry, is tested where it is the point
    # (tests/portal/test_ledger.py, tests/people).
    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        if not extracted:
            return
        groups = dict(Group.objects.filter(name__in=extracted).values_list("name", "pk"))
        missing = set(extracted) - set(groups)
        if missing:
            raise Group.DoesNotExist(f"No group named {sorted(missing)}")
        link = type(self).groups.through
        link.objects.bulk_create([link(user_id=self.pk, group_id=groups[n]) for n in extracted])

    @factory.post_generation
    def units(self, create, extracted, **kwargs):
        if not extracted:
            return
        link = BusinessUnit.members.through
        link.objects.bulk_create(
            [link(businessunit_id=unit.pk, user_id=self.pk) for unit in extracted]
        )


class BusinessUnitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BusinessUnit
        django_get_or_create = ("code",)

    name = factory.Sequence(lambda n: f"Unit {n}")
    code = factory.Sequence(lambda n: f"UNIT{n}")


class DataSourceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DataSource

    reference = factory.LazyFunction(lambda: unique_reference("DS"))
    name = factory.Sequence(lambda n: f"Data source {n}")
    business_unit = factory.SubFactory(BusinessUnitFactory)
    owner = factory.LazyAttribute(lambda o: UserFactory(units=[o.business_unit]))
    classification = Classification.INTERNAL
    personal_data = False
    allowed_destination = Destination.PRIVATE_VPC
    retention_days = 365


class UseCaseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = UseCase
        skip_postgeneration_save = True

    reference = factory.LazyFunction(lambda: unique_reference("UC"))
    title = factory.Sequence(lambda n: f"Use case {n}")
    purpose = "Helps staff triage incoming work."
    business_unit = factory.SubFactory(BusinessUnitFactory)
    owner = factory.LazyAttribute(lambda o: UserFactory(units=[o.business_unit]))
    lifecycle = Lifecycle.PROPOSED
    people_affected = factory.LazyFunction(lambda: ["staff"])
    decision_impact = DecisionImpact.ASSISTS
    human_oversight = HumanOversight.BEFORE_ACTION

    @factory.post_generation
    def data_sources(self, create, extracted, **kwargs):
        if extracted:
            self.data_sources.set(extracted)


class PilotUseCaseFactory(UseCaseFactory):
    lifecycle = Lifecycle.PILOT


class ProductionUseCaseFactory(UseCaseFactory):
    lifecycle = Lifecycle.PRODUCTION


class SuspendedUseCaseFactory(UseCaseFactory):
    lifecycle = Lifecycle.SUSPENDED


class RetiredUseCaseFactory(UseCaseFactory):
    lifecycle = Lifecycle.RETIRED


# AI models and what the go-live gate asks for -------------------------------------------------
class AIModelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "registry.AIModel"

    reference = factory.LazyFunction(lambda: unique_reference("AI"))
    name = factory.Sequence(lambda n: f"Model {n}")
    provider = "In-house data science"
    hosting_pattern = "in_house"
    data_destination = "private_vpc"
    business_unit = factory.SubFactory(BusinessUnitFactory)
    owner = factory.LazyAttribute(lambda o: UserFactory(units=[o.business_unit]))
    approval_status = "approved"


class ModelVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "registry.ModelVersion"

    model = factory.SubFactory(AIModelFactory)
    version = factory.Sequence(lambda n: f"1.{n}")
    stage = "production"


def complete_card(version):
    text = "Written out in full for the reviewers who rely on this model card. " * 2
    return ModelCard.objects.create(
        model_version=version, sections={key: text for key, _, _ in MODEL_CARD_SECTIONS}
    )


def signed_off(use_case, kind: str, *, valid_days: int = 365, result_value: str = ""):
    """A signed-off assessment of a kind, as the gate reads it (the workflow is tested
    in tests/assessments; here only its outcome matters)."""
    template = AssessmentTemplate.objects.filter(kind=kind, active=True).first()
    assessment = Assessment.objects.create(
        reference=unique_reference("AS"),
        template=template,
        kind=kind,
        use_case=use_case,
        author=use_case.owner,
        status="signed_off",
        result_value=result_value,
        valid_until=timezone.localdate() + timedelta(days=valid_days),
    )
    if kind == "screening":
        # The obligations the screening makes apply (compliance) are met here, so the gate's
        # other checks can be tested on their own; tests/compliance leaves them unmet.
        obligations_met(use_case, use_case.owner)
    return assessment


def ready_for_production(use_case, approver):
    """Everything the go-live gate asks of a minimal-risk use case with no personal data."""
    use_case.risk_tier = "minimal"
    use_case.save(update_fields=["risk_tier"])
    signed_off(use_case, "screening", result_value="minimal")
    version = ModelVersionFactory(model__business_unit=use_case.business_unit)
    complete_card(version)
    ModelApproval.objects.create(use_case=use_case, model=version.model, approved_by=approver)
    Deployment.objects.create(use_case=use_case, model_version=version, environment="staging")
    current_runbook(use_case, approver)
    return version


def evaluated(version, by, *, groups=("sex", "age")):
    """A passing evaluation of the version, fairness included on each protected group, as
    the gate's evaluations check reads it (tests/registry/test_releases tests recording)."""
    return EvaluationRecord.objects.create(
        model_version=version,
        name="Holdout 2026-Q4",
        dataset="applications-holdout-2026q4",
        metrics=[{"name": "auc", "value": 0.91, "threshold": 0.85, "passed": True}],
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
            for attribute in groups
            for group in ("a", "b")
        ],
        source="person",
        ran_by=by,
        ran_at=timezone.now(),
        passed=True,
    )


def obligations_met(use_case, by):
    """Evidence, effective today, for every obligation that applies to the use case (the
    compliance app computes them from its tier), as the gate's obligations check asks."""
    obligations = list(
        Applicability.objects.filter(use_case=use_case, applicable=True).values_list(
            "obligation_id", flat=True
        )
    )
    if not obligations:
        return None
    evidence = Evidence.objects.create(
        reference=unique_reference("EV"),
        title="Shown in full",
        url="https://evidence.example/shown",
        effective_on=timezone.localdate(),
        attested_by=by,
        uploaded_by=by,
    )
    evidence.obligations.set(obligations)
    evidence.use_cases.set([use_case])
    statuses_refresh(why="Evidence attached", use_case_ids=[use_case.pk])
    return evidence


def current_runbook(use_case, by=None, **fields):
    """A runbook reviewed today, written directly (tests/incidents test runbook_save)."""
    values = {
        "disable_who": "The product owner or the on-call risk officer.",
        "disable_how": "Engage the kill switch on the use case page; pollers stop within 30 s.",
        "rollback_how": "Roll the production deployment back to its previous version.",
        "fallback": "Requests go to the manual queue and staff answer them.",
        "communicate_users": "Customer service posts the notice.",
        "communicate_dpo": "The product owner tells the DPO at once.",
        "communicate_regulators": "The DPO and compliance report.",
        "contacts": [{"name": "On-call", "role": "SRE", "email": "oncall@example.com"}],
        "reviewed_at": timezone.now(),
        "updated_by": by or use_case.owner,
        **fields,
    }
    return Runbook.objects.create(use_case=use_case, **values)


class DeploymentFactory(factory.django.DjangoModelFactory):
    """A live production deployment, written directly (tests of the gate use the services)."""

    class Meta:
        model = "registry.Deployment"

    use_case = factory.SubFactory(ProductionUseCaseFactory)
    model_version = factory.SubFactory(
        ModelVersionFactory, model__business_unit=factory.SelfAttribute("...use_case.business_unit")
    )
    environment = "production"
    traffic_share = 100


# Monitoring ----------------------------------------------------------------------------------
class MetricSourceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "monitoring.MetricSource"

    deployment = factory.SubFactory(DeploymentFactory)
    name = factory.Sequence(lambda n: f"Source {n}")
    kind = "http_json"
    url = "http://metrics.example.com/stats"
    config = factory.LazyFunction(lambda: {"metrics": {"error_rate": "error_rate"}})


class RuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "monitoring.Rule"

    name = factory.Sequence(lambda n: f"Rule {n}")
    metric = "error_rate"
    aggregation = "mean"
    window_minutes = 60
    comparison = "gt"
    threshold = 0.1
    min_samples = 1
    severity = "high"
    action = "flag"
    subject = "use_case"
