"""Model.history with its manager class made once (portal/history/managers.py): every tracked
model's history reads as django-simple-history's own would, per record and for the model."""

import pytest
from django.apps import apps
from simple_history.manager import HistoryDescriptor
from simple_history.models import registered_models

from portal.history.managers import KeptHistoryDescriptor
from registry import services
from registry.models import UseCase
from tests.factories import UseCaseFactory


def test_every_history_descriptor_is_kept_and_builds_its_manager_once():
    found = 0
    for model in apps.get_models():
        for name, value in vars(model).items():
            assert type(value) is not HistoryDescriptor, f"{model.__name__}.{name} not kept"
            if isinstance(value, KeptHistoryDescriptor):
                found += 1
                assert type(getattr(model, name)) is type(getattr(model, name))
    # Each tracked model's own, and the history models' many-to-many ones.
    assert found == len(registered_models) > 20


@pytest.mark.django_db
def test_a_records_history_is_its_own_and_the_models_is_every_records(retail, product_owner):
    first, second = (
        UseCaseFactory(owner=product_owner, business_unit=retail),
        UseCaseFactory(owner=product_owner, business_unit=retail),
    )
    services.use_case_update(actor=product_owner, use_case=first, data={"purpose": "Changed."})

    assert first.history.count() == 2
    assert second.history.count() == 1
    assert first.history.first().purpose == "Changed."
    assert first.history.latest().history_user == product_owner
    assert UseCase.history.filter(id__in=[first.pk, second.pk]).count() == 3
    # The history model's many-to-many descriptor (data sources) reads the version's own.
    version = first.history.first()
    assert list(version.data_sources.all()) == list(
        version.data_sources.model.objects.filter(history=version)
    )
