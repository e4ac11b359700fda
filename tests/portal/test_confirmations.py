"""Destructive or rare actions ask first (issue 18): retiring a use case or a deployment,
rolling a deployment back, revoking a pipeline token or a kill-switch token. The pages offer
each as a link to a confirmation page that says what the action changes; only that page's
POST (confirm=1) acts, and a POST without it gets the page. Who may see and use each page
follows the action's own rule (portal.access.can), persona by persona."""

from dataclasses import dataclass

import pytest
from django.urls import reverse

from incidents.models import KillSwitchToken
from incidents.services.killswitch import kill_switch_token_create
from portal.access import can
from registry.models import Deployment, ModelApproval, ModelToken, UseCase
from registry.services import releases
from tests.factories import DeploymentFactory, ModelVersionFactory, ProductionUseCaseFactory

pytestmark = pytest.mark.django_db

PERSONAS = ["admin", "risk_officer", "product_owner", "leadership", "dpo", "auditor", "outsider"]


@dataclass
class Action:
    url: str
    rule: str
    on: object  # what the rule is asked about
    question: str  # the page's heading
    reason: bool  # whether the page asks why
    done: object  # () -> bool: whether the action happened
    page: str  # the page that used to act in one click and now links here


@pytest.fixture
def world(retail, admin_user):
    # Owned by someone in Retail who is none of the personas, as in the permission matrix.
    use_case = ProductionUseCaseFactory(business_unit=retail)
    previous = ModelVersionFactory(model__business_unit=retail, version="1.0")
    current = ModelVersionFactory(model=previous.model, version="2.0")
    ModelApproval.objects.create(use_case=use_case, model=previous.model, approved_by=admin_user)
    deployment = DeploymentFactory(
        use_case=use_case, model_version=current, environment="staging", traffic_share=100
    )
    deployment.previous_version = previous
    deployment.save()
    model_token, _ = releases.model_token_create(actor=admin_user, model=previous.model, name="ci")
    switch_token, _ = kill_switch_token_create(actor=admin_user, use_case=use_case, name="svc")
    return use_case, deployment, model_token, switch_token


def actions(world) -> dict[str, Action]:
    use_case, deployment, model_token, switch_token = world
    model = model_token.model

    def reread(model_class, pk):
        return model_class.objects.get(pk=pk)

    return {
        "retire use case": Action(
            reverse("registry:use-case-transition", args=[use_case.pk, "retire"]),
            "registry.change_usecase",
            use_case,
            f"Retire {use_case.reference}?",
            True,
            lambda: reread(UseCase, use_case.pk).lifecycle == "retired",
            use_case.get_absolute_url(),
        ),
        "roll back deployment": Action(
            reverse("registry:deployment-rollback", args=[deployment.pk]),
            "registry.deploy_usecase",
            use_case,
            f"Roll {model.name} back from 2.0 to 1.0?",
            True,
            lambda: reread(Deployment, deployment.pk).model_version.version == "1.0",
            use_case.get_absolute_url(),
        ),
        "retire deployment": Action(
            reverse("registry:deployment-retire", args=[deployment.pk]),
            "registry.deploy_usecase",
            use_case,
            f"Retire the staging deployment of {model.name} 2.0?",
            True,
            lambda: not reread(Deployment, deployment.pk).active,
            use_case.get_absolute_url(),
        ),
        "revoke model token": Action(
            reverse("registry:model-token-revoke", args=[model.pk, model_token.pk]),
            "registry.manage_model_tokens",
            model,
            "Revoke the pipeline token ci?",
            False,
            lambda: reread(ModelToken, model_token.pk).revoked_at is not None,
            reverse("registry:model-tokens", args=[model.pk]),
        ),
        "revoke kill-switch token": Action(
            reverse("incidents:kill-switch-token-revoke", args=[switch_token.pk]),
            "incidents.manage_kill_switch_tokens",
            use_case,
            "Revoke the kill-switch token of svc?",
            False,
            lambda: reread(KillSwitchToken, switch_token.pk).revoked_at is not None,
            reverse("incidents:kill-switch-tokens", args=[use_case.pk]),
        ),
    }


NAMES = [
    "retire use case",
    "roll back deployment",
    "retire deployment",
    "revoke model token",
    "revoke kill-switch token",
]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("persona", PERSONAS)
def test_who_may_see_the_confirmation_page(client, personas, persona, name, world):
    action = actions(world)[name]
    user = personas[persona]
    client.force_login(user)
    response = client.get(action.url)

    if can(user, action.rule, action.on):
        assert response.status_code == 200
        html = response.content.decode()
        assert action.question in html
        assert "What happens:" in html
        assert 'name="confirm" value="1"' in html
        assert ('name="reason"' in html) == action.reason
    else:
        assert response.status_code in (403, 404)
    assert not action.done()  # looking at the page changes nothing


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("persona", PERSONAS)
def test_who_may_use_the_confirmation_page(client, personas, persona, name, world):
    action = actions(world)[name]
    user = personas[persona]
    client.force_login(user)
    response = client.post(action.url, {"confirm": "1", "reason": "Done with it"})

    if can(user, action.rule, action.on):
        assert response.status_code == 302
        assert action.done()
    else:
        assert response.status_code in (403, 404)
        assert not action.done()


def test_the_matrix_lets_someone_in_and_keeps_someone_out(personas, world):
    # A matrix where everyone or no one may act would prove nothing.
    for name, action in actions(world).items():
        allowed = {p for p in PERSONAS if can(personas[p], action.rule, action.on)}
        assert "admin" in allowed and "outsider" not in allowed and "auditor" not in allowed, name


@pytest.mark.parametrize("name", NAMES)
def test_a_post_without_the_confirmation_gets_the_page_and_changes_nothing(
    client, admin_user, name, world
):
    action = actions(world)[name]
    client.force_login(admin_user)
    response = client.post(action.url, {"reason": "One click"})
    assert response.status_code == 200
    html = response.content.decode()
    assert action.question in html
    if action.reason:
        assert ">One click</textarea>" in html  # what was typed is kept
    assert not action.done()


@pytest.mark.parametrize("name", NAMES)
def test_the_page_that_offered_it_links_to_the_confirmation(client, admin_user, name, world):
    action = actions(world)[name]
    client.force_login(admin_user)
    html = client.get(action.page).content.decode()
    assert f'href="{action.url}"' in html
    assert f'action="{action.url}"' not in html  # no one-click form left


def test_a_confirmed_action_without_a_reason_is_refused_with_the_page(client, admin_user, world):
    for name in ("retire use case", "roll back deployment", "retire deployment"):
        action = actions(world)[name]
        client.force_login(admin_user)
        response = client.post(action.url, {"confirm": "1", "reason": "  "})
        assert response.status_code == 400, name
        assert 'aria-invalid="true"' in response.content.decode(), name
        assert not action.done(), name


def test_the_use_case_page_offers_retiring_in_its_actions_menu(client, admin_user, world):
    use_case = world[0]
    client.force_login(admin_user)
    html = client.get(use_case.get_absolute_url()).content.decode()
    menu = html.split('<details class="actions-menu">')[1].split("</details>")[0]
    retire = reverse("registry:use-case-transition", args=[use_case.pk, "retire"])
    assert f'href="{retire}"' in menu
    lifecycle = html.split('id="h-lifecycle"')[1].split("</section>")[0]
    assert ">Retire<" not in lifecycle  # not a one-click button beside the others
