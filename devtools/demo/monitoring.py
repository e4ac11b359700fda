"""Demo monitoring for `seed_demo`: a month of metrics from the demo's live deployments.

The chatbot pushes latency, errors, tokens and cost and is well into its budget; the card
fraud model's input drift has crossed the PSI rule and its 10% challenger version errs too
often, so the demo opens with flags to look at. The risk officer has tuned the material-change
rules, and the chatbot's owner has since widened its purpose: the change raised a flag.
"""

import math
import random
from datetime import timedelta

from django.utils import timezone

from monitoring.models import MaterialChangeRule
from monitoring.services.costs import budget_set, budgets_check, month_spend
from monitoring.services.drift import distribution_push
from monitoring.services.evaluation import rules_evaluate
from monitoring.services.material_changes import material_rule_create, material_rule_update
from monitoring.services.metric_rules import rule_create, rule_update
from monitoring.services.samples import Sample, samples_write
from monitoring.services.sources import source_create
from registry.models import Deployment, UseCase
from registry.services.use_cases import use_case_update

DAYS = 30


def _hourly(metric: str, hours: int, value, now) -> list[Sample]:
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours - 1)
    return [Sample(metric, start + timedelta(hours=h), value(h)) for h in range(hours)]


def seed(people: dict) -> None:
    rng = random.Random(5)
    now = timezone.now()
    hours = DAYS * 24
    owner = people["owner"]
    live = Deployment.objects.filter(active=True, environment="production").select_related(
        "use_case", "model_version"
    )
    for deployment in live:
        source, _ = source_create(
            actor=owner if deployment.use_case.owner_id == owner.pk else people["admin"],
            deployment=deployment,
            name="Pushed by the service",
            kind="push",
        )
        challenger = deployment.traffic_share < 50
        error_level = 0.09 if challenger else 0.012
        samples = _hourly(
            "error_rate", hours, lambda h, e=error_level: e + rng.uniform(-0.004, 0.004), now
        )
        samples += _hourly(
            "latency_ms", hours, lambda h: 420 + 80 * math.sin(h / 24 * 2 * math.pi), now
        )
        # The last hours minute by minute, so the error-rate rule has its window to read.
        samples += [
            Sample(
                "error_rate",
                now - timedelta(minutes=m),
                error_level + rng.uniform(-0.004, 0.004),
            )
            for m in range(1, 30)
        ]
        if deployment.use_case.title == "Customer support chatbot":
            samples += _hourly("tokens", hours, lambda h: 52_000 + rng.randint(-6_000, 6_000), now)
            samples += _hourly("cost", hours, lambda h: 3.9 + rng.uniform(-0.4, 0.4), now)
        samples_write(deployment_id=deployment.pk, samples=samples, source_id=source.pk)

    fraud = live.filter(use_case__title="Card fraud scoring").order_by("-traffic_share").first()
    if fraud is not None:
        reference = [rng.gauss(60, 25) for _ in range(2_000)]
        distribution_push(
            deployment=fraud,
            feature="transaction_amount",
            kind="numeric",
            reference={"values": reference},
            current={"values": [rng.gauss(60, 25) for _ in range(2_000)]},
            at=now - timedelta(days=7),
        )
        # Holiday shopping: bigger baskets than the model was trained on.
        distribution_push(
            deployment=fraud,
            feature="transaction_amount",
            kind="numeric",
            current={"values": [rng.gauss(95, 35) for _ in range(2_000)]},
            at=now - timedelta(minutes=20),
        )
        distribution_push(
            deployment=fraud,
            feature="merchant_category",
            kind="categorical",
            reference={"values": rng.choices(["grocery", "travel", "online", "fuel"], k=1_000)},
            current={"values": rng.choices(["grocery", "travel", "online", "fuel"], k=1_000)},
            at=now - timedelta(minutes=20),
        )

    chatbot = UseCase.objects.get(title="Customer support chatbot")
    # A budget 80% spent by now, whatever the day of the month.
    spent = month_spend(use_case_ids=[chatbot.pk]).get(chatbot.pk, 0.0)
    budget_set(actor=owner, use_case=chatbot, monthly_amount=f"{max(spent / 0.8, 1):.2f}")
    budgets_check()
    # The chatbot's own rule, beside the three Steward ships: slow answers lose customers.
    # Written, then tuned once, so its history has something to show.
    latency = rule_create(
        actor=people["risk"],
        name="Chatbot answers slowly",
        description="Customers give up on a chat that takes seconds to answer.",
        metric="latency_ms",
        aggregation="p95",
        window_minutes=60,
        comparison="gt",
        threshold=2000,
        min_samples=1,
        severity="medium",
        action="flag",
        subject="use_case",
        use_case=chatbot,
    )
    rule_update(actor=people["risk"], rule=latency, threshold=1500)
    rules_evaluate()
    _material_changes(people, chatbot)


def _material_changes(people: dict, chatbot: UseCase) -> None:
    """The risk officer tunes a shipped rule and adds the firm's own; a change then flags."""
    risk = people["risk"]
    purpose = MaterialChangeRule.objects.get(builtin="purpose")
    material_rule_update(actor=risk, rule=purpose, severity="high", start_draft=True)
    material_rule_create(
        actor=risk,
        name="Decisions become automatic",
        description="A use case that starts deciding without a person is re-assessed at once "
        "(UK GDPR Art. 22).",
        change="use_case.decision_impact",
        condition="becomes",
        value="automatic",
        severity="critical",
        start_draft=True,
    )
    use_case_update(
        actor=people["owner"],
        use_case=chatbot,
        data={
            "purpose": "Answers customers' questions on the website and in the mobile app, "
            "and starts card-dispute forms for them."
        },
        reason="The mobile app launches the chatbot from January.",
    )
