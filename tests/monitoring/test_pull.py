"""Pulling sources against real HTTP servers: health, failures, back-off, claims, no duplicates."""

import json
import threading
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection, transaction
from django.utils import timezone

from monitoring import connectors
from monitoring.models import MetricSample, MetricSource
from monitoring.services import pull
from monitoring.services.pull import claim_due_sources, dispatch_due_sources, source_pull
from portal.crypto import encrypt
from portal.outbound import no_answer
from tests.factories import DeploymentFactory, MetricSourceFactory
from tests.monitoring.servers import Answer, MlflowHistory, TestServer, closed_port

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _pull_settings(settings):
    settings.MONITORING_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    settings.MONITORING_RETRIES = 2
    settings.MONITORING_RETRY_BACKOFF_SECONDS = 0.01
    settings.MONITORING_TIMEOUT_SECONDS = 2.0


@pytest.fixture
def server():
    with TestServer() as running:
        yield running


STATS = {
    "model": {"errors": {"rate": 0.04}, "latency": [{"p95": 180}]},
    "at": "2026-11-02T08:59:00Z",
}
CONFIG = {"metrics": {"error_rate": "model.errors.rate", "latency_ms": "model.latency.0.p95"}}


def _source(server, path="/stats", **fields):
    fields.setdefault("config", {**CONFIG, "timestamp": "at"})
    return MetricSourceFactory(url=server.url(path), **fields)


def _series(source):
    return sorted(
        MetricSample.objects.filter(source=source).values_list("metric", "feature", "value")
    )


@pytest.mark.slow
def test_a_pull_writes_samples_and_records_health(server):
    server.answer("/stats", json=STATS)
    source = _source(server)

    outcome = source_pull(source_id=source.pk, now=T0)

    assert outcome.as_dict() == {
        "source_id": source.pk,
        "status": "ok",
        "read": 2,
        "written": 2,
        "attempts": 1,
        "error": "",
    }
    assert _series(source) == [("error_rate", "", 0.04), ("latency_ms", "", 180.0)]
    assert set(MetricSample.objects.values_list("at", flat=True)) == {
        datetime(2026, 11, 2, 8, 59, tzinfo=UTC)
    }
    source.refresh_from_db()
    assert source.last_success_at == T0
    assert source.last_sample_count == 2
    assert source.failures_in_row == 0
    assert source.claimed_until is None
    assert source.pulled_until == T0
    assert source.healthy is True
    assert source.history.count() == 1  # the factory's; health adds no versions


@pytest.mark.slow
def test_pulling_the_same_window_again_adds_no_duplicates(server):
    server.answer("/stats", json=STATS)
    source = _source(server)

    source_pull(source_id=source.pk, now=T0)
    again = source_pull(source_id=source.pk, now=T0 + timedelta(minutes=1))

    assert (again.read, again.written) == (2, 0)
    assert MetricSample.objects.count() == 2


@pytest.mark.slow
def test_items_are_read_with_their_own_time_and_feature(server):
    server.answer(
        "/drift",
        json={
            "data": {
                "features": [
                    {"name": "age", "psi": 0.12, "ts": 1_762_070_400},
                    {"name": "income", "psi": 0.31, "ts": 1_762_070_400},
                ]
            }
        },
    )
    source = _source(
        server,
        "/drift",
        config={
            "items": "data.features",
            "metrics": {"drift.psi": "psi"},
            "feature": "name",
            "timestamp": "ts",
        },
    )

    source_pull(source_id=source.pk, now=T0)

    assert _series(source) == [("drift.psi", "age", 0.12), ("drift.psi", "income", 0.31)]


@pytest.mark.slow
def test_without_a_timestamp_path_samples_are_stamped_with_the_pull(server):
    server.answer("/stats", json=STATS)
    source = _source(server, config=CONFIG)

    source_pull(source_id=source.pk, now=T0.replace(microsecond=123))

    assert set(MetricSample.objects.values_list("at", flat=True)) == {T0}


@pytest.mark.slow
def test_credentials_are_sent_to_the_server(server):
    server.answer("/stats", json=STATS)
    source = _source(server, credentials_encrypted=encrypt({"username": "svc", "password": "pw"}))

    assert source_pull(source_id=source.pk, now=T0).status == "ok"

    assert server.requests[0].headers["authorization"] == "Basic c3ZjOnB3"


@pytest.mark.slow
def test_mlflow_run_history_is_read_with_millisecond_times(server):
    history = {
        "accuracy": [
            {"key": "accuracy", "value": 0.91, "timestamp": 1_762_070_400_000, "step": 0},
            {"key": "accuracy", "value": 0.93, "timestamp": 1_762_070_460_500, "step": 1},
        ]
    }

    def get_history(request):
        query = parse_qs(urlsplit(request.path).query)
        assert query["run_id"] == ["run42"]

        return Answer(
            body=json.dumps({"metrics": history.get(query["metric_key"][0], [])}).encode()
        )

    server.routes["/api/2.0/mlflow/metrics/get-history"] = get_history
    source = MetricSourceFactory(
        kind="mlflow",
        url=server.url("/"),
        config={"run_id": "run42", "metrics": {"quality": "accuracy", "error_rate": "errors"}},
    )

    outcome = source_pull(source_id=source.pk, now=T0)

    assert outcome.status == "ok", outcome.error
    rows = list(MetricSample.objects.order_by("at").values_list("metric", "at", "value"))
    assert rows == [
        ("quality", datetime(2025, 11, 2, 8, 0, tzinfo=UTC), 0.91),
        ("quality", datetime(2025, 11, 2, 8, 1, 0, 500000, tzinfo=UTC), 0.93),
    ]


# Failures: each recorded on the source, nothing written, the next pull fine -----------------
def _assert_failed_then_recovers(source, outcome, message, fix):
    assert outcome.status == "failed"
    assert outcome.error == message
    source.refresh_from_db()
    assert source.last_error == message
    assert source.last_error_at == T0
    assert source.failures_in_row == 1
    assert source.claimed_until is None
    assert source.healthy is False
    assert source.next_due_at == T0 + timedelta(seconds=source.interval_seconds)
    assert not MetricSample.objects.exists()

    fix()
    later = T0 + timedelta(minutes=5)
    recovered = source_pull(source_id=source.pk, now=later)

    assert recovered.status == "ok", recovered.error
    source.refresh_from_db()
    assert source.failures_in_row == 0
    assert source.last_success_at == later
    assert source.last_error == message  # kept, with its time, for the page
    assert MetricSample.objects.filter(source=source).count() == 2


@pytest.mark.slow
def test_a_source_that_is_down_is_recorded_and_recovers():
    port = closed_port()
    source = MetricSourceFactory(url=f"http://127.0.0.1:{port}/stats", config=CONFIG)

    outcome = source_pull(source_id=source.pk, now=T0)

    assert outcome.attempts == 3  # a connection error is worth retrying
    assert outcome.error.startswith(f"no HTTP answer from 127.0.0.1:{port} within")
    with TestServer(port=port) as back:
        back.answer("/stats", json=STATS)
        _assert_failed_then_recovers(source, outcome, outcome.error, lambda: None)


@pytest.mark.slow
def test_a_timeout_is_recorded_and_recovers(server, settings):
    settings.MONITORING_TIMEOUT_SECONDS = 0.3
    settings.MONITORING_RETRIES = 0
    server.answer("/stats", json=STATS, delay=1.5)
    source = _source(server, config=CONFIG)

    outcome = source_pull(source_id=source.pk, now=T0)

    _assert_failed_then_recovers(
        source,
        outcome,
        no_answer(source.url, 0.3),
        lambda: server.answer("/stats", json=STATS),
    )


@pytest.mark.slow
def test_a_server_error_is_retried_recorded_and_recovers(server):
    server.answer("/stats", status=500, body="")
    source = _source(server, config=CONFIG)

    outcome = source_pull(source_id=source.pk, now=T0)

    assert outcome.attempts == 3
    assert len(server.requests) == 3
    _assert_failed_then_recovers(
        source,
        outcome,
        f"HTTP 500 from {server.url('/stats')}",
        lambda: server.answer("/stats", json=STATS),
    )


@pytest.mark.slow
def test_malformed_json_is_not_retried_recorded_and_recovers(server):
    server.answer("/stats", body='{"model": {"errors": ')
    source = _source(server, config=CONFIG)

    outcome = source_pull(source_id=source.pk, now=T0)

    assert outcome.attempts == 1
    assert outcome.error.startswith(f"the answer from {server.url('/stats')} is not JSON")
    _assert_failed_then_recovers(
        source, outcome, outcome.error, lambda: server.answer("/stats", json=STATS)
    )


@pytest.mark.slow
def test_a_missing_path_writes_nothing_of_the_rest(server):
    server.answer("/stats", json={"model": {"errors": {"rate": 0.04}, "latency": []}})
    source = _source(server, config=CONFIG)

    outcome = source_pull(source_id=source.pk, now=T0)

    _assert_failed_then_recovers(
        source,
        outcome,
        "nothing at 'model.latency.0.p95' in the answer",
        lambda: server.answer("/stats", json=STATS),
    )


@pytest.mark.slow
def test_an_oversized_body_is_recorded_and_recovers(server, settings):
    settings.MONITORING_MAX_RESPONSE_BYTES = 2048
    server.answer("/stats", json={**STATS, "padding": "x" * 5000})
    source = _source(server, config=CONFIG)

    outcome = source_pull(source_id=source.pk, now=T0)

    assert outcome.attempts == 1
    _assert_failed_then_recovers(
        source, outcome, "response larger than 2 KB", lambda: server.answer("/stats", json=STATS)
    )


@pytest.mark.slow
def test_a_redirect_to_a_private_address_is_recorded_and_recovers(server):
    server.redirect("/stats", "http://10.0.0.5/stats")
    source = _source(server, config=CONFIG)

    outcome = source_pull(source_id=source.pk, now=T0)

    assert outcome.attempts == 1
    _assert_failed_then_recovers(
        source,
        outcome,
        "refused redirect to http://10.0.0.5/stats: 10.0.0.5 is a private address",
        lambda: server.answer("/stats", json=STATS),
    )


@pytest.mark.slow
def test_failures_in_a_row_back_off_up_to_an_hour(server):
    server.answer("/stats", status=502, body="")
    source = _source(server, config=CONFIG, interval_seconds=600)
    waits = []
    for n in range(5):
        now = T0 + timedelta(hours=n)
        source_pull(source_id=source.pk, now=now)
        source.refresh_from_db()
        waits.append((source.next_due_at - now).total_seconds())

    assert waits == [600, 1200, 2400, 3600, 3600]
    assert source.failures_in_row == 5


# Dispatch and claims ------------------------------------------------------------------------
@pytest.mark.slow
def test_dispatch_queues_due_sources_once(server, django_capture_on_commit_callbacks):
    server.answer("/stats", json=STATS)
    due = _source(server, config=CONFIG)
    not_due = _source(server, config=CONFIG)
    MetricSource.objects.filter(pk=not_due.pk).update(
        next_due_at=timezone.now() + timedelta(hours=1)
    )
    disabled = _source(server, config=CONFIG, enabled=False)
    retired = _source(server, config=CONFIG, deployment=DeploymentFactory(active=False))
    push = MetricSourceFactory(kind="push", url="", config={})

    with django_capture_on_commit_callbacks(execute=True):
        assert dispatch_due_sources() == 1  # tasks run in-process in tests: the pull happens

    due.refresh_from_db()
    assert due.last_success_at is not None
    assert due.next_due_at > timezone.now() + timedelta(seconds=50)
    assert MetricSample.objects.filter(source=due).count() == 2
    for other in (not_due, disabled, retired, push):
        assert not MetricSample.objects.filter(source=other).exists()
    with django_capture_on_commit_callbacks(execute=True):
        assert dispatch_due_sources() == 0


def test_a_one_minute_source_is_pulled_at_every_tick_even_when_ticks_wobble():
    # Beat's ticks a minute apart, each up to 2 s early or late (queueing, clocks): the next
    # due time comes from the source's slot, not from when the tick ran, so none is skipped.
    source = MetricSourceFactory(interval_seconds=60)
    start = timezone.now()
    wobble = [0.0, -2.0, 1.5, -0.01, 2.0, -1.9, 0.3, -2.0, -2.0, 1.0, 0.0, -0.5, 2.0, -1.0]
    pulled = 0
    for minute, off in enumerate(wobble):
        tick = start + timedelta(minutes=minute, seconds=off)
        with transaction.atomic():
            pulled += claim_due_sources(now=tick) == [source.pk]
        MetricSource.objects.filter(pk=source.pk).update(claimed_until=None)  # the pull ended
    assert pulled == len(wobble)
    source.refresh_from_db()
    # Still on its slots: a whole number of minutes after the first pull's.
    assert (source.next_due_at - (start + timedelta(minutes=1))).total_seconds() % 60 == 0


def test_slots_missed_while_nothing_ran_are_skipped_not_caught_up():
    source = MetricSourceFactory(interval_seconds=60)
    start = timezone.now()
    with transaction.atomic():
        claim_due_sources(now=start)
    MetricSource.objects.filter(pk=source.pk).update(claimed_until=None)
    later = start + timedelta(minutes=10, seconds=30)  # beat was down for ten minutes
    with transaction.atomic():
        assert claim_due_sources(now=later) == [source.pk]
    MetricSource.objects.filter(pk=source.pk).update(claimed_until=None)
    source.refresh_from_db()
    assert source.next_due_at == start + timedelta(minutes=11)
    with transaction.atomic():
        assert claim_due_sources(now=later + timedelta(seconds=5)) == []  # one pull, not ten


def test_a_claimed_source_is_not_claimed_again_until_its_lease_ends():
    source = MetricSourceFactory()
    now = timezone.now()
    with transaction.atomic():
        assert claim_due_sources(now=now) == [source.pk]
    MetricSource.objects.filter(pk=source.pk).update(next_due_at=None)  # due again, still leased

    with transaction.atomic():
        assert claim_due_sources(now=now + timedelta(seconds=30)) == []
    source.refresh_from_db()
    with transaction.atomic():
        assert claim_due_sources(now=source.claimed_until + timedelta(seconds=1)) == [source.pk]


@pytest.mark.slow
def test_a_worker_that_died_mid_pull_does_not_block_the_next_one(server):
    server.answer("/stats", json=STATS)
    source = _source(server, config=CONFIG)
    # As a pull leaves it when its worker dies after claiming.
    MetricSource.objects.filter(pk=source.pk).update(
        last_attempt_at=T0, claimed_until=T0 + timedelta(minutes=2)
    )
    assert source_pull(source_id=source.pk, now=T0 + timedelta(minutes=1)).status == "skipped"

    later = T0 + timedelta(minutes=3)
    with transaction.atomic():
        assert claim_due_sources(now=later) == [source.pk]
    assert source_pull(source_id=source.pk, now=later).status == "ok"


def _in_thread(target, *args):
    """Run in a thread with its own database connection, closed at the end."""
    result = {}

    def run():
        try:
            result["value"] = target(*args)
        except BaseException as exc:  # re-raised in the test's thread
            result["error"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_dispatchers_at_once_never_claim_the_same_source():
    sources = {MetricSourceFactory().pk for _ in range(5)}
    now = timezone.now()
    holding = threading.Barrier(2, timeout=10)

    def first():
        with transaction.atomic():
            claimed = claim_due_sources(now=now, limit=3)
            holding.wait()  # the second claims while these rows are locked and uncommitted
            holding.wait()
        return claimed

    def second():
        holding.wait()
        with transaction.atomic():
            claimed = claim_due_sources(now=now)
        holding.wait()
        return claimed

    (a, first_result), (b, second_result) = _in_thread(first), _in_thread(second)
    a.join(20)
    b.join(20)
    for result in (first_result, second_result):
        assert "error" not in result, result.get("error")
    one, other = first_result["value"], second_result["value"]

    assert len(one) == 3
    assert set(one).isdisjoint(other)
    assert set(one) | set(other) == sources
    with transaction.atomic():
        assert claim_due_sources(now=now) == []


@pytest.mark.slow
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_workers_pulling_one_source_at_once_fetch_it_once(server):
    server.answer("/stats", json=STATS, delay=0.5)
    source = _source(server, config=CONFIG)
    start = threading.Barrier(2, timeout=10)

    def pull():
        start.wait()
        return source_pull(source_id=source.pk).status

    threads = [_in_thread(pull) for _ in range(2)]
    for thread, _ in threads:
        thread.join(20)
    statuses = sorted(result.get("value") or repr(result.get("error")) for _, result in threads)

    assert statuses == ["ok", "skipped"]
    assert len(server.requests) == 1
    assert MetricSample.objects.count() == 2


def test_dispatch_takes_batch_after_batch_until_none_are_due(
    monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(pull, "DISPATCH_LIMIT", 2)
    sources = [MetricSourceFactory() for _ in range(6)]

    with django_capture_on_commit_callbacks() as queued:
        assert dispatch_due_sources() == 6

    # One queueing per batch, each after its own commit; no source twice.
    batches = [callback.args[0] for callback in queued]
    assert [len(batch) for batch in batches] == [2, 2, 2, 0]
    assert sorted(pk for batch in batches for pk in batch) == sorted(s.pk for s in sources)
    assert MetricSource.objects.filter(claimed_until__isnull=True).count() == 0


def test_dispatch_stops_at_its_time_budget_and_the_next_tick_takes_the_rest(
    monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(pull, "DISPATCH_LIMIT", 2)
    monkeypatch.setattr(pull, "DISPATCH_TIME_BUDGET", 0)
    for _ in range(3):
        MetricSourceFactory()

    with django_capture_on_commit_callbacks():
        assert dispatch_due_sources() == 2
        assert dispatch_due_sources() == 1


# MLflow: only what is new --------------------------------------------------------------------
def _mlflow_source(server):
    return MetricSourceFactory(
        kind="mlflow", url=server.url("/"), config={"run_id": "run42", "metrics": ["accuracy"]}
    )


MS0 = 1_762_070_400_000  # 2025-11-02 08:00 UTC, in milliseconds


@pytest.mark.slow
@pytest.mark.parametrize("newest_first", [False, True])
def test_an_mlflow_pull_reads_and_writes_only_points_after_the_last_one(
    server, monkeypatch, newest_first
):
    monkeypatch.setattr(connectors, "MLFLOW_PAGE_SIZE", 2)
    history = MlflowHistory(server, newest_first=newest_first)
    history.points["accuracy"] = [(MS0 + i * 60_000, 0.9 + i / 100) for i in range(5)]
    source = _mlflow_source(server)

    first = source_pull(source_id=source.pk, now=T0)

    assert (first.status, first.read, first.written) == ("ok", 5, 5), first.error
    assert history.requests == 3
    source.refresh_from_db()
    assert source.pulled_until == datetime(2025, 11, 2, 8, 4, tzinfo=UTC)  # the newest point

    history.points["accuracy"] += [(MS0 + 5 * 60_000, 0.95), (MS0 + 6 * 60_000, 0.96)]
    history.requests = 0
    second = source_pull(source_id=source.pk, now=T0 + timedelta(minutes=1))

    assert (second.status, second.read, second.written) == ("ok", 2, 2), second.error
    # Pages newest first end at the one reaching back to the last pull; oldest first, every
    # page is read (MLflow has no "since"), but nothing old is read as a sample again.
    assert history.requests == (2 if newest_first else 4)
    assert MetricSample.objects.filter(source=source).count() == 7
    source.refresh_from_db()
    assert source.pulled_until == datetime(2025, 11, 2, 8, 6, tzinfo=UTC)

    history.requests = 0
    third = source_pull(source_id=source.pk, now=T0 + timedelta(minutes=2))
    assert (third.read, third.written) == (0, 0)
    source.refresh_from_db()
    assert source.pulled_until == datetime(2025, 11, 2, 8, 6, tzinfo=UTC)


@pytest.mark.slow
def test_a_url_password_never_reaches_the_recorded_error(server):
    server.answer("/stats", body="<html>not json</html>")
    # Saved before URLs with a user and password were refused.
    source = MetricSourceFactory(
        url=f"http://reader:pw-hunter2@127.0.0.1:{server.port}/stats",
        config={**CONFIG, "timestamp": "at"},
    )

    outcome = source_pull(source_id=source.pk, now=T0)

    assert outcome.status == "failed"
    source.refresh_from_db()
    assert "hunter2" not in source.last_error and "reader" not in source.last_error
    assert source.last_error.startswith(
        f"the answer from http://127.0.0.1:{server.port}/stats is not JSON"
    )
