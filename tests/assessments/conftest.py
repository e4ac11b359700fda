"""The use case most assessment tests assess, and the people its assessments go through."""

import pytest

from tests.factories import UseCaseFactory


@pytest.fixture
def use_case(retail, product_owner):
    return UseCaseFactory(business_unit=retail, owner=product_owner, title="Card fraud scoring")


@pytest.fixture
def people(product_owner, risk_officer, dpo, leadership):
    return {"author": product_owner, "reviewers": [risk_officer, dpo], "approver": leadership}
