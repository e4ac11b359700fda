"""A real webhook receiver on 127.0.0.1 in a thread, for the webhook tests.

``Receiver(statuses=[500, 500, 200])`` answers each POST with the next status (the last one
repeats), after ``delay`` seconds, and keeps what it was sent (``receiver.received``) so a test
can verify each message's signature exactly as a receiver would.
"""

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        owner = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        with owner.lock:
            owner.received.append(
                Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            )
            index = len(owner.received) - 1
            status = owner.statuses[min(index, len(owner.statuses) - 1)]
        owner.arrived.set()
        if owner.delay:
            time.sleep(owner.delay)
        answer = b'{"ok": true}' if 200 <= status < 300 else b'{"error": "try later"}'
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(answer)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the sender gave up (the timeout test)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: "Receiver"

    def handle_error(self, request, client_address) -> None:
        pass


class Receiver:
    """``with Receiver() as receiver:`` accepts webhooks at receiver.url() until the block ends."""

    def __init__(self, statuses: list[int] | None = None, delay: float = 0.0):
        self.statuses = statuses or [200]
        self.delay = delay
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self.arrived = threading.Event()  # set when the first request has been read
        # Bound and listening from here on: a request sent before the thread starts waits in
        # the socket's backlog, so nothing needs to wait for the server to be ready.
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, path: str = "/hooks/steward") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> "Receiver":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
