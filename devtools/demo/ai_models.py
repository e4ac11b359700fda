"""AI models for the demo firm (``manage.py seed_demo``), made through the services.

Live use cases get the deployments they already had when the firm adopted Steward (recorded
as such, like an imported register); a pilot gets a staging deployment through the
services, so the go-live gate on its page has something to say. The chatbot's next GPT
version has been evaluated by its pipeline (one red-team finding) and moved into shadow
with the risk officer's approval; Llama's next version waits for the risk officer's; the
credit scorecard's 7.0.0 has sat in shadow for five days, but its fairness evaluation fails
for applicants aged 18-25, which blocks its promotion into canary.
"""

from datetime import timedelta

from django.utils import timezone

from registry import services
from registry.models import Deployment, ModelVersion, UseCase
from registry.services import releases

CARD = {
    "model_details": "Gradient-boosted trees trained by the fraud analytics team in 2025; "
    "owner: Priya Shah; questions to fraud-analytics@example.com.",
    "intended_use": "Scores card payments in real time so analysts review the riskiest "
    "before they settle.",
    "out_of_scope": "Not for credit decisions, customer profiling or any use outside card "
    "payment fraud.",
    "factors": "Merchant category, channel (card present or not), country, time of day; "
    "customer age band and region evaluated for disparity.",
    "metrics": "Precision at the review threshold, recall of confirmed fraud, false "
    "positive rate per 1,000 genuine payments.",
    "evaluation_data": "Three months of held-out payments (Jan–Mar 2026), 41 million "
    "transactions, 0.08% confirmed fraud.",
    "training_data": "Eighteen months of card payments with confirmed-fraud labels from "
    "chargebacks and analyst decisions.",
    "quantitative_analyses": "Recall 0.81, precision 0.34 at threshold 0.72; false positive "
    "rate within 10% across age bands and regions.",
    "ethical_considerations": "A wrongly held payment inconveniences a customer; every hold "
    "is reviewed by an analyst within 15 minutes.",
    "caveats": "Drift in merchant mix after holidays; re-evaluate monthly and after any "
    "scheme rule change.",
}


def seed(people: dict) -> None:
    risk, owner, owner_ops = people["risk"], people["owner"], people["owner.ops"]
    retail = UseCase.objects.get(title="Card fraud scoring").business_unit
    ops = UseCase.objects.get(title="Internal policy Q&A").business_unit

    def model(actor, unit, data, status="approved", note="Evaluated by the model risk team."):
        m = services.model_create(actor=actor, data={"business_unit": unit, "owner": actor, **data})
        if status != "under_evaluation":
            m = services.model_set_approval(actor=risk, model=m, status=status, note=note)
        return m

    gpt = model(
        owner,
        retail,
        {
            "name": "GPT-4o (Azure OpenAI)",
            "provider": "OpenAI",
            "vendor": "Microsoft",
            "licence": "Commercial",
            "hosting_pattern": "api_first",
            "risk_tier": "limited",
        },
    )
    llama = model(
        owner_ops,
        ops,
        {
            "name": "Llama 3.1 70B Instruct",
            "provider": "Meta",
            "licence": "Llama 3.1 Community Licence",
            "hosting_pattern": "hosted_open",
            "risk_tier": "limited",
        },
    )
    fraud = model(
        owner,
        retail,
        {
            "name": "Card fraud GBM",
            "provider": "Fraud analytics team",
            "licence": "Internal",
            "hosting_pattern": "in_house",
            "risk_tier": "minimal",
        },
    )
    scorecard = model(
        owner,
        retail,
        {
            "name": "Credit scorecard v7",
            "provider": "Credit risk team",
            "hosting_pattern": "in_house",
            "risk_tier": "high",
        },
        status="under_evaluation",
    )
    model(
        owner,
        retail,
        {
            "name": "FaceMatch API",
            "provider": "FaceMatch Ltd",
            "hosting_pattern": "api_first",
            "risk_tier": "high",
        },
        status="banned",
        note="Sends biometric data to a third country without safeguards.",
    )

    def version(m, actor, v, stage, card=None):
        mv = services.model_version_create(
            actor=actor,
            model=m,
            data={"version": v, "artefact": f"registry://{m.reference}/{v}"},
            initial_stage=stage,
            stage_why=f"{stage} (demo seed)",
        )
        if card:
            services.model_card_update(actor=actor, version=mv, sections=card)
        return mv

    gpt_live = version(
        gpt,
        owner,
        "2024-08-06",
        "production",
        {"intended_use": "Answers customers' questions from the public help pages."},
    )
    gpt_next = version(gpt, owner, "2024-11-20", "candidate")
    llama_v = version(llama, owner_ops, "3.1-70b-q4", "production", CARD)
    fraud_live = version(fraud, owner, "2.3.0", "production", CARD)
    fraud_next = version(fraud, owner, "2.4.0", "canary", CARD)

    chatbot = UseCase.objects.get(title="Customer support chatbot")
    card_fraud = UseCase.objects.get(title="Card fraud scoring")
    summaries = UseCase.objects.get(title="Complaint summarisation")
    for use_case, m in ((chatbot, gpt), (card_fraud, fraud), (summaries, llama)):
        services.model_approval_grant(
            actor=risk, use_case=use_case, model=m, note="Fits the use case's data and tier."
        )
    # Already live before Steward: recorded, not moved through the gate.
    for use_case, mv, share in (
        (chatbot, gpt_live, 100),
        (card_fraud, fraud_live, 90),
        (card_fraud, fraud_next, 10),
    ):
        d = Deployment(
            use_case=use_case, model_version=mv, environment="production", traffic_share=share
        )
        # django-simple-history reads _change_reason when it writes the history row.
        d._change_reason = "Recorded: live before the firm adopted Steward"  # type: ignore[attr-defined]
        d.save()
    services.deployment_create(
        actor=owner_ops,
        use_case=summaries,
        data={"model_version": llama_v, "environment": "staging", "traffic_share": 100},
    )
    _releases(people, gpt_next, llama, scorecard)


def _releases(people: dict, gpt_next, llama, scorecard) -> None:
    """Releases through the promote action: one approved, one waiting for approval, one
    blocked by a failed fairness evaluation."""
    risk, owner, owner_ops = people["risk"], people["owner"], people["owner.ops"]
    # The team's evaluation pipeline posts with the model's token (no person's account).
    token, _raw = releases.model_token_create(
        actor=owner, model=gpt_next.model, name="Evaluation pipeline"
    )
    evaluation = releases.evaluation_record(
        actor=None,
        token=token,
        version=gpt_next,
        data={
            "name": "Help-page answers, 2024-11-20 build",
            "dataset": "500 customer questions with agreed answers (Nov 2026)",
            "metrics": [
                {"name": "answer_accuracy", "value": 0.91, "threshold": 0.88},
                {"name": "refusal_rate", "value": 0.03, "threshold": 0.05, "direction": "max"},
            ],
            "findings": [
                {
                    "kind": "red_team",
                    "title": "Reveals the system prompt when asked in French",
                    "severity": "low",
                    "detail": "No customer data in the prompt; fix with the next prompt review.",
                }
            ],
        },
    )
    request = releases.promotion_request(
        actor=owner,
        version=gpt_next,
        to_stage="shadow",
        reason="Answers more accurately in the evaluation; shadow beside the live version.",
        evidence=f"Evaluation {evaluation.pk}: accuracy 0.91 (live version 0.89).",
    )
    releases.promotion_decide(
        actor=risk, request=request, decision="approve", note="One low finding, accepted."
    )
    llama_next = services.model_version_create(
        actor=owner_ops,
        model=llama,
        data={"version": "3.3-70b-q4", "artefact": f"registry://{llama.reference}/3.3-70b-q4"},
        initial_stage="candidate",
        stage_why="candidate (demo seed)",
    )
    releases.promotion_request(
        actor=owner_ops,
        version=llama_next,
        to_stage="shadow",
        reason="Newer weights summarise long complaints better in the team's reading.",
    )
    # High risk: into canary only with a passing fairness evaluation on sex and age. Five days
    # in shadow (past the 72 h minimum), but younger applicants are approved far less often.
    shadow = services.model_version_create(
        actor=owner,
        model=scorecard,
        data={"version": "7.0.0", "artefact": f"registry://{scorecard.reference}/7.0.0"},
        initial_stage="shadow",
        stage_why="shadow (demo seed)",
    )
    ModelVersion.objects.filter(pk=shadow.pk).update(
        stage_changed_at=timezone.now() - timedelta(days=5)
    )
    releases.evaluation_record(
        actor=owner,
        version=shadow,
        data={
            "name": "Holdout 2026-Q3, approval parity",
            "dataset": "12,000 applications Jul–Sep 2026 with outcomes",
            "metrics": [{"name": "gini", "value": 0.61, "threshold": 0.55}],
            "fairness": [
                {"attribute": "sex", "group": "female", "metric": "approval_rate",
                 "value": 0.42, "threshold": 0.05},
                {"attribute": "sex", "group": "male", "metric": "approval_rate",
                 "value": 0.44, "threshold": 0.05},
                {"attribute": "age", "group": "18-25", "metric": "approval_rate",
                 "value": 0.31, "threshold": 0.05},
                {"attribute": "age", "group": "26-64", "metric": "approval_rate",
                 "value": 0.45, "threshold": 0.05},
            ],
            "notes": "The 18-25 gap traces to thin credit files; a bureau feature is being "
            "tested.",
        },
    )  # fmt: skip
