"""Admins change roles, units and names with a reason, and deactivate and reactivate people;
every change is in the history with who and why, and no one locks the portal out."""

import re

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.urls import reverse

from people import services
from portal.models import Role
from tests.factories import BusinessUnitFactory, UserFactory

User = get_user_model()


def _group(name: str) -> Group:
    return Group.objects.get(name=name)


def _edit(client, person, **changes):
    data = {
        "first_name": person.first_name,
        "last_name": person.last_name,
        "email": person.email,
        "roles": [g.pk for g in person.groups.all()],
        "units": [u.pk for u in person.business_units.all()],
        "reason": "",
    }
    data.update(changes)
    return client.post(reverse("people:person-edit", args=[person.pk]), data)


def test_role_and_unit_changes_are_in_the_history_with_who_and_why(
    client, admin_user, product_owner, retail, corporate
):
    client.force_login(admin_user)
    response = _edit(
        client,
        product_owner,
        roles=[_group(Role.RISK_OFFICER).pk],
        units=[corporate.pk],
        reason="Moved to the corporate risk team",
    )
    assert response.status_code == 302

    product_owner.refresh_from_db()
    assert set(product_owner.groups.values_list("name", flat=True)) == {Role.RISK_OFFICER}
    assert list(product_owner.business_units.all()) == [corporate]

    version = product_owner.history.first()
    assert version.history_user == admin_user
    assert "Moved to the corporate risk team" in version.history_change_reason
    assert "+risk_officer" in version.history_change_reason
    assert "-product_owner" in version.history_change_reason
    assert {g.group.name for g in version.groups.all()} == {Role.RISK_OFFICER}

    for unit, verb in ((retail, "removed"), (corporate, "added")):
        unit_version = unit.history.first()
        assert unit_version.history_user == admin_user
        assert unit_version.history_change_reason == (
            f"{product_owner.get_full_name()} {verb}: Moved to the corporate risk team"
        )

    # The history browser shows it to an admin.
    page = client.get(reverse("history", args=["user", product_owner.pk])).content.decode()
    assert "Moved to the corporate risk team" in page


def test_a_change_without_a_reason_is_refused_and_keeps_what_was_typed(
    client, admin_user, product_owner
):
    client.force_login(admin_user)
    before = product_owner.first_name
    typed = before + "-Renamed"  # never the name the factory drew (it draws at random)
    response = _edit(
        client, product_owner, first_name=typed, roles=[_group(Role.DPO).pk], reason=""
    )
    html = response.content.decode()
    assert response.status_code == 200 and "Say why" in html
    assert f'value="{typed}"' in html
    (dpo_box,) = re.findall(
        rf'<input[^>]*name="roles"[^>]*value="{_group(Role.DPO).pk}"[^>]*>', html
    )
    assert "checked" in dpo_box
    product_owner.refresh_from_db()
    assert product_owner.first_name == before
    assert not product_owner.groups.filter(name=Role.DPO).exists()


def test_saving_without_changes_writes_no_version(client, admin_user, product_owner):
    client.force_login(admin_user)
    before = product_owner.history.count()
    assert _edit(client, product_owner).status_code == 302
    assert product_owner.history.count() == before


def test_signing_in_writes_no_version(client, product_owner, password):
    before = product_owner.history.count()
    assert client.login(username=product_owner.username, password=password)
    assert product_owner.history.count() == before


def test_other_groups_are_kept_when_roles_change(client, admin_user, product_owner):
    other = Group.objects.create(name="newsletter")
    product_owner.groups.add(other)
    client.force_login(admin_user)
    _edit(client, product_owner, roles=[_group(Role.DPO).pk], reason="Now the DPO")
    assert set(product_owner.groups.values_list("name", flat=True)) == {"newsletter", Role.DPO}


def test_the_password_hash_is_not_in_the_history(admin_user, product_owner):
    services.person_update(
        actor=admin_user, person=product_owner, first_name="Pat", reason="Preferred name"
    )
    version = product_owner.history.first()
    assert not hasattr(version, "password") and not hasattr(version, "last_login")


# Deactivating --------------------------------------------------------------------------------
def test_a_deactivated_person_cannot_sign_in_and_a_reactivated_one_can(
    client, admin_user, product_owner, password
):
    client.force_login(admin_user)
    response = client.post(
        reverse("people:person-deactivate", args=[product_owner.pk]), {"reason": "Left the firm"}
    )
    assert response.status_code == 302
    product_owner.refresh_from_db()
    assert not product_owner.is_active
    version = product_owner.history.first()
    assert version.history_user == admin_user
    assert version.history_change_reason == "Deactivated: Left the firm"

    other = client.__class__()
    assert not other.login(username=product_owner.username, password=password)

    client.post(
        reverse("people:person-reactivate", args=[product_owner.pk]), {"reason": "Came back"}
    )
    assert other.login(username=product_owner.username, password=password)
    assert product_owner.history.first().history_change_reason == "Reactivated: Came back"


def test_a_deactivated_persons_session_ends(client, admin_user, product_owner):
    client.force_login(product_owner)
    services.person_deactivate(actor=admin_user, person=product_owner, reason="Left")
    response = client.get(reverse("registry:use-case-list"))
    assert response.status_code == 302 and reverse("login") in response.url


def test_you_cannot_deactivate_yourself(client, admin_user, retail):
    UserFactory(roles=[Role.ADMIN], units=[retail])  # not the last admin either
    client.force_login(admin_user)
    response = client.post(
        reverse("people:person-deactivate", args=[admin_user.pk]), {"reason": "Testing"}
    )
    assert response.status_code == 200
    assert "You cannot deactivate yourself" in response.content.decode()
    admin_user.refresh_from_db()
    assert admin_user.is_active


def test_an_admin_may_step_down_while_another_admin_remains(client, admin_user, retail):
    UserFactory(username="second.admin", roles=[Role.ADMIN], units=[retail])
    client.force_login(admin_user)
    response = _edit(client, admin_user, roles=[_group(Role.RISK_OFFICER).pk], reason="Handover")
    assert response.status_code == 302
    assert not admin_user.groups.filter(name=Role.ADMIN).exists()


def test_a_superuser_counts_as_an_admin_left(client, admin_user):
    UserFactory(username="root", is_superuser=True)
    client.force_login(admin_user)
    assert _edit(client, admin_user, roles=[], reason="Handover to root").status_code == 302


def test_demoting_the_last_admin_is_refused_with_a_clear_message(client, admin_user):
    client.force_login(admin_user)
    response = _edit(client, admin_user, roles=[], reason="Stepping down")
    assert response.status_code == 200
    assert "last active admin" in response.content.decode()
    assert admin_user.groups.filter(name=Role.ADMIN).exists()


def test_a_unit_is_added_and_renamed_in_history(client, admin_user):
    client.force_login(admin_user)
    response = client.post(
        reverse("people:unit-create"),
        {"name": "Wealth Management", "code": "WEALTH", "description": "Private banking"},
    )
    assert response.status_code == 302
    unit = BusinessUnitFactory._meta.model.objects.get(code="WEALTH")
    client.post(
        reverse("people:unit-edit", args=[unit.pk]),
        {"name": "Wealth & Asset Management", "code": "WEALTH", "description": ""},
    )
    unit.refresh_from_db()
    assert unit.name == "Wealth & Asset Management"
    assert [v.history_user for v in unit.history.all()] == [admin_user, admin_user]


def test_a_unit_with_a_taken_code_keeps_what_was_typed(client, admin_user, retail):
    client.force_login(admin_user)
    response = client.post(
        reverse("people:unit-create"), {"name": "Retail Two", "code": "RETAIL", "description": ""}
    )
    html = response.content.decode()
    assert response.status_code == 200 and 'value="Retail Two"' in html
    assert "already exists" in html


def test_the_people_list_takes_a_fixed_number_of_queries(
    client, admin_user, retail, corporate, django_assert_max_num_queries
):
    for _ in range(30):
        UserFactory(roles=[Role.PRODUCT_OWNER], units=[retail, corporate])
    client.force_login(admin_user)
    with django_assert_max_num_queries(12):
        response = client.get(reverse("people:person-list"))
    assert response.status_code == 200
    assert response.content.decode().count("CORP, RETAIL") >= 30


def test_the_list_filters_in_place_with_htmx(client, admin_user, product_owner, sent):
    services.person_deactivate(actor=admin_user, person=product_owner, reason="Left")
    client.force_login(admin_user)
    response = client.get(
        reverse("people:person-list"), {"status": "deactivated"}, HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert "<html" not in html and product_owner.username in html
    assert admin_user.username not in html


def test_admins_see_people_in_the_navigation(client, admin_user, product_owner):
    client.force_login(admin_user)
    assert reverse("people:person-list") in client.get(reverse("dashboard")).content.decode()
    client.force_login(product_owner)
    assert reverse("people:person-list") not in client.get(reverse("dashboard")).content.decode()


def test_admins_find_unit_editing_from_the_register(client, admin_user, product_owner, retail):
    client.force_login(admin_user)
    detail = client.get(reverse("registry:business-unit-detail", args=[retail.pk]))
    assert reverse("people:unit-edit", args=[retail.pk]) in detail.content.decode()
    units = client.get(reverse("registry:business-unit-list")).content.decode()
    assert reverse("people:unit-create") in units
    client.force_login(product_owner)
    detail = client.get(reverse("registry:business-unit-detail", args=[retail.pk]))
    assert reverse("people:unit-edit", args=[retail.pk]) not in detail.content.decode()


def test_the_units_page_takes_a_fixed_number_of_queries(
    client, admin_user, django_assert_max_num_queries
):
    for _ in range(15):
        unit = BusinessUnitFactory()
        UserFactory(units=[unit])
    client.force_login(admin_user)
    with django_assert_max_num_queries(8):
        response = client.get(reverse("people:unit-list"))
    assert response.status_code == 200 and response.content.decode().count("Edit</a>") >= 15


def test_a_persons_history_can_be_erased_on_request(admin_user, product_owner):
    services.person_update(
        actor=admin_user, person=product_owner, last_name="Maiden", reason="Name change"
    )
    call_command(
        "history_erase",
        "auth.user",
        str(product_owner.pk),
        reason="Erasure request",
        by=admin_user.username,
    )
    assert not product_owner.history.exists()
