"""A production-like run (issue 20, item 8): a PostgreSQL database of its own, a Redis server of
its own on a free port (never the shared one), the guide's `migrate` and `collectstatic`, and
gunicorn, a Celery worker and beat started with the command lines of the systemd units in
deploy/systemd/ (the operations guide's). Then, end to end: a metric source is pulled, its
breach raises a flag that opens an incident, and the incident's email and signed webhook
arrive. Then Redis stops: saves still answer 2xx, and once Redis is back their emails and
webhooks arrive, in order, once each.

Under `make test` the database starts as a copy of the run's migrated one (tests/databases.py:
the same `manage.py migrate` run once on an empty database as the run starts; if it fails,
every test on the database fails with its output), so the guide's `migrate` here finds every
migration applied and installs the triggers again; migrating from empty once more would prove
nothing new and costs half a minute of CPU. Run alone (one process), the database starts empty
and `migrate` makes it.
"""

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
import uuid
from pathlib import Path

import psycopg
import pytest
from aiosmtpd.controller import Controller
from standardwebhooks.webhooks import Webhook

from tests import databases
from tests.incidents.servers import Receiver
from tests.monitoring.servers import TestServer
from tests.readiness import tail, wait_for

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "deploy" / "systemd"
INSTALL = "/opt/steward"  # where the unit files expect the checkout

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def exec_start(unit: str, **replace: str) -> list[str]:
    """The unit's ExecStart as argv, with /opt/steward made this checkout."""
    text = (UNITS / unit).read_text()
    (line,) = re.findall(r"^ExecStart=(.+)$", text, re.M)
    line = line.replace(f"{INSTALL}/.venv/bin/", str(Path(sys.executable).parent) + "/")
    line = line.replace(INSTALL, str(ROOT))
    for old, new in replace.items():
        line = line.replace(old, new)
    return shlex.split(line)


def unit_environment(unit: str, run_dir: Path) -> dict[str, str]:
    """The unit's Environment= settings, with its RuntimeDirectory (/run/...) made run_dir."""
    text = (UNITS / unit).read_text()
    values = dict(line.split("=", 1) for line in re.findall(r"^Environment=(.+)$", text, re.M))
    for key, value in values.items():
        if value.startswith("/run/"):
            values[key] = str(run_dir / value.removeprefix("/run/"))
            Path(values[key]).mkdir(parents=True, exist_ok=True)
    return values


class Mailbox:
    """A real SMTP server on 127.0.0.1 that keeps what it is sent."""

    def __init__(self):
        self.messages: list[tuple[list[str], str]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's naming)
        with self.lock:
            self.messages.append(
                (list(envelope.rcpt_tos), envelope.content.decode(errors="replace"))
            )
        return "250 OK"

    def subjects(self) -> list[str]:
        with self.lock:
            return [re.search(r"^Subject: (.*)$", m, re.M).group(1) for _, m in self.messages]


class Redis:
    """redis-server of the test's own, on a port of its own; stop() and start() keep the port."""

    def __init__(self, folder: Path):
        self.port = _free_port()
        self.folder = folder
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(
            self._pong,
            what=f"redis-server on port {self.port} to answer PING",
            exited=self.process.poll,
        )

    def _pong(self) -> bool:
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


def _get(url: str, headers: dict | None = None):
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def _post(url: str, body: dict, token: str, method: str = "POST"):
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()[:2000]


SET_UP = """
import json
from incidents.services.webhooks import webhook_endpoint_create
from rest_framework.authtoken.models import Token
from tests.factories import MetricSourceFactory, RuleFactory, UserFactory, BusinessUnitFactory
unit = BusinessUnitFactory()
owner = UserFactory(username="owner", roles=["product_owner"], units=[unit])
admin = UserFactory(username="ops.admin", roles=["admin"], is_staff=True)
source = MetricSourceFactory(
    url=METRICS_URL, interval_seconds=60, kind="http_json",
    config={"metrics": {"error_rate": "error_rate"}},
    deployment__use_case__business_unit=unit, deployment__use_case__owner=owner,
)
RuleFactory(action="incident", severity="high", threshold=0.1, window_minutes=60)
_, secret = webhook_endpoint_create(actor=admin, name="Ops", url=RECEIVER_URL)
print(json.dumps({"secret": secret, "use_case": source.deployment.use_case.pk,
                  "token": Token.objects.create(user=owner).key}))
"""


def test_a_deployment_as_the_guide_describes_survives_a_redis_outage(tmp_path):
    name = f"steward_prodlike_{uuid.uuid4().hex[:8]}"
    admin_dsn = "postgresql://postgres@127.0.0.1:5432/postgres"
    template = databases.migrated_template()
    with psycopg.connect(admin_dsn, autocommit=True) as db:
        db.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    redis = Redis(tmp_path)
    mailbox = Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=_free_port())
    web_port = _free_port()
    processes: dict[str, subprocess.Popen] = {}
    logs: dict[str, Path] = {}
    try:
        redis.start()
        smtp.start()
        with TestServer() as metrics_server, Receiver() as receiver:
            metrics_server.answer("/stats", json={"error_rate": 0.02})  # healthy at first
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("CELERY_")},
                "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{name}",
                "CELERY_BROKER_URL": f"redis://127.0.0.1:{redis.port}/0",
                "SECRET_KEY": "production-like-test-" + uuid.uuid4().hex,
                "DEBUG": "false",
                "SECURE": "false",
                "ALLOWED_HOSTS": "127.0.0.1",
                "SITE_URL": f"http://127.0.0.1:{web_port}",
                "EMAIL_HOST": "127.0.0.1",
                "EMAIL_PORT": str(smtp.port),
                "STATE_DIR": str(tmp_path / "state"),
                "STATIC_ROOT": str(tmp_path / "static"),
                "MONITORING_ALLOWED_NETWORKS": "127.0.0.1/32",
                "PYTHONUNBUFFERED": "1",
                "METRICS_TOKEN": "scrape-" + uuid.uuid4().hex,
            }
            manage = [sys.executable, "manage.py"]
            for step in (["migrate", "--noinput"], ["collectstatic", "--noinput"]):
                subprocess.run(
                    [*manage, *step],
                    cwd=ROOT,
                    env=env,
                    check=True,
                    capture_output=True,
                    timeout=900,
                )
            done = subprocess.run(
                [
                    *manage,
                    "shell",
                    "-c",
                    f"METRICS_URL = {metrics_server.url('/stats')!r}\n"
                    f"RECEIVER_URL = {receiver.url()!r}\n" + SET_UP,
                ],
                cwd=ROOT,
                env=env,
                check=True,
                capture_output=True,
                text=True,
                timeout=300,
            )
            made = json.loads(done.stdout.strip().splitlines()[-1])

            commands = {
                "web": exec_start(
                    "steward-web.service", **{"127.0.0.1:8000": f"127.0.0.1:{web_port}"}
                ),
                "worker": exec_start("steward-worker.service"),
                "beat": exec_start("steward-beat.service"),
            }

            def start(role: str, mode: str = "w") -> None:
                logs[role] = tmp_path / f"{role}.log"
                with logs[role].open(mode) as out:
                    unit = f"steward-{role}.service"
                    processes[role] = subprocess.Popen(
                        commands[role],
                        cwd=ROOT,
                        env={**env, **unit_environment(unit, tmp_path / "run")},
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )

            for role in commands:
                start(role)
            restarted: list[str] = []
            base = f"http://127.0.0.1:{web_port}"

            def output() -> str:
                return "\n".join(f"--- {r} ---\n{tail(p, 15)}" for r, p in logs.items())

            def any_exited():
                return next((p.poll() for p in processes.values() if p.poll() is not None), None)

            def as_systemd_would():
                """Restart=on-failure, as every unit says: a process that failed is started
                again, once here (kombu's reconnection after Redis restarts has been seen to
                crash the worker: `conninfo.hostname` of None); one that ends otherwise, or fails
                twice, ends the wait."""
                for role, process in processes.items():
                    code = process.poll()
                    if code is None:
                        continue
                    if code == 0 or role in restarted:
                        return code
                    restarted.append(role)
                    start(role, mode="a")
                return None

            wait_for(
                lambda: _get(f"{base}/readyz")[0] == 200,
                exited=any_exited,
                output=output,
                what=f"GET {base}/readyz to answer 200 (database, broker, worker, beat)",
            )

            # Pull, breach, flag, incident, email and webhook: the whole way, on beat's clock.
            metrics_server.answer("/stats", json={"error_rate": 0.9})

            def webhook(event: str):
                return [r for r in receiver.received if json.loads(r.body)["type"] == event]

            wait_for(
                lambda: webhook("incident.opened"),
                exited=any_exited,
                output=output,
                what="a pull, a breach, a flag and the incident.opened webhook",
            )
            (opened,) = webhook("incident.opened")
            message = Webhook(made["secret"]).verify(opened.body, opened.headers)
            incident = message["data"]["reference"]
            wait_for(
                lambda: any(incident in s for s in mailbox.subjects()),
                output=output,
                what=f"the email about {incident}",
            )

            # The worker's pull is in the web's /metrics (one folder for every process).
            scrape = urllib.request.Request(
                f"{base}/metrics", headers={"Authorization": f"Bearer {env['METRICS_TOKEN']}"}
            )
            with urllib.request.urlopen(scrape, timeout=30) as answer:
                figures = answer.read().decode()
            assert re.search(r'^steward_pulls_total\{result="ok"\} [1-9]', figures, re.M), figures

            # Redis goes away. Saves answer 2xx all the same.
            redis.stop()
            status, body = _post(
                f"{base}/api/v1/use-cases/{made['use_case']}/kill-switch/",
                {"engaged": True, "reason": "Drift"},
                made["token"],
            )
            assert status == 200, body
            status, body = _post(
                f"{base}/api/v1/incidents/{incident}/",
                {"severity": "sev1"},
                made["token"],
                method="PATCH",
            )
            assert status == 200, body
            assert _get(f"{base}/readyz")[0] == 503  # and readiness says what is wrong
            before = len(receiver.received)

            redis.start()  # back, empty: what was queued in the old one is gone
            both = ("use_case.kill_switch", "incident.severity_changed")
            wait_for(
                lambda: all(webhook(event) for event in both),
                exited=as_systemd_would,
                output=output,
                what="the kill-switch and severity webhooks once Redis was back",
            )
            wait_for(
                lambda: any("SEV1" in s for s in mailbox.subjects()),
                output=output,
                what="the severity email after Redis came back",
            )
    finally:
        for process in processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        redis.stop()
        smtp.stop()
        with psycopg.connect(admin_dsn, autocommit=True) as db:
            db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    # Once each, and one subject's events in order.
    ids = [r.headers["webhook-id"] for r in receiver.received]
    assert len(ids) == len(set(ids)), "a webhook arrived twice"
    after = [json.loads(r.body) for r in receiver.received[before:]]
    by_subject: dict[str, list[int]] = {}
    for m in [json.loads(r.body) for r in receiver.received]:
        by_subject.setdefault(m["subject"], []).append(m["sequence"])
    for subject, sequences in by_subject.items():
        assert sequences == sorted(sequences), f"{subject} out of order: {sequences}"
    assert {m["type"] for m in after} >= {"use_case.kill_switch", "incident.severity_changed"}
    sent = [to for to, _ in mailbox.messages]
    assert len(sent) == len({(tuple(to), m) for to, m in mailbox.messages}), "an email twice"
