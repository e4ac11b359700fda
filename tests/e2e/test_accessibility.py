"""axe-core on the main pages (issue 18): each page, opened in Chromium as the person who
uses it, with demo-like records made before the browser opens, has no WCAG 2 A or AA
violation axe-core can find.

axe-core comes from npm (package.json; `make setup` installs it into node_modules/) and is
injected by Playwright into the page as served; nothing is fetched from the internet. The
browser context bypasses the portal's Content-Security-Policy only so that the injected
script may run: what is checked is the page the portal sent.
"""

from pathlib import Path
from urllib.parse import urlparse

import pytest
from django.conf import settings
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from playwright.sync_api import Page, expect

from compliance.models import Framework
from dashboard.board_pack import board_pack_make, previous_month
from monitoring.services.evaluation import rules_evaluate
from tests.assessments.builders import draft
from tests.e2e.conftest import TIMEOUT_MS
from tests.factories import (
    DeploymentFactory,
    MetricSourceFactory,
    RuleFactory,
    complete_card,
    current_runbook,
)
from tests.incidents.incident_helpers import open_incident
from tests.monitoring.evaluation_helpers import record, switch_off_shipped_rules

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

AXE = Path(settings.BASE_DIR) / "node_modules" / "axe-core" / "axe.min.js"
# WCAG 2.0 and 2.1, levels A and AA.
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def _url(name: str, *args) -> str | None:
    """The path of a route, or None where the route does not exist (yet)."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


@pytest.fixture
def demo(retail, product_owner, risk_officer, admin_user, auditor):
    """A live use case with a deployment, card, runbook, metrics, a raised flag, an
    incident, an assessment in draft, a framework's obligations and a board pack; and the
    path of each page that shows them."""
    now = timezone.now()
    switch_off_shipped_rules()
    deployment = DeploymentFactory(
        use_case__business_unit=retail,
        use_case__owner=product_owner,
        use_case__title="Claims triage assistant",
        use_case__purpose="Sorts incoming claims by urgency for the claims team.",
    )
    use_case, version = deployment.use_case, deployment.model_version
    complete_card(version)
    current_runbook(use_case, product_owner)
    MetricSourceFactory(deployment=deployment)
    record(deployment, "error_rate", [0.01, 0.02, 0.5, 0.6, 0.7], end=now)
    RuleFactory(use_case=use_case, min_samples=5, window_minutes=15, threshold=0.05)
    rules_evaluate(now=now)
    flag = use_case.flags.order_by("pk").first()
    assessment = draft(use_case, product_owner)
    incident = open_incident(use_case, product_owner)
    start, end = previous_month(now.date())
    pack = board_pack_make(actor=None, start=start, end=end)
    framework = Framework.objects.filter(active=True).order_by("pk").first()
    section = assessment.definition["sections"][0]["key"]
    paths = {
        "dashboard": "/",
        "my work": _url("my-work"),
        "notifications": _url("notifications"),
        "search": _url("search:results"),
        "use case register": reverse("registry:use-case-list"),
        "use case": use_case.get_absolute_url(),
        "use case edit": reverse("registry:use-case-edit", args=[use_case.pk]),
        "use case new": reverse("registry:use-case-create"),
        "retire confirmation": reverse(
            "registry:use-case-transition", args=[use_case.pk, "retire"]
        ),
        "assessments": reverse("assessments:list"),
        "assessment": assessment.get_absolute_url(),
        "assessment section": reverse("assessments:section", args=[assessment.pk, section]),
        "models": reverse("registry:model-list"),
        "model": version.model.get_absolute_url(),
        "model edit": reverse("registry:model-edit", args=[version.model.pk]),
        "model card": version.get_absolute_url(),
        "data sources": reverse("registry:data-source-list"),
        "deployment monitoring": reverse("monitoring:deployment-detail", args=[deployment.pk]),
        "monitoring rules": reverse("monitoring:rule-list"),
        "flags": reverse("monitoring:flag-list"),
        "flag": reverse("monitoring:flag-detail", args=[flag.reference]) if flag else None,
        "incidents": reverse("incidents:incident-list"),
        "incident": reverse("incidents:incident-detail", args=[incident.reference]),
        "runbook": reverse("incidents:runbook", args=[use_case.pk]),
        "runbook edit": reverse("incidents:runbook-edit", args=[use_case.pk]),
        "compliance coverage": reverse("compliance:coverage"),
        "statement of applicability": (
            reverse("compliance:framework-soa", args=[framework.pk]) if framework else None
        ),
        "use case obligations": reverse("compliance:use-case-obligations", args=[use_case.pk]),
        "portfolio": reverse("portfolio"),
        "board packs": reverse("board-pack-list"),
        "board pack": reverse("board-pack", args=[pack.pk]),
        "people": reverse("people:person-list"),
        "profile": reverse("profile"),
        "history": reverse("history", args=["usecase", use_case.pk]),
        "audit log": reverse("audit-log"),
        "ledger": reverse("ledger"),
        "404 page": "/register/use-cases/999999/",
    }
    # As the person who is refused: an auditor may read the use case but not edit it.
    paths["403 page"] = paths["use case edit"]
    if paths["search"]:
        paths["search"] += "?q=claims"
    return {"paths": paths, "admin": admin_user, "auditor": auditor, "owner": product_owner}


# Who opens each page, where it is not the admin (who sees and may change everything): the
# author edits their draft and reads their own work; the auditor is the one refused.
AS = {
    "assessment section": "owner",
    "my work": "owner",
    "notifications": "owner",
    "profile": "owner",
    "403 page": "auditor",
}

PAGES = [
    "login",
    "dashboard",
    "my work",
    "notifications",
    "search",
    "use case register",
    "use case",
    "use case edit",
    "use case new",
    "retire confirmation",
    "assessments",
    "assessment",
    "assessment section",
    "models",
    "model",
    "model edit",
    "model card",
    "data sources",
    "deployment monitoring",
    "monitoring rules",
    "flags",
    "flag",
    "incidents",
    "incident",
    "runbook",
    "runbook edit",
    "compliance coverage",
    "statement of applicability",
    "use case obligations",
    "portfolio",
    "board packs",
    "board pack",
    "people",
    "profile",
    "history",
    "audit log",
    "ledger",
    "403 page",
    "404 page",
]


def _context(browser, live_server):
    # bypass_csp: the injected axe script is inline, which the portal's policy forbids.
    context = browser.new_context(base_url=live_server.url, bypass_csp=True)
    context.set_default_timeout(TIMEOUT_MS)
    return context


@pytest.fixture
def axe_page(browser, live_server):
    context = _context(browser, live_server)
    yield context.new_page()
    context.close()


def _sign_in(page: Page, user, password: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("User name").fill(user.username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1).first).to_be_visible()
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


def _violations(page: Page) -> list[dict]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags},"
        " resultTypes: ['violations']})",
        TAGS,
    )
    return result["violations"]


def _describe(violations: list[dict]) -> str:
    lines = []
    for v in violations:
        lines.append(f"{v['id']} ({v['impact']}): {v['help']} — {v['helpUrl']}")
        for node in v["nodes"][:10]:
            why = node.get("failureSummary", "").splitlines()[-1:]
            lines.append(f"    {node['target']} {node.get('html', '')[:120]} {why}")
    return "\n".join(lines)


def _check(page: Page, name: str, path: str) -> list[str]:
    """What is wrong with one page as this browser context's person opens it."""
    response = page.goto(path)
    if response is None:
        return [f"{name}: {path} gave no response"]
    expected = {"403 page": 403, "404 page": 404}.get(name, 200)
    if response.status != expected:
        return [f"{name}: {path} answered {response.status}, not {expected}"]
    if urlparse(page.url).path != urlparse(path).path:
        return [f"{name}: {path} sent to {page.url}"]
    page.wait_for_load_state("load")
    violations = _violations(page)
    return [f"{name} ({path}):\n{_describe(violations)}"] if violations else []


def test_no_page_has_accessibility_violations(demo, password, browser, live_server):
    """Every page of PAGES in turn, each as the person who uses it (AS), signed in through
    the sign-in form once per person (a browser context each), on one set of records. Every
    page is checked and every problem is reported, not only the first."""
    contexts: dict[str | None, Page] = {}
    problems: list[str] = []
    try:
        for name in PAGES:
            path = "/accounts/login/" if name == "login" else demo["paths"][name]
            if path is None:
                problems.append(f"{name}: no such page")
                continue
            who = None if name == "login" else AS.get(name, "admin")
            if who not in contexts:
                context = _context(browser, live_server)
                contexts[who] = context.new_page()
                if who is not None:
                    _sign_in(contexts[who], demo[who], password)
            problems += _check(contexts[who], name, path)
    finally:
        for page in contexts.values():
            page.context.close()
    assert not problems, "\n".join(problems)


def test_axe_finds_a_violation_when_there_is_one(axe_page: Page):
    """The check can fail: an image without alternative text is reported."""
    axe_page.goto("/accounts/login/")
    axe_page.evaluate(
        "() => document.querySelector('main').insertAdjacentHTML('beforeend', "
        "'<img src=\"/static/favicon.svg\">')"
    )
    assert "image-alt" in {v["id"] for v in _violations(axe_page)}
