"""Schemathesis over the whole API schema, as an admin and as a product owner (issue 13):
every operation of /api/schema/ gets generated requests through the live WSGI app, and each
answer must be no server error and must match the schema the API publishes.

Each generated request runs inside a transaction that is rolled back afterwards, so a
destructive one (a kill switch, a deactivation, a token rotation) leaves the records the
next request finds, and both roles start from the same set-up. Operations on a record run
with generated ids (mostly 404) and with the id of a record the set-up made, so their
answers for a real record are checked too.
"""

from __future__ import annotations

import re
from collections import Counter

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from assessments.models import Status
from monitoring.models import Budget, MetricSource
from tests.assessments.builders import to_status
from tests.factories import RuleFactory
from tests.incidents.incident_helpers import open_incident
from tests.monitoring.ui_helpers import retail_deployment

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

EXAMPLES = 6  # per operation and id source, each sent as every role: bounded to minutes
ROLES = ("admin_user", "product_owner")
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


@pytest.fixture
def wsgi_app():
    """The project's WSGI app, kept from closing the test's database connection after each
    request (it would, being inside the test's transaction), as Django's test client does."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def records(retail, admin_user, product_owner, risk_officer, dpo, leadership):
    """One of each record the API serves, in the product owner's unit."""
    deployment = retail_deployment(retail, product_owner)
    use_case = deployment.use_case
    assessment = to_status(
        Status.SIGNED_OFF,
        use_case=use_case,
        author=product_owner,
        reviewers=[risk_officer, dpo],
        approver=leadership,
    )
    incident = open_incident(use_case, product_owner)
    rule = RuleFactory()
    source = MetricSource.objects.create(deployment=deployment, name="Push", kind="push")
    Budget.objects.create(use_case=use_case, monthly_amount=1000)
    return {
        "use-cases": use_case.pk,
        "budgets": use_case.reference,
        "gate": use_case.reference,
        "deployments": deployment.pk,
        "model-versions": deployment.model_version_id,
        "models": deployment.model_version.model_id,
        "assessments": assessment.pk,
        "assessment-templates": assessment.template_id,
        "incidents": incident.pk,
        "rules": rule.pk,
        "metric-sources": source.pk,
        "business-units": retail.pk,
        "data-sources": None,
        "people": product_owner.pk,
    }


def real_ids(path: str, records: dict) -> dict | None:
    """Path parameters naming a record the set-up made, or None if there is none to name."""
    names = re.findall(r"{(\w+)}", path)
    if not names:
        return None
    collection = path.removeprefix("/api/v1/").split("/", 1)[0]
    value = records.get(collection)
    if value is None or len(names) != 1:
        return None
    return {names[0]: value}


def test_every_operation_answers_without_server_errors_and_as_its_schema_says(
    request, records, wsgi_app
):
    """Each generated request is sent as each role in turn: generated once (the same requests
    a run per role would generate, being derandomized), answered twice."""
    auths = {}
    for role in ROLES:
        token, _ = Token.objects.get_or_create(user=request.getfixturevalue(role))
        auths[role] = {"Authorization": f"Token {token.key}"}
    schema = schemathesis.openapi.from_wsgi("/api/schema/", wsgi_app, headers=auths[ROLES[0]])
    failures: dict[str, str] = {}
    answered: dict[str, Counter] = {role: Counter() for role in ROLES}
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        variants = [None]
        fixed = real_ids(operation.path, records)
        if fixed:
            variants.append(fixed)
        for path_parameters in variants:
            strategy = operation.as_strategy(path_parameters=path_parameters)

            @given(case=strategy)
            @hypothesis_settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def run(case):
                for role, auth in auths.items():
                    with transaction.atomic():
                        response = case.call(headers=auth)
                        transaction.set_rollback(True)
                    answered[role][response.status_code] += 1
                    try:
                        case.validate_response(response, checks=CHECKS)
                    except (AssertionError, FailureGroup) as exc:
                        key = f"{case.operation.method.upper()} {case.operation.path} as {role}"
                        failures.setdefault(key, f"{exc}\n{case.as_curl_command()}"[:1500])

            run()
    assert operations > 100, "the schema lost its operations"
    # Each role's requests were answered as that role: the product owner is refused what only
    # an admin may do (and the admin is not).
    assert answered["product_owner"][403] > answered["admin_user"][403], answered
    assert not failures, "\n\n".join(f"{k}:\n{v}" for k, v in sorted(failures.items()))
