"""The outbound rule: what the puller refuses to call, and what it calls when allow-listed.

Every case runs against real sockets; a refused address is refused before any connection.
"""

import ipaddress
import socket
import time

import pytest

from portal.outbound import (
    FetchFailed,
    OutboundRefused,
    address_problem,
    check_literal,
    fetch,
    no_answer,
)
from tests.monitoring.servers import TestServer, TricklingServer, closed_port


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


@pytest.mark.slow
def test_a_name_resolving_to_loopback_is_refused(server):
    server.answer("/", json={"ok": 1})

    with pytest.raises(OutboundRefused, match=r"refused: localhost resolves to .*loopback"):
        fetch(f"http://localhost:{server.port}/")
    assert server.requests == []


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "gopher://a/"])
def test_only_http_and_https_are_read(url):
    with pytest.raises(OutboundRefused, match="only http and https"):
        fetch(url)


@pytest.mark.slow
def test_an_allow_listed_loopback_server_is_read(server, allow_loopback):
    server.answer("/stats", json={"error_rate": 0.02})

    response = fetch(server.url("/stats"), headers={"Authorization": "Bearer s3cret"})

    assert response.status == 200
    assert response.body == b'{"error_rate": 0.02}'
    assert server.requests[0].headers["authorization"] == "Bearer s3cret"


@pytest.mark.slow
def test_the_allow_list_admits_only_its_own_addresses(server, settings):
    settings.MONITORING_ALLOWED_NETWORKS = ["127.0.0.2/32"]
    with pytest.raises(OutboundRefused, match="127.0.0.1 is a loopback address"):
        fetch(server.url())
    assert address_problem(__import__("ipaddress").ip_address("127.0.0.2")) is None


@pytest.mark.slow
def test_a_name_connects_to_the_checked_address_and_keeps_its_host_header(server, settings):
    settings.MONITORING_ALLOWED_NETWORKS = ["127.0.0.0/8", "::1/128"]
    server.answer("/", json={})

    fetch(f"http://localhost:{server.port}/")

    assert server.requests[0].headers["host"] == f"localhost:{server.port}"


@pytest.mark.slow
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


@pytest.mark.slow
def test_a_redirect_to_a_private_address_is_refused(server, allow_loopback):
    server.redirect("/stats", "http://10.1.2.3/admin")

    with pytest.raises(OutboundRefused, match="refused redirect to http://10.1.2.3/admin: "):
        fetch(server.url("/stats"))


@pytest.mark.slow
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


@pytest.mark.slow
def test_more_than_three_redirects_fail(server, allow_loopback):
    for hop in range(5):
        server.redirect(f"/{hop}", f"/{hop + 1}")

    with pytest.raises(FetchFailed, match="more than 3 redirects"):
        fetch(server.url("/0"))
    assert len(server.requests) == 4


def test_a_closed_port_fails_as_transient(allow_loopback):
    with pytest.raises(FetchFailed, match="no HTTP answer from 127.0.0.1:") as failed:
        fetch(f"http://127.0.0.1:{closed_port()}/")
    assert failed.value.transient


@pytest.mark.slow
def test_a_slow_server_times_out(server, allow_loopback, settings):
    settings.MONITORING_TIMEOUT_SECONDS = 0.3
    server.answer("/", json={}, delay=2)

    with pytest.raises(FetchFailed) as failed:
        fetch(server.url())
    assert str(failed.value) == no_answer(server.url(), 0.3)
    assert failed.value.transient


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
def test_a_server_trickling_header_lines_times_out_at_the_deadline(allow_loopback, settings):
    settings.MONITORING_TIMEOUT_SECONDS = 1.0
    with TricklingServer(every=0.3) as trickling:
        started = time.monotonic()
        with pytest.raises(FetchFailed) as failed:
            fetch(trickling.url("/stats"))
        took = time.monotonic() - started

    assert str(failed.value) == no_answer(trickling.url("/stats"), 1)
    assert failed.value.transient
    assert took < 1.5


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "http://[2002:a00:1::1]/",
            "refused: 2002:a00:1::1 is a 6to4 address for 10.0.0.1, a private address",
        ),
        (
            "http://[2002:a9fe:a9fe::1]/",
            "refused: 2002:a9fe:a9fe::1 is a 6to4 address for 169.254.169.254, "
            "a cloud metadata address",
        ),
    ],
)
def test_6to4_addresses_are_judged_by_the_ipv4_address_they_carry(url, message):
    with pytest.raises(OutboundRefused) as refused:
        fetch(url)
    assert str(refused.value) == message


def test_teredo_addresses_are_judged_by_the_ipv4_addresses_they_carry(settings):
    # Even where Teredo space is allow-listed, the client it delivers to is checked.
    settings.MONITORING_ALLOWED_NETWORKS = ["2001::/32"]
    teredo = ipaddress.ip_address("2001:0:4136:e378:8000:63bf:f5ff:fffe")  # client 10.0.0.1
    assert address_problem(teredo) == "a Teredo address for 10.0.0.1, a private address"
    public_client = ipaddress.ip_address("2001:0:4136:e378:8000:63bf:f7f7:f7f7")  # 8.8.8.8
    assert address_problem(public_client) is None


def test_metadata_addresses_stay_refused_when_their_network_is_allow_listed(settings):
    settings.MONITORING_ALLOWED_NETWORKS = ["169.254.0.0/16", "100.64.0.0/10"]
    assert address_problem(ipaddress.ip_address("169.254.10.10")) is None
    for metadata in ("169.254.169.254", "169.254.170.2", "100.100.100.200"):
        assert address_problem(ipaddress.ip_address(metadata)) == "a cloud metadata address"
    with pytest.raises(OutboundRefused, match="169.254.169.254 is a cloud metadata address"):
        fetch("http://169.254.169.254/latest/meta-data/")


def test_a_name_resolving_to_one_public_and_one_private_address_is_refused(monkeypatch):
    def two_addresses(host, port, *args, **kwargs):
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("8.8.8.8", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", port)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", two_addresses)
    with pytest.raises(OutboundRefused) as refused:
        fetch("http://metrics.example.com/stats")
    assert str(refused.value) == (
        "refused: metrics.example.com resolves to 10.0.0.7, a private address"
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://2130706433/", "refused: 2130706433 (127.0.0.1) is a loopback address"),
        ("http://0177.0.0.1/", "refused: 0177.0.0.1 (127.0.0.1) is a loopback address"),
        ("http://0x7f.1/", "refused: 0x7f.1 (127.0.0.1) is a loopback address"),
        ("http://167772165/", "refused: 167772165 (10.0.0.5) is a private address"),
    ],
)
def test_decimal_octal_and_hex_address_forms_are_refused_without_a_lookup(
    url, message, monkeypatch
):
    def no_lookup(*args, **kwargs):
        raise AssertionError("a numeric host needs no look-up")

    monkeypatch.setattr(socket, "getaddrinfo", no_lookup)
    with pytest.raises(OutboundRefused) as refused:
        fetch(url)
    assert str(refused.value) == message
    assert check_literal(url) == message


@pytest.mark.slow
def test_no_message_shows_the_password_of_a_url(server, allow_loopback):
    server.redirect("/stats", "http://reader:pw-hunter2@10.0.0.5/x")
    server.answer("/gone", status=404)

    with pytest.raises(OutboundRefused) as refused:
        fetch(server.url("/stats"))
    assert str(refused.value) == (
        "refused redirect to http://10.0.0.5/x: 10.0.0.5 is a private address"
    )
    with pytest.raises(FetchFailed) as failed:
        fetch(f"http://reader:pw-hunter2@127.0.0.1:{server.port}/gone")
    assert "hunter2" not in str(failed.value) and "reader" not in str(failed.value)
    assert str(failed.value).startswith(f"HTTP 404 from http://127.0.0.1:{server.port}/gone")
