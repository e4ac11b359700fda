"""Who sees which use cases and data sources: the selectors' written condition
(registry.selectors._visible) is the ORM's own (``visible_q``), statement for statement, and
shows the same rows: a unit's records to its members, one's own records anywhere, records
granted to the person or to a group of theirs, and nothing else."""

import pytest
from django.contrib.auth.models import Group
from guardian.shortcuts import assign_perm

from portal.models import Role
from registry.models import DataSource, UseCase
from registry.selectors import data_sources_visible_to, use_cases_visible_to, visible_q
from tests.factories import BusinessUnitFactory, DataSourceFactory, UseCaseFactory, UserFactory

pytestmark = pytest.mark.django_db

SELECTORS = {UseCase: use_cases_visible_to, DataSource: data_sources_visible_to}
FACTORIES = {UseCase: UseCaseFactory, DataSource: DataSourceFactory}


@pytest.fixture
def world(retail, corporate):
    """Records in three units; people with no unit, one, two; grants to a person and a group."""
    treasury = BusinessUnitFactory(name="Treasury", code="TRS")
    reviewers = Group.objects.create(name="visibility reviewers")
    people = {
        "no unit": UserFactory(roles=[Role.PRODUCT_OWNER]),
        "one unit": UserFactory(roles=[Role.PRODUCT_OWNER], units=[retail]),
        "two units": UserFactory(roles=[Role.RISK_OFFICER], units=[retail, corporate]),
        "granted": UserFactory(roles=[Role.PRODUCT_OWNER]),
        "in a granted group": UserFactory(roles=[Role.PRODUCT_OWNER, reviewers.name]),
    }
    records = {}
    for model, factory in FACTORIES.items():
        rows = [factory(business_unit=unit) for unit in (retail, corporate, treasury)]
        rows.append(factory(business_unit=treasury, owner=people["no unit"]))
        label = model._meta.model_name
        assign_perm(f"registry.view_{label}", people["granted"], rows[2])
        assign_perm(f"registry.change_{label}", reviewers, rows[1])
        assign_perm(f"registry.delete_{label}", people["granted"], rows[0])  # not a view grant
        records[model] = rows
    return people, records


@pytest.mark.parametrize("model", [UseCase, DataSource])
@pytest.mark.parametrize(
    "who", ["no unit", "one unit", "two units", "granted", "in a granted group"]
)
def test_the_written_condition_is_the_orms(world, model, who):
    people, records = world
    person = people[who]
    visible = SELECTORS[model](person)
    reference = model.objects.select_related("business_unit", "owner").filter(
        visible_q(person, model)
    )

    assert str(visible.query) == str(reference.query)
    assert sorted(visible.values_list("pk", flat=True)) == sorted(
        reference.values_list("pk", flat=True)
    )


@pytest.mark.parametrize("model", [UseCase, DataSource])
def test_each_person_sees_their_units_their_own_and_their_grants(world, model):
    people, records = world
    retail, corporate, treasury, owned = records[model]

    def seen(who):
        return set(SELECTORS[model](people[who]))

    assert seen("no unit") == {owned}
    assert seen("one unit") == {retail}
    assert seen("two units") == {retail, corporate}
    assert seen("granted") == {treasury}
    assert seen("in a granted group") == {corporate}


@pytest.mark.parametrize("model", [UseCase, DataSource])
def test_the_condition_holds_inside_another_query(world, model):
    # As a subquery Django renames the record's table (U0): the condition follows it.
    people, records = world
    for person in people.values():
        inner = model.objects.filter(pk__in=SELECTORS[model](person).values("pk"))
        assert set(inner) == set(SELECTORS[model](person))
