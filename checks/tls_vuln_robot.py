"""tls.vuln.robot: Vulnerable to ROBOT (RSA padding oracle)."""

from __future__ import annotations

from casaudit.evidence.base import EvidenceSet
from casaudit.model import CheckMeta, Effort, Outcome, Severity
from checks import _tls

CHECK = CheckMeta(
    id="tls.vuln.robot",
    title="Vulnerable to ROBOT (RSA padding oracle)",
    severity=Severity.HIGH,
    effort=Effort.MEDIUM,
    recommendations=("CAS-13",),
    description=(
        "The service reveals, through its answers to malformed RSA key exchanges, whether a "
        "PKCS #1 v1.5 padding was valid: a Bleichenbacher oracle (ROBOT). An attacker can "
        "decrypt recorded sessions that used RSA key exchange, or sign with the server key."
    ),
    remediation=(
        "Update the TLS stack or load balancer firmware, or remove every TLS_RSA_WITH_* "
        "suite so that RSA key exchange is never used."
    ),
    severity_rationale=(
        "High: practical against a strong oracle; recorded sessions become readable."
    ),
    references=("Böck, Somorovsky, Young: Return Of Bleichenbachers Oracle Threat (ROBOT), 2017",),
)


def evaluate(evidence: EvidenceSet) -> list[Outcome]:
    return _tls.flaw(
        evidence,
        command="robot",
        read=lambda item: item.vulnerabilities.robot,
        is_bad=lambda value: str(value).startswith("VULNERABLE"),
        bad=lambda value: f"the RSA key exchange is a padding oracle ({value})",
        good=lambda value: "no RSA padding oracle (" + str(value) + ")",
    )
