"""tls.cert_expired: a certificate of the chain is expired or not yet valid at scan time."""

from __future__ import annotations

from casaudit.evidence.base import EvidenceSet
from casaudit.evidence.tls import TlsEvidence
from casaudit.model import CheckMeta, Effort, Outcome, Severity
from checks import _tls

CHECK = CheckMeta(
    id="tls.cert_expired",
    title="Certificate expired or not yet valid",
    severity=Severity.HIGH,
    effort=Effort.MEDIUM,
    recommendations=("CAS-13", "CAS-17"),
    description=(
        "A certificate the service sends (the server's own or an intermediate CA's) was outside "
        "its validity period when the scan ran. Clients refuse it or warn; Outlook and "
        "ActiveSync devices stop connecting, and users learn to accept certificate warnings."
    ),
    remediation=(
        "Renew the certificate, enable it for the services (Exchange: Enable-ExchangeCertificate "
        "-Services IIS,IMAP,POP) and replace any expired intermediate in the chain sent. For a "
        "certificate not yet valid, check the server's clock and the issuing date."
    ),
    severity_rationale="High: every validating client rejects the connection or warns.",
    references=("RFC 5280, section 4.1.2.5 (validity)",),
)


def evaluate(evidence: EvidenceSet) -> list[Outcome]:
    return _tls.judge_certificates(evidence, _judge)


def _judge(item: TlsEvidence) -> Outcome:
    at = _tls.moment(item.started_at)
    problems = []
    for certificate in _tls.sent_below_root(item):
        if _tls.moment(certificate.not_after) < at:
            days = (at - _tls.moment(certificate.not_after)).days
            problems.append(f"{_tls.describe(certificate)} expired on "
                            f"{certificate.not_after} ({days} days before the scan)")
        elif _tls.moment(certificate.not_before) > at:
            problems.append(f"{_tls.describe(certificate)} is not valid before "
                            f"{certificate.not_before}")
    problems = list(dict.fromkeys(problems))
    if problems:
        return _tls.failed(item, "; ".join(problems), f"{_tls.where(item)}: {'; '.join(problems)}")
    assert item.certificate is not None
    return _tls.passed(item, f"valid at scan time, until {item.certificate.leaf.not_after}")
