"""The demo shows the loop closing (issue 15, item 6), as a new user meets it on the pages: a
version waiting for approval, a failed fairness evaluation blocking a promotion, and a
material change that raised a flag."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from monitoring.models import Flag
from registry.models import Deployment, ModelVersion, PromotionRequest

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(demo_firm, settings):
    settings.DEBUG = True


def test_the_demo_shows_releases_and_a_material_change(demo, client):
    risk = get_user_model().objects.get(username="risk")
    client.force_login(risk)

    # A version waits for the risk officer's approval, and the approvals page lists it.
    waiting = PromotionRequest.objects.get(status="pending")
    approvals = client.get(reverse("registry:promotion-list")).content.decode()
    assert str(waiting.model_version.version) in approvals

    # The credit scorecard's shadow version may not go into canary: its fairness evaluation
    # fails for the youngest applicants, and its page says so.
    blocked = ModelVersion.objects.get(model__name="Credit scorecard v7", version="7.0.0")
    page = client.get(blocked.get_absolute_url()).content.decode()
    assert "Blocks a promotion into canary" in page
    assert "fairness on age fails for group 18-25" in page
    promote = client.post(
        reverse("registry:model-version-promote", args=[blocked.pk]),
        {"to_stage": "canary", "traffic_share": 5, "reason": "Try it"},
    )
    assert "fails for group 18-25" in promote.content.decode()
    assert not blocked.promotions.exists()

    # The chatbot's widened purpose raised a flag naming the change.
    flag = Flag.objects.get(cause="material_change:purpose")
    shown = client.get(reverse("monitoring:flag-detail", args=[flag.reference])).content
    assert "mobile app" in shown.decode()
    assert flag.use_case.needs_reassessment


def test_the_demo_fraud_deployment_reads_for_people(demo, client):
    """Issue 18: the card fraud model's page opens on its drift breach, titled in words, and
    its drift table says transaction amount drifted and merchant category did not."""
    fraud = (
        Deployment.objects.filter(use_case__title="Card fraud scoring", active=True)
        .order_by("-traffic_share")
        .first()
    )
    client.force_login(get_user_model().objects.get(username="risk"))
    response = client.get(reverse("monitoring:deployment-detail", args=[fraud.pk]))
    assert response.status_code == 200
    first = response.context["series_charts"][0]
    assert first.breaching and first.label == "Input drift — transaction amount (PSI)"
    rows = {row.feature: row.drifted for row in response.context["drift"]["rows"]}
    assert rows == {"transaction_amount": True, "merchant_category": False}
    assert "drift.ks_p[transaction_amount] latest" not in response.content.decode()
