"""Obligations for the demo firm (``manage.py seed_demo``), through the compliance services.

The register gave the use cases their tiers, and the compliance app worked out their
obligations then. Here the firm's controls and their evidence: AI literacy training (met),
a model risk procedure and an oversight procedure (met for the high-risk systems), an event
logging standard mapped to ISO/IEC 42001 A.6.2.8 only, whose evidence the crosswalk carries to
Articles 12 and 26(6) and which expires within the month, and a quarterly input data check
last run five months ago (so not met). The credit model's obligations have applied since
its screening in the spring, so those still unmet are overdue; the risk officer accepts one of
them until the data work is done. ISO/IEC 42001 A.10.4 (customers) is marked not applicable
to the firm, with its reason, as the Statement of Applicability asks.
"""

import datetime

from django.utils import timezone

from compliance.models import Applicability, Obligation, Status
from compliance.services import library
from compliance.services.applicability import statuses_refresh
from portal.records import save_with_history
from registry.models import UseCase


def _item(framework: str, key: str) -> Obligation:
    return Obligation.objects.get(framework__key=framework, framework__active=True, key=key)


def seed(people: dict) -> None:
    risk, dpo, owner = people["risk"], people["dpo"], people["owner"]
    today = timezone.localdate()

    def days(n: int) -> datetime.date:
        return today + datetime.timedelta(days=n)

    library.exclusion_set(
        actor=risk,
        obligation=_item("iso-42001", "A.10.4"),
        reason="The firm provides no AI system or AI service to other organisations; its "
        "customer-facing AI is covered by A.8.2 and by EU AI Act Art. 50.",
    )
    literacy = library.control_create(
        actor=risk,
        data={
            "title": "AI literacy training for staff who build or use AI",
            "kind": "training",
            "description": "Annual e-learning and a workshop for product owners and operators.",
            "owner": risk,
            "frequency": "annual",
        },
        obligations=[_item("eu-ai-act", "art-4"), _item("nist-ai-rmf", "GOVERN-2.2")],
    )
    library.evidence_add(
        actor=risk,
        data={
            "title": "AI literacy completion report, 2026 cohort",
            "url": "https://intranet.example/learning/ai-literacy-2026",
            "effective_on": days(-60),
            "expires_on": days(300),
            "attested_by": risk,
        },
        controls=[literacy],
    )
    risk_procedure = library.control_create(
        actor=risk,
        data={
            "title": "Model risk management procedure",
            "kind": "procedure",
            "description": "Risk identification, rating and treatment for every AI system.",
            "owner": risk,
            "frequency": "annual",
        },
        obligations=[_item("eu-ai-act", "art-9"), _item("iso-42001", "A.5.2")],
    )
    library.evidence_add(
        actor=risk,
        data={
            "title": "Model risk procedure v3, approved by the risk committee",
            "url": "https://intranet.example/policies/model-risk-v3",
            "effective_on": days(-120),
            "attested_by": risk,
        },
        controls=[risk_procedure],
    )
    oversight = library.control_create(
        actor=dpo,
        data={
            "title": "Human oversight assignment and training",
            "kind": "procedure",
            "description": "Named reviewers per high-risk system, trained and with authority.",
            "owner": dpo,
            "frequency": "semiannual",
        },
        obligations=[_item("eu-ai-act", "art-26-2"), _item("eu-ai-act", "art-14")],
    )
    library.evidence_add(
        actor=dpo,
        data={
            "title": "Oversight rota and training sign-in sheets",
            "url": "https://intranet.example/oversight/rota",
            "effective_on": days(-30),
            "attested_by": dpo,
        },
        controls=[oversight],
    )
    logging = library.control_create(
        actor=risk,
        data={
            "title": "Event logging standard for AI systems",
            "kind": "procedure",
            "description": "What each AI system logs, and keeps for at least six months.",
            "owner": risk,
            "frequency": "annual",
        },
        obligations=[_item("iso-42001", "A.6.2.8")],
    )
    library.evidence_add(
        actor=risk,
        data={
            "title": "Log retention test report",
            "url": "https://intranet.example/tests/log-retention",
            "effective_on": days(-340),
            "expires_on": days(20),
            "attested_by": risk,
        },
        controls=[logging],
    )
    input_check = library.control_create(
        actor=risk,
        data={
            "title": "Input data relevance check",
            "kind": "test",
            "description": "Quarterly sample of inputs against the intended purpose.",
            "owner": owner,
            "frequency": "quarterly",
        },
        obligations=[_item("eu-ai-act", "art-26-4")],
    )
    library.evidence_add(
        actor=risk,
        data={
            "title": "Input data sample review, spring",
            "url": "https://intranet.example/tests/input-sample-spring",
            "effective_on": days(-150),
            "attested_by": owner,
        },
        controls=[input_check],
    )
    # The credit model's obligations applied from its screening in the spring.
    credit = UseCase.objects.filter(title="Credit decisioning model").first()
    if credit is None:
        return
    for row in Applicability.objects.filter(use_case=credit, applicable=True):
        row.applies_since, row.due_on = days(-200), days(-110)
        save_with_history(
            row,
            actor=None,
            reason="Applies since the screening of the spring (demo history)",
            update_fields=["applies_since", "due_on"],
        )
    statuses_refresh(why="Demo: statuses as of today")
    overdue = (
        Applicability.objects.filter(use_case=credit, status=Status.OVERDUE)
        .select_related("use_case")
        .order_by("obligation__order")
        .first()
    )
    if overdue is not None:
        library.exception_accept(
            actor=risk,
            applicability=overdue,
            reason="Input data review is booked with the credit bureau for next month; "
            "the committee accepted the gap until then.",
            expires_on=days(45),
        )
