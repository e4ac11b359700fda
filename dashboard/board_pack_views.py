"""The board packs' pages: the list with a form to make one, a pack's page with its sign-off,
and its PDF (dashboard/board_pack.py)."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_safe

from dashboard import board_pack
from dashboard.selectors import access_board_pack, board_packs_visible_to
from portal.access import can
from portal.forms import HtmlDateInput, SignForm, StyledFormMixin, apply_validation_error
from portal.pdf import pdf_response


class MakeForm(StyledFormMixin, forms.Form):
    start = forms.DateField(widget=HtmlDateInput())
    end = forms.DateField(widget=HtmlDateInput())


@login_required
@require_http_methods(["GET", "POST"])
def board_pack_list(request):
    if not can(request.user, "dashboard.view_board_pack"):
        raise PermissionDenied
    start, end = board_pack.previous_month(timezone.localdate())
    form = MakeForm(request.POST or None, initial={"start": start, "end": end})
    if request.method == "POST":
        if not can(request.user, "dashboard.add_board_pack"):
            raise PermissionDenied
        if form.is_valid():
            try:
                data = form.cleaned_data
                pack = board_pack.board_pack_make(
                    actor=request.user, start=data["start"], end=data["end"]
                )
            except ValidationError as exc:
                apply_validation_error(form, exc)
            else:
                messages.success(request, f"{pack.reference} made; read it, then sign it.")
                return redirect(pack.get_absolute_url())
    return render(
        request,
        "dashboard/board_pack_list.html",
        {
            "packs": board_packs_visible_to(request.user)[:50],
            "form": form,
            "can_make": can(request.user, "dashboard.add_board_pack"),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def board_pack_detail(request, pk: int):
    pack = access_board_pack(request.user, pk)
    form = SignForm(request.POST or None)
    if request.method == "POST":
        if not can(request.user, "dashboard.sign_board_pack", pack):
            raise PermissionDenied
        if form.is_valid():
            try:
                pack = board_pack.board_pack_sign(
                    actor=request.user,
                    pack=pack,
                    password=form.cleaned_data["password"],
                    note=form.cleaned_data["note"],
                )
            except ValidationError as exc:
                apply_validation_error(form, exc)
            else:
                messages.success(request, f"You signed {pack.reference}.")
                return redirect(pack.get_absolute_url())
    return render(
        request,
        "dashboard/board_pack_detail.html",
        {
            "pack": pack,
            "form": form,
            "can_sign": can(request.user, "dashboard.sign_board_pack", pack),
            "verified": board_pack.verified(pack),
        },
    )


@login_required
@require_safe
def board_pack_pdf(request, pk: int):
    pack = access_board_pack(request.user, pk)
    return pdf_response(board_pack.render(pack), board_pack.filename(pack))
