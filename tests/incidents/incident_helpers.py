"""Helpers shared by the incident tests (their fixtures are in tests/incidents/conftest.py): a
complete runbook, opening an incident, and what was announced to webhooks."""

from incidents.models import Delivery, Severity
from incidents.services.incidents import incident_open

RUNBOOK = {
    "disable_who": "The product owner, or the on-call risk officer out of hours.",
    "disable_how": "The kill switch on the use case page; the chatbot polls it every 30 s.",
    "rollback_how": "Roll the production deployment back from the incident page.",
    "fallback": "The chat window offers the phone number and the FAQ.",
    "communicate_users": "Customer service, with the approved banner text.",
    "communicate_dpo": "The product owner, within the hour.",
    "communicate_regulators": "The DPO (ICO) and compliance (market surveillance).",
    "contacts": [
        {"name": "Pat Owner", "role": "Product owner", "email": "pat@example.com", "phone": ""},
        {"name": "On-call SRE", "role": "Platform", "email": "", "phone": "+44 20 7946 0000"},
    ],
}


def open_incident(use_case, actor, **kwargs):
    values = {
        "title": "Chatbot quotes the wrong interest rate",
        "severity": Severity.SEV2,
        "detected_by": "staff",
        **kwargs,
    }
    return incident_open(actor=actor, use_case=use_case, **values)


def announced(event: str) -> list[dict]:
    """The payloads queued for webhook delivery for an event, oldest first."""
    return [d.payload for d in Delivery.objects.filter(event=event).order_by("created_at", "pk")]
