"""`manage.py bench --only killswitch`: deployed systems poll the kill switch (1,000 unless
told; issue 19 asks for 20,000 every 10 s).

Every deployed system asks GET /api/v1/kill-switch/ with a token of its own every poll interval,
sending the ETag it last saw, so an unchanged switch costs a 304 and no body. The benchmark:

1. gives each simulated system a token on a production use case of the seeded registry (ten
   systems per use case; the rows are bulk-created, hashed as the service hashes them);
2. starts gunicorn (gthread workers) on a free port of 127.0.0.1, on the same database, with
   portal.wsgi as deployed (the poll's shortcut before Django included) and the floors added
   (devtools.bench.floor_settings);
3. measures the poll against its floors on the same server, each kind in a closed loop, the
   kinds interleaved: a constant-JSON Django view, the same body answered before Django, and
   polls answering 200 and 304. Beside requests per second it reads gunicorn's CPU time from
   /proc, so what one answer costs the server is shown whatever else runs on the machine;
4. polls from one client process for three poll intervals, each system starting at a random
   point of its first interval and sharing a pool of kept-alive HTTP/1.1 connections (as
   behind a load balancer);
5. half way through, switches up to SWITCHED_USE_CASES of the polled use cases off through
   the registry's service and times, per system, how long after the switch-off was asked for
   it first got {"enabled": false}. Each web process answers from its own copy of the
   switches, read again when older than KILL_SWITCH_CACHE_SECONDS
   (incidents.services.killswitch.PollBook), so the promises checked are: no poll sent longer
   than that after the switch-off had committed was answered "on"; no answer "on" arrived
   later than the commit plus one poll interval, whenever its poll was sent; and each system
   heard within one poll interval plus the cache time, plus the poll's latency;
6. stops gunicorn (always), prints the figures, and switches the use cases back on through
   the service.

The client is an asyncio Protocol (no streams) with one scheduler for all the systems: at
2,000 polls a second it uses a small part of one core, which it prints, leaving the cores to
gunicorn.
"""

import asyncio
import collections
import hashlib
import json
import math
import multiprocessing
import os
import random
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from django.conf import settings

from devtools.bench.monitoring import Figures
from incidents.models import KillSwitchToken
from incidents.services.killswitch import kill_switch_token_create
from registry.models import Lifecycle, UseCase
from registry.services import use_case_set_kill_switch

POLLERS = 1_000
POLL_SECONDS = 10
# Kept-alive connections the pollers share, as a load balancer in front would hold them.
CONNECTIONS = 1_000
# The floor comparison: a closed loop of this many connections, each kind for this long per
# round, the kinds interleaved so that load on the machine falls on them alike.
FLOOR_CONNECTIONS = 16
FLOOR_SECONDS = 4.0
FLOOR_ROUNDS = 3
SYSTEMS_PER_USE_CASE = 10
# Use cases switched off half way (their systems are the ones timed), at most: each goes
# through the registry's service, 25 ms or more apiece, so 2,000 of them (20,000 systems)
# would take the switching longer than the polling. The others' systems poll on all along.
SWITCHED_USE_CASES = 200
WORKERS = 4
THREADS = 4
SYSTEM_NAME = "bench system"  # the prefix of every token the benchmark makes
URL = "/api/v1/kill-switch/"
READY_SECONDS = 60  # how long gunicorn may take to answer /healthz
REQUEST_TIMEOUT = 30.0  # a poll that takes longer counts as an error
# "Within one poll interval" allows this much on top: the switch-off call and the round trip of
# the poll that hears it. A server too slow to answer in that time fails the check.
ALLOWANCE_SECONDS = 0.5


# Tokens ---------------------------------------------------------------------------------------
@dataclass
class System:
    """One simulated deployed system: its token, its use case and what it saw."""

    raw: str
    use_case_id: int
    etag: str = ""
    enabled: bool | None = None  # as the last answer said (a 304 says: as before)
    # (sent, answered, enabled) for every answered poll, in time.monotonic() seconds.
    answers: list[tuple[float, float, bool | None]] = field(default_factory=list)


def wipe() -> None:
    KillSwitchToken.objects.filter(name__startswith=SYSTEM_NAME).delete()


def production_use_cases(n: int) -> list[UseCase]:
    """n production use cases whose AI is on (the seeded register switches a few off)."""
    chosen = list(
        UseCase.objects.filter(lifecycle=Lifecycle.PRODUCTION, kill_switch_engaged=False)
        .select_related("owner")
        .order_by("pk")[:n]
    )
    if not chosen:
        raise RuntimeError("No production use case with its AI on: seed the registry first.")
    return chosen


def make_tokens(use_cases: list[UseCase], pollers: int) -> list[System]:
    """One token per system, spread evenly over the use cases.

    The first goes through the service (kill_switch_token_create), which also tells how a
    token is stored: the rest are bulk-created the same way, as 1,000 service calls with their
    checks and history would take longer than the benchmark itself.
    """
    first_use_case = use_cases[0]
    token, raw = kill_switch_token_create(
        actor=first_use_case.owner, use_case=first_use_case, name=f"{SYSTEM_NAME} 1"
    )
    if token.token_hash != hashlib.sha256(raw.encode()).hexdigest():
        raise RuntimeError("kill-switch tokens are no longer stored as SHA-256: update the bench")
    prefix_length = len(token.token_prefix)
    scheme = raw[: raw.index("_") + 1] if "_" in raw else ""  # "sks_"
    systems = [System(raw=raw, use_case_id=first_use_case.pk)]
    rows = []
    for k in range(1, pollers):
        use_case = use_cases[k % len(use_cases)]
        raw_k = scheme + _random_token()
        rows.append(
            KillSwitchToken(
                use_case=use_case,
                name=f"{SYSTEM_NAME} {k + 1}",
                token_prefix=raw_k[:prefix_length],
                token_hash=hashlib.sha256(raw_k.encode()).hexdigest(),
                created_by=use_case.owner,
            )
        )
        systems.append(System(raw=raw_k, use_case_id=use_case.pk))
    KillSwitchToken.objects.bulk_create(rows, batch_size=1000)
    return systems


def _random_token() -> str:
    return secrets.token_urlsafe(32)


# The server -----------------------------------------------------------------------------------
def database_url() -> str:
    """DATABASE_URL for the database this process uses (the test database under pytest)."""
    db = settings.DATABASES["default"]
    user = quote(db.get("USER") or "", safe="")
    password = quote(db.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = db.get("HOST") or "127.0.0.1"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{auth}{host}{port}/{quote(db['NAME'], safe='')}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gunicorn:
    """gunicorn serving portal.wsgi on 127.0.0.1, started and always stopped by `with`."""

    def __init__(
        self,
        workers: int,
        threads: int,
        keep_alive: int,
        settings_module: str = "devtools.bench.floor_settings",
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.args = [
            sys.executable,
            "-m",
            "gunicorn",
            "portal.wsgi",
            f"--bind=127.0.0.1:{self.port}",
            "--worker-class=gthread",
            f"--workers={workers}",
            f"--threads={threads}",
            # Idle polling connections must outlive a poll interval, as behind a load balancer.
            f"--keep-alive={keep_alive}",
            "--worker-connections=2000",
            "--log-level=warning",
        ]
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "SECRET_KEY": settings.SECRET_KEY or "bench-only-secret",
            "DEBUG": "false",
            "SECURE": "false",
            "ALLOWED_HOSTS": "127.0.0.1",
            # portal.settings plus the floor view (devtools.bench.floor_urls)
            "DJANGO_SETTINGS_MODULE": settings_module,
            **(extra_env or {}),
        }
        # Closed in __exit__: the server's output lives as long as the server.
        self.log = tempfile.TemporaryFile()  # noqa: SIM115
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> "Gunicorn":
        self.process = subprocess.Popen(
            self.args,
            cwd=Path(settings.BASE_DIR),
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _wait_ready(self) -> None:
        assert self.process is not None  # __enter__ started it
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited ({self.process.returncode}):\n{self.output()}")
            try:
                with urllib.request.urlopen(f"{self.base}/healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(
            f"gunicorn did not answer /healthz in {READY_SECONDS} s:\n{self.output()}"
        )

    def warm_up(self, raw: str, requests: int = 200, concurrency: int = 16) -> None:
        """Untimed polls first, half with the ETag: each worker's first requests import the
        views and open its database connections, seconds of work a server that has been up a
        while has done."""
        first = urllib.request.Request(self.base + URL, headers={"Authorization": f"Bearer {raw}"})
        with urllib.request.urlopen(first, timeout=REQUEST_TIMEOUT) as response:
            etag = response.headers["ETag"]

        def one(k: int) -> None:
            headers = {"Authorization": f"Bearer {raw}"}
            if k % 2:
                headers["If-None-Match"] = etag
            request = urllib.request.Request(self.base + URL, headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT) as response:
                    response.read()
            except urllib.error.HTTPError as exc:  # urllib raises for a 304
                if exc.code != 304:
                    raise

        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            list(pool.map(one, range(requests)))

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-4000:]

    def __exit__(self, *exc) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # gunicorn's graceful stop: its workers go with it
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


# The pollers ----------------------------------------------------------------------------------
@dataclass
class Polls:
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    reconnects: int = 0
    elapsed: float = 0.0
    cpu_seconds: float = 0.0  # the client process's own CPU time while it polled
    server_cpu_seconds: float = 0.0  # gunicorn's (master and workers) meanwhile
    load: tuple[float, float] = (0.0, 0.0)  # the machine's load average as polling began, ended


class Clock:
    """Shared by the client process and the process that switches (time.monotonic() is one
    clock for the whole machine): when polling began, and when it is to stop. The stop is
    set once the switch-off is done, so that every system polls a whole interval after it."""

    def __init__(self, context) -> None:
        self.began = context.Event()
        self._start = context.RawValue("d", 0.0)
        self._stop_at = context.RawValue("d", math.inf)

    @property
    def start(self) -> float:
        return self._start.value

    @start.setter
    def start(self, value: float) -> None:
        self._start.value = value

    @property
    def stop_at(self) -> float:
        return self._stop_at.value

    @stop_at.setter
    def stop_at(self, value: float) -> None:
        self._stop_at.value = value


def request_bytes(port: int, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, one request at a time, just enough of the protocol
    for the kill switch (answers with a Content-Length; a chunked one counts as an error).

    A protocol rather than asyncio streams: the client must cost the machine little next to
    the server it measures, and streams (a coroutine and a readline per header) cost about as
    much per request as the poll itself."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        # Called with (status, headers, body), or (0, {}, b"") when the connection was lost.
        self.answered = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def send(self, request: bytes, answered) -> None:
        assert self.transport is not None and self.answered is None
        self.answered = answered
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0 or self.answered is None:
            return
        lines = self.buffer[:end].decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding"):
            self.close()  # not what the server sends: connection_lost reports it
            return
        length = 0 if status in (204, 304) else int(headers.get("content-length", "0"))
        if len(self.buffer) < end + 4 + length:
            return  # the rest of the body is on its way
        body = bytes(self.buffer[end + 4 : end + 4 + length])
        del self.buffer[: end + 4 + length]
        answered, self.answered = self.answered, None
        if headers.get("connection", "").lower() == "close":
            self.close()
        answered(status, headers, body)

    def connection_lost(self, exc) -> None:
        self.transport = None
        self.buffer.clear()
        if self.answered is not None:
            answered, self.answered = self.answered, None
            answered(0, {}, b"")

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class Pool:
    """Kept-alive connections the pollers share (as a load balancer in front of the web
    processes would hold them), opened as needed up to `size`; a poll that finds none free
    waits for the first to be, and that wait counts in its latency."""

    def __init__(self, port: int, size: int, polls: Polls) -> None:
        self.port, self.size, self.polls = port, size, polls
        self.idle: collections.deque[Connection] = collections.deque()
        self.waiting: collections.deque = collections.deque()
        self.opened = 0
        self.busy = 0

    def get(self, request: bytes, answered) -> None:
        """Send `request` on a free connection, now or when one is; `answered` is called with
        (status, headers, body, written at), status 0 on an error."""
        self.busy += 1
        if self.idle:
            self._send(self.idle.pop(), request, answered, retried=False)
        elif self.opened < self.size:
            self.opened += 1
            asyncio.ensure_future(self._open(request, answered))
        else:
            self.waiting.append((request, answered))

    async def _open(self, request: bytes, answered, retried: bool = False) -> None:
        try:
            _, connection = await asyncio.get_running_loop().create_connection(
                Connection, "127.0.0.1", self.port
            )
        except OSError as exc:
            self.opened -= 1
            self.polls.errors.append(f"{type(exc).__name__}: {exc}")
            self.busy -= 1
            answered(0, {}, b"", time.monotonic())
            return
        self._send(connection, request, answered, retried)

    def _send(self, connection: Connection, request: bytes, answered, retried: bool) -> None:
        if connection.transport is None:  # closed by the server while idle: open another
            self.polls.reconnects += 1
            asyncio.ensure_future(self._open(request, answered, retried))
            return
        written = time.monotonic()

        def back(status: int, headers: dict, body: bytes) -> None:
            if status == 0 and not retried:
                # The server closed a kept-alive connection as the request went out.
                self.polls.reconnects += 1
                asyncio.ensure_future(self._open(request, answered, retried=True))
                return
            self.busy -= 1
            if status == 0:
                self.opened -= 1
                self.polls.errors.append("ConnectionResetError: closed by the server")
            else:
                self._free(connection)
            answered(status, headers, body, written)

        connection.send(request, back)

    def _free(self, connection: Connection) -> None:
        if connection.transport is None:
            self.opened -= 1
            if self.waiting and self.opened < self.size:
                self.opened += 1
                asyncio.ensure_future(self._open(*self.waiting.popleft()))
        elif self.waiting:
            request, answered = self.waiting.popleft()
            self._send(connection, request, answered, retried=False)
        else:
            self.idle.append(connection)

    def close(self) -> None:
        while self.idle:
            self.idle.pop().close()


def poll_all(
    systems: list[System],
    port: int,
    poll_seconds: float,
    clock: Clock,
    results,
    connections: int = CONNECTIONS,
) -> None:
    """Every system polling every poll_seconds, each from a random point of its first interval,
    until the clock says stop; sends back what each saw.

    One scheduler sends each poll when it is due (systems in the order of their first poll, a
    whole round per interval), rather than a task asleep per system: the client must stay a
    small part of the machine. It runs in a process of its own (forked: it touches neither
    Django nor the database), with no lock in common with the switching process."""
    polls = Polls()
    started_cpu = time.process_time()

    async def main() -> None:
        pool = Pool(port, min(connections, len(systems)), polls)
        start = clock.start = time.monotonic()
        clock.began.set()
        rng = random.Random(6)
        first = [start + rng.uniform(0, poll_seconds) for _ in systems]
        order = sorted(range(len(systems)), key=first.__getitem__)
        requests = [b""] * len(systems)
        done = asyncio.Event()
        sent_all = False

        def poll(index: int, due: float) -> None:
            system = systems[index]
            headers = {"Authorization": f"Bearer {system.raw}", "Accept": "application/json"}
            if system.etag:
                headers["If-None-Match"] = system.etag
            if not requests[index] or system.etag:
                requests[index] = request_bytes(port, URL, headers)

            def answered(status: int, answer: dict, body: bytes, written: float) -> None:
                if pool.busy == 0 and sent_all:
                    done.set()
                if status == 0:
                    return  # counted by the pool
                now = time.monotonic()
                polls.latencies_ms.append((now - due) * 1000)
                polls.statuses[status] = polls.statuses.get(status, 0) + 1
                if status == 200:
                    new_etag = answer.get("etag", "")
                    if new_etag != system.etag:
                        system.etag = new_etag
                        requests[index] = b""
                    try:
                        system.enabled = json.loads(body)["enabled"]
                    except (ValueError, KeyError, TypeError) as exc:
                        polls.errors.append(f"unreadable answer ({exc}): {body[:200]!r}")
                        return
                elif status != 304:
                    polls.errors.append(f"HTTP {status}: {body[:200]!r}")
                    return
                system.answers.append((written, now, system.enabled))

            pool.get(requests[index], answered)

        n = len(systems)
        k = 0  # the k-th poll of the run: system order[k % n], in round k // n
        while True:
            index = order[k % n]
            due = first[index] + (k // n) * poll_seconds
            if due >= clock.stop_at:
                break
            now = time.monotonic()
            if due > now:
                await asyncio.sleep(min(due - now, 0.05))  # the stop may move meanwhile
                continue
            poll(index, due)
            k += 1
        sent_all = True
        if pool.busy:
            try:
                await asyncio.wait_for(done.wait(), REQUEST_TIMEOUT)
            except TimeoutError:
                polls.errors.append(f"{pool.busy} polls unanswered after {REQUEST_TIMEOUT:g} s")
        polls.elapsed = time.monotonic() - start
        pool.close()

    try:
        asyncio.run(main())
        polls.cpu_seconds = time.process_time() - started_cpu
        results.send((polls, [s.answers for s in systems]))
    finally:
        clock.began.set()  # never leave the switching process waiting
        results.close()


# The floor ------------------------------------------------------------------------------------
def server_cpu_seconds(pid: int) -> float:
    """CPU time used so far by gunicorn: its master and its workers (from /proc, Linux)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # ended meanwhile
        fields = text[text.rindex(")") + 2 :].split()
        if stat.parent.name == str(pid) or fields[1] == str(pid):  # fields[1]: the parent
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def _closed_loop(port: int, path: str, headers: dict, seconds: float, connections: int) -> int:
    """Requests answered in `seconds` by `connections` keep-alive loops, each sending the next
    request as soon as the last is answered (2xx or 304 only count)."""
    request = request_bytes(port, path, headers)

    async def main() -> int:
        loop = asyncio.get_running_loop()
        stop = time.monotonic() + seconds
        finished = loop.create_future()
        done = [0]
        running = [connections]
        opened = []

        def next_on(connection: Connection):
            def answered(status: int, _headers: dict, _body: bytes) -> None:
                if status not in (200, 304):
                    if not finished.done():
                        finished.set_exception(RuntimeError(f"{path} answered {status}"))
                    return
                done[0] += 1
                if time.monotonic() < stop:
                    connection.send(request, answered)
                else:
                    running[0] -= 1
                    if running[0] == 0 and not finished.done():
                        finished.set_result(None)

            return answered

        for _ in range(connections):
            _, connection = await loop.create_connection(Connection, "127.0.0.1", port)
            opened.append(connection)
        for connection in opened:
            connection.send(request, next_on(connection))
        try:
            await asyncio.wait_for(finished, seconds + REQUEST_TIMEOUT)
        finally:
            for connection in opened:
                connection.close()
        return done[0]

    return asyncio.run(main())


def _floor_client(
    port: int, pid: int, kinds: list, rounds: int, seconds: float, connections: int, results
):
    """In a forked process: each kind in turn, `rounds` times; sends back (kind, answered,
    the server's CPU seconds meanwhile, the client's)."""
    try:
        counts = []
        for _ in range(rounds):
            for label, path, headers in kinds:
                server, client = server_cpu_seconds(pid), time.process_time()
                answered = _closed_loop(port, path, headers, seconds, connections)
                server = server_cpu_seconds(pid) - server
                counts.append((label, answered, server, time.process_time() - client))
        results.send(counts)
    finally:
        results.close()


def floor_figures(
    server: "Gunicorn",
    raw: str,
    *,
    rounds: int | None = None,
    seconds: float | None = None,
    connections: int | None = None,
) -> list[Figures]:
    """The poll's requests per second and server CPU per request against the floors, measured
    on the same server in one interleaved run: a constant-JSON Django view and a constant JSON
    answered before Django (devtools.bench.floor_urls), a poll that answers 200 and one that
    answers 304."""
    # Only for this part.
    from devtools.bench.floor_urls import FLOOR_PATH, WSGI_FLOOR_PATH  # noqa: PLC0415

    assert server.process is not None
    rounds = rounds or FLOOR_ROUNDS
    seconds = seconds or FLOOR_SECONDS
    connections = connections or FLOOR_CONNECTIONS
    auth = {"Authorization": f"Bearer {raw}"}
    request = urllib.request.Request(server.base + URL, headers=auth)
    with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT) as response:
        etag = response.headers["ETag"]
    kinds = [
        ("constant JSON", FLOOR_PATH, {}),
        ("poll, 200", URL, auth),
        ("poll, 304", URL, {**auth, "If-None-Match": etag}),
        ("constant JSON before Django", WSGI_FLOOR_PATH, {}),
    ]
    context = multiprocessing.get_context("fork")
    receiving, sending = context.Pipe(duplex=False)
    client = context.Process(
        target=_floor_client,
        args=(server.port, server.process.pid, kinds, rounds, seconds, connections, sending),
    )
    client.start()
    sending.close()
    try:
        counts = receiving.recv()
    except EOFError:
        raise RuntimeError("the floor client died; see its traceback above") from None
    finally:
        receiving.close()
        client.join()
    answered = dict.fromkeys((label for label, _, _ in kinds), 0)
    server_cpu = dict.fromkeys(answered, 0.0)
    client_cpu = dict.fromkeys(answered, 0.0)
    for label, n, server_seconds, client_seconds in counts:
        answered[label] += n
        server_cpu[label] += server_seconds
        client_cpu[label] += client_seconds
    rate = {label: n / (rounds * seconds) for label, n in answered.items()}
    # Server CPU per request (microseconds): what an answer costs gunicorn, whatever else
    # runs on the machine.
    cost = {label: 1e6 * server_cpu[label] / max(1, n) for label, n in answered.items()}
    floor = rate["constant JSON"] or 1.0
    bare = rate["constant JSON before Django"] or 1.0
    how = (
        f"{connections} keep-alive connections in a closed loop, {rounds} interleaved rounds of "
        f"{seconds:g} s per kind; the client used "
        f"{100 * sum(client_cpu.values()) / (len(kinds) * rounds * seconds):.0f}% of a core"
    )
    return [
        Figures(
            "floor: constant-JSON Django view",
            rate["constant JSON"],
            "requests/s",
            f"{FLOOR_PATH}: the same Django, middleware and gunicorn, no query; "
            f"{cost['constant JSON']:.0f} us of server CPU per request; {how}",
        ),
        Figures(
            "kill-switch poll answering 200, ratio to the floor",
            rate["poll, 200"] / floor,
            "x",
            f"{rate['poll, 200']:,.0f} requests/s, {cost['poll, 200']:.0f} us of server CPU "
            f"per request (goal: at least 0.8x)",
        ),
        Figures(
            "kill-switch poll answering 304, ratio to the floor",
            rate["poll, 304"] / floor,
            "x",
            f"{rate['poll, 304']:,.0f} requests/s, {cost['poll, 304']:.0f} us of server CPU "
            f"per request",
        ),
        Figures(
            "a 304's server CPU per request, ratio to a 200's",
            cost["poll, 304"] / (cost["poll, 200"] or 1.0),
            "x",
            f"{cost['poll, 304']:.0f} us against {cost['poll, 200']:.0f} us "
            f"(goal: below 1x, a 304 cheaper than a 200)",
        ),
        Figures(
            "kill-switch poll answering 200, ratio to a constant JSON before Django",
            rate["poll, 200"] / bare,
            "x",
            f"{WSGI_FLOOR_PATH}: {rate['constant JSON before Django']:,.0f} requests/s, "
            f"{cost['constant JSON before Django']:.0f} us of server CPU per request; a WSGI "
            f"wrapper in front of Django answering a constant body with the portal's headers, "
            f"access log line and request metrics, as the poll's shortcut does",
        ),
    ]


# The run --------------------------------------------------------------------------------------
def _percentile(ordered: list[float], p: float) -> float:
    return ordered[max(0, math.ceil(p * len(ordered)) - 1)] if ordered else 0.0  # nearest rank


def run(
    actor,
    pollers: int = POLLERS,
    poll_seconds: float = POLL_SECONDS,
    duration: float | None = None,
    workers: int = WORKERS,
    threads: int = THREADS,
    connections: int = CONNECTIONS,
    floor: bool = True,
    cache_seconds: float | None = None,
    switched: int = SWITCHED_USE_CASES,
) -> list[Figures]:
    """Poll with `pollers` systems for `duration` (three poll intervals unless given), switch
    every polled use case off half way and return the figures. actor switches them off."""
    duration = duration or 3 * poll_seconds
    # The server's copy of the switches, as deployed but never beyond half an interval.
    if cache_seconds is None:
        cache_seconds = min(settings.KILL_SWITCH_CACHE_SECONDS, poll_seconds / 2)
    server_env = {
        "KILL_SWITCH_POLL_SECONDS": str(max(1, round(poll_seconds))),
        "KILL_SWITCH_CACHE_SECONDS": str(cache_seconds),
    }
    wipe()
    use_cases = production_use_cases(math.ceil(pollers / SYSTEMS_PER_USE_CASE))
    systems = make_tokens(use_cases, pollers)
    # When each use case's switch-off was asked for, and when it had committed.
    asked_at: dict[int, float] = {}
    committed_at: dict[int, float] = {}
    context = multiprocessing.get_context("fork")
    clock = Clock(context)
    receiving, sending = context.Pipe(duplex=False)
    keep_alive = math.ceil(poll_seconds) + 5
    with Gunicorn(workers, threads, keep_alive=keep_alive, extra_env=server_env) as server:
        server.warm_up(systems[0].raw, requests=max(50, 20 * workers * threads))
        floors = floor_figures(server, systems[0].raw) if floor else []
        client = context.Process(
            target=poll_all,
            args=(systems, server.port, poll_seconds, clock, sending, connections),
        )
        client.start()
        sending.close()  # the child's end: recv() then sees EOF if the child dies
        flipped = False
        assert server.process is not None
        server_pid, server_cpu, load_at_start = server.process.pid, 0.0, 0.0
        try:
            clock.began.wait()
            server_cpu = -server_cpu_seconds(server_pid)
            load_at_start = os.getloadavg()[0]
            time.sleep(max(0.0, clock.start + duration / 2 - time.monotonic()))
            # Each use case is switched off through the service, as the portal's button does;
            # its clock starts when the call does, so the service's own time counts.
            flip_started = time.monotonic()
            for use_case in use_cases[:switched]:
                asked_at[use_case.pk] = time.monotonic()
                use_case_set_kill_switch(
                    actor=actor, use_case=use_case, engaged=True, reason="Kill-switch benchmark."
                )
                committed_at[use_case.pk] = time.monotonic()
            flip_seconds = time.monotonic() - flip_started
            flipped = True
        finally:
            # Switching many use cases off takes a while under load: the last one's systems
            # still get a whole interval (and a second for the poll) to hear of it. On an
            # error, the client stops now.
            after = time.monotonic() + poll_seconds + cache_seconds + 1
            clock.stop_at = max(clock.start + duration, after) if flipped else 0.0
            try:
                polls, answers = receiving.recv()
                server_cpu += server_cpu_seconds(server_pid)
            except EOFError:
                raise RuntimeError("the polling client died; see its traceback above") from None
            finally:
                receiving.close()
                client.join()
    for system, seen_by_system in zip(systems, answers, strict=True):
        system.answers = seen_by_system
    switch = Switch(asked_at, committed_at, flip_seconds, cache_seconds)
    polls.server_cpu_seconds = server_cpu
    polls.load = (load_at_start, os.getloadavg()[0])
    results = floors + figures(systems, polls, switch, poll_seconds, workers, threads, connections)
    for use_case in use_cases[:switched]:
        use_case_set_kill_switch(
            actor=actor, use_case=use_case, engaged=False, reason="Kill-switch benchmark over."
        )
    return results


@dataclass
class Switch:
    asked_at: dict[int, float]  # use case id: when the service was called
    committed_at: dict[int, float]  # use case id: when it had returned (committed)
    seconds: float  # switching them all off, one service call each
    cache_seconds: float = 0.0  # how old a web process's copy of the switches may be


@dataclass
class Seen:
    """How each system learnt of its use case's switch-off."""

    delays: list[float]  # from the service call to the answer that said "off", per system
    waits: list[float]  # from the commit to the sending of that poll (the poll interval's part)
    stale: int  # polls sent after the commit and the cache time that said "on": must be none
    missed: int  # systems that never heard
    early: int = 0  # polls sent inside the cache time after the commit that still said "on"
    # Answers that arrived later than the commit plus one poll interval and said "on" (issue
    # 19's promise, whenever the poll was sent): must be none.
    late: int = 0
    systems: int = 0  # the systems of the use cases switched off


def seen(systems: list[System], switch: Switch, poll_seconds: float = POLL_SECONDS) -> Seen:
    delays, waits, stale, missed, early, late, counted = [], [], 0, 0, 0, 0, 0
    for system in systems:
        committed = switch.committed_at.get(system.use_case_id)
        if committed is None:
            continue  # its use case stayed on
        counted += 1
        fresh_from = committed + switch.cache_seconds
        stale += sum(1 for sent, _, on in system.answers if sent > fresh_from and on)
        early += sum(1 for sent, _, on in system.answers if committed < sent <= fresh_from and on)
        late += sum(1 for _, got, on in system.answers if got > committed + poll_seconds and on)
        first = next(((sent, got) for sent, got, on in system.answers if on is False), None)
        if first is None:
            missed += 1
            continue
        delays.append(first[1] - switch.asked_at[system.use_case_id])
        waits.append(max(0.0, first[0] - committed))
    return Seen(delays, waits, stale, missed, early, late, counted)


def figures(
    systems: list[System],
    polls: Polls,
    switch: Switch,
    poll_seconds: float,
    workers: int,
    threads: int,
    connections: int = CONNECTIONS,
) -> list[Figures]:
    requests = len(polls.latencies_ms)
    ordered = sorted(polls.latencies_ms)
    not_modified = polls.statuses.get(304, 0)
    heard = seen(systems, switch, poll_seconds)
    offered = len(systems) / poll_seconds
    answered = requests / polls.elapsed if polls.elapsed else 0.0
    p99 = _percentile(ordered, 0.99)
    # Carried: (nearly) every poll offered was answered, none failed, and 99 in 100 within a
    # second of being due, so no system falls behind its interval.
    carried = answered >= 0.97 * offered and not polls.errors and p99 <= 1000
    slowest = max(heard.delays, default=0.0)
    # Within one poll interval and the cache time: every poll sent after them said "off" (no
    # stale ETag or copy), none missed it, and each heard it within that and the allowance.
    bound = poll_seconds + switch.cache_seconds
    within = (
        heard.missed == 0
        and heard.stale == 0
        and max(heard.waits, default=0.0) <= bound + 0.05  # timer slack
        and slowest <= bound + ALLOWANCE_SECONDS
    )
    statuses = ", ".join(f"{code}: {n:,}" for code, n in sorted(polls.statuses.items()))
    return [
        Figures(
            "kill-switch polls answered",
            answered,
            "requests/s",
            f"{requests:,} polls from {len(systems):,} systems, one every {poll_seconds:g} s "
            f"each, in {polls.elapsed:.1f} s; gunicorn {workers} gthread workers x {threads} "
            f"threads; {min(connections, len(systems)):,} shared keep-alive connections, "
            f"{polls.reconnects} reconnections",
        ),
        Figures(
            "polls answered, ratio to polls offered",
            answered / offered if offered else 0.0,
            "x",
            f"{'carried' if carried else 'NOT carried'}: {len(systems):,} systems every "
            f"{poll_seconds:g} s offer {offered:,.0f} polls/s (carried: at least 0.97x "
            f"answered, no error, p99 within 1 s); the load generator (one asyncio process) "
            f"used {100 * polls.cpu_seconds / (polls.elapsed or 1):.0f}% of a core",
        ),
        Figures(
            "server CPU per poll answered",
            1e6 * polls.server_cpu_seconds / (requests or 1),
            "us",
            f"gunicorn used {100 * polls.server_cpu_seconds / (polls.elapsed or 1):.0f}% of "
            f"one core while the systems polled (this machine has {os.cpu_count()}); load "
            f"average {polls.load[0]:.1f} as polling began, {polls.load[1]:.1f} as it ended",
        ),
        Figures(
            "poll latency at the client, median",
            statistics.median(ordered) if ordered else 0.0,
            "ms",
            f"p95 {_percentile(ordered, 0.95):.1f} ms, p99 {_percentile(ordered, 0.99):.1f} ms, "
            f"max {ordered[-1] if ordered else 0:.1f} ms",
        ),
        Figures(
            "polls answered 304 Not Modified",
            100 * not_modified / requests if requests else 0.0,
            "%",
            statuses,
        ),
        Figures(
            "poll errors",
            len(polls.errors),
            "errors",
            "; ".join(sorted(set(polls.errors))[:3]) or "none",
        ),
        Figures(
            "every poller saw the switch within",
            slowest,
            "s",
            f"{'within' if within else 'NOT within'} one poll interval and the cache time "
            f"({poll_seconds:g} s + {switch.cache_seconds:g} s, +{ALLOWANCE_SECONDS:g} s for "
            f"the call and the poll); "
            f"median {statistics.median(heard.delays) if heard.delays else 0:.1f} s; "
            f"{len(switch.asked_at)} use cases ({heard.systems:,} systems) switched off "
            f"through the service in {switch.seconds:.2f} s; {heard.stale} stale answers after "
            f"the cache time; {heard.early} answers 'on' inside it; {heard.missed} systems "
            f"never saw it",
        ),
        Figures(
            "answers 'on' received after the switch-off committed plus one poll interval",
            heard.late,
            "answers",
            f"must be 0: no poller reads a stale 'enabled' after the commit plus "
            f"{poll_seconds:g} s, however late its poll was sent or answered",
        ),
    ]
