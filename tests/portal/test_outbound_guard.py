"""Every way out of the portal (metric sources, the MLflow import, webhooks) goes through
portal.outbound's address rule with the one allow-list, and no failure tells what listens."""

import contextlib
import socket
import threading
from collections.abc import Callable

import pytest

from portal import outbound
from registry import services
from registry.mlflow import MLflowError
from tests.incidents.servers import Receiver
from tests.monitoring.servers import closed_port

pytestmark = pytest.mark.django_db

TIMEOUT = 0.3


class RawServer:
    """A TCP listener on 127.0.0.1 that is not an HTTP server: each connection is sent
    ``reply`` and closed, or (``reply`` None) held open and silent until the block ends."""

    def __init__(self, reply: bytes | None):
        self.reply = reply
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return  # closed at the end of the block
            if self.reply is None:
                self.held.append(conn)
                continue
            conn.sendall(self.reply)
            conn.close()

    def __enter__(self) -> "RawServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        # shutdown wakes the accept() blocked in the thread; close alone may not.
        for sock in [self.sock, *self.held]:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self.thread.join()


def _fetch(url: str) -> str:
    with pytest.raises(outbound.OutboundError) as failed:
        outbound.fetch(url, timeout=TIMEOUT)
    return failed.value.message


def _post(url: str) -> str:
    with pytest.raises(outbound.PostFailed) as failed:
        outbound.post_trusted(url, headers={}, body=b"{}", timeout=TIMEOUT, max_bytes=1024)
    return failed.value.message


IMPORTER: dict = {}  # who imports, and into which unit (set per test below)


def _mlflow(url: str) -> str:
    with pytest.raises(MLflowError) as failed:
        services.models_import_mlflow(tracking_uri=url, **IMPORTER)
    return str(failed.value)


FEATURES: dict[str, Callable[[str], str]] = {
    "metric source fetch": _fetch,
    "webhook post": _post,
    "MLflow import": _mlflow,
}


@pytest.fixture(autouse=True)
def _mlflow_actor(settings, retail, admin_user):
    settings.MLFLOW_TIMEOUT_SECONDS = TIMEOUT
    IMPORTER.update(actor=admin_user, owner=admin_user, business_unit=retail)


@pytest.mark.parametrize("feature", sorted(FEATURES))
def test_every_way_out_refuses_loopback_unless_allow_listed(feature, settings):
    settings.MONITORING_ALLOWED_NETWORKS = []
    with Receiver() as receiver:
        message = FEATURES[feature](receiver.url())
        assert "refused: 127.0.0.1 is a loopback address" in message
        assert receiver.received == []  # nothing was sent


@pytest.mark.parametrize("feature", sorted(FEATURES))
def test_every_way_out_refuses_the_metadata_address_whatever_the_allow_list(feature, settings):
    settings.MONITORING_ALLOWED_NETWORKS = ["169.254.0.0/16"]
    message = FEATURES[feature]("http://169.254.169.254/latest/meta-data/")
    assert "refused: 169.254.169.254 is a cloud metadata address" in message


def test_a_webhook_to_a_name_that_resolves_to_loopback_is_refused(settings):
    settings.MONITORING_ALLOWED_NETWORKS = []
    with Receiver() as receiver:
        message = _post(f"http://localhost:{receiver.port}/hooks")
    assert message.startswith("refused: localhost resolves to ")
    assert receiver.received == []


def test_an_allow_listed_webhook_receiver_gets_the_post(settings):
    settings.MONITORING_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    with Receiver() as receiver:
        status = outbound.post_trusted(
            receiver.url(), headers={}, body=b"{}", timeout=5, max_bytes=1024
        )
    assert status == 200 and len(receiver.received) == 1


@pytest.mark.parametrize("feature", sorted(FEATURES))
def test_no_failure_tells_what_listens_on_a_port(feature, settings):
    """Refused, closed at once, a non-HTTP banner and silence all read the same."""
    settings.MONITORING_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    messages = {}
    port = closed_port()
    messages["closed port"] = FEATURES[feature](f"http://127.0.0.1:{port}/").replace(
        str(port), "PORT"
    )
    for name, reply in [
        ("closes at once", b""),
        ("not HTTP", b"SSH-2.0-OpenSSH_9.6\r\n"),
        ("silent", None),
    ]:
        with RawServer(reply) as raw:
            url = f"http://127.0.0.1:{raw.port}/"
            messages[name] = FEATURES[feature](url).replace(str(raw.port), "PORT")
    assert len(set(messages.values())) == 1, messages
    assert "no HTTP answer from 127.0.0.1:PORT within 0.3 s" in messages["silent"]
