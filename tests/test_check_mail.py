"""The mail.* checks from built evidence: a failing, a passing and a not-assessed case each."""

from __future__ import annotations

import pytest

from casaudit.evidence.base import ProbeError
from casaudit.evidence.mail import CleartextLoginTest, StartTls
from casaudit.model import CheckStatus, Severity
from checks import (
    mail_banner_disclosure,
    mail_cleartext_login,
    mail_imap4_exposed,
    mail_pop3_exposed,
    mail_starttls_missing,
)
from tests.factories import evidence_set, mail_caps, mail_evidence

EXCHANGE_SECURE = mail_caps("IMAP4", "IMAP4rev1", "LOGINDISABLED", "STARTTLS", "UIDPLUS")
EXCHANGE_PLAINTEXT = mail_caps("IMAP4", "IMAP4rev1", "AUTH=NTLM", "AUTH=GSSAPI", "AUTH=PLAIN",
                               "STARTTLS", "UIDPLUS")
POP3_CAPA = mail_caps("TOP", "UIDL", "SASL GSSAPI", "USER", "STLS", protocol="pop3")


def _one(module, *items):
    outcomes = module.evaluate(evidence_set(*items))
    assert len(outcomes) == len(items)
    return outcomes[0] if len(outcomes) == 1 else outcomes


# -- exposure --------------------------------------------------------------------------


def test_exposure_is_low_in_clear_and_info_on_implicit_tls():
    clear, tls = _one(
        mail_imap4_exposed,
        mail_evidence("imap", clear=EXCHANGE_SECURE),
        mail_evidence("imaps", evidence_id="mail-002"),
    )
    assert clear.status is CheckStatus.FAIL and clear.severity is None  # the check's own: low
    assert mail_imap4_exposed.CHECK.severity is Severity.LOW
    assert tls.status is CheckStatus.FAIL and tls.severity is Severity.INFO
    assert "993" in tls.observed


def test_exposure_passes_on_refused_and_is_not_assessed_on_timeout_or_silence():
    refused = _one(mail_pop3_exposed, mail_evidence("pop3", reachability="refused"))
    filtered = _one(mail_pop3_exposed, mail_evidence("pop3s", reachability="filtered"))
    silent = _one(mail_pop3_exposed, mail_evidence("pop3", greeting="SSH-2.0-OpenSSH_9.2"))
    assert refused.status is CheckStatus.PASS
    assert filtered.status is CheckStatus.NOT_ASSESSED and "filtered" in filtered.reason
    assert silent.status is CheckStatus.NOT_ASSESSED and "no POP3 greeting" in silent.reason


def test_exposure_checks_keep_to_their_protocol():
    assert mail_pop3_exposed.evaluate(evidence_set(mail_evidence("imap"))) == []
    assert mail_imap4_exposed.evaluate(evidence_set(mail_evidence("pop3s"))) == []


# -- cleartext login ------------------------------------------------------------------


def test_imap_without_logindisabled_fails_and_names_plain():
    outcome = _one(mail_cleartext_login, mail_evidence("imap", clear=EXCHANGE_PLAINTEXT))
    assert outcome.status is CheckStatus.FAIL
    assert "LOGINDISABLED" in outcome.observed and "AUTH=PLAIN" in outcome.observed


def test_imap_logindisabled_passes_unless_plain_sasl_is_offered_in_clear():
    secure = _one(mail_cleartext_login, mail_evidence("imap", clear=EXCHANGE_SECURE))
    assert secure.status is CheckStatus.PASS
    sasl = mail_caps("IMAP4rev1", "LOGINDISABLED", "STARTTLS", "AUTH=PLAIN")
    leaky = _one(mail_cleartext_login, mail_evidence("imap", clear=sasl))
    assert leaky.status is CheckStatus.FAIL and "AUTH=PLAIN" in leaky.reason


def test_imap_without_a_capability_list_is_not_assessed():
    listing = mail_caps()
    broken = type(listing)(over_tls=False, error=ProbeError("timeout", "the server stopped answering"))
    outcome = _one(mail_cleartext_login, mail_evidence("imap", clear=broken))
    assert outcome.status is CheckStatus.NOT_ASSESSED and "stopped answering" in outcome.reason


@pytest.mark.parametrize(("reply", "outcome", "wording", "status"), [
    ("+OK", "accepted", None, CheckStatus.FAIL),
    ("-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.",
     "refused_tls_required", "dovecot", CheckStatus.PASS),
    ("-ERR Command is not valid in this state.", "refused_tls_required", "exchange", CheckStatus.PASS),
    ("-ERR unknown command", "refused_unknown", None, CheckStatus.NOT_ASSESSED),
])
def test_pop3_user_reply_decides(reply, outcome, wording, status):
    login = CleartextLoginTest("USER casaudit-probe", reply, outcome, wording)
    result = _one(mail_cleartext_login, mail_evidence("pop3", clear=POP3_CAPA, login=login))
    assert result.status is status
    if status is CheckStatus.NOT_ASSESSED:
        assert reply in result.reason  # recorded verbatim, never read as a pass


def test_pop3_unknown_refusal_with_plain_sasl_in_clear_fails():
    capa = mail_caps("USER", "SASL PLAIN", "STLS", protocol="pop3")
    login = CleartextLoginTest("USER casaudit-probe", "-ERR go away", "refused_unknown")
    result = _one(mail_cleartext_login, mail_evidence("pop3", clear=capa, login=login))
    assert result.status is CheckStatus.FAIL and "SASL PLAIN" in result.observed


def test_cleartext_login_ignores_implicit_tls_and_a_refused_port_is_not_applicable():
    """A closed port has no login to judge: not applicable (it used to pass on the refusal)."""
    assert mail_cleartext_login.evaluate(evidence_set(mail_evidence("imaps"))) == []
    refused = _one(mail_cleartext_login, mail_evidence("pop3", reachability="refused"))
    assert refused.status is CheckStatus.NOT_APPLICABLE and "refused" in refused.reason


@pytest.mark.parametrize("module", [mail_cleartext_login, mail_starttls_missing,
                                    mail_banner_disclosure])
def test_property_checks_are_not_applicable_on_a_refused_port(module):
    """Property checks judge a service; a refused port has none (docs/verdicts.md)."""
    assert not module.CHECK.exposure
    for service in ("imap", "pop3"):
        outcome = _one(module, mail_evidence(service, reachability="refused"))
        assert outcome.status is CheckStatus.NOT_APPLICABLE, (module.CHECK.id, service)


@pytest.mark.parametrize("module", [mail_pop3_exposed, mail_imap4_exposed])
def test_exposure_checks_are_marked_so_in_the_catalog(module):
    assert module.CHECK.exposure


@pytest.mark.parametrize("module", [mail_cleartext_login, mail_starttls_missing,
                                    mail_banner_disclosure, mail_pop3_exposed, mail_imap4_exposed])
@pytest.mark.parametrize("greeting", ["SSH-2.0-OpenSSH_9.2", "HTTP/1.1 400 Bad Request",
                                      "\x16\x03\x01garbage"])
def test_no_mail_check_passes_or_fails_on_another_protocol(module, greeting):
    for service in ("imap", "pop3"):
        for outcome in module.evaluate(evidence_set(mail_evidence(service, greeting=greeting))):
            assert outcome.status is CheckStatus.NOT_ASSESSED, (module.CHECK.id, service, greeting)


# -- STARTTLS -------------------------------------------------------------------------


def test_starttls_missing_fails_when_not_offered_and_passes_when_it_works():
    bare = mail_caps("IMAP4rev1", "AUTH=PLAIN")
    missing = _one(mail_starttls_missing, mail_evidence("imap", clear=bare))
    assert missing.status is CheckStatus.FAIL and "STARTTLS is not offered" in missing.reason
    works = _one(mail_starttls_missing, mail_evidence("pop3", clear=POP3_CAPA))
    assert works.status is CheckStatus.PASS and "STLS" in works.reason


def test_starttls_offered_but_broken_fails_and_a_timeout_is_not_assessed():
    broken = StartTls(True, True, False, "OK Begin TLS negotiation now.",
                      ProbeError("tls", "TLS handshake failed: WRONG_VERSION_NUMBER"))
    failed = _one(mail_starttls_missing,
                  mail_evidence("imap", clear=EXCHANGE_SECURE, starttls=broken))
    assert failed.status is CheckStatus.FAIL and "WRONG_VERSION_NUMBER" in failed.reason
    slow = StartTls(True, True, False, "", ProbeError("timeout", "the server stopped answering"))
    unknown = _one(mail_starttls_missing, mail_evidence("imap", clear=EXCHANGE_SECURE, starttls=slow))
    assert unknown.status is CheckStatus.NOT_ASSESSED
    reset = StartTls(True, True, False, "", ProbeError("reset", "the server reset the connection"))
    unknown = _one(mail_starttls_missing, mail_evidence("imap", clear=EXCHANGE_SECURE, starttls=reset))
    assert unknown.status is CheckStatus.NOT_ASSESSED and "reset" in unknown.reason
    refused = StartTls(True, True, False, "-ERR not now", ProbeError("protocol", "the server refused STLS"))
    failed = _one(mail_starttls_missing, mail_evidence("pop3", clear=POP3_CAPA, starttls=refused))
    assert failed.status is CheckStatus.FAIL and "-ERR not now" in failed.observed


def test_starttls_not_assessed_on_filtered_port():
    outcome = _one(mail_starttls_missing, mail_evidence("imap", reachability="filtered"))
    assert outcome.status is CheckStatus.NOT_ASSESSED


# -- banner ---------------------------------------------------------------------------


@pytest.mark.parametrize(("greeting", "named"), [
    ("* OK Microsoft Exchange Server 2007 IMAP4 service ready", "Microsoft Exchange Server 2007"),
    ("* OK The Microsoft Exchange IMAP4 service is ready.", "Microsoft Exchange"),
    ("+OK Microsoft Exchange Server 2003 POP3 server version 6.5.7638.1 (domain.net) ready.",
     "Microsoft Exchange Server 2003 6.5.7638.1, host domain.net"),
    ("* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] Dovecot (Debian) ready.", "Dovecot"),
])
def test_banner_naming_the_product_fails(greeting, named):
    service = "imap" if greeting.startswith("*") else "pop3"
    outcome = _one(mail_banner_disclosure, mail_evidence(service, greeting=greeting))
    assert outcome.status is CheckStatus.FAIL
    assert named in outcome.reason


def test_neutral_banner_passes_and_a_filtered_port_is_not_assessed():
    neutral = _one(mail_banner_disclosure, mail_evidence("imaps", greeting="* OK IMAP4 service ready"))
    assert neutral.status is CheckStatus.PASS
    filtered = _one(mail_banner_disclosure, mail_evidence("pop3", reachability="filtered"))
    assert filtered.status is CheckStatus.NOT_ASSESSED
