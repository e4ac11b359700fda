"""The MLflow import against a real `mlflow server` on 127.0.0.1, filled in by the tests.

MLflow is installed in its own virtualenv (.venv-mlflow, from requirements-test.txt) because
its server pins packages the portal pins differently; the portal only speaks HTTP to it.
Select these tests with `-m mlflow`.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from celery.exceptions import TimeoutError as CeleryTimeoutError
from celery.result import EagerResult
from django.core.exceptions import PermissionDenied
from django.core.management import CommandError, call_command
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from portal.celery import app as celery_app
from registry import services
from registry.mlflow import MLflowError
from registry.models import AIModel, ApprovalStatus, ModelVersion
from registry.tasks import import_mlflow_models
from tests.readiness import DEADLINE_SECONDS, tail, wait_for

# One MLflow server (module-scoped) for the module: under pytest-xdist all its tests go to one
# worker (make test runs --dist loadgroup), so the server starts once per run.
pytestmark = [pytest.mark.mlflow, pytest.mark.xdist_group("mlflow")]

BASE_DIR = Path(__file__).resolve().parents[2]


def _mlflow_executable() -> str | None:
    candidates = [os.environ.get("MLFLOW_BIN"), str(BASE_DIR / ".venv-mlflow" / "bin" / "mlflow")]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("mlflow")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class MLflowServer:
    """A running `mlflow server` and the REST calls the tests use to fill it in."""

    uri: str
    process: subprocess.Popen
    log: Path

    def call(self, method: str, endpoint: str, payload: dict | None = None) -> dict:
        url = f"{self.uri}/api/2.0/mlflow/{endpoint}"
        data = None
        if method == "GET" and payload:
            url += "?" + urllib.parse.urlencode(payload)
        elif payload is not None:
            data = json.dumps(payload).encode()
        request = urllib.request.Request(
            url, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"{}")

    def register(self, name: str, *, description: str = "", tags: dict | None = None) -> None:
        tags = [{"key": k, "value": v} for k, v in (tags or {}).items()]
        self.call(
            "POST",
            "registered-models/create",
            {"name": name, "description": description, "tags": tags},
        )

    def new_version(self, name: str, *, metrics: dict, tags: dict | None = None) -> tuple:
        """A run logging the metrics, and a version of the model made from it."""
        run = self.call("POST", "runs/create", {"experiment_id": "0", "start_time": 1})
        run_id = run["run"]["info"]["run_id"]
        for key, value in metrics.items():
            self.log_metric(run_id, key, value)
        made = self.call(
            "POST",
            "model-versions/create",
            {"name": name, "source": f"runs:/{run_id}/model", "run_id": run_id},
        )
        version = made["model_version"]["version"]
        for key, value in (tags or {}).items():
            self.call(
                "POST",
                "model-versions/set-tag",
                {"name": name, "version": version, "key": key, "value": value},
            )
        return version, run_id

    def log_metric(self, run_id: str, key: str, value: float, step: int = 0) -> None:
        self.call(
            "POST",
            "runs/log-metric",
            {"run_id": run_id, "key": key, "value": value, "timestamp": 1 + step, "step": step},
        )

    def set_stage(self, name: str, version: str, stage: str) -> None:
        self.call(
            "POST",
            "model-versions/transition-stage",
            {"name": name, "version": version, "stage": stage, "archive_existing_versions": False},
        )

    def set_alias(self, name: str, alias: str, version: str) -> None:
        self.call(
            "POST", "registered-models/alias", {"name": name, "alias": alias, "version": version}
        )

    def delete_version(self, name: str, version: str) -> None:
        self.call("DELETE", "model-versions/delete", {"name": name, "version": version})

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        # The server forks uvicorn workers into its own session: end that group, and only it.
        # It takes about ten seconds to honour SIGTERM, so it gets three before SIGKILL.
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=3)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def _start_mlflow(directory: Path, unavailable) -> MLflowServer:
    executable = _mlflow_executable()
    if executable is None:
        unavailable(
            "mlflow is not installed: run `make test`, or pip install -r requirements-test.txt"
        )
    port = _free_port()
    log = directory / "mlflow.log"
    command = [
        *(executable, "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"),
        *("--backend-store-uri", f"sqlite:///{directory / 'mlflow.db'}"),
        *("--default-artifact-root", str(directory / "artifacts")),
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=directory, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = MLflowServer(f"http://127.0.0.1:{port}", process, log)
    health = f"{server.uri}/health"

    def healthy() -> bool:
        with urllib.request.urlopen(health, timeout=5) as response:
            return response.status == 200

    try:
        wait_for(
            healthy,
            what=f"the MLflow server to answer GET {health} with 200",
            exited=process.poll,
            output=lambda: tail(log),
        )
    except BaseException:  # pytest.fail's exception is not an Exception
        server.stop()
        raise
    return server


@pytest.fixture(autouse=True)
def _loopback_allowed(settings):
    # The import goes through portal.outbound, which refuses loopback unless allow-listed.
    settings.MONITORING_ALLOWED_NETWORKS = ["127.0.0.1/32"]


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory, unavailable):
    server = _start_mlflow(tmp_path_factory.mktemp("mlflow"), unavailable)
    yield server
    server.stop()


def _import(server: MLflowServer, actor, unit, owner):
    return services.models_import_mlflow(
        actor=actor, tracking_uri=server.uri, business_unit=unit, owner=owner
    )


def _history(obj) -> int:
    return obj.history.count()


def test_import_creates_models_and_versions_then_a_reimport_updates_them(
    mlflow_server, retail, product_owner, risk_officer
):
    server = mlflow_server
    host = server.uri.removeprefix("http://")
    server.register("fraud-scorer", description="Scores card payments for fraud.")
    v1, run1 = server.new_version(
        "fraud-scorer", metrics={"auc": 0.91, "recall": 0.8}, tags={"dataset": "cards-2025"}
    )
    server.set_stage("fraud-scorer", v1, "Production")
    v2, _ = server.new_version("fraud-scorer", metrics={"auc": 0.93})
    server.set_alias("fraud-scorer", "challenger", v2)
    server.register(
        "support-llm",
        tags={"steward.provider": "Meta (Llama 3)", "steward.hosting_pattern": "fine_tuned"},
    )
    s1, _ = server.new_version("support-llm", metrics={"rougeL": 0.41})
    server.set_stage("support-llm", s1, "Staging")

    report = _import(server, product_owner, retail, product_owner)

    assert sorted(report.models_created) == ["mlflow:fraud-scorer", "mlflow:support-llm"]
    assert len(report.versions_created) == 3
    fraud = AIModel.objects.get(external_ref="mlflow:fraud-scorer")
    assert fraud.name == "fraud-scorer"
    assert fraud.description == "Scores card payments for fraud."
    assert fraud.provider == f"MLflow: {host}"
    assert fraud.hosting_pattern == "in_house"
    assert fraud.data_destination == "private_vpc"
    assert fraud.approval_status == ApprovalStatus.UNDER_EVALUATION
    assert (fraud.business_unit, fraud.owner) == (retail, product_owner)
    first = fraud.versions.get(version=v1)
    assert first.external_ref == f"mlflow:fraud-scorer/{v1}"
    assert first.artefact == f"runs:/{run1}/model"
    assert first.stage == "production"
    assert first.evaluation == {"auc": 0.91, "recall": 0.8, "tag.dataset": "cards-2025"}
    second = fraud.versions.get(version=v2)
    assert second.stage == "canary"  # the "challenger" alias
    assert second.evaluation == {"auc": 0.93}
    llm = AIModel.objects.get(external_ref="mlflow:support-llm")
    assert (llm.provider, llm.hosting_pattern) == ("Meta (Llama 3)", "fine_tuned")
    assert llm.data_destination == "private_vpc"
    assert llm.versions.get().stage == "shadow"  # MLflow's Staging
    assert _history(fraud) == _history(first) == 1

    # Nothing changed in MLflow: nothing is written.
    again = _import(server, product_owner, retail, product_owner)
    assert again.models_created == again.models_updated == []
    assert again.versions_created == again.versions_updated == []
    assert _history(fraud) == _history(first) == 1

    # What people decided in Steward stays: approval, unit, owner.
    services.model_set_approval(
        actor=risk_officer, model=fraud, status=ApprovalStatus.APPROVED, note="Validated."
    )
    server.log_metric(run1, "auc", 0.95, step=1)
    server.set_alias("fraud-scorer", "champion", v2)
    v3, _ = server.new_version("fraud-scorer", metrics={"auc": 0.96})
    server.delete_version("support-llm", s1)

    third = _import(server, risk_officer, retail, risk_officer)

    assert third.models_created == []
    assert third.versions_created == [f"mlflow:fraud-scorer/{v3}"]
    assert sorted(third.versions_updated) == [
        f"mlflow:fraud-scorer/{v1}",
        f"mlflow:fraud-scorer/{v2}",
    ]
    assert third.versions_missing == [f"mlflow:support-llm/{s1}"]
    assert AIModel.objects.filter(external_ref__startswith="mlflow:").count() == 2
    assert fraud.versions.count() == 3
    first.refresh_from_db()
    second.refresh_from_db()
    fraud.refresh_from_db()
    assert first.evaluation["auc"] == 0.95
    assert _history(first) == 2
    assert first.history.first().history_change_reason == "Edited evaluation"
    assert first.history.first().history_user == risk_officer
    assert second.stage == "production"  # the "champion" alias beats the challenger one
    assert fraud.versions.get(version=v3).stage == "candidate"
    assert fraud.approval_status == ApprovalStatus.APPROVED
    assert (fraud.business_unit, fraud.owner) == (retail, product_owner)
    # Deleted in MLflow, kept here: deployments and history may point at it.
    assert ModelVersion.objects.filter(external_ref=f"mlflow:support-llm/{s1}").exists()


def test_a_version_typed_by_hand_is_adopted_not_duplicated(mlflow_server, retail, product_owner):
    mlflow_server.register("churn-model")
    version, _ = mlflow_server.new_version("churn-model", metrics={"f1": 0.7})
    _import(mlflow_server, product_owner, retail, product_owner)
    model = AIModel.objects.get(external_ref="mlflow:churn-model")
    typed = model.versions.get()
    services.model_version_update(actor=product_owner, version=typed, data={"external_ref": ""})

    _import(mlflow_server, product_owner, retail, product_owner)

    assert model.versions.get().external_ref == f"mlflow:churn-model/{version}"


def test_an_auditor_cannot_import(mlflow_server, retail, auditor, product_owner):
    with pytest.raises(PermissionDenied):
        _import(mlflow_server, auditor, retail, product_owner)
    assert not AIModel.objects.exists()


def test_a_stopped_server_raises_a_clear_error_and_writes_nothing(
    mlflow_server, retail, product_owner
):
    """Imported once, then the server is gone: nothing answers at its address any more, as a
    stopped server leaves it (a port freed: the module's server runs on for the other tests,
    rather than a server of this test's own started and stopped, half a minute of a run)."""
    mlflow_server.register("kyc-ranker")
    mlflow_server.new_version("kyc-ranker", metrics={"precision": 0.9})
    _import(mlflow_server, product_owner, retail, product_owner)
    mlflow_server.new_version("kyc-ranker", metrics={"precision": 0.92})
    stopped = replace(mlflow_server, uri=f"http://127.0.0.1:{_free_port()}")

    with pytest.raises(
        MLflowError, match=r"Could not read MLflow at 127\.0\.0\.1:\d+: no HTTP answer"
    ):
        _import(stopped, product_owner, retail, product_owner)
    assert ModelVersion.objects.filter(model__external_ref="mlflow:kyc-ranker").count() == 1


class _Stub(BaseHTTPRequestHandler):
    """A broken tracking server: one registered model, then whatever `answer` says."""

    answer = "ok"

    def do_GET(self):  # noqa: N802
        if "registered-models/search" in self.path:
            body, status = json.dumps({"registered_models": [{"name": "m"}]}).encode(), 200
        elif self.answer == "500":
            body, status = b'{"error_code": "INTERNAL_ERROR"}', 500
        elif self.answer == "not json":
            body, status = b"<html>proxy error</html>", 200
        elif self.answer == "slow":
            time.sleep(2)
            body, status = b"{}", 200
        else:
            body, status = b'{"model_versions": []}', 200
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ("500", r"HTTP 500 from .*model-versions/search"),
        ("not json", r"is not JSON"),
        ("slow", r"no HTTP answer from .* within 0\.5 s"),
    ],
)
def test_a_bad_answer_half_way_raises_and_writes_nothing(
    answer, message, settings, retail, product_owner
):
    settings.MLFLOW_TIMEOUT_SECONDS = 0.5
    handler = type("Handler", (_Stub,), {"answer": answer})
    stub = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=stub.serve_forever, daemon=True).start()
    uri = f"http://127.0.0.1:{stub.server_address[1]}"
    try:
        with pytest.raises(MLflowError, match=message):
            services.models_import_mlflow(
                actor=product_owner, tracking_uri=uri, business_unit=retail, owner=product_owner
            )
    finally:
        stub.shutdown()
        stub.server_close()
    assert not AIModel.objects.exists()


def test_the_task_imports_and_reports_in_process(mlflow_server, retail, product_owner):
    mlflow_server.register("task-model")
    mlflow_server.new_version("task-model", metrics={"auc": 0.8})

    result = import_mlflow_models.delay(
        actor_id=product_owner.pk,
        business_unit_id=retail.pk,
        owner_id=product_owner.pk,
        tracking_uri=mlflow_server.uri,
    )

    assert "mlflow:task-model" in result.get()["models_created"]
    assert AIModel.objects.filter(external_ref="mlflow:task-model").exists()


def test_the_task_fails_with_the_reason_when_mlflow_is_down(retail, product_owner):
    with pytest.raises(MLflowError, match="Could not read MLflow"):
        import_mlflow_models.delay(
            actor_id=product_owner.pk,
            business_unit_id=retail.pk,
            owner_id=product_owner.pk,
            tracking_uri=f"http://127.0.0.1:{_free_port()}",
        )


def test_the_command_imports_and_says_what_it_did(mlflow_server, retail, product_owner, capsys):
    mlflow_server.register("command-model")
    mlflow_server.new_version("command-model", metrics={"auc": 0.8})

    call_command(
        "import_mlflow", tracking_uri=mlflow_server.uri, unit="RETAIL", owner=product_owner.username
    )

    assert "MLflow import:" in capsys.readouterr().out
    assert AIModel.objects.filter(external_ref="mlflow:command-model").exists()
    with pytest.raises(CommandError, match="Nothing was imported: Could not read MLflow"):
        call_command(
            "import_mlflow",
            tracking_uri=f"http://127.0.0.1:{_free_port()}",
            unit="RETAIL",
            owner=product_owner.username,
        )


@pytest.fixture
def send_to_worker():
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    yield
    celery_app.conf.task_always_eager = eager


@pytest.mark.celery
def test_a_real_worker_imports_from_mlflow(
    mlflow_server,
    celery_worker,
    send_to_worker,
    transactional_db,
    django_db_serialized_rollback,
    retail,
    product_owner,
):
    mlflow_server.register("worker-model")
    version, _ = mlflow_server.new_version("worker-model", metrics={"auc": 0.77})

    sent = import_mlflow_models.delay(
        actor_id=product_owner.pk,
        business_unit_id=retail.pk,
        owner_id=product_owner.pk,
        tracking_uri=mlflow_server.uri,
    )

    assert not isinstance(sent, EagerResult)
    try:
        report = celery_worker.result(sent.id).get(timeout=DEADLINE_SECONDS)
    except CeleryTimeoutError:
        pytest.fail(
            f"No result from the worker within {DEADLINE_SECONDS:.0f} s:\n"
            f"{celery_worker.log_tail()}"
        )
    assert f"mlflow:worker-model/{version}" in report["versions_created"]
    imported = ModelVersion.objects.get(external_ref=f"mlflow:worker-model/{version}")
    assert imported.evaluation == {"auc": 0.77}


def test_an_import_on_demand_through_the_api(
    mlflow_server, retail, corporate, risk_officer, auditor, outsider, admin_user, settings
):
    def client(user):
        c = APIClient()
        c.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
        return c

    mlflow_server.register("api-model")
    mlflow_server.new_version("api-model", metrics={"auc": 0.9})
    url = "/api/v1/models/import-mlflow/"
    settings.MLFLOW_TRACKING_URI = mlflow_server.uri  # the server the firm configured
    body = {"business_unit": retail.pk}
    # The portal fetches the address it is given: only an admin may name another server.
    elsewhere = {"tracking_uri": "http://169.254.169.254", "business_unit": retail.pk}
    refused = client(risk_officer).post(url, elsewhere, format="json")
    assert refused.status_code == 400 and "administrator" in str(refused.json()["tracking_uri"])

    # Tasks run in-process here, so the report comes straight back.
    done = client(risk_officer).post(url, body, format="json")
    assert done.status_code == 200, done.content
    assert "mlflow:api-model" in done.json()["models_created"]  # the server is shared
    model = AIModel.objects.get(external_ref="mlflow:api-model")
    assert (model.owner, model.business_unit, model.approval_status) == (
        risk_officer,
        retail,
        "under_evaluation",
    )
    # Not into a unit the caller does not belong to; not by an auditor; a dead server is 502.
    wrong_unit = client(outsider).post(url, body, format="json")
    assert wrong_unit.status_code == 400 and "business_unit" in wrong_unit.json()
    assert client(auditor).post(url, body, format="json").status_code == 403
    dead = client(admin_user).post(
        url, {"tracking_uri": "http://127.0.0.1:9", "business_unit": retail.pk}, format="json"
    )
    assert dead.status_code == 502 and "127.0.0.1:9" in dead.json()["detail"]


def test_a_runs_metrics_become_an_evaluation_record_with_thresholds_from_tags(
    mlflow_server, retail, product_owner
):
    mlflow_server.register("credit-scorer")
    version, run_id = mlflow_server.new_version(
        "credit-scorer",
        metrics={"auc": 0.88, "ece": 0.07},
        tags={
            "dataset": "applications-2026q3",
            "steward.threshold.auc": ">=0.9",
            "steward.threshold.ece": "<= 0.1",
        },
    )

    report = _import(mlflow_server, product_owner, retail, product_owner)

    scorer = AIModel.objects.get(external_ref="mlflow:credit-scorer").versions.get()
    # The server is shared by the module's tests: only this model's versions are looked at.
    assert f"mlflow:credit-scorer/{version}" in report.evaluations_imported
    record = scorer.evaluations.get()
    assert (record.source, record.external_ref, record.dataset) == (
        "mlflow",
        f"mlflow-run:{run_id}",
        "applications-2026q3",
    )
    by_name = {m["name"]: m for m in record.metrics}
    assert (by_name["auc"]["value"], by_name["auc"]["passed"]) == (0.88, False)
    assert (by_name["ece"]["direction"], by_name["ece"]["passed"]) == ("max", True)
    assert record.passed is False

    # The same run again: nothing new. A metric logged since: a new record.
    again = _import(mlflow_server, product_owner, retail, product_owner)
    assert not [v for v in again.evaluations_imported if "credit-scorer" in v]
    assert scorer.evaluations.count() == 1
    mlflow_server.log_metric(run_id, "auc", 0.92, step=1)
    _import(mlflow_server, product_owner, retail, product_owner)
    assert scorer.evaluations.count() == 2
    assert scorer.evaluations.first().passed is True
