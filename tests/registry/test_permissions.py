"""The role × action matrix of the README, tested whole: every rule, every persona, the
refusals included, through the rules and through the pages."""

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from guardian.shortcuts import assign_perm

from portal.access import can
from registry import services
from registry.models import Lifecycle, UseCase
from tests.factories import (
    DataSourceFactory,
    ProductionUseCaseFactory,
    UseCaseFactory,
    UserFactory,
)

PERSONAS = ["admin", "risk_officer", "product_owner", "leadership", "dpo", "auditor", "outsider"]

# Who may do what to a Retail record owned by someone else in Retail. "outsider" is a product
# owner in Corporate. The README's matrix is this table.
MATRIX = {
    "registry.view_usecase": {
        "admin",
        "risk_officer",
        "product_owner",
        "leadership",
        "dpo",
        "auditor",
    },
    "registry.change_usecase": {"admin", "risk_officer", "product_owner"},
    "registry.suspend_usecase": {"admin", "risk_officer", "product_owner", "dpo"},
    "registry.flag_usecase": {"admin", "risk_officer", "dpo"},
    "registry.set_tier_usecase": {"admin", "risk_officer"},
    "registry.kill_switch_usecase": {"admin", "risk_officer", "product_owner", "dpo"},
    "registry.view_datasource": {
        "admin",
        "risk_officer",
        "product_owner",
        "leadership",
        "dpo",
        "auditor",
    },
    "registry.change_datasource": {"admin", "risk_officer", "product_owner", "dpo"},
}
# Rules without a record: may the persona do this at all (in their own unit)?
GLOBAL_MATRIX = {
    "registry.add_usecase": {"admin", "risk_officer", "product_owner", "outsider"},
    "registry.import_usecases": {"admin", "risk_officer", "product_owner", "outsider"},
    "registry.add_datasource": {"admin", "risk_officer", "product_owner", "dpo", "outsider"},
    "registry.export_usecases": set(PERSONAS),
    "registry.view_businessunit": set(PERSONAS),
    "registry.add_businessunit": {"admin"},
    "portal.view_audit_log": {"admin", "auditor"},
}


@pytest.fixture
def retail_use_case(retail, risk_officer):
    # Owned by someone in Retail who is none of the personas.
    return ProductionUseCaseFactory(business_unit=retail)


@pytest.fixture
def retail_source(retail):
    return DataSourceFactory(business_unit=retail)


def _target(perm, use_case, source):
    return source if perm.endswith("datasource") else use_case


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("perm", sorted(MATRIX))
def test_record_rules_match_the_matrix(personas, persona, perm, retail_use_case, retail_source):
    user = personas[persona]
    allowed = can(user, perm, _target(perm, retail_use_case, retail_source))
    assert allowed == (persona in MATRIX[perm]), f"{persona} {perm}"


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("perm", sorted(GLOBAL_MATRIX))
def test_global_rules_match_the_matrix(personas, persona, perm):
    assert can(personas[persona], perm) == (persona in GLOBAL_MATRIX[perm])


def test_nobody_changes_a_retired_use_case(personas, retail):
    retired = UseCaseFactory(business_unit=retail, lifecycle=Lifecycle.RETIRED)
    for persona in PERSONAS:
        assert not can(personas[persona], "registry.change_usecase", retired)


def test_product_owner_edits_their_own_use_case_in_another_unit(product_owner, corporate):
    theirs = UseCaseFactory(business_unit=corporate, owner=product_owner)
    assert can(product_owner, "registry.view_usecase", theirs)
    assert can(product_owner, "registry.change_usecase", theirs)


def test_a_guardian_grant_lets_an_outsider_read_but_not_edit(outsider, retail_use_case):
    assign_perm("registry.view_usecase", outsider, retail_use_case)
    assert can(outsider, "registry.view_usecase", retail_use_case)
    assert not can(outsider, "registry.change_usecase", retail_use_case)


def test_a_change_grant_lets_an_outsider_edit(outsider, retail_use_case):
    assign_perm("registry.change_usecase", outsider, retail_use_case)
    assert can(outsider, "registry.change_usecase", retail_use_case)


def test_an_auditor_with_a_change_grant_still_cannot_edit(auditor, retail_use_case):
    assign_perm("registry.change_usecase", auditor, retail_use_case)
    assert not can(auditor, "registry.change_usecase", retail_use_case)


def test_a_superuser_cannot_change_a_retired_use_case(retail):
    boss = UserFactory(units=[retail])
    boss.is_superuser = True
    boss.save()
    retired = UseCaseFactory(business_unit=retail, lifecycle=Lifecycle.RETIRED)
    with pytest.raises(PermissionDenied):
        services.use_case_update(actor=boss, use_case=retired, data={"title": "Revived"})
    with pytest.raises(PermissionDenied):
        services.use_case_set_kill_switch(
            actor=boss, use_case=retired, engaged=True, reason="because"
        )


# The same matrix through the pages -----------------------------------------------------------
@pytest.mark.parametrize("persona", PERSONAS)
def test_detail_page_answers_by_the_matrix(client, personas, persona, retail_use_case):
    client.force_login(personas[persona])
    response = client.get(retail_use_case.get_absolute_url())
    expected = 200 if persona in MATRIX["registry.view_usecase"] else 404
    assert response.status_code == expected


@pytest.mark.parametrize("persona", PERSONAS)
def test_edit_page_answers_by_the_matrix(client, personas, persona, retail_use_case):
    client.force_login(personas[persona])
    response = client.get(reverse("registry:use-case-edit", args=[retail_use_case.pk]))
    if persona in MATRIX["registry.change_usecase"]:
        assert response.status_code == 200
    elif persona in MATRIX["registry.view_usecase"]:
        assert response.status_code == 403
    else:
        assert response.status_code == 404  # nothing leaks that the record exists


@pytest.mark.parametrize("persona", PERSONAS)
def test_edit_post_changes_only_when_allowed(client, personas, persona, retail_use_case):
    client.force_login(personas[persona])
    client.post(
        reverse("registry:use-case-edit", args=[retail_use_case.pk]),
        {
            "title": "Renamed by " + persona,
            "purpose": retail_use_case.purpose,
            "business_unit": retail_use_case.business_unit_id,
            "owner": retail_use_case.owner_id,
            "people_affected": ["staff"],
            "decision_impact": "assists",
            "human_oversight": "before_action",
        },
    )
    retail_use_case.refresh_from_db()
    renamed = retail_use_case.title == "Renamed by " + persona
    assert renamed == (persona in MATRIX["registry.change_usecase"])


@pytest.mark.parametrize("persona", PERSONAS)
def test_kill_switch_post_by_the_matrix(client, personas, persona, retail_use_case):
    client.force_login(personas[persona])
    client.post(
        reverse("registry:use-case-kill-switch", args=[retail_use_case.pk]),
        {"engage": "1", "reason": "Wrong answers reported", "confirm": "1"},
    )
    retail_use_case.refresh_from_db()
    assert retail_use_case.kill_switch_engaged == (
        persona in MATRIX["registry.kill_switch_usecase"]
    )


@pytest.mark.parametrize("persona", PERSONAS)
def test_flag_post_by_the_matrix(client, personas, persona, retail_use_case):
    client.force_login(personas[persona])
    client.post(
        reverse("registry:use-case-flag", args=[retail_use_case.pk]),
        {"reason": "Drift in approval rates"},
    )
    retail_use_case.refresh_from_db()
    assert retail_use_case.needs_reassessment == (persona in MATRIX["registry.flag_usecase"])


@pytest.mark.parametrize("persona", PERSONAS)
def test_suspend_post_by_the_matrix(client, personas, persona, retail_use_case):
    client.force_login(personas[persona])
    client.post(
        reverse("registry:use-case-transition", args=[retail_use_case.pk, "suspend"]),
        {"reason": "Complaints about wrong declines"},
    )
    retail_use_case.refresh_from_db()
    suspended = retail_use_case.lifecycle == Lifecycle.SUSPENDED
    assert suspended == (persona in MATRIX["registry.suspend_usecase"])


@pytest.mark.parametrize("persona", PERSONAS)
def test_register_lists_only_what_the_persona_may_see(
    client, personas, persona, retail_use_case, corporate
):
    corporate_case = UseCaseFactory(business_unit=corporate)
    client.force_login(personas[persona])
    listed = set(client.get(reverse("registry:use-case-list")).context["use_cases"])
    assert (retail_use_case in listed) == (persona in MATRIX["registry.view_usecase"])
    sees_corporate = persona in {"admin", "auditor", "outsider"}
    assert (corporate_case in listed) == sees_corporate


@pytest.mark.parametrize("persona", PERSONAS)
def test_export_holds_only_what_the_persona_may_see(client, personas, persona, retail_use_case):
    client.force_login(personas[persona])
    response = client.get(reverse("registry:use-case-export"))
    body = b"".join(response.streaming_content).decode()
    assert (retail_use_case.reference in body) == (persona in MATRIX["registry.view_usecase"])


@pytest.mark.parametrize("persona", PERSONAS)
def test_create_page_by_the_matrix(client, personas, persona):
    client.force_login(personas[persona])
    response = client.get(reverse("registry:use-case-create"))
    assert response.status_code == (
        200 if persona in GLOBAL_MATRIX["registry.add_usecase"] else 403
    )


@pytest.mark.parametrize("persona", PERSONAS)
def test_data_source_edit_page_by_the_matrix(client, personas, persona, retail_source):
    client.force_login(personas[persona])
    response = client.get(reverse("registry:data-source-edit", args=[retail_source.pk]))
    if persona in MATRIX["registry.change_datasource"]:
        assert response.status_code == 200
    elif persona in MATRIX["registry.view_datasource"]:
        assert response.status_code == 403
    else:
        assert response.status_code == 404


def test_signed_out_visitors_are_sent_to_sign_in(client, retail_use_case):
    for url in [
        reverse("dashboard"),
        reverse("registry:use-case-list"),
        retail_use_case.get_absolute_url(),
        reverse("registry:use-case-export"),
    ]:
        response = client.get(url)
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))


def test_auditor_sees_every_unit_in_the_register(client, auditor, retail, corporate):
    UseCaseFactory.create_batch(2, business_unit=retail)
    UseCaseFactory.create_batch(3, business_unit=corporate)
    client.force_login(auditor)
    response = client.get(reverse("registry:use-case-list"))
    assert response.context["page"].paginator.count == UseCase.objects.count() == 5


def test_a_granted_record_is_listed_and_opens_for_the_outsider(client, outsider, retail_use_case):
    client.force_login(outsider)
    assert client.get(retail_use_case.get_absolute_url()).status_code == 404
    assign_perm("registry.view_usecase", outsider, retail_use_case)
    listed = client.get(reverse("registry:use-case-list")).context["use_cases"]
    assert retail_use_case in listed
    assert client.get(retail_use_case.get_absolute_url()).status_code == 200


def test_a_grant_to_a_group_reaches_its_members(client, outsider, retail_use_case):
    legal, _ = Group.objects.get_or_create(name="legal")  # made by a migration
    outsider.groups.add(legal)
    assign_perm("registry.view_usecase", legal, retail_use_case)
    client.force_login(outsider)
    assert client.get(retail_use_case.get_absolute_url()).status_code == 200
