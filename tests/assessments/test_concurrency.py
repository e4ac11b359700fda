"""Two saves of the same assessment at the same moment, on two database connections."""

import threading

import pytest
from django.db import connection, connections

from assessments import services
from assessments.models import Assessment
from tests.assessments.builders import draft
from tests.factories import UseCaseFactory


# A transaction per thread needs real commits; serialized_rollback restores what the
# migrations made (roles, routing rules, built-in templates) for the tests after it.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_simultaneous_saves_from_one_revision_let_exactly_one_through(
    retail, product_owner, risk_officer
):
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    use_case = UseCaseFactory(business_unit=retail, owner=product_owner)
    a = draft(use_case, product_owner)
    base = a.revision
    start = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def save(person, text):
        try:
            start.wait()
            services.assessment_save_answers(
                actor=person,
                assessment=Assessment.objects.get(pk=a.pk),
                answers={"aims": text},
                base_revision=base,
            )
            outcomes[text] = "saved"
        except services.EditConflict as exc:
            outcomes[text] = f"refused: {exc.changes[0]['now']}"
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=save, args=(product_owner, "Owner's aim")),
        threading.Thread(target=save, args=(risk_officer, "Risk officer's aim")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    assert sorted(v.split(":")[0] for v in outcomes.values()) == ["refused", "saved"]
    winner = next(k for k, v in outcomes.items() if v == "saved")
    loser = next(k for k, v in outcomes.items() if v != "saved")
    # The refused one is told what the winner wrote; the winner's text is what is stored.
    assert outcomes[loser] == f"refused: {winner}"
    a.refresh_from_db()
    assert a.answers["aims"] == winner and a.revision == base + 1
