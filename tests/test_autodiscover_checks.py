"""The autodiscover.* checks from built evidence: failing, passing, not assessed."""

from __future__ import annotations

import importlib
from dataclasses import replace

from casaudit.evidence.base import ProbeError
from casaudit.evidence.dns import SrvAnswer, SrvLookup
from casaudit.model import CheckStatus
from tests.factories import autodiscover_evidence, evidence_set, exchange, http_evidence

unreachable = importlib.import_module("checks.autodiscover_unreachable")
url_failed = importlib.import_module("checks.autodiscover_url_failed")
cleartext = importlib.import_module("checks.autodiscover_cleartext")
offsite = importlib.import_module("checks.autodiscover_redirect_offsite")

COUNTED = ("root_domain", "autodiscover_host", "http_redirect", "srv")


def _all(verdicts: dict[str, tuple[str, str | None]]):
    return evidence_set(*(autodiscover_evidence(m, v, f) for m, (v, f) in verdicts.items()))


def test_unreachable_fails_when_every_method_failed():
    evidence = _all({m: ("failed", "not_found") for m in COUNTED} | {"json_v2": ("working", None)})
    [outcome] = unreachable.evaluate(evidence)
    assert outcome.status is CheckStatus.FAIL
    assert "srv: failed (not found)" in outcome.observed
    assert outcome.evidence == ("ad-001", "ad-002", "ad-003", "ad-004")


def test_unreachable_passes_when_one_method_works():
    verdicts = {m: ("failed", "not_found") for m in COUNTED} | {"srv": ("working", None)}
    [outcome] = unreachable.evaluate(_all(verdicts))
    assert outcome.status is CheckStatus.PASS and "working: srv" in outcome.reason


def test_unreachable_is_not_assessed_when_a_method_timed_out_and_none_worked():
    verdicts = {m: ("failed", "not_found") for m in COUNTED} | {"root_domain": ("unknown", "timeout")}
    [outcome] = unreachable.evaluate(_all(verdicts))
    assert outcome.status is CheckStatus.NOT_ASSESSED


def test_unreachable_is_silent_without_autodiscover_evidence():
    assert unreachable.evaluate(evidence_set(http_evidence())) == []


def test_url_failed_judges_only_the_two_guide_urls_and_cites_cas17_for_certificates():
    evidence = _all({
        "root_domain": ("working", None),
        "autodiscover_host": ("failed", "certificate_for_another_name"),
        "http_redirect": ("failed", "not_found"),
        "srv": ("failed", "dns_nxdomain"),
    })
    outcomes = {o.endpoint: o for o in url_failed.evaluate(evidence)}
    assert len(outcomes) == 2
    root = outcomes["https://example.test:443/autodiscover/autodiscover.xml"]
    auto = outcomes["https://autodiscover.example.test:443/autodiscover/autodiscover.xml"]
    assert root.status is CheckStatus.PASS
    assert auto.status is CheckStatus.FAIL and auto.recommendations == ("CAS-17",)
    assert "certificate for another name" in auto.observed


def test_url_failed_names_a_404_without_cas17_and_a_timeout_is_not_assessed():
    evidence = _all({"root_domain": ("failed", "not_found"), "autodiscover_host": ("unknown", "timeout")})
    statuses = [(o.status, o.recommendations) for o in url_failed.evaluate(evidence)]
    assert statuses == [(CheckStatus.FAIL, ()), (CheckStatus.NOT_ASSESSED, ())]


def test_cleartext_fails_on_content_over_http_from_either_probe():
    challenge = exchange("http://mail.example.test:80/autodiscover/autodiscover.xml", 401, auth=("Basic",))
    evidence = evidence_set(
        autodiscover_evidence("http_redirect", "failed", "cleartext_content"),
        http_evidence(challenge, path="/autodiscover/autodiscover.xml", role="autodiscover"),
    )
    assert [o.status for o in cleartext.evaluate(evidence)] == [CheckStatus.FAIL, CheckStatus.FAIL]


def test_cleartext_fails_on_autodiscover_xml_over_http():
    xml = exchange("http://mail.example.test:80/autodiscover/autodiscover.xml", 200)
    xml = type(xml)(**{**xml.__dict__, "body_excerpt":
                       '<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/'
                       'responseschema/2006"><Response><Error><ErrorCode>600</ErrorCode>'})
    evidence = evidence_set(http_evidence(xml, path="/autodiscover/autodiscover.xml", role="autodiscover"))
    [outcome] = cleartext.evaluate(evidence)
    assert outcome.status is CheckStatus.FAIL and "Autodiscover XML" in outcome.observed


def test_cleartext_passes_on_a_redirect_or_refusal_and_skips_other_roles():
    redirect = exchange("http://mail.example.test:80/autodiscover/autodiscover.xml", 302,
                        headers=(("Location", "https://mail.example.test/autodiscover/autodiscover.xml"),))
    secure = exchange("https://mail.example.test:443/autodiscover/autodiscover.xml", 401, auth=("NTLM",))
    evidence = evidence_set(
        autodiscover_evidence("http_redirect", "working"),
        autodiscover_evidence("http_redirect", "failed", "refused", evidence_id="x"),
        http_evidence(redirect, secure, path="/autodiscover/autodiscover.xml", role="autodiscover"),
        http_evidence(exchange("http://mail.example.test:80/owa", 401, auth=("Basic",))),
    )
    assert [o.status for o in cleartext.evaluate(evidence)] == [CheckStatus.PASS] * 3


def test_cleartext_is_not_assessed_on_timeouts():
    timeout = ProbeError("timeout", "no answer")
    evidence = evidence_set(
        autodiscover_evidence("http_redirect", "unknown", "timeout"),
        http_evidence(exchange("http://m.example.test:80/autodiscover/autodiscover.xml", error=timeout),
                      path="/autodiscover/autodiscover.xml", role="autodiscover"),
    )
    assert [o.status for o in cleartext.evaluate(evidence)] == [CheckStatus.NOT_ASSESSED] * 2


def _srv(*targets: str, error: str | None = None) -> SrvLookup:
    records = tuple(SrvAnswer(0, 0, 443, target) for target in targets)
    return SrvLookup("_autodiscover._tcp.example.test", "127.0.0.1:53", records, error)


def test_redirect_offsite_fails_on_a_location_or_srv_outside_the_domain():
    redirect = exchange("http://autodiscover.example.test:80/autodiscover/autodiscover.xml", 302,
                        headers=(("Location", "https://autodiscover.hoster.test/autodiscover/autodiscover.xml"),))
    evidence = evidence_set(
        autodiscover_evidence("http_redirect", "unknown", "target_out_of_scope", exchanges=(redirect,)),
        autodiscover_evidence("srv", "unknown", "target_out_of_scope",
                              srv=_srv("mail.example.test.evil.test")),
    )
    outcomes = offsite.evaluate(evidence)
    assert [o.status for o in outcomes] == [CheckStatus.FAIL, CheckStatus.FAIL]
    assert "autodiscover.hoster.test" in outcomes[0].observed
    assert "mail.example.test.evil.test" in outcomes[1].observed


def test_redirect_offsite_passes_inside_the_domain_and_is_not_applicable_without_pointers():
    """Nothing to follow is nothing to judge: no longer a pass on silence."""
    relative = exchange("http://autodiscover.example.test:80/autodiscover/autodiscover.xml", 302,
                        headers=(("Location", "/Autodiscover/Autodiscover.xml"),))
    evidence = evidence_set(
        autodiscover_evidence("http_redirect", "failed", "redirect_to_http", exchanges=(relative,)),
        autodiscover_evidence("srv", "working", srv=_srv("mail.example.test", ".")),
        autodiscover_evidence("srv", "failed", "dns_nxdomain", srv=_srv(error="nxdomain"), evidence_id="y"),
        autodiscover_evidence("srv", "failed", "no_record", srv=_srv("."), evidence_id="z"),
        autodiscover_evidence("root_domain", "failed", "not_found"),
        autodiscover_evidence("autodiscover_host", "failed", "refused"),
    )
    assert [o.status for o in offsite.evaluate(evidence)] == [CheckStatus.PASS] * 2 + [
        CheckStatus.NOT_APPLICABLE] * 4


def test_redirect_offsite_is_not_assessed_without_a_usable_answer():
    evidence = evidence_set(
        autodiscover_evidence("root_domain", "failed", "unexpected_status"),  # 503
        autodiscover_evidence("autodiscover_host", "unknown", "timeout"),
        autodiscover_evidence("http_redirect", "failed", "connection_reset"),
        autodiscover_evidence("srv", "failed", "dns_failure", srv=_srv(error="dns")),
    )
    outcomes = offsite.evaluate(evidence)
    assert [o.status for o in outcomes] == [CheckStatus.NOT_ASSESSED] * 4
    assert "503" in outcomes[0].reason


def test_redirect_offsite_is_not_assessed_when_dns_timed_out():
    evidence = evidence_set(autodiscover_evidence("srv", "unknown", "timeout", srv=_srv(error="timeout")))
    [outcome] = offsite.evaluate(evidence)
    assert outcome.status is CheckStatus.NOT_ASSESSED


def test_check_ids_and_severities_are_a_contract():
    from casaudit.catalog import load_checks

    catalog = {c.meta.id: (c.meta.severity.value, c.meta.recommendations) for c in load_checks()}
    assert catalog["autodiscover.unreachable"] == ("high", ("CAS-11",))
    assert catalog["autodiscover.url_failed"] == ("low", ("CAS-11",))
    assert catalog["autodiscover.cleartext"] == ("high", ("CAS-11", "CAS-13"))
    assert catalog["autodiscover.redirect_offsite"] == ("medium", ("CAS-11",))
    assert catalog["autodiscover.insecure_advertised_url"] == ("high", ("CAS-11", "CAS-13"))


insecure = importlib.import_module("checks.autodiscover_insecure_advertised_url")


def _with_attempt(*advertised, sent: bool = True, withheld: str | None = None):
    import dataclasses

    from casaudit.evidence.autodiscover import AuthenticatedAttempt

    item = autodiscover_evidence("root_domain")
    attempt = AuthenticatedAttempt(url=item.endpoint, sent=sent, withheld=withheld,
                                   advertised=tuple(advertised))
    return dataclasses.replace(item, authenticated=attempt)


def _url(url: str, in_scope: bool = True, verified: bool | None = True):
    from urllib.parse import urlsplit

    from casaudit.evidence.autodiscover import AdvertisedUrl, CertificateCheck

    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    certificate = (CertificateCheck(parts.hostname, port, verified, None if verified else "name_mismatch",
                                    "x") if in_scope and parts.scheme == "https" else None)
    return AdvertisedUrl("EXCH", "EwsUrl", url, parts.scheme, parts.hostname or "", port, in_scope,
                         certificate)


def test_insecure_advertised_url_fails_on_http_and_on_a_bad_certificate():
    evidence = evidence_set(_with_attempt(
        _url("http://mail.example.test/OAB/"),
        _url("https://mail.example.test/EWS/Exchange.asmx", verified=False),
    ))
    outcomes = insecure.evaluate(evidence)
    assert [o.status for o in outcomes] == [CheckStatus.FAIL, CheckStatus.FAIL]
    assert outcomes[0].endpoint == "http://mail.example.test:80/OAB/"
    assert outcomes[1].recommendations == ("CAS-17",)


def test_insecure_advertised_url_passes_https_verified_and_reports_out_of_scope_as_not_assessed():
    evidence = evidence_set(_with_attempt(
        _url("https://mail.example.test/EWS/Exchange.asmx"),
        _url("https://ews.hoster.test/EWS/Exchange.asmx", in_scope=False),
    ))
    outcomes = insecure.evaluate(evidence)
    assert [o.status for o in outcomes] == [CheckStatus.PASS, CheckStatus.NOT_ASSESSED]
    assert "outside the target's names" in outcomes[1].reason


def test_insecure_advertised_url_emits_no_row_without_an_authenticated_attempt():
    """Without --authenticated nothing was probed for it: no row (it used to be not_assessed)."""
    assert insecure.evaluate(evidence_set(autodiscover_evidence("root_domain"))) == []
    [withheld] = insecure.evaluate(evidence_set(_with_attempt(sent=False, withheld="not HTTPS")))
    assert withheld.status is CheckStatus.NOT_ASSESSED and "not HTTPS" in withheld.reason


# -- answers that prove nothing, and absence --------------------------------------------

ALL_METHODS = (*COUNTED, "json_v2")


def _every(verdict: str, failure: str | None, srv_error: str | None = None):
    return evidence_set(*(
        autodiscover_evidence(m, verdict, failure,
                              srv=_srv(error=srv_error) if m == "srv" and srv_error else None)
        for m in ALL_METHODS))


def test_a_503_on_every_url_proves_nothing_to_any_autodiscover_check():
    """An Autodiscover URL answering 503 is neither a working Autodiscover nor its absence."""
    evidence = _every("failed", "unexpected_status", srv_error="timeout")
    for module in (unreachable, url_failed, cleartext, offsite):
        statuses = {o.status for o in module.evaluate(evidence)}
        assert statuses == {CheckStatus.NOT_ASSESSED}, module.CHECK.id


def test_timeouts_everywhere_are_not_assessed_everywhere():
    evidence = _every("unknown", "timeout", srv_error="timeout")
    for module in (unreachable, url_failed, cleartext, offsite):
        statuses = {o.status for o in module.evaluate(evidence)}
        assert statuses == {CheckStatus.NOT_ASSESSED}, module.CHECK.id


def test_refused_everywhere_is_an_observed_failure_of_autodiscover():
    """Refused (and NXDOMAIN for SRV) on every method: the domain's Autodiscover observably
    fails; each URL is observably absent; plain HTTP observably serves nothing."""
    evidence = _every("failed", "refused", srv_error="nxdomain")
    [row] = unreachable.evaluate(evidence)
    assert row.status is CheckStatus.FAIL and "refused" in row.observed
    assert {o.status for o in url_failed.evaluate(evidence)} == {CheckStatus.NOT_APPLICABLE}
    assert {o.status for o in offsite.evaluate(evidence)} == {CheckStatus.NOT_APPLICABLE}
    [plain] = cleartext.evaluate(evidence)
    assert plain.status is CheckStatus.PASS and cleartext.CHECK.exposure


def test_url_failed_is_not_applicable_where_the_name_is_absent_and_not_assessed_on_a_reset():
    evidence = evidence_set(
        autodiscover_evidence("root_domain", "failed", "dns_failure"),
        autodiscover_evidence("autodiscover_host", "failed", "connection_reset"),
    )
    assert [o.status for o in url_failed.evaluate(evidence)] == [
        CheckStatus.NOT_APPLICABLE, CheckStatus.NOT_ASSESSED]


def test_unreachable_is_not_assessed_when_a_503_stands_beside_failures():
    verdicts = {m: ("failed", "not_found") for m in COUNTED} | {
        "autodiscover_host": ("failed", "unexpected_status")}
    [outcome] = unreachable.evaluate(_all(verdicts))
    assert outcome.status is CheckStatus.NOT_ASSESSED and "1 gave no usable answer" in outcome.reason


def test_cleartext_is_not_assessed_on_a_5xx_or_a_cut_body_over_http():
    url = "http://mail.example.test:80/autodiscover/autodiscover.xml"
    cut = replace(exchange(url, 200, body="<html>"),
                  body_error=ProbeError("reset", "the server reset the connection"))
    evidence = evidence_set(
        autodiscover_evidence("http_redirect", "failed", "unexpected_status"),
        http_evidence(exchange(url, 503), path="/autodiscover/autodiscover.xml", role="autodiscover"),
        http_evidence(cut, path="/autodiscover/autodiscover.xml", role="autodiscover"),
    )
    assert [o.status for o in cleartext.evaluate(evidence)] == [CheckStatus.NOT_ASSESSED] * 3


def test_cleartext_passes_a_404_on_plain_http():
    url = "http://mail.example.test:80/autodiscover/autodiscover.xml"
    evidence = evidence_set(
        autodiscover_evidence("http_redirect", "failed", "not_found"),
        http_evidence(exchange(url, 404), path="/autodiscover/autodiscover.xml", role="autodiscover"),
    )
    assert [o.status for o in cleartext.evaluate(evidence)] == [CheckStatus.PASS] * 2
