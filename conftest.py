"""Personas shared by every test: one person per role in the Retail unit, and an outsider.

Retail and Corporate are two business units; ``outsider`` is a product owner in Corporate
who must see nothing of Retail's unless granted.
"""

from collections.abc import Iterator, Mapping

import pytest

from portal.models import Role
from tests.factories import PASSWORD, BusinessUnitFactory, UserFactory

# `pytest --cpu-report`: where the suite's CPU goes, per phase, module and test.
pytest_plugins = ["tests.cpu_report"]


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Real hashing costs half a second per person; tests make hundreds of people.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def password():
    return PASSWORD


@pytest.fixture
def retail(db):
    return BusinessUnitFactory(name="Retail Banking", code="RETAIL")


@pytest.fixture
def corporate(db):
    return BusinessUnitFactory(name="Corporate Banking", code="CORP")


@pytest.fixture
def admin_user(retail):
    return UserFactory(username="ada.admin", roles=[Role.ADMIN], units=[retail])


@pytest.fixture
def risk_officer(retail):
    return UserFactory(username="rita.risk", roles=[Role.RISK_OFFICER], units=[retail])


@pytest.fixture
def product_owner(retail):
    return UserFactory(username="pat.owner", roles=[Role.PRODUCT_OWNER], units=[retail])


@pytest.fixture
def leadership(retail):
    return UserFactory(username="lee.lead", roles=[Role.LEADERSHIP], units=[retail])


@pytest.fixture
def dpo(retail):
    return UserFactory(username="dana.dpo", roles=[Role.DPO], units=[retail])


@pytest.fixture
def auditor(db):
    # Auditors belong to no unit and still read everything.
    return UserFactory(username="aud.itor", roles=[Role.AUDITOR])


@pytest.fixture
def legal_reviewer(corporate):
    # The "legal" reviewer group (made by a migration) reviews high-risk work in any unit.
    return UserFactory(username="lou.legal", roles=["legal"], units=[corporate])


@pytest.fixture
def outsider(corporate):
    return UserFactory(username="olly.outsider", roles=[Role.PRODUCT_OWNER], units=[corporate])


# Each persona by the name the permission matrices use, and the fixture that makes it.
PERSONA_FIXTURES = {
    "admin": "admin_user",
    "risk_officer": "risk_officer",
    "product_owner": "product_owner",
    "leadership": "leadership",
    "dpo": "dpo",
    "auditor": "auditor",
    "outsider": "outsider",
}


class Personas(Mapping):
    """The personas by name, each made the first time it is asked for: a test of one persona
    (most of the permission matrices, parametrised by persona) makes that one, not all seven;
    one that goes through them all makes them all. Asked twice, the same person (the
    persona's fixture, which the test may also ask for by name)."""

    def __init__(self, request: pytest.FixtureRequest) -> None:
        self._request = request

    def __getitem__(self, name: str):
        return self._request.getfixturevalue(PERSONA_FIXTURES[name])

    def __iter__(self) -> Iterator[str]:
        return iter(PERSONA_FIXTURES)

    def __len__(self) -> int:
        return len(PERSONA_FIXTURES)


@pytest.fixture
def personas(request, db) -> Personas:
    return Personas(request)
