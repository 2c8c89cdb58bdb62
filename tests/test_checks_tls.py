"""The tls.* checks and http.hsts_missing, from built evidence: fail, pass, not assessed."""

from __future__ import annotations

from dataclasses import replace

import pytest

from casaudit.catalog import load_checks
from casaudit.evidence.base import ProbeError
from casaudit.evidence.tls import TlsCipherSuite, TlsCommandError, TlsProtocolSupport
from casaudit.model import CheckStatus
from checks import (
    _tls,
    http_hsts_missing,
    tls_cert_expired,
    tls_cert_expiring,
    tls_cert_name_mismatch,
    tls_cert_untrusted,
    tls_cert_weak_key,
    tls_cert_weak_signature,
    tls_legacy_protocol,
    tls_no_fallback_scsv,
    tls_no_forward_secrecy,
    tls_vuln_ccs_injection,
    tls_vuln_compression,
    tls_vuln_heartbleed,
    tls_vuln_insecure_renegotiation,
    tls_vuln_robot,
    tls_weak_cipher,
)
from tests.factories import (
    MODERN,
    REFUSED,
    SOUND,
    baseline,
    certificate,
    chain,
    evidence_set,
    exchange,
    http_evidence,
    tls_evidence,
)

TLS_CHECK_IDS = {
    "tls.legacy_protocol", "tls.weak_cipher", "tls.no_forward_secrecy", "tls.cert_untrusted",
    "tls.cert_expired", "tls.cert_expiring", "tls.cert_name_mismatch", "tls.cert_weak_key",
    "tls.cert_weak_signature", "tls.vuln.heartbleed", "tls.vuln.robot", "tls.vuln.ccs_injection",
    "tls.vuln.insecure_renegotiation", "tls.vuln.compression", "tls.no_fallback_scsv",
    "http.hsts_missing",
}
ALL_TLS_MODULES = (
    tls_legacy_protocol, tls_weak_cipher, tls_no_forward_secrecy, tls_cert_untrusted,
    tls_cert_expired, tls_cert_expiring, tls_cert_name_mismatch, tls_cert_weak_key,
    tls_cert_weak_signature, tls_vuln_heartbleed, tls_vuln_robot, tls_vuln_ccs_injection,
    tls_vuln_insecure_renegotiation, tls_vuln_compression, tls_no_fallback_scsv,
)


def statuses(module, *items):
    return [(o.endpoint, o.status) for o in module.evaluate(evidence_set(*items))]


def only(module, *items):
    outcomes = module.evaluate(evidence_set(*items))
    assert len(outcomes) == 1, outcomes
    return outcomes[0]


def test_check_ids_are_a_stable_catalog():
    ids = {check.meta.id for check in load_checks()}
    assert TLS_CHECK_IDS <= ids
    for check in load_checks():
        if check.meta.id.startswith("tls."):
            assert "CAS-13" in check.meta.recommendations
        if check.meta.id.startswith("tls.cert_"):
            assert "CAS-17" in check.meta.recommendations


def test_a_sound_service_passes_every_tls_check():
    item = tls_evidence()
    for module in ALL_TLS_MODULES:
        outcome = only(module, item)
        assert outcome.status is CheckStatus.PASS, (module.CHECK.id, outcome)


def with_version(version: str, *suites: str) -> tuple[TlsProtocolSupport, ...]:
    accepted = tuple(TlsCipherSuite(name, name, 128) for name in suites)
    return tuple(replace(p, accepted=accepted) if p.version == version else p for p in MODERN)


def test_legacy_protocol_names_the_versions():
    item = tls_evidence(protocols=with_version("TLS 1.0", "TLS_RSA_WITH_AES_128_CBC_SHA"))
    outcome = only(tls_legacy_protocol, item)
    assert outcome.status is CheckStatus.FAIL and "TLS 1.0" in outcome.observed
    assert "TLS 1.1" not in outcome.observed
    unknown = tuple(
        replace(p, error=ProbeError("timeout", "x")) if p.version == "SSL 3.0" else p for p in MODERN
    )
    assert only(tls_legacy_protocol, tls_evidence(protocols=unknown)).status is CheckStatus.NOT_ASSESSED


def _https_url(path: str, role: str, status: int | None, evidence_id: str):
    url = f"https://mail.example.test:443{path}"
    answer = exchange(url, status, error=REFUSED if status is None else None,
                      body="x" * 40 if status == 200 else "")
    return http_evidence(answer, scheme="https", path=path, role=role, evidence_id=evidence_id)


def test_https_findings_name_only_the_urls_seen_answering_on_that_port():
    # Given OWA answering on 443, while /ecp is 404, /mapi refused and /powershell blocked (403)
    web = (
        baseline(),
        _https_url("/owa", "owa", 200, "http-001"),
        _https_url("/Microsoft-Server-ActiveSync", "activesync", 401, "http-002"),
        _https_url("/ecp", "ecp", 404, "http-003"),
        _https_url("/mapi/emsmdb", "mapi", None, "http-004"),
        _https_url("/powershell", "powershell", 403, "http-005"),
    )
    weak = tls_evidence(protocols=with_version("TLS 1.0", "TLS_RSA_WITH_AES_128_CBC_SHA"))
    observed = only(tls_legacy_protocol, weak, *web).observed
    assert observed.endswith("answering on this port: Outlook Web Access, Exchange ActiveSync")
    for absent in ("Exchange Control Panel", "MAPI over HTTP", "Remote PowerShell"):
        assert absent not in observed
    # Without any HTTP probe of the port, no service is named for it
    alone = only(tls_legacy_protocol, weak).observed
    assert "Outlook Web Access" not in alone and "was not probed" in alone
    # A mail port is named by its own service (its planned features), as before
    imaps = only(tls_legacy_protocol, tls_evidence(service="imaps", protocols=weak.protocols), *web)
    assert imaps.observed.startswith("imaps://mail.example.test:993 (")
    assert "answering on this port" not in imaps.observed


@pytest.mark.parametrize("suite, reason", [
    ("TLS_RSA_WITH_3DES_EDE_CBC_SHA", "3DES"),
    ("TLS_RSA_WITH_RC4_128_SHA", "RC4"),
    ("TLS_RSA_WITH_NULL_SHA256", "NULL encryption"),
    ("TLS_ECDH_anon_WITH_AES_128_CBC_SHA", "anonymous"),
    ("TLS_RSA_EXPORT_WITH_DES40_CBC_SHA", "EXPORT"),
    ("TLS_RSA_WITH_DES_CBC_SHA", "DES"),
])
def test_weak_cipher_lists_each_weak_suite_per_version(suite, reason):
    item = tls_evidence(protocols=with_version(
        "TLS 1.2", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", suite))
    outcome = only(tls_weak_cipher, item)
    assert outcome.status is CheckStatus.FAIL
    assert f"TLS 1.2: {suite} ({reason})" in outcome.observed
    assert "AES_128_GCM" not in outcome.observed


def test_strong_suites_are_not_weak():
    for name in ("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
                 "TLS_DHE_RSA_WITH_AES_128_CBC_SHA", "TLS_RSA_WITH_AES_128_CBC_SHA"):
        assert _tls.weak_reason(name) is None, name


def test_forward_secrecy_missing_entirely_or_only_not_enforced():
    static = with_version("TLS 1.2", "TLS_RSA_WITH_AES_128_CBC_SHA")
    none_at_all = tuple(replace(p, accepted=()) if p.version == "TLS 1.3" else p for p in static)
    outcome = only(tls_no_forward_secrecy, tls_evidence(protocols=none_at_all))
    assert outcome.status is CheckStatus.FAIL and "no forward-secret key exchange" in outcome.observed
    mixed = with_version("TLS 1.2", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                         "TLS_RSA_WITH_AES_128_GCM_SHA256")
    outcome = only(tls_no_forward_secrecy, tls_evidence(protocols=mixed))
    assert outcome.status is CheckStatus.FAIL and "also accepts 1 suite" in outcome.observed


@pytest.mark.parametrize("trust, label", [
    ("self_signed", "self-signed certificate"),
    ("incomplete", "incomplete chain"),
    ("untrusted_root", "untrusted root"),
])
def test_untrusted_chains_are_named(trust, label):
    outcome = only(tls_cert_untrusted, tls_evidence(cert=chain(trust=trust)))
    assert outcome.status is CheckStatus.FAIL and outcome.reason == label
    assert label in outcome.observed


def test_expiry_is_measured_from_the_scan_time_not_the_clock():
    cert = chain(certificate(not_after="2026-01-11T00:00:00Z"))
    # 10 days left at the scan: expiring under the default 30, quiet under 5.
    assert only(tls_cert_expiring, tls_evidence(cert=cert)).status is CheckStatus.FAIL
    assert only(tls_cert_expiring, tls_evidence(cert=cert, expiry_warning_days=5)).status \
        is CheckStatus.PASS
    assert only(tls_cert_expired, tls_evidence(cert=cert)).status is CheckStatus.PASS
    # The same certificate seen by a scan a month later is expired, not expiring.
    later = tls_evidence(cert=cert, started_at="2026-02-10T00:00:00.000Z")
    expired = only(tls_cert_expired, later)
    assert expired.status is CheckStatus.FAIL and "30 days before the scan" in expired.observed
    assert only(tls_cert_expiring, later).status is CheckStatus.NOT_ASSESSED


def test_not_yet_valid_is_a_validity_failure():
    cert = chain(certificate(not_before="2026-03-01T00:00:00Z", not_after="2027-03-01T00:00:00Z"))
    outcome = only(tls_cert_expired, tls_evidence(cert=cert))
    assert outcome.status is CheckStatus.FAIL and "not valid before" in outcome.observed


def test_an_expired_intermediate_counts_but_a_sent_root_does_not():
    leaf = certificate()
    old_intermediate = certificate("Issuing CA", dns_names=(), not_after="2025-12-01T00:00:00Z",
                                   fingerprint="bb" * 32)
    assert only(tls_cert_expired, tls_evidence(cert=chain(leaf, old_intermediate))).status \
        is CheckStatus.FAIL
    old_root = replace(old_intermediate, self_issued=True)
    assert only(tls_cert_expired, tls_evidence(cert=chain(leaf, old_root))).status \
        is CheckStatus.PASS


def test_name_mismatch_for_every_name_clients_use():
    cert = chain(certificate(dns_names=("mail.example.test", "*.example.test")))
    host = tls_evidence(cert=cert)
    autodiscover = tls_evidence(host="autodiscover.example.test", name_role="autodiscover",
                                scope="certificate", cert=cert, evidence_id="tls-006")
    domain = tls_evidence(host="example.test", name_role="domain", scope="certificate",
                          cert=cert, evidence_id="tls-007")
    outcomes = {o.endpoint: o for o in tls_cert_name_mismatch.evaluate(
        evidence_set(host, autodiscover, domain))}
    assert outcomes["https://mail.example.test:443"].status is CheckStatus.PASS
    # The wildcard covers one label only: autodiscover.example.test yes, example.test no.
    assert outcomes["https://autodiscover.example.test:443"].status is CheckStatus.PASS
    failed = outcomes["https://example.test:443"]
    assert failed.status is CheckStatus.FAIL and "CAS-11" in failed.recommendations
    # Other certificate checks do not repeat themselves for the same certificate on another name.
    assert len(tls_cert_weak_key.evaluate(evidence_set(host, autodiscover, domain))) == 1


def test_an_unresolvable_autodiscover_name_is_not_assessed_by_the_name_check_only():
    missing = tls_evidence(host="autodiscover.example.test", name_role="autodiscover",
                           scope="certificate", error=ProbeError("dns", "NXDOMAIN"))
    outcome = only(tls_cert_name_mismatch, missing)
    assert outcome.status is CheckStatus.NOT_ASSESSED and "does not resolve" in outcome.reason
    assert tls_cert_weak_key.evaluate(evidence_set(missing)) == []


def test_cn_is_used_only_without_subject_alternative_names():
    assert _tls.covers(certificate(dns_names=()), "mail.example.test")
    assert not _tls.covers(certificate(dns_names=("other.example.test",)), "mail.example.test")
    assert not _tls.covers(certificate(dns_names=("*.*.test",)), "mail.example.test")


def test_weak_keys_and_signatures():
    small = chain(certificate(key_bits=1024))
    assert only(tls_cert_weak_key, tls_evidence(cert=small)).status is CheckStatus.FAIL
    ec_small = chain(certificate(key_type="EC", key_bits=224))
    assert only(tls_cert_weak_key, tls_evidence(cert=ec_small)).status is CheckStatus.FAIL
    ec_ok = chain(certificate(key_type="EC", key_bits=256))
    assert only(tls_cert_weak_key, tls_evidence(cert=ec_ok)).status is CheckStatus.PASS
    sha1 = chain(certificate(signature_hash="sha1"))
    outcome = only(tls_cert_weak_signature, tls_evidence(cert=sha1))
    assert outcome.status is CheckStatus.FAIL and "SHA1" in outcome.observed
    root = certificate("Root", dns_names=(), signature_hash="sha1", self_issued=True)
    assert only(tls_cert_weak_signature, tls_evidence(cert=chain(certificate(), root))).status \
        is CheckStatus.PASS


@pytest.mark.parametrize("module, field, bad", [
    (tls_vuln_heartbleed, "heartbleed", True),
    (tls_vuln_ccs_injection, "ccs_injection", True),
    (tls_vuln_robot, "robot", "VULNERABLE_STRONG_ORACLE"),
    (tls_vuln_insecure_renegotiation, "secure_renegotiation", False),
    (tls_vuln_compression, "compression", True),
    (tls_no_fallback_scsv, "fallback_scsv", False),
])
def test_flaw_tests_fire_pass_and_say_when_they_did_not_run(module, field, bad):
    vulnerable = tls_evidence(vulnerabilities=replace(SOUND, **{field: bad}))
    outcome = only(module, vulnerable)
    assert outcome.status is CheckStatus.FAIL and outcome.observed
    assert only(module, tls_evidence()).status is CheckStatus.PASS
    failed_test = tls_evidence(
        vulnerabilities=replace(SOUND, **{field: None}),
        command_errors=(TlsCommandError("x", ProbeError("timeout", "timed out")),),
    )
    outcome = only(module, failed_test)
    assert outcome.status is CheckStatus.NOT_ASSESSED


def test_refused_ports_are_not_applicable_rows_and_a_silent_https_port_is_not_assessed():
    """A refused port is observed absence (a row each, no longer a quiet skip for mail ports,
    nor not_assessed for https); a timeout stays unknown."""
    refused = ProbeError("refused", "connection refused")
    timeout = ProbeError("timeout", "no answer")
    items = [
        tls_evidence(service="imaps", error=refused, evidence_id="tls-002"),
        tls_evidence(service="pop3", error=refused, evidence_id="tls-005"),
        tls_evidence(error=timeout),
    ]
    for module in ALL_TLS_MODULES:
        outcomes = module.evaluate(evidence_set(*items))
        assert [(o.endpoint, o.status) for o in outcomes] == [
            ("imaps://mail.example.test:993", CheckStatus.NOT_APPLICABLE),
            ("pop3://mail.example.test:110", CheckStatus.NOT_APPLICABLE),
            ("https://mail.example.test:443", CheckStatus.NOT_ASSESSED)], module.CHECK.id
        assert outcomes[0].recommendations == ("CAS-10",)
        assert "refused" in outcomes[0].reason


def test_a_refused_https_port_is_not_applicable():
    item = tls_evidence(error=ProbeError("refused", "connection refused"))
    for module in ALL_TLS_MODULES:
        outcome = only(module, item)
        assert outcome.status is CheckStatus.NOT_APPLICABLE, module.CHECK.id


def _starttls(service: str, offered: bool | None, error: ProbeError) -> object:
    return tls_evidence(service=service, error=error, starttls_offered=offered)


def test_starttls_not_offered_is_not_applicable_but_a_failed_upgrade_is_not_assessed():
    """The evidence field starttls_offered, not the message, tells "not offered" (nothing to
    judge: mail.starttls_missing's finding) from "offered and then failed" (unknown)."""
    refused = ProbeError("tls", "the server refused STARTTLS")
    handshake = ProbeError("tls", "TLS handshake failed: WRONG_VERSION_NUMBER")
    silent = ProbeError("protocol", "no mail greeting before STARTTLS")
    for module in ALL_TLS_MODULES:
        imap = only(module, _starttls("imap", False, refused))
        assert imap.status is CheckStatus.NOT_APPLICABLE, module.CHECK.id
        assert "STARTTLS is not offered: no TLS to judge" in imap.reason
        pop3 = only(module, _starttls("pop3", False, refused))
        assert pop3.status is CheckStatus.NOT_APPLICABLE and "STLS is not offered" in pop3.reason
        assert only(module, _starttls("imap", True, handshake)).status is CheckStatus.NOT_ASSESSED
        assert only(module, _starttls("pop3", None, silent)).status is CheckStatus.NOT_ASSESSED
        # Same words, no structured fact: not read from the message.
        assert only(module, _starttls("imap", None, refused)).status is CheckStatus.NOT_ASSESSED


def test_handshake_failures_and_resets_are_not_assessed():
    for error in (ProbeError("tls", "TLS handshake failed: HANDSHAKE_FAILURE"),
                  ProbeError("reset", "the connection failed during the handshake"),
                  ProbeError("timeout", "no TLS handshake within 10 s")):
        for service in ("https", "imaps", "pop3s"):
            for module in ALL_TLS_MODULES:
                assert only(module, tls_evidence(service=service, error=error)).status \
                    is CheckStatus.NOT_ASSESSED, (module.CHECK.id, service, error)


def test_other_names_refused_are_not_applicable_and_never_pass_without_a_certificate():
    refused = tls_evidence(host="autodiscover.example.test", name_role="autodiscover",
                           scope="certificate", error=ProbeError("refused", "connection refused"))
    assert only(tls_cert_name_mismatch, refused).status is CheckStatus.NOT_APPLICABLE
    silent = tls_evidence(host="example.test", name_role="domain", scope="certificate",
                          no_certificate=True)
    for module in ALL_TLS_MODULES:
        assert all(o.status is not CheckStatus.PASS for o in module.evaluate(evidence_set(silent)))


def test_weak_cipher_does_not_pass_when_no_suite_was_seen():
    empty = tuple(TlsProtocolSupport(p.version) for p in MODERN)
    assert only(tls_weak_cipher, tls_evidence(protocols=empty)).status is CheckStatus.NOT_ASSESSED


def test_mail_services_cite_cas_10_and_certificate_only_names_skip_protocol_checks():
    starttls = tls_evidence(service="imap", protocols=with_version("TLS 1.0", "TLS_RSA_WITH_AES_128_CBC_SHA"))
    outcome = only(tls_legacy_protocol, starttls)
    assert outcome.status is CheckStatus.FAIL and outcome.recommendations == ("CAS-10",)
    assert outcome.endpoint == "imap://mail.example.test:143"
    cert_only = tls_evidence(host="autodiscover.example.test", name_role="autodiscover",
                             scope="certificate")
    assert tls_legacy_protocol.evaluate(evidence_set(cert_only)) == []


def test_no_certificate_is_not_assessed_with_the_reason():
    item = tls_evidence(no_certificate=True, command_errors=(
        TlsCommandError("certificate_info", ProbeError("error", "CONNECTIVITY_ISSUE: reset")),))
    outcome = only(tls_cert_untrusted, item)
    assert outcome.status is CheckStatus.NOT_ASSESSED and "CONNECTIVITY_ISSUE" in outcome.reason


def test_hsts_missing_present_zero_and_unanswered():
    url = "https://mail.example.test:443/owa"
    present = http_evidence(exchange(url, 302, headers=(
        ("Strict-Transport-Security", "max-age=31536000; includeSubDomains"),)), scheme="https")
    missing = http_evidence(exchange(url, 401), scheme="https", path="/EWS/Exchange.asmx",
                            role="ews")
    zero = http_evidence(exchange(url, 200, headers=(("strict-transport-security", "max-age=0"),)),
                         scheme="https")
    silent = http_evidence(exchange(url, error=ProbeError("timeout", "no answer")), scheme="https")
    plain = http_evidence()
    assert only(http_hsts_missing, present).status is CheckStatus.PASS
    outcome = only(http_hsts_missing, missing)
    assert outcome.status is CheckStatus.FAIL and outcome.recommendations == ("CAS-12",)
    assert "max-age=0" in only(http_hsts_missing, zero).observed
    assert only(http_hsts_missing, silent).status is CheckStatus.NOT_ASSESSED
    assert http_hsts_missing.evaluate(evidence_set(plain)) == []
