"""registry.selectors.sees_every_use_case: when a count may leave the visibility filter out."""

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from portal.access import AccessBackend, read_again
from portal.models import Role
from registry.selectors import forget_every_use_case, sees_every_use_case, use_cases_visible_to
from tests.factories import BusinessUnitFactory, UseCaseFactory, UserFactory

pytestmark = pytest.mark.django_db


def fresh(user):
    """The person as the next request reads them (nothing remembered on the object)."""
    return get_user_model().objects.get(pk=user.pk)


def test_members_of_every_unit_and_readers_of_everything_see_every_use_case(
    retail, corporate, product_owner, auditor, admin_user, outsider
):
    UseCaseFactory(business_unit=retail)
    UseCaseFactory(business_unit=corporate)
    everywhere = UserFactory(roles=[Role.LEADERSHIP], units=[retail, corporate])
    assert sees_every_use_case(everywhere)
    assert use_cases_visible_to(everywhere).count() == 2
    assert sees_every_use_case(auditor)  # no unit, but reads everything
    assert not sees_every_use_case(product_owner)  # Retail only
    assert not sees_every_use_case(outsider)  # Corporate only
    assert not sees_every_use_case(UserFactory(roles=[Role.LEADERSHIP]))  # no unit at all


def test_a_new_unit_the_person_is_not_in_ends_it(retail, corporate):
    everywhere = UserFactory(roles=[Role.RISK_OFFICER], units=[retail, corporate])
    assert sees_every_use_case(fresh(everywhere))
    legal = BusinessUnitFactory()
    UseCaseFactory(business_unit=legal)
    assert not sees_every_use_case(fresh(everywhere))
    legal.members.add(everywhere)
    assert sees_every_use_case(fresh(everywhere))


def test_asked_once_per_request(retail, django_assert_num_queries):
    everywhere = fresh(UserFactory(roles=[Role.RISK_OFFICER], units=[retail]))
    assert sees_every_use_case(everywhere)  # Retail is the only unit: asks the database once
    with django_assert_num_queries(0):
        sees_every_use_case(everywhere)
        sees_every_use_case(everywhere)


def signed_in(user):
    """The person as the request's lookup reads them from the session (portal.access)."""
    return AccessBackend().get_user(user.pk)


def test_read_with_the_person_by_the_request_no_query_of_its_own(
    retail, corporate, django_assert_num_queries
):
    """On PostgreSQL the request's lookup of the person also reads whether they are in every
    unit (the dashboard, My work and the portfolio ask it of everyone); with no unit, or one
    unit without them, they are not."""
    if connection.vendor != "postgresql":
        pytest.skip("the person's lookup reads it in the same statement on PostgreSQL only")
    everywhere = UserFactory(roles=[Role.RISK_OFFICER], units=[retail, corporate])
    somewhere = UserFactory(roles=[Role.RISK_OFFICER], units=[retail])
    nowhere = UserFactory(roles=[Role.RISK_OFFICER])
    people = [signed_in(p) for p in (everywhere, somewhere, nowhere)]
    with django_assert_num_queries(0):
        assert [sees_every_use_case(p) for p in people] == [True, False, False]
    # A unit without them, then read again (as My work reads them after its change log).
    legal = BusinessUnitFactory()
    person = people[0]
    read_again(person)
    forget_every_use_case(person)
    with django_assert_num_queries(0):
        assert not sees_every_use_case(person)
    legal.members.add(everywhere)
    assert sees_every_use_case(signed_in(everywhere))


def test_the_dashboard_of_a_member_of_every_unit_leaves_out_a_unit_they_are_not_in(
    client, retail, corporate
):
    from django.conf import settings  # noqa: PLC0415
    from django.urls import reverse  # noqa: PLC0415

    from tests.dashboard.test_dashboard import waiting  # noqa: PLC0415

    everywhere = UserFactory(roles=[Role.RISK_OFFICER], units=[retail, corporate])
    days = settings.ASSESSMENT_STUCK_DAYS
    ours = [
        waiting(UseCaseFactory(business_unit=unit), "in_review", days + 3)
        for unit in (retail, corporate)
    ]
    client.force_login(everywhere)
    page = client.get(reverse("dashboard"))
    assert page.context["counts"]["total"] == 2
    assert {a.pk for a in page.context["stuck"]} == {a.pk for a in ours}

    legal = BusinessUnitFactory()
    theirs = waiting(UseCaseFactory(business_unit=legal), "in_review", days + 9)
    page = client.get(reverse("dashboard"))
    assert page.context["counts"]["total"] == 2  # Legal's use case is not theirs to see
    assert theirs.pk not in {a.pk for a in page.context["stuck"]}
    legal.members.add(everywhere)
    page = client.get(reverse("dashboard"))
    assert page.context["counts"]["total"] == 3
    assert page.context["stuck"][0].pk == theirs.pk
