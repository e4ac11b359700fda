"""A data source's owner is a member of its unit, whichever way it is written."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from registry.models import Classification, DataSource, Destination
from tests.factories import DataSourceFactory

pytestmark = pytest.mark.django_db


def source_data(unit, owner) -> dict:
    return {
        "name": "Supplier invoices",
        "business_unit": unit.pk,
        "owner": owner.pk,
        "classification": Classification.CONFIDENTIAL,
        "personal_data": False,
        "allowed_destination": Destination.PRIVATE_VPC,
        "retention_days": 2190,
    }


@pytest.fixture
def api(admin_user):
    client = APIClient()
    client.force_authenticate(admin_user)
    return client


def test_the_api_refuses_an_owner_from_another_unit(api, retail, outsider):
    response = api.post(reverse("api-data-source-list"), source_data(retail, outsider))
    assert response.status_code == 400
    assert response.json()["owner"] == ["The owner must be a member of Retail Banking."]
    assert not DataSource.objects.filter(name="Supplier invoices").exists()


def test_the_api_refuses_handing_a_source_to_an_outsider(api, retail, outsider):
    source = DataSourceFactory(business_unit=retail)
    response = api.patch(
        reverse("api-data-source-detail", args=[source.pk]), {"owner": outsider.pk}
    )
    assert response.status_code == 400
    assert "owner" in response.json()
    source.refresh_from_db()
    assert source.owner != outsider


def test_a_member_of_the_unit_may_own_it(api, retail, product_owner):
    response = api.post(reverse("api-data-source-list"), source_data(retail, product_owner))
    assert response.status_code == 201, response.content
