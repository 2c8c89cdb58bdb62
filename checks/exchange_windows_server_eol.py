"""exchange.windows_server_eol: the Windows Server the NTLM challenge discloses is out of support."""

from __future__ import annotations

from casaudit.evidence.base import ErrorKind, EvidenceSet
from casaudit.evidence.mail import MailEvidence
from casaudit.evidence.ntlm import NtlmEvidence
from casaudit.identify import origin_of
from casaudit.model import CheckMeta, CheckStatus, Effort, Outcome, Severity
from casaudit.windows_server import Disclosure, disclosures, lookup

CHECK = CheckMeta(
    id="exchange.windows_server_eol",
    title="Windows Server under Exchange past the end of extended support",
    severity=Severity.HIGH,
    effort=Effort.HIGH,
    recommendations=("CAS-16",),
    description=(
        "The NTLM challenge the Client Access server sends to anyone carries its Windows "
        "version (major.minor.build), and that version is a Windows Server release past "
        "Microsoft's extended support end: the operating system under Exchange no longer "
        "receives security updates (Windows Server 2008 and 2008 R2 ended on January 14, "
        "2020, 2012 and 2012 R2 on October 10, 2023; paid Extended Security Updates aside). "
        "Every Exchange version that still gets updates needs Windows Server 2016 or later."
    ),
    remediation=(
        "Move Exchange to a server running a supported Windows Server release (Exchange Server "
        "SE: Windows Server 2019, 2022 or 2025): install a new server and move the mailboxes "
        "and the namespace, since Exchange does not support upgrading Windows in place."
    ),
    severity_rationale=(
        "High: an operating system without security updates under an Internet-facing service; "
        "not critical by itself, as no specific exploitable flaw is claimed. The version comes "
        "from the server's own NTLM answer, so it is observed, not guessed."
    ),
    references=(
        "Microsoft Lifecycle: Windows Server 2003, 2008, 2008 R2, 2012, 2012 R2, 2016, 2019, "
        "2022, 2025 (dates and sources per row in casaudit/data/windows-server-lifecycle.csv)",
        "Microsoft, [MS-NLMP] 2.2.2.10 VERSION",
        "Microsoft, Exchange Server supportability matrix (supported operating systems)",
    ),
)


def evaluate(evidence: EvidenceSet) -> list[Outcome]:
    hosts = [item.host for item in evidence.of(NtlmEvidence)]
    hosts += [item.host for item in evidence.of(MailEvidence) if item.ntlm is not None]
    return [_judge(evidence, host) for host in dict.fromkeys(hosts)]


def _judge(evidence: EvidenceSet, host: str) -> Outcome:
    seen = disclosures(evidence, host)
    if seen:
        oldest = min(seen, key=lambda d: (d.version.major, d.version.minor, d.version.build))
        return _judge_version(oldest)
    return _undisclosed([item for item in evidence.of(NtlmEvidence) if item.host == host], host)


def _judge_version(seen: Disclosure) -> Outcome:
    ids = (seen.evidence_id,)
    server = lookup(seen.version)
    if server is None:
        return Outcome(seen.endpoint, CheckStatus.NOT_ASSESSED,
                       f"Windows {seen.version} is not in casaudit's Windows Server table", ids)
    what = f"{server.product} ({seen.version})"
    if seen.seen_on is None:
        return Outcome(seen.endpoint, CheckStatus.NOT_ASSESSED, f"{what}: the scan has no date", ids)
    if seen.seen_on > server.extended_end:
        return Outcome(
            seen.endpoint, CheckStatus.FAIL,
            f"{server.product} left extended support on {server.extended_end}", ids,
            observed=(
                f"{seen.how} drew an NTLM challenge giving Windows {seen.version}, that is "
                f"{server.product}; its extended support ended on {server.extended_end}, before "
                f"the scan ({seen.seen_on})"
            ),
        )
    return Outcome(seen.endpoint, CheckStatus.PASS,
                   f"{what}: in support until {server.extended_end}", ids)


def _undisclosed(items: list[NtlmEvidence], host: str) -> Outcome:
    """No challenge gave a version: say whether that is absence or not knowing."""
    ids = tuple(item.id for item in items)
    endpoint = origin_of(items[0].endpoint) if items else f"ntlm://{host}"
    if any(item.challenge is not None for item in items):
        return Outcome(endpoint, CheckStatus.NOT_ASSESSED,
                       "the NTLM challenge carries no Windows version", ids)
    broken = [item for item in items if item.decode_error]
    if broken:
        return Outcome(endpoint, CheckStatus.NOT_ASSESSED,
                       f"the NTLM challenge from {broken[0].endpoint} could not be decoded", ids)
    answered = [item for item in items if item.status is not None and 200 <= item.status < 500]
    if not answered:
        refused = items and all(i.error is not None and i.error.kind is ErrorKind.REFUSED for i in items)
        if refused:
            return Outcome(endpoint, CheckStatus.NOT_APPLICABLE,
                           "the port refused the connection: no NTLM to ask", ids)
        return Outcome(endpoint, CheckStatus.NOT_ASSESSED,
                       "no usable answer to the NTLM NEGOTIATE, so no Windows version", ids)
    offering = [item for item in answered if "NTLM" in item.auth_schemes]
    if offering:
        return Outcome(endpoint, CheckStatus.NOT_ASSESSED,
                       f"{offering[0].endpoint} offers NTLM but sent no challenge", ids)
    return Outcome(
        endpoint, CheckStatus.NOT_APPLICABLE,
        f"none of {len(answered)} Windows-authentication URLs offered NTLM: the Windows version "
        "is not disclosed, so there is nothing to judge from outside", ids,
    )

