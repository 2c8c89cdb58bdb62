"""exchange.security_update_missing: the build lacks security updates released for its own CU."""

from __future__ import annotations

from casaudit.currency import OVERDUE_AFTER_DAYS, currency, is_esu_build, release_day, vintage
from casaudit.evidence.base import EvidenceSet
from casaudit.identify import BuildInfo, BuildRow, Identification, identify, support_status
from casaudit.model import CheckMeta, CheckStatus, Effort, Outcome, Severity
from checks._version import without_build

#: How many missing updates a finding names before "and N more" (a 2016 CU23 line has dozens).
_NAMED = 8

CHECK = CheckMeta(
    id="exchange.security_update_missing",
    title="Exchange build missing security updates of its own cumulative update",
    severity=Severity.HIGH,
    effort=Effort.MEDIUM,
    recommendations=("CAS-16",),
    description=(
        "The full Exchange build seen from outside is older than the newest security or hotfix "
        "update Microsoft released for the same cumulative update (for Exchange 2007 and 2010: "
        "the newest update rollup of the same service pack) before the scan. Each such update "
        "is cumulative and fixes flaws published with it, so the server carries every flaw "
        "fixed since the oldest missing one. Only a 4-part build (X-OWA-Version, an /owa/ path "
        "of 2007 or 2010) shows the installed update; a 3-part /owa/auth/ path names the "
        "cumulative update alone, and the check is then not assessed. Updates after the "
        "date of casaudit's build table are unknown to it. The named, exploited-at-scale flaws "
        "(ProxyLogon, ProxyShell, ProxyNotShell) are exchange.known_vulnerable_build's."
    ),
    remediation=(
        "Install the newest security update for the server's cumulative update (or the newest "
        "cumulative update and its security update), from Microsoft's Exchange Server build "
        "numbers page; for Exchange 2016 and 2019 after October 14, 2025 these are paid "
        "Extended Security Updates, and the lasting fix is Exchange Server SE."
    ),
    severity_rationale=(
        f"High when the oldest missing update was released more than {OVERDUE_AFTER_DAYS} days "
        f"before the scan: a server that far behind has missed at least one monthly patch cycle "
        f"with published fixes an attacker can diff. Medium when every missing update is "
        f"{OVERDUE_AFTER_DAYS} days old or less: one patch cycle behind is common and "
        "short-lived. Not critical: a specific exploited flaw is exchange.known_vulnerable_build's."
    ),
    references=(
        "Microsoft Learn: Exchange Server build numbers and release dates",
        "Microsoft Learn: Exchange Server update FAQ (security updates are cumulative, per CU)",
        "Microsoft CSS-Exchange: Shared/CompareExchangeBuildLevel.ps1",
    ),
)


def evaluate(evidence: EvidenceSet) -> list[Outcome]:
    outcomes = []
    for ident in identify(evidence):
        if ident.build is None:
            outcomes.append(without_build(evidence, ident, "no response disclosed a build number"))
            continue
        outcomes.append(_judge(ident))
    return outcomes


def _judge(ident: Identification) -> Outcome:
    ids = ident.evidence_ids
    info = ident.build
    assert info is not None
    if info.product is None:
        return Outcome(ident.endpoint, CheckStatus.NOT_ASSESSED,
                       f"{info.label}: not a product casaudit knows the updates of", ids)
    if not info.build.exact:
        return Outcome(ident.endpoint, CheckStatus.NOT_ASSESSED,
                       f"{_short_label(info)}: CU known, SU level unknown", ids)
    if ident.scan_date is None:
        return Outcome(ident.endpoint, CheckStatus.NOT_ASSESSED,
                       f"{info.label}: the scan has no date", ids)
    state = currency(info.build, info.product, ident.scan_date)
    if state is None:
        return Outcome(ident.endpoint, CheckStatus.NOT_ASSESSED,
                       f"{info.label}: casaudit's build table (as of {vintage().as_of}) lists no "
                       "update of its line", ids)
    if not state.missing:
        return Outcome(ident.endpoint, CheckStatus.PASS,
                       f"{info.label}: at or above {state.newest.version_name} "
                       f"({state.newest.build}, {state.newest.release_date}), the newest update "
                       f"of {state.line} known on {ident.scan_date} (build table as of "
                       f"{vintage().as_of})", ids)
    oldest = state.missing[0]
    age = state.oldest_age_days or 0
    severity = Severity.HIGH if age > OVERDUE_AFTER_DAYS else Severity.MEDIUM
    count = len(state.missing)
    return Outcome(
        ident.endpoint, CheckStatus.FAIL,
        f"{count} update{'s' if count > 1 else ''} of {state.line} missing, the oldest "
        f"({oldest.version_name}, {oldest.release_date}) {age} days old at the scan",
        ids,
        observed=(
            f"{info.label} ({ident.where()}) lacks {_listed(state.missing, info.product)}; "
            f"newest: {state.newest.version_name} ({state.newest.build})"
        ),
        severity=severity,
    )


def _short_label(info: BuildInfo) -> str:
    """"Exchange Server SE RTM (15.2.2562)": the label without its "level not visible" aside."""
    return f"{info.product} {info.update} ({info.build})" if info.update else info.label


def _listed(rows: tuple[BuildRow, ...], product: str) -> str:
    """"CU14 Dec25SU (15.2.1544.37, 2025-12-09, paid ESU); ..." with the rest counted."""
    status = support_status(product, release_day(rows[0].release_date))
    extended_end = status.extended_end if status is not None else None
    shown = [
        f"{row.version_name} ({row.build}, {row.release_date}"
        + (", paid ESU update" if is_esu_build(row, extended_end) else "") + ")"
        for row in rows[:_NAMED]
    ]
    more = f"; and {len(rows) - _NAMED} more" if len(rows) > _NAMED else ""
    return "; ".join(shown) + more
