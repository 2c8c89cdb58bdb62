from casaudit.evidence.base import ProbeError
from casaudit.model import CheckStatus
from checks import http_basic_cleartext as check
from tests.factories import evidence_set, exchange, http_evidence

URL = "http://mail.example.test:80/Microsoft-Server-ActiveSync"


def _only(evidence):
    outcomes = check.evaluate(evidence)
    assert len(outcomes) == 1
    return outcomes[0]


def test_basic_challenge_on_plain_http_fails_and_cites_the_urls_own_recommendation():
    item = http_evidence(
        exchange(URL, 401, method="OPTIONS", auth=("Basic", "NTLM")),
        path="/Microsoft-Server-ActiveSync", role="activesync",
    )
    outcome = _only(evidence_set(item))
    assert outcome.status is CheckStatus.FAIL
    assert outcome.recommendations == ("CAS-01",)
    assert outcome.evidence == ("E001",)
    assert "OPTIONS" in outcome.observed and "Basic, NTLM" in outcome.observed


def test_integrated_only_challenge_on_plain_http_passes_this_check():
    item = http_evidence(exchange("http://mail.example.test:80/owa", 401, auth=("NTLM", "Negotiate")))
    outcome = _only(evidence_set(item))
    assert outcome.status is CheckStatus.PASS
    # A pass does not prove the URL's own SSL recommendation (a form may be served in clear).
    assert outcome.recommendations == ()


def test_redirect_to_https_then_basic_passes():
    item = http_evidence(
        exchange("http://mail.example.test:80/owa", 301),
        exchange("https://mail.example.test:443/owa", 401, auth=("Basic",)),
    )
    assert _only(evidence_set(item)).status is CheckStatus.PASS


def test_redirect_within_plain_http_to_a_basic_challenge_fails():
    item = http_evidence(
        exchange("http://mail.example.test:80/owa", 302),
        exchange("http://mail.example.test:80/owa/", 401, auth=("Basic",)),
    )
    assert _only(evidence_set(item)).status is CheckStatus.FAIL


def test_refused_port_is_not_applicable_and_timeout_is_not_assessed():
    refused = http_evidence(exchange(URL, error=ProbeError("refused", "connection refused")))
    silent = http_evidence(exchange(URL, error=ProbeError("timeout", "no answer")))
    # Nothing listens: there is no challenge to judge (not a pass: nothing was observed).
    assert _only(evidence_set(refused)).status is CheckStatus.NOT_APPLICABLE
    assert _only(evidence_set(silent)).status is CheckStatus.NOT_ASSESSED


def test_https_evidence_is_not_judged_by_this_check():
    item = http_evidence(
        exchange("https://mail.example.test:443/owa", 401, auth=("Basic",)), scheme="https"
    )
    assert check.evaluate(evidence_set(item)) == []
