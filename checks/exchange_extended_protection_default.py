"""exchange.extended_protection_default: a build on which Extended Protection is not on by default."""

from __future__ import annotations

from casaudit.evidence.base import EvidenceSet
from casaudit.identify import EX2013, EX2016, EX2019, EXSE, Identification, identify
from casaudit.model import CheckMeta, CheckStatus, Effort, Outcome, Severity
from checks._version import without_product

#: Exchange 2019 CU14 (2024H1): the first build whose setup turns Extended Protection on.
FIRST_DEFAULT_2019 = (15, 2, 1544)
#: Products where Extended Protection exists (from their August 2022 SUs) but is never a default.
OPT_IN = (EX2013, EX2016)

CHECK = CheckMeta(
    id="exchange.extended_protection_default",
    title="Extended Protection not on by default for this Exchange build (inferred)",
    severity=Severity.INFO,
    effort=Effort.MEDIUM,
    recommendations=("CAS-16",),
    description=(
        "Windows Extended Protection binds NTLM and Kerberos authentication to the TLS channel, "
        "so credentials relayed through a machine in the middle are refused (the fix Microsoft "
        "requires for CVE-2022-24516, CVE-2022-21979, CVE-2022-21980, CVE-2022-24477, "
        "CVE-2022-30134 and, for NTLM relay, CVE-2024-21410). Setup turns it on by default only "
        "from Exchange 2019 CU14 (and in Exchange SE); Exchange 2013 and 2016 and earlier 2019 "
        "CUs need it enabled by script after the August 2022 SU. This row is inferred from the "
        "build: whether Extended Protection is on cannot be seen without credentials."
    ),
    remediation=(
        "Install Exchange 2019 CU14 or later (Exchange Server SE), or run Microsoft's "
        "ExchangeExtendedProtectionManagement.ps1 on every server after checking its "
        "prerequisites (TLS settings alike on all servers, no SSL offloading)."
    ),
    severity_rationale=(
        "Informational: the build says only what the default is; an administrator may have "
        "enabled Extended Protection, which no unauthenticated request shows."
    ),
    references=(
        "Microsoft Learn, Configure Windows Extended Protection in Exchange Server (on by default "
        "from Exchange Server 2019 CU14)",
        "Microsoft Exchange Team Blog, Exchange Server 2019 Cumulative Update 14 released "
        "(2024-02-13): Extended Protection enabled by default",
        "Microsoft CSS-Exchange, ExchangeExtendedProtectionManagement.ps1",
    ),
)


def evaluate(evidence: EvidenceSet) -> list[Outcome]:
    return [_judge(evidence, ident) for ident in identify(evidence)]


def _judge(evidence: EvidenceSet, ident: Identification) -> Outcome:
    ids = ident.evidence_ids
    product = ident.product
    if (unknown := without_product(evidence, ident)) is not None:
        return unknown
    what = ident.build.label if ident.build is not None else product
    if product == EXSE:
        return Outcome(ident.endpoint, CheckStatus.PASS,
                       f"{what}: Extended Protection is on by default (inferred from the build)", ids)
    if product == EX2019:
        if ident.build is None:
            return Outcome(ident.endpoint, CheckStatus.NOT_ASSESSED,
                           "Exchange 2019: the cumulative update is not visible", ids)
        if ident.build.build.short >= FIRST_DEFAULT_2019:
            return Outcome(ident.endpoint, CheckStatus.PASS,
                           f"{what}: CU14 or later, Extended Protection on by default (inferred "
                           "from the build)", ids)
        return _not_default(ident, what, "Exchange 2019 turns it on by default only from CU14")
    if product in OPT_IN:
        return _not_default(ident, what, f"{product} never turns it on by default")
    return Outcome(ident.endpoint, CheckStatus.NOT_APPLICABLE,
                   f"{product} predates Exchange's Extended Protection support (from the August "
                   "2022 SUs of 2013, 2016 and 2019)", ids)


def _not_default(ident: Identification, what: str, why: str) -> Outcome:
    return Outcome(
        ident.endpoint, CheckStatus.FAIL,
        f"{what}: Extended Protection is not on by default ({why})", ident.evidence_ids,
        observed=(
            f"{what} identified ({ident.where()}); inferred from the build: Extended Protection "
            f"is not on by default ({why}); whether it was enabled is not visible from outside"
        ),
    )
