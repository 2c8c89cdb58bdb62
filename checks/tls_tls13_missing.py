"""tls.tls13_missing: HTTPS without TLS 1.3 on a platform that supports it."""

from __future__ import annotations

from casaudit.evidence.base import EvidenceSet
from casaudit.evidence.tls import TlsEvidence
from casaudit.identify import EX2019, EXSE, Identification, identify
from casaudit.model import CheckMeta, Effort, Outcome, Severity
from casaudit.windows_server import disclosures, lookup
from checks import _tls

#: Exchange 2019 CU15 (2025H1): the first Exchange build that supports TLS 1.3 (HTTPS only).
FIRST_TLS13_2019 = (15, 2, 1748)

CHECK = CheckMeta(
    id="tls.tls13_missing",
    title="HTTPS does not offer TLS 1.3 although the platform supports it",
    severity=Severity.LOW,
    effort=Effort.MEDIUM,
    recommendations=("CAS-13",),
    description=(
        "The HTTPS service of an Exchange server that can speak TLS 1.3 (Exchange Server SE, "
        "or Exchange 2019 CU15 and later, on Windows Server 2022 or later, as the build and the "
        "Windows version of the NTLM challenge show) completes no TLS 1.3 handshake. TLS 1.3 "
        "drops the legacy key exchanges and cipher modes, encrypts more of the handshake and "
        "always gives forward secrecy. Exchange supports TLS 1.3 for client HTTPS only (not "
        "for SMTP, POP3 or IMAP4), so only the HTTPS service is judged; where the platform "
        "cannot speak it the row is not applicable, and where the platform is not disclosed "
        "it is not assessed."
    ),
    remediation=(
        "Enable TLS 1.3 for Schannel (server side) as Microsoft's 'Exchange Server TLS "
        "configuration best practices' describe, keep TLS 1.2 for older clients, and check "
        "that a load balancer or reverse proxy in front offers TLS 1.3 too."
    ),
    severity_rationale=(
        "Low: a well-configured TLS 1.2 is still sound; TLS 1.3 removes room for "
        "misconfiguration and downgrade, which is today's guidance rather than a flaw."
    ),
    references=(
        "Microsoft Learn, Exchange Server TLS configuration best practices (TLS 1.3: Exchange "
        "Server SE and 2019 CU15 on Windows Server 2022 or later)",
        "Microsoft Exchange Team Blog, Released: 2025 H1 Cumulative Update for Exchange Server "
        "(Exchange 2019 CU15: TLS 1.3 for HTTPS)",
        "J. Wesselius, Exchange 2019 CU15 (jaapwesselius.com, 2025): TLS 1.3 for client HTTPS "
        "only, not SMTP",
        "RFC 8446, The Transport Layer Security (TLS) Protocol Version 1.3",
    ),
)


def evaluate(evidence: EvidenceSet) -> list[Outcome]:
    builds = {ident.host: ident for ident in identify(evidence)}
    outcomes = []
    for item, blocked in _tls.judged(evidence):
        if item.service != "https":
            continue  # Exchange offers TLS 1.3 to HTTPS clients only
        if blocked:
            outcomes.append(blocked)
            continue
        outcomes.append(_tls.with_services(_judge(item, evidence, builds.get(item.host)), item,
                                           evidence))
    return outcomes


def _judge(item: TlsEvidence, evidence: EvidenceSet, ident: Identification | None) -> Outcome:
    tls13 = next((p for p in item.protocols if p.version == "TLS 1.3"), None)
    if tls13 is None or tls13.error is not None:
        return _tls.not_assessed(item, "the test of TLS 1.3 did not complete")
    if tls13.supported:
        return _tls.passed(item, "offers TLS 1.3")
    platform, why_not = _platform(item, evidence, ident)
    if platform is None:
        return _tls.not_assessed(item, f"TLS 1.3 is not offered; {why_not}")
    if why_not:
        return _tls.not_applicable(item, f"TLS 1.3 is not offered, and {why_not}")
    return _tls.failed(
        item, f"no TLS 1.3 although {platform} supports it",
        f"{_tls.where(item)} completes no TLS 1.3 handshake (accepts "
        f"{', '.join(item.accepted_versions) or 'no version'}), although {platform} supports it",
    )


def _platform(item: TlsEvidence, evidence: EvidenceSet,
              ident: Identification | None) -> tuple[str | None, str]:
    """(the platform named, why it cannot speak TLS 1.3 or "") or (None, why it is unknown)."""
    seen = disclosures(evidence, item.host)
    if not seen:
        return None, ("whether the platform supports it is unknown: no NTLM challenge disclosed "
                      "the Windows version")
    version = seen[0].version
    server = lookup(version)
    if server is None:
        return None, f"Windows {version} is not in casaudit's Windows Server table"
    windows = f"{server.product} ({version})"
    if not server.offers_tls13:
        return windows, f"{windows} has no TLS 1.3 (Windows Server 2022 and later have)"
    product = ident.product if ident is not None else None
    build = ident.build if ident is not None else None
    if product is None:
        return None, f"{windows} supports it, but the Exchange build is not disclosed"
    what = build.label if build is not None else product
    if product == EXSE or (product == EX2019 and build is not None
                           and build.build.short >= FIRST_TLS13_2019):
        return f"{what} on {windows}", ""
    return f"{what} on {windows}", (f"{what} does not support TLS 1.3 (Exchange 2019 CU15 and "
                                    "SE do)")
