"""Reads of the dashboard's records that depend on who asks."""

from django.db.models import QuerySet
from django.http import Http404

from dashboard.models import BoardPack
from portal.access import can


def board_packs_visible_to(user) -> QuerySet[BoardPack]:
    if not can(user, "dashboard.view_board_pack"):
        return BoardPack.objects.none()
    return BoardPack.objects.select_related("signed_by", "created_by")


def access_board_pack(user, pk: int) -> BoardPack:
    """The pack, or 404 (missing and forbidden alike)."""
    pack = board_packs_visible_to(user).filter(pk=pk).first()
    if pack is None:
        raise Http404
    return pack
