"""The register's API against its floor (issue 19): a use case's detail, its history and the
register list, each as a ratio to its own SQL replayed on a raw connection (floors.py).

Goal: detail, history and list each within FLOOR_TARGET times their floor, with the queries
per request printed beside them.

Each request is timed as a WSGI server makes it: Django's WSGIHandler (every middleware, the
request signals, the response read and closed) called with the environ a server would pass,
carrying the signed-in client's session cookie. The test client (django.test.Client) adds
bookkeeping of its own that no server pays (its signal hooks for rendered templates and
exceptions, its cookie jar, the request and context it attaches to the response): about 0.2
ms a request here, measured in docs/benchmarks.md ("Third round").
"""

import io
import statistics
import sys
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.db import connection, reset_queries
from django.test import Client
from django.test.utils import CaptureQueriesContext

from devtools.bench import floors

FLOOR_TARGET = 3.0
TIMED = (
    "requests timed as a WSGI server makes them (Django's WSGIHandler, every middleware, the "
    "session cookie of a signed-in person), not through the test client"
)


@dataclass
class FloorResult:
    label: str
    request_ms: list[float] = field(default_factory=list)
    floor_ms: list[float] = field(default_factory=list)
    queries: list[int] = field(default_factory=list)
    problem: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.request_ms)

    @property
    def floor(self) -> float:
        return statistics.median(self.floor_ms)

    @property
    def ratio(self) -> float:
        # The median of the per-pair ratios: each request against its own replay.
        return statistics.median(r / f for r, f in zip(self.request_ms, self.floor_ms, strict=True))

    @property
    def passed(self) -> bool:
        return not self.problem and self.ratio <= FLOOR_TARGET


def environ(path: str, client: Client, headers: dict) -> dict:
    """The WSGI environ of a GET of ``path`` with ``client``'s cookies (its session)."""
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SCRIPT_NAME": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "testserver",
        "HTTP_COOKIE": client.cookies.output(header="", sep="; ").strip(),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multiprocess": True,
        "wsgi.multithread": False,
        "wsgi.run_once": False,
        **headers,
    }


def serve(app: WSGIHandler, env: dict) -> tuple[str, bytes]:
    """Call the app as a WSGI server does: the status, and the body read and closed."""
    status: list[str] = []

    def start_response(line: str, headers: list, exc_info=None):
        status.append(line)
        return lambda data: None

    body = app({**env, "wsgi.input": io.BytesIO(b"")}, start_response)
    try:
        content = b"".join(body)
    finally:
        body.close()  # request_finished, as a server sends it
    return status[0], content


def measure(
    label: str, client: Client, urls: list[str], headers: dict, warmup: int, requests: int
) -> FloorResult:
    """Alternate each request with the replay of its own SQL; warm-up pairs are not kept."""
    result = FloorResult(label)
    app = WSGIHandler()
    environs = {url: environ(url, client, headers) for url in set(urls)}
    if settings.SESSION_COOKIE_NAME not in client.cookies:
        result.problem = "the client is not signed in"
        return result
    with floors.raw_connection() as raw:
        for k in range(warmup + requests):
            url = urls[k % len(urls)]
            reset_queries()
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                status, _ = serve(app, environs[url])
                elapsed = (time.perf_counter() - started) * 1000
            if not status.startswith("200 "):
                result.problem = f"answered {status}, not 200 OK ({url})"
                return result
            sql = floors.statements(captured.captured_queries)
            floor = floors.replay(raw, sql) * 1000
            if k < warmup:
                continue
            result.request_ms.append(elapsed)
            result.floor_ms.append(floor)
            result.queries.append(len(sql))
    return result


def report(out, results: list[FloorResult]) -> None:
    out("")
    out(f"API against its floor; target: within {FLOOR_TARGET:g}x. {floors.FLOOR}; {TIMED}.")
    header = (
        f"{'endpoint':<40} {'reqs':>5} {'median ms':>10} {'floor ms':>9} {'ratio':>6} "
        f"{'queries':>8}  result"
    )
    out(header)
    out("-" * len(header))
    for r in results:
        if r.problem:
            out(f"{r.label:<40} {'-':>5}  not timed: {r.problem}")
            continue
        lo, hi = min(r.queries), max(r.queries)
        queries = str(lo) if lo == hi else f"{lo}-{hi}"
        verdict = "PASS" if r.passed else "FAIL"
        out(
            f"{r.label:<40} {len(r.request_ms):>5} {r.median:>10.2f} {r.floor:>9.2f} "
            f"{r.ratio:>5.1f}x {queries:>8}  {verdict}"
        )
