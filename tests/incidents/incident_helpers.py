"""Set-up shared by the incident service tests: a live use case, an incident on it, and a
webhook endpoint whose queued deliveries show what was announced (its address refuses
connections, so nothing leaves the machine).

Import the fixtures by their ``*_fixture`` names; tests ask for them by the short names.
"""

import pytest

from incidents.models import Delivery, Severity
from incidents.services.incidents import incident_open
from tests.factories import ProductionUseCaseFactory


@pytest.fixture(name="use_case")
def use_case_fixture(retail, product_owner):
    return ProductionUseCaseFactory(business_unit=retail, owner=product_owner)


def open_incident(use_case, actor, **kwargs):
    values = {
        "title": "Chatbot quotes the wrong interest rate",
        "severity": Severity.SEV2,
        "detected_by": "staff",
        **kwargs,
    }
    return incident_open(actor=actor, use_case=use_case, **values)


@pytest.fixture(name="incident")
def incident_fixture(use_case, product_owner):
    return open_incident(use_case, product_owner)


@pytest.fixture(name="endpoint")
def endpoint_fixture(admin_user):
    from incidents.services.webhooks import webhook_endpoint_create

    endpoint, _secret = webhook_endpoint_create(
        actor=admin_user, name="On-call", url="http://127.0.0.1:9/hooks"
    )
    return endpoint


def announced(event: str) -> list[dict]:
    """The payloads queued for webhook delivery for an event, oldest first."""
    return [d.payload for d in Delivery.objects.filter(event=event).order_by("created_at", "pk")]
