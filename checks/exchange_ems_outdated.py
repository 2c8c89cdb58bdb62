"""exchange.ems_outdated: a build older than the March 2023 SU, whose EEMS can fetch no mitigations."""

from __future__ import annotations

from casaudit.evidence.base import EvidenceSet
from casaudit.identify import EX2016, EX2019, EXSE, Identification, identify, tables
from casaudit.model import CheckMeta, CheckStatus, Effort, Outcome, Severity
from checks._version import without_product

#: The security update whose builds (and every later CU or SU) still reach the Office Config
#: Service with its new certificate (Exchange Team Blog, 2025-01-24); its name in the build table.
MARCH_2023_SU = "Mar23SU"
#: Products that ship the Emergency Mitigation Service (from the September 2021 CUs of 2016
#: and 2019; SE inherits it). Older products never had it.
WITH_EMS = (EX2016, EX2019, EXSE)

CHECK = CheckMeta(
    id="exchange.ems_outdated",
    title="Exchange build too old for the Emergency Mitigation Service to fetch mitigations",
    severity=Severity.LOW,
    effort=Effort.MEDIUM,
    recommendations=("CAS-16",),
    description=(
        "The Exchange build identified from outside is older than the March 2023 security "
        "update of its line. Microsoft retired the Office Config Service certificate those "
        "builds trust, so their Exchange Emergency Mitigation Service (EEMS, which applies "
        "Microsoft's interim mitigations, such as URL rewrite rules, before a fix ships) can no "
        "longer download new mitigations; builds before the September 2021 cumulative updates "
        "have no EEMS at all. The next actively exploited flaw then stays open until someone "
        "patches by hand. Inferred from the build: whether EEMS is enabled is not visible."
    ),
    remediation=(
        "Install the latest cumulative update and security update of a supported line (Exchange "
        "Server SE); any update newer than March 2023 restores the download. Check with "
        "$exscripts\\Get-Mitigations.ps1 or the Exchange Health Checker afterwards."
    ),
    severity_rationale=(
        "Low: it removes a safety net rather than opening a flaw; the flaws such an old build "
        "carries are exchange.known_vulnerable_build's, and its support exchange.version_eol's."
    ),
    references=(
        "Microsoft Exchange Team Blog, Exchange Emergency Mitigation Service (EEMS) and out-of-"
        "date servers, 2025-01-24: servers on a CU or SU newer than March 2023 keep fetching "
        "mitigations",
        "Microsoft Exchange Team Blog, New security feature in September 2021 Cumulative Update "
        "for Exchange Server (Exchange Emergency Mitigation service)",
        "Microsoft, Exchange Server build numbers and release dates (Mar23SU, 2023-03-14; "
        "casaudit/data/exchange-builds.csv)",
    ),
)


def evaluate(evidence: EvidenceSet) -> list[Outcome]:
    return [_judge(evidence, ident) for ident in identify(evidence)]


def first_fetching_day() -> str:
    """The release day of the March 2023 SU, read from the build table (2023-03-14)."""
    return min(row.release_date for row in tables().rows if row.version_name.endswith(MARCH_2023_SU))


def _judge(evidence: EvidenceSet, ident: Identification) -> Outcome:
    ids = ident.evidence_ids
    product = ident.product
    if (unknown := without_product(evidence, ident)) is not None:
        return unknown
    if product not in WITH_EMS:
        return Outcome(ident.endpoint, CheckStatus.NOT_APPLICABLE,
                       f"{product} has no Emergency Mitigation Service (Exchange 2016 and 2019 "
                       "from their September 2021 CUs, and SE)", ids)
    build = ident.build
    if build is None or not build.known:
        what = build.note if build is not None else f"{product}: only the product is visible"
        return Outcome(ident.endpoint, CheckStatus.NOT_ASSESSED,
                       f"{what}: which update is installed is not known", ids)
    threshold = first_fetching_day()
    before = [row for row in build.rows if row.release_date < threshold]
    if not before:
        return Outcome(ident.endpoint, CheckStatus.PASS,
                       f"{build.label}: released on or after the March 2023 SU ({threshold})", ids)
    if len(before) < len(build.rows):
        return Outcome(ident.endpoint, CheckStatus.NOT_ASSESSED,
                       f"{build.label}: whether the March 2023 SU or later is installed on this "
                       "CU is not visible", ids)
    return Outcome(
        ident.endpoint, CheckStatus.FAIL,
        f"{build.label} predates the March 2023 SU: EEMS cannot fetch mitigations", ids,
        observed=(
            f"{build.label} identified ({ident.where()}), released {before[-1].release_date}, "
            f"before the March 2023 SU ({threshold}); inferred from the build: its Emergency "
            "Mitigation Service cannot download new mitigations"
        ),
    )
