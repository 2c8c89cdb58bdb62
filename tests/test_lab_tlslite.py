"""Lab listeners served by tlslite-ng: the posture format, the suite order, and the bounds."""

from __future__ import annotations

import re
import socket
import ssl
import time

import httpx
import pytest

from casaudit.lab import Lab, parse_posture, tlslite_server
from casaudit.lab.tlslite_server import TlsliteContext

MAIL = """
[imaps]
greeting = "* OK The Microsoft Exchange IMAP4 service is ready."
capabilities = ["IMAP4", "IMAP4rev1", "AUTH=PLAIN"]
"""


def posture(tlslite: str, mail: str = "") -> str:
    return f'''
name = "tlslite"
summary = "a TLS listener served by tlslite-ng"
host = "mail.old.test"
domain = "old.test"
[tls]
names = ["mail.old.test"]
[tls.tlslite]
{tlslite}
[https]
default = {{ status = 200, body = "served by tlslite" }}
{mail}
'''


STATIC_FIRST = '''services = ["https", "imaps"]
suites = ["TLS_RSA_WITH_AES_128_CBC_SHA", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"]'''


def legacy_client() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    context.set_ciphers("ALL:@SECLEVEL=0")
    return context


@pytest.mark.parametrize(("tlslite", "key", "problem"), [
    ('services = ["https"]\nsuites = ["TLS_RSA_WITH_RC5_SHA"]', "tls.tlslite.suites",
     "not a cipher suite"),
    ('services = ["https"]\nsuites = ["TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"]',
     "tls.tlslite.suites", "RSA certificate"),
    ('services = ["https"]\nsuites = []', "tls.tlslite.suites", "at least one"),
    ('services = ["pop3s"]\nsuites = ["TLS_RSA_WITH_RC4_128_SHA"]', "tls.tlslite.services[0]",
     "no [pop3s] listener"),
    ('services = ["smtp"]\nsuites = ["TLS_RSA_WITH_RC4_128_SHA"]', "tls.tlslite.services[0]",
     "not one of"),
    ('services = ["https"]\nsuites = ["TLS_RSA_WITH_RC4_128_SHA"]\nmin_version = "TLSv1.2"\n'
     'max_version = "SSLv3"', "tls.tlslite.max_version", "below"),
    ('services = ["https"]\nsuites = ["TLS_RSA_WITH_RC4_128_SHA"]\nmin_version = "SSLv2"',
     "tls.tlslite.min_version", "not one of"),
    ('services = ["https"]\nsuites = ["TLS_RSA_WITH_RC4_128_SHA"]\nciphers = ["rc4"]',
     "tls.tlslite.ciphers", "unknown key"),
])
def test_tlslite_table_is_validated_key_by_key(tlslite: str, key: str, problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(f"key '{key}'") + ".*" + re.escape(problem)):
        parse_posture(posture(tlslite))


def test_the_posture_order_is_the_server_preference_and_http_is_served() -> None:
    # Given static RSA listed before ECDHE, as Schannel on Server 2008 lists them
    with Lab.start(parse_posture(posture(STATIC_FIRST, MAIL))) as lab:
        # When a client offering everything connects over HTTPS and over IMAPS
        with httpx.Client(verify=legacy_client(), timeout=10) as client:
            answer = client.get(f"https://{lab.address}:{lab.ports['https']}/",
                                extensions={"sni_hostname": lab.host})
        with socket.create_connection((lab.address, lab.ports["imaps"]), timeout=10) as raw, \
                legacy_client().wrap_socket(raw, server_hostname=lab.host) as tls:
            greeting = tls.recv(200)
            chosen = tls.cipher()
            version = tls.version()
    # Then the server picks the first listed suite the client offers, and speaks the protocol
    assert answer.status_code == 200 and answer.text == "served by tlslite"
    assert greeting.startswith(b"* OK The Microsoft Exchange IMAP4")
    assert chosen is not None and chosen[0] == "AES128-SHA" and version == "TLSv1.2"


def test_a_client_that_stalls_the_handshake_is_cut_at_the_deadline(monkeypatch) -> None:
    monkeypatch.setattr(tlslite_server, "HANDSHAKE_SECONDS", 0.5)
    with Lab.start(parse_posture(posture(STATIC_FIRST, MAIL))) as lab:
        for service in ("https", "imaps"):
            with socket.create_connection((lab.address, lab.ports[service]), timeout=5) as raw:
                # A record header announcing a ClientHello, then one byte at a time
                raw.sendall(bytes.fromhex("1603010200"))
                started = time.monotonic()
                closed = False
                while time.monotonic() - started < 4:
                    try:
                        raw.sendall(b"\x01")
                        raw.settimeout(0.2)
                        closed = raw.recv(100) == b""
                    except TimeoutError:
                        continue
                    except OSError:
                        closed = True
                    if closed:
                        break
                assert closed, service
                # well before the 10 s per-read timeout that a dribbling client would reset
                assert time.monotonic() - started < 2.5, service


def test_a_listener_serves_a_bounded_number_of_clients_at_once(monkeypatch) -> None:
    monkeypatch.setattr(TlsliteContext, "max_connections", 2)
    with Lab.start(parse_posture(posture(STATIC_FIRST, MAIL))) as lab:
        for service in ("https", "imaps"):
            address = (lab.address, lab.ports[service])
            # Given two clients that connect and say nothing: both slots are taken
            idle = [socket.create_connection(address, timeout=5) for _ in range(2)]
            try:
                time.sleep(0.2)
                # Then a third is accepted by the kernel but not served
                with socket.create_connection(address, timeout=1) as raw, \
                        pytest.raises((TimeoutError, ssl.SSLError)):
                    legacy_client().wrap_socket(raw, server_hostname=lab.host)
                # Until a slot frees up
                idle.pop().close()
                with socket.create_connection(address, timeout=5) as raw, \
                        legacy_client().wrap_socket(raw, server_hostname=lab.host) as tls:
                    assert tls.version() == "TLSv1.2", service
            finally:
                for sock in idle:
                    sock.close()
