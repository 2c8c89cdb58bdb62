"""exchange.admin_exposed: the Exchange Control Panel or remote PowerShell answers from outside."""

from __future__ import annotations

from casaudit.evidence.base import EvidenceSet
from casaudit.model import CheckMeta, Effort, Outcome, Severity
from casaudit.web_checks import endpoints, exposure_outcome

CHECK = CheckMeta(
    id="exchange.admin_exposed",
    title="Exchange administration endpoint reachable from the Internet",
    severity=Severity.HIGH,
    effort=Effort.LOW,
    recommendations=("CAS-15",),
    description=(
        "The Exchange Control Panel (/ecp, the Exchange admin center from 2013 on) or the "
        "remote PowerShell endpoint (/powershell) answers from the Internet. Anyone can try "
        "administrators' passwords there, and flaws in these endpoints have been exploited "
        "at scale from the Internet (CVE-2020-0688 in ECP; ProxyShell and ProxyNotShell "
        "reached the PowerShell back end)."
    ),
    remediation=(
        "Block /ecp and /powershell at the firewall or reverse proxy for Internet clients, "
        "or turn off external ECP access (Set-EcpVirtualDirectory -AdminEnabled $false on "
        "the Internet-facing servers); administer from the internal network or a VPN."
    ),
    severity_rationale=(
        "High: an exposed administration surface turns one phished or guessed admin "
        "password, or one unpatched flaw, into control of every mailbox; not critical "
        "because credentials or a flaw are still needed."
    ),
    references=(
        "Microsoft, Planning for Client Access Servers (Exchange 2007): Security Planning",
        "CISA KEV: CVE-2020-0688, CVE-2021-34473, CVE-2022-41082",
    ),
    exposure=True,
)


def evaluate(evidence: EvidenceSet) -> list[Outcome]:
    return [
        exposure_outcome(endpoint, f"the administration endpoint {endpoint.url.path}")
        for endpoint in endpoints(evidence)
        if endpoint.url.admin
    ]
