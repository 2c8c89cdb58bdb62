"""exchange.version_eol: the identified Exchange product is past its extended support end."""

from __future__ import annotations

from casaudit.evidence.base import EvidenceSet
from casaudit.identify import identify, support_status
from casaudit.model import CheckMeta, CheckStatus, Effort, Outcome, Severity
from checks._version import without_build

CHECK = CheckMeta(
    id="exchange.version_eol",
    title="Exchange product past the end of extended support",
    severity=Severity.HIGH,
    effort=Effort.HIGH,
    recommendations=("CAS-16",),
    description=(
        "The Exchange product identified from outside is past the end of Microsoft's extended "
        "support: it no longer receives security updates, so every flaw found since stays "
        "open. Exchange 2007 ended on April 11, 2017, 2010 on October 13, 2020, 2013 on "
        "April 11, 2023, 2016 and 2019 on October 14, 2025 (paid Extended Security Updates "
        "aside). Exchange Server Subscription Edition has no fixed end date."
    ),
    remediation=(
        "Migrate to a supported Exchange version (Exchange Server Subscription Edition) or to "
        "Exchange Online; until then, keep the server off the Internet behind a "
        "pre-authenticating reverse proxy."
    ),
    severity_rationale=(
        "High: an unsupported Internet-facing Exchange server accumulates unpatched flaws; "
        "not critical by itself because a specific exploitable flaw is the business of "
        "exchange.known_vulnerable_build."
    ),
    references=(
        "Microsoft Lifecycle: Exchange Server 2007, 2010, 2013, 2016, 2019",
        "Microsoft, Planning for Client Access Servers (Exchange 2007): end of support April 11, 2017",
    ),
)


def evaluate(evidence: EvidenceSet) -> list[Outcome]:
    outcomes = []
    for ident in identify(evidence):
        ids = ident.evidence_ids
        product = ident.product
        if product is None:
            if ident.build is not None:
                reason = f"{ident.build.label}: the product is unknown, so is its support"
            elif ident.sightings:
                reason = "the version seen does not name one product (" + ident.where() + ")"
            else:
                # Nothing named a product: no Exchange here, Exchange hiding it, or unknown.
                outcomes.append(without_build(
                    evidence, ident, "no response disclosed the Exchange product or build"))
                continue
            outcomes.append(Outcome(ident.endpoint, CheckStatus.NOT_ASSESSED, reason, ids))
            continue
        what = ident.build.label if ident.build is not None else product
        if ident.scan_date is None:
            outcomes.append(Outcome(
                ident.endpoint, CheckStatus.NOT_ASSESSED, f"{what}: the scan has no date", ids
            ))
            continue
        status = support_status(product, ident.scan_date)
        if status is None:
            outcomes.append(Outcome(
                ident.endpoint, CheckStatus.NOT_ASSESSED,
                f"{what}: casaudit's lifecycle table does not list {product}", ids,
            ))
        elif status.ended:
            outcomes.append(Outcome(
                ident.endpoint, CheckStatus.FAIL,
                f"{product} left extended support on {status.extended_end}", ids,
                observed=(
                    f"{what} identified ({ident.where()}); its extended support ended on "
                    f"{status.extended_end}, before the scan ({ident.scan_date})"
                ),
            ))
        elif status.extended_end is None:
            outcomes.append(Outcome(
                ident.endpoint, CheckStatus.PASS,
                f"{what}: supported under the Modern Lifecycle Policy (no fixed end date)", ids,
            ))
        else:
            outcomes.append(Outcome(
                ident.endpoint, CheckStatus.PASS,
                f"{what}: in extended support until {status.extended_end}", ids,
            ))
    return outcomes
