"""`manage.py bench --only killswitch` runs end to end on a small scale: a real gunicorn on the
test database, pollers sending their ETags, and one switch-off that every poller sees."""

import pytest
from django.contrib.auth import get_user_model

from devtools.bench import incidents as bench
from devtools.bench import register as registry_bench
from incidents.models import KillSwitchToken
from registry.models import UseCase
from tests.readiness import DEADLINE_SECONDS

pytestmark = [
    # gunicorn reads the database on connections of its own: the data must be committed.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.slow,  # starts gunicorn
]


@pytest.fixture(autouse=True)
def _gunicorn_deadline(monkeypatch):
    # The benchmark's own 60 s for gunicorn to answer /healthz is short on a loaded machine.
    monkeypatch.setattr(bench, "READY_SECONDS", DEADLINE_SECONDS)


def test_every_poller_sees_the_switch_within_one_poll_interval(monkeypatch):
    registry_bench.seed(60)
    monkeypatch.setattr(bench, "FLOOR_SECONDS", 0.5)
    monkeypatch.setattr(bench, "FLOOR_ROUNDS", 1)
    figures = bench.run(
        actor=get_user_model().objects.get(username="bench.admin"),
        pollers=20,
        poll_seconds=1,
        duration=3,
        workers=2,
        threads=2,
        connections=5,  # the pollers share them, as behind a load balancer
    )
    for f in figures:
        print(f"{f.label}: {f.value:.3f} {f.unit}; {f.note}")  # shown when the test fails
    by_label = {f.label: f for f in figures}
    # The floor was measured on the same server: a constant-JSON view, and both poll answers.
    assert by_label["floor: constant-JSON Django view"].value > 0
    assert by_label["kill-switch poll answering 200, ratio to the floor"].value > 0
    assert by_label["kill-switch poll answering 304, ratio to the floor"].value > 0
    assert by_label["a 304's server CPU per request, ratio to a 200's"].value > 0
    before_django = "kill-switch poll answering 200, ratio to a constant JSON before Django"
    assert by_label[before_django].value > 0
    assert "5 shared keep-alive connections" in by_label["kill-switch polls answered"].note
    assert by_label["kill-switch polls answered"].value > 0
    # 20 systems every second offer 20 polls a second: the client says what it carried.
    offered = by_label["polls answered, ratio to polls offered"]
    assert offered.value > 0 and "20 polls/s" in offered.note, offered.note
    assert by_label["poll errors"].value == 0, by_label["poll errors"].note
    # Pollers sent what they last saw: the unchanged switch was answered without a body.
    assert by_label["polls answered 304 Not Modified"].value > 0
    seen = by_label["every poller saw the switch within"]
    assert seen.note.startswith("within one poll interval and the cache time"), seen.note
    assert "(1 s + 0.5 s," in seen.note  # the server's copy: at most half an interval old
    assert "0 stale answers after the cache time" in seen.note
    assert "2 use cases (20 systems) switched off" in seen.note
    late = by_label["answers 'on' received after the switch-off committed plus one poll interval"]
    assert late.value == 0
    assert seen.note.endswith("0 systems never saw it")
    assert 0 < seen.value <= 1 + 0.5 + bench.ALLOWANCE_SECONDS
    assert KillSwitchToken.objects.filter(name__startswith=bench.SYSTEM_NAME).count() == 20
    # The use cases are switched on again at the end, through the service (with history).
    polled = UseCase.objects.filter(kill_switch_tokens__name__startswith=bench.SYSTEM_NAME)
    assert not polled.filter(kill_switch_engaged=True).exists()
    assert polled.first().history.filter(history_change_reason__contains="benchmark").count() == 2
