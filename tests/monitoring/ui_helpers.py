"""Shared by the page, API and push tests: a Retail deployment with samples, a rule and a flag."""

from datetime import timedelta

from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from monitoring.models import Rule
from monitoring.services.flags import flag_raise
from monitoring.services.samples import Sample, samples_write
from tests.factories import DeploymentFactory, ModelVersionFactory, ProductionUseCaseFactory

PERSONAS = ["admin", "risk_officer", "product_owner", "leadership", "dpo", "auditor", "outsider"]


def expect(success: int, holders: set[str], outsider: int = 404, refused: int = 403) -> dict:
    """The answer for each persona: success for holders, ``refused`` for the others who see
    the record, and the outsider's (a product owner in Corporate, who sees nothing of Retail)."""
    answers = {p: (success if p in holders else refused) for p in PERSONAS}
    answers["outsider"] = outsider
    return answers


def token_client(user) -> APIClient:
    token, _ = Token.objects.get_or_create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def retail_deployment(retail, owner):
    use_case = ProductionUseCaseFactory(business_unit=retail, owner=owner)
    version = ModelVersionFactory(model__business_unit=retail)
    return DeploymentFactory(use_case=use_case, model_version=version)


def write_series(deployment, metric, values, *, feature="", end=None, step=timedelta(minutes=1)):
    end = end or timezone.now().replace(microsecond=0)
    samples = [
        Sample(metric=metric, feature=feature, at=end - step * (len(values) - 1 - i), value=v)
        for i, v in enumerate(values)
    ]
    return samples_write(deployment_id=deployment.pk, samples=samples)


def own_rule(use_case, **fields) -> Rule:
    """A rule of this use case only (the shipped ones are switched off so that they add no
    lines of their own)."""
    Rule.objects.exclude(builtin="").update(enabled=False)
    defaults = dict(
        name="Error rate too high",
        metric="error_rate",
        aggregation="mean",
        window_minutes=15,
        comparison="gt",
        threshold=0.05,
        severity="high",
        use_case=use_case,
    )
    return Rule.objects.create(**{**defaults, **fields})


def raise_flag(rule, deployment, *, value=0.09, minutes_ago=5):
    now = timezone.now().replace(microsecond=0) - timedelta(minutes=minutes_ago)
    evidence = {
        "metric": rule.metric,
        "feature": rule.feature,
        "aggregation": rule.aggregation,
        "window_minutes": rule.window_minutes,
        "window_start": (now - timedelta(minutes=rule.window_minutes)).isoformat(),
        "window_end": now.isoformat(),
        "value": value,
        "threshold": rule.threshold,
        "samples": 3,
        "values": [[(now - timedelta(minutes=2)).isoformat(), value]],
    }
    return flag_raise(
        rule=rule, use_case=deployment.use_case, deployment=deployment, evidence=evidence, now=now
    )
