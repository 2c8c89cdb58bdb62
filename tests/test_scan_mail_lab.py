"""The mail probe and checks against the lab's POP3/IMAP4 listeners, over real sockets."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from casaudit.api import ScanOptions, audit
from casaudit.demo import lab_target
from casaudit.lab import Lab, LabInstance, parse_posture
from casaudit.plan import Target
from casaudit.probes.mail import NTLM_NEGOTIATE, PROBE_USER
from tests.conftest import run_cli

MAIL_CHECKS = ("mail.pop3_exposed", "mail.imap4_exposed", "mail.cleartext_login",
               "mail.starttls_missing", "mail.banner_disclosure")

EXCHANGE_2016_SECURE = '''
name = "exchange2016-mail-secure"
summary = "Exchange 2016 defaults: SecureLogin, STARTTLS, default banners"
host = "mail.fabrikam.test"
domain = "fabrikam.test"
[imap]
greeting = "* OK The Microsoft Exchange IMAP4 service is ready."
capabilities = ["IMAP4", "IMAP4rev1", "LOGINDISABLED", "STARTTLS", "UIDPLUS", "MOVE", "ID",
                "CHILDREN", "IDLE", "NAMESPACE", "LITERAL+"]
capabilities_tls = ["IMAP4", "IMAP4rev1", "AUTH=PLAIN", "AUTH=NTLM", "AUTH=GSSAPI", "UIDPLUS", "MOVE",
                    "ID", "CHILDREN", "IDLE", "NAMESPACE", "LITERAL+"]
ntlm_challenge = "TlRMTVNTUAACAAAADAAMADgAAAAFgomiESIzRFVmd4gAAAAAAAAAAAAAAAAAAAAA"
[pop3]
greeting = "+OK The Microsoft Exchange POP3 service is ready."
capabilities = ["TOP", "UIDL", "SASL NTLM GSSAPI", "USER", "STLS"]
capabilities_tls = ["TOP", "UIDL", "SASL NTLM GSSAPI PLAIN", "USER"]
user_before_tls = "-ERR Command is not valid in this state."
ntlm_challenge = "TlRMTVNTUAACAAAADAAMADgAAAAFgomiESIzRFVmd4gAAAAAAAAAAAAAAAAAAAAA"
'''

IMAPS_ONLY = '''
name = "imaps-only"
summary = "Only IMAP over implicit TLS, neutral banner"
host = "mail.tailspin.test"
domain = "tailspin.test"
[imaps]
greeting = "* OK IMAP4 service ready"
capabilities = ["IMAP4rev1", "AUTH=PLAIN"]
'''

NO_STARTTLS = '''
name = "dovecot-no-tls"
summary = "dovecot without ssl: no STARTTLS, plaintext auth allowed"
host = "mail.litware.test"
domain = "litware.test"
[imap]
greeting = "* OK [CAPABILITY IMAP4rev1 LITERAL+ AUTH=PLAIN] Dovecot ready."
capabilities = ["IMAP4rev1", "LITERAL+", "SASL-IR", "AUTH=PLAIN", "AUTH=LOGIN"]
[pop3]
greeting = "+OK Dovecot ready."
capabilities = ["TOP", "UIDL", "USER", "SASL PLAIN LOGIN"]
'''


def _scan(lab: LabInstance, timeout: float = 5.0):
    target, options = lab_target(lab)
    return audit(target, ScanOptions(pins=options.pins, ca_file=options.ca_file, timeout=timeout))


def _rows(result, check):
    return {row.endpoint.split(":")[0] + ":" + row.endpoint.rsplit(":", 1)[1]: row
            for row in result.checks if row.check == check}


def _by_service(result):
    return {e.service: e for e in result.evidence if e.kind == "mail"}


def _status(result, check):
    return {e.rsplit(":", 1)[0].split("://")[0]: r.status.value
            for e, r in ((row.endpoint, row) for row in result.checks if row.check == check)}


# -- the shipped postures --------------------------------------------------------------


def test_legacy_posture_fires_every_mail_check(legacy_lab, validate_scan):
    run = run_cli("scan", *legacy_lab.scan_args(), "--json", "-")
    assert run.code == 1, run.stderr
    document = validate_scan(run.json())
    findings = {(f["check"], f["endpoint"].split("://")[0]): f for f in document["findings"]}
    assert findings[("mail.pop3_exposed", "pop3")]["severity"] == "low"
    assert findings[("mail.pop3_exposed", "pop3s")]["severity"] == "info"
    assert findings[("mail.imap4_exposed", "imap")]["severity"] == "low"
    assert findings[("mail.imap4_exposed", "imaps")]["severity"] == "info"
    assert findings[("mail.cleartext_login", "imap")]["recommendations"][:2] == ["CAS-10", "CAS-14"]
    assert "USER casaudit-probe" in findings[("mail.cleartext_login", "pop3")]["observed"]
    for service in ("pop3", "pop3s", "imap", "imaps"):
        assert "Microsoft Exchange Server 2007" in findings[("mail.banner_disclosure", service)]["observed"]
    assert not [key for key in findings if key[0] == "mail.starttls_missing"]
    evidence = {e["service"]: e for e in document["evidence"] if e["kind"] == "mail"}
    imap = evidence["imap"]
    assert imap["endpoint"] == f"imap://{legacy_lab.host}:{legacy_lab.ports['imap']}"
    assert "LOGINDISABLED" not in imap["capabilities_clear"]["items"]
    assert imap["starttls"]["ok"] and imap["tls"]["version"].startswith("TLS")
    assert imap["capabilities_tls"]["over_tls"] and "STARTTLS" not in imap["capabilities_tls"]["items"]
    assert imap["ntlm"]["over_tls"] and imap["ntlm"]["challenge"].startswith("TlRMTVNTUAACAAAA")
    assert evidence["imaps"]["ntlm"]["challenge"] == imap["ntlm"]["challenge"]
    assert evidence["pop3"]["login_in_clear"]["outcome"] == "accepted"
    assert evidence["pop3s"]["capabilities_clear"] is None and evidence["pop3s"]["tls"]["cipher"]
    verdicts = {r["id"]: r["verdict"] for r in document["recommendations"]}
    assert verdicts["CAS-10"] == "not_met" and verdicts["CAS-09"] == "not_met"


def test_hardened_posture_keeps_mail_closed_and_quiet(hardened_lab):
    result = _scan(hardened_lab)
    mail = _by_service(result)
    assert {e.reachability for e in mail.values()} == {"refused"}
    assert {e.port for e in mail.values()} == {hardened_lab.closed_port}
    rows = [row for row in result.checks if row.check in MAIL_CHECKS]
    assert len(rows) == 2 + 2 + 2 + 2 + 4
    # Closed ports: the exposure checks pass (POP3/IMAP4 not reachable is what CAS-09 asks);
    # login, STARTTLS and banner have no service to judge.
    statuses = {row.check: {r.status.value for r in rows if r.check == row.check} for row in rows}
    assert statuses == {
        "mail.pop3_exposed": {"pass"}, "mail.imap4_exposed": {"pass"},
        "mail.cleartext_login": {"not_applicable"}, "mail.starttls_missing": {"not_applicable"},
        "mail.banner_disclosure": {"not_applicable"},
    }
    assert not [f for f in result.findings if f.check.startswith("mail.")]


# -- test postures -----------------------------------------------------------------------


def test_exchange_2016_secure_login_passes_login_and_starttls_but_names_exchange():
    with Lab.start(parse_posture(EXCHANGE_2016_SECURE)) as lab:
        result = _scan(lab)
    mail = _by_service(result)
    assert mail["imap"].capabilities_clear.logindisabled
    assert "PLAIN" in mail["imap"].capabilities_tls.sasl
    assert mail["pop3"].login_in_clear.outcome == "refused_tls_required"
    assert mail["pop3"].login_in_clear.wording == "exchange"
    assert mail["pop3"].ntlm.challenge and mail["pop3"].ntlm.over_tls
    assert _status(result, "mail.cleartext_login") == {"pop3": "pass", "imap": "pass"}
    assert _status(result, "mail.starttls_missing") == {"pop3": "pass", "imap": "pass"}
    banner = [f for f in result.findings if f.check == "mail.banner_disclosure"]
    assert {f.endpoint.split("://")[0] for f in banner} == {"pop3", "imap"}
    assert all("Exchange 2010+ default" in f.observed for f in banner)


def test_imaps_only_is_info_and_neutral_banner_passes():
    with Lab.start(parse_posture(IMAPS_ONLY)) as lab:
        result = _scan(lab)
    exposed = [f for f in result.findings if f.check == "mail.imap4_exposed"]
    assert [(f.endpoint.split("://")[0], f.severity.value) for f in exposed] == [("imaps", "info")]
    assert _status(result, "mail.imap4_exposed")["imap"] == "pass"
    assert _status(result, "mail.banner_disclosure")["imaps"] == "pass"
    verdicts = {v.id: v.verdict.value for v in result.recommendations}
    assert verdicts["CAS-09"] == "met"  # info findings do not count against it


def test_no_starttls_posture_fires_starttls_missing_and_cleartext_login():
    with Lab.start(parse_posture(NO_STARTTLS)) as lab:
        result = _scan(lab)
    assert _status(result, "mail.starttls_missing") == {"pop3": "fail", "imap": "fail"}
    assert _status(result, "mail.cleartext_login") == {"pop3": "fail", "imap": "fail"}
    mail = _by_service(result)
    assert mail["imap"].starttls.offered is False and mail["imap"].tls is None
    assert mail["imap"].capabilities_tls is None


# -- never a password --------------------------------------------------------------------


ALLOWED = {"CAPABILITY", "STARTTLS", "AUTHENTICATE NTLM", "LOGOUT",  # IMAP, tag stripped
           "CAPA", "STLS", "AUTH NTLM", "QUIT", f"USER {PROBE_USER}",  # POP3
           NTLM_NEGOTIATE, "*"}


def _verb(service: str, line: str) -> str:
    if service.startswith("imap") and line not in (NTLM_NEGOTIATE, "*"):
        return line.partition(" ")[2]
    return line


def test_no_password_ever_reaches_the_lab():
    # Given every mail posture, When each is scanned, Then the lab received only
    # the probe's fixed commands: no PASS, LOGIN, AUTH PLAIN/LOGIN or other SASL data.
    received = []
    for text in (None, EXCHANGE_2016_SECURE, NO_STARTTLS, IMAPS_ONLY):
        posture = parse_posture(text) if text else "exchange2007-legacy"
        with Lab.start(posture) as lab:
            _scan(lab)
            received += lab.mail_log.lines()
    assert received, "the lab recorded nothing: the test would prove nothing"
    verbs = {_verb(item.service, item.line) for item in received}
    assert verbs <= ALLOWED, verbs - ALLOWED
    assert not [item for item in received
                if item.line.upper().split(" ")[-2:][0] in ("PASS", "LOGIN", "APOP")]
    # The USER test only ever runs before TLS, on the cleartext POP3 port.
    assert all(not item.tls and item.service == "pop3"
               for item in received if item.line.startswith("USER"))


# -- hostile servers -----------------------------------------------------------------------


@contextmanager
def _raw_server(behaviour) -> Iterator[int]:
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                client, _ = server.accept()
            except TimeoutError:
                continue
            with client:
                try:
                    behaviour(client, stop)
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        server.close()


def _flood(client: socket.socket, stop: threading.Event) -> None:
    chunk = b"* OK " + b"A" * 65536
    while not stop.is_set():
        client.sendall(chunk)


def _mute(client: socket.socket, stop: threading.Event) -> None:
    stop.wait(5)


def _dribble(client: socket.socket, stop: threading.Event) -> None:
    client.sendall(b"+OK ready\r\n+OK\r\n")
    while not stop.wait(0.1):
        client.sendall(b"X\r\n")  # a CAPA answer that never ends


def _mail_scan(ports: dict[str, int], closed: int, timeout: float) -> dict:
    all_ports = {"http": closed, "https": closed, "pop3": closed, "pop3s": closed,
                 "imap": closed, "imaps": closed, **ports}
    target = Target("mail.hostile.test", "hostile.test", all_ports)
    result = audit(target, ScanOptions(pins={"mail.hostile.test": "127.0.0.1"}, timeout=timeout))
    return _by_service(result)


def test_hostile_servers_are_bounded_in_bytes_and_time():
    with Lab.start(parse_posture(IMAPS_ONLY)) as spare:
        closed = spare.closed_port
        with _raw_server(_flood) as flood, _raw_server(_mute) as mute, \
                _raw_server(_dribble) as dribble:
            started = time.monotonic()
            mail = _mail_scan({"imap": flood, "pop3": mute, "pop3s": dribble}, closed, timeout=0.5)
            elapsed = time.monotonic() - started
    assert elapsed < 8
    assert mail["imap"].error is not None and mail["imap"].error.kind == "too_large"
    assert mail["pop3"].reachability == "open" and mail["pop3"].error.kind == "timeout"
    # pop3s on a plain server: the TLS handshake fails, reported as such
    assert mail["pop3s"].error is not None
    assert mail["imaps"].reachability == "refused"


def test_dribbling_capa_stops_at_the_line_cap_or_deadline():
    with Lab.start(parse_posture(IMAPS_ONLY)) as spare:
        closed = spare.closed_port
        with _raw_server(_dribble) as dribble:
            started = time.monotonic()
            mail = _mail_scan({"pop3": dribble}, closed, timeout=0.5)
            elapsed = time.monotonic() - started
    assert mail["pop3"].error is not None and mail["pop3"].error.kind in ("too_large", "timeout")
    assert elapsed < 6


# -- posture format ----------------------------------------------------------------------

BASE = 'name = "p"\nsummary = "s"\nhost = "mail.p.test"\ndomain = "p.test"\n'


def test_mail_posture_sections_are_validated_key_by_key():
    import pytest

    cases = {
        '[imap]\ncapabilities = []\n': "imap.greeting",
        '[imaps]\ngreeting = "* OK"\ncapabilities = []\ncapabilities_tls = []\n': "imaps.capabilities_tls",
        '[imap]\ngreeting = "* OK"\ncapabilities = ["IMAP4rev1"]\ncapabilities_tls = []\n':
            "does not offer STARTTLS",
        '[pop3]\ngreeting = "+OK"\ncapabilities = ["USER"]\nntlm_challenge = "TlRMTVNTUAAC"\n':
            "NTLM is not offered",
        '[pop3]\ngreeting = "+OK\\r\\nPASS x"\ncapabilities = []\n': "one line",
        '[imap]\ngreeting = "* OK"\ncapabilities = []\nuser_before_tls = "+OK"\n': "imap.user_before_tls",
        '[pop3]\ngreeting = "+OK"\ncapabilities = ["SASL NTLM"]\nntlm_challenge = "@@@"\n': "not base64",
    }
    for section, message in cases.items():
        with pytest.raises(ValueError, match=message.replace("(", r"\(")):
            parse_posture(BASE + section)
    posture = parse_posture(BASE + '[imap]\ngreeting = "* OK"\n'
                            'capabilities = ["IMAP4rev1", "STARTTLS", "LOGINDISABLED"]\n')
    assert posture.imap is not None and posture.imap.capabilities_tls == ("IMAP4rev1",)
    assert set(posture.mail) == {"imap"}


def _fake_starttls(client: socket.socket, stop: threading.Event) -> None:
    # Says yes to STARTTLS, then answers the TLS ClientHello with plain text.
    client.settimeout(3)
    client.sendall(b"* OK ready\r\n")
    reader = client.makefile("rb")
    for _ in range(3):
        tag, _, command = reader.readline().decode().strip().partition(" ")
        if command == "CAPABILITY":
            client.sendall(b"* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED\r\n"
                           + tag.encode() + b" OK done\r\n")
        elif command == "STARTTLS":
            client.sendall(tag.encode() + b" OK Begin TLS negotiation now.\r\n")
            client.recv(4096)
            client.sendall(b"this is not TLS\r\n" * 10)
            # Until the client gives up (bounded by the 3 s timeout): closing with its
            # ClientHello unread would reset the connection and lose the garbage it must read.
            while client.recv(4096):
                pass
            return


def test_starttls_that_breaks_the_handshake_fails_starttls_missing():
    with Lab.start(parse_posture(IMAPS_ONLY)) as spare:
        closed = spare.closed_port
        with _raw_server(_fake_starttls) as fake:
            started = time.monotonic()
            target = Target("mail.hostile.test", "hostile.test",
                            {**{s: closed for s in ("http", "https", "pop3", "pop3s", "imaps")},
                             "imap": fake})
            result = audit(target, ScanOptions(pins={"mail.hostile.test": "127.0.0.1"}, timeout=1.0))
            elapsed = time.monotonic() - started
    imap = _by_service(result)["imap"]
    assert imap.starttls.offered and imap.starttls.attempted and not imap.starttls.ok
    assert imap.starttls.error.kind == "tls" and imap.starttls.reply == "OK Begin TLS negotiation now."
    assert _status(result, "mail.starttls_missing")["imap"] == "fail"
    assert elapsed < 4
