import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from registry.models import (
    BusinessUnit,
    Classification,
    DataSource,
    DecisionImpact,
    Destination,
    HumanOversight,
    Lifecycle,
    UseCase,
)
from registry.services import next_reference

PASSWORD = "correct-horse-battery-staple"


def _reference(prefix: str) -> str:
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
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        for name in extracted or []:
            self.groups.add(Group.objects.get(name=name))

    @factory.post_generation
    def units(self, create, extracted, **kwargs):
        for unit in extracted or []:
            unit.members.add(self)
        self.save()


class BusinessUnitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BusinessUnit
        django_get_or_create = ("code",)

    name = factory.Sequence(lambda n: f"Unit {n}")
    code = factory.Sequence(lambda n: f"UNIT{n}")


class DataSourceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DataSource

    reference = factory.LazyFunction(lambda: _reference("DS"))
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

    reference = factory.LazyFunction(lambda: _reference("UC"))
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
