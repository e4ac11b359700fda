"""What the dashboard adds to the apps below it at start-up: the evidence pack's card on the
use-case page (the pack itself gathers from every app, so it lives here), and the board
packs' history."""

from dashboard.models import BoardPack
from dashboard.selectors import board_packs_visible_to
from portal.history import tracked as history
from registry.pages import use_case_panels


def _evidence_card(user, use_case, context: dict) -> dict:
    return {}


def register_all() -> None:
    use_case_panels.register("dashboard/_evidence_pack.html", _evidence_card, order=90)
    history.register(
        BoardPack,
        rule="dashboard.view_board_pack",
        selector=board_packs_visible_to,
        exclude=("id", "created_at", "content", "figures", "extras"),
    )
