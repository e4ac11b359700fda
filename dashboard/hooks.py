"""What the dashboard adds to the apps below it at start-up: the evidence pack's card on the
use-case page (the pack itself gathers from every app, so it lives here)."""

from registry.pages import use_case_panels


def _evidence_card(user, use_case, context: dict) -> dict:
    return {}


def register_all() -> None:
    use_case_panels.register("dashboard/_evidence_pack.html", _evidence_card, order=90)
