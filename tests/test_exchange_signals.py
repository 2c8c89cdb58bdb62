"""Telling an Exchange endpoint from a generic 404 page or a catch-all, from built evidence."""

from casaudit.evidence.base import ProbeError
from casaudit.exchange import Presence, classify, exchange_major, exchange_signals
from tests.factories import baseline, evidence_set, exchange, http_evidence

OWA = "https://mail.example.test:443/owa"
SPA = "<html><title>Portal</title><form><input type=password></form></html>"


def test_an_answer_identical_to_the_random_path_is_absent_whatever_its_status():
    catch_all = baseline(exchange("https://mail.example.test:443/casaudit-0123456789abcdef/",
                                  200, body=SPA))
    item = http_evidence(exchange(OWA, 200, body=SPA), scheme="https")
    signals = exchange_signals(item, catch_all)
    assert signals.presence is Presence.ABSENT and not signals.found
    assert "nonexistent path" in signals.reason


def test_a_catch_all_echoing_the_path_is_still_recognised():
    base_url = "https://mail.example.test:443/casaudit-0123456789abcdef/"
    echo = "<p>No route for /casaudit-0123456789abcdef at 12:01</p>"
    catch_all = baseline(exchange(base_url, 200, body=echo))
    item = http_evidence(exchange(OWA, 200, body="<p>No route for /owa at 12:02</p>"), scheme="https")
    assert exchange_signals(item, catch_all).presence is Presence.ABSENT


def test_redirect_everything_to_https_is_absent_for_a_path_the_baseline_shares():
    base = baseline(
        exchange("http://mail.example.test:80/casaudit-0123456789abcdef/", 301,
                 headers=(("Location", "https://mail.example.test/casaudit-0123456789abcdef/"),)),
        exchange("https://mail.example.test:443/casaudit-0123456789abcdef/", 200, body=SPA),
        scheme="http",
    )
    item = http_evidence(
        exchange("http://mail.example.test:80/ecp", 301,
                 headers=(("Location", "https://mail.example.test/ecp"),)),
        exchange("https://mail.example.test:443/ecp", 200, body=SPA),
        path="/ecp", role="ecp",
    )
    assert exchange_signals(item, base).presence is Presence.ABSENT


def test_exchange_markers_make_a_distinct_answer_exchange():
    item = http_evidence(
        exchange(OWA, 200, headers=(("X-OWA-Version", "15.1.2507.6"),),
                 body="<!-- OwaPage = ASP.auth_logon_aspx --><link href=\"/owa/auth/15.1.2507/x.css\">"),
        scheme="https",
    )
    signals = exchange_signals(item, baseline())
    assert signals.presence is Presence.EXCHANGE
    assert any("X-OWA-Version" in m for m in signals.exchange_markers)
    assert any("/owa/auth/15.1.2507" in m for m in signals.exchange_markers)


def test_windows_challenge_counts_as_iis_marker_and_bare_403_as_present():
    ews = http_evidence(exchange("https://mail.example.test:443/EWS/Exchange.asmx", 401,
                                 auth=("Negotiate", "NTLM")), scheme="https", path="/EWS/Exchange.asmx",
                        role="ews")
    signals = exchange_signals(ews, baseline())
    assert signals.presence is Presence.EXCHANGE and signals.iis_markers
    blocked = http_evidence(exchange("https://mail.example.test:443/ecp", 403, body="denied"),
                            scheme="https", path="/ecp", role="ecp")
    assert exchange_signals(blocked, baseline()).presence is Presence.PRESENT


def test_not_found_unknown_verb_and_no_answer():
    missing = http_evidence(exchange(OWA, 404, headers=(("Server", "Microsoft-IIS/10.0"),)),
                            scheme="https")
    assert exchange_signals(missing, None).presence is Presence.ABSENT
    verb = http_evidence(exchange("https://mail.example.test:443/rpc/rpcproxy.dll", 405,
                                  method="RPC_IN_DATA"), scheme="https")
    assert exchange_signals(verb, baseline()).presence is Presence.ABSENT
    silent = http_evidence(exchange(OWA, error=ProbeError("timeout", "no answer")), scheme="https")
    assert exchange_signals(silent, baseline()).presence is Presence.UNKNOWN


def test_classify_skips_the_baseline_and_major_version_prefers_the_newest_front_end():
    old = http_evidence(exchange("https://mail.example.test:443/public", 401, auth=("Basic",),
                                 headers=(("MS-Server-ActiveSync", "8.1"),)),
                        scheme="https", path="/public", role="public", evidence_id="E1")
    new = http_evidence(exchange(OWA, 200, body='<link href="/owa/auth/15.0.1497/a.css">'),
                        scheme="https", evidence_id="E2")
    evidence = evidence_set(old, new, baseline())
    assert set(classify(evidence)) == {"E1", "E2"}
    assert exchange_major(evidence) == 15
    assert exchange_major(evidence_set(baseline())) is None
