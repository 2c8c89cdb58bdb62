"""exchange.known_vulnerable_build: the build predates the fix of a headline Exchange flaw."""

from __future__ import annotations

from casaudit.evidence.base import EvidenceSet
from casaudit.exchange_cves import FLAWS, Exposure, assess
from casaudit.identify import identify
from casaudit.model import CheckMeta, CheckStatus, Effort, Outcome, Severity
from checks._version import without_build

CHECK = CheckMeta(
    id="exchange.known_vulnerable_build",
    title="Exchange build older than the fix for a known exploited flaw",
    severity=Severity.CRITICAL,
    effort=Effort.MEDIUM,
    recommendations=("CAS-16",),
    description=(
        "The Exchange build identified from outside is older than the security update fixing "
        "ProxyLogon (CVE-2021-26855), ProxyShell (CVE-2021-34473, CVE-2021-34523, "
        "CVE-2021-31207), ProxyToken (CVE-2021-33766) or ProxyNotShell (CVE-2022-41040, "
        "CVE-2022-41082). These flaws were exploited at scale within days of disclosure; "
        "several need no credentials. The judgement is by build number only: no exploit is "
        "sent, and a server patched by hand or mitigated by a rewrite rule is not told apart."
    ),
    remediation=(
        "Install the latest cumulative update and security update for the product (or migrate "
        "off an unsupported one), then check the server for compromise (Microsoft's "
        "Test-ProxyLogon.ps1 and the Exchange On-premises Mitigation Tool): a server that ran "
        "a vulnerable build on the Internet may already carry web shells."
    ),
    severity_rationale=(
        "Critical: pre-authentication remote code execution with public exploits, used by "
        "mass-exploitation campaigns against exactly such Internet-facing servers."
    ),
    references=tuple(flaw.reference for flaw in FLAWS)
    + ("Microsoft CSS-Exchange HealthChecker: Invoke-AnalyzerSecurityCveCheck.ps1",),
)


def evaluate(evidence: EvidenceSet) -> list[Outcome]:
    outcomes = []
    for ident in identify(evidence):
        ids = ident.evidence_ids
        if ident.build is None:
            outcomes.append(without_build(evidence, ident, "no response disclosed a build number"))
            continue
        info = ident.build
        if info.product is None:
            outcomes.append(Outcome(
                ident.endpoint, CheckStatus.NOT_ASSESSED,
                f"{info.label}: not a product casaudit knows the fixes for", ids,
            ))
            continue
        results = assess(info)
        vulnerable = [a for a in results if a.exposure is Exposure.VULNERABLE]
        undetermined = [a for a in results if a.exposure is Exposure.UNDETERMINED]
        if vulnerable:
            listed = "; ".join(
                f"{a.flaw.name} {a.cve_text} (fixed in {a.fixed_build}: {a.reason})" for a in vulnerable
            )
            maybe = ""
            if undetermined:
                maybe = "; possibly also " + "; ".join(
                    f"{a.flaw.name} {a.cve_text} ({a.reason})" for a in undetermined
                )
            outcomes.append(Outcome(
                ident.endpoint, CheckStatus.FAIL,
                "vulnerable by build: " + ", ".join(a.cve_text for a in vulnerable), ids,
                observed=f"{info.label} ({ident.where()}) is older than the fix for {listed}{maybe}",
            ))
        elif undetermined:
            outcomes.append(Outcome(
                ident.endpoint, CheckStatus.NOT_ASSESSED,
                f"{info.label}: {info.note}; possibly vulnerable to "
                + "; ".join(f"{a.flaw.name} {a.cve_text}: {a.reason}" for a in undetermined),
                ids,
            ))
        else:
            affected = [a for a in results if a.exposure is Exposure.FIXED]
            why = (
                f"at or above the fixes for {', '.join(a.cve_text for a in affected)}" if affected
                else f"{info.product} is not affected by {', '.join(f.name for f in FLAWS)}"
            )
            outcomes.append(Outcome(ident.endpoint, CheckStatus.PASS, f"{info.label}: {why}", ids))
    return outcomes

