"""Every URL pattern, pages and API alike, read (GET) as every persona, an outsider from
another unit and an anonymous visitor.

The patterns come from the URL registry (``get_resolver``, walked recursively, DRF's router
included), so a new route is walked without anyone adding it here; a route whose parameters
this module cannot fill fails the walk (``SEGMENTS`` and ``VALUES`` say how each parameter is
filled). What each person should get is derived from the named rules
(``portal.access.can``), not listed by hand:

- nobody ever gets a 5xx;
- anonymous is sent to sign in, or refused (401, 403, 405), except on ``PUBLIC`` routes;
- a person who may not view the record a route names never gets 200 (the outsider above all);
- a person who may view it gets 200 on its page.
"""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.http import QueryDict
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from assessments.models import Assessment, AssessmentTemplate
from compliance.models import Applicability, Obligation, SignedStatement
from compliance.services import library
from dashboard.board_pack import board_pack_make, previous_month
from incidents.services.killswitch import kill_switch_token_create
from incidents.services.webhooks import webhook_endpoint_create
from monitoring.models import Flag, MaterialChangeRule, MetricSample
from monitoring.services.evaluation import rules_evaluate
from portal.access import can
from portal.models import Notification
from registry import csvio
from registry.models import DataPolicyException, GoLiveRecord, ModelApproval, ReleasePolicy
from registry.services import releases
from tests.assessments.builders import draft
from tests.factories import (
    DataSourceFactory,
    DeploymentFactory,
    MetricSourceFactory,
    ModelVersionFactory,
    RuleFactory,
    current_runbook,
)
from tests.incidents.incident_helpers import open_incident
from tests.monitoring.evaluation_helpers import NOW, record, switch_off_shipped_rules

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

# Routes anyone may read without signing in (and why).
PUBLIC = {
    "login",  # signing in
    "password_reset",
    "password_reset_done",
    "password_reset_confirm",
    "password_reset_complete",
    "healthz",  # load balancers and monitors
    "readyz",
    "metrics",  # scraped by Prometheus inside the firm's network
    "people:join",  # an invitation link carries its own one-time token
    "logout",
    "admin:login",
}
# Routes not walked at all: the Django admin has its own permission system (staff only).
SKIPPED_PREFIXES = ("admin/",)
SIGN_IN = "/accounts/login/"


@dataclass(frozen=True)
class Route:
    name: str
    pattern: str  # the full pattern, e.g. "register/use-cases/<int:pk>/edit/"
    params: tuple[str, ...]


def _walk(patterns, prefix="", namespace=""):
    for p in patterns:
        if isinstance(p, URLResolver):
            ns = f"{namespace}{p.namespace}:" if p.namespace else namespace
            yield from _walk(p.url_patterns, prefix + str(p.pattern), ns)
        elif isinstance(p, URLPattern):
            full = prefix + str(p.pattern)
            names = tuple(re.findall(r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>", full))
            params = tuple(a or b for a, b in names)
            yield Route(f"{namespace}{p.name}", full, params)


def all_routes() -> list[Route]:
    return [
        r
        for r in _walk(get_resolver().url_patterns)
        if not r.pattern.startswith(SKIPPED_PREFIXES) and "format" not in r.params
    ]


# The record each path segment before a parameter names: (world key, rule to view it).
SEGMENTS = {
    "use-cases": ("use_case", "registry.view_usecase"),
    "start": ("use_case", "registry.view_usecase"),
    "runbooks": ("use_case", "incidents.view_runbook"),
    "budgets": ("use_case_ref", "monitoring.view_costs"),
    "gate": ("use_case_ref", "registry.view_usecase"),
    "go-live": ("go_live", "registry.view_usecase"),
    "deployments": ("deployment", "registry.view_deployment"),
    "models": ("model", "registry.view_aimodel"),
    "model-versions": ("version", "registry.view_aimodel"),
    "model-approvals": ("approval", None),
    "policy-exceptions": ("policy_exception", None),
    "data-sources": ("data_source", "registry.view_datasource"),
    "business-units": ("unit", "registry.view_businessunit"),
    "units": ("unit", "registry.view_businessunit"),
    "import": ("register_import", None),
    "assessments": ("assessment", "assessments.view_assessment"),
    "templates": ("template", "assessments.view_template"),
    "assessment-templates": ("template", "assessments.view_template"),
    "sources": ("metric_source", "monitoring.view_metrics"),
    "metric-sources": ("metric_source", "monitoring.view_metrics"),
    "metric-samples": ("sample", None),
    "flags": ("flag_ref", "monitoring.view_flag"),
    "from-flag": ("flag_ref", "monitoring.view_flag"),
    "rules": ("rule", "monitoring.view_rule"),
    "incidents": ("incident_ref", "incidents.view_incident"),
    "kill-switch-tokens": ("kill_switch_token", "incidents.view_runbook"),
    "webhooks": ("webhook", None),
    "webhook-endpoints": ("webhook", None),
    "people": ("person", "people.view_person"),
    "history": ("use_case", "registry.view_usecase"),
    "frameworks": ("framework", "compliance.view_framework"),
    "obligations": ("obligation", "compliance.view_framework"),
    "exclusions": ("obligation", "compliance.view_framework"),
    "controls": ("control", "compliance.view_control"),
    "evidence": ("compliance_evidence", "compliance.view_evidence"),
    "applicability": ("applicability", "compliance.view_applicability"),
    "board-packs": ("board_pack", "dashboard.view_board_pack"),
    # Read through their selectors (a promotion follows its version's model, a token whoever
    # may manage the model's tokens): no per-record rule, walked for no 5xx.
    "promotions": ("promotion", None),
    "tokens": ("model_token", None),
    "model-tokens": ("model_token", None),
    "evaluation-findings": ("evaluation_finding", None),
    "reviews": ("review", None),
    "statements": ("signed_statement", None),
    "signed-statements": ("signed_statement", None),
    "release-policies": ("release_policy", "registry.view_releasepolicy"),
    "material-change-rules": ("material_rule", "monitoring.view_material_rule"),
    "template-changes": ("template", "monitoring.view_template_changes"),
    # Each person's own (tests/portal/test_notifications.py walks who gets 404): no 5xx here.
    "notifications": ("notification", None),
}
# Parameters that name no record, or a second one beside the record of their segment.
VALUES = {
    "action": "submit",
    "transition": "submit",
    "section": "aims",
    "fmt": "md",
    "model": "usecase",
    "comment_pk": "comment",
    "file_pk": "evidence",
    "uidb64": "uidb64",
    "token": "reset_token",
}
# Routes whose record is read through a service's own check rather than a view rule, or that
# list a person's own things: no expectation is derived for them beyond no 5xx and the
# outsider never reading a Retail record.
SEGMENT_ALIASES = {
    "api/v1/^incidents/(?P<pk>": "incident",  # the API names incidents by id
    "api/v1/^flags/(?P<pk>": "flag",
    "incidents/runbooks/": "use_case",
    "incidents/use-cases/": "use_case",
    "join/": "invitation",
    "compliance/obligations/": "applicability",  # a use case's obligation (its row)
}


def _segment(route: Route, param: str) -> str:
    found = re.search(rf"<(?:\w+:)?{param}>|\(\?P<{param}>", route.pattern)
    assert found is not None
    before = route.pattern[: found.start()]
    parts = [p for p in re.split(r"[/^]", before) if p and not p.startswith(("(", "<"))]
    return parts[-1] if parts else ""


def fill(route: Route, world: dict) -> tuple[dict, tuple[object, str | None] | None]:
    """The route's parameters filled from the world, and (record, view rule) it names."""
    kwargs: dict = {}
    subject = None
    for param in route.params:
        alias = next(
            (k for prefix, k in SEGMENT_ALIASES.items() if route.pattern.startswith(prefix)),
            None,
        )
        if param in VALUES:
            kwargs[param] = world.get(VALUES[param], VALUES[param])  # a world key or as is
            if param == "token" and route.name == "people:join":
                kwargs[param] = world["invitation"]
            continue
        segment = _segment(route, param)
        if alias and param in ("pk", "use_case_id", "reference", "token"):
            key = alias
            rule = SEGMENTS.get(segment, (None, None))[1]
            if alias == "incident":
                rule = "incidents.view_incident"
            if alias == "flag":
                rule = "monitoring.view_flag"
        elif segment in SEGMENTS:
            key, rule = SEGMENTS[segment]
        else:
            raise LookupError(f"{route.name} ({route.pattern}): no way to fill {param!r}")
        value = world[key]
        kwargs[param] = value.pk if hasattr(value, "pk") else value
        record = world.get(key.removesuffix("_ref"), value)
        if key == "use_case_ref":
            record = world["use_case"]
        if key == "flag_ref":
            record = world["flag"]
        if key == "incident_ref":
            record = world["incident"]
        if subject is None:
            subject = (record, rule)
    return kwargs, subject


def path_for(route: Route, kwargs: dict) -> str:
    path = "/" + route.pattern
    for name, value in kwargs.items():
        path = re.sub(rf"\(\?P<{name}>[^)]*\)", str(value), path)  # DRF's router
        path = re.sub(rf"<(?:\w+:)?{name}>", str(value), path)
    return path.replace("^", "").replace("$", "").replace("\\.", ".").replace("/?", "/")


def compliance_world(use_case, risk_officer) -> dict:
    """A framework, an obligation of the use case, a control and its evidence (compliance)."""
    art9 = Obligation.objects.get(framework__key="eu-ai-act", framework__active=True, key="art-9")
    row = Applicability.objects.create(
        use_case=use_case, obligation=art9, applicable=True, reason="Walk", status="not_started"
    )
    control = library.control_create(
        actor=risk_officer,
        data={"title": "Walked", "kind": "policy", "owner": risk_officer, "frequency": "once"},
        obligations=[art9],
    )
    evidence = library.evidence_add(
        actor=risk_officer,
        data={"title": "Walked", "url": "https://e.example/", "effective_on": NOW.date()},
        controls=[control],
        use_cases=[use_case],
    )
    # A use case's statement as signed (made directly: this use case has no screening).
    signed = SignedStatement.objects.create(
        reference="SOA-9001",
        use_case=use_case,
        title="Walked",
        subject=use_case.reference,
        as_of=NOW.date(),
        rows=[],
        signed_by=risk_officer,
        signed_at=NOW,
        content="{}",
        sha256="0" * 64,
    )
    return {
        "signed_statement": signed,
        "framework": art9.framework,
        "obligation": art9,
        "applicability": row,
        "control": control,
        "compliance_evidence": evidence,
    }


@pytest.fixture
def world(retail, product_owner, risk_officer, admin_user, dpo, settings, tmp_path):
    """One record of each kind in Retail, made as the services would."""
    settings.MEDIA_ROOT = str(tmp_path)
    switch_off_shipped_rules()
    deployment = DeploymentFactory(use_case__business_unit=retail, use_case__owner=product_owner)
    use_case = deployment.use_case
    current_runbook(use_case, product_owner)
    source = MetricSourceFactory(deployment=deployment)
    record(deployment, "error_rate", [0.5] * 5)
    rule = RuleFactory(use_case=use_case, min_samples=5, window_minutes=15, threshold=0.05)
    rules_evaluate(now=NOW)
    assessment = draft(use_case, product_owner)
    incident = open_incident(use_case, product_owner)
    token, _raw = kill_switch_token_create(actor=admin_user, use_case=use_case, name="svc")
    webhook, _secret = webhook_endpoint_create(
        actor=admin_user, name="On-call", url="http://hooks.example.com/steward"
    )
    batch, _ = csvio.import_preview(actor=product_owner, filename="r.csv", content="title\n")
    return {
        "use_case": use_case,
        "use_case_ref": use_case.reference,
        "deployment": deployment,
        "version": deployment.model_version,
        "model": deployment.model_version.model,
        "data_source": DataSourceFactory(business_unit=retail, owner=product_owner),
        "unit": retail,
        "assessment": assessment,
        "template": AssessmentTemplate.objects.order_by("pk").first(),
        "metric_source": source,
        "sample": MetricSample.objects.filter(deployment=deployment).first(),
        "rule": rule,
        "flag": Flag.objects.get(rule=rule),
        "flag_ref": Flag.objects.get(rule=rule).reference,
        "incident": incident,
        "incident_ref": incident.reference,
        "kill_switch_token": token,
        "webhook": webhook,
        "person": product_owner,
        "register_import": batch,
        # Records no factory here makes: a missing one is walked as an id nobody has (404).
        "go_live": GoLiveRecord.objects.first() or 999_999,
        "approval": ModelApproval.objects.first() or 999_999,
        "policy_exception": DataPolicyException.objects.first() or 999_999,
        "comment": 999_999,
        "evidence": 999_999,
        "invitation": "not-an-invitation",
        "uidb64": urlsafe_base64_encode(force_bytes(product_owner.pk)),
        "reset_token": default_token_generator.make_token(product_owner),
        **compliance_world(use_case, risk_officer),
        "board_pack": board_pack_make(
            actor=None, start=previous_month(NOW.date())[0], end=previous_month(NOW.date())[1]
        ),
        **release_world(deployment.model_version.model, admin_user),
        "material_rule": MaterialChangeRule.objects.order_by("pk").first(),
        "review": 999_999,
        "notification": Notification.objects.order_by("pk").first() or 999_999,
    }


def release_world(model, admin_user) -> dict:
    """A promotion waiting for approval, an evaluation with a finding, a model token."""
    candidate = ModelVersionFactory(
        model=model, stage="shadow", stage_changed_at=NOW - timedelta(days=30)
    )
    record = releases.evaluation_record(
        actor=admin_user,
        version=candidate,
        data={
            "name": "Walk",
            "dataset": "walk",
            "findings": [{"kind": "red_team", "title": "Walked", "severity": "low"}],
        },
    )
    token, _raw = releases.model_token_create(actor=admin_user, model=model, name="pipeline")
    return {
        "promotion": releases.promotion_request(
            actor=admin_user,
            version=candidate,
            to_stage="canary",
            reason="Walk",
            traffic_share=5,
        ),
        "evaluation_finding": record.findings.get(),
        "model_token": token,
        "release_policy": ReleasePolicy.objects.order_by("pk").first(),
    }


def test_every_route_can_be_filled(world):
    unfilled = []
    for route in all_routes():
        try:
            fill(route, world)
        except LookupError as exc:
            unfilled.append(str(exc))
    assert not unfilled, "Say how to fill these routes' parameters:\n" + "\n".join(unfilled)


def _get(client: Client, path: str, data: dict | None = None):
    return client.get(path, data, HTTP_ACCEPT="text/html,application/json")


def walked(world: dict):
    """Every route with its path filled from ``world``, and the record and rule it names."""
    for route in all_routes():
        kwargs, subject = fill(route, world)
        yield route, path_for(route, kwargs), subject


def test_anonymous_is_sent_to_sign_in_or_refused(world):
    client = Client()
    wrong = []
    for route, path, _ in walked(world):
        response = _get(client, path)
        status = response.status_code
        if status >= 500:
            wrong.append(f"{status} {path} ({route.name})")
        elif route.name in PUBLIC or (status == 302 and response.url.startswith(SIGN_IN)):
            continue
        elif status not in (401, 403, 405):
            wrong.append(f"{status} {path} ({route.name}): anonymous not refused")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(
    "persona",
    ["admin", "risk_officer", "product_owner", "leadership", "dpo", "auditor", "outsider"],
)
def test_each_persona_gets_what_the_rules_say(world, personas, persona):
    user = personas[persona]
    client = Client()
    client.force_login(user)
    wrong = []
    for route, path, subject in walked(world):
        response = _get(client, path)
        status = response.status_code
        if status >= 500:
            wrong.append(f"{status} {path} ({route.name})")
            continue
        if subject is None:
            continue
        record, rule = subject
        if rule is None or not hasattr(record, "pk"):
            continue
        allowed = can(user, rule, record)
        if not allowed and status == 200:
            wrong.append(f"200 {path} ({route.name}): {persona} may not {rule} on it")
        if allowed and status == 404 and _is_page_of(route):
            wrong.append(f"404 {path} ({route.name}): {persona} may {rule} on it")
    assert not wrong, "\n".join(wrong)


# Page numbers no list has, or that are not numbers: each route shows its last page, its
# first, or says not found; none fails (a number past a bigint reached the database as an
# offset once, a 500 in the history API).
ODD_PAGES = ["9" * 20, "0", "-1", "x", "2.5"]

# What a view did with a query string, as ``_query_reads`` notes it: the names it asked for,
# or WHOLE when it looked at the query string as a whole (its length, its keys, a copy).
WHOLE = "*"
_ASKED_BY_NAME = ("__getitem__", "__contains__", "get", "getlist", "_getlist", "setdefault")
_READ_WHOLE = (
    "__iter__", "__len__", "__eq__", "keys", "items", "values", "lists", "dict", "copy",
    "__copy__", "__deepcopy__", "urlencode",
)  # fmt: skip


@contextmanager
def _query_reads() -> Iterator[set[str]]:
    """The parameters any query string (``request.GET``, DRF's ``query_params``) was read for
    inside the block, noted as each ``QueryDict`` method is called."""
    reads: set[str] = set()
    saved = {name: QueryDict.__dict__.get(name) for name in _ASKED_BY_NAME + _READ_WHOLE}

    def noting(name: str, by_name: bool):
        method = getattr(QueryDict, name)

        def noted(self, *args, **kwargs):
            reads.add(str(args[0]) if by_name and args else WHOLE)
            return method(self, *args, **kwargs)

        return noted

    for name in _ASKED_BY_NAME + _READ_WHOLE:
        setattr(QueryDict, name, noting(name, name in _ASKED_BY_NAME))
    try:
        yield reads
    finally:
        for name, method in saved.items():
            if method is None:
                delattr(QueryDict, name)
            else:
                setattr(QueryDict, name, method)


def test_odd_page_numbers_on_every_route_never_fail(world, admin_user):
    """Every route that reads ``page`` (or its whole query string) is asked for odd pages; a
    route that never looks at it answers ``?page=x`` as it answers without it, which the other
    walks read already."""
    client = Client()
    client.force_login(admin_user)
    wrong = []
    paged = set()
    for route, path, _ in walked(world):
        with _query_reads() as reads:
            response = _get(client, path)
        if response.status_code >= 500:
            wrong.append(f"{response.status_code} {path} ({route.name})")
        if not reads & {"page", WHOLE}:
            continue
        paged.add(route.name)
        for page in ODD_PAGES:
            response = _get(client, path, {"page": page})
            if response.status_code >= 500:
                wrong.append(f"{response.status_code} {path}?page={page} ({route.name})")
    assert not wrong, "\n".join(wrong)
    # The lists that page, on pages and in the API, were among them.
    assert {"registry:use-case-list", "api-use-case-list", "history", "api-history"} <= paged


def test_a_route_is_seen_reading_its_page_or_not():
    client = Client()
    with _query_reads() as reads:
        client.get("/healthz", {"page": "2"})
    assert "page" not in reads and WHOLE not in reads
    query = QueryDict("page=2&q=x")
    with _query_reads() as reads:
        assert query.get("page") == "2"
    with _query_reads() as whole:
        assert len(query) == 2
    assert reads == {"page"} and whole == {WHOLE}
    assert query.get("q") == "x" and "page" in query  # the methods are themselves again


def _is_page_of(route: Route) -> bool:
    """The record's own page (``.../<pk>/``), which whoever may view it must be able to read."""
    return bool(re.search(r"(<int:pk>|<str:reference>|\(\?P<pk>[^)]*\))/\$?$", route.pattern))


def test_assessments_and_records_in_the_world_are_real(world):
    # The walk means something only if the records it names exist.
    assert Assessment.objects.filter(pk=world["assessment"].pk).exists()
    assert world["flag"].use_case == world["use_case"]
