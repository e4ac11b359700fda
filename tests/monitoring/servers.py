"""Small real HTTP servers for the monitoring tests, each on a 127.0.0.x address in a thread.

A test sets what each path answers (``server.answer("/stats", json={...})``) and reads what
the server saw (``server.requests``), so the puller is tested against real sockets.
"""

import json as jsonlib
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Answer:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering


@dataclass(frozen=True)
class Seen:
    path: str  # with the query string
    headers: dict[str, str]


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        owner = self.server.owner
        owner.requests.append(Seen(self.path, {k.lower(): v for k, v in self.headers.items()}))
        route = owner.routes.get(urlsplit(self.path).path)
        answer = route(self) if callable(route) else route
        if answer is None:
            answer = Answer(404, b'{"error": "not found"}')
        if answer.delay:
            time.sleep(answer.delay)
        try:
            self.send_response(answer.status)
            headers = {"Content-Type": "application/json", **answer.headers}
            for name, value in headers.items():
                self.send_header(name, value)
            if "Content-Length" not in answer.headers:
                self.send_header("Content-Length", str(len(answer.body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(answer.body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (the timeout tests)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: "TestServer"

    def handle_error(self, request, client_address) -> None:
        pass


class TestServer:
    """``with TestServer() as server:`` serves on host:port until the block ends."""

    __test__ = False  # not a test class, whatever its name says

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.host = host
        self.routes: dict[str, Answer | Callable[[BaseHTTPRequestHandler], Answer]] = {}
        self.requests: list[Seen] = []
        # Bound and listening from here on: a request sent before the thread starts waits in
        # the socket's backlog, so nothing needs to wait for the server to be ready.
        self._server = _Server((host, port), _Handler)
        self._server.owner = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, path: str = "/") -> str:
        return f"http://{self.host}:{self.port}{path}"

    def answer(
        self,
        path: str,
        *,
        json: Any = None,
        body: bytes | str | None = None,
        status: int = 200,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
    ) -> None:
        if json is not None:
            body = jsonlib.dumps(json)
        if isinstance(body, str):
            body = body.encode()
        self.routes[path] = Answer(status, body or b"", headers or {}, delay)

    def redirect(self, path: str, location: str, status: int = 302) -> None:
        self.routes[path] = Answer(status, b"", {"Location": location})

    def __enter__(self) -> "TestServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def closed_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on (bound, then let go)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class TricklingServer:
    """A server that answers a status line, then one header line every ``every`` seconds and
    never ends its headers: each read is quick, the whole answer never comes."""

    __test__ = False

    def __init__(self, every: float = 0.3, lines: int = 40, host: str = "127.0.0.1"):
        self.every = every
        self.lines = lines
        self.host = host
        self._listener = socket.create_server((host, 0))
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def url(self, path: str = "/") -> str:
        return f"http://{self.host}:{self.port}{path}"

    def _serve(self) -> None:
        try:
            client, _ = self._listener.accept()
        except OSError:
            return  # closed before anyone came
        with client:
            try:
                client.recv(65536)
                client.sendall(b"HTTP/1.1 200 OK\r\n")
                for n in range(self.lines):
                    time.sleep(self.every)
                    client.sendall(f"X-Slow-{n}: {n}\r\n".encode())
            except OSError:
                pass  # the client gave up, as it should

    def __enter__(self) -> "TricklingServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._listener.close()


class MlflowHistory:
    """What an MLflow tracking server's get-history answers, paged, for ``TestServer``.

    ``points`` maps a metric key to [(epoch milliseconds, value)]. Pages hold ``max_results``
    points; the page token is the offset. ``newest_first`` pages the history from its end.
    """

    PATH = "/api/2.0/mlflow/metrics/get-history"

    def __init__(self, server: TestServer, *, newest_first: bool = False):
        self.points: dict[str, list[tuple[int, float]]] = {}
        self.newest_first = newest_first
        self.requests = 0
        server.routes[self.PATH] = self

    def __call__(self, handler: BaseHTTPRequestHandler) -> Answer:
        self.requests += 1
        query = parse_qs(urlsplit(handler.path).query)
        key = query["metric_key"][0]
        size = int(query["max_results"][0])
        offset = int(query.get("page_token", ["0"])[0])
        history = sorted(self.points.get(key, []), reverse=self.newest_first)
        page = history[offset : offset + size]
        document: dict[str, Any] = {
            "metrics": [{"key": key, "timestamp": ms, "value": v, "step": 0} for ms, v in page]
        }
        if offset + size < len(history):
            document["next_page_token"] = str(offset + size)
        return Answer(body=jsonlib.dumps(document).encode())
