"""Set-up shared by the incident tests: a live use case, an incident on it, and a webhook
endpoint whose queued deliveries show what was announced (its address refuses connections, so
nothing leaves the machine). A module that needs another use case defines its own fixture."""

import pytest

from incidents.services.webhooks import webhook_endpoint_create
from tests.factories import ProductionUseCaseFactory
from tests.incidents.incident_helpers import open_incident


@pytest.fixture(autouse=True)
def _loopback_allowed(settings):
    # Webhooks go through portal.outbound's address rule; the receivers here listen on
    # 127.0.0.1, which it refuses unless allow-listed (as a firm lists its internal network).
    settings.MONITORING_ALLOWED_NETWORKS = ["127.0.0.1/32"]


@pytest.fixture
def use_case(retail, product_owner):
    return ProductionUseCaseFactory(business_unit=retail, owner=product_owner)


@pytest.fixture
def incident(use_case, product_owner):
    return open_incident(use_case, product_owner)


@pytest.fixture
def endpoint(admin_user):
    endpoint, _secret = webhook_endpoint_create(
        actor=admin_user, name="On-call", url="http://127.0.0.1:9/hooks"
    )
    return endpoint
