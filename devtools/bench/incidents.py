"""`manage.py bench --only killswitch`: 1,000 deployed systems poll the kill switch at once.

Every deployed system asks GET /api/v1/kill-switch/ with a token of its own every poll interval,
sending the ETag it last saw, so an unchanged switch costs a 304 and no body. The benchmark:

1. gives each simulated system a token on a production use case of the seeded registry (ten
   systems per use case; the rows are bulk-created, hashed as the service hashes them);
2. starts gunicorn (gthread workers) on a free port of 127.0.0.1, on the same database;
3. measures the poll against its floor on the same server: a constant-JSON Django view
   (devtools.bench.floor_urls) in a closed loop, interleaved with polls answering 200 and 304;
4. polls from one asyncio client, the systems sharing a pool of kept-alive HTTP/1.1
   connections (as behind a load balancer), each system starting at a random point of its
   first interval, for three poll intervals;
5. half way through, switches every polled use case off through the registry's service and
   times, per system, how long after the switch-off was asked for it first got
   {"enabled": false}. Each web process answers from its own copy of the switches, read again
   when older than KILL_SWITCH_CACHE_SECONDS (incidents.services.killswitch.PollBook), so the
   promise checked is: no poll sent longer than that after the switch-off had committed was
   answered "on", and each system heard it within one poll interval plus that time, plus
   the poll's latency. Polls answered "on" inside that time are counted and shown;
6. stops gunicorn (always) and switches the use cases back on through the service.

The client is asyncio on purpose: 1,000 idle connections cost it nothing, and at 100 requests
a second one thread keeps up on a 2-core machine, leaving the cores to gunicorn.
"""

import asyncio
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
        """Untimed polls first: each worker's first requests import the views and open its
        database connections, seconds of work a server that has been up a while has done."""

        def one(_) -> None:
            request = urllib.request.Request(
                self.base + URL, headers={"Authorization": f"Bearer {raw}"}
            )
            with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT) as response:
                response.read()

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


class Connection:
    """One keep-alive HTTP/1.1 connection, just enough of the protocol for the kill switch."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def get(self, path: str, headers: dict[str, str]) -> tuple[int, dict, bytes]:
        assert self.reader is not None and self.writer is not None, "open() first"
        lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{self.port}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await self.writer.drain()
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionResetError("closed by the server")
        status = int(status_line.split()[1])
        answer: dict[str, str] = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            answer[name.strip().lower()] = value.strip()
        if status in (204, 304):
            body = b""
        elif answer.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while size := int((await self.reader.readline()).split(b";")[0], 16):
                chunks.append((await self.reader.readexactly(size + 2))[:-2])  # less its CRLF
            await self.reader.readline()
            body = b"".join(chunks)
        else:
            body = await self.reader.readexactly(int(answer.get("content-length", "0")))
        if answer.get("connection", "").lower() == "close":
            self.close()
        return status, answer, body


async def poll(
    system: System,
    pool: asyncio.Queue,
    poll_seconds: float,
    first_at: float,
    polls: Polls,
    clock: Clock,
) -> None:
    """Poll every poll_seconds from first_at until clock.stop_at, as a deployed system would.

    Each poll borrows a kept-alive connection from the pool (as a load balancer in front of
    the web processes would hold them); waiting for one counts in the poll's latency."""
    next_at = first_at
    while next_at < clock.stop_at:
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        next_at += poll_seconds
        headers = {"Authorization": f"Bearer {system.raw}", "Accept": "application/json"}
        if system.etag:
            headers["If-None-Match"] = system.etag
        sent = time.monotonic()
        started = time.perf_counter()
        connection = await pool.get()
        try:
            status, answer, body = await asyncio.wait_for(
                _get(connection, headers, polls), REQUEST_TIMEOUT
            )
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
            polls.errors.append(f"{type(exc).__name__}: {exc}")
            connection.close()
            continue
        finally:
            pool.put_nowait(connection)
        polls.latencies_ms.append((time.perf_counter() - started) * 1000)
        polls.statuses[status] = polls.statuses.get(status, 0) + 1
        if status == 200:
            system.etag = answer.get("etag", "")
            try:
                enabled = json.loads(body)["enabled"]
            except (ValueError, KeyError, TypeError) as exc:
                polls.errors.append(f"unreadable answer ({exc}): {body[:200]!r}")
                continue
            system.enabled = enabled
        elif status != 304:
            polls.errors.append(f"HTTP {status}: {body[:200]!r}")
            continue
        system.answers.append((sent, time.monotonic(), system.enabled))


async def _get(
    connection: Connection, headers: dict, polls: Polls, path: str = URL
) -> tuple[int, dict, bytes]:
    """A GET on the kept-alive connection; once more on a new one if the server had closed it."""
    if connection.writer is None:
        await connection.open()
    else:
        try:
            return await connection.get(path, headers)
        except (ConnectionError, asyncio.IncompleteReadError):
            connection.close()  # the server dropped an idle connection: open a new one
            polls.reconnects += 1
            await connection.open()
    return await connection.get(path, headers)


def poll_all(
    systems: list[System],
    port: int,
    poll_seconds: float,
    clock: Clock,
    results,
    connections: int = CONNECTIONS,
) -> None:
    """Every system polling concurrently until the clock says stop; sends back what each saw.

    It runs in a process of its own (forked: it touches neither Django nor the database), so
    the client has a core's worth of time and no lock in common with the switching process.
    """
    polls = Polls()

    async def main() -> None:
        pool: asyncio.Queue = asyncio.Queue()
        for _ in range(min(connections, len(systems))):
            pool.put_nowait(Connection(port))
        start = clock.start = time.monotonic()
        clock.began.set()
        rng = random.Random(6)
        tasks = [
            poll(s, pool, poll_seconds, start + rng.uniform(0, poll_seconds), polls, clock)
            for s in systems
        ]
        await asyncio.gather(*tasks)
        polls.elapsed = time.monotonic() - start
        while not pool.empty():
            pool.get_nowait().close()

    try:
        asyncio.run(main())
        results.send((polls, [s.answers for s in systems]))
    finally:
        clock.began.set()  # never leave the switching process waiting
        results.close()


# The floor ------------------------------------------------------------------------------------
def _closed_loop(port: int, path: str, headers: dict, seconds: float, connections: int) -> int:
    """Requests answered in `seconds` by `connections` keep-alive loops, each sending the next
    request as soon as the last is answered (2xx or 304 only count)."""
    polls = Polls()

    async def loop(stop: float) -> int:
        connection, done = Connection(port), 0
        try:
            while time.monotonic() < stop:
                status, _, _ = await _get(connection, headers, polls, path)
                if status not in (200, 304):
                    raise RuntimeError(f"{path} answered {status}")
                done += 1
        finally:
            connection.close()
        return done

    async def main() -> int:
        stop = time.monotonic() + seconds
        return sum(await asyncio.gather(*(loop(stop) for _ in range(connections))))

    return asyncio.run(main())


def _floor_client(port: int, kinds: list, rounds: int, seconds: float, connections: int, results):
    """In a forked process: each kind in turn, `rounds` times; sends back (kind, answered)."""
    try:
        counts = []
        for _ in range(rounds):
            for label, path, headers in kinds:
                counts.append((label, _closed_loop(port, path, headers, seconds, connections)))
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
    """The poll's requests per second against the floor, measured on the same server in one
    interleaved run: a constant-JSON Django view (devtools.bench.floor_urls), a poll that
    answers 200 and one that answers 304."""
    from devtools.bench.floor_urls import FLOOR_PATH  # noqa: PLC0415 (only for this part)

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
    ]
    context = multiprocessing.get_context("fork")
    receiving, sending = context.Pipe(duplex=False)
    client = context.Process(
        target=_floor_client, args=(server.port, kinds, rounds, seconds, connections, sending)
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
    rate = {label: 0.0 for label, _, _ in kinds}
    for label, answered in counts:
        rate[label] += answered / (rounds * seconds)
    floor = rate["constant JSON"] or 1.0
    how = (
        f"{connections} keep-alive connections in a closed loop, {rounds} interleaved rounds of "
        f"{seconds:g} s per kind"
    )
    return [
        Figures(
            "floor: constant-JSON Django view",
            rate["constant JSON"],
            "requests/s",
            f"{FLOOR_PATH}: the same Django, middleware and gunicorn, no query; {how}",
        ),
        Figures(
            "kill-switch poll answering 200, ratio to the floor",
            rate["poll, 200"] / floor,
            "x",
            f"{rate['poll, 200']:,.0f} requests/s (goal: at least 0.8x)",
        ),
        Figures(
            "kill-switch poll answering 304, ratio to the floor",
            rate["poll, 304"] / floor,
            "x",
            f"{rate['poll, 304']:,.0f} requests/s (a 304 should cost less than a 200)",
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
        try:
            clock.began.wait()
            time.sleep(max(0.0, clock.start + duration / 2 - time.monotonic()))
            # Each use case is switched off through the service, as the portal's button does;
            # its clock starts when the call does, so the service's own time counts.
            flip_started = time.monotonic()
            for use_case in use_cases:
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
            except EOFError:
                raise RuntimeError("the polling client died; see its traceback above") from None
            finally:
                receiving.close()
                client.join()
    for system, seen_by_system in zip(systems, answers, strict=True):
        system.answers = seen_by_system
    for use_case in use_cases:
        use_case_set_kill_switch(
            actor=actor, use_case=use_case, engaged=False, reason="Kill-switch benchmark over."
        )
    switch = Switch(asked_at, committed_at, flip_seconds, cache_seconds)
    return floors + figures(systems, polls, switch, poll_seconds, workers, threads, connections)


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


def seen(systems: list[System], switch: Switch) -> Seen:
    delays, waits, stale, missed, early = [], [], 0, 0, 0
    for system in systems:
        committed = switch.committed_at[system.use_case_id]
        fresh_from = committed + switch.cache_seconds
        stale += sum(1 for sent, _, on in system.answers if sent > fresh_from and on)
        early += sum(1 for sent, _, on in system.answers if committed < sent <= fresh_from and on)
        first = next(((sent, got) for sent, got, on in system.answers if on is False), None)
        if first is None:
            missed += 1
            continue
        delays.append(first[1] - switch.asked_at[system.use_case_id])
        waits.append(max(0.0, first[0] - committed))
    return Seen(delays, waits, stale, missed, early)


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
    heard = seen(systems, switch)
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
            requests / polls.elapsed if polls.elapsed else 0.0,
            "requests/s",
            f"{requests:,} polls from {len(systems):,} systems, one every {poll_seconds:g} s "
            f"each, in {polls.elapsed:.1f} s; gunicorn {workers} gthread workers x {threads} "
            f"threads; {min(connections, len(systems)):,} shared keep-alive connections, "
            f"{polls.reconnects} reconnections",
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
            f"{len(switch.asked_at)} use cases switched off through the service in "
            f"{switch.seconds:.2f} s; {heard.stale} stale answers after the cache time; "
            f"{heard.early} answers 'on' inside it; {heard.missed} systems never saw it",
        ),
    ]
