"""The lab over real sockets: loopback HTTP, HTTPS with its own CA, and UDP DNS.

Every assertion here is about bytes a client actually received, because the
lab exists to stand in for a real Client Access server in integration tests.
"""

from __future__ import annotations

import base64
import dataclasses
import re
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import httpx
import pytest

from casaudit.lab import Lab, LabInstance, Posture, load_posture, parse_posture, posture_names

LEGACY = "exchange2007-legacy"
HARDENED = "exchange-se-hardened"


@pytest.fixture(scope="module")
def legacy() -> Iterator[LabInstance]:
    with Lab.start(LEGACY) as lab:
        yield lab


@pytest.fixture(scope="module")
def hardened() -> Iterator[LabInstance]:
    with Lab.start(HARDENED) as lab:
        yield lab


def http_client() -> httpx.Client:
    return httpx.Client(timeout=5.0, follow_redirects=False)


def https_client(lab: LabInstance) -> httpx.Client:
    """Verifies against the lab CA, with hostname checking on the SNI name.

    At OpenSSL security level 0, as a client of the legacy posture's era: its
    certificate is SHA-1 signed and it speaks TLS 1.0 to 1.2 (the TLS checks
    judge that; these tests judge the HTTP answers and the chain and name).
    """
    context = ssl.create_default_context(cafile=str(lab.ca_file))
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return httpx.Client(verify=context, timeout=5.0, follow_redirects=False)


def request(
    client: httpx.Client,
    lab: LabInstance,
    scheme: str,
    path: str,
    method: str = "GET",
    name: str | None = None,
    content: bytes | None = None,
    data: dict[str, str] | None = None,
) -> httpx.Response:
    """Connect to 127.0.0.1 but speak to ``name`` (default: the lab host): SNI and Host."""
    name = name or lab.host
    extensions = {"sni_hostname": name} if scheme == "https" else {}
    url = f"{scheme}://127.0.0.1:{lab.ports[scheme]}{path}"
    return client.request(
        method, url, headers={"Host": name}, extensions=extensions, content=content, data=data
    )


def raw_exchange(port: int, data: bytes) -> bytes:
    """Send raw bytes over plain TCP and read until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


# -- postures ------------------------------------------------------------------------


def test_public_names_are_a_contract() -> None:
    import casaudit.lab

    assert sorted(casaudit.lab.__all__) == sorted(
        ["Lab", "LabInstance", "Posture", "load_posture", "parse_posture", "posture_names"]
    )


def test_shipped_postures_are_listed_sorted() -> None:
    names = posture_names()
    assert names == sorted(names)
    assert {HARDENED, LEGACY} <= set(names)
    assert {
        "exchange2010-sp3", "exchange2013-offload", "exchange2016-direct",
        "exchange2019-proxied", "exchange2019-stripped", "exchange2019-ws2022", "generic-nginx",
        "catchall-proxy",
    } <= set(names)


@pytest.mark.parametrize(
    ("name", "host", "domain"),
    [
        (LEGACY, "mail.contoso-legacy.test", "contoso-legacy.test"),
        (HARDENED, "mail.contoso.test", "contoso.test"),
    ],
)
def test_shipped_posture_loads(name: str, host: str, domain: str) -> None:
    posture = load_posture(name)
    assert isinstance(posture, Posture)
    assert (posture.name, posture.host, posture.domain) == (name, host, domain)
    assert posture.http is not None and posture.https is not None
    assert posture.summary


def test_unknown_posture_name_is_a_value_error_listing_the_shipped_ones() -> None:
    with pytest.raises(ValueError, match=LEGACY):
        load_posture("exchange2003-nope")


MINIMAL = """
name = "t"
summary = "test"
host = "mail.example.test"
domain = "example.test"
[http]
default = { status = 404 }
"""


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ('[[http.routes]]\npath = "/owa"\nstatus = "200"\n', "http.routes[0].status"),
        ('[[http.routes]]\npath = "owa"\nstatus = 200\n', "http.routes[0].path"),
        ('[[http.routes]]\npath = "/x"\nstatus = 200\nstatsu = 1\n', "http.routes[0].statsu"),
        (
            '[[http.routes]]\npath = "/x"\nstatus = 200\nheaders = [["A"]]\n',
            "http.routes[0].headers[0]",
        ),
        (
            '[[http.routes]]\npath = "/x"\nstatus = 200\nheaders = [["Content-Length", "1"]]\n',
            "http.routes[0].headers[0][0]",
        ),
        ('[[http.routes]]\npath = "/x"\nstatus = 449\n', "http.routes[0].reason"),
        (
            '[[http.routes]]\npath = "/x"\nstatus = 200\nbody_ref = "nope"\n',
            "http.routes[0].body_ref",
        ),
        (
            '[[http.routes]]\npath = "/x"\nstatus = 302\n'
            'headers = [["Location", "https://{host}:{https_port}/"]]\n',
            "http.routes[0].headers",
        ),
        (
            '[[http.routes]]\npath = "/x"\nstatus = 301\nredirect_to_https = true\n',
            "http.routes[0].redirect_to_https",
        ),
        (
            '[dns]\nsrv = [{ name = "_a._tcp.example.test", target = "m.example.test" }]\n',
            "dns.srv[0].port",
        ),
        ('[tls]\nnames = ["not a name"]\n', "tls.names[0]"),
        ('[https]\ndefault = { status = 404 }\nstrip_headers = ["X OWA"]\n',
         "https.strip_headers[0]"),
        ('colour = "blue"\n', "colour"),
    ],
)
def test_malformed_posture_names_the_bad_key(extra: str, key: str) -> None:
    text = MINIMAL + extra if extra.startswith("[") else extra + MINIMAL
    with pytest.raises(ValueError, match=re.escape(f"key '{key}'")):
        parse_posture(text, source="bad.toml")


def test_missing_required_key_and_bad_toml_are_value_errors() -> None:
    with pytest.raises(ValueError, match="key 'host'"):
        parse_posture(MINIMAL.replace('host = "mail.example.test"', ""))
    with pytest.raises(ValueError, match="not valid TOML"):
        parse_posture("name = ")


# -- lifecycle -------------------------------------------------------------------------


@pytest.mark.parametrize("name", [LEGACY, HARDENED])
def test_lab_binds_loopback_and_teardown_frees_every_port(name: str, tmp_path: Path) -> None:
    with Lab.start(name, workdir=tmp_path) as lab:
        assert lab.address == "127.0.0.1"
        mail = {"pop3", "pop3s", "imap", "imaps"} if name == LEGACY else set()
        assert set(lab.ports) == {"http", "https"} | mail
        for port in lab.ports.values():
            with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                assert sock.getpeername() == ("127.0.0.1", port)
        assert lab.ca_file == tmp_path / lab.ca_file.name and lab.ca_file.is_file()
        dns_port = int(lab.dns_server.rpartition(":")[2])
        ports = dict(lab.ports)
    for port in ports.values():
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
    # Given a connected UDP socket, When the DNS port is closed, Then ICMP refuses it.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.settimeout(2)
        udp.connect(("127.0.0.1", dns_port))
        udp.send(dns.message.make_query("contoso.test", "A").to_wire())
        with pytest.raises(ConnectionRefusedError):
            udp.recv(512)
    # This lab's threads only: session-wide labs of other tests may be running.
    own = {f"casaudit-lab-{scheme}-{port}" for scheme, port in ports.items()}
    own.add(f"casaudit-lab-dns-{dns_port}")
    assert not [t for t in threading.enumerate() if t.name in own]
    assert lab.ca_file.is_file(), "a workdir given by the caller is left in place"


def test_a_lab_on_another_loopback_address_serves_there_only(tmp_path: Path) -> None:
    # Given a lab started on 127.0.5.9 (Linux routes all of 127/8 to lo), as the fleet
    # benchmark starts one lab per host.
    with Lab.start(LEGACY, workdir=tmp_path, address="127.0.5.9") as lab:
        assert lab.address == "127.0.5.9"
        args = lab.scan_args()
        pins = [args[i + 1] for i, arg in enumerate(args) if arg == "--resolve"]
        assert pins and all(pin.endswith(":127.0.5.9") for pin in pins)
        assert lab.dns_server.startswith("127.0.5.9:")
        port = lab.ports["http"]
        with socket.create_connection(("127.0.5.9", port), timeout=2) as sock:
            sock.sendall(b"GET /owa HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert sock.recv(64).startswith(b"HTTP/1.1 200")
        # Then nothing answers on that port of 127.0.0.1, and its DNS gives its own address.
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        query = dns.message.make_query(lab.host, "A")
        answer = dns.query.udp(query, "127.0.5.9", port=lab.dns_port, timeout=2)
        assert [r.address for rrset in answer.answer for r in rrset] == ["127.0.5.9"]


def test_a_lab_refuses_an_address_off_loopback() -> None:
    with pytest.raises(ValueError, match="loopback"):
        Lab.start(LEGACY, address="192.0.2.1")


def test_default_workdir_is_removed_and_idle_keepalive_does_not_hold_teardown() -> None:
    lab_handle = Lab.start(LEGACY)
    lab = lab_handle.instance
    # An idle keep-alive connection sits in a handler thread with a 10 s read timeout.
    idle = socket.create_connection(("127.0.0.1", lab.ports["http"]), timeout=5)
    reader = idle.makefile("rb")
    idle.sendall(b"GET /owa HTTP/1.1\r\nHost: x\r\n\r\n")
    head = _read_head(reader)
    assert head[0] == b"HTTP/1.1 200 OK"
    reader.read(int(_header(head, b"content-length")))
    started = time.monotonic()
    lab_handle.close()
    assert time.monotonic() - started < 2
    assert not lab.workdir.exists()
    assert reader.read() == b""  # the server shut the connection down
    idle.close()


def test_a_posture_without_http_opens_no_http_port() -> None:
    only_https = dataclasses.replace(load_posture(HARDENED), http=None)
    with Lab.start(only_https) as lab:
        assert set(lab.ports) == {"https"}
        # The scan is pointed at the lab's known-closed port, never at 127.0.0.1:80.
        assert f"http={lab.closed_port}" in lab.scan_args()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", lab.closed_port), timeout=2).close()


def test_scan_args_pin_every_name_ports_and_ca(legacy: LabInstance) -> None:
    args = legacy.scan_args()
    assert args[0] == "mail.contoso-legacy.test"
    pins = [args[i + 1] for i, arg in enumerate(args) if arg == "--resolve"]
    assert pins == [f"{name}:127.0.0.1" for name in legacy.names]
    assert set(legacy.names) == {
        "mail.contoso-legacy.test",
        "contoso-legacy.test",
        "autodiscover.contoso-legacy.test",
    }
    ports = [args[i + 1] for i, arg in enumerate(args) if arg == "--port"]
    assert ports == [f"{service}={port}" for service, port in legacy.target_ports().items()]
    assert ports[:2] == [f"http={legacy.ports['http']}", f"https={legacy.ports['https']}"]
    assert args[-2:] == ["--ca-file", str(legacy.ca_file)]


# -- TLS -----------------------------------------------------------------------------


def test_certificate_validates_for_the_host(legacy: LabInstance, hardened: LabInstance) -> None:
    for lab in (legacy, hardened):
        with https_client(lab) as client:
            response = request(client, lab, "https", "/owa/")
        assert response.status_code in (200, 302)


def test_legacy_certificate_does_not_cover_autodiscover(legacy: LabInstance) -> None:
    with https_client(legacy) as client, pytest.raises(httpx.ConnectError, match="match"):
        request(
            client,
            legacy,
            "https",
            "/autodiscover/autodiscover.xml",
            name="autodiscover.contoso-legacy.test",
        )


def test_hardened_certificate_covers_autodiscover_and_domain(hardened: LabInstance) -> None:
    with https_client(hardened) as client:
        for name in ("autodiscover.contoso.test", "contoso.test"):
            response = request(
                client,
                hardened,
                "https",
                "/autodiscover/autodiscover.xml",
                method="POST",
                name=name,
                content=b"<Autodiscover/>",
            )
            assert response.status_code == 401


def test_an_untrusting_client_rejects_the_lab_certificate(legacy: LabInstance) -> None:
    with httpx.Client(verify=ssl.create_default_context(), timeout=5.0) as client:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            request(client, legacy, "https", "/owa/")


# -- legacy posture ------------------------------------------------------------------


def test_legacy_plain_http_serves_the_owa_logon_form(legacy: LabInstance) -> None:
    with http_client() as client:
        response = request(client, legacy, "http", "/owa/")
    assert response.status_code == 200
    assert response.headers["x-owa-version"] == "8.1.375.2"
    assert response.headers["server"] == "Microsoft-IIS/7.0"
    assert 'action="/owa/auth/owaauth.dll"' in response.text
    assert "/owa/8.1.375.2/themes/base/" in response.text
    assert "<!-- OwaPage = ASP.auth_logon_aspx -->" in response.text


@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize("method", ["GET", "OPTIONS", "POST"])
def test_legacy_activesync_challenges_basic(legacy: LabInstance, scheme: str, method: str) -> None:
    with https_client(legacy) if scheme == "https" else http_client() as client:
        response = request(client, legacy, scheme, "/Microsoft-Server-ActiveSync", method=method)
    assert response.status_code == 401
    assert response.headers.get_list("www-authenticate") == ['Basic realm="mail.contoso-legacy.test"']
    assert response.headers["ms-server-activesync"] == "8.1"
    assert "strict-transport-security" not in response.headers


@pytest.mark.parametrize("verb", ["RPC_IN_DATA", "RPC_OUT_DATA"])
def test_legacy_outlook_anywhere_answers_rpc_verbs(legacy: LabInstance, verb: str) -> None:
    with https_client(legacy) as client:
        response = request(
            client, legacy, "https", "/rpc/rpcproxy.dll?mail:6001", method=verb, content=b"\0" * 76
        )
    assert response.status_code == 401
    assert response.headers.get_list("www-authenticate") == [
        "Negotiate",
        "NTLM",
        'Basic realm="mail.contoso-legacy.test"',
    ]


def test_path_matching_is_case_insensitive_and_segment_wise(legacy: LabInstance) -> None:
    with http_client() as client:
        assert request(client, legacy, "http", "/OWA").status_code == 200
        assert request(client, legacy, "http", "/microsoft-server-activesync").status_code == 401
        assert request(client, legacy, "http", "/Ews/Exchange.asmx").status_code == 401
        # /owax is not under /owa; the IIS 404 page answers it.
        missing = request(client, legacy, "http", "/owax")
    assert missing.status_code == 404
    assert "404 - File or directory not found." in missing.text


def test_legacy_urls_answer_with_basic(legacy: LabInstance) -> None:
    with http_client() as client:
        for path in ("/exchange/", "/exchweb/bin/auth/owalogon.asp", "/public/"):
            response = request(client, legacy, "http", path)
            assert response.status_code == 401, path
            assert response.headers["www-authenticate"].startswith("Basic realm=")


def test_method_outside_the_route_gets_405_with_allow(legacy: LabInstance) -> None:
    with http_client() as client:
        response = request(client, legacy, "http", "/owa/auth/owaauth.dll")
        posted = request(
            client,
            legacy,
            "http",
            "/owa/auth/owaauth.dll",
            method="POST",
            data={"username": "x", "password": "y"},
        )
    assert (response.status_code, response.headers["allow"]) == (405, "POST")
    assert posted.status_code == 302
    assert posted.headers["location"].startswith(
        f"http://mail.contoso-legacy.test:{legacy.ports['http']}/owa/auth/logon.aspx"
    )


def test_head_sends_length_without_body_and_keepalive_reuses_the_connection(
    legacy: LabInstance,
) -> None:
    with socket.create_connection(("127.0.0.1", legacy.ports["http"]), timeout=5) as sock:
        reader = sock.makefile("rb")
        sock.sendall(b"HEAD /owa HTTP/1.1\r\nHost: a\r\n\r\n")
        head = _read_head(reader)
        assert head[0] == b"HTTP/1.1 200 OK"
        assert int(_header(head, b"content-length")) > 1000
        # Given a 2 KiB body on the same connection, Then it is discarded and answered.
        body = b"x" * 2048
        sock.sendall(b"POST /EWS/Exchange.asmx HTTP/1.1\r\nHost: a\r\nContent-Length: 2048\r\n\r\n" + body)
        head = _read_head(reader)
        assert head[0] == b"HTTP/1.1 401 Unauthorized"
        reader.read(int(_header(head, b"content-length")))
        sock.sendall(b"GET /nothing HTTP/1.1\r\nHost: a\r\n\r\n")
        assert _read_head(reader)[0] == b"HTTP/1.1 404 Not Found"


def test_oversized_body_is_not_read_answer_comes_at_once_then_close(legacy: LabInstance) -> None:
    # RPC_IN_DATA announces a huge body and waits for the answer before sending it.
    reply = raw_exchange(
        legacy.ports["http"],
        b"RPC_IN_DATA /rpc/rpcproxy.dll?mail:6001 HTTP/1.1\r\nHost: a\r\nContent-Length: 1073741824\r\n\r\n",
    )
    assert reply.startswith(b"HTTP/1.1 401 ")
    assert b"\r\nConnection: close\r\n" in reply


@pytest.mark.parametrize(
    "request_bytes",
    [b"GET /owa HTTP/1.1\r\nContent-Length: x\r\n\r\n", b"\x16\x03\x01\x00\x05hello\r\n\r\n"],
)
def test_garbage_request_gets_400_not_a_hang(legacy: LabInstance, request_bytes: bytes) -> None:
    reply = raw_exchange(legacy.ports["http"], request_bytes)
    assert reply.startswith(b"HTTP/1.1 400 ")
    assert b"Python" not in reply and b"BaseHTTP" not in reply


# -- hardened posture ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/owa/"),
        ("OPTIONS", "/Microsoft-Server-ActiveSync"),
        ("RPC_IN_DATA", "/rpc/rpcproxy.dll?mail:6001"),
        ("GET", "/EWS/Exchange.asmx?wsdl"),
    ],
)
def test_hardened_plain_http_redirects_to_the_same_path_on_https(
    hardened: LabInstance, method: str, path: str
) -> None:
    with http_client() as client:
        response = request(client, hardened, "http", path, method=method)
    assert response.status_code == 301
    assert response.headers["location"] == f"https://mail.contoso.test:{hardened.ports['https']}{path}"
    assert "www-authenticate" not in response.headers


def test_hardened_https_owa_flow_and_headers(hardened: LabInstance) -> None:
    base = f"https://mail.contoso.test:{hardened.ports['https']}"
    with https_client(hardened) as client:
        first = request(client, hardened, "https", "/owa/")
        assert first.status_code == 302
        location = first.headers["location"]
        assert location.startswith(f"{base}/owa/auth/logon.aspx?url=")
        form = request(client, hardened, "https", location.removeprefix(base))
    assert form.status_code == 200
    assert f'action="{base}/owa/auth.owa"' in form.text
    for response in (first, form):
        assert response.headers["strict-transport-security"] == ("max-age=31536000; includeSubDomains")
        for leaky in ("x-owa-version", "x-feserver", "x-aspnet-version", "x-powered-by"):
            assert leaky not in response.headers


@pytest.mark.parametrize(
    ("path", "status", "schemes"),
    [
        ("/Microsoft-Server-ActiveSync", 401, ["Negotiate"]),
        ("/rpc/rpcproxy.dll", 401, ["Negotiate"]),
        ("/EWS/Exchange.asmx", 401, ["Negotiate"]),
        ("/autodiscover/autodiscover.xml", 401, ["Negotiate"]),
        ("/mapi/emsmdb/", 401, ["Negotiate"]),
        ("/ecp/", 403, []),
        ("/PowerShell/", 403, []),
        ("/exchange/", 404, []),
        ("/exchweb/", 404, []),
        ("/public/", 404, []),
    ],
)
def test_hardened_https_endpoints(hardened: LabInstance, path: str, status: int, schemes: list[str]) -> None:
    with https_client(hardened) as client:
        response = request(client, hardened, "https", path)
    assert response.status_code == status
    assert response.headers.get_list("www-authenticate") == schemes
    assert "strict-transport-security" in response.headers


# -- placeholders and custom postures -----------------------------------------------


def test_placeholders_fill_bodies_and_headers_with_real_ports() -> None:
    posture = parse_posture(
        MINIMAL
        + """
[[http.routes]]
path = "/go"
status = 302
headers = [["Location", "https://{host}:{https_port}/owa/"]]
body = "see http://{host}:{http_port}/ and {unknown} and {}"
[https]
default = { status = 200, body = "ok" }
"""
    )
    with Lab.start(posture) as lab, http_client() as client:
        response = request(client, lab, "http", "/go")
    assert response.headers["location"] == f"https://mail.example.test:{lab.ports['https']}/owa/"
    assert response.text == f"see http://mail.example.test:{lab.ports['http']}/ and {{unknown}} and {{}}"


# -- DNS -----------------------------------------------------------------------------


def dns_ask(lab: LabInstance, name: str, rdtype: str) -> dns.message.Message:
    port = int(lab.dns_server.rpartition(":")[2])
    return dns.query.udp(dns.message.make_query(name, rdtype), "127.0.0.1", port=port, timeout=2)


def test_dns_answers_a_for_every_lab_name(legacy: LabInstance) -> None:
    for name in legacy.names:
        response = dns_ask(legacy, name, "A")
        assert response.rcode() == dns.rcode.NOERROR
        assert [r.address for r in response.answer[0]] == ["127.0.0.1"]
        assert dns_ask(legacy, name.upper(), "A").answer, "names are case-insensitive"


def test_dns_aaaa_is_empty_noerror(legacy: LabInstance) -> None:
    response = dns_ask(legacy, legacy.host, "AAAA")
    assert response.rcode() == dns.rcode.NOERROR
    assert response.answer == []


def test_dns_srv_from_the_posture(hardened: LabInstance) -> None:
    response = dns_ask(hardened, "_autodiscover._tcp.contoso.test", "SRV")
    assert response.rcode() == dns.rcode.NOERROR
    [record] = list(response.answer[0])
    # port = "https" in the posture: the port the lab's HTTPS listener got.
    assert (record.priority, record.weight, record.port) == (0, 0, hardened.ports["https"])
    assert record.target.to_text() == "mail.contoso.test."


def test_dns_nxdomain_inside_and_refused_outside(legacy: LabInstance) -> None:
    unknown = dns_ask(legacy, "nope.contoso-legacy.test", "A")
    assert unknown.rcode() == dns.rcode.NXDOMAIN
    assert unknown.authority and unknown.authority[0].rdtype == dns.rdatatype.SOA
    # The parent of the SRV owner exists (empty non-terminal), so it is no NXDOMAIN.
    assert dns_ask(legacy, "_tcp.contoso-legacy.test", "A").rcode() == dns.rcode.NOERROR
    assert dns_ask(legacy, "example.org", "A").rcode() == dns.rcode.REFUSED


def test_dns_garbage_gets_formerr_or_silence(legacy: LabInstance) -> None:
    port = int(legacy.dns_server.rpartition(":")[2])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.settimeout(2)
        udp.sendto(b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xff\xff", ("127.0.0.1", port))
        reply = udp.recv(512)
    assert reply[:2] == b"\x12\x34" and reply[3] & 0x0F == dns.rcode.FORMERR
    # The server survived and still answers.
    assert dns_ask(legacy, legacy.host, "A").answer


# -- helpers -------------------------------------------------------------------------


def _read_head(reader: IO[bytes]) -> list[bytes]:
    lines = []
    while (line := reader.readline().rstrip(b"\r\n")) != b"":
        lines.append(line)
    return lines


def _header(head: list[bytes], name: bytes) -> bytes:
    for line in head[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name:
            return value.strip()
    raise AssertionError(f"no {name!r} in {head!r}")


def test_hang_paths_are_held_unanswered_until_the_client_gives_up() -> None:
    # Given the hardened posture whose HTTPS leaves /EWS (any case, whole segments) unanswered
    hardened = load_posture(HARDENED)
    assert hardened.https is not None
    hanging = dataclasses.replace(
        hardened, https=dataclasses.replace(hardened.https, hang_paths=("/EWS",)))
    with Lab.start(hanging) as lab, https_client(lab) as client:
        # then /EWS/Exchange.asmx gets no byte back before the client's timeout,
        with pytest.raises(httpx.ReadTimeout):
            client.request("POST", f"https://127.0.0.1:{lab.ports['https']}/ews/Exchange.asmx",
                           headers={"Host": lab.host}, extensions={"sni_hostname": lab.host},
                           timeout=1.0)
        # the lab saw the request, and its neighbours still answer.
        assert [r.path for r in lab.requests()] == ["/ews/Exchange.asmx"]
        assert request(client, lab, "https", "/EWSX").status_code == 404
        assert request(client, lab, "https", "/owa/").status_code == 302
        started = time.monotonic()
    # Teardown wakes the held connection: no 10 s wait.
    assert time.monotonic() - started < 2


def test_hang_paths_are_validated_as_paths() -> None:
    posture = parse_posture(MINIMAL + 'hang_paths = ["/EWS/", "/owa"]\n')
    assert posture.http is not None and posture.http.hang_paths == ("/EWS", "/owa")
    with pytest.raises(ValueError, match=re.escape("key 'http.hang_paths[0]'")):
        parse_posture(MINIMAL + 'hang_paths = ["ews"]\n')



# --------------------------------------------------------------------------- NTLM and Host-less


def test_posture_ntlm_and_hostless_sections_are_validated():
    base = 'name = "p"\nsummary = "s"\nhost = "mail.p.test"\ndomain = "p.test"\n'
    ntlm = ('[ntlm]\nnetbios_domain = "P"\nnetbios_computer = "C"\ndns_domain = "p.local"\n'
            'dns_computer = "c.p.local"\ndns_tree = "p.local"\n')
    posture = parse_posture(base + ntlm + 'os_version = "10.0.17763"\n')
    assert posture.ntlm is not None and posture.ntlm.os_version == (10, 0, 17763)
    for bad, key in [
        (ntlm + 'os_version = "10.0"\n', "ntlm.os_version"),
        (ntlm + 'os_version = "300.0.1"\n', "ntlm.os_version"),
        (ntlm.replace('netbios_computer = "C"\n', ""), "ntlm.netbios_computer"),
        ('[http]\ndefault = { status = 404 }\n[http.hostless]\naddress = "not-an-ip"\n',
         "http.hostless.address"),
    ]:
        with pytest.raises(ValueError, match=key.replace(".", r"\.")):
            parse_posture(base + bad)


def test_legacy_lab_answers_ntlm_type1_and_hostless_requests_like_iis(legacy):
    from casaudit.parse.ntlm import decode_challenge_b64, negotiate_b64

    with httpx.Client(transport=httpx.HTTPTransport(), timeout=5) as client:
        url = f"http://127.0.0.1:{legacy.ports['http']}/EWS/Exchange.asmx"
        plain = client.get(url, headers={"Host": legacy.host})
        answered = client.get(url, headers={"Host": legacy.host, "Authorization": "NTLM " + negotiate_b64()})
        garbage = client.get(url, headers={"Host": legacy.host, "Authorization": "NTLM " +
                                           base64.b64encode(b"not ntlm").decode()})
    assert plain.headers.get_list("www-authenticate")[1] == "NTLM"
    (challenge,) = answered.headers.get_list("www-authenticate")
    decoded = decode_challenge_b64(challenge.removeprefix("NTLM "))
    assert decoded.netbios_computer == "EXCH07CAS01" and str(decoded.os_version) == "6.0.6001"
    assert "NTLM" in garbage.headers.get_list("www-authenticate")
    with socket.create_connection(("127.0.0.1", legacy.ports["http"]), timeout=5) as sock:
        sock.sendall(b"GET /owa HTTP/1.0\r\n\r\n")
        head = sock.recv(4096).decode("latin-1")
    assert head.startswith("HTTP/1.1 301") and "Location: http://192.168.10.25/owa/\r\n" in head
