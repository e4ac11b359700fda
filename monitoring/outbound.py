"""The one way the portal reads a URL someone typed in: ``fetch``.

A metric source's URL is chosen by a person, and the worker that reads it sits inside the
firm's network, so an unchecked GET would let anyone who can add a source read internal
services or the cloud's metadata endpoint (server-side request forgery). ``fetch`` therefore:

- takes only http and https URLs;
- resolves the host itself and refuses if *any* address it resolves to is loopback, private,
  link-local, multicast, reserved, unspecified, shared (100.64/10) or a cloud metadata address,
  unless the address lies in ``settings.MONITORING_ALLOWED_NETWORKS``;
- connects to the address it checked (the name is not looked up again, so DNS rebinding between
  the check and the connection cannot switch it), keeping the name for the Host header and, for
  https, for SNI and the certificate check;
- follows at most ``MAX_REDIRECTS`` redirects itself, checking each target the same way, and
  sends credentials only to the origin they were given for;
- gives up after ``settings.MONITORING_TIMEOUT_SECONDS`` in all (redirects included) and reads at
  most ``settings.MONITORING_MAX_RESPONSE_BYTES``.

Every failure is an ``OutboundError`` whose message is written for the source's page
("refused: 10.0.0.5 is a private address", "timed out after 2 s", "HTTP 500 from ...").
``transient`` says whether trying again soon may help (timeouts, connection errors, 5xx).
"""

import http.client
import ipaddress
import socket
import ssl
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


def address_problem(address: IPAddress) -> str | None:
    """Why the portal may not call this address ("a private address"), or None if it may."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped  # ::ffff:10.0.0.1 reaches 10.0.0.1
    if any(address in network for network in _allowed_networks()):
        return None
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
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


def _resolve(host: str, port: int) -> list[str]:
    """The addresses a host resolves to, each checked; refuse if any one is refused."""
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        problem = address_problem(literal)
        if problem:
            raise OutboundRefused(f"refused: {host} is {problem}")
        return [str(literal)]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchFailed(f"could not resolve {host}: {exc}", transient=True) from None
    addresses: list[str] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(sockaddr[0].split("%")[0])
        problem = address_problem(address)
        if problem:
            raise OutboundRefused(f"refused: {host} resolves to {address}, {problem}")
        if str(address) not in addresses:
            addresses.append(str(address))
    if not addresses:
        raise FetchFailed(f"could not resolve {host}: no addresses", transient=True)
    return addresses


class _PinnedConnection(http.client.HTTPConnection):
    """An HTTP connection to checked addresses; ``host`` stays the name (for the Host header)."""

    def __init__(self, host: str, port: int, *, addresses: list[str], timeout: float):
        super().__init__(host, port, timeout=timeout)
        self.addresses = addresses

    def _connect_pinned(self) -> socket.socket:
        last: OSError | None = None
        for address in self.addresses:  # each was checked; try them in the resolver's order
            try:
                return socket.create_connection((address, self.port), self.timeout)
            except TimeoutError:
                raise
            except OSError as exc:
                last = exc
        assert last is not None
        raise last

    def connect(self) -> None:
        self.sock = self._connect_pinned()


class _PinnedTLSConnection(_PinnedConnection):
    default_port = http.client.HTTPS_PORT

    def __init__(self, host: str, port: int, *, addresses: list[str], timeout: float):
        super().__init__(host, port, addresses=addresses, timeout=timeout)
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
        raise OutboundRefused(f"refused: {url!r} names no host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise OutboundRefused(f"refused: {url!r} has a bad port") from None
    addresses = _resolve(host, port)
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError
    connection_class = _PinnedTLSConnection if parts.scheme == "https" else _PinnedConnection
    connection = connection_class(host, port, addresses=addresses, timeout=remaining)
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
        response = connection.getresponse()
        response_headers = {k.lower(): v for k, v in response.getheaders()}
        if response.status in REDIRECT_STATUSES:
            return response.status, response_headers, b""
        declared = response_headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise FetchFailed(f"response larger than {_size(limit)}")
        body = bytearray()
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            sock.settimeout(remaining)
            chunk = response.read1(min(CHUNK_BYTES, limit + 1 - len(body)))
            if not chunk:
                break
            body += chunk
            if len(body) > limit:  # one byte over the cap is enough to know
                raise FetchFailed(f"response larger than {_size(limit)}")
        return response.status, response_headers, bytes(body)
    finally:
        connection.close()


def _origin(url: str) -> tuple[str, str | None, int | None]:
    parts = urlsplit(url)
    return parts.scheme, parts.hostname, parts.port


def fetch(url: str, *, headers: Mapping[str, str] | None = None) -> Response:
    """GET a URL under the rules above; a 2xx answer's body, or an OutboundError."""
    timeout = float(settings.MONITORING_TIMEOUT_SECONDS)
    limit = int(settings.MONITORING_MAX_RESPONSE_BYTES)
    deadline = time.monotonic() + timeout
    origin = _origin(url)
    current = url
    for hop in range(MAX_REDIRECTS + 1):
        # Credentials go to the origin they were given for, never to where it redirects.
        sent = dict(headers or {}) if _origin(current) == origin else {}
        try:
            status, response_headers, body = _one_request(current, sent, deadline, limit)
        except OutboundError:
            raise
        except TimeoutError:
            raise FetchFailed(f"timed out after {_seconds(timeout)}", transient=True) from None
        except ssl.SSLError as exc:
            raise FetchFailed(
                f"TLS failed with {urlsplit(current).hostname}: {exc.reason}"
            ) from None
        except (OSError, http.client.HTTPException) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            reason = reason or exc.__class__.__name__
            raise FetchFailed(
                f"could not connect to {urlsplit(current).netloc}: {reason}", transient=True
            ) from None
        if status in REDIRECT_STATUSES:
            location = response_headers.get("location")
            if not location:
                raise FetchFailed(f"HTTP {status} from {current} without a Location")
            if hop == MAX_REDIRECTS:
                raise FetchFailed(f"more than {MAX_REDIRECTS} redirects from {url}")
            target = urljoin(current, location)
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
                f"HTTP {status} from {current}" + (f": {detail}" if detail else ""),
                transient=status >= 500,
            )
        return Response(url=current, status=status, body=body, headers=response_headers)
    raise AssertionError("unreachable")


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
    try:
        address = ipaddress.ip_address(parts.hostname)
    except ValueError:
        return None
    problem = address_problem(address)
    return f"refused: {address} is {problem}" if problem else None
