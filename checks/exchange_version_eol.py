"""exchange.version_eol: the identified Exchange product is past its extended support end."""

from __future__ import annotations

from casaudit.currency import cu_support, esu_periods, esu_text, is_esu_build
from casaudit.evidence.base import EvidenceSet
from casaudit.identify import Identification, identify, support_status
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
        "April 11, 2023, 2016 and 2019 on October 14, 2025; builds Microsoft released for 2016 "
        "and 2019 after that are paid Extended Security Update (ESU) builds, named as such. "
        "Exchange Server Subscription Edition has no fixed end date but follows the Modern "
        "Lifecycle Policy: it is supported only while kept current, so a build whose cumulative "
        "update is older than the ones Microsoft still services (the newest two, per "
        "casaudit's lifecycle policy data) is out of support although the product is not."
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
        "Microsoft Learn: Exchange Server update FAQ (security updates for the last two CUs in "
        "mainstream support)",
        "Extended Security Update periods for Exchange 2016/2019: "
        "codetwo.com/admins-blog/exchange-server-subscription-edition/",
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
                f"{product} left extended support on {status.extended_end}{_esu(ident)}", ids,
                observed=(
                    f"{what} identified ({ident.where()}); its extended support ended on "
                    f"{status.extended_end}, before the scan ({ident.scan_date})"
                ),
            ))
        elif status.extended_end is None:
            outcomes.append(_modern(ident, what))
        else:
            outcomes.append(Outcome(
                ident.endpoint, CheckStatus.PASS,
                f"{what}: in extended support until {status.extended_end}", ids,
            ))
    return outcomes


def _esu(ident: Identification) -> str:
    """", and this is a paid ESU build (...)" for a build released after extended support ended."""
    product = ident.product
    if product is None or not esu_periods(product):
        return ""
    status = support_status(product, ident.scan_date) if ident.scan_date else None
    rows = ident.build.rows if ident.build is not None and ident.build.build.exact else ()
    if rows and status is not None and is_esu_build(rows[0], status.extended_end):
        return (f"; {rows[0].version_name} is an ESU build (released {rows[0].release_date} under "
                f"Microsoft's paid Extended Security Update programme: {esu_text(product)})")
    return f"; paid Extended Security Updates only ({esu_text(product)})"


def _modern(ident: Identification, what: str) -> Outcome:
    """A Modern Lifecycle product: supported only while its CU is one Microsoft still services."""
    ids = ident.evidence_ids
    info = ident.build
    product = ident.product
    assert product is not None and ident.scan_date is not None
    support = cu_support(info.build, product, ident.scan_date) if info is not None else None
    if support is None:
        return Outcome(ident.endpoint, CheckStatus.PASS,
                       f"{what}: supported under the Modern Lifecycle Policy (no fixed end date)", ids)
    serviced = ", ".join(support.newest_cus)
    if support.supported:
        return Outcome(ident.endpoint, CheckStatus.PASS,
                       f"{what}: supported under the Modern Lifecycle Policy (no fixed end date) "
                       f"while kept current; its CU is among those serviced on "
                       f"{ident.scan_date} ({serviced})", ids)
    return Outcome(
        ident.endpoint, CheckStatus.FAIL,
        f"{what}: its CU is older than the {len(support.newest_cus)} newest ({serviced}), so it is "
        f"out of support under the Modern Lifecycle Policy although {product} is not",
        ids,
        observed=(f"{what} identified ({ident.where()}); on {ident.scan_date} the serviced CUs are "
                  f"{serviced}. Rule relied on: {support.rule.source}"),
    )
