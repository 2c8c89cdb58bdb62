"""exchange.ntlm_info_disclosure also reads the challenge the mail probe drew from IMAP4/POP3."""

from __future__ import annotations

from casaudit.api import audit
from casaudit.demo import lab_target
from casaudit.lab import Lab
from casaudit.model import CheckStatus
from checks import exchange_ntlm_info_disclosure as check
from tests.factories import evidence_set, mail_caps, mail_evidence


def test_the_legacy_imap_ntlm_challenge_names_the_internal_server(legacy_lab):
    # Given the 2007 posture, whose IMAP4 offers AUTH=NTLM with a challenge for EXCH07CAS01
    target, options = lab_target(legacy_lab)
    result = audit(target, options)
    rows = {row.endpoint: row for row in result.checks if row.check == check.CHECK.id}
    imap = f"imap://{legacy_lab.host}:{legacy_lab.ports['imap']}"
    # Then the IMAP endpoint fails, naming what the challenge revealed
    assert rows[imap].status is CheckStatus.FAIL
    finding = next(f for f in result.findings if f.check == check.CHECK.id and f.endpoint == imap)
    assert "EXCH07CAS01" in finding.observed and "AUTHENTICATE NTLM" in finding.observed


def test_a_hardened_posture_without_mail_ntlm_gives_no_mail_rows():
    with Lab.start("exchange-se-hardened") as lab:
        target, options = lab_target(lab)
        result = audit(target, options)
    assert not [row for row in result.checks if row.check == check.CHECK.id
                and row.endpoint.startswith(("imap", "pop3"))]


def test_an_undecodable_mail_challenge_is_not_assessed():
    from casaudit.evidence.mail import NtlmChallenge

    item = mail_evidence("imap", clear=mail_caps("IMAP4rev1", "AUTH=NTLM"))
    item = type(item)(**{**item.__dict__, "ntlm": NtlmChallenge(False, "bm90IG50bG0=", "+ bm90")})
    (outcome,) = check.evaluate(evidence_set(item))
    assert outcome.status is CheckStatus.NOT_ASSESSED and "could not be decoded" in outcome.reason
