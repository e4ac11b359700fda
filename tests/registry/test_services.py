from datetime import date, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from registry import services
from registry.models import LIFECYCLE_TRANSITIONS, Lifecycle, UseCase
from tests.factories import DataSourceFactory, UseCaseFactory, ready_for_production


def _data(unit, owner, **extra):
    data = {
        "title": "Ticket triage",
        "purpose": "Routes support tickets to the right team.",
        "business_unit": unit,
        "owner": owner,
        "people_affected": ["staff", "customers"],
        "decision_impact": "assists",
        "human_oversight": "sampled",
    }
    data.update(extra)
    return data


def test_registering_numbers_use_cases_in_order(product_owner, retail):
    first = services.use_case_register(actor=product_owner, data=_data(retail, product_owner))
    second = services.use_case_register(
        actor=product_owner, data=_data(retail, product_owner, title="Second")
    )
    assert (first.reference, second.reference) == ("UC-0001", "UC-0002")
    assert first.lifecycle == Lifecycle.PROPOSED
    assert first.history.first().history_user == product_owner


def test_owner_must_belong_to_the_unit(product_owner, retail, outsider):
    with pytest.raises(ValidationError) as exc:
        services.use_case_register(actor=product_owner, data=_data(retail, outsider))
    assert "owner" in exc.value.message_dict
    assert not UseCase.objects.exists()


def test_product_owner_cannot_register_in_another_unit(product_owner, corporate, outsider):
    with pytest.raises(ValidationError) as exc:
        services.use_case_register(actor=product_owner, data=_data(corporate, outsider))
    assert "business_unit" in exc.value.message_dict


def test_automatic_decisions_about_customers_need_human_review(product_owner, retail):
    data = _data(retail, product_owner, decision_impact="automatic", human_oversight="none")
    with pytest.raises(ValidationError) as exc:
        services.use_case_register(actor=product_owner, data=data)
    assert "human_oversight" in exc.value.message_dict


def test_data_sources_of_another_unit_are_refused(product_owner, retail, corporate):
    foreign = DataSourceFactory(business_unit=corporate)
    data = _data(retail, product_owner, data_sources=[foreign])
    with pytest.raises(ValidationError) as exc:
        services.use_case_register(actor=product_owner, data=data)
    assert foreign.reference in exc.value.message_dict["data_sources"][0]


def test_auditor_cannot_register(auditor, retail, product_owner):
    with pytest.raises(PermissionDenied):
        services.use_case_register(actor=auditor, data=_data(retail, product_owner))


def test_update_records_who_and_why(product_owner, risk_officer, retail):
    use_case = services.use_case_register(actor=product_owner, data=_data(retail, product_owner))
    services.use_case_update(
        actor=risk_officer,
        use_case=use_case,
        data={"human_oversight": "before_action"},
        reason="Raised after the pilot review",
    )
    latest = use_case.history.first()
    assert latest.human_oversight == "before_action"
    assert latest.history_user == risk_officer
    assert latest.history_change_reason == "Raised after the pilot review"


def test_update_without_change_writes_no_history(product_owner, retail):
    use_case = services.use_case_register(actor=product_owner, data=_data(retail, product_owner))
    before = use_case.history.count()
    services.use_case_update(
        actor=product_owner, use_case=use_case, data={"title": "Ticket triage"}
    )
    assert use_case.history.count() == before


@pytest.mark.parametrize("action", sorted(LIFECYCLE_TRANSITIONS))
def test_each_transition_moves_only_from_its_sources(action, admin_user, retail):
    transition = LIFECYCLE_TRANSITIONS[action]
    for state in Lifecycle.values:
        use_case = UseCaseFactory(business_unit=retail, lifecycle=state)
        if state == Lifecycle.RETIRED:
            # A retired use case is closed: nobody may change it any more.
            with pytest.raises(PermissionDenied):
                services.use_case_transition(
                    actor=admin_user, use_case=use_case, action=action, reason="why"
                )
            continue
        if state in transition.source:
            if transition.target == Lifecycle.PRODUCTION:
                ready_for_production(use_case, admin_user)  # the go-live gate holds
            services.use_case_transition(
                actor=admin_user, use_case=use_case, action=action, reason="why"
            )
            use_case.refresh_from_db()
            assert use_case.lifecycle == transition.target
            assert use_case.history.first().history_change_reason.startswith(transition.label)
        else:
            with pytest.raises(ValidationError):
                services.use_case_transition(
                    actor=admin_user, use_case=use_case, action=action, reason="why"
                )
            use_case.refresh_from_db()
            assert use_case.lifecycle == state


def test_suspending_needs_a_reason(risk_officer, retail):
    use_case = UseCaseFactory(business_unit=retail, lifecycle=Lifecycle.PRODUCTION)
    with pytest.raises(ValidationError) as exc:
        services.use_case_transition(actor=risk_officer, use_case=use_case, action="suspend")
    assert "reason" in exc.value.message_dict


def test_flag_and_clear_reassessment(risk_officer, retail):
    use_case = UseCaseFactory(business_unit=retail)
    services.use_case_flag_for_reassessment(
        actor=risk_officer, use_case=use_case, reason="Model vendor changed"
    )
    use_case.refresh_from_db()
    assert use_case.needs_reassessment
    assert "Model vendor changed" in use_case.reassessment_reasons
    services.use_case_clear_reassessment(
        actor=risk_officer, use_case=use_case, reason="Re-screened: still limited risk"
    )
    use_case.refresh_from_db()
    assert not use_case.needs_reassessment
    assert use_case.reassessment_reasons == ""


def test_kill_switch_records_reason_in_history(dpo, retail):
    use_case = UseCaseFactory(business_unit=retail, lifecycle=Lifecycle.PRODUCTION)
    services.use_case_set_kill_switch(
        actor=dpo, use_case=use_case, engaged=True, reason="Leaking personal data"
    )
    use_case.refresh_from_db()
    assert use_case.kill_switch_engaged
    assert "Leaking personal data" in use_case.history.first().history_change_reason
    with pytest.raises(ValidationError):
        services.use_case_set_kill_switch(actor=dpo, use_case=use_case, engaged=False, reason="")


def test_past_review_dates_flag_live_use_cases_only(retail):
    today = date(2026, 11, 23)
    overdue = UseCaseFactory(business_unit=retail, next_review_date=today - timedelta(days=1))
    due_today = UseCaseFactory(business_unit=retail, next_review_date=today)
    retired = UseCaseFactory(
        business_unit=retail,
        lifecycle=Lifecycle.RETIRED,
        next_review_date=today - timedelta(days=30),
    )
    assert services.flag_use_cases_past_review(today=today) == 1
    for uc in (overdue, due_today, retired):
        uc.refresh_from_db()
    assert overdue.needs_reassessment
    assert "2026-11-22" in overdue.reassessment_reasons
    assert not due_today.needs_reassessment
    assert not retired.needs_reassessment
    # Running again flags nothing twice.
    assert services.flag_use_cases_past_review(today=today) == 0


def test_data_source_special_category_is_personal_data(dpo, retail):
    with pytest.raises(ValidationError) as exc:
        services.data_source_create(
            actor=dpo,
            data={
                "name": "Health notes",
                "business_unit": retail,
                "owner": dpo,
                "classification": "special_category",
                "personal_data": False,
                "allowed_destination": "on_premises",
                "retention_days": 365,
            },
        )
    assert "personal_data" in exc.value.message_dict


def test_risk_officer_records_a_tier_with_its_justification(risk_officer, retail):
    use_case = UseCaseFactory(business_unit=retail)
    with pytest.raises(ValidationError):
        services.use_case_record_risk_tier(
            actor=risk_officer, use_case=use_case, tier="high", justification=" "
        )
    with pytest.raises(ValidationError):
        services.use_case_record_risk_tier(
            actor=risk_officer, use_case=use_case, tier="severe", justification="x"
        )
    services.use_case_record_risk_tier(
        actor=risk_officer,
        use_case=use_case,
        tier="high",
        justification="Annex III point 5(b): creditworthiness",
    )
    use_case.refresh_from_db()
    assert use_case.risk_tier == "high"
    reason = use_case.history.first().history_change_reason
    assert "Not screened → High risk" in reason and "Annex III point 5(b)" in reason


def test_product_owner_cannot_record_a_tier(product_owner, retail):
    use_case = UseCaseFactory(business_unit=retail, owner=product_owner)
    with pytest.raises(PermissionDenied):
        services.use_case_record_risk_tier(
            actor=product_owner, use_case=use_case, tier="minimal", justification="mine"
        )


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
