"""The wrong protocol on a port: TLS where cleartext is due, and cleartext where TLS is due.

Scanned through the real CLI: IMAP 143 and POP3 110 are TLS servers (waiting for a
ClientHello, or sending a ServerHello at once), HTTP 80 a TLS server; IMAPS 993 and
POP3S 995 greet in clear, HTTPS 443 answers in plain HTTP. Every scan ends in time,
names what it met, and still assesses the host's other ports. The TLS family
(sslyze, behind its bounded pre-handshake) runs in the cleartext-on-TLS scan.
"""

from __future__ import annotations

import time

import pytest

from casaudit.lab.hostile import HostileServer
from casaudit.probes.tls_preflight import preflight
from tests.hostile_scan import NO_TLS_FAMILY, HostileRun, Served, scan_served

TIME_LIMIT_S = 30
MEMORY_LIMIT_MIB = 300


def _assert_bounded(run: HostileRun, validate_scan) -> None:
    assert run.code in (0, 1), run.stderr
    assert run.seconds < TIME_LIMIT_S
    assert run.peak_rss_mib < MEMORY_LIMIT_MIB
    assert "Traceback" not in run.stderr and "Traceback" not in run.stdout
    validate_scan(run.document)
    assert "<html" in run.html.lower()


# Given a TLS server (that waits for a ClientHello and then greets inside TLS), or a
# server that sends a TLS ServerHello the moment a client connects, on ports where a
# cleartext greeting or HTTP status line is due:
TLS_ON_CLEARTEXT = {
    "waits_for_client_hello": {"imap": Served("imap_greeting", "lab"),
                               "pop3": Served("pop3_greeting", "lab"),
                               "http": Served("silent", "lab")},
    "server_hello_first": {"imap": Served("server_hello_first"),
                           "pop3": Served("server_hello_first"),
                           "http": Served("server_hello_first")},
}


@pytest.mark.parametrize("case", TLS_ON_CLEARTEXT)
def test_tls_on_cleartext_ports_is_named_and_bounded(case, validate_scan):
    run = scan_served(TLS_ON_CLEARTEXT[case], probes=NO_TLS_FAMILY)
    _assert_bounded(run, validate_scan)
    for service in ("imap", "pop3"):
        item = run.mail(service)
        assert item["reachability"] == "open" and item["greeting"] is None
        assert item["error"]["kind"] == "protocol" and "TLS" in item["error"]["detail"], item["error"]
    # Plain HTTP to a TLS server: no status, a named transport error.
    for item in run.evidence("http"):
        exchange = item["exchanges"][0]
        assert exchange["status"] is None and exchange["error"]["kind"] in ("reset", "protocol")
        assert "TLS" in exchange["error"]["detail"], exchange["error"]
    # The host's other ports are still assessed: the lab's HTTPS answers, 993/995 are refused.
    assert all(e["exchanges"][0]["status"] for e in run.evidence("https"))
    assert {run.mail(s)["reachability"] for s in ("imaps", "pop3s")} == {"refused"}
    assert {row["endpoint"].split(":")[0] for row in run.checks("mail.imap4_exposed")} >= {"imap"}


def test_cleartext_on_tls_ports_is_named_and_bounded_with_the_tls_family(validate_scan):
    # Given a plain HTTP server on 443 and cleartext mail greetings on 993 and 995,
    run = scan_served({"https": Served("cleartext_http"), "imaps": Served("imap_greeting"),
                       "pop3s": Served("pop3_greeting")},
                      probes=NO_TLS_FAMILY + ",tls")
    # When the host is scanned with every family, sslyze included,
    _assert_bounded(run, validate_scan)
    # Then each TLS port says its server did not speak TLS,
    for service in ("imaps", "pop3s"):
        error = run.mail(service)["error"]
        assert error["kind"] == "tls" and "not TLS" in error["detail"], error
    for item in run.evidence("https"):
        error = item["exchanges"][0]["error"]
        assert error["kind"] == "tls" and "not TLS" in error["detail"], error
    tls = {e["endpoint"].split(":")[0] + ":" + e["endpoint"].split("//")[1].split(":")[0]: e
           for e in run.of_kind("tls")}
    for key in ("https:mail.contoso.test", "imaps:mail.contoso.test", "pop3s:mail.contoso.test",
                "https:autodiscover.contoso.test", "https:contoso.test"):
        assert key in tls, sorted(tls)
        assert "not TLS" in str(tls[key]), tls[key]
    # and the plain HTTP port (the lab's) is still assessed.
    assert {e["exchanges"][0]["status"] for e in run.evidence("http")} == {301}


@pytest.mark.parametrize(("behaviour", "tls", "starttls", "kind"), [
    ("imap_greeting", "none", None, "tls"),  # IMAPS port greeting in clear
    ("cleartext_http", "none", None, "tls"),  # HTTPS port answering plain HTTP
    ("imap_greeting", "lab", "IMAP", "timeout"),  # STARTTLS port that is a TLS server
    ("server_hello_first", "none", "POP3", "protocol"),  # STLS port sending a ServerHello
])
def test_the_tls_pre_handshake_ends_in_time_on_the_wrong_protocol(behaviour, tls, starttls, kind):
    from casaudit.lab import Lab
    from tests.hostile_scan import _tls_context

    with Lab.start("exchange-se-hardened") as lab, \
            HostileServer(behaviour, _tls_context(tls, lab)) as server:
        started = time.monotonic()
        error = preflight("127.0.0.1", server.port, "mail.contoso.test", starttls, timeout=0.5)
        elapsed = time.monotonic() - started
    assert error is not None and error.kind == kind, error
    assert elapsed < 0.5 * 3 + 1
    if kind == "tls":
        assert "not TLS" in error.detail


@pytest.mark.parametrize("behaviour", ["tls_garbage", "tls_reset"])
def test_broken_handshakes_on_every_tls_port_with_the_tls_family(behaviour, validate_scan):
    # Given garbage instead of a ServerHello (or a reset mid-handshake) on 443, 993 and 995,
    run = scan_served({s: Served(behaviour) for s in ("https", "imaps", "pop3s")},
                      probes=NO_TLS_FAMILY + ",tls")
    # When the host is scanned with sslyze too, Then each ends in time with the error named.
    _assert_bounded(run, validate_scan)
    kinds = {"tls"} if behaviour == "tls_garbage" else {"tls", "reset"}
    for service in ("imaps", "pop3s"):
        assert run.mail(service)["error"]["kind"] in kinds
    tls = [e for e in run.of_kind("tls") if e["endpoint"].split(":")[0] in ("https", "imaps", "pop3s")]
    assert len(tls) == 5 and all(e["error"]["kind"] in kinds for e in tls), tls
    assert {e["exchanges"][0]["status"] for e in run.evidence("http")} == {301}
