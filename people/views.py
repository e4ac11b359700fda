"""The people pages (admins only) and the invitation link (anyone holding it)."""

from functools import wraps

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from people import services
from people.forms import (
    BusinessUnitForm,
    InviteForm,
    JoinForm,
    PeopleFilterForm,
    PersonForm,
    ReasonForm,
)
from people.selectors import (
    PersonStatus,
    access_person,
    group_label,
    newest_invitation,
    people_for_admin,
    person_status,
)
from portal.access import require
from portal.forms import apply_validation_error, error_messages
from portal.htmx import is_htmx, vary_on_htmx
from registry import services as registry_services
from registry.models import BusinessUnit

User = get_user_model()


def admin_required(view):
    """Signed in (else the sign-in page) and an admin (else 403)."""

    @login_required
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        require(request.user, "people.manage")
        return view(request, *args, **kwargs)

    return wrapped


def _person_or_404(request, pk: int):
    try:
        return access_person(request.user, pk)
    except User.DoesNotExist:
        raise Http404("No such person.") from None


def _describe(person) -> None:
    """What the templates show of a person, worked out once."""
    person.status = person_status(person)
    person.status_label = PersonStatus.LABELS[person.status]
    person.role_labels = [group_label(g) for g in person.groups.all()]
    person.newest_invitation = newest_invitation(person)


# People --------------------------------------------------------------------------------------
@admin_required
def person_list(request):
    form = PeopleFilterForm(request.GET or None)
    q = status = ""
    if form.is_valid():
        q, status = form.cleaned_data["q"], form.cleaned_data["status"]
    people = people_for_admin(request.user, q=q, status=status)
    for person in people:
        _describe(person)
    template = "people/partials/_people_table.html" if is_htmx(request) else "people/list.html"
    response = render(request, template, {"form": form, "people": people})
    return vary_on_htmx(response)


@admin_required
@require_http_methods(["GET", "POST"])
def person_invite(request):
    form = InviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            person = services.person_invite(
                actor=request.user,
                email=data["email"],
                first_name=data["first_name"],
                last_name=data["last_name"],
                username=data["username"],
                roles=data["roles"],
                units=data["units"],
                reason=data["reason"],
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, f"Invitation sent to {person.email}.")
            return redirect("people:person-detail", pk=person.pk)
    return render(request, "people/invite.html", {"form": form})


@admin_required
def person_detail(request, pk: int):
    person = _person_or_404(request, pk)
    _describe(person)
    return render(
        request,
        "people/detail.html",
        {
            "person": person,
            "units": person.business_units.all(),
            "can_resend": person.is_active and person.status != PersonStatus.ACTIVE,
            "is_self": person.pk == request.user.pk,
        },
    )


@admin_required
@require_http_methods(["GET", "POST"])
def person_edit(request, pk: int):
    person = _person_or_404(request, pk)
    initial = {
        "first_name": person.first_name,
        "last_name": person.last_name,
        "email": person.email,
        "roles": list(person.groups.all()),
        "units": list(person.business_units.all()),
    }
    form = PersonForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.person_update(
                actor=request.user,
                person=person,
                reason=data["reason"],
                roles=data["roles"],
                units=data["units"],
                first_name=data["first_name"],
                last_name=data["last_name"],
                email=data["email"],
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, "Saved.")
            return redirect("people:person-detail", pk=person.pk)
    return render(request, "people/edit.html", {"form": form, "person": person})


def _active_switch(request, pk: int, *, deactivate: bool):
    person = _person_or_404(request, pk)
    form = ReasonForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        service = services.person_deactivate if deactivate else services.person_reactivate
        try:
            service(actor=request.user, person=person, reason=form.cleaned_data["reason"])
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            label = person.get_full_name() or person.username
            messages.success(request, f"{label} {'deactivated' if deactivate else 'reactivated'}.")
            return redirect("people:person-detail", pk=person.pk)
    return render(
        request,
        "people/active_switch.html",
        {"form": form, "person": person, "deactivate": deactivate},
    )


@admin_required
@require_http_methods(["GET", "POST"])
def person_deactivate(request, pk: int):
    return _active_switch(request, pk, deactivate=True)


@admin_required
@require_http_methods(["GET", "POST"])
def person_reactivate(request, pk: int):
    return _active_switch(request, pk, deactivate=False)


@admin_required
@require_POST
def person_resend(request, pk: int):
    person = _person_or_404(request, pk)
    try:
        services.invitation_resend(actor=request.user, person=person)
    except ValidationError as exc:
        error_messages(request, exc)
    else:
        messages.success(request, f"A new invitation was sent to {person.email}.")
    return redirect("people:person-detail", pk=person.pk)


# Business units ------------------------------------------------------------------------------
@admin_required
def unit_list(request):
    units = BusinessUnit.objects.order_by("name").prefetch_related("members")
    return render(request, "people/unit_list.html", {"units": units})


@admin_required
@require_http_methods(["GET", "POST"])
def unit_create(request):
    form = BusinessUnitForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            unit = registry_services.business_unit_create(
                actor=request.user, data=form.cleaned_data
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, f"{unit.name} added.")
            return redirect("people:unit-list")
    return render(request, "people/unit_form.html", {"form": form, "unit": None})


@admin_required
@require_http_methods(["GET", "POST"])
def unit_edit(request, pk: int):
    unit = get_object_or_404(BusinessUnit, pk=pk)
    form = BusinessUnitForm(request.POST or None, instance=unit)
    if request.method == "POST" and form.is_valid():
        data = {k: form.cleaned_data[k] for k in ("name", "code", "description")}
        try:
            registry_services.business_unit_update(
                actor=request.user, unit=BusinessUnit.objects.get(pk=pk), data=data
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, "Saved.")
            return redirect("people:unit-list")
    return render(request, "people/unit_form.html", {"form": form, "unit": unit})


# The invitation's link -----------------------------------------------------------------------
@require_http_methods(["GET", "POST"])
def join(request, token: str):
    """Set a first password from an invitation's link. Needs no sign-in: the link is the
    proof; once used, withdrawn by a newer one or expired it says so and does nothing."""
    try:
        invitation = services.invitation_from_token(token)
    except services.InvitationRefused as refused:
        status = 400 if refused.state == "invalid" else 410
        return render(
            request, "people/join_refused.html", {"message": refused.message}, status=status
        )
    person = invitation.person
    form = JoinForm(person, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.invitation_accept(
                invitation=invitation, password=form.cleaned_data["new_password1"]
            )
        except services.InvitationRefused as refused:
            return render(
                request, "people/join_refused.html", {"message": refused.message}, status=410
            )
        messages.success(
            request, f"Your password is set. Sign in as {person.get_username()} to start."
        )
        return redirect(reverse("login"))
    return render(request, "people/join.html", {"form": form, "person": person})
