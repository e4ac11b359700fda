"""Named counters behind reference numbers (portal/records.py reserve_numbers): one statement
that makes the counter at its first use, hands out consecutive numbers, and holds them until
the transaction ends."""

import threading

import pytest
from django.db import connection, connections, transaction

from portal.models import Sequence
from portal.records import next_number, next_reference, reserve_numbers
from tests.concurrency import run_together


@pytest.mark.django_db
def test_numbers_start_at_one_and_follow_on_per_name():
    assert next_reference("UC") == "UC-0001"
    assert next_reference("UC") == "UC-0002"
    assert next_number("FL") == 1
    assert reserve_numbers("FL", 3) == range(2, 5)
    assert next_number("FL") == 5
    assert next_reference("UC") == "UC-0003"
    assert dict(Sequence.objects.values_list("name", "last_value")) == {"UC": 3, "FL": 5}


@pytest.mark.django_db
def test_a_rolled_back_reservation_hands_its_numbers_out_again():
    next_number("AS")
    with pytest.raises(RuntimeError), transaction.atomic():
        assert reserve_numbers("AS", 2) == range(2, 4)
        raise RuntimeError("the change failed")
    assert next_number("AS") == 2


@pytest.mark.django_db
def test_a_count_below_one_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        reserve_numbers("UC", 0)


@pytest.mark.django_db(transaction=True)
def test_simultaneous_first_uses_get_different_numbers():
    if connection.vendor != "postgresql":
        pytest.skip("writers at once need PostgreSQL")

    def take():
        with transaction.atomic():
            return next_number("IN")

    assert sorted(run_together(take, n=4)) == [1, 2, 3, 4]


@pytest.mark.django_db(transaction=True)
def test_a_held_number_makes_the_next_taker_wait_for_the_commit():
    if connection.vendor != "postgresql":
        pytest.skip("writers at once need PostgreSQL")
    next_number("CH")
    taken, waited = threading.Event(), []

    def second():
        taken.wait(timeout=60)
        try:
            with transaction.atomic():
                waited.append(next_number("CH"))
        except Exception as exc:  # reported by the assertions below
            waited.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=second)
    with transaction.atomic():
        assert next_number("CH") == 2
        thread.start()
        taken.set()
        # The other taker blocks on the counter's row until this transaction ends (the
        # statistics are read afresh each time: a transaction keeps its first snapshot).
        with connection.cursor() as cursor:
            for _ in range(1200):
                cursor.execute("SELECT pg_stat_clear_snapshot()")
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND datname = current_database()"
                )
                if cursor.fetchone()[0] or waited:
                    break
                threading.Event().wait(0.05)
            else:
                pytest.fail("the second taker did not wait for the counter's lock within 60 s")
        assert not waited
    thread.join(timeout=60)
    assert waited == [3]
