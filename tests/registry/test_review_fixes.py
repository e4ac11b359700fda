"""Edges found in review: what forms offer, superusers, long reasons, moves between units."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone
from guardian.shortcuts import assign_perm

from registry import services
from registry.models import Lifecycle
from tests.factories import DataSourceFactory, UseCaseFactory, UserFactory


def test_create_form_offers_only_data_sources_the_person_may_see(client, outsider, retail):
    hidden = DataSourceFactory(business_unit=retail, name="Retail customer warehouse")
    client.force_login(outsider)
    html = client.get(reverse("registry:use-case-create")).content.decode()
    assert hidden.name not in html


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


def test_a_long_reason_is_kept_whole(risk_officer, retail):
    use_case = UseCaseFactory(business_unit=retail, lifecycle=Lifecycle.PRODUCTION)
    reason = "Customers under 25 were declined far more often than before; " * 10
    services.use_case_transition(
        actor=risk_officer, use_case=use_case, action="suspend", reason=reason
    )
    assert reason.strip() in use_case.history.first().history_change_reason


def test_editing_with_a_grant_keeps_links_the_editor_cannot_see(client, outsider, retail):
    source = DataSourceFactory(business_unit=retail)
    use_case = UseCaseFactory(business_unit=retail, data_sources=[source])
    assign_perm("registry.change_usecase", outsider, use_case)
    client.force_login(outsider)
    form = client.get(reverse("registry:use-case-edit", args=[use_case.pk])).context["form"]
    data = {
        k: v
        for k, v in form.initial.items()
        if k in form.fields and v is not None and k != "data_sources"
    }
    data["data_sources"] = [source.pk]
    data["title"] = "Renamed with a grant"
    client.post(reverse("registry:use-case-edit", args=[use_case.pk]), data)
    use_case.refresh_from_db()
    assert use_case.title == "Renamed with a grant"
    assert list(use_case.data_sources.all()) == [source]


def test_a_data_source_in_use_cannot_move_to_another_unit(admin_user, retail, corporate):
    source = DataSourceFactory(business_unit=retail)
    use_case = UseCaseFactory(business_unit=retail, data_sources=[source])
    with pytest.raises(ValidationError) as exc:
        services.data_source_update(
            actor=admin_user, data_source=source, data={"business_unit": corporate}
        )
    assert use_case.reference in exc.value.message_dict["business_unit"][0]


def test_clearing_a_flag_past_its_review_date_needs_a_new_date(risk_officer, retail):
    today = timezone.localdate()
    use_case = UseCaseFactory(
        business_unit=retail,
        next_review_date=today - timedelta(days=3),
        needs_reassessment=True,
        reassessment_reasons="Review date passed",
    )
    with pytest.raises(ValidationError) as exc:
        services.use_case_clear_reassessment(
            actor=risk_officer, use_case=use_case, reason="Reviewed with the owner"
        )
    assert "next_review_date" in exc.value.message_dict
    services.use_case_clear_reassessment(
        actor=risk_officer,
        use_case=use_case,
        reason="Reviewed with the owner",
        next_review_date=today + timedelta(days=180),
    )
    use_case.refresh_from_db()
    assert not use_case.needs_reassessment
    assert services.flag_use_cases_past_review() == 0


def test_unit_list_counts_only_visible_use_cases(client, product_owner, retail, corporate):
    UseCaseFactory.create_batch(3, business_unit=corporate)
    UseCaseFactory(business_unit=retail)
    client.force_login(product_owner)
    units = {u.code: u for u in client.get(reverse("registry:business-unit-list")).context["units"]}
    assert units["CORP"].n_use_cases == 0
    assert units["RETAIL"].n_use_cases == 1


def test_import_does_not_reveal_titles_of_other_units(client, product_owner, corporate):
    from tests.registry.test_import_export import _csv, _row, _upload

    UseCaseFactory(business_unit=corporate, title="Secret merger model")
    client.force_login(product_owner)
    response = _upload(
        client, _csv([_row(product_owner, title="Secret merger model", business_unit="CORP")])
    )
    errors = " ".join(client.get(response.url).context["report"].rows[0].errors)
    assert "Already in the register" not in errors
    assert "business_unit" in errors


def test_a_bad_sort_keeps_the_other_filters(client, risk_officer, retail):
    pilot = UseCaseFactory(business_unit=retail, lifecycle="pilot")
    UseCaseFactory(business_unit=retail, lifecycle="production")
    client.force_login(risk_officer)
    response = client.get(
        reverse("registry:use-case-list"), {"lifecycle": "pilot", "sort": "bogus"}
    )
    assert list(response.context["use_cases"]) == [pilot]
    assert response.context["current_sort"] == "reference"


def test_data_source_pages_keep_the_search(client, risk_officer, retail, settings):
    settings.REGISTER_PAGE_SIZE = 2
    for i in range(3):
        DataSourceFactory(business_unit=retail, name=f"match {i}")
    client.force_login(risk_officer)
    html = client.get(reverse("registry:data-source-list"), {"q": "match"}).content.decode()
    assert 'href="?q=match&amp;page=2"' in html


def test_back_button_restore_gets_the_whole_page(client, risk_officer, retail):
    UseCaseFactory(business_unit=retail)
    client.force_login(risk_officer)
    response = client.get(
        reverse("registry:use-case-list"),
        HTTP_HX_REQUEST="true",
        HTTP_HX_HISTORY_RESTORE_REQUEST="true",
    )
    assert "<html" in response.content.decode()
    assert "HX-Request" in response["Vary"]
