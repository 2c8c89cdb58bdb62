"""CAS-01 to CAS-17, and the verdict on each from a scan's check results.

The ids are a public contract (JSON and HTML): never renumber them. Titles
paraphrase Microsoft's planning guide for the Exchange 2007 Client Access role;
`section` names the section of the guide each comes from.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from casaudit.assessment import NOTHING_ANSWERED, status_counts, top_reasons
from casaudit.model import (
    CheckResult,
    CheckStatus,
    Finding,
    RecommendationVerdict,
    Severity,
    Verdict,
)


@dataclass(frozen=True)
class Recommendation:
    id: str
    title: str
    section: str
    #: Why an external probe cannot judge it, when that is so.
    unassessable_reason: str | None = None


RECOMMENDATIONS: tuple[Recommendation, ...] = (
    Recommendation("CAS-01", "Use SSL with Exchange ActiveSync",
                   "Planning Considerations for Exchange ActiveSync"),
    Recommendation("CAS-02", "Prefer Integrated Windows or certificate authentication for "
                   "ActiveSync over Basic", "Planning Considerations for Exchange ActiveSync"),
    Recommendation("CAS-03", "Deploy ActiveSync mailbox policies (password, encryption, "
                   "wipe after failed attempts)", "Planning Considerations for Exchange ActiveSync",
                   unassessable_reason="needs a test account to read the policy through "
                   "ActiveSync Provision"),
    Recommendation("CAS-04", "Require SSL on the Outlook Web Access virtual directories",
                   "Planning Considerations for Outlook Web Access"),
    Recommendation("CAS-05", "Use the most secure Outlook Web Access authentication; "
                   "forms only over SSL", "Planning Considerations for Outlook Web Access"),
    Recommendation("CAS-06", "Put every extra Outlook Web Access virtual directory on SSL",
                   "Planning Considerations for Outlook Web Access"),
    Recommendation("CAS-07", "Keep legacy /exchange, /exchweb and /public URLs from the "
                   "Internet unless still needed", "Planning Considerations for Outlook Web Access"),
    Recommendation("CAS-08", "Publish Outlook Anywhere over SSL only",
                   "Planning Considerations for Outlook Anywhere"),
    Recommendation("CAS-09", "Leave POP3 and IMAP4 off unless needed",
                   "Planning Considerations for POP3 and IMAP4"),
    Recommendation("CAS-10", "No cleartext credentials on POP3 and IMAP4",
                   "Security Planning for Client Access Servers"),
    Recommendation("CAS-11", "Make both Autodiscover URLs work over SSL",
                   "Planning Considerations for Exchange 2007 Web Services"),
    Recommendation("CAS-12", "Publish Exchange Web Services over SSL only",
                   "Planning Considerations for Exchange 2007 Web Services"),
    Recommendation("CAS-13", "Use SSL for every Client Access feature",
                   "Security Planning for Client Access Servers"),
    Recommendation("CAS-14", "Prefer Integrated Windows authentication over Basic",
                   "Security Planning for Client Access Servers"),
    Recommendation("CAS-15", "Do not expose the Client Access server directly; front it with "
                   "a reverse proxy", "Security Planning for Client Access Servers"),
    Recommendation("CAS-16", "Run a supported Exchange version",
                   "Header of the guide (end of support)"),
    Recommendation("CAS-17", "Use a proper certificate for every SSL site",
                   "Planning Considerations for Outlook Web Access"),
)

RECOMMENDATION_IDS = tuple(r.id for r in RECOMMENDATIONS)


def judge(
    checks: Iterable[CheckResult],
    findings: Iterable[Finding],
    probes: Sequence[str] = (),
) -> tuple[RecommendationVerdict, ...]:
    """A verdict per recommendation from the check rows that cite it (docs/verdicts.md).

    `met` only when every cited row that applies was assessed and passed;
    `not_met` when a row failed at medium severity or above, or every assessed
    row failed; `partial` when only low-severity failures stand beside passes
    (both name the deciding row and the checks that passed beside it);
    `not_applicable` when every cited row found nothing to judge;
    `not_assessed` otherwise, saying how many rows are missing and why.
    Informational findings do not count against a recommendation. `probes`
    is the --probes selection, so a recommendation without rows can say why.
    """
    rows = list(checks)
    finding_list = list(findings)
    return tuple(_verdict(rec, rows, finding_list, probes) for rec in RECOMMENDATIONS)


def _passed_by_check(passed: Sequence[CheckResult], shown: int = 3) -> str:
    """`http.cleartext_served on 2 endpoints, ...`: the checks that passed, by count."""
    counts = Counter(row.check for row in passed)
    parts = [f"{check} on {n} endpoint{'s' if n > 1 else ''}" for check, n in counts.most_common(shown)]
    rest = len(counts) - shown
    return ", ".join(parts) + (f" and {rest} more check{'s' if rest > 1 else ''}" if rest > 0 else "")


def _verdict(rec: Recommendation, rows: Sequence[CheckResult], findings: Sequence[Finding],
             probes: Sequence[str]) -> RecommendationVerdict:
    cited = [row for row in rows if rec.id in row.recommendations]
    coverage = status_counts(cited)
    applicable = [r for r in cited if r.status is not CheckStatus.NOT_APPLICABLE]
    failed = [r for r in applicable if r.status is CheckStatus.FAIL and r.severity is not Severity.INFO]
    passed = [r for r in applicable if r.status is CheckStatus.PASS]
    unjudged = [r for r in applicable if r.status in (CheckStatus.NOT_ASSESSED, CheckStatus.ERROR)]
    missing = (f"; {len(unjudged)} more not assessed ({top_reasons(unjudged)})"
               if unjudged else "")

    def verdict(value: Verdict, reason: str) -> RecommendationVerdict:
        return RecommendationVerdict(
            id=rec.id, title=rec.title, section=rec.section, verdict=value, reason=reason,
            findings=tuple(f.id for f in findings if rec.id in f.recommendations),
            checks=tuple(sorted({r.check for r in cited})), coverage=coverage,
        )

    if not cited:
        if rec.unassessable_reason:
            return verdict(Verdict.NOT_ASSESSED, rec.unassessable_reason)
        if probes:
            return verdict(Verdict.NOT_ASSESSED,
                           f"not run: --probes {','.join(probes)} leaves out the probes that assess it")
        return verdict(Verdict.NOT_ASSESSED, "no check in this version of casaudit assesses it")
    if not applicable:
        return verdict(Verdict.NOT_APPLICABLE,
                       f"nothing it is about exists on the host: {top_reasons(cited)}")
    if failed:
        worst = max(failed, key=lambda r: (r.severity.rank, -failed.index(r)))
        decided = f"decided by {worst.check} ({worst.severity.value}) on {worst.endpoint}"
        counted = f"{len(failed)} of {len(failed) + len(passed)} assessed rows failed"
        low = worst.severity.rank < Severity.MEDIUM.rank
        if low:
            counted += ", all low"
        # What passed beside the failure, so a reader sees what the verdict weighed.
        beside = f"; passed: {_passed_by_check(passed)}" if passed else ""
        value = Verdict.PARTIAL if low and passed else Verdict.NOT_MET
        return verdict(value, f"{decided}; {counted}{beside}{missing}")
    if passed and not unjudged:
        by = ", ".join(sorted({r.check for r in passed}))
        only = f"; only --probes {','.join(probes)} ran" if probes else ""
        rows_passed = "the one row that applies passed" if len(passed) == 1 else \
            f"all {len(passed)} rows that apply passed"
        return verdict(Verdict.MET, f"{rows_passed} ({by}){only}")
    if passed:
        return verdict(Verdict.NOT_ASSESSED,
                       f"incomplete: {len(passed)} rows passed, {len(unjudged)} not assessed "
                       f"({top_reasons(unjudged)})")
    if unjudged:
        if all(r.reason == NOTHING_ANSWERED for r in unjudged):
            return verdict(Verdict.NOT_ASSESSED, "not assessed: the host gave no answer")
        rows = "the one row that applies had no usable answer" if len(unjudged) == 1 else \
            f"none of the {len(unjudged)} rows that apply had a usable answer"
        return verdict(Verdict.NOT_ASSESSED, f"not assessed: {rows} ({top_reasons(unjudged, 3)})")
    # Only informational failures: they do not count, and nothing else was judged.
    return verdict(Verdict.NOT_ASSESSED, "only informational rows; nothing else could be judged")
