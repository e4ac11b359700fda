"""The one way out of the portal to the network: ``fetch`` (a URL someone typed in: metric
sources, the MLflow import) and ``post_trusted`` (webhooks). Both apply the address rule below.

A metric source's URL is chosen by a person, and the worker that reads it sits inside the
firm's network, so an unchecked GET would let anyone who can add a source read internal
services or the cloud's metadata endpoint (server-side request forgery). ``fetch`` therefore:

- takes only http and https URLs;
- resolves the host itself and refuses if *any* address it resolves to is loopback, private,
  link-local, multicast, reserved, unspecified or shared (100.64/10), unless the address lies
  in ``settings.MONITORING_ALLOWED_NETWORKS``; a cloud metadata address is refused whatever the
  allow-list says, and an IPv6 address that carries an IPv4 one (mapped, 6to4, Teredo) is
  judged by the IPv4 address too; numeric hosts in inet_aton's forms (``2130706433``,
  ``0177.0.0.1``) are read as the address they stand for;
- connects to the address it checked (the name is not looked up again, so DNS rebinding between
  the check and the connection cannot switch it), keeping the name for the Host header and, for
  https, for SNI and the certificate check;
- follows at most ``MAX_REDIRECTS`` redirects itself, checking each target the same way, and
  sends credentials only to the origin they were given for;
- gives up after ``settings.MONITORING_TIMEOUT_SECONDS`` in all (connecting, the status line,
  headers, body and redirects included: a watchdog shuts the socket at the deadline, so a
  server trickling header lines cannot keep a fetch alive) and reads at most
  ``settings.MONITORING_MAX_RESPONSE_BYTES``;
- never names a URL's user:password part in a message (``redact``).

Every failure is an ``OutboundError`` whose message is written for the source's page
("refused: 10.0.0.5 is a private address", "HTTP 500 from ..."). A connection refused, a
timeout, a connection closed without an answer, a TLS failure and an answer that is not HTTP
all give the same message (``no_answer``): were they told apart, the errors would map which
ports listen on an allowed host (a port scan through the portal). The detail is logged on
``steward.outbound`` for the operator. ``transient`` says whether trying again soon may help.

``settings.MONITORING_ALLOWED_NETWORKS`` is the one allow-list for every feature (the name is
older than the webhooks and the import that now share it).
"""

import contextlib
import http.client
import ipaddress
import logging
import re
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from django.conf import settings

MAX_REDIRECTS = 3
REDIRECT_STATUSES = {301, 302, 303, 307, 308}
CHUNK_BYTES = 64 * 1024
USER_AGENT = "Steward-monitoring/1"

# Instance metadata services. Most are link-local or shared addresses anyway; they are named
# so the refusal says what they are.
METADATA_ADDRESSES = {
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, Azure, GCP, OpenStack, DigitalOcean, Oracle
        "169.254.170.2",  # AWS ECS task metadata
        "fd00:ec2::254",  # AWS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud (classic)
    )
}
# Carrier-grade NAT space: not "private" to Python, but never a public service either.
SHARED_NETWORK = ipaddress.ip_network("100.64.0.0/10")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
log = logging.getLogger("steward.outbound")


class OutboundError(Exception):
    """A URL could not be read. ``str(error)`` is the message shown on the source's page."""

    transient = False

    def __init__(self, message: str, *, transient: bool | None = None):
        super().__init__(message)
        self.message = message
        if transient is not None:
            self.transient = transient


class OutboundRefused(OutboundError):
    """The URL or an address it resolves or redirects to is not one the portal may call."""


class FetchFailed(OutboundError):
    """The request was made and did not give a usable answer."""


@dataclass(frozen=True)
class Response:
    url: str  # after redirects
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict, repr=False)


def _size(n: int) -> str:
    if n >= 1024 * 1024 and n % (1024 * 1024) == 0:
        return f"{n // (1024 * 1024)} MB"
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f} MB"
    if n >= 1024 and n % 1024 == 0:
        return f"{n // 1024} KB"
    return f"{n} bytes"


def _seconds(s: float) -> str:
    return f"{s:g} s"


def _allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [
        ipaddress.ip_network(n.strip(), strict=False) for n in settings.MONITORING_ALLOWED_NETWORKS
    ]


def _plain_problem(address: IPAddress) -> str | None:
    """Why one address (no embedded IPv4 considered) may not be called, or None."""
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if any(address in network for network in _allowed_networks()):
        return None
    checks = (
        ("is_unspecified", "an unspecified address"),
        ("is_loopback", "a loopback address"),
        ("is_link_local", "a link-local address"),
        ("is_multicast", "a multicast address"),
        ("is_private", "a private address"),
        ("is_reserved", "a reserved address"),
    )
    for attribute, reason in checks:
        if getattr(address, attribute):
            return reason
    if address.version == 4 and address in SHARED_NETWORK:
        return "a shared (carrier-grade NAT) address"
    if not address.is_global:
        return "not a public address"
    return None


def address_problem(address: IPAddress) -> str | None:
    """Why the portal may not call this address ("a private address"), or None if it may.

    Cloud metadata addresses are refused before the allow-list is consulted: allow-listing
    169.254.0.0/16 for a link-local service must not open 169.254.169.254.
    """
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped:
            return _plain_problem(address.ipv4_mapped)  # ::ffff:10.0.0.1 reaches 10.0.0.1
        # 6to4 (2002::/16) and Teredo (2001::/32) carry IPv4 addresses that relays deliver to.
        embedded: list[tuple[str, ipaddress.IPv4Address]] = []
        if address.sixtofour:
            embedded.append(("a 6to4 address", address.sixtofour))
        if address.teredo:
            server, client = address.teredo
            embedded += [("a Teredo address", server), ("a Teredo address", client)]
        for what, inner in embedded:
            problem = _plain_problem(inner)
            if problem:
                return f"{what} for {inner}, {problem}"
    return _plain_problem(address)


def _numeric_host(host: str) -> IPAddress | None:
    """The address a numeric host stands for in inet_aton's forms (2130706433, 0177.0.0.1,
    0x7f.1), which the resolver accepts but ipaddress does not; None for a name."""
    if not re.fullmatch(r"[0-9a-fA-FxX.]+", host) or not host[0].isdigit():
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def redact(url: str) -> str:
    """The URL without any user:password part, for messages."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def _resolve(host: str, port: int) -> list[str]:
    """The addresses a host resolves to, each checked; refuse if any one is refused."""
    shown = host
    literal: IPAddress | None
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = _numeric_host(host)
        if literal is not None:
            shown = f"{host} ({literal})"  # say what 2130706433 stands for
    if literal is not None:
        problem = address_problem(literal)
        if problem:
            raise OutboundRefused(f"refused: {shown} is {problem}")
        return [str(literal)]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        log.info("could not resolve %s: %s", host, exc)
        raise FetchFailed(f"could not resolve {host}", transient=True) from None
    addresses: list[str] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        # An IPv4 or IPv6 sockaddr starts with the address as text (an IPv6 one may end "%scope").
        address = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
        problem = address_problem(address)
        if problem:
            raise OutboundRefused(f"refused: {host} resolves to {address}, {problem}")
        if str(address) not in addresses:
            addresses.append(str(address))
    if not addresses:
        raise FetchFailed(f"could not resolve {host}: no addresses", transient=True)
    return addresses


class Watchdog:
    """Shuts a request's socket down at its deadline.

    A socket timeout bounds each read, not a sequence of them: a server sending one header
    line every second would keep http.client reading the headers for ever. At the deadline
    the socket is shut down, so whatever read is under way ends at once; the request then
    sees ``expired`` and reports a timeout.
    """

    def __init__(self, deadline: float):
        self.deadline = deadline
        self.expired = threading.Event()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._timer = threading.Timer(max(0.0, deadline - time.monotonic()), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def remaining(self) -> float:
        """Seconds left; TimeoutError if none."""
        left = self.deadline - time.monotonic()
        if left <= 0 or self.expired.is_set():
            raise TimeoutError
        return left

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.expired.is_set():
                self._shut(sock)

    def _fire(self) -> None:
        with self._lock:
            self.expired.set()
            for sock in self._sockets:
                self._shut(sock)

    @staticmethod
    def _shut(sock: socket.socket) -> None:
        with contextlib.suppress(OSError):  # already closed
            sock.shutdown(socket.SHUT_RDWR)

    def cancel(self) -> None:
        self._timer.cancel()


class _PinnedConnection(http.client.HTTPConnection):
    """An HTTP connection to checked addresses; ``host`` stays the name (for the Host header)."""

    def __init__(self, host: str, port: int, *, addresses: list[str], watchdog: Watchdog):
        super().__init__(host, port, timeout=watchdog.remaining())
        self.addresses = addresses
        self.watchdog = watchdog

    def _connect_pinned(self) -> socket.socket:
        last: OSError | None = None
        for address in self.addresses:  # each was checked; try them in the resolver's order
            try:
                # Each try gets only what is left of the whole fetch's time.
                sock = socket.create_connection((address, self.port), self.watchdog.remaining())
            except TimeoutError:
                raise
            except OSError as exc:
                last = exc
                continue
            self.watchdog.watch(sock)
            return sock
        assert last is not None
        raise last

    def connect(self) -> None:
        self.sock = self._connect_pinned()


class _PinnedTLSConnection(_PinnedConnection):
    default_port = http.client.HTTPS_PORT

    def __init__(self, host: str, port: int, *, addresses: list[str], watchdog: Watchdog):
        super().__init__(host, port, addresses=addresses, watchdog=watchdog)
        self.tls = ssl.create_default_context()

    def connect(self) -> None:
        # The certificate must be valid for the name the person typed, not for the address.
        self.sock = self.tls.wrap_socket(self._connect_pinned(), server_hostname=self.host)


def _one_request(
    url: str, headers: Mapping[str, str], deadline: float, limit: int
) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise OutboundRefused(f"refused: only http and https URLs are read, not {parts.scheme!r}")
    host = parts.hostname
    if not host:
        raise OutboundRefused(f"refused: {redact(url)!r} names no host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise OutboundRefused(f"refused: {redact(url)!r} has a bad port") from None
    addresses = _resolve(host, port)
    watchdog = Watchdog(deadline)
    try:
        return _exchange(parts, host, port, addresses, headers, watchdog, limit)
    except (OSError, http.client.HTTPException):
        # A read cut short by the watchdog fails in whatever way it happened to be cut.
        if watchdog.expired.is_set():
            raise TimeoutError from None
        raise
    finally:
        watchdog.cancel()


def _exchange(
    parts, host: str, port: int, addresses: list[str], headers, watchdog: Watchdog, limit: int
) -> tuple[int, dict[str, str], bytes]:
    connection_class = _PinnedTLSConnection if parts.scheme == "https" else _PinnedConnection
    connection = connection_class(host, port, addresses=addresses, watchdog=watchdog)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    try:
        connection.request(
            "GET",
            path,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json", **headers},
        )
        # Kept here: the connection drops its reference once a closing response arrives.
        sock = connection.sock
        sock.settimeout(watchdog.remaining())
        response = connection.getresponse()
        response_headers = {k.lower(): v for k, v in response.getheaders()}
        watchdog.remaining()  # headers that ended because the watchdog fired are not headers
        if response.status in REDIRECT_STATUSES:
            return response.status, response_headers, b""
        declared = response_headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise FetchFailed(f"response larger than {_size(limit)}")
        body = bytearray()
        while True:
            sock.settimeout(watchdog.remaining())
            chunk = response.read1(min(CHUNK_BYTES, limit + 1 - len(body)))
            if not chunk:
                break
            body += chunk
            if len(body) > limit:  # one byte over the cap is enough to know
                raise FetchFailed(f"response larger than {_size(limit)}")
        watchdog.remaining()  # an end of body caused by the shutdown is no end
        return response.status, response_headers, bytes(body)
    finally:
        connection.close()


def origin(url: str) -> tuple[str, str | None, int | None]:
    """(scheme, host, port) with the scheme's default port filled in; a bad port gives None."""
    parts = urlsplit(url)
    try:
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        port = None
    return parts.scheme, parts.hostname, port


def no_answer(url: str, timeout: float) -> str:
    """The one message for every way a request can fail to get an HTTP answer."""
    return (
        f"no HTTP answer from {_host(url)} within {_seconds(timeout)} "
        "(refused, closed, silent or not HTTP)"
    )


def fetch(
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    timeout: float | None = None,
    max_bytes: int | None = None,
) -> Response:
    """GET a URL under the rules above; a 2xx answer's body, or an OutboundError.

    ``timeout`` and ``max_bytes`` default to the metric sources' settings.
    """
    timeout = float(settings.MONITORING_TIMEOUT_SECONDS if timeout is None else timeout)
    limit = int(settings.MONITORING_MAX_RESPONSE_BYTES if max_bytes is None else max_bytes)
    deadline = time.monotonic() + timeout
    first = origin(url)
    current = url
    for hop in range(MAX_REDIRECTS + 1):
        # Credentials go to the origin they were given for, never to where it redirects.
        sent = dict(headers or {}) if origin(current) == first else {}
        try:
            status, response_headers, body = _one_request(current, sent, deadline, limit)
        except OutboundError:
            raise
        except (OSError, http.client.HTTPException) as exc:  # TimeoutError and SSLError too
            _log_no_answer(current, exc)
            raise FetchFailed(no_answer(current, timeout), transient=True) from None
        if status in REDIRECT_STATUSES:
            location = response_headers.get("location")
            if not location:
                raise FetchFailed(f"HTTP {status} from {redact(current)} without a Location")
            if hop == MAX_REDIRECTS:
                raise FetchFailed(f"more than {MAX_REDIRECTS} redirects from {redact(url)}")
            # A user:password in a Location is dropped: it is neither sent nor shown.
            target = redact(urljoin(current, location))
            try:
                # Checked here too, so the message names the redirect, then again when followed.
                _check_target(target)
            except OutboundRefused as exc:
                raise OutboundRefused(
                    f"refused redirect to {target}: {exc.message.removeprefix('refused: ')}"
                ) from None
            current = target
            continue
        if status >= 400 or status < 200:
            detail = _error_detail(body)
            raise FetchFailed(
                f"HTTP {status} from {redact(current)}" + (f": {detail}" if detail else ""),
                transient=status >= 500,
            )
        return Response(url=redact(current), status=status, body=body, headers=response_headers)
    raise AssertionError("unreachable")


def _log_no_answer(url: str, exc: BaseException) -> None:
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    log.info("no HTTP answer from %s: %s", _host(url), reason or type(exc).__name__)


def _error_detail(body: bytes) -> str:
    """A short, single-line excerpt of an error answer (Prometheus explains bad queries)."""
    text = " ".join(body[:400].decode("utf-8", errors="replace").split())
    return text[:200]


def _check_target(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise OutboundRefused(f"refused: only http and https URLs are read, not {parts.scheme!r}")
    if not parts.hostname:
        raise OutboundRefused("refused: the URL names no host")
    _resolve(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))


def check_literal(url: str) -> str | None:
    """Why a URL is refused without a DNS look-up (scheme, an IP literal), or None.

    Used when a source is saved, so an obviously refused URL is an error on the form; names
    are resolved (and refused) at pull time, when the answer counts.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return f"Only http and https URLs are read, not {parts.scheme!r}."
    if not parts.hostname:
        return "The URL names no host."
    shown = parts.hostname
    address: IPAddress | None
    try:
        address = ipaddress.ip_address(parts.hostname)
    except ValueError:
        address = _numeric_host(parts.hostname)
        if address is None:
            return None
        shown = f"{parts.hostname} ({address})"
    problem = address_problem(address)
    return f"refused: {shown} is {problem}" if problem else None


# Posting to a trusted receiver -----------------------------------------------------------------
class PostFailed(OutboundError):
    """A POST to a trusted receiver got no 2xx answer; ``status`` is the HTTP status, if any."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message, transient=True)
        self.status = status


def _host(url: str) -> str:
    """host:port of a URL, for messages: never its user, password, path or query."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    if ":" in host:  # IPv6
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{host}:{port}" if port else host


def post_trusted(
    url: str, *, headers: Mapping[str, str], body: bytes, timeout: float, max_bytes: int
) -> int:
    """POST to a receiver an admin configured; the 2xx status, or PostFailed.

    The address rule of ``fetch`` applies (a receiver inside the firm's network is allowed by
    listing its network in ``MONITORING_ALLOWED_NETWORKS``), the connection goes to the
    address that was checked, and redirects are not followed. The whole exchange ends at
    ``timeout`` and at most ``max_bytes`` of the answer are read.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PostFailed(f"not an http or https URL ({parts.scheme or 'no scheme'})")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise PostFailed("the URL has a bad port") from None
    try:
        addresses = _resolve(parts.hostname, port)
    except OutboundError as exc:
        raise PostFailed(exc.message) from None
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    # The watchdog shuts the socket at the deadline, so a server trickling its answer cannot
    # hold a worker beyond the timeout (a socket timeout bounds each read, not the sum).
    watchdog = Watchdog(time.monotonic() + timeout)
    connection_class = _PinnedTLSConnection if parts.scheme == "https" else _PinnedConnection
    try:
        connection = connection_class(parts.hostname, port, addresses=addresses, watchdog=watchdog)
        try:
            connection.request("POST", path, body=body, headers=dict(headers))
            connection.sock.settimeout(watchdog.remaining())
            response = connection.getresponse()
            answer = response.read(max_bytes)  # the rest is not read
            watchdog.remaining()
        finally:
            connection.close()
    except (OSError, http.client.HTTPException) as exc:  # TimeoutError and SSLError too
        _log_no_answer(url, exc)
        raise PostFailed(no_answer(url, timeout)) from None
    finally:
        watchdog.cancel()
    if not 200 <= response.status < 300:
        detail = _error_detail(answer)
        raise PostFailed(
            f"HTTP {response.status}" + (f": {detail}" if detail else ""), response.status
        )
    return response.status
