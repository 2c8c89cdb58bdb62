"""exchange.ntlm_info_disclosure and exchange.internal_address_disclosure from built evidence."""

from __future__ import annotations

from casaudit.evidence.base import ProbeError
from casaudit.model import CheckStatus
from casaudit.parse.ntlm import build_challenge, decode_challenge
from checks import exchange_internal_address_disclosure as internal
from checks import exchange_ntlm_info_disclosure as ntlm
from tests.factories import evidence_set, exchange, hostless_evidence, http_evidence, ntlm_evidence

HTTPS = "https://mail.example.test:443"


def _challenge(**overrides):
    fields = dict(
        netbios_domain="CONTOSO", netbios_computer="CAS01", dns_domain="corp.contoso.local",
        dns_computer="cas01.corp.contoso.local", dns_tree="corp.contoso.local", os_version=(10, 0, 17763),
    )
    fields.update(overrides)
    return decode_challenge(build_challenge(**fields))


def _one(module, *items):
    outcomes = module.evaluate(evidence_set(*items))
    assert len(outcomes) == 1, outcomes
    return outcomes[0]


# --------------------------------------------------------------------------- NTLM


def test_ntlm_fails_naming_each_revealed_field():
    outcome = _one(ntlm, ntlm_evidence(challenge=_challenge()))
    assert outcome.status is CheckStatus.FAIL and outcome.endpoint == HTTPS
    for text in ("NetBIOS domain 'CONTOSO'", "NetBIOS computer 'CAS01'",
                 "DNS computer 'cas01.corp.contoso.local'", "forest 'corp.contoso.local'",
                 "Windows 10.0.17763", "/rpc/rpcproxy.dll"):
        assert text in outcome.observed
    assert outcome.evidence == ("ntlm-001",)


def test_ntlm_passes_when_no_url_offers_ntlm_or_the_challenge_names_nothing():
    negotiate = _one(ntlm, ntlm_evidence(auth=("Negotiate",)), ntlm_evidence("/EWS/Exchange.asmx", auth=()))
    assert negotiate.status is CheckStatus.PASS and "Negotiate" in negotiate.reason
    empty = _challenge(netbios_domain="", netbios_computer="", dns_domain="", dns_computer="",
                       dns_tree="", os_version=None)
    assert _one(ntlm, ntlm_evidence(challenge=empty)).status is CheckStatus.PASS


def test_ntlm_not_assessed_on_no_answer_undecodable_or_silent_ntlm():
    down = _one(ntlm, ntlm_evidence(error=ProbeError("timeout", "no answer in 10 s")))
    assert down.status is CheckStatus.NOT_ASSESSED and "no answer in 10 s" in down.reason
    broken = _one(ntlm, ntlm_evidence(token="AAAA", decode_error="no NTLMSSP signature"))
    assert broken.status is CheckStatus.NOT_ASSESSED and "no NTLMSSP signature" in broken.reason
    silent = _one(ntlm, ntlm_evidence())
    assert silent.status is CheckStatus.NOT_ASSESSED and "without a challenge" in silent.reason
    refused = _one(ntlm, ntlm_evidence(error=ProbeError("refused", "connection refused")))
    assert refused.status is CheckStatus.NOT_APPLICABLE  # no listener: no challenge to read
    error_page = _one(ntlm, ntlm_evidence(status=503))
    assert error_page.status is CheckStatus.NOT_ASSESSED and "503" in error_page.reason


def test_ntlm_one_row_per_listener():
    outcomes = ntlm.evaluate(evidence_set(
        ntlm_evidence(challenge=_challenge()),
        ntlm_evidence(scheme="http", auth=("Negotiate",), evidence_id="ntlm-009"),
    ))
    assert {(o.endpoint, o.status) for o in outcomes} == {
        (HTTPS, CheckStatus.FAIL), ("http://mail.example.test:80", CheckStatus.PASS),
    }


# --------------------------------------------------------------------------- internal addresses


def test_private_address_in_a_hostless_redirect_fails():
    outcome = _one(internal, hostless_evidence(headers=(("Location", "https://10.1.10.38/owa/"),)))
    assert outcome.status is CheckStatus.FAIL and "10.1.10.38" in outcome.reason
    assert "no Host header" in outcome.observed and outcome.evidence == ("hostless-001",)


def test_basic_realm_and_diagnostic_headers_and_internal_names_count():
    realm = hostless_evidence(status=401, headers=(("WWW-Authenticate", 'Basic realm="192.168.1.5"'),))
    assert _one(internal, realm).status is CheckStatus.FAIL
    fe = http_evidence(exchange(f"{HTTPS}/owa", headers=(("X-FEServer", "EXCH01"),)), scheme="https")
    assert "EXCH01".lower() in _one(internal, fe).reason.lower()
    local = hostless_evidence(headers=(("Location", "https://cas01.corp.contoso.local/owa/"),))
    assert _one(internal, local).status is CheckStatus.FAIL
    netbios = hostless_evidence(headers=(("Content-Location", "http://EXCH01/default.htm"),))
    assert _one(internal, netbios).status is CheckStatus.FAIL


def test_the_targets_own_names_and_the_connected_address_do_not_count():
    # Given a server reached at 127.0.0.1 (as the lab is) redirecting to its own names and address
    items = [
        hostless_evidence(headers=(("Location", "https://mail.example.test/owa/"),), peer="127.0.0.1"),
        hostless_evidence("/rpc", headers=(("Location", "https://127.0.0.1/rpc/"),), peer="127.0.0.1",
                          evidence_id="hostless-002"),
        hostless_evidence("/ecp", headers=(("Location", "https://autodiscover.example.test/x"),),
                          peer="127.0.0.1", evidence_id="hostless-003"),
        hostless_evidence("/OAB", headers=(("Location", "https://login.example.org/x"),),
                          peer="127.0.0.1", evidence_id="hostless-004"),
    ]
    assert _one(internal, *items).status is CheckStatus.PASS
    # But another loopback address than the one connected to still counts
    other = hostless_evidence(headers=(("Location", "https://127.0.0.2/owa/"),), peer="127.0.0.1")
    assert _one(internal, other).status is CheckStatus.FAIL


def test_internal_not_assessed_without_answers_and_not_applicable_when_refused():
    timeout = _one(internal, hostless_evidence(error=ProbeError("timeout", "no answer in 10 s")))
    assert timeout.status is CheckStatus.NOT_ASSESSED and "no answer in 10 s" in timeout.reason
    refused = _one(internal, hostless_evidence(error=ProbeError("refused", "connection refused")))
    assert refused.status is CheckStatus.NOT_APPLICABLE
    error_page = _one(internal, hostless_evidence(status=503))
    assert error_page.status is CheckStatus.NOT_ASSESSED


def test_each_endpoint_answers_for_its_own_responses_only():
    # Given port 80 redirecting to 443, where X-FEServer names the front end (on both probes)
    fe = (("X-FEServer", "WTEXCH19-02"),)
    followed = http_evidence(
        exchange("http://mail.example.test:80/owa", 301, headers=(("Location", f"{HTTPS}/owa"),)),
        exchange(f"{HTTPS}/owa", headers=fe), scheme="http", evidence_id="http-001",
    )
    direct = http_evidence(exchange(f"{HTTPS}/owa", headers=fe), scheme="https", evidence_id="http-014")
    outcomes = {o.endpoint: o for o in internal.evaluate(evidence_set(followed, direct))}
    # Then port 80 passes on its own redirect; 443's finding cites 443's answer, once
    assert outcomes["http://mail.example.test:80"].status is CheckStatus.PASS
    assert outcomes[HTTPS].status is CheckStatus.FAIL and outcomes[HTTPS].evidence == ("http-014",)
    assert outcomes[HTTPS].observed.count("X-FEServer") == 1
    # And a value port 80 says itself is its own finding, citing its own answer
    leaky = http_evidence(
        exchange("http://mail.example.test:80/owa", 301,
                 headers=(("Location", f"{HTTPS}/owa"), *fe)),
        exchange(f"{HTTPS}/owa", headers=fe), scheme="http", evidence_id="http-001",
    )
    outcomes = {o.endpoint: o for o in internal.evaluate(evidence_set(leaky, direct))}
    plain = outcomes["http://mail.example.test:80"]
    assert plain.status is CheckStatus.FAIL and plain.evidence == ("http-001",)
    assert "http://mail.example.test:80/owa" in plain.observed and HTTPS not in plain.observed
