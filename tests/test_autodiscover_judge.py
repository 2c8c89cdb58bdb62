"""The Autodiscover verdicts, judged from built observations in milliseconds (no network)."""

from __future__ import annotations

import pytest

from casaudit import autodiscover_judge as judge
from casaudit.autodiscover_judge import RedirectStop, Stop
from casaudit.evidence.autodiscover import (
    ABSENT_FAILURES,
    CERTIFICATE_FAILURES,
    NO_ANSWER_FAILURES,
    AutodiscoverVerdict,
    CertificateCheck,
    Failure,
)
from casaudit.evidence.base import ErrorKind, ProbeError
from casaudit.evidence.dns import NXDOMAIN_DETAIL, SrvAnswer, SrvError, SrvLookup
from casaudit.parse.autodiscover import cut_short, parse_pox
from tests.factories import autodiscover_evidence, exchange

URL = "https://autodiscover.example.test:443/autodiscover/autodiscover.xml"
WORKING, FAILED, UNKNOWN = (
    AutodiscoverVerdict.WORKING, AutodiscoverVerdict.FAILED, AutodiscoverVerdict.UNKNOWN)


@pytest.mark.parametrize(("error", "verdict", "failure"), [
    (ProbeError("timeout", "no answer"), UNKNOWN, Failure.TIMEOUT),
    (ProbeError("refused", "closed"), FAILED, Failure.REFUSED),
    (ProbeError("reset", "reset"), FAILED, Failure.CONNECTION_RESET),
    (ProbeError("tls", "alert"), FAILED, Failure.TLS_FAILURE),
    (ProbeError("protocol", "garbage"), FAILED, Failure.PROTOCOL_ERROR),
    (ProbeError("unreachable", "no route"), FAILED, Failure.UNREACHABLE),
    (ProbeError("too_large", "too much"), FAILED, Failure.ERROR),
    (ProbeError("dns", f"name not resolved: {NXDOMAIN_DETAIL}"), FAILED, Failure.DNS_NXDOMAIN),
    (ProbeError("dns", "name not resolved: Name or service not known"), FAILED, Failure.DNS_FAILURE),
])
def test_no_http_answer_is_judged_by_the_error_kind(error, verdict, failure):
    outcome = judge.transport(error)
    assert (outcome.verdict, outcome.failure, outcome.detail) == (verdict, failure, error.detail)


def test_a_401_or_autodiscover_xml_over_https_works():
    challenge = exchange(URL, 401, method="POST", auth=("Negotiate", "NTLM"))
    assert judge.https_answer(challenge, b"", None, (), None, None).verdict is WORKING
    body = (b'<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">'
            b'<Response><Error><ErrorCode>600</ErrorCode><Message>Invalid Request</Message></Error>'
            b'</Response></Autodiscover>')
    answer = judge.https_answer(exchange(URL, 200, method="POST"), body, None, (), parse_pox(body), None)
    assert answer.verdict is WORKING and answer.failure is None and "600" in answer.detail


def test_a_rejected_certificate_fails_even_a_401():
    wrong = CertificateCheck("autodiscover.example.test", 443, False, "name_mismatch", "for another name")
    outcome = judge.https_answer(exchange(URL, 401, method="POST"), b"", None, (wrong,), None, None)
    assert (outcome.verdict, outcome.failure) == (FAILED, Failure.CERTIFICATE_FOR_ANOTHER_NAME)
    # no handshake is not a rejection: the 401 still works
    silent = CertificateCheck("autodiscover.example.test", 443, None, "handshake", "no handshake")
    assert judge.certificates((silent,)) is None


@pytest.mark.parametrize(("why", "verdict", "failure"), [
    (RedirectStop.TO_PLAIN_HTTP, FAILED, Failure.REDIRECT_TO_HTTP),
    (RedirectStop.OUT_OF_SCOPE, UNKNOWN, Failure.TARGET_OUT_OF_SCOPE),
    (RedirectStop.LOOP_OR_LIMIT, FAILED, Failure.REDIRECT_NOT_FOLLOWED),
    (RedirectStop.UNUSABLE, FAILED, Failure.REDIRECT_NOT_FOLLOWED),
])
def test_a_redirect_not_followed_is_judged_by_why_never_by_its_words(why, verdict, failure):
    # Given words that name another reason than the one the probe gave
    misleading = "redirect to plain HTTP, outside the target's names: not followed"
    outcome = judge.https_answer(
        exchange(URL, 302, method="POST"), b"", Stop(why, misleading), (), None, None)
    # Then only `why` decides, and the words are kept for the reader
    assert (outcome.verdict, outcome.failure) == (verdict, failure)
    assert outcome.detail == f"302: {misleading}"


@pytest.mark.parametrize(("status", "body", "canary", "failure"), [
    (404, b"", None, Failure.NOT_FOUND),
    (200, b"<!doctype html><title>shop</title>", None, Failure.HTML_PAGE),
    (200, b"hello", exchange(URL, 200), Failure.CATCH_ALL),
    (200, b"hello", exchange(URL, 404), Failure.NOT_AUTODISCOVER),
    (503, b"", None, Failure.UNEXPECTED_STATUS),
    (301, b"", None, Failure.REDIRECT_NOT_FOLLOWED),
])
def test_answers_that_are_not_autodiscover_fail_with_their_name(status, body, canary, failure):
    outcome = judge.https_answer(exchange(URL, status, method="POST"), body, None, (), None, canary)
    assert (outcome.verdict, outcome.failure) == (FAILED, failure)


def test_xml_that_was_not_read_fails_with_why():
    too_big = parse_pox(b"<a/>" * 10, truncated=True)
    outcome = judge.https_answer(exchange(URL, 200, method="POST"), b"<a/>", None, (), too_big, None)
    assert outcome.failure is Failure.XML_TOO_LARGE
    cut = judge.https_answer(exchange(URL, 200, method="POST"), b"<a", None, (), cut_short("reset"), None)
    assert cut.failure is Failure.XML_CUT_SHORT and cut.failure in NO_ANSWER_FAILURES


def test_the_plain_http_method():
    # Autodiscover itself on plain HTTP is a failure of its own
    outcome = judge.cleartext_answer(exchange(URL.replace("https", "http"), 401), None)
    assert outcome is not None and outcome.failure is Failure.CLEARTEXT_CONTENT
    assert judge.cleartext_answer(exchange(URL, 302), None) is None
    # and a redirect is followed only to an in-scope HTTPS Autodiscover URL
    assert judge.redirect_target(URL, None, "https", "/autodiscover/autodiscover.xml", True) is None
    cases = {
        Failure.REDIRECT_UNUSABLE: (None, "not a URL", "", "", False),
        Failure.REDIRECT_TO_HTTP: ("http://x/", None, "http", "/autodiscover/autodiscover.xml", True),
        Failure.REDIRECT_UNEXPECTED_URL: (URL, None, "https", "/owa/", True),
        Failure.TARGET_OUT_OF_SCOPE: (URL, None, "https", "/autodiscover/autodiscover.xml", False),
    }
    for failure, args in cases.items():
        refused = judge.redirect_target(*args)
        assert refused is not None and refused.failure is failure


@pytest.mark.parametrize(("error", "verdict", "failure"), [
    (SrvError.NXDOMAIN, FAILED, Failure.DNS_NXDOMAIN),
    (SrvError.NO_RECORD, FAILED, Failure.NO_RECORD),
    (SrvError.DNS, FAILED, Failure.DNS_FAILURE),
    (SrvError.TIMEOUT, UNKNOWN, Failure.TIMEOUT),
])
def test_an_srv_query_without_records(error, verdict, failure):
    outcome = judge.srv_lookup(SrvLookup("_autodiscover._tcp.example.test", "192.0.2.53:53", error=error))
    assert outcome is not None and (outcome.verdict, outcome.failure) == (verdict, failure)


def test_an_srv_record_of_dot_says_no_service():
    dot = SrvLookup("n", "s", records=(SrvAnswer(0, 0, 443, "."),))
    assert judge.srv_lookup(dot).failure is Failure.NO_RECORD  # type: ignore[union-attr]
    real = SrvLookup("n", "s", records=(SrvAnswer(0, 0, 443, "mail.example.test"),))
    assert judge.srv_lookup(real) is None and judge.usable_records(real)[0].target == "mail.example.test"


def test_the_credential_gate_asks_the_verdict_first():
    answered = (exchange(URL, 401, method="POST"),)
    assert judge.credentials_withheld(WORKING, answered) is None
    assert judge.credentials_withheld(FAILED, answered) is not None
    assert judge.credentials_withheld(WORKING, ()) is not None


def test_failure_groups_are_disjoint_and_evidence_takes_the_json_words():
    assert not (NO_ANSWER_FAILURES & ABSENT_FAILURES) and not (ABSENT_FAILURES & CERTIFICATE_FAILURES)
    item = autodiscover_evidence("root_domain", "failed", "not_found")
    assert item.verdict is FAILED and item.failure is Failure.NOT_FOUND  # type: ignore[attr-defined]
    with pytest.raises(ValueError):
        autodiscover_evidence("root_domain", "failed", "a_word_nobody_defined")
    assert ProbeError("refused", "x").kind is ErrorKind.REFUSED
    with pytest.raises(ValueError):
        ProbeError("closed-ish", "x")


def test_the_contract_names_every_word_of_every_evidence_enum():
    # The words are the JSON contract: the docs list every one (and the schema every failure)
    import json
    from pathlib import Path

    from casaudit.evidence import CertificateProblem, LoginOutcome, Reachability, Trust

    root = Path(__file__).resolve().parents[1]
    contract = (root / "docs" / "json-contract.md").read_text()
    for words in (Failure, ErrorKind, AutodiscoverVerdict, SrvError, CertificateProblem, LoginOutcome,
                  Reachability, Trust):
        for word in words:
            assert f"`{word.value}`" in contract, word
    schema = json.loads((root / "casaudit" / "data" / "casaudit.scan-1.json").read_text())
    failures = [node["failure"]["enum"] for node in _walk(schema) if "failure" in node
                and isinstance(node["failure"], dict) and "enum" in node["failure"]]
    assert failures == [[*(f.value for f in Failure), None]]


def _walk(node):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)
