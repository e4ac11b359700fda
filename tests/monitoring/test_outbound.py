"""The outbound rule: what the puller refuses to call, and what it calls when allow-listed.

Every case runs against real sockets; a refused address is refused before any connection.
"""

import pytest

from monitoring.outbound import FetchFailed, OutboundRefused, address_problem, fetch
from tests.monitoring.servers import TestServer, closed_port


@pytest.fixture
def server():
    with TestServer() as running:
        yield running


@pytest.fixture
def allow_loopback(settings):
    settings.MONITORING_ALLOWED_NETWORKS = ["127.0.0.1/32"]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1:9/", "refused: 127.0.0.1 is a loopback address"),
        ("http://10.0.0.5/metrics", "refused: 10.0.0.5 is a private address"),
        ("http://192.168.1.20/", "refused: 192.168.1.20 is a private address"),
        ("http://169.254.10.10/", "refused: 169.254.10.10 is a link-local address"),
        (
            "http://169.254.169.254/latest/meta-data/",
            "refused: 169.254.169.254 is a cloud metadata address",
        ),
        ("http://[fd00:ec2::254]/", "refused: fd00:ec2::254 is a cloud metadata address"),
        ("http://100.100.100.200/", "refused: 100.100.100.200 is a cloud metadata address"),
        ("http://[::1]/", "refused: ::1 is a loopback address"),
        ("http://[fe80::1]/", "refused: fe80::1 is a link-local address"),
        ("http://[::ffff:10.0.0.1]/", "refused: ::ffff:10.0.0.1 is a private address"),
        ("http://0.0.0.0/", "refused: 0.0.0.0 is an unspecified address"),
        ("http://224.0.0.1/", "refused: 224.0.0.1 is a multicast address"),
        ("http://100.64.0.1/", "refused: 100.64.0.1 is a shared (carrier-grade NAT) address"),
    ],
)
def test_non_public_addresses_are_refused(url, message):
    with pytest.raises(OutboundRefused) as refused:
        fetch(url)
    assert str(refused.value) == message
    assert not refused.value.transient


def test_a_name_resolving_to_loopback_is_refused(server):
    server.answer("/", json={"ok": 1})

    with pytest.raises(OutboundRefused, match=r"refused: localhost resolves to .*loopback"):
        fetch(f"http://localhost:{server.port}/")
    assert server.requests == []


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "gopher://a/"])
def test_only_http_and_https_are_read(url):
    with pytest.raises(OutboundRefused, match="only http and https"):
        fetch(url)


def test_an_allow_listed_loopback_server_is_read(server, allow_loopback):
    server.answer("/stats", json={"error_rate": 0.02})

    response = fetch(server.url("/stats"), headers={"Authorization": "Bearer s3cret"})

    assert response.status == 200
    assert response.body == b'{"error_rate": 0.02}'
    assert server.requests[0].headers["authorization"] == "Bearer s3cret"


def test_the_allow_list_admits_only_its_own_addresses(server, settings):
    settings.MONITORING_ALLOWED_NETWORKS = ["127.0.0.2/32"]
    with pytest.raises(OutboundRefused, match="127.0.0.1 is a loopback address"):
        fetch(server.url())
    assert address_problem(__import__("ipaddress").ip_address("127.0.0.2")) is None


def test_a_name_connects_to_the_checked_address_and_keeps_its_host_header(server, settings):
    settings.MONITORING_ALLOWED_NETWORKS = ["127.0.0.0/8", "::1/128"]
    server.answer("/", json={})

    fetch(f"http://localhost:{server.port}/")

    assert server.requests[0].headers["host"] == f"localhost:{server.port}"


def test_a_redirect_to_a_loopback_address_not_allowed_is_refused(settings):
    settings.MONITORING_ALLOWED_NETWORKS = ["127.0.0.2/32"]
    with TestServer("127.0.0.1") as inside, TestServer("127.0.0.2") as allowed:
        inside.answer("/secret", json={"secret": True})
        allowed.redirect("/stats", inside.url("/secret"))

        with pytest.raises(OutboundRefused) as refused:
            fetch(allowed.url("/stats"))

    assert str(refused.value) == (
        f"refused redirect to {inside.url('/secret')}: 127.0.0.1 is a loopback address"
    )
    assert inside.requests == []


def test_a_redirect_to_a_private_address_is_refused(server, allow_loopback):
    server.redirect("/stats", "http://10.1.2.3/admin")

    with pytest.raises(OutboundRefused, match="refused redirect to http://10.1.2.3/admin: "):
        fetch(server.url("/stats"))


def test_redirects_within_the_allow_list_are_followed_without_credentials_elsewhere(
    settings,
):
    settings.MONITORING_ALLOWED_NETWORKS = ["127.0.0.1/32", "127.0.0.2/32"]
    with TestServer("127.0.0.1") as first, TestServer("127.0.0.2") as second:
        first.redirect("/a", "/b")
        first.redirect("/b", second.url("/c"))
        second.answer("/c", json={"v": 1})

        response = fetch(first.url("/a"), headers={"Authorization": "Bearer s3cret"})

    assert response.url == second.url("/c")
    assert [r.path for r in first.requests] == ["/a", "/b"]
    assert first.requests[1].headers["authorization"] == "Bearer s3cret"
    assert "authorization" not in second.requests[0].headers


def test_more_than_three_redirects_fail(server, allow_loopback):
    for hop in range(5):
        server.redirect(f"/{hop}", f"/{hop + 1}")

    with pytest.raises(FetchFailed, match="more than 3 redirects"):
        fetch(server.url("/0"))
    assert len(server.requests) == 4


def test_a_closed_port_fails_as_transient(allow_loopback):
    with pytest.raises(FetchFailed, match="could not connect to 127.0.0.1:") as failed:
        fetch(f"http://127.0.0.1:{closed_port()}/")
    assert failed.value.transient


def test_a_slow_server_times_out(server, allow_loopback, settings):
    settings.MONITORING_TIMEOUT_SECONDS = 0.3
    server.answer("/", json={}, delay=2)

    with pytest.raises(FetchFailed) as failed:
        fetch(server.url())
    assert str(failed.value) == "timed out after 0.3 s"
    assert failed.value.transient


def test_a_server_error_is_transient_and_a_client_error_is_not(server, allow_loopback):
    server.answer("/down", status=503, body="maintenance")
    server.answer("/gone", status=404, body="")

    with pytest.raises(FetchFailed) as down:
        fetch(server.url("/down"))
    with pytest.raises(FetchFailed) as gone:
        fetch(server.url("/gone"))

    assert str(down.value) == f"HTTP 503 from {server.url('/down')}: maintenance"
    assert down.value.transient
    assert str(gone.value) == f"HTTP 404 from {server.url('/gone')}"
    assert not gone.value.transient


def test_a_body_over_the_cap_is_refused_whatever_length_it_declares(
    server, allow_loopback, settings
):
    settings.MONITORING_MAX_RESPONSE_BYTES = 1024
    server.answer("/declared", body=b"x" * 2000)
    # A server that does not say how much it sends (read until it closes).
    server.answer("/undeclared", body=b"x" * 2000, headers={"Content-Length": ""})
    server.answer("/fits", body=b"x" * 1024)

    for path in ("/declared", "/undeclared"):
        with pytest.raises(FetchFailed, match=r"^response larger than 1 KB$"):
            fetch(server.url(path))
    assert len(fetch(server.url("/fits")).body) == 1024
