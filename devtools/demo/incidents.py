"""Demo incidents for `seed_demo`: runbooks for the live use cases, an incident from the card
fraud model's drift flag, and the chatbot's kill switch polled by its service."""

from django.utils import timezone

from incidents.services.incidents import incident_open_from_flag, incident_transition
from incidents.services.killswitch import kill_switch_token_create
from incidents.services.runbooks import runbook_save
from monitoring.models import Flag
from registry.models import UseCase


def _runbook(owner_name: str, team: str) -> dict:
    return {
        "disable_who": f"{owner_name} (product owner), the {team} on-call engineer, risk.",
        "disable_how": "Engage the kill switch in Steward; the service polls it every 30 seconds.",
        "rollback_how": "Roll the production deployment back to its previous version in Steward.",
        "fallback": "Requests go to the human team's queue, as before the AI.",
        "communicate_users": "Customer communications team, from the status page template.",
        "communicate_dpo": "The product owner emails the DPO within the hour.",
        "communicate_regulators": "The DPO (ICO) and Compliance (market surveillance authority).",
        "contacts": [
            {"name": owner_name, "role": "Product owner", "email": "owner@example.com"},
            {"name": f"{team} on-call", "role": "Engineer", "phone": "+44 20 7946 0000"},
            {"name": "Daniel Park", "role": "DPO", "email": "dpo@example.com"},
        ],
    }


def seed(people: dict) -> None:
    owner = people["owner"]
    for title in ("Customer support chatbot", "Card fraud scoring"):
        use_case = UseCase.objects.get(title=title)
        runbook_save(actor=owner, use_case=use_case, data=_runbook("Priya Shah", "Payments"))
    chatbot = UseCase.objects.get(title="Customer support chatbot")
    kill_switch_token_create(actor=owner, use_case=chatbot, name="chat-service (eu-west)")

    drift = Flag.objects.filter(rule__builtin="drift-psi", status="open").first()
    if drift is not None:
        incident = incident_open_from_flag(actor=people["risk"], flag=drift)
        incident_transition(
            actor=people["risk"],
            incident=incident,
            action="triage",
            note=f"Holiday spending shifted transaction amounts; triaged {timezone.localdate()}.",
        )
