"""My work (dashboard/work.py): what waits for each person after each workflow step, and for
flags, incidents, evidence and release approvals; the page, the dashboard's top panel and
the assessments' "To revise" tab; a fixed number of queries whatever the data size."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from assessments.models import ReviewAssignment, Status
from assessments.selectors import assessments_visible_to, to_revise
from compliance.models import Control, Evidence
from dashboard.work import my_work
from incidents.services.incidents import incident_open
from monitoring.services.flags import raise_cause_flag
from portal.access import can
from portal.models import Notification
from registry.services import releases
from tests.assessments.builders import COMPLETE, draft, move, to_status
from tests.factories import PASSWORD, ModelVersionFactory, UseCaseFactory, UserFactory
from tests.registry.test_releases import evaluate, release_setup

pytestmark = pytest.mark.django_db

ASSESSMENT_KINDS = {"draft", "review", "sign", "changes"}


@pytest.fixture
def use_case(retail, product_owner):
    far = timezone.localdate() + timedelta(days=400)
    return UseCaseFactory(
        business_unit=retail, owner=product_owner, title="Card fraud", next_review_date=far
    )


@pytest.fixture
def people(product_owner, risk_officer, dpo, leadership):
    return {"author": product_owner, "reviewers": [risk_officer, dpo], "approver": leadership}


def kinds(user) -> set[str]:
    return {item.kind for item in my_work(user)}


# After each step: author, the two reviewers, the approver, admin and auditor. ---------------
STEPS = {
    Status.DRAFT: {"product_owner": {"draft"}},
    Status.SUBMITTED: {"risk_officer": {"review"}, "dpo": {"review"}},
    Status.IN_REVIEW: {"risk_officer": {"review"}, "dpo": {"review"}},
    Status.CHANGES_REQUESTED: {"product_owner": {"changes"}},
    Status.APPROVED: {"leadership": {"sign"}},
    Status.SIGNED_OFF: {},
}


@pytest.mark.parametrize("step", list(STEPS))
@pytest.mark.parametrize(
    "role", ["product_owner", "risk_officer", "dpo", "leadership", "admin", "auditor"]
)
def test_inbox_after_each_workflow_step(step, role, use_case, people, personas):
    a = to_status(step, use_case=use_case, **people)
    person = personas[role]
    found = kinds(person)
    assert found & ASSESSMENT_KINDS == STEPS[step].get(role, set())
    # Listed exactly when the assessments' own rules let the person act.
    assert ("review" in found) == can(person, "assessments.review", a)
    assert ("sign" in found) == can(person, "assessments.sign_off", a)


def test_each_review_item_is_one_the_rules_let_the_person_take(use_case, people, risk_officer):
    a = to_status(Status.IN_REVIEW, use_case=use_case, **people)
    [item] = [i for i in my_work(risk_officer) if i.kind == "review"]
    assert item.link == a.get_absolute_url()
    assert can(risk_officer, "assessments.review", a)
    # Once they approved, it no longer waits for them, only for the DPO.
    move(a, risk_officer, "approve")
    assert "review" not in kinds(risk_officer)
    assert "review" in kinds(people["reviewers"][1])


def test_four_eyes_a_reviewer_who_wrote_it_is_not_asked(retail, risk_officer, dpo, leadership):
    own = UseCaseFactory(business_unit=retail, owner=risk_officer)
    a = move(draft(own, risk_officer, answers=COMPLETE), risk_officer, "submit")
    assert a.status == Status.SUBMITTED
    assert "review" not in kinds(risk_officer)
    assert "review" in kinds(dpo)


def test_changes_requested_shows_on_the_authors_dashboard_and_assessments_tab(
    client, use_case, people, product_owner
):
    a = to_status(Status.CHANGES_REQUESTED, use_case=use_case, **people)
    [item] = [i for i in my_work(product_owner) if i.kind == "changes"]
    asked = a.reviews.get(decision=ReviewAssignment.Decision.CHANGES_REQUESTED)
    who = asked.decided_by.get_full_name() or asked.decided_by.username
    assert item.why == f"{who}: Say who reviews the blocks."  # who asked, and their note
    assert item.since == asked.decided_at  # waiting since they asked
    client.force_login(product_owner)
    page = client.get(reverse("dashboard")).content.decode()
    assert a.reference in page and "Changes requested" in page
    tab = client.get(reverse("assessments:list") + "?tab=revise").content.decode()
    assert a.reference in tab
    assert 'To revise <span class="badge text-bg-secondary">1</span>' in tab
    # Submitted again: nothing to revise.
    move(a, product_owner, "submit")
    assert "changes" not in kinds(product_owner)


def test_a_flag_on_a_model_version_waits_for_the_models_owner_too(use_case, product_owner):
    """A flag names the use case and, for a model's breach, the version: both owners are
    asked to act; someone who owns neither is not."""
    model_owner = UserFactory(units=[use_case.business_unit])
    version = ModelVersionFactory(
        model__owner=model_owner, model__business_unit=use_case.business_unit
    )
    other = ModelVersionFactory(model__business_unit=use_case.business_unit)
    on_version = raise_cause_flag(
        use_case=use_case,
        model_version=version,
        cause="material_change:model",
        severity="medium",
        reason="Retrained",
        evidence={},
    )
    on_other = raise_cause_flag(
        use_case=UseCaseFactory(business_unit=use_case.business_unit),
        model_version=other,
        cause="material_change:other",
        severity="low",
        reason="Retrained elsewhere",
        evidence={},
    )

    def flagged(user) -> set[str]:
        return {i.title.split()[0] for i in my_work(user) if i.kind == "flag"}

    assert flagged(product_owner) == {on_version.reference}
    assert flagged(model_owner) == {on_version.reference}
    assert flagged(UserFactory(units=[use_case.business_unit])) == set()
    assert on_other.reference in flagged(other.model.owner)


def test_flags_and_incidents_on_what_a_person_owns(use_case, product_owner, risk_officer):
    flag = raise_cause_flag(
        use_case=use_case,
        cause="material_change:test",
        severity="high",
        reason="Purpose changed",
        evidence={},
    )
    incident = incident_open(
        actor=risk_officer,
        use_case=use_case,
        title="Wrong blocks",
        severity="sev2",
        detected_by="user_report",
        owner=product_owner,
        personal_data_breach=True,
    )
    items = my_work(product_owner)
    by_kind = {i.kind: i for i in items}
    assert by_kind["flag"].title.startswith(flag.reference)
    assert by_kind["incident"].link == incident.get_absolute_url()
    # The 72-hour clock of a personal data breach is a deadline, due first.
    assert by_kind["deadline"].due is not None
    assert items[0].kind == "deadline"
    assert {"flag", "incident", "deadline"}.isdisjoint(kinds(risk_officer))


def test_evidence_expiring_for_a_control_owner(risk_officer, dpo, retail):
    control = Control.objects.create(
        reference="CTL-9001", title="Access review", kind="process", owner=dpo
    )
    soon = Evidence.objects.create(
        reference="EV-9001",
        title="Q3 access review",
        effective_on=timezone.localdate() - timedelta(days=300),
        expires_on=timezone.localdate() + timedelta(days=5),
        attested_by=risk_officer,
        uploaded_by=risk_officer,
    )
    soon.controls.add(control)
    later = Evidence.objects.create(
        reference="EV-9002",
        title="Far off",
        effective_on=timezone.localdate(),
        expires_on=timezone.localdate() + timedelta(days=300),
        attested_by=dpo,
        uploaded_by=dpo,
    )
    later.controls.add(control)
    assert [i.title for i in my_work(dpo) if i.kind == "evidence"] == ["EV-9001 Q3 access review"]
    assert "evidence" in kinds(risk_officer)  # attested it


def test_release_approvals_wait_for_who_may_give_them(
    retail, product_owner, risk_officer, dpo, personas
):
    _, version = release_setup(retail, product_owner, tier="high", stage="canary")
    evaluate(product_owner, version)
    request = releases.promotion_request(
        actor=risk_officer, version=version, to_stage="partial", reason="Canary is clean."
    )
    for name, person in personas.items():
        listed = any(i.kind == "approval" for i in my_work(person))
        assert listed == can(person, "registry.decide_promotion", request), name
    assert any(i.kind == "approval" for i in my_work(product_owner))
    assert not any(i.kind == "approval" for i in my_work(risk_officer))  # asked for it


def test_my_work_page_lists_sorts_and_filters(client, use_case, people, risk_officer):
    to_status(Status.IN_REVIEW, use_case=use_case, **people)
    client.force_login(risk_officer)
    page = client.get(reverse("my-work"))
    assert page.status_code == 200
    assert use_case.reference in page.content.decode()
    only_flags = client.get(reverse("my-work") + "?kind=flag").content.decode()
    assert use_case.reference not in only_flags
    assert client.get(reverse("my-work") + "?kind=<script>").status_code == 200


def test_overdue_items_are_marked(client, use_case, people, risk_officer, settings):
    a = to_status(Status.IN_REVIEW, use_case=use_case, **people)
    type(a).objects.filter(pk=a.pk).update(submitted_at=timezone.now() - timedelta(days=40))
    client.force_login(risk_officer)
    page = client.get(reverse("my-work")).content.decode()
    assert "table-danger" in page and "overdue" in page


def _many(use_case, people, n):
    for _ in range(n):
        uc = UseCaseFactory(business_unit=use_case.business_unit, owner=people["author"])
        to_status(Status.IN_REVIEW, use_case=uc, **people)


@pytest.mark.parametrize("name", ["my-work", "dashboard"])
def test_queries_do_not_grow_with_the_data(
    name, client, use_case, people, risk_officer, django_assert_max_num_queries
):
    _many(use_case, people, 1)
    client.force_login(risk_officer)
    with CaptureQueriesContext(connection) as few:
        assert client.get(reverse(name)).status_code == 200
    _many(use_case, people, 4)
    with django_assert_max_num_queries(len(few.captured_queries)):
        page = client.get(reverse(name))
    assert page.status_code == 200


def test_my_work_page_query_budget(
    client, use_case, people, risk_officer, django_assert_max_num_queries
):
    _many(use_case, people, 3)
    client.force_login(risk_officer)
    with django_assert_max_num_queries(30):
        assert client.get(reverse("my-work")).status_code == 200


def test_password_is_not_needed_to_read(client, product_owner):
    client.login(username=product_owner.username, password=PASSWORD)
    assert client.get(reverse("my-work")).status_code == 200


def test_the_demo_leaves_notifications_and_work_for_its_people(demo_firm, settings):
    settings.DEBUG = True
    people = {u.username: u for u in get_user_model().objects.all()}
    told = [name for name, u in people.items() if Notification.objects.filter(recipient=u)]
    busy = [name for name, u in people.items() if my_work(u)]
    assert len(told) >= 3 and len(busy) >= 3, (told, busy)
    assert Notification.objects.filter(read_at__isnull=True).exists()
    assert Notification.objects.filter(read_at__isnull=False).exists()


def test_a_contributor_is_asked_to_revise_and_never_to_review_what_they_helped_write(
    use_case, people, product_owner, risk_officer, dpo
):
    """Contributors count as writers (assessments.selectors.written_by): the changes come
    back to them too, and four eyes keeps them off the review."""
    a = to_status(Status.CHANGES_REQUESTED, use_case=use_case, **people)
    type(a).objects.filter(pk=a.pk).update(contributor_ids=[dpo.pk])
    assert "changes" in kinds(dpo)
    move(a, product_owner, "submit")
    assert "changes" not in kinds(dpo)
    assert "review" not in kinds(dpo)
    assert "review" in kinds(risk_officer)


def test_changes_come_back_to_a_contributor_only_where_they_may_read_them(
    use_case, people, product_owner, dpo, outsider
):
    """What they contributed to comes back to a contributor only if they may read it (they see
    its use case, or their reviewer group was asked); to its author whatever its use case."""
    a = to_status(Status.CHANGES_REQUESTED, use_case=use_case, **people)
    type(a).objects.filter(pk=a.pk).update(contributor_ids=[dpo.pk, outsider.pk])
    assert "changes" in kinds(product_owner) and "changes" in kinds(dpo)
    assert "changes" not in kinds(outsider)  # another unit's use case
    assert not to_revise(outsider).exists() and a not in assessments_visible_to(outsider)
    elsewhere = UseCaseFactory(business_unit=outsider.business_units.get(), owner=outsider)
    type(a).objects.filter(pk=a.pk).update(use_case=elsewhere)
    assert "changes" in kinds(product_owner)  # theirs as author, wherever it is
    assert "changes" in kinds(outsider) and "changes" not in kinds(dpo)


def test_my_work_pages_a_long_list(client, use_case, people, settings):
    """A product owner of a large register has hundreds of items: fifty a page."""
    author = people["author"]
    for _ in range(52):
        uc = UseCaseFactory(business_unit=use_case.business_unit, owner=author)
        draft(uc, author)
    client.force_login(author)
    first = client.get(reverse("my-work")).content.decode()
    assert first.count("Not submitted yet") == 50
    assert "Page 1 of 2" in first and "page=2" in first
    second = client.get(reverse("my-work") + "?kind=draft&page=2").content.decode()
    assert second.count("Not submitted yet") == 2
    assert "kind=draft&amp;page=1" in second
    assert client.get(reverse("my-work") + "?page=abc").status_code == 200


def test_dashboard_panel_shows_the_first_five_of_my_work_and_counts_them_all(
    client, use_case, people, monkeypatch
):
    """The panel asks each source for its first five only (dashboard.work.work), yet shows
    the same five My work lists first and the same count; reviews and sign-offs are counted
    in full past the limit per source."""
    author = people["author"]
    for _ in range(4):
        uc = UseCaseFactory(business_unit=use_case.business_unit, owner=author)
        draft(uc, author)
    _many(use_case, people, 4)
    monkeypatch.setattr("dashboard.work.LIMIT", 3)
    client.force_login(author)
    everything = my_work(author)
    assert len(everything) == 3  # drafts, at most LIMIT a source
    page = client.get(reverse("dashboard")).content.decode()
    assert all(item.title in page for item in everything)
    risk_officer = people["reviewers"][0]
    waiting = my_work(risk_officer)
    assert [i.kind for i in waiting] == ["review"] * 3
    client.force_login(risk_officer)
    page = client.get(reverse("dashboard")).content.decode()
    assert all(item.title in page for item in waiting)
    assert 'My work</a> <span class="badge text-bg-secondary">3</span>' in page
    assert "4 assessments waiting for your review" in page
